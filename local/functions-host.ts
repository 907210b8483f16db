/**
 * A local Azure Functions host: serves the app's own `app.http(...)` registrations (collected through the
 * `@azure/functions-core` stand-in in functions-core.ts) over node:http, the way the Functions host and the Node
 * worker's stream mode do. Core Tools cannot run here; this keeps one route table: the production one.
 */
import { randomUUID, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { format } from 'node:util';
import type * as AzureFunctions from '@azure/functions';
import {
  installFunctionsCore,
  type CoreAppStartContext,
  type CoreAppTerminateContext,
  type CoreFunctionCallback,
  type CoreLogLevel,
  type CorePostInvocationContext,
  type CorePreInvocationContext,
  type FunctionsCoreRegistry,
  type HttpAuthLevel,
  type HttpFunctionRegistration,
} from './functions-core.js';

/** Same levels as the app's logger, so `log: (level, message) => logger.log(level, message)` just works. */
export type FunctionsHostLogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface FunctionsHostOptions {
  /** Folder holding host.json (its `extensions.http.routePrefix` is honoured). */
  appRoot: string;
  /** Imports the modules that call `app.http(...)`; runs after the functions-core stand-in is installed. */
  loadFunctions: () => Promise<unknown>;
  /** Default 7071; 0 picks a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Accepted as `x-functions-key` or `?code=` for authLevel function/admin; without it those functions answer 401. */
  masterKey?: string;
  /** Host-level request body cap (FUNCTIONS_REQUEST_BODY_SIZE_LIMIT); default 100 MB; larger bodies get 413. */
  maxRequestBodyBytes?: number;
  /** How long close() lets in-flight requests run before aborting them and destroying their connections; default 10000. */
  shutdownTimeoutMs?: number;
  /** How long a caller has to send a whole request, headers and body; default 30000 (Node's own is 300 s). */
  requestTimeoutMs?: number;
  /** How long a caller has to send the request headers; default 10000, never more than requestTimeoutMs. */
  headersTimeoutMs?: number;
  /** How long an idle keep-alive connection stays open; default 5000. */
  keepAliveTimeoutMs?: number;
  log?: (level: FunctionsHostLogLevel, message: string) => void;
}

export interface FunctionsHost {
  /** Origin of the server, e.g. http://127.0.0.1:7071 (no route prefix, no trailing slash). */
  readonly url: string;
  readonly port: number;
  readonly routePrefix: string;
  /** The HTTP functions this host serves, in registration order. */
  readonly registrations: readonly HttpFunctionRegistration[];
  /** Stops accepting, drains in-flight requests (up to shutdownTimeoutMs, then aborts them), then runs appTerminate hooks. */
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------------------------
// Route templates (the ASP.NET Core syntax the Functions host uses)

export type RouteConstraint = 'int' | 'alpha' | 'guid';

export type RouteSegment =
  | { readonly kind: 'literal'; readonly text: string; readonly lower: string }
  | {
      readonly kind: 'parameter' | 'catchAll';
      readonly name: string;
      readonly constraints: readonly RouteConstraint[];
      readonly optional: boolean;
      readonly defaultValue: string | undefined;
    };

export interface RouteTemplate {
  readonly template: string;
  readonly segments: readonly RouteSegment[];
  /** One digit per segment, lower first: literal, constrained, plain, optional, catch-all (as ASP.NET ranks them). */
  readonly precedence: readonly number[];
}

const SUPPORTED_CONSTRAINTS: readonly RouteConstraint[] = ['int', 'alpha', 'guid'];
const INVALID_NAME_CHARS = /[{}/?*=:]/;
const GUID_D = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const GUID = new RegExp(`^(?:[0-9a-f]{32}|${GUID_D}|\\{${GUID_D}\\}|\\(${GUID_D}\\))$`, 'i');
const INTEGER = /^[+-]?\d+$/;
const ALPHA = /^[a-z]+$/i;

function satisfies(constraints: readonly RouteConstraint[], value: string): boolean {
  for (const constraint of constraints) {
    if (constraint === 'int') {
      if (!INTEGER.test(value)) return false;
      const number = Number(value);
      if (number < -2147483648 || number > 2147483647) return false;
    } else if (constraint === 'alpha') {
      if (!ALPHA.test(value)) return false;
    } else if (!GUID.test(value)) {
      return false;
    }
  }
  return true;
}

function parseParameter(template: string, inner: string): Exclude<RouteSegment, { kind: 'literal' }> {
  const fail = (why: string): never => {
    throw new Error(`Invalid route template "${template}": ${why}`);
  };
  let body = inner;
  const catchAll = body.startsWith('*');
  if (catchAll) body = body.replace(/^\*\*?/, '');
  const optional = body.endsWith('?');
  if (optional) body = body.slice(0, -1);
  let defaultValue: string | undefined;
  const equals = body.indexOf('=');
  if (equals >= 0) {
    defaultValue = body.slice(equals + 1);
    body = body.slice(0, equals);
  }
  const [name = '', ...constraintNames] = body.split(':');
  if (name === '' || INVALID_NAME_CHARS.test(name)) fail(`"{${inner}}" does not name its parameter validly.`);
  if (optional && defaultValue !== undefined) fail(`the optional parameter "${name}" cannot also have a default value.`);
  if (catchAll && optional) fail(`the catch-all parameter "${name}" cannot be marked optional.`);
  const constraints = constraintNames.map((raw) => {
    const constraint = raw.toLowerCase() as RouteConstraint;
    if (!SUPPORTED_CONSTRAINTS.includes(constraint)) {
      fail(`unsupported constraint "${raw}" on "${name}" (the local host supports ${SUPPORTED_CONSTRAINTS.join(', ')}).`);
    }
    return constraint;
  });
  return {
    kind: catchAll ? 'catchAll' : 'parameter',
    name,
    constraints,
    optional: optional || defaultValue !== undefined,
    defaultValue,
  };
}

/** Parses an ASP.NET route template; throws a readable Error for anything the local host cannot honour exactly. */
export function parseRouteTemplate(template: string): RouteTemplate {
  const trimmed = template.replace(/^\/+|\/+$/g, '');
  const segments: RouteSegment[] = [];
  const precedence: number[] = [];
  const names = new Set<string>();
  if (trimmed !== '') {
    for (const text of trimmed.split('/')) {
      const previous = segments[segments.length - 1];
      if (previous?.kind === 'catchAll') {
        throw new Error(`Invalid route template "${template}": a catch-all parameter must be the last segment.`);
      }
      if (text === '') throw new Error(`Invalid route template "${template}": it has an empty segment.`);
      if (!text.includes('{') && !text.includes('}')) {
        if (text.includes('?')) throw new Error(`Invalid route template "${template}": literal "${text}" contains "?".`);
        if (previous && previous.kind !== 'literal' && previous.optional) {
          throw new Error(`Invalid route template "${template}": only optional segments may follow "{${previous.name}}".`);
        }
        segments.push({ kind: 'literal', text, lower: text.toLowerCase() });
        precedence.push(1);
        continue;
      }
      const match = /^\{([^{}]+)\}$/.exec(text);
      if (!match) {
        throw new Error(
          `Invalid route template "${template}": segment "${text}" mixes literal text and parameters (or escapes braces); ` +
            'the local host only supports whole-segment parameters.',
        );
      }
      const parameter = parseParameter(template, match[1] ?? '');
      const key = parameter.name.toLowerCase();
      if (names.has(key)) throw new Error(`Invalid route template "${template}": "${parameter.name}" appears twice.`);
      names.add(key);
      if (previous && previous.kind !== 'literal' && previous.optional && !parameter.optional && parameter.kind !== 'catchAll') {
        throw new Error(`Invalid route template "${template}": only optional segments may follow "{${previous.name}}".`);
      }
      const constrained = parameter.constraints.length > 0 ? 0 : 1;
      precedence.push((parameter.kind === 'catchAll' ? 6 : parameter.optional ? 4 : 2) + constrained);
      segments.push(parameter);
    }
  }
  return { template, segments, precedence };
}

function comparePrecedence(a: readonly number[], b: readonly number[]): number {
  const length = Math.max(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const difference = (a[i] ?? 0) - (b[i] ?? 0);
    if (difference !== 0) return difference;
  }
  return 0;
}

const NO_PARAMS: Readonly<Record<string, string>> = Object.freeze({});

/** Matches decoded path segments (and their lower-case forms) against a template; null when it does not match. */
function matchSegments(
  route: RouteTemplate,
  segments: readonly string[],
  lowered: readonly string[],
): Readonly<Record<string, string>> | null {
  let params: Record<string, string> | undefined;
  let index = 0;
  for (const part of route.segments) {
    if (part.kind === 'catchAll') {
      if (index < segments.length) {
        const value = index === segments.length - 1 ? (segments[index] as string) : segments.slice(index).join('/');
        if (!satisfies(part.constraints, value)) return null;
        (params ??= {})[part.name] = value;
      } else if (part.defaultValue !== undefined) {
        (params ??= {})[part.name] = part.defaultValue;
      }
      return params ?? NO_PARAMS;
    }
    if (index >= segments.length) {
      if (part.kind === 'parameter' && part.optional) {
        if (part.defaultValue !== undefined) (params ??= {})[part.name] = part.defaultValue;
        continue;
      }
      return null;
    }
    if (part.kind === 'literal') {
      if (lowered[index] !== part.lower) return null;
    } else {
      const value = segments[index] as string;
      if (value === '' || !satisfies(part.constraints, value)) return null;
      (params ??= {})[part.name] = value;
    }
    index++;
  }
  return index === segments.length ? (params ?? NO_PARAMS) : null;
}

/** Kestrel decodes the path but keeps %2F, so an encoded slash never splits a segment. */
function decodeSegment(raw: string): string {
  if (!raw.includes('%')) return raw;
  try {
    return decodeURIComponent(raw.replace(/%2f/gi, '%252F'));
  } catch {
    return raw;
  }
}

function splitPath(path: string): string[] {
  let end = path.length;
  if (end > 1 && path.charCodeAt(end - 1) === 47 /* / */) end--;
  if (end <= 1) return [];
  const segments = path.slice(1, end).split('/');
  for (let i = 0; i < segments.length; i++) segments[i] = decodeSegment(segments[i] as string);
  return segments;
}

// ---------------------------------------------------------------------------------------------------------------
// The host

interface CompiledRoute {
  readonly registration: HttpFunctionRegistration;
  readonly template: RouteTemplate;
  readonly methods: ReadonlySet<string> | null;
  readonly order: number;
  readonly logHandler: (level: AzureFunctions.LogLevel, ...args: unknown[]) => void;
  readonly options: AzureFunctions.EffectiveFunctionOptions;
}

type AzureFunctionsModule = typeof AzureFunctions;

const DEFAULT_MAX_REQUEST_BODY_BYTES = 100 * 1024 * 1024;
/** The headers @azure/functions' sendProxyResponse refuses to forward (plus any named in `Connection`). */
const BLOCKED_RESPONSE_HEADERS = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'trailers',
  'transfer-encoding',
  'upgrade',
]);
const CLIENT_DISCONNECTED = 'The client disconnected.';
const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
const DEFAULT_HEADERS_TIMEOUT_MS = 10_000;
const DEFAULT_KEEP_ALIVE_TIMEOUT_MS = 5_000;

