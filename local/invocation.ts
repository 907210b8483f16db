import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { format } from 'node:util';
import type * as AzureFunctions from '@azure/functions';
import type {
  CoreFunctionCallback,
  CoreLogLevel,
  CorePostInvocationContext,
  CorePreInvocationContext,
  FunctionsCoreRegistry,
  HttpFunctionRegistration,
} from './functions-core.js';
import { CLIENT_DISCONNECTED, sendPlain, writeResult } from './response-writer.js';
import type { RouteMatch } from './route-table.js';

// One invocation, as the Node worker's stream mode runs it: the HttpRequest built from the caller's request,
// pre-invocation hooks, the handler, post-invocation hooks, then the answer written out.

export type FunctionsHostLogLevel = 'debug' | 'info' | 'warn' | 'error';
export type HostLog = (level: FunctionsHostLogLevel, message: string) => void;

export interface InvokerOptions {
  lib: typeof AzureFunctions;
  registry: FunctionsCoreRegistry;
  log: HostLog;
  maxBodyBytes: number;
  /** Aborted by shutdown when it gives up on the requests still running. */
  inFlight: Set<AbortController>;
  /** host:port for request URLs when the caller sent no Host header. */
  authority: () => string;
}

/** What the host knows about one request once it has found its route. */
export interface IncomingCall {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly match: RouteMatch;
  /** Lower-case names; repeated headers joined with ", ". */
  readonly headers: Record<string, string>;
  readonly method: string;
  /** The request target as sent (path and query). */
  readonly target: string;
}

interface Outcome {
  result: unknown;
  error: unknown;
}

class PayloadTooLargeError extends Error {
  override readonly name = 'PayloadTooLargeError';
}

export function toHostLevel(level: CoreLogLevel | AzureFunctions.LogLevel): FunctionsHostLogLevel | undefined {
  if (level === 'trace' || level === 'debug') return 'debug';
  if (level === 'information') return 'info';
  if (level === 'warning') return 'warn';
  if (level === 'error' || level === 'critical') return 'error';
  return undefined;
}

export function describeError(error: unknown): string {
  if (error instanceof Error) return error.stack ?? `${error.name}: ${error.message}`;
  return format('%o', error);
}

/** Headers as the client sent them; repeated ones joined with ", " (not Node's per-header merge rules). */
export function collectHeaders(raw: readonly string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    const existing = headers[name];
    headers[name] = existing === undefined ? (raw[i + 1] as string) : `${existing}, ${raw[i + 1] as string}`;
  }
  return headers;
}

/** Returns the host's invoke(call): runs the function for a routed request and writes its answer. */
export function createInvoker(options: InvokerOptions): (call: IncomingCall) => Promise<void> {
  const contextOptions = new Map<HttpFunctionRegistration, ContextOptions>();
  const optionsFor = (registration: HttpFunctionRegistration): ContextOptions => {
    const found = contextOptions.get(registration) ?? contextOptionsFor(registration, options.log);
    contextOptions.set(registration, found);
    return found;
  };

  return async (call) => {
    const { registration } = call.match;
    const invocationId = randomUUID();
    const overflow = { exceeded: false };
    try {
      const body = requestBody(call, options.maxBodyBytes, overflow);
      const request = buildRequest(call, body, options);
      const context = new options.lib.InvocationContext({
        invocationId,
        ...optionsFor(registration),
        traceContext: traceContext(call.headers),
      });
      const { result, error } = await callWithHooks(options.registry, registration.handler, request, context);
      if (error !== null && error !== undefined) throw error;
      if (overflow.exceeded) {
        if (result instanceof options.lib.HttpResponse) result.body?.cancel().catch(() => undefined);
        sendPlain(call.res, 413, 'Payload Too Large');
        return;
      }
      // A handler may answer without reading the whole body (a 413, a 415…). What it left unread would
      // jam this keep-alive connection for the next request, so the connection closes after the response.
      if (body !== undefined && !call.req.readableEnded) call.res.shouldKeepAlive = false;
      await writeResult(call.res, call.method, result, options.lib.HttpResponse);
    } catch (error) {
      failed(call, error, overflow.exceeded, `Function "${registration.name}" failed (invocation ${invocationId})`, options.log);
    }
  };
}

