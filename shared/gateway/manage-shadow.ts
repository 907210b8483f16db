import { idPattern } from '../catalog/schemas.js';
import { errors } from '../errors.js';
import type { GatewayRequest, GatewayResponse } from '../http/types.js';
import { summariseShadow } from '../usage/shadow-summary.js';
import { authenticateRole } from './authenticate.js';
import type { GatewayDeps } from './gateway-deps.js';

const DAY_MS = 86_400_000;
/** Records are kept 30 days: a wider range finds nothing more. */
const MAX_RANGE_MS = 31 * DAY_MS;
/** Most records one summary reads; a range with more is summarised from these and marked truncated. */
export const MAX_SHADOW_RECORDS = 10_000;

/** An instant from a query: an ISO 8601 date-time, or a UTC day (its first ms for `from`, its last for `to`). */
function instant(value: string | null, name: 'from' | 'to'): number | undefined {
  if (value === null || value === '') return undefined;
  const day = /^\d{4}-\d{2}-\d{2}$/.test(value);
  const ms = Date.parse(day ? `${value}T00:00:00Z` : value);
  if (Number.isNaN(ms) || !(day || /^\d{4}-\d{2}-\d{2}T/.test(value)))
    throw errors.invalidRequest(`'${name}' must be an ISO 8601 date-time or a UTC date (YYYY-MM-DD).`, name);
  return day && name === 'to' ? ms + DAY_MS - 1 : ms;
}

/**
 * GET /manage/routes/{alias}/shadow?from&to (default: the last 24 hours): the route's copied requests, primary and
 * shadow side by side — requests, p50/p95 latency, tokens, cost, error rate — with a few of the shadow's answers,
 * and this instance's shadow calls in flight and skipped. ops, finance and admin.
 */
export async function readRouteShadow(request: GatewayRequest, deps: GatewayDeps): Promise<GatewayResponse> {
  authenticateRole(request.headers, deps, ['ops', 'finance']);
  const alias = request.params.alias;
  if (alias === undefined || !idPattern.test(alias)) throw errors.notFound('A route with that alias');
  const toMs = instant(request.query.get('to'), 'to') ?? deps.now();
  const fromMs = instant(request.query.get('from'), 'from') ?? toMs - DAY_MS;
  if (fromMs > toMs) throw errors.invalidRequest(`'from' is after 'to'.`, 'from');
  if (toMs - fromMs > MAX_RANGE_MS) throw errors.invalidRequest('A shadow summary spans at most 31 days.', 'from');
  const route = await deps.store.get('route', alias);
  const { records, truncated } = await deps.shadowLog.read(alias, {
    fromTs: new Date(fromMs).toISOString(),
    toTs: new Date(toMs).toISOString(),
    limit: MAX_SHADOW_RECORDS,
  });
  // A route deleted since keeps its records until they expire.
  if (!route && records.length === 0) throw errors.notFound(`Route '${alias}'`);
  return {
    status: 200,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
    jsonBody: {
      alias,
      from: new Date(fromMs).toISOString(),
      to: new Date(toMs).toISOString(),
      shadowing: route?.doc.shadow ?? null,
      truncated,
      ...summariseShadow(records),
      thisInstance: deps.shadowTraffic.stats(),
    },
  };
}
