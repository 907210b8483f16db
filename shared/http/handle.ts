import type { Logger } from '../log.js';
import { errorResponse, toGatewayError } from './error-response.js';
import { requestIdFrom } from './request-id.js';
import type { GatewayRequest, GatewayResponse } from './types.js';

export type UseCase = (request: GatewayRequest, context: { requestId: string }) => Promise<GatewayResponse> | GatewayResponse;

/** Runs a use case with a request id on every response and every failure mapped to the OpenAI error shape. */
export async function handle(request: GatewayRequest, useCase: UseCase, log: Logger): Promise<GatewayResponse> {
  const requestId = requestIdFrom(request.headers.get('x-request-id'));
  let response: GatewayResponse;
  try {
    response = await useCase(request, { requestId });
  } catch (thrown) {
    const error = toGatewayError(thrown);
    if (error.status >= 500) {
      const cause = error.cause ?? (error.code === 'internal_error' ? thrown : undefined);
      log.log('error', error.message, { requestId, code: error.code, cause: cause instanceof Error ? `${cause.name}: ${cause.message}` : undefined });
    }
    response = errorResponse(error);
  }
  response.headers['x-request-id'] = requestId;
  return response;
}