class PayloadTooLargeError extends Error {
  override readonly name = 'PayloadTooLargeError';
}

function toHostLevel(level: CoreLogLevel): FunctionsHostLogLevel | undefined {
  switch (level) {
    case 'trace':
    case 'debug':
      return 'debug';
    case 'information':
      return 'info';
    case 'warning':
      return 'warn';
    case 'error':
    case 'critical':
      return 'error';
    default:
      return undefined;
  }
}

function defaultLog(level: FunctionsHostLogLevel, message: string): void {
  if (level === 'debug') return;
  if (level === 'info') console.log(`[functions-host] ${message}`);
  else console.error(`[functions-host] ${level}: ${message}`);
}

async function readRoutePrefix(appRoot: string): Promise<string> {
  const file = join(appRoot, 'host.json');
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new Error(`Could not read ${file}: ${(error as Error).message}`, { cause: error });
  }
  const http = (parsed as { extensions?: { http?: { routePrefix?: unknown } } } | null)?.extensions?.http;
  const prefix = http?.routePrefix;
  if (prefix === undefined || prefix === null) return 'api';
  if (typeof prefix !== 'string') throw new Error(`${file}: extensions.http.routePrefix must be a string.`);
  return prefix.replace(/^\/+|\/+$/g, '');
}

function describeError(error: unknown): string {
  if (error instanceof Error) return error.stack ?? `${error.name}: ${error.message}`;
  return format('%o', error);
}

