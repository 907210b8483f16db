/**
 * The HTTP machinery shared by the Azure endpoint simulators: server lifecycle, per-request
 * cancellation, pacing, auth, stats, bounds, and the transport-level ways of failing. What each
 * endpoint says on the wire lives in its own simulator, which names the AZURE.md section it follows.
 *
 * Bounds: in local mode the simulators share the gateway's process and event loop, so one request
 * must not be able to take either. A request generates at most MAX_GENERATED_TOKENS completion
 * tokens across all its choices (smaller limits are honoured exactly; a larger one is cut there
 * with finish_reason "length") and at most MAX_EMBEDDING_VALUES embedding values (more is a 400).
 * Replies are generated and written SLICE_SIZE tokens or events at a time, with a turn of the event
 * loop between slices, and every streamed event waits for the one before it to be flushed.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setImmediate as nextTurn } from 'node:timers/promises';

/** Most completion tokens one request generates, across all of its choices. */
export const MAX_GENERATED_TOKENS = 16_384;
/** Most embedding values (inputs × dimensions) one request generates. */
export const MAX_EMBEDDING_VALUES = 262_144;
/** Most `n` (choices) a chat request may ask for, as OpenAI allows. */
export const MAX_CHOICES = 128;
/** Tokens generated, embeddings computed or events written between two turns of the event loop. */
export const SLICE_SIZE = 512;

/** Lets the event loop turn once every SLICE_SIZE units of work, so long work never holds it. */
export class SliceYielder {
  #done = 0;

  async step(units = 1): Promise<void> {
    this.#done += units;
    if (this.#done < SLICE_SIZE) return;
    this.#done = 0;
    await nextTurn();
  }
}

export interface SimTimingOptions {
  /** Delay before the response headers (for non-streams, added to the generation time). */
  latencyMs?: number;
  /** Delay between the headers and the first token. */
  timeToFirstTokenMs?: number;
  /** Generation speed; 0 or undefined generates as fast as possible. */
  tokensPerSecond?: number;
}

/** Milliseconds after generation starts at which token `index` (0-based) is ready. */
export function tokenReadyMs(timing: SimTimingOptions, index: number): number {
  const perToken = timing.tokensPerSecond && timing.tokensPerSecond > 0 ? 1000 / timing.tokensPerSecond : 0;
  return (timing.timeToFirstTokenMs ?? 0) + index * perToken;
}

/** Milliseconds to generate a whole reply: it is ready when its last token would have streamed. */
export function generationMs(timing: SimTimingOptions, tokenCount: number): number {
  return tokenReadyMs(timing, Math.max(0, tokenCount - 1));
}

export interface SimAuthOptions {
  /** When set, requests must present this key. */
  apiKey?: string;
  /** Bearer tokens accepted besides the key, standing in for Entra tokens. */
  acceptBearerTokens?: string[];
}

/** Whether the request carries an accepted credential; open when no credential is configured. */
export function isAuthorized(headers: IncomingHttpHeaders, auth: SimAuthOptions, acceptApiKeyHeader: boolean): boolean {
  const tokens = auth.acceptBearerTokens ?? [];
  if (auth.apiKey === undefined && tokens.length === 0) return true;
  const authorization = headers.authorization;
  const bearer = typeof authorization === 'string' && /^bearer /i.test(authorization) ? authorization.slice(7).trim() : undefined;
  if (bearer !== undefined && (bearer === auth.apiKey || tokens.includes(bearer))) return true;
  return acceptApiKeyHeader && auth.apiKey !== undefined && headers['api-key'] === auth.apiKey;
}

export interface SimRequestRecord {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: IncomingHttpHeaders;
  /** The parsed JSON body, or the raw text when it is not JSON. */
  body: unknown;
}

export interface SimStats {
  requests: number;
  succeeded: number;
  promptTokens: number;
  completionTokens: number;
  embeddingTokens: number;
  /** Requests the client abandoned before the simulator finished answering. */
  cancelled: number;
  /** Requests being handled right now. */
  inFlight: number;
  lastRequest?: SimRequestRecord;
}

/** Counters of what a simulator answered; tokens count only on requests that succeeded. */
export class SimStatsRecorder {
  #stats: SimStats = SimStatsRecorder.#zero(0);

  static #zero(inFlight: number): SimStats {
    return { requests: 0, succeeded: 0, promptTokens: 0, completionTokens: 0, embeddingTokens: 0, cancelled: 0, inFlight };
  }

  started(): void {
    this.#stats.requests += 1;
    this.#stats.inFlight += 1;
  }

  ended(cancelled: boolean): void {
    this.#stats.inFlight -= 1;
    if (cancelled) this.#stats.cancelled += 1;
  }

  received(record: SimRequestRecord): void {
    this.#stats.lastRequest = record;
  }

  succeeded(tokens: { prompt?: number; completion?: number; embedding?: number }): void {
    this.#stats.succeeded += 1;
    this.#stats.promptTokens += tokens.prompt ?? 0;
    this.#stats.completionTokens += tokens.completion ?? 0;
    this.#stats.embeddingTokens += tokens.embedding ?? 0;
  }

  snapshot(): SimStats {
    return { ...this.#stats };
  }

  /** Zeroes the counters; requests still in flight stay counted as such. */
  reset(): void {
    this.#stats = SimStatsRecorder.#zero(this.#stats.inFlight);
  }
}

/** One request and its response, with a signal that fires when the client goes away. */
export class SimExchange {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly url: URL;
  readonly signal: AbortSignal;
  #destroyedBySim = false;

