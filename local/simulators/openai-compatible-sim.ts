/**
 * A loopback simulator of the OpenAI-compatible Azure endpoints Switchyard routes to, for local
 * mode, tests and the bench. It follows AZURE.md:
 * - §1 Foundry model inference / serverless: `/models/...` and the bare routes, usage required in
 *   responses (§1.6), usage on the finish chunk for models like Mistral (§1.7), the §1.8 error shape
 *   with `x-ms-error-code`;
 * - §2 Azure OpenAI: the dated `/openai/deployments/{deployment}/...?api-version=` form (§2.1) with
 *   its content-filter annotations (§2.4, §2.6), the v1 form `/openai/v1/...` (§2.2), the
 *   prompt-blocked 400 (§2.5) and 429s with `retry-after` / `retry-after-ms` (§2.7).
 * It also follows OpenAI's chat-completions contract (shared/contracts/openai-openapi.json), whose request
 * fields it honours (sim-chat-request.ts reads them, sim-chat-answer.ts answers them):
 * - `n` choices; `max_tokens` / `max_completion_tokens` (text is cut there with `length`);
 * - `tools` + `tool_choice` (`auto`/`required`: the first function, a named one, `none`): a call
 *   (`finish_reason: "tool_calls"`, content null) whose arguments validate against the function's
 *   `parameters` (sim-json-schema.ts); after a `tool` message the answer is text, so agent loops end;
 * - `response_format` `json_object` / `json_schema`: content that is JSON validating against the schema;
 * - `logprobs` + `top_logprobs`: a `ChatCompletionTokenLogprob` per generated token;
 * - `stop`: the content ends before the first stop sequence, `finish_reason: "stop"`;
 * - `seed`: answers are a function of the request (its last user message, choice index and `seed`),
 *   so the same request with the same seed gets the same choices; `system_fingerprint` is absent.
 * Streams chunk as OpenAI does: text one token per chunk, a tool call as a header
 * (`id`, `type`, `name`, empty `arguments`) then argument pieces, logprobs on each chunk.
 * Completion tokens are the o200k_base count of the content or arguments, so usage can be checked
 * to the token. What one request may generate is bounded (sim-server.ts, "Bounds").
 */
import { randomUUID } from 'node:crypto';
import { countChatPromptTokens, countTextTokens } from '../../shared/usage/count-tokens.js';
import { type ChoiceAnswer, planAnswer, type TokenLogprob, tokenLogprob } from './sim-chat-answer.js';
import { type ChatRequest, parseChatRequest } from './sim-chat-request.js';
import { embeddingToBase64, embeddingVector } from './sim-content.js';
import { serverlessCostExport } from './cost-export.js';
import { FaultPlan, retryAfterHeaders, type SimFault, type SimFaultRate } from './sim-faults.js';
import {
  generationMs,
  isAuthorized,
  isPositiveInteger,
  MAX_EMBEDDING_VALUES,
  queryRecord,
  SimStatsRecorder,
  SliceYielder,
  startSimServer,
  tokenReadyMs,
  type SimAuthOptions,
  type SimExchange,
  type SimServerOptions,
  type SimStats,
  type SimTimingOptions,
} from './sim-server.js';

export interface OpenAICompatibleSimBehaviour extends SimAuthOptions, SimTimingOptions {
  /** Model reported when neither the dated path's deployment nor the body's `model` names one. */
  modelName?: string;
  /** Completion tokens when the request sets no `max_tokens` / `max_completion_tokens` (default 16). */
  defaultCompletionTokens?: number;
  /** Embedding length when the request sets no `dimensions` (default 8). */
  defaultEmbeddingDimensions?: number;
  /**
   * Behave like the model-inference API (§1.7, e.g. Mistral), which has no `stream_options`: usage
   * rides on the finish chunk of every stream and no separate usage chunk is sent.
   */
  usageOnFinalChunkWithoutStreamOptions?: boolean;
  /** false: streams never carry usage, even when asked (models that report none). Default true. */
  streamUsage?: boolean;
  faultRate?: SimFaultRate;
}

export interface OpenAICompatibleSimOptions extends SimServerOptions, OpenAICompatibleSimBehaviour {}

