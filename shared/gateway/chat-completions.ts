import type { ServerTiming } from '../http/server-timing.js';
import type { GatewayRequest, GatewayResponse } from '../http/types.js';
import { chatRequestFeatures } from '../routing/request-features.js';
import { chatPromptTexts } from '../safety/prompt-texts.js';
import { chatProtocol, chatRequest, type Answered, type ChatContext, type ChatStreamReader } from '../upstreams/protocols/index.js';
import { admitRequest } from './admission.js';
import { authenticateTeam } from './authenticate.js';
import { readWhole, type Answer } from './call-upstream.js';
import { type CallScope, requestScope } from './call-scope.js';
import { completionAsStream } from './completion-as-stream.js';
import { ContentScreening } from './content-screening.js';
import type { GatewayDeps } from './gateway-deps.js';
import {
  chatDemand,
  chatEstimate,
  chatRequestSchema,
  decideTargets,
  parseBody,
  resolveAlias,
  type ChatRequest,
} from './inference-request.js';
import { deploymentHeader, meteredCall } from './metered-call.js';
import { recordUsage, type UsageFacts } from './record-usage.js';
import { relayStream } from './relay-stream.js';
import { chatShadow, shadowCopy } from './shadow.js';

const MAX_ANSWER_BYTES = 32 * 1024 * 1024;
const SSE_HEADERS = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' };

export interface ChatOptions {
  requestId: string;
  /** The alias from an Azure OpenAI-style path (`/openai/deployments/{alias}/…`), which overrides `model`. */
  aliasFromPath?: string;
  /** The dated api-version the caller named on that path, for upstreams whose protocol takes one. */
  apiVersion?: string;
  /** Where the answer's Server-Timing is measured (set by `handle`). */
  timing?: ServerTiming;
}

type Completed = { kind: 'whole'; answered: Answered } | { kind: 'stream'; answer: Answer; reader: ChatStreamReader };

/** POST /v1/chat/completions (and the Azure OpenAI path): route, call, meter, answer. */
export async function chatCompletions(request: GatewayRequest, deps: GatewayDeps, options: ChatOptions): Promise<GatewayResponse> {
  const team = authenticateTeam(request.headers, deps);
  const body = await parseBody(request, chatRequestSchema, deps);
  const route = resolveAlias(options.aliasFromPath ?? body.model, team, deps);
  const estimate = chatEstimate(body);
  const decision = decideTargets(route, team, 'chat', deps, {
    user: body.user,
    features: chatRequestFeatures(body),
    estimate,
    stream: body.stream === true,
  });

  const wantsStream = body.stream === true;
  const facts: UsageFacts = {
    requestId: options.requestId,
    team: team.id,
    alias: route.alias,
    operation: 'chat',
    stream: wantsStream,
    startedAtMs: deps.now(),
    promptTokens: () => estimate().promptTokens,
  };
  // A blocked prompt is refused here, before anything is reserved or sent; what goes on is masked where the team masks.
  const screening = ContentScreening.for(team, deps, facts, request.signal);
  const sent = screening ? await screening.screenPrompt(body, chatPromptTexts(body), deps) : body;
  const copy = shadowCopy(deps, route, chatShadow(sent, deps, options.apiVersion));
  facts.onMetered = screening ? screening.unlessBlocked(copy) : copy;
  const admission = await admitRequest(team, decision.candidates, chatDemand(body), deps);
  facts.admission = admission;
  const scope = requestScope(request, deps, wantsStream);
  options.timing?.track(scope, screening);
  // A relayed stream outlives this function and ends the scope itself; every other exit ends it here.
  let relaying = false;
  // Parallel screening: a prompt Content Safety blocks stops the upstream call wherever it is.
  screening?.watchPrompt(scope);
  try {
    const attempted = await meteredCall<Completed>(
      decision.candidates,
      async (deployment) =>
        chatRequest({ ...deployment, callerApiVersion: options.apiVersion }, sent, await deps.credentialFor(deployment)),
      (answer) => acceptChat(answer, sent, deps, scope),
      deps,
      facts,
      scope,
    ).catch(async (error: unknown) => {
      // Stopped by a blocked prompt: the caller learns why (the usage was recorded as cancelled).
      await screening?.promptCleared();
      throw error;
    });
    if (!attempted.ok) return attempted.response;
    const headers = { ...deploymentHeader(attempted.deployment), ...admission.headers };
    const result = attempted.result;
    const ttfbMs = deps.now() - facts.startedAtMs;
    if (result.kind === 'stream') {
      relaying = true;
      const relayed = relayStream(result.answer, result.reader, {
        deps,
        facts,
        scope,
        attempts: attempted.attempts,
        headersMs: ttfbMs,
        guard: screening?.chatStream(),
      });
      // No byte reaches the caller before the prompt's verdict; a blocked one ends the relay (metered as cancelled).
      await screening?.promptCleared().catch(async (error: unknown) => {
        await relayed.cancel();
        throw error;
      });
      return { status: 200, headers: { ...headers, ...SSE_HEADERS }, body: relayed };
    }
    const { usage } = result.answered;
    const whole = { deployment: attempted.deployment, ...usage, ttfbMs, attempts: attempted.attempts };
    await screening?.promptCleared().catch(async (error: unknown) => {
      // The answer came before the verdict: it is billed, and never shown.
      await recordUsage(deps, facts, { ...whole, status: 'client_error', httpStatus: 400 });
      throw error;
    });
    const json = screening ? await screening.chatAnswer(result.answered.json) : result.answered.json;
    await recordUsage(deps, facts, {
      deployment: attempted.deployment,
      status: 'ok',
      httpStatus: 200,
      ...usage,
      ttfbMs,
      attempts: attempted.attempts,
    });
    if (wantsStream) {
      return {
        status: 200,
        headers: { ...headers, ...SSE_HEADERS },
        body: completionAsStream(json, body.stream_options?.include_usage === true),
      };
    }
    return { status: 200, headers: { ...headers, 'content-type': 'application/json' }, body: json };
  } finally {
    // The answer's bytes count against the process-wide cap until they are handed to the host to send.
    if (!relaying) scope.dispose();
  }
}

/** Takes a 2xx answer: a stream to relay as it comes, or a whole answer read (against the cap) and parsed by its protocol. */
async function acceptChat(answer: Answer, body: ChatRequest, deps: GatewayDeps, scope: CallScope): Promise<Completed> {
  const chat = chatProtocol(answer.deployment.protocol);
  const context: ChatContext = { target: answer.deployment, request: body, now: deps.now, newId: deps.newId };
  if (answer.streams && chat.streaming) return { kind: 'stream', answer, reader: chat.streaming.reader(context) };
  try {
    return { kind: 'whole', answered: chat.readAnswer(await readWhole(answer, MAX_ANSWER_BYTES, scope), context) };
  } finally {
    answer.release();
  }
}
