import { z } from 'zod';
import type { Principal } from '../auth/api-keys.js';
import type { DocType, DocTypes, PutOptions, Versioned } from '../catalog/catalog-store.js';
import { endpointRefusal, isLoopbackEndpoint } from '../upstreams/endpoint-policy.js';
import { mintKey, type KeyOwner } from '../catalog/key-documents.js';
import { mergePatch } from '../catalog/merge-patch.js';
import { type PriceChangeOptions, withPriceHistory } from '../catalog/price-book.js';
import {
  deploymentSchema,
  idPattern,
  keyIdPattern,
  roles,
  routeSchema,
  teamSchema,
  type Deployment,
  type Role,
  type Route,
  type StoredKey,
} from '../catalog/schemas.js';
import { upstreamSecretRefusal } from '../catalog/upstream-secrets.js';
import { errors, isGatewayError } from '../errors.js';
import { atomicCondition, preconditionsHold, readPreconditions, type Preconditions } from '../http/preconditions.js';
import { pageResponse, readPageRequest } from '../http/paging.js';
import { readJsonBody } from '../http/read-json-body.js';
import type { GatewayRequest, GatewayResponse } from '../http/types.js';
import { authenticateRole } from './authenticate.js';
import type { GatewayDeps } from './gateway-deps.js';
import { auditedKey, readAudit, recordChange } from './manage-audit.js';
import { explain } from './manage-explain.js';
import { deploymentHealth, listDeploymentHealth } from './manage-health.js';
import { missingCapabilities } from '../routing/route-capability.js';
import { withShiftProgress } from '../routing/route-shift.js';
import { recordVersion } from './manage-versions.js';
import { blocklists, checkTeamBlocklists } from './manage-blocklists.js';
import { safetySelfTest } from './manage-safety.js';
import type { AuditAction } from './audit-log.js';

const MANAGE_BODY_LIMIT = 256 * 1024;
const OPS: readonly Role[] = ['ops'];
const ADMIN: readonly Role[] = ['admin'];
/** Merge patches retried on a concurrent change, when the caller set no precondition of its own. */
const PATCH_ATTEMPTS = 3;

export async function readDocument(request: GatewayRequest, options: { optional?: boolean } = {}): Promise<Record<string, unknown>> {
  if (options.optional && (request.body === null || request.headers.get('content-length') === '0')) return {};
  const raw = await readJsonBody(request.body, {
    maxBytes: MANAGE_BODY_LIMIT,
    contentLength: request.headers.get('content-length'),
    contentType: request.headers.get('content-type'),
  });
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw errors.invalidRequest('The body must be a JSON object.');
  return raw as Record<string, unknown>;
}

export function validate<T extends z.ZodType>(schema: T, value: unknown): z.output<T> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const messages = parsed.error.issues.map((issue) => {
      const path = issue.path.map(String).join('.');
      return issue.code === 'unrecognized_keys'
        ? `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `'${path ? `${path}.` : ''}${k}'`).join(', ')}`
        : `${path || 'body'}: ${issue.message}`;
    });
    throw errors.invalidRequest(`Invalid document: ${messages.join('; ')}`, parsed.error.issues[0]?.path.map(String).join('.') || null);
  }
  return parsed.data;
}

/**
 * The id a path names, checked against its document's pattern before anything reaches the store: the host
 * decodes %2e, %2F and friends, and the store SDK would resolve '.' and '..'. A read of a malformed id finds
 * nothing (404); a write with one is a bad request (400). The refused id is never echoed.
 */
export function pathId(request: GatewayRequest, param: string, what: string, use: 'read' | 'write', pattern: RegExp = idPattern): string {
  const id = request.params[param];
  if (id !== undefined && pattern.test(id)) return id;
  if (use === 'read') throw errors.notFound(`A ${what} with that id`);
  const shape =
    pattern === keyIdPattern
      ? "'key_' and base64url characters"
      : "1-63 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit";
  throw errors.invalidRequest(`The ${what} id in the path must be ${shape}.`, param);
}

