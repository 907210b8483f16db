import type { ServerResponse } from 'node:http';
import type * as AzureFunctions from '@azure/functions';

// A handler's answer → node:http, as @azure/functions' stream mode (sendProxyResponse) and the Functions host
// present it: complete bodies in one write with their length, streams chunk by chunk with backpressure.

type HttpResponseClass = typeof AzureFunctions.HttpResponse;

export const CLIENT_DISCONNECTED = 'The client disconnected.';

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
const NULL_BODY_STATUSES = new Set([204, 205, 304]);

/** A plain-text answer from the host itself (404, 413, 500…), as the Functions host gives them. */
export function sendPlain(res: ServerResponse, status: number, text: string): void {
  res.statusCode = status;
  res.setHeader('content-type', 'text/plain; charset=utf-8');
  res.setHeader('content-length', Buffer.byteLength(text));
  res.end(text);
}

/** Writes what a handler returned: an HttpResponse, an HttpResponseInit, or nothing (204). */
export async function writeResult(res: ServerResponse, method: string, result: unknown, HttpResponse: HttpResponseClass): Promise<void> {
  if (result === undefined || result === null) {
    res.statusCode = 204;
    res.end();
    return;
  }
  if (result instanceof HttpResponse) return writeHttpResponse(res, method, result, false);
  if (typeof result !== 'object') {
    throw new TypeError('The HTTP response must be an object with optional properties "body", "status", "headers", and "cookies".');
  }
  const init = result as AzureFunctions.HttpResponseInit;
  const complete = hasCompleteBody(init);
  if (complete && writeCompleteInit(res, method, init)) return;
  return writeHttpResponse(res, method, new HttpResponse(init), complete);
}

/** Whether a handler's plain return value has a body that is already complete (so it can go out in one write). */
function hasCompleteBody(init: AzureFunctions.HttpResponseInit): boolean {
  if (init.jsonBody !== undefined && init.jsonBody !== null) return true;
  const body = init.body as unknown;
  return body === undefined || body === null || typeof body === 'string' || body instanceof ArrayBuffer || ArrayBuffer.isView(body);
}

function hasPlainHeaders(init: AzureFunctions.HttpResponseInit): boolean {
  const headers = init.headers as unknown;
  return (
    headers === undefined || (headers !== null && typeof headers === 'object' && !Array.isArray(headers) && !(headers instanceof Headers))
  );
}

/** The body and default content type `new HttpResponse(init)` would give a complete init. */
function completePayload(init: AzureFunctions.HttpResponseInit, status: number): { payload?: Uint8Array; defaultType?: string } {
  if (NULL_BODY_STATUSES.has(status)) return {};
  if (init.jsonBody !== undefined && init.jsonBody !== null) {
    return { payload: Buffer.from(JSON.stringify(init.jsonBody), 'utf8'), defaultType: 'application/json' };
  }
  const body = init.body as unknown;
  if (typeof body === 'string') return { payload: Buffer.from(body, 'utf8'), defaultType: 'text/plain;charset=UTF-8' };
  if (body instanceof ArrayBuffer) return { payload: new Uint8Array(body) };
  if (ArrayBuffer.isView(body)) return { payload: new Uint8Array(body.buffer, body.byteOffset, body.byteLength) };
  return {};
}

/**
 * The common case without the web-stream round trip: a complete body, plain-object headers and no cookies,
 * written as `new HttpResponse(init)` would present it. Returns false when the init is not that case.
 */
function writeCompleteInit(res: ServerResponse, method: string, init: AzureFunctions.HttpResponseInit): boolean {
  if (init.cookies?.length || !hasPlainHeaders(init)) return false;
  const status = init.status ?? 200;
  const { payload, defaultType } = completePayload(init, status);
  const plain = (init.headers ?? {}) as Record<string, string>;
  const blocked = typeof plain.connection === 'string' ? connectionNamed(plain.connection) : undefined;
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
  res.setHeader('content-length', payload.byteLength);
  res.end(method === 'HEAD' ? undefined : payload);
  return true;
}

function connectionNamed(value: string): string[] {
  return value.split(',').map((name) => name.trim().toLowerCase());
}

function setHeaders(res: ServerResponse, response: AzureFunctions.HttpResponse): void {
  const headers = response.headers;
  const connection = headers.get('connection');
  const alsoBlocked = connection ? connectionNamed(connection) : undefined;
  let setCookie: string[] | undefined;
  for (const [name, value] of headers) {
    if (name === 'set-cookie') setCookie = [...(setCookie ?? []), value];
    else if (!BLOCKED_RESPONSE_HEADERS.has(name) && !alsoBlocked?.includes(name)) res.setHeader(name, value);
  }
  // As sendProxyResponse does: `cookies` replace any Set-Cookie header.
  if (response.cookies.length > 0) setCookie = response.cookies.map(serializeCookie);
  if (setCookie) res.setHeader('set-cookie', setCookie);
  res.statusCode = response.status;
}

async function writeHttpResponse(
  res: ServerResponse,
  method: string,
  response: AzureFunctions.HttpResponse,
  complete: boolean,
): Promise<void> {
  setHeaders(res, response);
  const body = response.body as ReadableStream<Uint8Array> | null;
  if (body === null) {
    res.end();
  } else if (method === 'HEAD') {
    body.cancel().catch(() => undefined);
    res.end();
  } else if (complete) {
    await writeWhole(res, body);
  } else if (res.closed) {
    // The client left while the handler ran: nobody will read, so stop the producer now.
    body.cancel(CLIENT_DISCONNECTED).catch(() => undefined);
  } else {
    res.flushHeaders();
    await pipeBody(res, body);
  }
}

/** A body already in memory: read straight off the reader (cheaper than arrayBuffer()) and sent in one write. */
async function writeWhole(res: ServerResponse, body: ReadableStream<Uint8Array>): Promise<void> {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let length = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    length += value.byteLength;
  }
  res.setHeader('content-length', length);
  res.end(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, length));
}

/** Web-stream body → response, chunk by chunk, honouring backpressure; a client disconnect cancels the source. */
async function pipeBody(res: ServerResponse, body: ReadableStream<Uint8Array>): Promise<void> {
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
      if (!res.write(value)) {
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

function serializeCookie(cookie: AzureFunctions.Cookie): string {
  // The cookie@0.7 rules sendProxyResponse applies: RFC 6265 token names, URI-encoded values.
  if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(cookie.name)) throw new TypeError(`Invalid cookie name "${cookie.name}".`);
  let text = `${cookie.name}=${encodeURIComponent(cookie.value)}`;
  if (cookie.maxAge !== undefined && cookie.maxAge !== null) text += `; Max-Age=${Math.floor(cookie.maxAge)}`;
  if (cookie.domain) text += `; Domain=${cookie.domain}`;
  if (cookie.path) text += `; Path=${cookie.path}`;
  if (cookie.expires !== undefined && cookie.expires !== null) text += `; Expires=${new Date(cookie.expires).toUTCString()}`;
  if (cookie.httpOnly) text += '; HttpOnly';
  if (cookie.secure) text += '; Secure';
  if (cookie.sameSite) text += `; SameSite=${cookie.sameSite}`;
  return text;
}
