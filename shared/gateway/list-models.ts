import type { GatewayRequest, GatewayResponse } from '../http/types.js';
import { authenticateTeam } from './authenticate.js';
import type { GatewayDeps } from './gateway-deps.js';
import { resolveAlias } from './inference-request.js';

const modelObject = (alias: string) => ({ id: alias, object: 'model', created: 0, owned_by: 'switchyard' });

/** GET /v1/models: the aliases this team may use, in OpenAI's list shape. */
export function listModels(request: GatewayRequest, deps: GatewayDeps): GatewayResponse {
  const team = authenticateTeam(request.headers, deps);
  const routes = deps.catalog.current().routes;
  const data = team.aliases
    .filter((alias) => routes.has(alias))
    .sort()
    .map(modelObject);
  return { status: 200, headers: { 'content-type': 'application/json' }, jsonBody: { object: 'list', data } };
}

/** GET /v1/models/{model}: one alias the team may use. */
export function retrieveModel(request: GatewayRequest, deps: GatewayDeps): GatewayResponse {
  const team = authenticateTeam(request.headers, deps);
  const route = resolveAlias(request.params.model, team, deps);
  return { status: 200, headers: { 'content-type': 'application/json' }, jsonBody: modelObject(route.alias) };
}