function withId(body: Record<string, unknown>, field: string, id: string): Record<string, unknown> {
  if (body[field] !== undefined && body[field] !== id)
    throw errors.invalidRequest(`The ${field} in the body ('${String(body[field])}') differs from the one in the path ('${id}').`, field);
  return { ...body, [field]: id };
}

export function documentResponse<T>(status: number, versioned: Versioned<T>): GatewayResponse {
  return { status, headers: { 'content-type': 'application/json', etag: versioned.etag }, jsonBody: versioned.doc };
}

export const noContent = (): GatewayResponse => ({ status: 204, headers: {} });

// This instance sees its own change at once; the others within one refresh interval.
export async function refreshed(deps: GatewayDeps): Promise<void> {
  await deps.catalog.refresh().catch(() => undefined);
  // A deployment's new capacity takes its slots here now, not at the next live sync.
  await deps.liveSync.syncNow();
}

function refusedPrecondition(preconditions: Preconditions, exists: boolean): never {
  if (!exists) throw errors.preconditionFailed('There is no such document (If-Match).');
  if (preconditions.ifNoneMatch !== undefined && preconditions.ifMatch === undefined)
    throw errors.preconditionFailed('The document exists (If-None-Match).');
  throw errors.preconditionFailed();
}

/**
 * Writes a document under the request's If-Match / If-None-Match. Whatever the store can check in the same
 * call (none, '*', one strong ETag) it checks there; other forms are evaluated on a read and the write is
 * then made on the ETag that was read, so nothing changes between the check and the write.
 */
export async function conditionalPut<T extends DocType>(
  deps: GatewayDeps,
  type: T,
  id: string,
  doc: DocTypes[T],
  preconditions: Preconditions,
) {
  const atomic = atomicCondition(preconditions);
  if (atomic) return deps.store.put(type, doc, atomic);
  const current = await deps.store.get(type, id);
  if (!preconditionsHold(preconditions, current?.etag)) refusedPrecondition(preconditions, current !== undefined);
  const condition: PutOptions = current ? { ifMatch: current.etag } : { ifNoneMatch: '*' };
  return deps.store.put(type, doc, condition);
}

/** Deletes a document read just before, on the ETag read: 404 when absent, 412 when a precondition fails or it changed since. */
export async function conditionalDelete(
  deps: GatewayDeps,
  type: DocType,
  id: string,
  etag: string,
  preconditions: Preconditions,
  what: string,
): Promise<void> {
  if (!preconditionsHold(preconditions, etag)) refusedPrecondition(preconditions, true);
  try {
    await deps.store.delete(type, id, { ifMatch: etag });
  } catch (error) {
    if (isGatewayError(error) && error.status === 404) throw errors.notFound(`${what} '${id}'`);
    throw error;
  }
}

function checkDeployment(deployment: Deployment, deps: GatewayDeps): void {
  const refusal = endpointRefusal(deployment.endpoint, deps.endpointPolicy);
  if (refusal) throw errors.invalidRequest(`endpoint ${refusal}.`, 'endpoint');
  if (deployment.auth.type === 'none' && !(deps.endpointPolicy.allowLoopback && isLoopbackEndpoint(deployment.endpoint))) {
    throw errors.invalidRequest(`auth type 'none' is allowed only for loopback endpoints in local mode.`, 'auth');
  }
  if (deployment.auth.type === 'key') {
    const secretRefusal = upstreamSecretRefusal(deployment.auth.secret, deps.upstreamSecretSettings);
    if (secretRefusal) throw errors.invalidRequest(`auth.secret: ${secretRefusal}.`, 'auth.secret');
  }
}

// Asks the store, not this instance's snapshot, which may not yet hold a deployment just added elsewhere.
async function checkRouteTargets(route: Route, deps: GatewayDeps): Promise<void> {
  const shadow = route.shadow?.deployment;
  const named = [
    ...new Set([...route.targets.map((t) => t.deployment), ...route.rules.flatMap((r) => r.only), ...(shadow ? [shadow] : [])]),
  ];
  const found = await Promise.all(named.map((id) => deps.store.get('deployment', id)));
  const missing = named.filter((_, i) => found[i] === undefined);
  if (missing.length > 0)
    throw errors.invalidRequest(`The route names unknown deployment${missing.length > 1 ? 's' : ''}: ${missing.join(', ')}.`, 'targets');
  if (shadow !== undefined) {
    const byId = new Map(found.flatMap((f) => (f ? [[f.doc.id, f.doc] as const] : [])));
    const lacking = missingCapabilities(
      byId.get(shadow)!,
      route.targets.flatMap((t) => byId.get(t.deployment) ?? []),
    );
    if (lacking.length > 0)
      throw errors.invalidRequest(
        `The shadow deployment '${shadow}' does not serve ${lacking.join(' and ')}, which the route serves.`,
        'shadow.deployment',
      );
  }
}

