import type { Principal } from '../auth/api-keys.js';
import type { GatewayRequest, GatewayResponse } from '../http/types.js';
import { azureCanaries, runSafetySelfTest, type SelfTestReport } from '../safety/self-test.js';
import { authenticateRole } from './authenticate.js';
import type { GatewayDeps } from './gateway-deps.js';
import { recordChange } from './manage-audit.js';

/**
 * POST /manage/safety/selftest (ops and admin): canaries through every layer of every team's safety profile,
 * on this instance's catalog; 200 with the report whether or not it passed (`ok` says), recorded in the audit.
 */
export async function safetySelfTest(request: GatewayRequest, deps: GatewayDeps): Promise<GatewayResponse> {
  const principal = authenticateRole(request.headers, deps, ['ops']);
  const report = await runAndRecord(deps, principal);
  return { status: 200, headers: { 'content-type': 'application/json', 'cache-control': 'no-store' }, jsonBody: report };
}

/** The audit's actor for the hourly run: no key, the timer's name. */
const TIMER: Principal & { kind: 'role' } = { kind: 'role', role: 'ops', keyId: 'timer:safetySelfTest' };

/** The hourly timer's run; a failing layer is logged at error (and shown by /health/ready) as well as audited. */
export async function scheduledSafetySelfTest(deps: GatewayDeps): Promise<SelfTestReport> {
  const report = await runAndRecord(deps, TIMER);
  if (!report.ok) {
    const failing = report.profiles.flatMap((p) =>
      p.layers.filter((l) => !l.ok).map((l) => ({ teams: p.teams, layer: l.layer, detail: l.detail })),
    );
    deps.log.log('error', 'safety self-test: a configured layer failed', { failing });
  }
  return report;
}

async function runAndRecord(deps: GatewayDeps, principal: Principal & { kind: 'role' }): Promise<SelfTestReport> {
  const snapshot = deps.catalog.current();
  const report = await runSafetySelfTest([...snapshot.teams.values()], {
    blocklists: snapshot.blocklists,
    remote: deps.contentSafety,
    canaries: deps.safetyCanaries ?? azureCanaries,
    now: deps.now,
  });
  deps.safetyStatus.last = report;
  await recordChange(deps, principal, { kind: 'safety', id: 'selftest', action: 'selftest', before: null, after: report });
  return report;
}
