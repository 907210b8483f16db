/**
 * A local Azure Functions host: serves the app's own `app.http(...)` registrations (collected through the
 * `@azure/functions-core` stand-in in functions-core.ts) over node:http, the way the Functions host and the Node
 * worker's stream mode do. Core Tools cannot run here; this keeps one route table: the production one.
 * Routing lives in route-table.ts, running a function in invocation.ts, writing its answer in response-writer.ts.
 */
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import type * as AzureFunctions from '@azure/functions';
import {
  installFunctionsCore,
  type CoreAppStartContext,
  type CoreAppTerminateContext,
  type FunctionsCoreRegistry,
  type HttpFunctionRegistration,
} from './functions-core.js';
import {
  collectHeaders,
  createInvoker,
  describeError,
  runHooks,
  toHostLevel,
  type FunctionsHostLogLevel,
  type HostLog,
} from './invocation.js';
import { sendPlain } from './response-writer.js';
import { compileRouteTable, type RouteTable } from './route-table.js';
import { startTimers, type TimerClock } from './timer-runner.js';
import { parseTimerSchedule } from './timer-schedule.js';

export type { FunctionsHostLogLevel } from './invocation.js';
export { parseRouteTemplate } from './route-table.js';

export interface FunctionsHostOptions {
  /** Folder holding host.json (its `extensions.http.routePrefix` is honoured). */
  appRoot: string;
  /** Imports the modules that call `app.http(...)`; runs after the functions-core stand-in is installed. */
  loadFunctions: () => Promise<unknown>;
  /** Default 7071; 0 picks a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
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
  /** The clock `app.timer(...)` functions run on; the system clock by default. */
  timerClock?: TimerClock;
  /** Whether timer functions run (default true); when false they are registered and reported only. */
  runTimers?: boolean;
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

const DEFAULT_MAX_REQUEST_BODY_BYTES = 100 * 1024 * 1024;
const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
const DEFAULT_HEADERS_TIMEOUT_MS = 10_000;
const DEFAULT_KEEP_ALIVE_TIMEOUT_MS = 5_000;

interface LoadedApp {
  registry: FunctionsCoreRegistry;
  lib: typeof AzureFunctions;
  registrations: readonly HttpFunctionRegistration[];
  routePrefix: string;
  routes: RouteTable;
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
  const prefix = (parsed as { extensions?: { http?: { routePrefix?: unknown } } } | null)?.extensions?.http?.routePrefix;
  if (prefix === undefined || prefix === null) return 'api';
  if (typeof prefix !== 'string') throw new Error(`${file}: extensions.http.routePrefix must be a string.`);
  return prefix.replace(/^\/+|\/+$/g, '');
}

/** Installs the functions-core stand-in, loads the app's registrations and compiles their route table. */
async function loadApp(options: FunctionsHostOptions, log: HostLog): Promise<LoadedApp> {
  const registry = installFunctionsCore();
  registry.setLogSink((level, category, message) => {
    const hostLevel = toHostLevel(level);
    if (hostLevel) log(hostLevel, category === 'user' ? message : `(${category}) ${message}`);
  });
  const routePrefix = await readRoutePrefix(options.appRoot);
  // Loaded only now, after the require hook: the library probes for @azure/functions-core once and caches a miss.
  // Through `default`: Node's ESM view of this CommonJS bundle lacks HttpRequest, HttpResponse, InvocationContext…
  const imported = (await import('@azure/functions')) as typeof AzureFunctions & { default?: typeof AzureFunctions };
  const lib = imported.default ?? imported;
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
  for (const timer of registry.timerFunctions) {
    // Parsed now, so a schedule this host cannot read stops the start instead of never firing.
    parseTimerSchedule(timer.schedule);
    const runs = options.runTimers === false ? 'is not run here (timers off)' : 'runs';
    log('info', `Function "${timer.name}" (timerTrigger) ${runs} on schedule "${timer.schedule}" (UTC).`);
  }
  for (const other of registry.otherFunctions) {
    log('info', `Function "${other.name}" (${other.triggerType}) is registered; the local host only runs HTTP triggers.`);
  }
  const routes = compileRouteTable(registrations, routePrefix);
  for (const template of routes.templates) log('debug', `Mapped route ${template}`);
  return { registry, lib, registrations, routePrefix, routes };
}

/** The path of a request target (origin or absolute form); undefined when it cannot be read. */
function pathOf(target: string): string | undefined {
  const queryStart = target.indexOf('?');
  const path = queryStart === -1 ? target : target.slice(0, queryStart);
  if (path.startsWith('/')) return path;
  try {
    return new URL(path).pathname;
  } catch {
    return undefined;
  }
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

function bracketed(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

function formatOrigin(address: AddressInfo, requestedHost: string): string {
  const host = requestedHost === '0.0.0.0' ? '127.0.0.1' : requestedHost === '::' ? '::1' : requestedHost;
  return `http://${bracketed(host)}:${address.port}`;
}

/** Stops accepting, lets in-flight requests finish for up to timeoutMs, then aborts them and closes their sockets. */
async function drain(server: Server, inFlight: Set<AbortController>, timeoutMs: number, log: HostLog): Promise<void> {
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

/** The app-level hook contexts, which share one hookData as the worker's do. */
function appHookContexts(
  registry: FunctionsCoreRegistry,
  appRoot: string,
): { start: CoreAppStartContext; terminate: CoreAppTerminateContext } {
  const start: CoreAppStartContext = {
    get hookData() {
      return registry.appLevelHookData;
    },
    get appHookData() {
      return registry.appHookData;
    },
    functionAppDirectory: resolve(appRoot),
  };
  const terminate: CoreAppTerminateContext = {
    get hookData() {
      return registry.appLevelHookData;
    },
    get appHookData() {
      return registry.appHookData;
    },
  };
  return { start, terminate };
}

interface Listener {
  /** Set once created; the listener only needs it after the first request. */
  server?: Server;
  /** Responses not yet closed. */
  active: Set<ServerResponse>;
  inFlight: Set<AbortController>;
  authority: string;
  closing: boolean;
}

/** The server's request listener: route, check the declared length, then invoke. */
function requestListener(app: LoadedApp, options: FunctionsHostOptions, log: HostLog, state: Listener) {
  const maxBodyBytes = options.maxRequestBodyBytes ?? DEFAULT_MAX_REQUEST_BODY_BYTES;
  const invoke = createInvoker({
    lib: app.lib,
    registry: app.registry,
    log,
    maxBodyBytes,
    inFlight: state.inFlight,
    authority: () => state.authority,
  });
  function onResponseClose(this: ServerResponse): void {
    state.active.delete(this);
    if (state.closing) state.server?.closeIdleConnections();
  }
  return (req: IncomingMessage, res: ServerResponse): void => {
    state.active.add(res);
    res.once('close', onResponseClose);
    if (state.closing) res.shouldKeepAlive = false;
    const method = req.method ?? 'GET';
    const target = req.url ?? '/';
    const path = pathOf(target);
    const match = path === undefined ? undefined : app.routes.find(method, path);
    if (match === undefined) {
      sendPlain(res, 400, 'Bad Request');
    } else if (match === null) {
      sendPlain(res, 404, 'Not Found');
    } else {
      const headers = collectHeaders(req.rawHeaders);
      const declaredLength = headers['content-length'];
      if (declaredLength !== undefined && Number(declaredLength) > maxBodyBytes) sendPlain(res, 413, 'Payload Too Large');
      else void invoke({ req, res, match, headers, method, target });
    }
  };
}

/** Starts the local Functions host over the app's own registrations. */
export async function startFunctionsHost(options: FunctionsHostOptions): Promise<FunctionsHost> {
  const log = options.log ?? defaultLog;
  const port = options.port ?? 7071;
  const hostName = options.host ?? '127.0.0.1';
  const app = await loadApp(options, log);
  const hookContexts = appHookContexts(app.registry, options.appRoot);
  await runHooks(app.registry.hooks.appStart, hookContexts.start);
  const terminate = () => runHooks(app.registry.hooks.appTerminate, hookContexts.terminate);

  const state: Listener = { active: new Set(), inFlight: new Set(), authority: `${hostName}:${port}`, closing: false };
  const server = createHostServer(options, requestListener(app, options, log, state));
  state.server = server;
  server.on('error', (error) => log('error', `HTTP server error: ${describeError(error)}`));
  try {
    await listen(server, port, hostName);
  } catch (error) {
    await terminate().catch((hookError: unknown) => log('error', `appTerminate hook failed: ${describeError(hookError)}`));
    throw error;
  }
  const address = server.address() as AddressInfo;
  state.authority = `${bracketed(hostName)}:${address.port}`;
  const url = formatOrigin(address, hostName);
  log('info', `Functions host listening on ${url} (route prefix "${app.routePrefix}", ${app.registrations.length} HTTP functions).`);
  const timers = startTimers(options.runTimers === false ? [] : app.registry.timerFunctions, {
    lib: app.lib,
    registry: app.registry,
    log,
    clock: options.timerClock,
  });

  let closed: Promise<void> | undefined;
  const shutdown = async (): Promise<void> => {
    state.closing = true;
    for (const res of state.active) if (!res.headersSent) res.shouldKeepAlive = false;
    const timersStopped = timers.stop();
    await drain(server, state.inFlight, options.shutdownTimeoutMs ?? 10_000, log);
    await timersStopped;
    await terminate();
  };
  return { url, port: address.port, routePrefix: app.routePrefix, registrations: app.registrations, close: () => (closed ??= shutdown()) };
}