async function checkUnrouted(deploymentId: string, deps: GatewayDeps): Promise<void> {
  const routes = await deps.store.list('route');
  const naming = routes.filter(
    ({ doc }) =>
      doc.targets.some((t) => t.deployment === deploymentId) ||
      doc.rules.some((r) => r.only.includes(deploymentId)) ||
      doc.shadow?.deployment === deploymentId,
  );
  if (naming.length > 0)
    throw errors.conflict(
      `Deployment '${deploymentId}' is named by route${naming.length > 1 ? 's' : ''} ${naming.map((r) => r.doc.alias).join(', ')}; change ${naming.length > 1 ? 'them' : 'it'} first.`,
    );
}

/** What the management API knows of each kind of document it serves at /manage/{kind}/{id}. */
export interface DocumentKind<T extends 'deployment' | 'route' | 'team'> {
  type: T;
  what: string;
  /** The path parameter and the body field holding the id. */
  idField: 'id' | 'alias';
  schema: z.ZodType<DocTypes[T]>;
  check?: (doc: DocTypes[T], deps: GatewayDeps) => Promise<void> | void;
  beforeDelete?: (id: string, deps: GatewayDeps) => Promise<void>;
  /** Every write is kept as a version, and the document can be rolled back to one. */
  versioned?: boolean;
  /** What a GET shows besides the stored document (computed, never stored). */
  present?: (doc: DocTypes[T], nowMs: number) => DocTypes[T];
  /** Completes a document from the one it replaces before it is written (a deployment keeps its earlier prices). */
  prepare?: (doc: DocTypes[T], stored: DocTypes[T] | undefined, options: PriceChangeOptions) => DocTypes[T];
}

const deploymentKind: DocumentKind<'deployment'> = {
  type: 'deployment',
  what: 'deployment',
  idField: 'id',
  schema: deploymentSchema,
  check: checkDeployment,
  beforeDelete: checkUnrouted,
  versioned: true,
  prepare: withPriceHistory,
};
export const routeKind: DocumentKind<'route'> = {
  type: 'route',
  what: 'route',
  idField: 'alias',
  schema: routeSchema,
  check: checkRouteTargets,
  versioned: true,
  present: withShiftProgress,
};
const teamKind: DocumentKind<'team'> = {
  type: 'team',
  what: 'team',
  idField: 'id',
  schema: teamSchema,
  check: checkTeamBlocklists,
  versioned: true,
};

const capitalised = (what: string) => what[0]!.toUpperCase() + what.slice(1);

const rollbackRequest = z.strictObject({
  version: z.number({ message: "'version' must be a positive whole number" }).int().positive("'version' must be a positive whole number"),
});

/** After a document write succeeded: its version (deployments, routes), then the audit entry. */
async function recordWrite<T extends 'deployment' | 'route' | 'team'>(
  deps: GatewayDeps,
  principal: Principal & { kind: 'role' },
  kind: DocumentKind<T>,
  change: { id: string; action: Exclude<AuditAction, 'create' | 'selftest'>; before: object | null; after: object | null },
): Promise<void> {
  if (kind.versioned)
    await recordVersion(deps, principal, { kind: kind.type, id: change.id, action: change.action, document: change.after });
  await recordChange(deps, principal, { kind: kind.type, ...change });
}

/**
 * A whole document written under the request's preconditions (PUT, rollback): checked, written, audited;
 * 201 when it created the document. For the audit, `before` is the document read just before the write; a
 * concurrent unconditional write may land in between.
 */
