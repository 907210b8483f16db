import { z } from 'zod';
import { idPattern, MAX_SHIFT_MS, MAX_SHIFT_STEPS, MIN_SHIFT_MS, routeSchema, type Deployment, type Route } from '../catalog/schemas.js';
import type { Versioned } from '../catalog/catalog-store.js';
import { errors, isGatewayError } from '../errors.js';
import { readPreconditions, type Preconditions } from '../http/preconditions.js';
import type { GatewayRequest, GatewayResponse } from '../http/types.js';
import { missingCapabilities } from '../routing/route-capability.js';
import { parseDurationMs } from '../routing/route-shift.js';
import { authenticateRole } from './authenticate.js';
import type { GatewayDeps } from './gateway-deps.js';
import { auditedPut, pathId, readDocument, routeKind, validate } from './manage.js';

const DEFAULT_SHIFT_STEPS = 10;
/** Writes retried on a concurrent change of the route, when the caller pinned no version of it. */
const WRITE_ATTEMPTS = 3;

const shiftRequest = z.strictObject({
  to: z.string().regex(idPattern, 'must be a deployment id'),
  over: z.string().max(16),
  steps: z.number().int().min(1).max(MAX_SHIFT_STEPS).optional(),
});

/**
 * Writes a change of a route made from the route as read now: under the caller's If-Match / If-None-Match when it
 * sent any, else on the ETag read, read again and redone when another writer changed the route in between.
 */
async function changeRoute(
  request: GatewayRequest,
  deps: GatewayDeps,
  action: 'shift' | 'abort-shift',
  change: (current: Versioned<Route>, body: Record<string, unknown> | undefined) => Promise<Route>,
): Promise<GatewayResponse> {
  const principal = authenticateRole(request.headers, deps, ['ops']);
  const alias = pathId(request, 'alias', 'route', 'write');
  const asked = readPreconditions(request.headers);
  const unconditional = asked.ifMatch === undefined && asked.ifNoneMatch === undefined;
  const body = action === 'shift' ? await readDocument(request) : undefined;
  for (let attempt = 1; ; attempt++) {
    const current = await deps.store.get('route', alias);
    if (!current) throw errors.notFound(`Route '${alias}'`);
    const doc = await change(current, body);
    const preconditions: Preconditions = unconditional ? { ifMatch: [{ tag: current.etag, weak: false }] } : asked;
    try {
      return await auditedPut(deps, principal, routeKind, { id: alias, doc, preconditions, action });
    } catch (error) {
      if (!(unconditional && attempt < WRITE_ATTEMPTS && isGatewayError(error) && error.status === 412)) throw error;
    }
  }
}

/**
 * PUT /manage/routes/{alias}/shift { to, over, steps? }: starts moving the route's first choice to `to` in `steps`
 * equal steps over `over` (10s to 7d), from now; a shift already under way is replaced. `to` must be an enabled
 * deployment serving what the route serves; it is added as a target when it is not one (weight 0 on a weighted
 * route, so only the shift sends it traffic). Audited as 'shift'.
 */
export function putRouteShift(request: GatewayRequest, deps: GatewayDeps): Promise<GatewayResponse> {
  return changeRoute(request, deps, 'shift', async (current, raw) => {
    const body = validate(shiftRequest, raw);
    const overMs = parseDurationMs(body.over);
    if (overMs === undefined || overMs < MIN_SHIFT_MS || overMs > MAX_SHIFT_MS)
      throw errors.invalidRequest(`'over' must be a duration such as 30s, 10m, 2h or 7d, from 10s to 7d.`, 'over');
    await checkShiftTarget(body.to, current.doc, deps);
    const route = current.doc;
    const targets = route.targets.some((t) => t.deployment === body.to)
      ? route.targets
      : [...route.targets, { deployment: body.to, ...(route.strategy === 'weighted' ? { weight: 0 } : {}) }];
    const shift = { to: body.to, startedAt: new Date(deps.now()).toISOString(), overMs, steps: body.steps ?? DEFAULT_SHIFT_STEPS };
    return validate(routeSchema, { ...route, targets, shift });
  });
}

/**
 * DELETE /manage/routes/{alias}/shift: aborts the shift under way, freezing its share where it is (the document keeps
 * the shift with `abortedAt`; a PUT of the route decides what comes next). 404 when no shift is under way. Audited as
 * 'abort-shift'; answers the route.
 */
export function deleteRouteShift(request: GatewayRequest, deps: GatewayDeps): Promise<GatewayResponse> {
  return changeRoute(request, deps, 'abort-shift', async (current) => {
    const shift = current.doc.shift;
    if (!shift || shift.abortedAt !== undefined) throw errors.notFound(`A shift under way on route '${current.doc.alias}'`);
    return { ...current.doc, shift: { ...shift, abortedAt: new Date(deps.now()).toISOString() } };
  });
}

async function checkShiftTarget(to: string, route: Route, deps: GatewayDeps): Promise<void> {
  const found = await deps.store.get('deployment', to);
  if (!found) throw errors.invalidRequest(`'to' names no deployment: '${to}'.`, 'to');
  if (!found.doc.enabled) throw errors.invalidRequest(`'to' names a disabled deployment: '${to}'.`, 'to');
  const targets = await Promise.all(route.targets.map((t) => deps.store.get('deployment', t.deployment)));
  const known = targets.flatMap((t): Deployment[] => (t ? [t.doc] : []));
  const lacking = missingCapabilities(found.doc, known);
  if (lacking.length > 0)
    throw errors.invalidRequest(`'to' names deployment '${to}', which does not serve ${lacking.join(' and ')} as the route does.`, 'to');
}
