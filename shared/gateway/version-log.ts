import type { Role } from '../catalog/schemas.js';
import type { Page, PageRequest } from '../http/paging.js';

export type VersionedKind = 'deployment' | 'route' | 'team';

/** One version of a deployment, route or team: the whole document as written, or null when the write deleted it. */
export interface DocumentVersion {
  version: number;
  at: string;
  actor: { keyId: string; role: Role };
  action: 'put' | 'patch' | 'delete' | 'rollback' | 'shift' | 'abort-shift';
  document: Record<string, unknown> | null;
}

/** Where versions are kept; numbers increase per document and are never reused. */
export interface VersionLog {
  /** Appends the next version of the document and answers its number. */
  append(kind: VersionedKind, id: string, entry: Omit<DocumentVersion, 'version'>): Promise<number>;
  /** Every version of the document, newest first. */
  list(kind: VersionedKind, id: string): Promise<DocumentVersion[]>;
  /** A page of the document's versions, newest first; the page's token reads on from where it ended. */
  page(kind: VersionedKind, id: string, page: PageRequest): Promise<Page<DocumentVersion>>;
  get(kind: VersionedKind, id: string, version: number): Promise<DocumentVersion | undefined>;
}