export interface OpenAICompatibleSim {
  url: string;
  port: number;
  stats(): SimStats;
  resetStats(): void;
  /** Queues faults for the next requests that pass routing and auth, one per request in order. */
  injectFaults(faults: SimFault[]): void;
  /** Changes behaviour (timing, defaults, faults, auth) for requests that arrive from now on. */
  setOptions(options: Partial<OpenAICompatibleSimBehaviour>): void;
  close(): Promise<void>;
}

type Operation = 'chat' | 'embeddings';

interface Route {
  operation: Operation;
  /** Set on the dated Azure OpenAI form, which names the deployment in the path. */
  deployment?: string;
}

const OPERATION_PATHS: Record<string, Operation> = { 'chat/completions': 'chat', embeddings: 'embeddings' };
const PLAIN_PREFIXES = ['', '/v1', '/openai/v1', '/models'];
const DATED_PATH = /^\/openai\/deployments\/([^/]+)\/(chat\/completions|embeddings)$/;

function matchRoute(pathname: string): Route | undefined {
  const dated = DATED_PATH.exec(pathname);
  if (dated) return { operation: OPERATION_PATHS[dated[2]!]!, deployment: decodeURIComponent(dated[1]!) };
  for (const prefix of PLAIN_PREFIXES) {
    for (const [suffix, operation] of Object.entries(OPERATION_PATHS)) {
      if (pathname === `${prefix}/${suffix}`) return { operation };
    }
  }
  return undefined;
}

const ACCESS_DENIED =
  'Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.';

// §2.5, verbatim from live-API snapshots (note the singular `content_filter_result`).
const PROMPT_BLOCKED_BODY = {
  error: {
    message:
      "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. Please modify your prompt and retry. To learn more about our content filtering policies please read our documentation: https://go.microsoft.com/fwlink/?linkid=2198766",
    type: null,
    param: 'prompt',
    code: 'content_filter',
    status: 400,
    innererror: {
      code: 'ResponsibleAIPolicyViolation',
      content_filter_result: {
        hate: { filtered: false, severity: 'safe' },
        jailbreak: { filtered: false, detected: false },
        self_harm: { filtered: true, severity: 'medium' },
        sexual: { filtered: false, severity: 'safe' },
        violence: { filtered: false, severity: 'safe' },
      },
    },
  },
};

const SAFE = { filtered: false, severity: 'safe' };
const NOT_DETECTED = { filtered: false, detected: false };
// §2.4: what a clean prompt and a clean completion are annotated with.
const PROMPT_FILTER_RESULTS = [
  {
    prompt_index: 0,
    content_filter_results: {
      hate: SAFE,
      self_harm: SAFE,
      sexual: SAFE,
      violence: SAFE,
      jailbreak: NOT_DETECTED,
      profanity: NOT_DETECTED,
    },
  },
];
const COMPLETION_FILTER_RESULTS = {
  hate: SAFE,
  self_harm: SAFE,
  sexual: SAFE,
  violence: SAFE,
  protected_material_text: NOT_DETECTED,
  protected_material_code: NOT_DETECTED,
};

const ERROR_CODES: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  408: 'Timeout',
  409: 'Conflict',
  422: 'UnprocessableEntity',
  500: 'InternalServerError',
  502: 'BadGateway',
  503: 'ServiceUnavailable',
  504: 'GatewayTimeout',
};

function invalidRequest(exchange: SimExchange, message: string, param: string | null): void {
  exchange.sendJson(400, { error: { message, type: 'invalid_request_error', param, code: null } });
}

type EmbeddingInput = string | number[];

function parseEmbeddingInput(input: unknown): EmbeddingInput[] | undefined {
  const isTokenArray = (value: unknown): value is number[] =>
    Array.isArray(value) && value.length > 0 && value.every((t) => Number.isInteger(t) && (t as number) >= 0);
  if (typeof input === 'string') return input.length > 0 ? [input] : undefined;
  if (isTokenArray(input)) return [input];
  if (!Array.isArray(input) || input.length === 0) return undefined;
  if (input.every((item) => typeof item === 'string' && item.length > 0)) return input as string[];
  if (input.every(isTokenArray)) return input;
  return undefined;
}

