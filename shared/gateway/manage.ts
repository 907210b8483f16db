import type { z } from 'zod';
import type { DocType, DocTypes, Versioned } from '../catalog/catalog-store.js';
import { endpointRefusal, isLoopbackEndpoint } from '../catalog/endpoint-policy.js';
import { newSecret, newStoredKey, type KeyOwner } from '../catalog/key-documents.js';
import { deploymentSchema, roles, routeSchema, teamSchema, type Deployment, type Role, type Route, type Team } from '../catalog/schemas.js';
import { errors } from '../errors.js';
import { readJsonBody } from '../http/read-json-body.js';
import type { GatewayRequest, GatewayResponse } from '../http/types.js';
import { authenticateRole } from './authenticate.js';
import type { GatewayDeps } from './gateway-deps.js';

const MANAGE_BODY_LIMIT = 256 * 1024;
const OPS: readonly Role[] = ['ops'];
const ADMIN: readonly Role[] = ['admin'];

async function readDocument(request: GatewayRequest): Promise<Record<string, unknown>> {
  const raw = await readJsonBody(request.body, {
    maxBytes: MANAGE_BODY_LIMIT,
    contentLength: request.headers.get('content-length'),
    contentType: request.headers.get('content-type'),
  });
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw errors.invalidRequest('The body must be a JSON object.');
  return raw as Record<string, unknown>;
}

function validate<T extends z.ZodType>(schema: T, value: unknown): z.output<T> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const messages = parsed.error.issues.map((issue) => {
      const path = issue.path.map(String).join('.');
      return issue.code === 'unrecognized_keys' ? `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `'${path ? `${path}.` : ''}${k}'`).join(', ')}` : `${path || 'body'}: ${issue.message}`;
    });
    throw errors.invalidRequest(`Invalid document: ${messages.join('; ')}`, parsed.error.issues[0]?.path.map(String).join('.') || null);
  }
  return parsed.data;
}

function withId(body: Record<string, unknown>, field: string, id: string): Record<string, unknown> {
  if (body[field] !== undefined && body[field] !== id) throw errors.invalidRequest(`The ${field} in the body ('${String(body[field])}') differs from the one in the path ('${id}').`, field);
  return { ...body, [field]: id };
}

function documentResponse<T>(status: number, versioned: Versioned<T>): GatewayResponse {
  return { status, headers: { 'content-type': 'application/json', etag: versioned.etag }, jsonBody: versioned.doc };
}

async function saved<T extends DocType>(deps: GatewayDeps, type: T, id: string, doc: DocTypes[T], request: GatewayRequest): Promise<GatewayResponse> {
  const ifMatch = request.headers.get('if-match') ?? undefined;
  const existed = ifMatch !== undefined || (await deps.store.get(type, id)) !== undefined;
  const versioned = await deps.store.put(type, doc, { ifMatch });
  // This instance sees its own change at once; the others within one refresh interval.
  await deps.catalog.refresh().catch(() => undefined);
  return documentResponse(existed ? 200 : 201, versioned);
}

async function fetched<T extends DocType>(deps: GatewayDeps, type: T, id: string, what: string): Promise<Versioned<DocTypes[T]>> {
  const found = await deps.store.get(type, id);
  if (!found) throw errors.notFound(`${what} '${id}'`);
  return found;
}

async function listed<T extends DocType>(deps: GatewayDeps, type: T): Promise<GatewayResponse> {
  const docs = await deps.store.list(type);
  return { status: 200, headers: { 'content-type': 'application/json' }, jsonBody: { data: docs.map((d) => d.doc) } };
}

function checkDeployment(deployment: Deployment, deps: GatewayDeps): void {
  const refusal = endpointRefusal(deployment.endpoint, deps.endpointPolicy);
  if (refusal) throw errors.invalidRequest(`endpoint ${refusal}.`, 'endpoint');
  if (deployment.auth.type === 'none' && !(deps.endpointPolicy.allowLoopback && isLoopbackEndpoint(deployment.endpoint))) {
    throw errors.invalidRequest(`auth type 'none' is allowed only for loopback endpoints in local mode.`, 'auth');
  }
}

// Asks the store, not this instance's snapshot, which may not yet hold a deployment just added elsewhere.
async function checkRouteTargets(route: Route, deps: GatewayDeps): Promise<void> {
  const named = [...new Set([...route.targets.map((t) => t.deployment), ...route.rules.flatMap((r) => r.only)])];
  const found = await Promise.all(named.map((id) => deps.store.get('deployment', id)));
  const missing = named.filter((_, i) => found[i] === undefined);
  if (missing.length > 0) throw errors.invalidRequest(`The route names unknown deployment${missing.length > 1 ? 's' : ''}: ${missing.join(', ')}.`, 'targets');
}

