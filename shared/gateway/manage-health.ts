import { idPattern } from '../catalog/schemas.js';
import { errors } from '../errors.js';
import type { GatewayRequest, GatewayResponse } from '../http/types.js';
import { authenticateRole } from './authenticate.js';
import type { GatewayDeps } from './gateway-deps.js';

// Ops watch it while switching models; finance reads it beside the usage it explains.
const READERS = ['ops', 'finance'] as const;

/** GET /manage/deployments/{id}/health: in flight against capacity on every instance, latency, errors, breaker, cool-down. */
export function deploymentHealth(request: GatewayRequest, deps: GatewayDeps): GatewayResponse {
  authenticateRole(request.headers, deps, READERS);
  const id = request.params.id;
  const deployment = id !== undefined && idPattern.test(id) ? deps.catalog.current().deployments.get(id) : undefined;
  if (!deployment) throw errors.notFound(`Deployment '${id}'`);
  return json(deps.health.report(deployment));
}

/**
 * GET /manage/health/deployments: the same view for every deployment, by id. Not under /manage/deployments/,
 * where `health` would read as a deployment's id (a valid one).
 */
export function listDeploymentHealth(request: GatewayRequest, deps: GatewayDeps): GatewayResponse {
  authenticateRole(request.headers, deps, READERS);
  const deployments = [...deps.catalog.current().deployments.values()].sort((a, b) => (a.id < b.id ? -1 : 1));
  return json({ data: deployments.map((deployment) => deps.health.report(deployment)) });
}

function json(body: unknown): GatewayResponse {
  return { status: 200, headers: { 'content-type': 'application/json', 'cache-control': 'no-store' }, jsonBody: body };
}
