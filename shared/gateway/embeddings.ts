import type { ServerTiming } from '../http/server-timing.js';
import type { GatewayRequest, GatewayResponse } from '../http/types.js';
import { embeddingsProtocol, embeddingsRequest } from '../upstreams/protocols/index.js';
import { admitRequest } from './admission.js';
import { authenticateTeam } from './authenticate.js';
import { readWhole } from './call-upstream.js';
import { requestScope } from './call-scope.js';
import { ContentScreening } from './content-screening.js';
import type { GatewayDeps } from './gateway-deps.js';
import { embeddingsInputTexts } from '../safety/prompt-texts.js';
import { countEmbeddingInputTokens, embeddingInputTokensAtMost } from '../usage/count-tokens.js';
import { decideTargets, embeddingsRequestSchema, parseBody, resolveAlias } from './inference-request.js';
import { deploymentHeader, meteredCall } from './metered-call.js';
import { recordUsage, type UsageFacts } from './record-usage.js';
import { embeddingsShadow, shadowCopy } from './shadow.js';

const MAX_ANSWER_BYTES = 64 * 1024 * 1024;

/** POST /v1/embeddings (and the Azure OpenAI path). */
export async function embeddings(
  request: GatewayRequest,
  deps: GatewayDeps,
  options: { requestId: string; aliasFromPath?: string; apiVersion?: string; timing?: ServerTiming },
): Promise<GatewayResponse> {
  const team = authenticateTeam(request.headers, deps);
  const body = await parseBody(request, embeddingsRequestSchema, deps);
  const route = resolveAlias(options.aliasFromPath ?? body.model, team, deps);
  const promptTokens = () => countEmbeddingInputTokens(body.input);
  const decision = decideTargets(route, team, 'embeddings', deps, {
    user: body.user,
    estimate: () => ({ promptTokens: promptTokens() }),
  });
  const facts: UsageFacts = {
    requestId: options.requestId,
    team: team.id,
    alias: route.alias,
    operation: 'embeddings',
    stream: false,
    startedAtMs: deps.now(),
    promptTokens,
  };
  // Inputs are screened as a prompt: a blocked one never reaches a deployment, a masked one goes on masked.
  const screening = ContentScreening.for(team, deps, facts, request.signal);
  const sent = screening ? await screening.screenPrompt(body, embeddingsInputTexts(body), deps) : body;
  const copy = shadowCopy(deps, route, embeddingsShadow(sent, options.apiVersion));
  facts.onMetered = screening ? screening.unlessBlocked(copy) : copy;
  // An embedding has no output tokens to reserve.
  const admission = await admitRequest(
    team,
    decision.candidates,
    {
      atMost: () => ({ promptTokens: embeddingInputTokensAtMost(body.input), maxOutputTokens: 0 }),
      counted: () => ({ promptTokens: promptTokens(), maxOutputTokens: 0 }),
    },
    deps,
  );
  facts.admission = admission;

  const scope = requestScope(request, deps, false);
  options.timing?.track(scope, screening);
  screening?.watchPrompt(scope);
  try {
    const attempted = await meteredCall(
      decision.candidates,
      async (deployment) =>
        embeddingsRequest({ ...deployment, callerApiVersion: options.apiVersion }, sent, await deps.credentialFor(deployment)),
      async (answer) => {
        try {
          return embeddingsProtocol(answer.deployment.protocol).readAnswer(await readWhole(answer, MAX_ANSWER_BYTES, scope), sent);
        } finally {
          answer.release();
        }
      },
      deps,
      facts,
      scope,
    ).catch(async (error: unknown) => {
      // Stopped by a blocked prompt (parallel screening): the caller learns why.
      await screening?.promptCleared();
      throw error;
    });
    if (!attempted.ok) return attempted.response;
    const { json, usage } = attempted.result;
    const answered = { deployment: attempted.deployment, ...usage, ttfbMs: deps.now() - facts.startedAtMs, attempts: attempted.attempts };
    await screening?.promptCleared().catch(async (error: unknown) => {
      // The vectors came before the verdict: billed, never shown.
      await recordUsage(deps, facts, { ...answered, status: 'client_error', httpStatus: 400 });
      throw error;
    });
    await recordUsage(deps, facts, { ...answered, status: 'ok', httpStatus: 200 });
    return {
      status: 200,
      headers: {
        ...deploymentHeader(attempted.deployment),
        ...admission.headers,
        'content-type': 'application/json',
      },
      body: json,
    };
  } finally {
    scope.dispose();
  }
}