export async function auditedPut<T extends 'deployment' | 'route' | 'team'>(
  deps: GatewayDeps,
  principal: Principal & { kind: 'role' },
  kind: DocumentKind<T>,
  write: { id: string; doc: DocTypes[T]; preconditions: Preconditions; action: 'put' | 'rollback' | 'shift' | 'abort-shift' },
): Promise<GatewayResponse> {
  const { id, doc, preconditions, action } = write;
  await kind.check?.(doc, deps);
  const previous = await deps.store.get(kind.type, id);
  const prepared = kind.prepare?.(doc, previous?.doc, { nowMs: deps.now(), rollback: action === 'rollback' }) ?? doc;
  const written = await conditionalPut(deps, kind.type, id, prepared, preconditions);
  await refreshed(deps);
  await recordWrite(deps, principal, kind, { id, action, before: written.created ? null : (previous?.doc ?? null), after: written.doc });
  return documentResponse(written.created ? 201 : 200, written);
}

function documentsOf<T extends 'deployment' | 'route' | 'team'>(kind: DocumentKind<T>) {
  const fetched = async (deps: GatewayDeps, id: string) => {
    const found = await deps.store.get(kind.type, id);
    if (!found) throw errors.notFound(`${capitalised(kind.what)} '${id}'`);
    return found;
  };
  return {
    async list(request: GatewayRequest, deps: GatewayDeps): Promise<GatewayResponse> {
      authenticateRole(request.headers, deps, OPS);
      const docs = await deps.store.list(kind.type);
      const nowMs = deps.now();
      const data = docs.map((d) => (kind.present ? kind.present(d.doc, nowMs) : d.doc));
      return { status: 200, headers: { 'content-type': 'application/json' }, jsonBody: { data } };
    },
    async get(request: GatewayRequest, deps: GatewayDeps): Promise<GatewayResponse> {
      authenticateRole(request.headers, deps, OPS);
      const found = await fetched(deps, pathId(request, kind.idField, kind.what, 'read'));
      return documentResponse(200, kind.present ? { ...found, doc: kind.present(found.doc, deps.now()) } : found);
    },
    /** Creates or replaces; 201 when this request created the document, 200 when it replaced one. */
    async put(request: GatewayRequest, deps: GatewayDeps): Promise<GatewayResponse> {
      const principal = authenticateRole(request.headers, deps, OPS);
      const id = pathId(request, kind.idField, kind.what, 'write');
      const preconditions = readPreconditions(request.headers);
      const doc = validate(kind.schema, withId(await readDocument(request), kind.idField, id));
      return auditedPut(deps, principal, kind, { id, doc, preconditions, action: 'put' });
    },
    /** JSON merge patch (RFC 7396) of an existing document; the result is validated whole. */
    async patch(request: GatewayRequest, deps: GatewayDeps): Promise<GatewayResponse> {
      const principal = authenticateRole(request.headers, deps, OPS);
      const id = pathId(request, kind.idField, kind.what, 'write');
      const preconditions = readPreconditions(request.headers);
      const patch = withId(await readDocument(request), kind.idField, id);
      const unconditional = preconditions.ifMatch === undefined && preconditions.ifNoneMatch === undefined;
      for (let attempt = 1; ; attempt++) {
        const current = await fetched(deps, id);
        if (!preconditionsHold(preconditions, current.etag)) refusedPrecondition(preconditions, true);
        const merged = validate(kind.schema, mergePatch(current.doc, patch));
        const doc = kind.prepare?.(merged, current.doc, { nowMs: deps.now() }) ?? merged;
        await kind.check?.(doc, deps);
        try {
          const written = await deps.store.put(kind.type, doc, { ifMatch: current.etag });
          await refreshed(deps);
          await recordWrite(deps, principal, kind, { id, action: 'patch', before: current.doc, after: written.doc });
          return documentResponse(200, written);
        } catch (error) {
          // Someone changed it between the read and the write: merge onto the newer one, unless the caller pinned a version.
          if (!(unconditional && attempt < PATCH_ATTEMPTS && isGatewayError(error) && error.status === 412)) throw error;
        }
      }
    },
    async delete(request: GatewayRequest, deps: GatewayDeps): Promise<GatewayResponse> {
      const principal = authenticateRole(request.headers, deps, OPS);
      const id = pathId(request, kind.idField, kind.what, 'read');
      const preconditions = readPreconditions(request.headers);
      const current = await fetched(deps, id);
      await kind.beforeDelete?.(id, deps);
      await conditionalDelete(deps, kind.type, id, current.etag, preconditions, capitalised(kind.what));
      await refreshed(deps);
      await recordWrite(deps, principal, kind, { id, action: 'delete', before: current.doc, after: null });
      return noContent();
    },
    /** A page of the document's versions, newest first (?limit&next); 404 when it has none and does not exist. */
    async versions(request: GatewayRequest, deps: GatewayDeps): Promise<GatewayResponse> {
      authenticateRole(request.headers, deps, OPS);
      const id = pathId(request, kind.idField, kind.what, 'read');
      const asked = readPageRequest(request.query);
      const page = await deps.versions.page(kind.type, id, asked);
      if (page.data.length === 0 && asked.continuation === undefined) await fetched(deps, id);
      return pageResponse(request, page);
    },
    /**
     * Writes version n's document as a new version, checked as a PUT of it would be (a route naming a deployment
     * deleted since is 400), under the request's If-Match / If-None-Match. A version that records a delete is 409.
     */
    async rollback(request: GatewayRequest, deps: GatewayDeps): Promise<GatewayResponse> {
      const principal = authenticateRole(request.headers, deps, OPS);
      const id = pathId(request, kind.idField, kind.what, 'write');
      const preconditions = readPreconditions(request.headers);
      const { version } = validate(rollbackRequest, await readDocument(request));
      const target = await deps.versions.get(kind.type, id, version);
      if (!target) throw errors.notFound(`Version ${version} of ${kind.what} '${id}'`);
      if (target.document === null)
        throw errors.conflict(`Version ${version} of ${kind.what} '${id}' records its deletion; roll back to a version with a document.`);
      const doc = validate(kind.schema, withId(target.document, kind.idField, id));
      return auditedPut(deps, principal, kind, { id, doc, preconditions, action: 'rollback' });
    },
  };
}