export const manage = {
  async listDeployments(request: GatewayRequest, deps: GatewayDeps) {
    authenticateRole(request.headers, deps, OPS);
    return listed(deps, 'deployment');
  },
  async getDeployment(request: GatewayRequest, deps: GatewayDeps) {
    authenticateRole(request.headers, deps, OPS);
    return documentResponse(200, await fetched(deps, 'deployment', request.params.id!, 'Deployment'));
  },
  async putDeployment(request: GatewayRequest, deps: GatewayDeps) {
    authenticateRole(request.headers, deps, OPS);
    const deployment = validate(deploymentSchema, withId(await readDocument(request), 'id', request.params.id!));
    checkDeployment(deployment, deps);
    return saved(deps, 'deployment', deployment.id, deployment, request);
  },
  async listRoutes(request: GatewayRequest, deps: GatewayDeps) {
    authenticateRole(request.headers, deps, OPS);
    return listed(deps, 'route');
  },
  async getRoute(request: GatewayRequest, deps: GatewayDeps) {
    authenticateRole(request.headers, deps, OPS);
    return documentResponse(200, await fetched(deps, 'route', request.params.alias!, 'Route'));
  },
  async putRoute(request: GatewayRequest, deps: GatewayDeps) {
    authenticateRole(request.headers, deps, OPS);
    const route = validate(routeSchema, withId(await readDocument(request), 'alias', request.params.alias!));
    await checkRouteTargets(route, deps);
    return saved(deps, 'route', route.alias, route, request);
  },
  async listTeams(request: GatewayRequest, deps: GatewayDeps) {
    authenticateRole(request.headers, deps, OPS);
    return listed(deps, 'team');
  },
  async getTeam(request: GatewayRequest, deps: GatewayDeps) {
    authenticateRole(request.headers, deps, OPS);
    return documentResponse(200, await fetched(deps, 'team', request.params.id!, 'Team'));
  },
  async putTeam(request: GatewayRequest, deps: GatewayDeps) {
    authenticateRole(request.headers, deps, OPS);
    const team: Team = validate(teamSchema, withId(await readDocument(request), 'id', request.params.id!));
    return saved(deps, 'team', team.id, team, request);
  },
  /** Merge-patch: the fields given replace the stored ones; the whole result is validated again. */
  async patchTeam(request: GatewayRequest, deps: GatewayDeps) {
    authenticateRole(request.headers, deps, OPS);
    const id = request.params.id!;
    const patch = withId(await readDocument(request), 'id', id);
    const current = await fetched(deps, 'team', id, 'Team');
    const ifMatch = request.headers.get('if-match') ?? current.etag;
    const team: Team = validate(teamSchema, { ...current.doc, ...patch });
    const versioned = await deps.store.put('team', team, { ifMatch });
    await deps.catalog.refresh().catch(() => undefined);
    return documentResponse(200, versioned);
  },
  async createTeamKey(request: GatewayRequest, deps: GatewayDeps) {
    authenticateRole(request.headers, deps, OPS);
    const teamId = request.params.id!;
    await fetched(deps, 'team', teamId, 'Team');
    return issueKey(deps, { team: teamId });
  },
  async deleteTeamKey(request: GatewayRequest, deps: GatewayDeps) {
    authenticateRole(request.headers, deps, OPS);
    const key = await deps.store.get('key', request.params.keyId!);
    if (!key || key.doc.team !== request.params.id) throw errors.notFound(`Key '${request.params.keyId}' of team '${request.params.id}'`);
    await deps.store.delete('key', key.doc.id, { ifMatch: request.headers.get('if-match') ?? undefined });
    await deps.catalog.refresh().catch(() => undefined);
    return { status: 204, headers: {} };
  },
  async createRoleKey(request: GatewayRequest, deps: GatewayDeps) {
    authenticateRole(request.headers, deps, ADMIN);
    const body = await readDocument(request);
    const role = body.role;
    const extra = Object.keys(body).filter((k) => k !== 'role');
    if (extra.length > 0) throw errors.invalidRequest(`Unknown field '${extra[0]}'.`, extra[0]);
    if (typeof role !== 'string' || !(roles as readonly string[]).includes(role)) {
      throw errors.invalidRequest(`'role' must be one of: ${roles.join(', ')}.`, 'role');
    }
    return issueKey(deps, { role: role as Role });
  },
};

/** Creates a key and shows its secret this once; only its hash is stored. */
async function issueKey(deps: GatewayDeps, owner: KeyOwner): Promise<GatewayResponse> {
  const secret = newSecret(owner);
  const stored = newStoredKey(owner, secret, deps.now());
  await deps.store.put('key', stored, { createOnly: true });
  await deps.catalog.refresh().catch(() => undefined);
  return { status: 201, headers: { 'content-type': 'application/json', 'cache-control': 'no-store' }, jsonBody: { id: stored.id, key: secret, ...owner } };
}
