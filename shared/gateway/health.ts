import type { GatewayResponse } from '../http/types.js';
import type { GatewayDeps } from './gateway-deps.js';

/** GET /health: the process answers; nothing else is touched. */
export function liveness(): GatewayResponse {
  return { status: 200, headers: { 'content-type': 'application/json', 'cache-control': 'no-store' }, jsonBody: { status: 'ok' } };
}

/** GET /health/ready: configuration loaded recently and the store answers. */
export async function readiness(deps: GatewayDeps): Promise<GatewayResponse> {
  const checks: Record<string, string> = {};
  try {
    await deps.catalog.refresh();
    checks.store = 'ok';
  } catch {
    checks.store = 'unreachable';
  }
  checks.config = deps.catalog.isFresh() ? 'loaded' : 'stale';
  const ready = checks.store === 'ok' && checks.config === 'loaded';
  return {
    status: ready ? 200 : 503,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
    jsonBody: { status: ready ? 'ready' : 'not_ready', checks, ledger: deps.ledger.stats },
  };
}
