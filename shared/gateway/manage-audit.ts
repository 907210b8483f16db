import type { Principal } from '../auth/api-keys.js';
import type { StoredKey } from '../catalog/schemas.js';
import { errors } from '../errors.js';
import { pageResponse, readPageRequest } from '../http/paging.js';
import type { GatewayRequest, GatewayResponse } from '../http/types.js';
import { parseDay } from '../usage/usage-report.js';
import { auditKinds, type AuditAction, type AuditKind } from './audit-log.js';
import { authenticateRole } from './authenticate.js';
import type { GatewayDeps } from './gateway-deps.js';

const MAX_RANGE_DAYS = 366;

/** What the audit keeps of a key document: who owns it and when it was made or expires, never its hash. */
export function auditedKey(key: StoredKey): Record<string, unknown> {
  return {
    id: key.id,
    ...(key.team === undefined ? { role: key.role } : { team: key.team }),
    createdAt: key.createdAt,
    expiresAt: key.expiresAt ?? null,
  };
}

export interface Change {
  kind: AuditKind;
  id: string;
  action: AuditAction;
  before: object | null;
  after: object | null;
}

/**
 * Records a change that is already written. A failed audit write does not fail the request: the change is
 * made and in force, and answering an error would invite a retry that repeats it. It is logged at error
 * level with the whole entry, so the change can still be traced from the logs.
 */
export async function recordChange(deps: GatewayDeps, principal: Principal & { kind: 'role' }, change: Change): Promise<void> {
  const entry = {
    at: new Date(deps.now()).toISOString(),
    actor: { keyId: principal.keyId, role: principal.role },
    ...change,
    before: change.before as Record<string, unknown> | null,
    after: change.after as Record<string, unknown> | null,
  };
  try {
    await deps.audit.append(entry);
  } catch (error) {
    deps.log.log('error', 'audit: could not record a management change', { entry, error: (error as Error).message });
  }
}

/** GET /manage/audit?from&to&actor&kind&limit&next: a page of the changes of a range of UTC days, newest first; finance and admin. */
export async function readAudit(request: GatewayRequest, deps: GatewayDeps): Promise<GatewayResponse> {
  authenticateRole(request.headers, deps, ['finance']);
  const from = parseDay(request.query.get('from'), 'from');
  const to = parseDay(request.query.get('to'), 'to');
  if (from > to) throw errors.invalidRequest(`'from' (${from}) is after 'to' (${to}).`, 'from');
  if ((Date.parse(to) - Date.parse(from)) / 86_400_000 + 1 > MAX_RANGE_DAYS)
    throw errors.invalidRequest(`An audit query spans at most ${MAX_RANGE_DAYS} days.`, 'to');
  const kind = request.query.get('kind') || undefined;
  if (kind !== undefined && !(auditKinds as readonly string[]).includes(kind))
    throw errors.invalidRequest(`'kind' must be one of: ${auditKinds.join(', ')}.`, 'kind');
  const actor = request.query.get('actor') || undefined;
  const page = readPageRequest(request.query);
  return pageResponse(request, await deps.audit.read({ from, to, actor, kind: kind as AuditKind | undefined }, page));
}
