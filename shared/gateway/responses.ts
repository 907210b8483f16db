import type { Deployment } from '../catalog/schemas.js';
import { errors, isGatewayError, type GatewayError } from '../errors.js';
import type { ServerTiming } from '../http/server-timing.js';
import type { GatewayRequest, GatewayResponse } from '../http/types.js';
import { chatRequestFeatures, type RequestFeature } from '../routing/request-features.js';
import { featuresOf, type RoutingDecision } from '../routing/select-targets.js';
import {
  carriesResponses,
  chatProtocol,
  chatRequest,
  responsesRequest,
  type Answered,
  type ChatContext,
  type ChatStreamReader,
  type MeteredUsage,
  type ResponsesBody,
} from '../upstreams/protocols/index.js';
import type { UpstreamRequest } from '../upstreams/upstream-port.js';
import { chatPromptTokensAtMost, countChatPromptTokens, countTextTokens, textTokensAtMost } from '../usage/count-tokens.js';
import { countedUsage } from '../usage/extract-usage.js';
import { responsesPromptTexts } from '../safety/prompt-texts.js';
import { admitRequest } from './admission.js';
import { ContentScreening } from './content-screening.js';
import { authenticateTeam } from './authenticate.js';
import { describe, readWhole, type Answer } from './call-upstream.js';
import { type CallScope, requestScope } from './call-scope.js';
import type { GatewayDeps } from './gateway-deps.js';
import { chatRequestSchema, decideTargets, parseBody, resolveAlias, type ChatRequest } from './inference-request.js';
import { deploymentHeader, meteredCall } from './metered-call.js';
import { recordUsage, type UsageFacts } from './record-usage.js';
import { chatShadow, shadowCopy } from './shadow.js';
import { relayStream, type StreamGuard } from './relay-stream.js';
import { inputItems, responsesRequestSchema, toChatBody, type ResponseItem, type ResponsesRequest } from './responses-request.js';
import { nativeStreamReader, readNativeResponse } from './responses-native.js';
import {
  ChatAsResponseEvents,
  completionAsResponseEvents,
  eventStream,
  responsesFailureEvents,
  responsesStreamReader,
  screenedResponseEvents,
} from './responses-stream.js';
import { completionAsChunk, ResponseTranslator, type ResponseObject } from './responses-translation.js';

const MAX_ANSWER_BYTES = 32 * 1024 * 1024;
const SSE_HEADERS = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' };

export interface ResponsesOptions {
  requestId: string;
  /** Where the answer's Server-Timing is measured (set by `handle`). */
  timing?: ServerTiming;
}

type Completed =
  | { kind: 'whole'; answered: Answered }
  | { kind: 'native'; json: string; response: ResponseObject; usage: MeteredUsage }
  | {
      kind: 'stream';
      answer: Answer;
      reader: ChatStreamReader;
      failureEvents: (error: GatewayError) => Uint8Array[];
      guard?: StreamGuard;
    };

/** What answering one Responses request needs besides the upstream's answer. */
interface ResponseCall {
  body: ResponsesRequest;
  /** The request as a chat completion, for deployments that do not speak the Responses API, or why it has none. */
  translation: { chat: ChatRequest } | { refusal: GatewayError };
  /** The request for deployments that do: the stored conversation spelled out, storage left to Switchyard. */
  native: ResponsesBody;
  translator: ResponseTranslator;
  keeper: Keeper;
  deps: GatewayDeps;
  facts: UsageFacts;
  scope: CallScope;
  /** The team's content screening; absent when its team has no safety profile. */
  screening?: ContentScreening;
}

/**
 * POST /v1/responses: passed through to deployments that speak the Responses API (feature `responses`), and
 * translated to a chat completion for every other, its answer told as a Response; stored unless `store: false`.
 */
