import type { Deployment } from '../catalog/schemas.js';
import { errors } from '../errors.js';
import type { GatewayRequest, GatewayResponse } from '../http/types.js';
import { chatRequestFeatures } from '../routing/request-features.js';
import { chatProtocol, chatRequest, type Answered, type ChatContext, type ChatStreamReader } from '../upstreams/protocols/index.js';
import { authenticateTeam } from './authenticate.js';
import { readWhole, type Answer } from './call-upstream.js';
import { CallScope } from './call-scope.js';
import type { GatewayDeps } from './gateway-deps.js';
import { chatRequestSchema, decideTargets, parseBody, resolveAlias, type ChatRequest } from './inference-request.js';
import { deploymentHeader, meteredCall } from './metered-call.js';
import { recordUsage, type UsageFacts } from './record-usage.js';
import { relayStream } from './relay-stream.js';
import { responsesRequestSchema, toChatBody, type ResponsesRequest } from './responses-request.js';
import { completionAsResponseEvents, eventStream, responsesFailureEvents, responsesStreamReader } from './responses-stream.js';
import { completionAsChunk, ResponseTranslator, type ResponseObject } from './responses-translation.js';

const MAX_ANSWER_BYTES = 32 * 1024 * 1024;
const SSE_HEADERS = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' };

export interface ResponsesOptions {
  requestId: string;
}

type Completed = { kind: 'whole'; answered: Answered } | { kind: 'stream'; answer: Answer; reader: ChatStreamReader };

/** POST /v1/responses on a chat upstream: the request translated to a chat completion, the answer told as a Response. */
export async function createResponse(request: GatewayRequest, deps: GatewayDeps, options: ResponsesOptions): Promise<GatewayResponse> {
  const team = authenticateTeam(request.headers, deps);
  const body = await parseBody(request, responsesRequestSchema, deps);
  const route = resolveAlias(body.model, team, deps);
  const chat = translatedChat(body);
  // Tools and structured output are planned only onto deployments that honour them, as for a chat request.
  const decision = decideTargets(route, team, 'chat', chat.user, deps, chatRequestFeatures(chat));
  const wantsStream = chat.stream === true;
  const facts: UsageFacts = {
    requestId: options.requestId,
    team: team.id,
    alias: route.alias,
    operation: 'chat',
    stream: wantsStream,
    startedAtMs: deps.now(),
  };
  const translator = new ResponseTranslator({
    id: `resp_${deps.newId().replaceAll('-', '')}`,
    createdAtS: seconds(facts.startedAtMs),
    model: route.alias,
    request: body,
    newId: deps.newId,
  });
  const scope = new CallScope({
    deadlineMs: wantsStream ? deps.limits.streamDeadlineMs : deps.limits.upstreamTimeoutMs,
    callerSignal: request.signal,
    buffers: deps.bufferedAnswers,
    now: deps.now,
  });
  // A relayed stream outlives this function and ends the scope itself; every other exit ends it here.
  let relaying = false;
  try {
    const attempted = await meteredCall<Completed>(
      decision.candidates,
      async (deployment) => chatRequest(deployment, chat, await deps.credentialFor(deployment)),
      (answer) => acceptChat(answer, chat, deps, scope),
      deps,
      facts,
      scope,
    );
    if (!attempted.ok) return attempted.response;
    relaying = attempted.result.kind === 'stream';
    return answer({ ...attempted, translator, deps, facts, scope, wantsStream });
  } finally {
    if (!relaying) scope.dispose();
  }
}

interface Answering {
  result: Completed;
  deployment: Deployment;
  attempts: number;
  translator: ResponseTranslator;
  deps: GatewayDeps;
  facts: UsageFacts;
  scope: CallScope;
  wantsStream: boolean;
}

/** The caller's answer: the chat stream translated as it relays, or the whole chat answer as a Response or its events. */
function answer({ result, deployment, attempts, translator, deps, facts, scope, wantsStream }: Answering): GatewayResponse {
  const headers = deploymentHeader(deployment);
  const ttfbMs = deps.now() - facts.startedAtMs;
  if (result.kind === 'stream') {
    const reader = responsesStreamReader(
      result.reader,
      translator,
      () => seconds(deps.now()),
      () => undefined,
    );
    const relayed = relayStream(result.answer, reader, {
      deps,
      facts,
      scope,
      attempts,
      headersMs: ttfbMs,
      failureEvents: (error) => responsesFailureEvents(translator, error),
    });
    return { status: 200, headers: { ...headers, ...SSE_HEADERS }, body: relayed };
  }
  const { json, usage } = result.answered;
  recordUsage(deps, facts, { deployment, status: 'ok', httpStatus: 200, ...usage, ttfbMs, attempts });
  if (wantsStream) {
    const events = completionAsResponseEvents(json, usage, translator, seconds(deps.now()));
    return { status: 200, headers: { ...headers, ...SSE_HEADERS }, body: eventStream(events) };
  }
  translator.push(completionAsChunk(JSON.parse(json)));
  translator.finish(usage, seconds(deps.now()));
  return { status: 200, headers: { ...headers, 'content-type': 'application/json' }, jsonBody: translator.response as ResponseObject };
}

/** The chat request a Responses request stands for, checked as a chat request from a caller would be. */
function translatedChat(body: ResponsesRequest): ChatRequest {
  const chat = toChatBody(body);
  if (chat.stream) chat.stream_options = { include_usage: true };
  const parsed = chatRequestSchema.safeParse(chat);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw errors.invalidRequest(
      `The request does not translate to a valid chat request: ${issue.path.map(String).join('.')}: ${issue.message}`,
    );
  }
  return parsed.data;
}

/** Takes a 2xx answer: a stream to translate as it comes, or a whole answer read (against the cap) and parsed by its protocol. */
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

function seconds(ms: number): number {
  return Math.floor(ms / 1000);
}