function serializeCookie(cookie: AzureFunctions.Cookie): string {
  // The cookie@0.7 rules sendProxyResponse applies: RFC 6265 token names, URI-encoded values.
  if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(cookie.name)) throw new TypeError(`Invalid cookie name "${cookie.name}".`);
  let text = `${cookie.name}=${encodeURIComponent(cookie.value)}`;
  if (cookie.maxAge !== undefined && cookie.maxAge !== null) text += `; Max-Age=${Math.floor(cookie.maxAge)}`;
  if (cookie.domain) text += `; Domain=${cookie.domain}`;
  if (cookie.path) text += `; Path=${cookie.path}`;
  if (cookie.expires !== undefined && cookie.expires !== null) {
    text += `; Expires=${new Date(cookie.expires).toUTCString()}`;
  }
  if (cookie.httpOnly) text += '; HttpOnly';
  if (cookie.secure) text += '; Secure';
  if (cookie.sameSite) text += `; SameSite=${cookie.sameSite}`;
  return text;
}

/** Whether a handler's plain return value has a body that is already complete (so it can go out in one write). */
function hasCompleteBody(init: AzureFunctions.HttpResponseInit): boolean {
  if (init.jsonBody !== undefined && init.jsonBody !== null) return true;
  const body = init.body as unknown;
  return (
    body === undefined ||
    body === null ||
    typeof body === 'string' ||
    body instanceof ArrayBuffer ||
    ArrayBuffer.isView(body)
  );
}