/** One chat request on its way out: what was asked, what each choice says, and how to send it. */
interface ChatReply {
  exchange: SimExchange;
  config: OpenAICompatibleSimBehaviour;
  request: ChatRequest;
  answers: ChoiceAnswer[];
  fault: SimFault | undefined;
  azure: boolean;
  id: string;
  created: number;
  model: string;
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
  stats: SimStatsRecorder;
}

const toolCallOf = (answer: ChoiceAnswer, args: string) => ({
  id: answer.toolCall!.id,
  type: 'function',
  function: { name: answer.toolCall!.name, arguments: args },
});

async function wholeChoice(reply: ChatReply, answer: ChoiceAnswer, slices: SliceYielder) {
  const { request } = reply;
  let text = '';
  const entries: TokenLogprob[] = [];
  for (const piece of answer.pieces) {
    if (request.logprobs) entries.push(tokenLogprob(answer.seed, entries.length, piece, request.topLogprobs));
    text += piece;
    await slices.step();
  }
  const message =
    answer.toolCall === undefined
      ? { role: 'assistant', content: text, refusal: null }
      : { role: 'assistant', content: null, tool_calls: [toolCallOf(answer, text)], refusal: null };
  return {
    index: answer.index,
    message,
    logprobs: request.logprobs ? { content: answer.toolCall === undefined ? entries : null, refusal: null } : null,
    finish_reason: answer.finishReason,
    ...(reply.azure ? { content_filter_results: COMPLETION_FILTER_RESULTS } : {}),
  };
}

async function sendWholeChat(reply: ChatReply): Promise<void> {
  const { exchange, config, answers, fault } = reply;
  const longest = Math.max(...answers.map((a) => a.tokenCount));
  if (!(await exchange.wait((config.latencyMs ?? 0) + generationMs(config, longest)))) return;
  const choices = [];
  const slices = new SliceYielder();
  for (const answer of answers) {
    choices.push(await wholeChoice(reply, answer, slices));
    if (exchange.signal.aborted) return;
  }
  const response = {
    id: reply.id,
    object: 'chat.completion',
    created: reply.created,
    model: reply.model,
    ...(reply.azure ? { prompt_filter_results: PROMPT_FILTER_RESULTS } : {}),
    choices,
    usage: reply.usage,
  };
  if (fault?.kind === 'half-stream') return exchange.sendHalfJson(200, response);
  if (fault?.kind === 'malformed') return exchange.sendMalformedJson();
  exchange.sendJson(200, response);
  reply.stats.succeeded({ prompt: reply.usage.prompt_tokens, completion: reply.usage.completion_tokens });
}

/** A choice mid-stream, holding its next piece so the last one is known as such when sent. */
interface StreamingChoice {
  answer: ChoiceAnswer;
  pieces: Iterator<string, void>;
  next: IteratorResult<string, void>;
}

// The deltas of one choice at one position: OpenAI opens a tool call with its id, type and name
// and empty arguments, then sends the arguments in pieces; text opens with the role.
function choiceDeltas(reply: ChatReply, choice: StreamingChoice, position: number, piece: string | undefined): unknown[] {
  const { answer } = choice;
  const { request } = reply;
  const filterResults = reply.azure ? { content_filter_results: COMPLETION_FILTER_RESULTS } : {};
  const entry = (delta: unknown, logprobs: unknown = null) => ({
    index: answer.index,
    delta,
    logprobs,
    finish_reason: null,
    ...filterResults,
  });
  if (answer.toolCall === undefined) {
    const logprobs = request.logprobs
      ? { content: piece === undefined ? [] : [tokenLogprob(answer.seed, position, piece, request.topLogprobs)], refusal: null }
      : null;
    return [entry(position === 0 ? { role: 'assistant', content: piece ?? '' } : { content: piece }, logprobs)];
  }
  const deltas = [];
  if (position === 0) deltas.push(entry({ role: 'assistant', content: null, tool_calls: [{ index: 0, ...toolCallOf(answer, '') }] }));
  if (piece !== undefined) deltas.push(entry({ tool_calls: [{ index: 0, function: { arguments: piece } }] }));
  return deltas;
}

