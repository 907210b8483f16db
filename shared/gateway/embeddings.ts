import { errors, type GatewayError } from '../errors.js';
import { errorResponse } from '../http/error-response.js';
import type { GatewayRequest, GatewayResponse } from '../http/types.js';
import { buildEmbeddingsRequest, type EmbeddingsBody } from '../upstreams/protocols.js';
import { countTextTokens } from '../usage/count-tokens.js';
import { usageFrom, type TokenUsage } from '../usage/extract-usage.js';
import { authenticateTeam } from './authenticate.js';
import { callFirstAvailable, readText } from './call-upstream.js';
import type { GatewayDeps } from './gateway-deps.js';
import { embeddingsRequestSchema, decideTargets, parseBody, resolveAlias, type EmbeddingsRequest } from './inference-request.js';
import { recordUsage, type UsageFacts } from './record-usage.js';

const MAX_ANSWER_BYTES = 64 * 1024 * 1024;

/** POST /v1/embeddings (and the Azure OpenAI path). */
export async function embeddings(request: GatewayRequest, deps: GatewayDeps, options: { requestId: string; aliasFromPath?: string }): Promise<GatewayResponse> {
  const team = authenticateTeam(request.headers, deps);
  const body = await parseBody(request, embeddingsRequestSchema, deps);
  const route = resolveAlias(options.aliasFromPath ?? body.model, team, deps);
  const decision = decideTargets(route, team, 'embeddings', body.user, deps);
  const facts: UsageFacts = { requestId: options.requestId, team: team.id, alias: route.alias, operation: 'embeddings', stream: false, startedAtMs: deps.now() };

  let attempted;
  try {
    attempted = await callFirstAvailable(
      decision.candidates,
      async (deployment) => buildEmbeddingsRequest(deployment, body as EmbeddingsBody, await deps.credentialFor(deployment)),
      async (answer) => {
        try {
          const text = await readText(answer.response, MAX_ANSWER_BYTES);
          const parsed: unknown = JSON.parse(text);
          const reported = usageFrom(parsed);
          return { text, usage: reported ?? { inputTokens: inputTokens(body), outputTokens: 0 }, estimated: reported === undefined };
        } finally {
          answer.release();
        }
      },
      deps,
    );
  } catch (error) {
    recordUsage(deps, facts, { status: 'upstream_error', httpStatus: (error as GatewayError).status ?? 502, inputTokens: 0, outputTokens: 0, estimated: false, ttfbMs: 0, attempts: decision.candidates.length });
    throw error;
  }
  const headers = { 'x-switchyard-deployment': attempted.deployment.id };
  if (!attempted.ok) {
    recordUsage(deps, facts, { deployment: attempted.deployment, status: 'client_error', httpStatus: attempted.clientError.status, inputTokens: 0, outputTokens: 0, estimated: false, ttfbMs: 0, attempts: attempted.attempts });
    return errorResponse(attempted.clientError, headers);
  }
  const { text, usage, estimated } = attempted.result as { text: string; usage: TokenUsage; estimated: boolean };
  recordUsage(deps, facts, { deployment: attempted.deployment, status: 'ok', httpStatus: 200, inputTokens: usage.inputTokens, outputTokens: 0, estimated, ttfbMs: deps.now() - facts.startedAtMs, attempts: attempted.attempts });
  return { status: 200, headers: { ...headers, 'content-type': 'application/json' }, body: text };
}

function inputTokens(body: EmbeddingsRequest): number {
  const input = body.input;
  if (typeof input === 'string') return countTextTokens(input);
  let total = 0;
  for (const item of input) total += typeof item === 'string' ? countTextTokens(item) : typeof item === 'number' ? 1 : item.length;
  return total;
}