function failed(call: IncomingCall, error: unknown, overflowed: boolean, what: string, log: HostLog): void {
  const { res } = call;
  if (overflowed && !res.headersSent) {
    sendPlain(res, 413, 'Payload Too Large');
    return;
  }
  log('error', `${what}: ${describeError(error)}`);
  if (!res.headersSent) sendPlain(res, 500, 'Internal Server Error');
  else res.destroy(error instanceof Error ? error : new Error(String(error))); // never a clean-looking end
}

type ContextOptions = Pick<AzureFunctions.InvocationContextInit, 'functionName' | 'logHandler' | 'options'>;

/** What every InvocationContext of one function shares: its name, a log handler, its bindings. */
export function contextOptionsFor(registration: Pick<HttpFunctionRegistration, 'name' | 'metadata'>, log: HostLog): ContextOptions {
  const bindings = Object.entries(registration.metadata.bindings);
  const [triggerName, trigger] = bindings.find(([, binding]) => /trigger$/i.test(binding.type ?? '')) ?? [];
  const returnBinding = registration.metadata.bindings.$return;
  const prefix = `[${registration.name}] `;
  return {
    functionName: registration.name,
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
}

function traceContext(headers: Record<string, string>): AzureFunctions.TraceContext | undefined {
  const traceParent = headers.traceparent;
  return traceParent ? { traceParent, traceState: headers.tracestate, attributes: {} } : undefined;
}

/** The body the handler reads: none for GET/HEAD; a chunked upload without a length is counted against the cap. */
function requestBody(
  call: IncomingCall,
  maxBodyBytes: number,
  overflow: { exceeded: boolean },
): IncomingMessage | AsyncGenerator<Buffer> | undefined {
  if (call.method === 'GET' || call.method === 'HEAD') return undefined;
  const { headers } = call;
  if (headers['content-length'] === undefined && headers['transfer-encoding'] !== undefined) {
    return limitBody(call.req, maxBodyBytes, overflow);
  }
  return call.req;
}

async function* limitBody(req: IncomingMessage, maxBodyBytes: number, overflow: { exceeded: boolean }): AsyncGenerator<Buffer> {
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

/** Exactly what the library's stream mode (createStreamRequest) builds from the worker's proxied request. */
function buildRequest(
  call: IncomingCall,
  body: IncomingMessage | AsyncGenerator<Buffer> | undefined,
  options: InvokerOptions,
): AzureFunctions.HttpRequest {
  const { headers, method, target } = call;
  const url = target.startsWith('/') ? `http://${headers.host ?? options.authority()}${target}` : target;
  const nativeRequest = new Request(url, { method, headers, body: body as BodyInit | undefined, duplex: 'half' } as RequestInit);
  const request = new options.lib.HttpRequest({ nativeRequest, params: call.match.params } as unknown as AzureFunctions.HttpRequestInit);
  Object.defineProperty(request, 'signal', { value: watchCaller(call.res, options.inFlight), enumerable: true });
  return request;
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

/** The handler between the pre- and post-invocation hooks, which may replace its inputs, callback and result. */
export async function callWithHooks(
  registry: FunctionsCoreRegistry,
  handler: CoreFunctionCallback,
  trigger: unknown,
  invocationContext: AzureFunctions.InvocationContext,
): Promise<Outcome> {
  const { preInvocation, postInvocation } = registry.hooks;
  const hookData: Record<string, unknown> = {};
  const shared = { hookData, appHookData: registry.appHookData, invocationContext };
  let callback = handler;
  let inputs: unknown[] = [trigger];
  if (preInvocation.length > 0) {
    const preContext: CorePreInvocationContext = { ...shared, inputs, functionCallback: callback };
    await runHooks(preInvocation, preContext);
    ({ inputs, functionCallback: callback } = preContext);
  }
  const outcome: Outcome = { result: null, error: null };
  try {
    outcome.result = await callback(...inputs, invocationContext);
  } catch (thrown) {
    outcome.error = thrown ?? new Error('The function threw a nullish value.');
  }
  if (postInvocation.length === 0) return outcome;
  const postContext: CorePostInvocationContext = { ...shared, inputs, ...outcome };
  await runHooks(postInvocation, postContext);
  return { result: postContext.result, error: postContext.error };
}

/** Runs hooks in order; over a copy, so a hook that disposes itself does not skip its neighbour. */
export async function runHooks<TContext>(hooks: readonly ((context: TContext) => unknown)[], context: TContext): Promise<void> {
  for (const hook of [...hooks]) await hook(context);
}
