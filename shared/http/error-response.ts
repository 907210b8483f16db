import { errors, isGatewayError, type GatewayError } from '../errors.js';
import { sseData } from './sse.js';
import type { GatewayResponse } from './types.js';

// The OpenAI error envelope; the one place a GatewayError takes the shape callers parse.
function errorBody(error: GatewayError): { error: Record<string, unknown> } {
  return {
    error: { message: error.message, type: error.type, param: error.param, code: error.code, ...error.extra },
  };
}

/** Any thrown value as the GatewayError a caller may see; everything unexpected becomes a 500. */
export function toGatewayError(thrown: unknown): GatewayError {
  return isGatewayError(thrown) ? thrown : errors.internal(thrown);
}

/** The headers a failure carries: its own, and `Retry-After` (whole seconds, at least 1) when a retry can help. */
export function errorHeaders(error: GatewayError): Record<string, string> {
  const headers: Record<string, string> = { ...error.headers };
  if (error.retryAfterSeconds !== undefined) headers['retry-after'] = String(Math.max(1, Math.ceil(error.retryAfterSeconds)));
  return headers;
}

/** The single place where an error becomes a JSON HTTP response. */
export function errorResponse(error: GatewayError, headers: Record<string, string> = {}): GatewayResponse {
  return {
    status: error.status,
    headers: { ...headers, ...errorHeaders(error), 'content-type': 'application/json' },
    jsonBody: errorBody(error),
  };
}

/** The single place where an error becomes the SSE event that ends a stream already begun (its status is long sent). */
export function errorEvent(error: GatewayError): Uint8Array {
  return sseData(errorBody(error));
}
