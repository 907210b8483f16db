/** The port through which the use cases call an upstream: web-standard bytes in and out, typed failures. */

/** A request ready for the wire, built by a protocol room. */
export interface UpstreamRequest {
  /** POST unless said otherwise (model calls always are; Content Safety's blocklists also read, patch and delete). */
  method?: 'POST' | 'GET' | 'PATCH' | 'DELETE';
  url: string;
  headers: Record<string, string>;
  body: string;
  /** Whether the upstream will answer with an SSE stream. */
  streams: boolean;
}

export type UpstreamHeaders = Readonly<Record<string, string | string[] | undefined>>;

/** A 2xx answer. Whoever takes it reads `body` to its end or cancels it (through its reader, if it took one). */
export interface UpstreamAnswer {
  status: number;
  headers: UpstreamHeaders;
  body: ReadableStream<Uint8Array>;
}

export interface SendOptions {
  /** Ends the call, and the answer's body once it has begun: fires at the request's deadline or when the caller leaves. */
  signal: AbortSignal;
  /** What is left of the request's deadline; `signal` enforces it, the sender's own timers never end the call sooner. */
  deadlineMs: number;
  /** Longest wait for the upstream's response headers. */
  headersTimeoutMs: number;
  /** Longest silence between two body chunks. */
  idleTimeoutMs: number;
}

/** The one way Switchyard calls an upstream: a 2xx answer, or a rejection with an UpstreamFailure. */
export type SendUpstream = (upstream: UpstreamRequest, options: SendOptions) => Promise<UpstreamAnswer>;

export type UpstreamFailureKind =
  /** No connection: refused, unresolvable, a refused address, TLS. */
  | 'connect'
  /** A timer of the sender's ran out: connecting, waiting for headers, or silence mid-body. */
  | 'timeout'
  /** The connection closed under the call. */
  | 'reset'
  /** The upstream answered a status outside 2xx and 3xx. */
  | 'status'
  /** The upstream answered 3xx: never followed, since the address policy vetted the endpoint, not where it points. */
  | 'redirect'
  /** The answer's body broke off or was malformed on the wire. */
  | 'body'
  /** The call's signal fired. */
  | 'aborted';

export interface UpstreamFailureOptions {
  cause?: unknown;
  /** For `status` and `redirect`: what the upstream answered. */
  status?: number;
  headers?: UpstreamHeaders;
  /** For `status`: the start of the error body (at most 64 KiB; empty when it could not be read). */
  errorBody?: string;
}

/** Why an upstream call failed, whatever HTTP client made it. */
export class UpstreamFailure extends Error {
  override readonly name = 'UpstreamFailure';
  readonly kind: UpstreamFailureKind;
  readonly status: number | undefined;
  readonly headers: UpstreamHeaders;
  readonly errorBody: string;

  constructor(kind: UpstreamFailureKind, message: string, options: UpstreamFailureOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.kind = kind;
    this.status = options.status;
    this.headers = options.headers ?? {};
    this.errorBody = options.errorBody ?? '';
  }
}

export function isUpstreamFailure(value: unknown): value is UpstreamFailure {
  return value instanceof Error && value.name === 'UpstreamFailure';
}

/** A credential ready for the wire: an API key or a bearer token (Entra). */
export type UpstreamCredential = { kind: 'key'; value: string } | { kind: 'bearer'; value: string };