export async function createResponse(request: GatewayRequest, deps: GatewayDeps, options: ResponsesOptions): Promise<GatewayResponse> {
  const team = authenticateTeam(request.headers, deps);
  const parsed = await parseBody(request, responsesRequestSchema, deps);
  const route = resolveAlias(parsed.model, team, deps);
  const history = parsed.previous_response_id ? await conversationBefore(parsed.previous_response_id, team.id, deps) : [];
  const wantsStream = parsed.stream === true;
  const facts: UsageFacts = {
    requestId: options.requestId,
    team: team.id,
    alias: route.alias,
    operation: 'chat',
    stream: wantsStream,
    startedAtMs: deps.now(),
  };
  // The new input is screened (what a previous response continues was screened when it came); what goes on,
  // and is stored, is masked where the team masks.
  const screening = ContentScreening.for(team, deps, facts, request.signal);
  const body = screening ? await screening.screenPrompt(parsed, responsesPromptTexts(parsed), deps) : parsed;
  const translation = translatedChat(body, history);
  const cap = body.max_output_tokens != null ? { maxOutputTokens: body.max_output_tokens } : {};
  const estimate = () => ({
    promptTokens: 'chat' in translation ? countChatPromptTokens(translation.chat.messages) : countTextTokens(JSON.stringify(body.input)),
    ...cap,
  });
  const demand = {
    atMost: () => ({
      promptTokens:
        'chat' in translation ? chatPromptTokensAtMost(translation.chat.messages) : textTokensAtMost(JSON.stringify(body.input)),
      ...cap,
    }),
    counted: estimate,
  };
  facts.promptTokens = () => estimate().promptTokens;
  const decision = planned(translation, () =>
    decideTargets(route, team, 'chat', deps, {
      user: body.safety_identifier ?? body.user,
      features: featuresUsed(translation),
      estimate,
      stream: body.stream === true,
    }),
  );
  // A translated request is copied as its chat request; one only a Responses deployment can take is not copied.
  const copy = 'chat' in translation ? shadowCopy(deps, route, chatShadow(translation.chat, deps)) : undefined;
  facts.onMetered = screening ? screening.unlessBlocked(copy) : copy;
  const scope = requestScope(request, deps, wantsStream);
  const call: ResponseCall = {
    body,
    translation,
    native: nativeBody(body, history),
    translator: new ResponseTranslator({
      id: `resp_${deps.newId().replaceAll('-', '')}`,
      createdAtS: seconds(facts.startedAtMs),
      model: route.alias,
      request: body,
      newId: deps.newId,
    }),
    keeper: responseKeeper(body, team.id, history, deps),
    deps,
    facts,
    scope,
    screening,
  };
  screening?.watchPrompt(scope);
  // A relayed stream outlives this function and ends the scope itself; every other exit ends it here.
  let relaying = false;
  try {
    // Admitted last, just before the call whose every end settles it.
    facts.admission = await admitRequest(team, decision.candidates, demand, deps);
    options.timing?.track(scope, screening);
    const attempted = await meteredCall<Completed>(
      decision.candidates,
      (d) => buildCall(d, call),
      (a) => accept(a, call),
      deps,
      facts,
      scope,
    ).catch(async (error: unknown) => {
      // Stopped by a blocked prompt (parallel screening): the caller learns why.
      await screening?.promptCleared();
      throw error;
    });
    if (!attempted.ok) return attempted.response;
    relaying = attempted.result.kind === 'stream';
    return await answer(attempted.result, attempted.deployment, attempted.attempts, call);
  } finally {
    if (!relaying) scope.dispose();
  }
}

// A deployment speaks the Responses API when it says so and its protocol can carry it; every other is translated to.
function speaksResponses(deployment: Deployment): boolean {
  return featuresOf(deployment).includes('responses') && carriesResponses(deployment.protocol);
}

async function buildCall(deployment: Deployment, call: ResponseCall): Promise<UpstreamRequest> {
  const credential = await call.deps.credentialFor(deployment);
  return speaksResponses(deployment)
    ? responsesRequest(deployment, call.native, credential)
    : chatRequest(deployment, chatOf(call), credential);
}

