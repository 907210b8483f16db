import type { Principal } from '../auth/api-keys.js';
import type { GatewayDeps } from './gateway-deps.js';
import type { DocumentVersion, VersionedKind } from './version-log.js';

/**
 * Stores the document a write left (null after a delete) as the next version. Like the audit, a failure does not
 * fail a change already in force; it is logged at error level, and the history then misses that version.
 */
export async function recordVersion(
  deps: GatewayDeps,
  principal: Principal & { kind: 'role' },
  change: { kind: VersionedKind; id: string; action: DocumentVersion['action']; document: object | null },
): Promise<void> {
  try {
    await deps.versions.append(change.kind, change.id, {
      at: new Date(deps.now()).toISOString(),
      actor: { keyId: principal.keyId, role: principal.role },
      action: change.action,
      document: change.document as Record<string, unknown> | null,
    });
  } catch (error) {
    deps.log.log('error', 'versions: could not record a version', {
      kind: change.kind,
      id: change.id,
      action: change.action,
      actorKeyId: principal.keyId,
      error: (error as Error).message,
    });
  }
}