const NULL_BODY_STATUSES = new Set([204, 205, 304]);

/**
 * The common case without the web-stream round trip: a plain init whose body is already complete, with
 * plain-object headers and no cookies, written as `new HttpResponse(init)` would present it (JSON or
 * text/plain content type by default, no body for 204/205/304). Returns false when the init is not that case.
 */
function writeCompleteInit(res: ServerResponse, method: string, init: AzureFunctions.HttpResponseInit): boolean {
  const headers = init.headers;
  if (init.cookies?.length || (headers !== undefined && (headers === null || typeof headers !== 'object' || Array.isArray(headers) || headers instanceof Headers))) {
    return false;
  }
  const status = init.status ?? 200;
  let payload: string | Uint8Array | undefined;
  let defaultType: string | undefined;
  if (!NULL_BODY_STATUSES.has(status)) {
    if (init.jsonBody !== undefined && init.jsonBody !== null) {
      payload = JSON.stringify(init.jsonBody);
      defaultType = 'application/json';
    } else if (typeof init.body === 'string') {
      payload = init.body;
      defaultType = 'text/plain;charset=UTF-8';
    } else if (init.body instanceof ArrayBuffer) {
      payload = new Uint8Array(init.body);
    } else if (ArrayBuffer.isView(init.body)) {
      payload = new Uint8Array(init.body.buffer, init.body.byteOffset, init.body.byteLength);
    }
  }
  const plain = (headers ?? {}) as Record<string, string>;
  const blocked = typeof plain.connection === 'string' ? plain.connection.split(',').map((name) => name.trim().toLowerCase()) : undefined;
  let hasType = false;
  for (const name of Object.keys(plain)) {
    const lower = name.toLowerCase();
    if (BLOCKED_RESPONSE_HEADERS.has(lower) || blocked?.includes(lower)) continue;
    if (lower === 'content-type') hasType = true;
    res.setHeader(lower, String(plain[name]));
  }
  if (!hasType && defaultType && payload !== undefined) res.setHeader('content-type', defaultType);
  res.statusCode = status;
  if (payload === undefined) {
    res.end();
    return true;
  }
  const bytes = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  res.setHeader('content-length', bytes.byteLength);
  res.end(method === 'HEAD' ? undefined : bytes);
  return true;
}

/** Web-stream body → response, chunk by chunk, honouring backpressure; a client disconnect cancels the source. */
async function pipeBody(res: ServerResponse, body: ReadableStream<unknown>): Promise<void> {
  const reader = body.getReader();
  let clientGone = false;
  let wake: (() => void) | undefined;
  const onClose = (): void => {
    if (res.writableFinished) return;
    clientGone = true;
    reader.cancel(CLIENT_DISCONNECTED).catch(() => undefined);
    wake?.();
  };
  res.on('close', onClose);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (clientGone) return;
      if (done) {
        res.end();
        return;
      }
      if (!res.write(value as Uint8Array | string)) {
        await new Promise<void>((resolveDrain) => {
          wake = resolveDrain;
          res.once('drain', resolveDrain);
        });
        res.off('drain', wake as () => void);
        wake = undefined;
        if (clientGone) return;
      }
    }
  } catch (error) {
    if (clientGone) return;
    reader.cancel(error).catch(() => undefined);
    throw error;
  } finally {
    res.off('close', onClose);
  }
}

function sendPlain(res: ServerResponse, status: number, text: string): void {
  res.statusCode = status;
  res.setHeader('content-type', 'text/plain; charset=utf-8');
  res.setHeader('content-length', Buffer.byteLength(text));
  res.end(text);
}

function formatOrigin(address: AddressInfo, requestedHost: string): string {
  let host = requestedHost;
  if (host === '0.0.0.0') host = '127.0.0.1';
  else if (host === '::') host = '::1';
  return `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`;
}

