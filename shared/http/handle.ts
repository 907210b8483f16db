import type { Logger } from '../log.js';
import { errorResponse, toGatewayError } from './error-response.js';
import { requestIdFrom } from './request-id.js';
import type { GatewayRequest, GatewayResponse } from './types.js';

export type UseCase = (request: GatewayRequest, context: { requestId: string }) => Promise<GatewayResponse> | GatewayResponse;

export interface HandleOptions {
  log: Logger;
  /** A fresh request id, for a caller that sent none (or a hostile one). */
  newRequestId: () => string;
}

/** Runs a use case with a request id on every response and every failure mapped to the OpenAI error shape. */
export async function handle(request: GatewayRequest, useCase: UseCase, options: HandleOptions): Promise<GatewayResponse> {
  const requestId = requestIdFrom(request.headers.get('x-request-id'), options.newRequestId);
  let response: GatewayResponse;
  try {
    response = await useCase(request, { requestId });
  } catch (thrown) {
    const error = toGatewayError(thrown);
    if (error.status >= 500) {
      const cause = error.cause ?? (error.code === 'internal_error' ? thrown : undefined);
      options.log.log('error', error.message, { requestId, code: error.code, cause: describeCause(cause) });
    }
    response = errorResponse(error);
  }
  response.headers['x-request-id'] = requestId;
  return response;
}

// Name and message only: a cause's other fields (request options, headers) may hold secrets.
function describeCause(cause: unknown): string | undefined {
  if (cause instanceof Error) return `${cause.name}: ${cause.message}`;
  return cause === undefined ? undefined : String(cause);
}
