import { priceBook } from '../catalog/price-book.js';
import { errors } from '../errors.js';
import type { GatewayRequest, GatewayResponse } from '../http/types.js';
import { authenticateRole } from './authenticate.js';
import type { GatewayDeps } from './gateway-deps.js';
import { pathId } from './manage.js';

/**
 * GET /manage/deployments/{id}/prices: the deployment's price book, newest first — each price with when it took
 * (or takes) effect, until when, and whether it is the one in force now. ops, finance and admin.
 */
export async function readDeploymentPrices(request: GatewayRequest, deps: GatewayDeps): Promise<GatewayResponse> {
  authenticateRole(request.headers, deps, ['ops', 'finance']);
  const id = pathId(request, 'id', 'deployment', 'read');
  const found = await deps.store.get('deployment', id);
  if (!found) throw errors.notFound(`Deployment '${id}'`);
  const now = new Date(deps.now()).toISOString();
  const book = priceBook(found.doc);
  const entries = book.map((pricing, i) => {
    const { effectiveFrom, ...prices } = pricing;
    const until = book[i + 1]?.effectiveFrom ?? null;
    const started = effectiveFrom === undefined || effectiveFrom <= now;
    return { effectiveFrom: effectiveFrom ?? null, until, inForce: started && (until === null || until > now), ...prices };
  });
  return {
    status: 200,
    headers: { 'content-type': 'application/json' },
    jsonBody: { deployment: id, data: entries.reverse() },
  };
}