function compileRoutes(
  registrations: readonly HttpFunctionRegistration[],
  routePrefix: string,
  log: (level: FunctionsHostLogLevel, message: string) => void,
): CompiledRoute[] {
  const routes = registrations.map((registration, order): CompiledRoute => {
    const route = registration.route.replace(/^\/+|\/+$/g, '');
    const full = routePrefix === '' ? route : route === '' ? routePrefix : `${routePrefix}/${route}`;
    let template: RouteTemplate;
    try {
      template = parseRouteTemplate(full);
    } catch (error) {
      throw new Error(`Function "${registration.name}" (route "${registration.route}"): ${(error as Error).message}`, {
        cause: error,
      });
    }
    const bindings = Object.entries(registration.metadata.bindings);
    const [triggerName, trigger] = bindings.find(([, binding]) => /trigger$/i.test(binding.type ?? '')) ?? [];
    const returnBinding = registration.metadata.bindings['$return'];
    const prefix = `[${registration.name}] `;
    return {
      registration,
      template,
      methods: registration.methods.length > 0 ? new Set(registration.methods) : null,
      order,
      logHandler: (level, ...args) => {
        const hostLevel = toHostLevel(level);
        if (hostLevel) log(hostLevel, prefix + format(...args));
      },
      options: {
        trigger: { ...trigger, type: String(trigger?.type), name: String(triggerName) },
        return: returnBinding ? { ...returnBinding, type: String(returnBinding.type), name: '$return' } : undefined,
        extraInputs: [],
        extraOutputs: [],
      },
    };
  });
  routes.sort((a, b) => comparePrecedence(a.template.precedence, b.template.precedence) || a.order - b.order);
  for (const route of routes) log('debug', `Mapped function "${route.registration.name}": /${route.template.template}`);
  return routes;
}

/** A node:http server that gives slow callers deliberate limits instead of Node's 300 s request timeout. */
function createHostServer(options: FunctionsHostOptions, onRequest: (req: IncomingMessage, res: ServerResponse) => void): Server {
  const requestTimeout = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const server = createServer(
    {
      noDelay: true,
      requestTimeout,
      headersTimeout: Math.min(options.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS, requestTimeout),
      // Node looks for expired requests on this interval (30 s by default), so a 30 s limit could take a minute.
      connectionsCheckingInterval: Math.max(10, Math.min(1_000, Math.floor(requestTimeout / 4))),
    },
    onRequest,
  );
  server.keepAliveTimeout = options.keepAliveTimeoutMs ?? DEFAULT_KEEP_ALIVE_TIMEOUT_MS;
  return server;
}

async function listen(server: Server, port: number, hostName: string): Promise<void> {
  await new Promise<void>((resolveListen, rejectListen) => {
    server.once('error', rejectListen);
    server.listen(port, hostName, () => {
      server.off('error', rejectListen);
      resolveListen();
    });
  });
}

/**
 * The caller's side of one invocation: aborted when the caller leaves before its response is finished (or when
 * shutdown gives up on it), and handed to the handler as `request.signal`. @azure/functions has no such signal and
 * the Functions host does not tell the worker when a caller leaves, so in Azure `request.signal` is undefined.
 */
function watchCaller(res: ServerResponse, inFlight: Set<AbortController>): AbortSignal {
  const controller = new AbortController();
  if (res.closed) {
    controller.abort(new DOMException(CLIENT_DISCONNECTED, 'AbortError'));
    return controller.signal;
  }
  inFlight.add(controller);
  res.once('close', () => {
    inFlight.delete(controller);
    if (!res.writableFinished) controller.abort(new DOMException(CLIENT_DISCONNECTED, 'AbortError'));
  });
  return controller.signal;
}

function exposeSignal(request: AzureFunctions.HttpRequest, signal: AbortSignal): void {
  Object.defineProperty(request, 'signal', { value: signal, enumerable: true });
}

/** Stops accepting, lets in-flight requests finish for up to timeoutMs, then aborts them and closes their sockets. */
async function drain(
  server: Server,
  inFlight: Set<AbortController>,
  timeoutMs: number,
  log: (level: FunctionsHostLogLevel, message: string) => void,
): Promise<void> {
  const allClosed = new Promise<void>((resolveClose) => server.close(() => resolveClose()));
  server.closeIdleConnections();
  const timer = setTimeout(() => {
    log('warn', `Shutdown: ${inFlight.size} request(s) still running after ${timeoutMs} ms; aborting them and closing their connections.`);
    const reason = new DOMException('The host is shutting down.', 'AbortError');
    for (const controller of inFlight) controller.abort(reason);
    server.closeAllConnections();
  }, timeoutMs);
  try {
    await allClosed;
  } finally {
    clearTimeout(timer);
  }
}

async function runHooks<TContext>(hooks: readonly ((context: TContext) => unknown)[], context: TContext): Promise<void> {
  // A copy, so a hook that disposes itself does not skip its neighbour.
  for (const hook of [...hooks]) await hook(context);
}

