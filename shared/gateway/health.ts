import type { GatewayResponse } from '../http/types.js';
import { selfTestSummary } from '../safety/self-test.js';
import type { GatewayDeps } from './gateway-deps.js';

/** GET /health: the process answers; nothing else is touched. */
export function liveness(): GatewayResponse {
  return { status: 200, headers: { 'content-type': 'application/json', 'cache-control': 'no-store' }, jsonBody: { status: 'ok' } };
}

const READINESS_BUDGET_MS = 2_000;

/** GET /health/ready: configuration loaded recently and the store answers. */
export async function readiness(deps: GatewayDeps): Promise<GatewayResponse> {
  const checks: Record<string, string> = {};
  // A probe must answer quickly: a store that does not answer within the budget counts as unreachable.
  let timer: NodeJS.Timeout | undefined;
  const budget = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('store check timed out')), READINESS_BUDGET_MS);
  });
  try {
    await Promise.race([deps.catalog.refreshIfChanged(), budget]);
    checks.store = 'ok';
  } catch {
    checks.store = 'unreachable';
  } finally {
    clearTimeout(timer);
  }
  checks.config = deps.catalog.isFresh() ? 'loaded' : 'stale';
  const ready = checks.store === 'ok' && checks.config === 'loaded';
  // A failing safety layer is reported, not made a reason to leave rotation: every team would lose the
  // instance for one team's broken profile, and that team's onOutage already decides its requests.
  const safetySelfTest = selfTestSummary(deps.safetyStatus);
  if (safetySelfTest) checks.safety = safetySelfTest.ok ? 'ok' : 'failing';
  return {
    status: ready ? 200 : 503,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
    jsonBody: { status: ready ? 'ready' : 'not_ready', checks, ledger: deps.ledger.stats, ...(safetySelfTest ? { safetySelfTest } : {}) },
  };
}
