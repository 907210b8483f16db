import type { GatewayResponse } from './types.js';
import { errors, isGatewayError, type GatewayError } from '../errors.js';

/** The OpenAI error envelope of a GatewayError, as a JSON-ready object. */
export function errorBody(error: GatewayError): { error: Record<string, unknown> } {
  return {
    error: { message: error.message, type: error.type, param: error.param, code: error.code, ...error.extra },
  };
}

/** Any thrown value as the GatewayError a caller may see; everything unexpected becomes a 500. */
export function toGatewayError(thrown: unknown): GatewayError {
  return isGatewayError(thrown) ? thrown : errors.internal(thrown);
}

/** The single place where an error becomes an HTTP response. */
export function errorResponse(error: GatewayError, headers: Record<string, string> = {}): GatewayResponse {
  const responseHeaders: Record<string, string> = { ...headers, 'content-type': 'application/json' };
  if (error.retryAfterSeconds !== undefined) responseHeaders['retry-after'] = String(Math.max(1, Math.ceil(error.retryAfterSeconds)));
  return { status: error.status, headers: responseHeaders, jsonBody: errorBody(error) };
}
