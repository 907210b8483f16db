import type { GatewayRequest, GatewayResponse } from '../http/types.js';
import { buildEmbeddingsRequest, type EmbeddingsBody } from '../upstreams/protocols.js';
import { countTextTokens } from '../usage/count-tokens.js';
import { usageFrom } from '../usage/extract-usage.js';
import { authenticateTeam } from './authenticate.js';
import { readText } from './call-upstream.js';
import { CallScope } from './call-scope.js';
import type { GatewayDeps } from './gateway-deps.js';
import { embeddingsRequestSchema, decideTargets, parseBody, resolveAlias, type EmbeddingsRequest } from './inference-request.js';
import { deploymentHeader, meteredCall } from './metered-call.js';
import { recordUsage, type UsageFacts } from './record-usage.js';

const MAX_ANSWER_BYTES = 64 * 1024 * 1024;

/** POST /v1/embeddings (and the Azure OpenAI path). */
export async function embeddings(request: GatewayRequest, deps: GatewayDeps, options: { requestId: string; aliasFromPath?: string }): Promise<GatewayResponse> {
  const team = authenticateTeam(request.headers, deps);
  const body = await parseBody(request, embeddingsRequestSchema, deps);
  const route = resolveAlias(options.aliasFromPath ?? body.model, team, deps);
  const decision = decideTargets(route, team, 'embeddings', body.user, deps);
  const facts: UsageFacts = { requestId: options.requestId, team: team.id, alias: route.alias, operation: 'embeddings', stream: false, startedAtMs: deps.now() };

  const scope = new CallScope({ deadlineMs: deps.limits.upstreamTimeoutMs, callerSignal: request.signal, buffers: deps.bufferedAnswers, now: deps.now });
  try {
    const attempted = await meteredCall(
      decision.candidates,
      async (deployment) => buildEmbeddingsRequest(deployment, body as EmbeddingsBody, await deps.credentialFor(deployment)),
      async (answer) => {
        try {
          const text = await readText(answer.response, MAX_ANSWER_BYTES, (bytes) => scope.reserve(bytes));
          const reported = usageFrom(JSON.parse(text));
          return { text, usage: reported ?? { inputTokens: inputTokens(body), outputTokens: 0 }, estimated: reported === undefined };
        } finally {
          answer.release();
        }
      },
      deps,
      facts,
      scope,
    );
    if (!attempted.ok) return attempted.response;
    const headers = deploymentHeader(attempted.deployment);
    const { text, usage, estimated } = attempted.result;
    recordUsage(deps, facts, { deployment: attempted.deployment, status: 'ok', httpStatus: 200, inputTokens: usage.inputTokens, outputTokens: 0, estimated, ttfbMs: deps.now() - facts.startedAtMs, attempts: attempted.attempts });
    return { status: 200, headers: { ...headers, 'content-type': 'application/json' }, body: text };
  } finally {
    scope.dispose();
  }
}

function inputTokens(body: EmbeddingsRequest): number {
  const input = body.input;
  if (typeof input === 'string') return countTextTokens(input);
  let total = 0;
  for (const item of input) total += typeof item === 'string' ? countTextTokens(item) : typeof item === 'number' ? 1 : item.length;
  return total;
}
