import type { GatewayRequest, GatewayResponse } from '../http/types.js';
import { authenticateTeam } from './authenticate.js';
import type { GatewayDeps } from './gateway-deps.js';

/** GET /v1/models: the aliases this team may use, in OpenAI's list shape. */
export function listModels(request: GatewayRequest, deps: GatewayDeps): GatewayResponse {
  const team = authenticateTeam(request.headers, deps);
  const routes = deps.catalog.current().routes;
  const data = team.aliases
    .filter((alias) => routes.has(alias))
    .sort()
    .map((alias) => ({ id: alias, object: 'model', created: 0, owned_by: 'switchyard' }));
  return { status: 200, headers: { 'content-type': 'application/json' }, jsonBody: { object: 'list', data } };
}