  constructor(req: IncomingMessage, res: ServerResponse, signal: AbortSignal) {
    this.req = req;
    this.res = res;
    this.url = new URL(req.url ?? '/', 'http://sim.invalid');
    this.signal = signal;
  }

  get destroyedBySim(): boolean {
    return this.#destroyedBySim;
  }

  /** Reads the whole body; `json` is undefined when it is empty or not JSON. */
  async readBody(): Promise<{ raw: string; json: unknown }> {
    const chunks: Buffer[] = [];
    for await (const chunk of this.req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    try {
      return { raw, json: raw.length === 0 ? undefined : (JSON.parse(raw) as unknown) };
    } catch {
      return { raw, json: undefined };
    }
  }

  /** Waits, resolving false instead if the client leaves first; the timer never outlives it. */
  wait(ms: number): Promise<boolean> {
    if (this.signal.aborted) return Promise.resolve(false);
    if (ms <= 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const onAbort = () => {
        clearTimeout(timer);
        resolve(false);
      };
      const timer = setTimeout(() => {
        this.signal.removeEventListener('abort', onAbort);
        resolve(true);
      }, ms);
      this.signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Holds the request open until the client goes away. */
  async hang(): Promise<void> {
    if (this.signal.aborted) return;
    await new Promise<void>((resolve) => this.signal.addEventListener('abort', () => resolve(), { once: true }));
  }

  sendJson(status: number, body: unknown, headers: Record<string, string> = {}): void {
    const payload = Buffer.from(JSON.stringify(body), 'utf8');
    this.res.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': payload.length });
    this.res.end(payload);
  }

  /** Promises a whole JSON body, sends half of it, then cuts the connection. */
  sendHalfJson(status: number, body: unknown, headers: Record<string, string> = {}): void {
    const payload = Buffer.from(JSON.stringify(body), 'utf8');
    this.res.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': payload.length });
    this.res.write(payload.subarray(0, Math.floor(payload.length / 2)), () => this.destroy());
  }

  /** A 200 that says it is JSON and is not, like an HTML page from a misbehaving proxy. */
  sendMalformedJson(): void {
    const payload = '<html><body><h1>Service Temporarily Unavailable</h1></body></html>';
    this.res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
    this.res.end(payload);
  }

  /** Cuts the connection with a TCP reset, so the client sees neither a response nor a clean close. */
  reset(): void {
    this.#destroyedBySim = true;
    const socket = this.req.socket;
    if (typeof socket.resetAndDestroy === 'function') socket.resetAndDestroy();
    else socket.destroy();
  }

  /** Closes the connection mid-response, after what was written so far has been flushed. */
  destroy(): void {
    this.#destroyedBySim = true;
    this.req.socket.destroy();
  }

  startEventStream(headers: Record<string, string> = {}): void {
    this.res.writeHead(200, { ...headers, 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  }

  /**
   * Writes one data-only SSE event and resolves once it is flushed, so a cut after it really
   * delivers it and a slow client applies backpressure. Resolves false if the client has left.
   */
  writeEvent(data: unknown): Promise<boolean> {
    if (this.signal.aborted || this.res.destroyed) return Promise.resolve(false);
    const text = typeof data === 'string' ? data : JSON.stringify(data);
    return new Promise((resolve) => {
      this.res.write(`data: ${text}\n\n`, (error) => resolve(!error && !this.signal.aborted));
    });
  }
}

export interface SimServerOptions {
  host?: string;
  port?: number;
}

export interface SimServer {
  url: string;
  port: number;
  /** Stops listening and destroys every open connection, ending any generation in progress. */
  close(): Promise<void>;
}

/**
 * Starts a loopback HTTP server that hands each request to `handle` as a SimExchange, keeps the
 * request counters of `stats`, and counts a request as cancelled when its client leaves early.
 */
export async function startSimServer(
  options: SimServerOptions,
  stats: SimStatsRecorder,
  handle: (exchange: SimExchange) => Promise<void>,
): Promise<SimServer> {
  let closing = false;
  const server = createServer((req, res) => {
    const controller = new AbortController();
    const exchange = new SimExchange(req, res, controller.signal);
    stats.started();
    res.setHeader('x-request-id', randomUUID());
    res.on('close', () => {
      const leftEarly = !res.writableEnded;
      stats.ended(leftEarly && !exchange.destroyedBySim && !closing);
      if (leftEarly) controller.abort();
    });
    handle(exchange).catch((error: unknown) => {
      if (res.headersSent) {
        exchange.destroy();
        return;
      }
      // A client that leaves mid-body surfaces here too; there is nobody left to answer.
      if (controller.signal.aborted) return;
      const message = error instanceof Error ? error.message : String(error);
      exchange.sendJson(500, { error: { code: 'InternalServerError', message: `Simulator failure: ${message}` } });
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  return {
    url: `http://${host}:${address.port}`,
    port: address.port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        closing = true;
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

/** The query string as a plain record (last value wins), for request records. */
export function queryRecord(url: URL): Record<string, string> {
  return Object.fromEntries(url.searchParams.entries());
}

/** Whether a request field is a positive integer, as token limits and dimensions must be. */
export function isPositiveInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value > 0;
}
