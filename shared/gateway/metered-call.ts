import type { Deployment } from '../catalog/schemas.js';
import { isGatewayError } from '../errors.js';
import { errorResponse } from '../http/error-response.js';
import type { GatewayResponse } from '../http/types.js';
import type { UpstreamRequest } from '../upstreams/upstream-port.js';
import { callFirstAvailable, type Answer } from './call-upstream.js';
import type { CallScope } from './call-scope.js';
import type { GatewayDeps } from './gateway-deps.js';
import { recordUsage, type UsageFacts, type UsageOutcome } from './record-usage.js';

export type Metered<T> = { ok: true; result: T; deployment: Deployment; attempts: number } | { ok: false; response: GatewayResponse };

/** The header naming the deployment that answered. */
export function deploymentHeader(deployment: Deployment): Record<string, string> {
  return { 'x-switchyard-deployment': deployment.id };
}

/**
 * Calls the candidates in order and meters what cannot be metered later: a request no deployment answered,
 * and one the upstream refused as the caller's fault. A success is metered by the caller, who has its tokens.
 */
export async function meteredCall<T>(
  candidates: Deployment[],
  build: (deployment: Deployment) => Promise<UpstreamRequest>,
  accept: (answer: Answer) => Promise<T>,
  deps: GatewayDeps,
  facts: UsageFacts,
  scope: CallScope,
): Promise<Metered<T>> {
  const failed = { inputTokens: 0, outputTokens: 0, cachedInputTokens: 0, reasoningTokens: 0, estimated: false, ttfbMs: 0 };
  try {
    // The request id travels upstream too, so one request can be followed through Azure's logs.
    const traced = async (deployment: Deployment) => {
      const upstream = await build(deployment);
      return { ...upstream, headers: { ...upstream.headers, 'x-ms-client-request-id': facts.requestId } };
    };
    const attempted = await callFirstAvailable(candidates, traced, accept, deps, scope);
    if (attempted.ok) return attempted;
    await recordUsage(deps, facts, {
      ...failed,
      deployment: attempted.deployment,
      status: 'client_error',
      httpStatus: attempted.clientError.status,
      attempts: attempted.attempts,
    });
    const headers = { ...deploymentHeader(attempted.deployment), ...facts.admission?.headers };
    return { ok: false, response: errorResponse(attempted.clientError, headers) };
  } catch (error) {
    const status = isGatewayError(error) ? error.status : 502;
    await recordUsage(deps, facts, {
      ...failed,
      ...stoppedForBlockedPrompt(facts, scope),
      status: scope.stopped === 'caller' ? 'cancelled' : 'upstream_error',
      httpStatus: status,
      attempts: candidates.length,
    });
    throw error;
  }
}

/**
 * A call that parallel screening stopped before its answer came: the deployment had the prompt, so the record names
 * it with the prompt as counted (estimated), billed or not as the team's billAborted says.
 */
function stoppedForBlockedPrompt(facts: UsageFacts, scope: CallScope): Partial<UsageOutcome> {
  if (scope.stopped !== 'caller' || facts.safety?.prompt?.action !== 'block' || !scope.attempting || !facts.promptTokens) return {};
  return { deployment: scope.attempting, inputTokens: facts.promptTokens(), estimated: true };
}
