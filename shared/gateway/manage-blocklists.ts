import type { Team } from '../catalog/schemas.js';
import { errors } from '../errors.js';
import { readPreconditions } from '../http/preconditions.js';
import type { GatewayRequest, GatewayResponse } from '../http/types.js';
import { blocklistDocumentSchema, blocklistNamePattern } from '../safety/safety-profile.js';
import { authenticateRole } from './authenticate.js';
import type { GatewayDeps } from './gateway-deps.js';
import { recordChange } from './manage-audit.js';
import { conditionalDelete, conditionalPut, documentResponse, noContent, pathId, readDocument, refreshed, validate } from './manage.js';

/** ops and admin read and write blocklists: their terms can be as confidential as what they keep out. */
const OPS = ['ops'] as const;

/**
 * Keeps Azure Content Safety's copy of a list in step, when it is configured. The catalog is the truth: a failed
 * sync leaves the change made (and screening, which is local, in force), is logged at error, and the answer's
 * `x-switchyard-content-safety-sync` says `failed`; the next PUT of the list sends it whole again.
 */
async function keptInStep(
  deps: GatewayDeps,
  name: string,
  change: { items: readonly string[]; description?: string } | null,
): Promise<Record<string, string>> {
  const remote = deps.contentSafety;
  if (!remote) return {};
  const outcome = change ? await remote.syncBlocklist({ name, ...change }) : await remote.deleteBlocklist(name);
  if (!outcome.ok)
    deps.log.log('error', 'blocklist: Content Safety not kept in step', {
      blocklist: name,
      failure: outcome.failure,
      reason: outcome.reason,
    });
  return { 'x-switchyard-content-safety-sync': outcome.ok ? 'ok' : 'failed' };
}

function blocklistName(request: GatewayRequest, use: 'read' | 'write'): string {
  return pathId(request, 'name', 'blocklist', use, blocklistNamePattern);
}

async function fetched(deps: GatewayDeps, name: string) {
  const found = await deps.store.get('blocklist', name);
  if (!found) throw errors.notFound(`Blocklist '${name}'`);
  return found;
}

/** A team's safety profile may name only blocklists that exist; asks the store, not this instance's snapshot. */
export async function checkTeamBlocklists(team: Team, deps: GatewayDeps): Promise<void> {
  const named = team.safety?.blocklists ?? [];
  const found = await Promise.all(named.map((name) => deps.store.get('blocklist', name)));
  const missing = named.filter((_, i) => found[i] === undefined);
  if (missing.length > 0)
    throw errors.invalidRequest(
      `safety.blocklists names unknown blocklist${missing.length > 1 ? 's' : ''}: ${missing.join(', ')}.`,
      'safety.blocklists',
    );
}

/** GET|PUT|DELETE /manage/blocklists/{name} and GET /manage/blocklists (PRODUCT.md), with ETags, preconditions and audit. */
export const blocklists = {
  async list(request: GatewayRequest, deps: GatewayDeps): Promise<GatewayResponse> {
    authenticateRole(request.headers, deps, OPS);
    const docs = await deps.store.list('blocklist');
    return { status: 200, headers: { 'content-type': 'application/json' }, jsonBody: { data: docs.map((d) => d.doc) } };
  },

  async get(request: GatewayRequest, deps: GatewayDeps): Promise<GatewayResponse> {
    authenticateRole(request.headers, deps, OPS);
    return documentResponse(200, await fetched(deps, blocklistName(request, 'read')));
  },

  /** Creates or replaces the list `{ "items": [...] }`; 201 when it created it. */
  async put(request: GatewayRequest, deps: GatewayDeps): Promise<GatewayResponse> {
    const principal = authenticateRole(request.headers, deps, OPS);
    const name = blocklistName(request, 'write');
    const preconditions = readPreconditions(request.headers);
    const body = await readDocument(request);
    if (body.name !== undefined && body.name !== name)
      throw errors.invalidRequest(`The name in the body ('${String(body.name)}') differs from the one in the path ('${name}').`, 'name');
    const doc = validate(blocklistDocumentSchema, { ...body, name });
    const previous = await deps.store.get('blocklist', name);
    const written = await conditionalPut(deps, 'blocklist', name, doc, preconditions);
    await refreshed(deps);
    await recordChange(deps, principal, {
      kind: 'blocklist',
      id: name,
      action: 'put',
      before: written.created ? null : (previous?.doc ?? null),
      after: written.doc,
    });
    const sync = await keptInStep(deps, name, written.doc);
    const response = documentResponse(written.created ? 201 : 200, written);
    return { ...response, headers: { ...response.headers, ...sync } };
  },

  /** 409 while a team's safety profile names it: the team would otherwise lose a layer it relies on, silently. */
  async delete(request: GatewayRequest, deps: GatewayDeps): Promise<GatewayResponse> {
    const principal = authenticateRole(request.headers, deps, OPS);
    const name = blocklistName(request, 'read');
    const preconditions = readPreconditions(request.headers);
    const current = await fetched(deps, name);
    const naming = (await deps.store.list('team')).filter(({ doc }) => doc.safety?.blocklists.includes(name));
    if (naming.length > 0)
      throw errors.conflict(
        `Blocklist '${name}' is named by the safety profile of team${naming.length > 1 ? 's' : ''} ${naming.map((t) => t.doc.id).join(', ')}; change ${naming.length > 1 ? 'them' : 'it'} first.`,
      );
    await conditionalDelete(deps, 'blocklist', name, current.etag, preconditions, 'Blocklist');
    await refreshed(deps);
    await recordChange(deps, principal, { kind: 'blocklist', id: name, action: 'delete', before: current.doc, after: null });
    const sync = await keptInStep(deps, name, null);
    return { ...noContent(), headers: sync };
  },
};
