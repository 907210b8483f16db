import type { ReadableStream as WebReadableStream } from 'node:stream/web';

/** The request shape the gateway reads; @azure/functions' HttpRequest satisfies it. */
export interface GatewayRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: Headers;
  readonly body: RequestBody | null;
  readonly params: Record<string, string>;
  readonly query: URLSearchParams;
  /** Fires when the caller disconnects. Set by the local host; the Azure Functions library does not surface caller disconnects. */
  readonly signal?: AbortSignal;
}

/** A request body stream; chunks are bytes. */
export type RequestBody = WebReadableStream<Uint8Array>;

/** The response shape the gateway returns; it is an @azure/functions HttpResponseInit. */
export interface GatewayResponse {
  status: number;
  headers: Record<string, string>;
  body?: string | Uint8Array | ReadableStream<Uint8Array>;
  jsonBody?: unknown;
}