type SendEvent = (event: unknown) => Promise<boolean>;

// Each event goes out through here so a half-stream fault can cut the connection after any of them.
function eventSender(exchange: SimExchange, fault: SimFault | undefined): SendEvent {
  const cutAfter = fault?.kind === 'half-stream' ? fault.afterChunks : Number.POSITIVE_INFINITY;
  let sent = 0;
  return async (event) => {
    // A cut stream must never look complete, so the cut comes before [DONE] at the latest.
    if (sent >= cutAfter || (event === '[DONE]' && fault?.kind === 'half-stream')) {
      exchange.destroy();
      return false;
    }
    sent += 1;
    return exchange.writeEvent(event);
  };
}

function chunkOf(reply: ChatReply, choices: unknown[], extra: Record<string, unknown> = {}) {
  return { id: reply.id, object: 'chat.completion.chunk', created: reply.created, model: reply.model, choices, ...extra };
}

// Choices advance together, one token each per round, as OpenAI interleaves them.
async function streamTokens(reply: ChatReply, send: SendEvent): Promise<boolean> {
  const { exchange, config } = reply;
  const started = Date.now();
  const slices = new SliceYielder();
  const choices: StreamingChoice[] = reply.answers.map((answer) => {
    const pieces = answer.pieces[Symbol.iterator]() as Iterator<string, void>;
    return { answer, pieces, next: pieces.next() };
  });
  for (let position = 0; position === 0 || choices.some((c) => !c.next.done); position++) {
    if (!(await exchange.wait(started + tokenReadyMs(config, position) - Date.now()))) return false;
    for (const choice of choices) {
      if (position > 0 && choice.next.done) continue;
      const piece = choice.next.done ? undefined : choice.next.value;
      if (!choice.next.done) choice.next = choice.pieces.next();
      for (const delta of choiceDeltas(reply, choice, position, piece)) if (!(await send(chunkOf(reply, [delta])))) return false;
      await slices.step();
    }
  }
  return true;
}

// Finish chunks, then usage where this model sends it (§1.7 on the finish chunk, or its own chunk).
async function streamEnding(reply: ChatReply, send: SendEvent): Promise<boolean> {
  const { config, request } = reply;
  const filterResults = reply.azure ? { content_filter_results: COMPLETION_FILTER_RESULTS } : {};
  const wantsUsage = config.streamUsage !== false;
  const usageOnFinish = wantsUsage && config.usageOnFinalChunkWithoutStreamOptions === true;
  for (const [i, answer] of reply.answers.entries()) {
    const last = i === reply.answers.length - 1;
    const finish = chunkOf(
      reply,
      [{ index: answer.index, delta: {}, logprobs: null, finish_reason: answer.finishReason, ...filterResults }],
      last && usageOnFinish ? { usage: reply.usage } : {},
    );
    if (!(await send(finish))) return false;
  }
  if (wantsUsage && !usageOnFinish && request.includeUsage) return send(chunkOf(reply, [], { usage: reply.usage }));
  return true;
}

async function streamChat(reply: ChatReply): Promise<void> {
  const { exchange, config, fault } = reply;
  if (!(await exchange.wait(config.latencyMs ?? 0))) return;
  exchange.startEventStream();
  if (fault?.kind === 'malformed') {
    if (await exchange.writeEvent('{"id":"chatcmpl-sim","object":"chat.completion.chunk","choices":[{"index":0,')) {
      await exchange.writeEvent('[DONE]');
      exchange.res.end();
    }
    return;
  }
  const send = eventSender(exchange, fault);
  // §2.6: Azure's pre-flight prompt-filter chunk, with its empty id and zero `created`.
  const preflight = { choices: [], created: 0, id: '', model: '', object: '', prompt_filter_results: PROMPT_FILTER_RESULTS };
  if (reply.azure && !(await send(preflight))) return;
  if (!(await streamTokens(reply, send)) || !(await streamEnding(reply, send)) || !(await send('[DONE]'))) return;
  exchange.res.end();
  // The tokens were generated whether or not the client asked to see the usage.
  reply.stats.succeeded({ prompt: reply.usage.prompt_tokens, completion: reply.usage.completion_tokens });
}