/** The caller's answer: a relayed stream, or a whole answer as a Response or as its events. */
async function answer(result: Completed, deployment: Deployment, attempts: number, call: ResponseCall): Promise<GatewayResponse> {
  const { deps, facts, scope, keeper, screening } = call;
  const headers = { ...deploymentHeader(deployment), ...facts.admission?.headers };
  const ttfbMs = deps.now() - facts.startedAtMs;
  if (result.kind === 'stream') {
    const { failureEvents, guard } = result;
    const relayed = relayStream(result.answer, result.reader, { deps, facts, scope, attempts, headersMs: ttfbMs, failureEvents, guard });
    // No byte reaches the caller before the prompt's verdict; a blocked one ends the relay (metered as cancelled).
    await screening?.promptCleared().catch(async (error: unknown) => {
      await relayed.cancel();
      throw error;
    });
    return {
      status: 200,
      headers: { ...headers, ...SSE_HEADERS },
      body: closedAfter(relayed, () => keeper.settled()),
    };
  }
  const usage = result.kind === 'native' ? result.usage : result.answered.usage;
  await screening?.promptCleared().catch(async (error: unknown) => {
    // The answer came before the verdict: it is billed, and never shown.
    await recordUsage(deps, facts, { deployment, status: 'client_error', httpStatus: 400, ...usage, ttfbMs, attempts });
    throw error;
  });
  // The answer is screened before it is metered, so its record carries the verdicts.
  const native = result.kind === 'native' && screening ? await screening.response(result.response) : undefined;
  const json = result.kind === 'whole' && screening ? await screening.chatAnswer(result.answered.json) : undefined;
  await recordUsage(deps, facts, { deployment, status: 'ok', httpStatus: 200, ...usage, ttfbMs, attempts });
  if (result.kind === 'native') {
    await keeper.keep(native ?? result.response);
    const body = native ? JSON.stringify(native) : result.json;
    return { status: 200, headers: { ...headers, 'content-type': 'application/json' }, body };
  }
  return translatedAnswer(json ?? result.answered.json, usage, headers, call);
}

/** A whole chat answer told as a Response, or as its events when the caller asked for a stream. */
async function translatedAnswer(
  json: string,
  usage: MeteredUsage,
  headers: Record<string, string>,
  call: ResponseCall,
): Promise<GatewayResponse> {
  const { deps, translator, keeper } = call;
  if (call.body.stream === true) {
    const events = completionAsResponseEvents(json, usage, translator, seconds(deps.now()));
    await keeper.keep(translator.response!);
    return { status: 200, headers: { ...headers, ...SSE_HEADERS }, body: eventStream(events) };
  }
  translator.push(completionAsChunk(JSON.parse(json)));
  translator.finish(usage, seconds(deps.now()));
  await keeper.keep(translator.response!);
  return { status: 200, headers: { ...headers, 'content-type': 'application/json' }, jsonBody: translator.response as ResponseObject };
}

/** The chat request a Responses request stands for, checked as a chat request from a caller would be; or why there is none. */
function translatedChat(body: ResponsesRequest, history: readonly ResponseItem[]): ResponseCall['translation'] {
  try {
    const chat = toChatBody(body, history);
    if (chat.stream) chat.stream_options = { include_usage: true };
    const parsed = chatRequestSchema.safeParse(chat);
    if (parsed.success) return { chat: parsed.data };
    const issue = parsed.error.issues[0]!;
    const path = issue.path.map(String).join('.');
    return { refusal: errors.invalidRequest(`The request does not translate to a valid chat request: ${path}: ${issue.message}`) };
  } catch (error) {
    if (isGatewayError(error)) return { refusal: error };
    throw error;
  }
}

// Tools and structured output are planned only onto deployments that honour them, as for a chat request; a request
// with no chat translation only onto deployments that speak the Responses API.
function featuresUsed(translation: ResponseCall['translation']): RequestFeature[] {
  if ('chat' in translation) return chatRequestFeatures(translation.chat);
  return [{ feature: 'responses', param: translation.refusal.param ?? 'input' }];
}