const deployments = documentsOf(deploymentKind);
const routes = documentsOf(routeKind);
const teams = documentsOf(teamKind);

/** An expiry a caller asks for: an ISO 8601 date-time, in the future. */
function expiryFrom(value: unknown, nowMs: number): string | undefined {
  if (value === undefined) return undefined;
  const parsed = z.iso.datetime({ offset: true }).safeParse(value);
  if (!parsed.success) throw errors.invalidRequest("'expires' must be an ISO 8601 date-time, e.g. 2030-01-31T00:00:00Z.", 'expires');
  const expiresMs = Date.parse(parsed.data);
  if (expiresMs <= nowMs) throw errors.invalidRequest("'expires' must be in the future.", 'expires');
  return new Date(expiresMs).toISOString();
}

const teamKeyRequest = z.strictObject({ expires: z.unknown().optional() });
const roleKeyRequest = z.strictObject({
  role: z.enum(roles, { message: `'role' must be one of: ${roles.join(', ')}` }),
  expires: z.unknown().optional(),
});

/** What GET /manage/keys shows of a key: never its hash. */
function keyListing(key: StoredKey, lastUsedAt: string | undefined): Record<string, unknown> {
  return {
    id: key.id,
    ...(key.team === undefined ? { role: key.role } : { team: key.team }),
    createdAt: key.createdAt,
    expiresAt: key.expiresAt ?? null,
    lastUsedAt: lastUsedAt ?? null,
    configuredBy: key.configuredBy ?? null,
  };
}