/** Starts the simulator on loopback; `close()` it when done. */
export async function startOpenAICompatibleSim(options: OpenAICompatibleSimOptions = {}): Promise<OpenAICompatibleSim> {
  const { host, port, ...initial } = options;
  let behaviour: OpenAICompatibleSimBehaviour = { ...initial };
  const stats = new SimStatsRecorder();
  const faults = new FaultPlan();

  function modelFor(config: OpenAICompatibleSimBehaviour, route: Route, requested: unknown): string {
    if (route.deployment !== undefined) return route.deployment;
    if (typeof requested === 'string' && requested.length > 0) return requested;
    return config.modelName ?? 'sim-model';
  }

  async function sendFault(exchange: SimExchange, fault: SimFault, route: Route, apiVersion: string | null): Promise<boolean> {
    switch (fault.kind) {
      case 'status': {
        const headers = retryAfterHeaders(fault);
        if (fault.status === 429) {
          const operation = route.operation === 'chat' ? 'ChatCompletions_Create' : 'Embeddings_Create';
          const seconds = headers['retry-after'] ?? '1';
          const message = `Requests to the ${operation} Operation under Azure OpenAI API version ${apiVersion ?? 'v1'} have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after ${seconds} seconds.`;
          exchange.sendJson(429, { error: { code: '429', message } }, headers);
        } else {
          const code = ERROR_CODES[fault.status] ?? String(fault.status);
          const body = { error: { code, message: `The simulator answered ${fault.status} as instructed.`, status: fault.status } };
          exchange.sendJson(fault.status, body, { ...headers, 'x-ms-error-code': code });
        }
        return true;
      }
      case 'content_filter':
        exchange.sendJson(400, PROMPT_BLOCKED_BODY, { 'x-ms-error-code': 'content_filter' });
        return true;
      case 'timeout':
        await exchange.hang();
        return true;
      case 'reset':
        exchange.reset();
        return true;
      case 'half-stream':
      case 'malformed':
        return false;
    }
  }

  async function handleChat(
    exchange: SimExchange,
    config: OpenAICompatibleSimBehaviour,
    route: Route,
    body: unknown,
    fault: SimFault | undefined,
  ): Promise<void> {
    const parsed = parseChatRequest(body);
    if ('problem' in parsed) return invalidRequest(exchange, parsed.problem.message, parsed.problem.param);
    const { request } = parsed;
    const answers = await planAnswer(request, { defaultCompletionTokens: config.defaultCompletionTokens ?? 16 });
    if (exchange.signal.aborted) return;
    const promptTokens = countChatPromptTokens(request.messages);
    const completionTokens = answers.reduce((sum, a) => sum + a.tokenCount, 0);
    const reply: ChatReply = {
      exchange,
      config,
      request,
      answers,
      fault,
      azure: route.deployment !== undefined,
      id: `chatcmpl-${randomUUID().replaceAll('-', '')}`,
      created: Math.floor(Date.now() / 1000),
      model: modelFor(config, route, request.model),
      usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens },
      stats,
    };
    return request.stream ? streamChat(reply) : sendWholeChat(reply);
  }

  async function handleEmbeddings(
    exchange: SimExchange,
    config: OpenAICompatibleSimBehaviour,
    route: Route,
    body: unknown,
    fault: SimFault | undefined,
  ): Promise<void> {
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      return invalidRequest(exchange, 'The request body must be a JSON object.', null);
    }
    const fields = body as Record<string, unknown>;
    const inputs = parseEmbeddingInput(fields.input);
    if (inputs === undefined) {
      return invalidRequest(exchange, "'input' must be a non-empty string, array of strings, or array of token arrays.", 'input');
    }
    if (fields.dimensions !== undefined && !isPositiveInteger(fields.dimensions)) {
      return invalidRequest(exchange, "'dimensions' must be a positive integer.", 'dimensions');
    }
    const format = fields.encoding_format ?? 'float';
    if (format !== 'float' && format !== 'base64') {
      return invalidRequest(exchange, "'encoding_format' must be 'float' or 'base64'.", 'encoding_format');
    }
    const dimensions = isPositiveInteger(fields.dimensions) ? fields.dimensions : (config.defaultEmbeddingDimensions ?? 8);
    if (inputs.length * dimensions > MAX_EMBEDDING_VALUES) {
      return invalidRequest(
        exchange,
        `The simulator answers at most ${MAX_EMBEDDING_VALUES} embedding values (inputs × 'dimensions') per request.`,
        'dimensions',
      );
    }
    if (!(await exchange.wait(config.latencyMs ?? 0))) return;

    let promptTokens = 0;
    const slices = new SliceYielder();
    const data = [];
    for (const [index, input] of inputs.entries()) {
      promptTokens += typeof input === 'string' ? countTextTokens(input) : input.length;
      const vector = embeddingVector(typeof input === 'string' ? input : `tokens:${input.join(',')}`, dimensions);
      data.push({ object: 'embedding', index, embedding: format === 'base64' ? embeddingToBase64(vector) : vector });
      await slices.step(dimensions);
      if (exchange.signal.aborted) return;
    }
    const response = {
      object: 'list',
      data,
      model: modelFor(config, route, fields.model),
      usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
    };
    if (fault?.kind === 'half-stream') return exchange.sendHalfJson(200, response);
    if (fault?.kind === 'malformed') return exchange.sendMalformedJson();
    exchange.sendJson(200, response);
    stats.succeeded({ embedding: promptTokens });
  }

  async function handle(exchange: SimExchange): Promise<void> {
    // One request sees one configuration, even if setOptions runs while it streams.
    const config = behaviour;
    const { raw, json } = await exchange.readBody();
    const { req, url } = exchange;
    stats.received({ method: req.method ?? '', path: url.pathname, query: queryRecord(url), headers: req.headers, body: json ?? raw });

    if (url.pathname === '/sim/cost-export' && req.method === 'GET') {
      // Not an Azure route: what Cost Management would bill for this simulator's own traffic (cost-export.ts).
      if (!isAuthorized(req.headers, config, true)) return exchange.sendJson(401, { error: { code: '401', message: ACCESS_DENIED } });
      const { status, body } = serverlessCostExport(url, stats.snapshot(), Date.now());
      exchange.res.writeHead(status, { 'content-type': status === 200 ? 'text/csv; charset=utf-8' : 'text/plain; charset=utf-8' });
      exchange.res.end(body);
      return;
    }
    const route = matchRoute(url.pathname);
    if (route === undefined) return exchange.sendJson(404, { error: { code: '404', message: 'Resource not found' } });
    if (req.method !== 'POST') {
      return exchange.sendJson(405, { error: { code: 'MethodNotAllowed', message: `${req.method} is not supported on ${url.pathname}.` } });
    }
    if (!isAuthorized(req.headers, config, true)) return exchange.sendJson(401, { error: { code: '401', message: ACCESS_DENIED } });
    const apiVersion = url.searchParams.get('api-version');
    if (route.deployment !== undefined && !apiVersion) {
      return exchange.sendJson(
        400,
        { error: { code: 'BadRequest', message: 'Missing required query parameter: api-version.' } },
        { 'x-ms-error-code': 'BadRequest' },
      );
    }
    if (json === undefined) return invalidRequest(exchange, 'We could not parse the JSON body of your request.', null);

    const fault = faults.next(config.faultRate);
    if (fault !== undefined && (await sendFault(exchange, fault, route, apiVersion))) return;
    if (route.operation === 'chat') return handleChat(exchange, config, route, json, fault);
    return handleEmbeddings(exchange, config, route, json, fault);
  }

  const server = await startSimServer({ host, port }, stats, handle);
  return {
    url: server.url,
    port: server.port,
    stats: () => stats.snapshot(),
    resetStats: () => stats.reset(),
    injectFaults: (list) => faults.inject(list),
    setOptions: (changes) => {
      behaviour = { ...behaviour, ...changes };
    },
    close: () => server.close(),
  };
}
