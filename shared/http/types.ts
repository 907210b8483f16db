/** The request shape the gateway reads; @azure/functions' HttpRequest satisfies it. */
export interface GatewayRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: Headers;
  readonly body: ReadableStream<Uint8Array> | null;
  readonly params: Record<string, string>;
  readonly query: URLSearchParams;
}

/** The response shape the gateway returns; it is an @azure/functions HttpResponseInit. */
export interface GatewayResponse {
  status: number;
  headers: Record<string, string>;
  body?: string | Uint8Array | ReadableStream<Uint8Array>;
  jsonBody?: unknown;
}
