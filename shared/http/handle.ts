import type { Logger } from '../log.js';
import { errorResponse, toGatewayError } from './error-response.js';
import { requestIdFrom } from './request-id.js';
import { ServerTiming } from './server-timing.js';
import type { GatewayRequest, GatewayResponse } from './types.js';

/** What `handle` gives each use case: the request's id, and the timing its answer's Server-Timing is read from. */
export interface RequestContext {
  requestId: string;
  timing: ServerTiming;
}

export type UseCase = (request: GatewayRequest, context: RequestContext) => Promise<GatewayResponse> | GatewayResponse;

export interface HandleOptions {
  log: Logger;
  /** A fresh request id, for a caller that sent none (or a hostile one). */
  newRequestId: () => string;
  /** The clock Server-Timing is measured with. */
  now: () => number;
}

/**
 * Runs a use case with a request id on every response, Server-Timing on every answer to a routed request
 * (errors too), and every failure mapped to the OpenAI error shape.
 */
export async function handle(request: GatewayRequest, useCase: UseCase, options: HandleOptions): Promise<GatewayResponse> {
  const timing = new ServerTiming(options.now);
  const requestId = requestIdFrom(request.headers.get('x-request-id'), options.newRequestId);
  let response: GatewayResponse;
  try {
    response = await useCase(request, { requestId, timing });
  } catch (thrown) {
    const error = toGatewayError(thrown);
    if (error.status >= 500) {
      const cause = error.cause ?? (error.code === 'internal_error' ? thrown : undefined);
      options.log.log('error', error.message, { requestId, code: error.code, cause: describeCause(cause) });
    }
    response = errorResponse(error);
  }
  response.headers['x-request-id'] = requestId;
  Object.assign(response.headers, timing.header());
  return response;
}

// Name and message only: a cause's other fields (request options, headers) may hold secrets.
function describeCause(cause: unknown): string | undefined {
  if (cause instanceof Error) return `${cause.name}: ${cause.message}`;
  return cause === undefined ? undefined : String(cause);
}