// When no deployment could take an untranslatable request, the caller learns what does not translate.
function planned(translation: ResponseCall['translation'], decide: () => RoutingDecision): RoutingDecision {
  try {
    return decide();
  } catch (error) {
    if ('refusal' in translation && isGatewayError(error) && error.code === 'unsupported_feature') throw translation.refusal;
    throw error;
  }
}

function chatOf(call: ResponseCall): ChatRequest {
  if ('refusal' in call.translation) throw call.translation.refusal;
  return call.translation.chat;
}

// The upstream keeps nothing (Switchyard stores, per team) and so cannot resolve previous_response_id: the stored
// conversation goes in `input` instead.
function nativeBody(body: ResponsesRequest, history: readonly ResponseItem[]): ResponsesBody {
  const { previous_response_id: _previous, model: _model, ...rest } = body;
  return { ...rest, input: [...history, ...inputItems(body.input)], store: false };
}

/** Takes a 2xx answer: a stream to relay (as it came, or translated), or a whole answer read against the cap. */
async function accept(answer: Answer, call: ResponseCall): Promise<Completed> {
  const { deps, scope, translator, keeper } = call;
  const translation = call.translation;
  const estimate = (outputText: string): MeteredUsage => ({
    ...countedUsage(
      'chat' in translation ? countChatPromptTokens(translation.chat.messages) : countTextTokens(JSON.stringify(call.native.input)),
      countTextTokens(outputText),
    ),
    estimated: true,
  });
  const keep = (response: ResponseObject) => void keeper.keep(response);
  const native = speaksResponses(answer.deployment);
  const screening = call.screening;
  if (answer.streams && native) {
    // Screened, the Response kept is the one the caller got (its text as released), not the upstream's.
    const reader = nativeStreamReader(estimate, screening ? () => undefined : keep);
    const guard = screening?.responsesStream((response) => keep(response as ResponseObject));
    return { kind: 'stream', answer, reader, failureEvents: (error) => reader.failureEvents(error), guard };
  }
  const chat = chatProtocol(answer.deployment.protocol);
  const context = (): ChatContext => ({ target: answer.deployment, request: chatOf(call), now: deps.now, newId: deps.newId });
  if (answer.streams && chat.streaming) {
    const failureEvents = (error: GatewayError) => responsesFailureEvents(translator, error);
    const nowS = () => seconds(deps.now());
    if (screening) {
      const reader = chat.streaming.reader(context());
      const told = new ChatAsResponseEvents(translator, nowS, keep);
      const guard = screenedResponseEvents(screening.chatStream(), told, () => reader.usage());
      return { kind: 'stream', answer, reader, failureEvents, guard };
    }
    const reader = responsesStreamReader(chat.streaming.reader(context()), translator, nowS, keep);
    return { kind: 'stream', answer, reader, failureEvents };
  }
  try {
    const text = await readWhole(answer, MAX_ANSWER_BYTES, scope);
    if (native) return { kind: 'native', ...readNativeResponse(text, estimate) };
    return { kind: 'whole', answered: chat.readAnswer(text, context()) };
  } finally {
    answer.release();
  }
}

function seconds(ms: number): number {
  return Math.floor(ms / 1000);
}

interface Keeper {
  keep(response: ResponseObject): Promise<void>;
  /** Settles once the last Response handed to `keep` is stored (or its storing failed and was logged). */
  settled(): Promise<void>;
}

// With `store` (the default), the finished Response is kept with the conversation that led to it. A store that
// fails is logged, not the caller's failure: the answer is whole, only a later `previous_response_id` misses it.
function responseKeeper(body: ResponsesRequest, team: string, history: readonly ResponseItem[], deps: GatewayDeps): Keeper {
  let last: Promise<void> = Promise.resolve();
  if (body.store === false) return { keep: async () => undefined, settled: () => last };
  const input = [...history, ...inputItems(body.input)];
  return {
    keep(response) {
      last = deps.responses.put({ id: response.id, team, input, response }).catch((error: unknown) => {
        deps.log.log('warn', 'a Response could not be stored', { id: response.id, team, error: describe(error) });
      });
      return last;
    },
    settled: () => last,
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
