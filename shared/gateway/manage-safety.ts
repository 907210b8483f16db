import type { GatewayRequest, GatewayResponse } from '../http/types.js';
import { azureCanaries, runSafetySelfTest } from '../safety/self-test.js';
import { authenticateRole } from './authenticate.js';
import type { GatewayDeps } from './gateway-deps.js';
import { recordChange } from './manage-audit.js';

/**
 * POST /manage/safety/selftest (ops and admin): canaries through every layer of every team's safety profile,
 * on this instance's catalog; 200 with the report whether or not it passed (`ok` says), recorded in the audit.
 */
export async function safetySelfTest(request: GatewayRequest, deps: GatewayDeps): Promise<GatewayResponse> {
  const principal = authenticateRole(request.headers, deps, ['ops']);
  const snapshot = deps.catalog.current();
  const report = await runSafetySelfTest([...snapshot.teams.values()], {
    blocklists: snapshot.blocklists,
    remote: deps.contentSafety,
    canaries: deps.safetyCanaries ?? azureCanaries,
    now: deps.now,
  });
  await recordChange(deps, principal, { kind: 'safety', id: 'selftest', action: 'selftest', before: null, after: report });
  return { status: 200, headers: { 'content-type': 'application/json', 'cache-control': 'no-store' }, jsonBody: report };
}
