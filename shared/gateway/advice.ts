import { aliasCosts, buildAdvice } from '../advice/advice.js';
import { errors } from '../errors.js';
import type { GatewayRequest, GatewayResponse } from '../http/types.js';
import { monthOf } from '../limits/quota-windows.js';
import { monthDays } from '../statements/statement.js';
import { parseDay } from '../usage/usage-report.js';
import { authenticate } from './authenticate.js';
import type { GatewayDeps } from './gateway-deps.js';

/** The period asked for: `from` and `to` (UTC days), or `month` (YYYY-MM), by default the current month. */
function period(params: URLSearchParams, nowMs: number): { from: string; to: string } {
  if (params.has('from') || params.has('to')) {
    const from = parseDay(params.get('from'), 'from');
    const to = parseDay(params.get('to'), 'to');
    if (from > to) throw errors.invalidRequest(`'from' (${from}) is after 'to' (${to}).`, 'from');
    return { from, to };
  }
  const month = params.get('month') ?? monthOf(nowMs);
  if (!/^\d{4}-(0[1-9]|1[0-2])$/.test(month)) throw errors.invalidRequest(`'month' must be a UTC month as YYYY-MM.`, 'month');
  return monthDays(month);
}

/**
 * GET /usage/advice?month= or ?from=&to= (finance, admin): per alias what its traffic cost on each kind of deployment,
 * and per managed deployment whether it beats its serverless twin.
 */
export async function usageAdvice(request: GatewayRequest, deps: GatewayDeps): Promise<GatewayResponse> {
  const principal = authenticate(request.headers, deps);
  if (principal.kind === 'team' || principal.role === 'ops') throw errors.forbidden('Advice needs a finance or admin key.');
  const { from, to } = period(request.query, deps.now());
  const toExclusive = new Date(Date.parse(`${to}T00:00:00.000Z`) + 86_400_000).toISOString();
  const [hours, rollups] = await Promise.all([
    deps.allocations.readHours({ fromIso: `${from}T00:00:00.000Z`, toIso: toExclusive }),
    deps.readRollups({ from, to }),
  ]).catch((error: unknown) => {
    throw errors.storeUnavailable(error);
  });
  const catalog = deps.catalog.current();
  const deployments = buildAdvice({ deployments: catalog.deployments.values(), routes: catalog.routes.values(), hours, rollups });
  const aliases = aliasCosts({ from, to }, rollups, hours);
  return { status: 200, headers: { 'content-type': 'application/json' }, jsonBody: { from, to, aliases, deployments } };
}
