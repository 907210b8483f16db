import type { Deployment } from '../catalog/schemas.js';
import { errors } from '../errors.js';
import type { GatewayRequest, GatewayResponse } from '../http/types.js';
import { chatRequestFeatures } from '../routing/request-features.js';
import { chatProtocol, chatRequest, type Answered, type ChatContext, type ChatStreamReader } from '../upstreams/protocols/index.js';
import { authenticateTeam } from './authenticate.js';
import { describe, readWhole, type Answer } from './call-upstream.js';
import { CallScope } from './call-scope.js';
import type { GatewayDeps } from './gateway-deps.js';
import { chatRequestSchema, decideTargets, parseBody, resolveAlias, type ChatRequest } from './inference-request.js';
import { deploymentHeader, meteredCall } from './metered-call.js';
import { recordUsage, type UsageFacts } from './record-usage.js';
import { relayStream } from './relay-stream.js';
import { inputItems, responsesRequestSchema, toChatBody, type ResponseItem, type ResponsesRequest } from './responses-request.js';
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
  const history = body.previous_response_id ? await conversationBefore(body.previous_response_id, team.id, deps) : [];
  const chat = translatedChat(body, history);
  const keeper = responseKeeper(body, team.id, history, deps);
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
    return await answer({ ...attempted, translator, keeper, deps, facts, scope, wantsStream });
  } finally {
    if (!relaying) scope.dispose();
  }
}

interface Answering {
  result: Completed;
  deployment: Deployment;
  attempts: number;
  translator: ResponseTranslator;
  keeper: Keeper;
  deps: GatewayDeps;
  facts: UsageFacts;
  scope: CallScope;
  wantsStream: boolean;
}

/** The caller's answer: the chat stream translated as it relays, or the whole chat answer as a Response or its events. */
async function answer({
  result,
  deployment,
  attempts,
  translator,
  keeper,
  deps,
  facts,
  scope,
  wantsStream,
}: Answering): Promise<GatewayResponse> {
  const headers = deploymentHeader(deployment);
  const ttfbMs = deps.now() - facts.startedAtMs;
  if (result.kind === 'stream') {
    let kept: Promise<void> = Promise.resolve();
    const reader = responsesStreamReader(
      result.reader,
      translator,
      () => seconds(deps.now()),
      (response) => {
        kept = keeper.keep(response);
      },
    );
    const relayed = relayStream(result.answer, reader, {
      deps,
      facts,
      scope,
      attempts,
      headersMs: ttfbMs,
      failureEvents: (error) => responsesFailureEvents(translator, error),
    });
    return { status: 200, headers: { ...headers, ...SSE_HEADERS }, body: closedAfter(relayed, () => kept) };
  }
  const { json, usage } = result.answered;
  recordUsage(deps, facts, { deployment, status: 'ok', httpStatus: 200, ...usage, ttfbMs, attempts });
  if (wantsStream) {
    const events = completionAsResponseEvents(json, usage, translator, seconds(deps.now()));
    await keeper.keep(translator.response!);
    return { status: 200, headers: { ...headers, ...SSE_HEADERS }, body: eventStream(events) };
  }
  translator.push(completionAsChunk(JSON.parse(json)));
  translator.finish(usage, seconds(deps.now()));
  await keeper.keep(translator.response!);
  return { status: 200, headers: { ...headers, 'content-type': 'application/json' }, jsonBody: translator.response as ResponseObject };
}

/** The chat request a Responses request stands for, checked as a chat request from a caller would be. */
function translatedChat(body: ResponsesRequest, history: readonly ResponseItem[]): ChatRequest {
  const chat = toChatBody(body, history);
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

interface Keeper {
  keep(response: ResponseObject): Promise<void>;
}

// With `store` (the default), the finished Response is kept with the conversation that led to it. A store that
// fails is logged, not the caller's failure: the answer is whole, only a later `previous_response_id` misses it.
function responseKeeper(body: ResponsesRequest, team: string, history: readonly ResponseItem[], deps: GatewayDeps): Keeper {
  if (body.store === false) return { keep: async () => undefined };
  const input = [...history, ...inputItems(body.input)];
  return {
    keep: (response) =>
      deps.responses.put({ id: response.id, team, input, response }).catch((error: unknown) => {
        deps.log.log('warn', 'a Response could not be stored', { id: response.id, team, error: describe(error) });
      }),
  };
}

/** The conversation a `previous_response_id` continues: its input items, then its output. */
async function conversationBefore(id: string, team: string, deps: GatewayDeps): Promise<ResponseItem[]> {
  const stored = await deps.responses.get(team, id);
  if (!stored) throw errors.notFound(`The previous response '${id}'`);
  return [...stored.input, ...stored.response.output];
}

// The relayed stream, closed only once the finished Response is stored: a caller who has read the end of the
// stream can retrieve it or continue from it at once. Pull-based, so a caller who leaves still cancels the relay.
function closedAfter(stream: ReadableStream<Uint8Array>, kept: () => Promise<void>): ReadableStream<Uint8Array> {
  const reader = stream.getReader();
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const { done, value } = await reader.read();
        if (!done) return controller.enqueue(value);
        await kept();
        controller.close();
      },
      cancel: (reason) => reader.cancel(reason),
    },
    { highWaterMark: 0 },
  );
}

/** GET /v1/responses/{id}: a stored Response of the caller's team; any other id is not found. */
export async function retrieveResponse(request: GatewayRequest, deps: GatewayDeps): Promise<GatewayResponse> {
  const team = authenticateTeam(request.headers, deps);
  if (request.query.get('stream') === 'true') {
    throw errors.invalidRequest('Replaying a stored Response as a stream is not supported.', 'stream');
  }
  const id = request.params.id ?? '';
  const stored = await deps.responses.get(team.id, id);
  if (!stored) throw errors.notFound(`The response '${id}'`);
  return { status: 200, headers: { 'content-type': 'application/json' }, jsonBody: stored.response };
}

/** DELETE /v1/responses/{id}: forgets a stored Response of the caller's team. */
export async function deleteResponse(request: GatewayRequest, deps: GatewayDeps): Promise<GatewayResponse> {
  const team = authenticateTeam(request.headers, deps);
  const id = request.params.id ?? '';
  if (!(await deps.responses.delete(team.id, id))) throw errors.notFound(`The response '${id}'`);
  return { status: 200, headers: { 'content-type': 'application/json' }, jsonBody: { id, object: 'response.deleted', deleted: true } };
}