/** Starts the local Functions host over the app's own registrations. */
export async function startFunctionsHost(options: FunctionsHostOptions): Promise<FunctionsHost> {
  const log = options.log ?? defaultLog;
  const port = options.port ?? 7071;
  const hostName = options.host ?? '127.0.0.1';
  const maxBodyBytes = options.maxRequestBodyBytes ?? DEFAULT_MAX_REQUEST_BODY_BYTES;
  const shutdownTimeoutMs = options.shutdownTimeoutMs ?? 10_000;
  const masterKey = options.masterKey === undefined || options.masterKey === '' ? undefined : Buffer.from(options.masterKey);

  const registry: FunctionsCoreRegistry = installFunctionsCore();
  registry.setLogSink((level, category, message) => {
    const hostLevel = toHostLevel(level);
    if (hostLevel) log(hostLevel, category === 'user' ? message : `(${category}) ${message}`);
  });
  const routePrefix = await readRoutePrefix(options.appRoot);
  // Loaded only now, after the require hook: the library probes for @azure/functions-core once and caches a miss.
  // Through `default`: Node's ESM view of this CommonJS bundle lacks HttpRequest, HttpResponse, InvocationContext…
  const imported = (await import('@azure/functions')) as AzureFunctionsModule & { default?: AzureFunctionsModule };
  const lib: AzureFunctionsModule = imported.default ?? imported;

  registry.beginStartup();
  try {
    await options.loadFunctions();
  } finally {
    registry.endStartup();
  }

  const registrations = Object.freeze([...registry.httpFunctions]);
  if (registrations.length === 0) {
    throw new Error(
      'No HTTP functions were registered. If @azure/functions registered them before installFunctionsCore() ran, ' +
        'it is in "test mode" and skips registrations; load the function modules only from loadFunctions.',
    );
  }
  if (!registry.httpStreamEnabled) {
    log('warn', 'The app does not call app.setup({ enableHttpStream: true }): production would buffer bodies; this host streams.');
  }
  for (const other of registry.otherFunctions) {
    log('info', `Function "${other.name}" (${other.triggerType}) is registered; the local host only runs HTTP triggers.`);
  }
  const routes = compileRoutes(registrations, routePrefix, log);

  const appStartContext: CoreAppStartContext = {
    get hookData() {
      return registry.appLevelHookData;
    },
    get appHookData() {
      return registry.appHookData;
    },
    functionAppDirectory: resolve(options.appRoot),
  };
  const appTerminateContext: CoreAppTerminateContext = {
    get hookData() {
      return registry.appLevelHookData;
    },
    get appHookData() {
      return registry.appHookData;
    },
  };
  await runHooks(registry.hooks.appStart, appStartContext);

  const active = new Set<ServerResponse>();
  const inFlight = new Set<AbortController>();
  const refusedForMissingKey = new Set<string>();
  let closing = false;
  let defaultAuthority = `${hostName}:${port}`;

  function findRoute(method: string, path: string): { route: CompiledRoute; params: Readonly<Record<string, string>> } | null {
    const segments = splitPath(path);
    const lowered = segments.map((segment) => segment.toLowerCase());
    for (const route of routes) {
      if (route.methods !== null && !route.methods.has(method)) continue;
      const params = matchSegments(route.template, segments, lowered);
      if (params !== null) return { route, params };
    }
    return null;
  }

  function isAuthorized(level: HttpAuthLevel, name: string, headers: Record<string, string>, target: string, queryStart: number): boolean {
    if (level === 'anonymous') return true;
    if (masterKey === undefined) {
      if (!refusedForMissingKey.has(name)) {
        refusedForMissingKey.add(name);
        log('warn', `Function "${name}" has authLevel "${level}" but the host has no masterKey: answering 401.`);
      }
      return false;
    }
    // The Functions host looks at ?code= first, then x-functions-key.
    const code = queryStart >= 0 ? new URLSearchParams(target.slice(queryStart + 1)).get('code') : null;
    const provided = code ?? headers['x-functions-key'];
    if (provided === undefined) return false;
    const candidate = Buffer.from(provided);
    return candidate.length === masterKey.length && timingSafeEqual(candidate, masterKey);
  }

  async function* limitBody(req: IncomingMessage, overflow: { exceeded: boolean }): AsyncGenerator<Buffer> {
    let received = 0;
    // destroyOnReturn: false keeps the socket alive when we stop reading, so a 413 can still be sent.
    for await (const chunk of req.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
      received += chunk.length;
      if (received > maxBodyBytes) {
        overflow.exceeded = true;
        throw new PayloadTooLargeError(`The request body exceeds the host limit of ${maxBodyBytes} bytes.`);
      }
      yield chunk;
    }
  }

  async function writeResponse(res: ServerResponse, method: string, result: unknown): Promise<void> {
    let response: AzureFunctions.HttpResponse;
    let complete = false;
    if (result instanceof lib.HttpResponse) {
      response = result;
    } else if (result === undefined || result === null) {
      res.statusCode = 204;
      res.end();
      return;
    } else if (typeof result !== 'object') {
      throw new TypeError('The HTTP response must be an object with optional properties "body", "status", "headers", and "cookies".');
    } else {
      const init = result as AzureFunctions.HttpResponseInit;
      complete = hasCompleteBody(init);
      if (complete && writeCompleteInit(res, method, init)) return;
      response = new lib.HttpResponse(init);
    }

    const headers = response.headers;
    const connection = headers.get('connection');
    const alsoBlocked = connection ? connection.split(',').map((name) => name.trim().toLowerCase()) : undefined;
    let setCookie: string[] | undefined;
    for (const [name, value] of headers) {
      if (name === 'set-cookie') (setCookie ??= []).push(value);
      else if (!BLOCKED_RESPONSE_HEADERS.has(name) && !alsoBlocked?.includes(name)) res.setHeader(name, value);
    }
    // As sendProxyResponse does: `cookies` replace any Set-Cookie header.
    if (response.cookies.length > 0) setCookie = response.cookies.map(serializeCookie);
    if (setCookie) res.setHeader('set-cookie', setCookie);
    res.statusCode = response.status;

    const body = response.body;
    if (body === null) {
      res.end();
    } else if (method === 'HEAD') {
      body.cancel().catch(() => undefined);
      res.end();
    } else if (complete) {
      // Already in memory: read it straight off the reader (cheaper than arrayBuffer()) and send it in one write.
      const reader = body.getReader();
      const chunks: Uint8Array[] = [];
      let length = 0;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        chunks.push(value as Uint8Array);
        length += (value as Uint8Array).byteLength;
      }
      res.setHeader('content-length', length);
      res.end(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, length));
    } else if (!active.has(res)) {
      // The client left while the handler ran: nobody will read, so stop the producer now.
      body.cancel(CLIENT_DISCONNECTED).catch(() => undefined);
    } else {
      res.flushHeaders();
      await pipeBody(res, body as ReadableStream<unknown>);
    }
  }

  async function invoke(
    req: IncomingMessage,
    res: ServerResponse,
    route: CompiledRoute,
    params: Readonly<Record<string, string>>,
    headers: Record<string, string>,
    method: string,
    target: string,
  ): Promise<void> {
    const registration = route.registration;
    const invocationId = randomUUID();
    let overflow: { exceeded: boolean } | undefined;
    try {
      let body: IncomingMessage | AsyncGenerator<Buffer> | undefined;
      if (method !== 'GET' && method !== 'HEAD') {
        if (headers['content-length'] === undefined && headers['transfer-encoding'] !== undefined) {
          overflow = { exceeded: false };
          body = limitBody(req, overflow);
        } else {
          body = req;
        }
      }
      const url = target.charCodeAt(0) === 47 /* / */ ? `http://${headers['host'] ?? defaultAuthority}${target}` : target;
      // Exactly what the library's stream mode (createStreamRequest) builds from the worker's proxied request.
      const nativeRequest = new Request(url, { method, headers, body: body as BodyInit | undefined, duplex: 'half' } as RequestInit);
      const request = new lib.HttpRequest({ nativeRequest, params } as unknown as AzureFunctions.HttpRequestInit);
      exposeSignal(request, watchCaller(res, inFlight));
      const traceParent = headers['traceparent'];
      const context = new lib.InvocationContext({
        invocationId,
        functionName: registration.name,
        logHandler: route.logHandler,
        options: route.options,
        traceContext: traceParent ? { traceParent, traceState: headers['tracestate'], attributes: {} } : undefined,
      });

      // What pre- and post-invocation hooks share: this invocation's hook data, the app's, and its context.
      const invocationHookContext = (invocationHookData: Record<string, unknown>) => ({
        hookData: invocationHookData,
        appHookData: registry.appHookData,
        invocationContext: context,
      });
      let callback: CoreFunctionCallback = registration.handler;
      let inputs: unknown[] = [request];
      let hookData: Record<string, unknown> | undefined;
      const preInvocation = registry.hooks.preInvocation;
      if (preInvocation.length > 0) {
        hookData = {};
        const preContext: CorePreInvocationContext = { ...invocationHookContext(hookData), inputs, functionCallback: callback };
        await runHooks(preInvocation, preContext);
        inputs = preContext.inputs;
        callback = preContext.functionCallback;
      }

      let result: unknown = null;
      let error: unknown = null;
      try {
        result = await callback(...inputs, context);
      } catch (thrown) {
        error = thrown ?? new Error('The function threw a nullish value.');
      }
      const postInvocation = registry.hooks.postInvocation;
      if (postInvocation.length > 0) {
        const postContext: CorePostInvocationContext = { ...invocationHookContext(hookData ?? {}), inputs, result, error };
        await runHooks(postInvocation, postContext);
        result = postContext.result;
        error = postContext.error;
      }
      if (error !== null && error !== undefined) throw error;

      if (overflow?.exceeded) {
        if (result instanceof lib.HttpResponse) result.body?.cancel().catch(() => undefined);
        sendPlain(res, 413, 'Payload Too Large');
        return;
      }
      // A handler may answer without reading the whole body (a 413, a 415…). What it left unread would
      // jam this keep-alive connection for the next request, so the connection closes after the response.
      if (body !== undefined && !req.readableEnded) res.shouldKeepAlive = false;
      await writeResponse(res, method, result);
    } catch (error) {
      if (overflow?.exceeded && !res.headersSent) {
        sendPlain(res, 413, 'Payload Too Large');
        return;
      }
      log('error', `Function "${registration.name}" failed (invocation ${invocationId}): ${describeError(error)}`);
      if (!res.headersSent) sendPlain(res, 500, 'Internal Server Error');
      else res.destroy(error instanceof Error ? error : new Error(String(error))); // never a clean-looking end
    }
  }

  function onResponseClose(this: ServerResponse): void {
    active.delete(this);
    if (closing) server.closeIdleConnections();
  }

  function onRequest(req: IncomingMessage, res: ServerResponse): void {
    active.add(res);
    res.once('close', onResponseClose);
    if (closing) res.shouldKeepAlive = false;

    const method = req.method ?? 'GET';
    const target = req.url ?? '/';
    const queryStart = target.indexOf('?');
    let path = queryStart === -1 ? target : target.slice(0, queryStart);
    if (path.charCodeAt(0) !== 47 /* / */) {
      try {
        path = new URL(path).pathname; // absolute-form request target
      } catch {
        sendPlain(res, 400, 'Bad Request');
        return;
      }
    }
    const match = findRoute(method, path);
    if (match === null) {
      sendPlain(res, 404, 'Not Found');
      return;
    }

    // Headers as the client sent them; repeated ones joined with ", " (not Node's per-header merge rules).
    const raw = req.rawHeaders;
    const headers: Record<string, string> = {};
    for (let i = 0; i < raw.length; i += 2) {
      const name = (raw[i] as string).toLowerCase();
      const value = raw[i + 1] as string;
      const existing = headers[name];
      headers[name] = existing === undefined ? value : `${existing}, ${value}`;
    }

    const { route, params } = match;
    if (!isAuthorized(route.registration.authLevel, route.registration.name, headers, target, queryStart)) {
      sendPlain(res, 401, 'Unauthorized');
      return;
    }
    const declaredLength = headers['content-length'];
    if (declaredLength !== undefined && Number(declaredLength) > maxBodyBytes) {
      sendPlain(res, 413, 'Payload Too Large');
      return;
    }
    void invoke(req, res, route, params, headers, method, target);
  }

  const server = createHostServer(options, onRequest);
  server.on('error', (error) => log('error', `HTTP server error: ${describeError(error)}`));
  try {
    await listen(server, port, hostName);
  } catch (error) {
    await runHooks(registry.hooks.appTerminate, appTerminateContext).catch((hookError: unknown) =>
      log('error', `appTerminate hook failed: ${describeError(hookError)}`),
    );
    throw error;
  }
  const address = server.address() as AddressInfo;
  defaultAuthority = `${hostName.includes(':') ? `[${hostName}]` : hostName}:${address.port}`;
  const url = formatOrigin(address, hostName);
  log('info', `Functions host listening on ${url} (route prefix "${routePrefix}", ${routes.length} HTTP functions).`);

  let closed: Promise<void> | undefined;
  async function shutdown(): Promise<void> {
    closing = true;
    for (const res of active) {
      if (!res.headersSent) res.shouldKeepAlive = false;
    }
    await drain(server, inFlight, shutdownTimeoutMs, log);
    await runHooks(registry.hooks.appTerminate, appTerminateContext);
  }

  return {
    url,
    port: address.port,
    routePrefix,
    registrations,
    close: () => (closed ??= shutdown()),
  };
}