export const manage = {
  listDeployments: deployments.list,
  getDeployment: deployments.get,
  putDeployment: deployments.put,
  patchDeployment: deployments.patch,
  deleteDeployment: deployments.delete,
  listDeploymentVersions: deployments.versions,
  rollbackDeployment: deployments.rollback,
  listRoutes: routes.list,
  getRoute: routes.get,
  putRoute: routes.put,
  patchRoute: routes.patch,
  deleteRoute: routes.delete,
  listRouteVersions: routes.versions,
  rollbackRoute: routes.rollback,
  listTeams: teams.list,
  getTeam: teams.get,
  putTeam: teams.put,
  patchTeam: teams.patch,
  listTeamVersions: teams.versions,
  rollbackTeam: teams.rollback,
  listBlocklists: blocklists.list,
  getBlocklist: blocklists.get,
  putBlocklist: blocklists.put,
  deleteBlocklist: blocklists.delete,
  safetySelfTest,
  explain,
  deploymentHealth,
  listDeploymentHealth,
  readAudit,
  async createTeamKey(request: GatewayRequest, deps: GatewayDeps) {
    const principal = authenticateRole(request.headers, deps, OPS);
    const teamId = pathId(request, 'id', 'team', 'write');
    const body = validate(teamKeyRequest, await readDocument(request, { optional: true }));
    const expiresAt = expiryFrom(body.expires, deps.now());
    if (!(await deps.store.get('team', teamId))) throw errors.notFound(`Team '${teamId}'`);
    return issueKey(deps, principal, { team: teamId }, expiresAt);
  },
  async deleteTeamKey(request: GatewayRequest, deps: GatewayDeps) {
    const principal = authenticateRole(request.headers, deps, OPS);
    const teamId = pathId(request, 'id', 'team', 'read');
    const keyId = pathId(request, 'keyId', 'key', 'read', keyIdPattern);
    const preconditions = readPreconditions(request.headers);
    const key = await deps.store.get('key', keyId);
    if (!key || key.doc.team !== teamId) throw errors.notFound(`Key '${keyId}' of team '${teamId}'`);
    await conditionalDelete(deps, 'key', keyId, key.etag, preconditions, 'Key');
    await refreshed(deps);
    await recordChange(deps, principal, { kind: 'key', id: keyId, action: 'delete', before: auditedKey(key.doc), after: null });
    return noContent();
  },
  async listKeys(request: GatewayRequest, deps: GatewayDeps) {
    authenticateRole(request.headers, deps, ADMIN);
    const [keys, uses] = await Promise.all([deps.store.list('key'), deps.store.readKeyUses()]);
    return {
      status: 200,
      headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
      jsonBody: { data: keys.map(({ doc }) => keyListing(doc, uses.get(doc.id))) },
    };
  },
  async createRoleKey(request: GatewayRequest, deps: GatewayDeps) {
    const principal = authenticateRole(request.headers, deps, ADMIN);
    const body = validate(roleKeyRequest, await readDocument(request));
    return issueKey(deps, principal, { role: body.role }, expiryFrom(body.expires, deps.now()));
  },
  /** Revokes any key, team or role; in force on every instance within one catalog refresh interval. */
  async deleteKey(request: GatewayRequest, deps: GatewayDeps) {
    const principal = authenticateRole(request.headers, deps, ADMIN);
    const keyId = pathId(request, 'id', 'key', 'read', keyIdPattern);
    const preconditions = readPreconditions(request.headers);
    const key = await deps.store.get('key', keyId);
    if (!key) throw errors.notFound(`Key '${keyId}'`);
    await conditionalDelete(deps, 'key', keyId, key.etag, preconditions, 'Key');
    await refreshed(deps);
    await recordChange(deps, principal, { kind: 'key', id: keyId, action: 'delete', before: auditedKey(key.doc), after: null });
    return noContent();
  },
};

/** Creates a key and shows its secret this once; only its hash is stored. */
async function issueKey(
  deps: GatewayDeps,
  principal: Principal & { kind: 'role' },
  owner: KeyOwner,
  expiresAt: string | undefined,
): Promise<GatewayResponse> {
  const { secret, stored } = mintKey(owner, { nowMs: deps.now(), randomBytes: deps.randomBytes, expiresAt });
  await deps.store.put('key', stored, { ifNoneMatch: '*' });
  await refreshed(deps);
  await recordChange(deps, principal, { kind: 'key', id: stored.id, action: 'create', before: null, after: auditedKey(stored) });
  return {
    status: 201,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
    jsonBody: { id: stored.id, key: secret, ...owner, ...(expiresAt === undefined ? {} : { expiresAt }) },
  };
}
