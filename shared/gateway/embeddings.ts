import type { GatewayRequest, GatewayResponse } from '../http/types.js';
import { embeddingsProtocol, embeddingsRequest } from '../upstreams/protocols/index.js';
import { admitRequest } from './admission.js';
import { authenticateTeam } from './authenticate.js';
import { readWhole } from './call-upstream.js';
import { requestScope } from './call-scope.js';
import type { GatewayDeps } from './gateway-deps.js';
import { countEmbeddingInputTokens } from '../usage/count-tokens.js';
import { decideTargets, embeddingsRequestSchema, parseBody, resolveAlias } from './inference-request.js';
import { deploymentHeader, meteredCall } from './metered-call.js';
import { recordUsage, type UsageFacts } from './record-usage.js';
import { embeddingsShadow, shadowCopy } from './shadow.js';

const MAX_ANSWER_BYTES = 64 * 1024 * 1024;

/** POST /v1/embeddings (and the Azure OpenAI path). */
export async function embeddings(
  request: GatewayRequest,
  deps: GatewayDeps,
  options: { requestId: string; aliasFromPath?: string; apiVersion?: string },
): Promise<GatewayResponse> {
  const team = authenticateTeam(request.headers, deps);
  const body = await parseBody(request, embeddingsRequestSchema, deps);
  const route = resolveAlias(options.aliasFromPath ?? body.model, team, deps);
  const decision = decideTargets(route, team, 'embeddings', deps, {
    user: body.user,
    estimate: () => ({ promptTokens: countEmbeddingInputTokens(body.input) }),
  });
  const facts: UsageFacts = {
    requestId: options.requestId,
    team: team.id,
    alias: route.alias,
    operation: 'embeddings',
    stream: false,
    startedAtMs: deps.now(),
    onMetered: shadowCopy(deps, route, embeddingsShadow(body, options.apiVersion)),
  };
  // An embedding has no output tokens to reserve.
  const admission = await admitRequest(
    team,
    decision.candidates,
    () => ({ promptTokens: countEmbeddingInputTokens(body.input), maxOutputTokens: 0 }),
    deps,
  );
  facts.admission = admission;

  const scope = requestScope(request, deps, false);
  try {
    const attempted = await meteredCall(
      decision.candidates,
      async (deployment) =>
        embeddingsRequest({ ...deployment, callerApiVersion: options.apiVersion }, body, await deps.credentialFor(deployment)),
      async (answer) => {
        try {
          return embeddingsProtocol(answer.deployment.protocol).readAnswer(await readWhole(answer, MAX_ANSWER_BYTES, scope), body);
        } finally {
          answer.release();
        }
      },
      deps,
      facts,
      scope,
    );
    if (!attempted.ok) return attempted.response;
    const { json, usage } = attempted.result;
    await recordUsage(deps, facts, {
      deployment: attempted.deployment,
      status: 'ok',
      httpStatus: 200,
      ...usage,
      ttfbMs: deps.now() - facts.startedAtMs,
      attempts: attempted.attempts,
    });
    return {
      status: 200,
      headers: { ...deploymentHeader(attempted.deployment), ...admission.headers, 'content-type': 'application/json' },
      body: json,
    };
  } finally {
    scope.dispose();
  }
}
