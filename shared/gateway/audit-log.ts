import type { Role } from '../catalog/schemas.js';
import type { Page, PageRequest } from '../http/paging.js';

export const auditKinds = ['deployment', 'route', 'team', 'key', 'blocklist', 'safety'] as const;
export type AuditKind = (typeof auditKinds)[number];
/** 'shift' starts a gradual shift of a route (PUT …/shift), 'abort-shift' freezes it (DELETE …/shift). */
export type AuditAction = 'put' | 'patch' | 'delete' | 'create' | 'rollback' | 'shift' | 'abort-shift' | 'selftest';

/** One management change: who (key id and role, never a secret), when, what, and the documents around it. */
export interface AuditEntry {
  at: string;
  actor: { keyId: string; role: Role };
  kind: AuditKind;
  id: string;
  action: AuditAction;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
}

export interface AuditQuery {
  /** UTC days, both included. */
  from: string;
  to: string;
  actor?: string;
  kind?: AuditKind;
}

/** Where audit entries are kept; entries are appended, never changed. */
export interface AuditLog {
  append(entry: AuditEntry): Promise<void>;
  /** A page of the range's entries, newest first; the page's token reads on from where it ended. */
  read(query: AuditQuery, page: PageRequest): Promise<Page<AuditEntry>>;
}
