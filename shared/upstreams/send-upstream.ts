import { Agent, request, type Dispatcher } from 'undici';
import { guardedLookup } from './guarded-lookup.js';
import { readBody } from './read-body.js';
import { UpstreamFailure, type SendUpstream, type UpstreamFailureKind } from './upstream-port.js';

const MAX_ERROR_BODY_BYTES = 64 * 1024;
// undici's timers are coarse (they may fire up to ~0.5 s early or late): when the deadline comes first, the
// caller's signal ends the call, and undici's timer is set past it, only as a backstop.
const COARSE_TIMER_SLACK_MS = 1_000;

type BodyReadable = Dispatcher.ResponseData['body'];

/** A pooled keep-alive HTTP client for upstream calls, connecting only to addresses the policy allows. */
export function createUpstreamDispatcher(options: { allowLoopback: boolean; connections?: number }): Agent {
  return new Agent({
    keepAliveTimeout: 30_000,
    keepAliveMaxTimeout: 120_000,
    connections: options.connections ?? 256,
    pipelining: 1,
    connect: { lookup: guardedLookup({ allowLoopback: options.allowLoopback }) },
  });
}

/** The upstream port over undici: no redirect followed, undici's errors turned into UpstreamFailure here. */
export function createSender(dispatcher: Dispatcher): SendUpstream {
  return async (upstream, options) => {
    let response: Dispatcher.ResponseData;
    try {
      response = await request(upstream.url, {
        method: upstream.method ?? 'POST',
        dispatcher,
        headers: upstream.headers,
        body: upstream.method === 'GET' || upstream.method === 'DELETE' ? undefined : upstream.body,
        signal: options.signal,
        headersTimeout:
          options.headersTimeoutMs < options.deadlineMs ? options.headersTimeoutMs : Math.ceil(options.deadlineMs) + COARSE_TIMER_SLACK_MS,
        bodyTimeout: options.idleTimeoutMs,
      });
    } catch (error) {
      throw failureOf(error, 'connect', options.signal);
    }
    const status = response.statusCode;
    const body = webBody(response.body, options.signal);
    if (status >= 200 && status < 300) return { status, headers: response.headers, body };
    // Read (boundedly) so the connection is reusable and the refusal can be explained; it is never followed.
    const errorBody = await readBody(body, { maxBytes: MAX_ERROR_BODY_BYTES, headers: response.headers }).catch(() => '');
    const kind = status >= 300 && status < 400 ? 'redirect' : 'status';
    throw new UpstreamFailure(kind, `upstream answered ${status}`, { status, headers: response.headers, errorBody });
  };
}

/**
 * undici's Node stream as a web stream, pulled a chunk at a time so the reader's pace reaches the upstream.
 * Cancelling it destroys the Node stream, which frees (or closes) its connection.
 */
function webBody(body: BodyReadable, signal: AbortSignal): ReadableStream<Uint8Array> {
  const chunks = body[Symbol.asyncIterator]() as AsyncIterator<Uint8Array>;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const { done, value } = await chunks.next();
          if (done) controller.close();
          else controller.enqueue(value);
        } catch (error) {
          // A no-op when the stream was cancelled meanwhile.
          controller.error(failureOf(error, 'body', signal));
        }
      },
      cancel() {
        body.destroy();
      },
    },
    { highWaterMark: 0 },
  );
}

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);
const RESET_CODES = new Set(['UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'ECONNRESET', 'EPIPE', 'ECONNABORTED']);

/** What an undici error means, phrased for the port; `phase` names the failure when nothing more specific fits. */
function failureOf(error: unknown, phase: 'connect' | 'body', signal: AbortSignal): UpstreamFailure {
  if (error instanceof UpstreamFailure) return error;
  const code = (error as { code?: unknown } | null)?.code;
  let kind: UpstreamFailureKind = phase;
  if (signal.aborted) kind = 'aborted';
  else if (typeof code === 'string' && TIMEOUT_CODES.has(code)) kind = 'timeout';
  else if (typeof code === 'string' && RESET_CODES.has(code)) kind = 'reset';
  const message = [code, (error as { message?: unknown } | null)?.message].filter((part) => typeof part === 'string').join(': ');
  return new UpstreamFailure(kind, message || `upstream ${kind} failure`, { cause: error });
}
