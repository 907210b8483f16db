import { errors } from '../errors.js';
import type { GatewayRequest, GatewayResponse } from '../http/types.js';
import { buildUsageReport, parseUsageQuery, usageReportCsv } from '../usage/usage-report.js';
import { readAllocationRows } from '../allocation/hour-document.js';
import { authenticate } from './authenticate.js';
import type { GatewayDeps } from './gateway-deps.js';

/** GET /usage: finance and admin see every team; a team key sees its own team only. */
export async function usageReport(request: GatewayRequest, deps: GatewayDeps): Promise<GatewayResponse> {
  const principal = authenticate(request.headers, deps);
  const query = parseUsageQuery(request.query);
  if (principal.kind === 'team') {
    if (query.team !== undefined && query.team !== principal.teamId)
      throw errors.forbidden("A team key can read its own team's usage only.");
    query.team = principal.teamId;
  } else if (principal.role === 'ops') {
    throw errors.forbidden('Usage needs a finance or admin key, or a team key for its own team.');
  }
  const range = { from: query.from, to: query.to, team: query.team };
  const rollups = await Promise.all([deps.readRollups(range), readAllocationRows(deps.allocations, range)])
    .then(([tokens, managed]) => [...tokens, ...managed])
    .catch((error: unknown) => {
      throw errors.storeUnavailable(error);
    });
  const report = buildUsageReport(query, rollups, { safetyPicoUsdPerTextRecord: deps.safetyPicoUsdPerTextRecord });
  if (query.format === 'csv') {
    return {
      status: 200,
      headers: {
        'content-type': 'text/csv; charset=utf-8',
        'content-disposition': `attachment; filename="usage-${query.from}-${query.to}.csv"`,
      },
      body: usageReportCsv(report),
    };
  }
  return { status: 200, headers: { 'content-type': 'application/json' }, jsonBody: report };
}
