import { randomUUID } from 'node:crypto';
import type { Deployment } from '../catalog/schemas.js';
import { errors, type GatewayError } from '../errors.js';
import { errorEvent } from '../http/error-response.js';
import { SSE_DONE, sseData } from '../http/sse.js';
import type { GatewayRequest, GatewayResponse } from '../http/types.js';
import { buildChatRequest, type ChatBody } from '../upstreams/protocols.js';
import { countChatPromptTokens, countTextTokens } from '../usage/count-tokens.js';
import { usageFrom, type TokenUsage } from '../usage/extract-usage.js';
import { StreamTap } from '../usage/stream-tap.js';
import { authenticateTeam } from './authenticate.js';
import { describe, readText, type Answer } from './call-upstream.js';
import { CallScope } from './call-scope.js';
import type { GatewayDeps } from './gateway-deps.js';
import { chatRequestSchema, decideTargets, parseBody, resolveAlias, type ChatRequest } from './inference-request.js';
import { deploymentHeader, meteredCall } from './metered-call.js';
import { recordUsage, type UsageFacts } from './record-usage.js';

const MAX_ANSWER_BYTES = 32 * 1024 * 1024;

export interface ChatOptions {
  requestId: string;
  /** The alias from an Azure OpenAI-style path (`/openai/deployments/{alias}/…`), which overrides `model`. */
  aliasFromPath?: string;
}

type Completed =
  /** `completion` is set when Switchyard built the answer itself (from a managed endpoint's output). */
  | { kind: 'json'; body: string; usage: TokenUsage; estimated: boolean; completion?: Record<string, unknown> }
  | { kind: 'stream'; answer: Answer };

/** POST /v1/chat/completions (and the Azure OpenAI path): route, call, meter, answer. */
export async function chatCompletions(request: GatewayRequest, deps: GatewayDeps, options: ChatOptions): Promise<GatewayResponse> {
  const team = authenticateTeam(request.headers, deps);
  const body = await parseBody(request, chatRequestSchema, deps);
  const alias = options.aliasFromPath ?? body.model;
  const route = resolveAlias(alias, team, deps);
  const decision = decideTargets(route, team, 'chat', body.user, deps);

  const wantsStream = body.stream === true;
  const facts: UsageFacts = { requestId: options.requestId, team: team.id, alias: route.alias, operation: 'chat', stream: wantsStream, startedAtMs: deps.now() };
  const promptTokens = () => countChatPromptTokens(body.messages);
  const upstreamBody = body as ChatBody;

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
      async (deployment) => buildChatRequest(deployment, upstreamBody, await deps.credentialFor(deployment)),
      async (answer) => {
        if (answer.deployment.protocol !== 'aml-score' && wantsStream) return { kind: 'stream', answer };
        try {
          return await readJsonAnswer(answer, body, promptTokens, scope);
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
    const result = attempted.result;
    const ttfbMs = deps.now() - facts.startedAtMs;
    if (result.kind === 'stream') {
      relaying = true;
      return {
        status: 200,
        headers: { ...headers, 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' },
        body: relayStream(result.answer, body, deps, facts, scope, attempted.attempts, ttfbMs),
      };
    }
    recordUsage(deps, facts, {
      deployment: attempted.deployment,
      status: 'ok',
      httpStatus: 200,
      inputTokens: result.usage.inputTokens,
      outputTokens: result.usage.outputTokens,
      estimated: result.estimated,
      ttfbMs,
      attempts: attempted.attempts,
    });
    if (wantsStream) {
      return {
        status: 200,
        headers: { ...headers, 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' },
        body: completionAsStream(result.completion ?? JSON.parse(result.body), body.stream_options?.include_usage === true),
      };
    }
    return { status: 200, headers: { ...headers, 'content-type': 'application/json' }, body: result.body };
  } finally {
    // The answer's bytes count against the process-wide cap until they are handed to the host to send.
    if (!relaying) scope.dispose();
  }
}

async function readJsonAnswer(answer: Answer, body: ChatRequest, promptTokens: () => number, scope: CallScope): Promise<Completed & { kind: 'json' }> {
  const text = await readText(answer.response, MAX_ANSWER_BYTES, (bytes) => scope.reserve(bytes));
  const parsed: unknown = JSON.parse(text);
  if (!parsed || typeof parsed !== 'object') throw new Error('upstream answered with a non-object body');
  if (answer.deployment.protocol === 'aml-score') {
    const output = (parsed as { output?: unknown }).output;
    if (typeof output !== 'string') throw new Error('the managed endpoint answered without an output string');
    const usage = { inputTokens: promptTokens(), outputTokens: countTextTokens(output) };
    const completion = amlCompletion(answer.deployment, output, usage, body);
    return { kind: 'json', body: JSON.stringify(completion), completion, usage, estimated: true };
  }
  const reported = usageFrom(parsed);
  if (reported) return { kind: 'json', body: text, usage: reported, estimated: false };
  const choices = (parsed as { choices?: Array<{ message?: { content?: unknown } }> }).choices ?? [];
  const completionText = choices.map((c) => (typeof c.message?.content === 'string' ? c.message.content : '')).join('');
  return { kind: 'json', body: text, usage: { inputTokens: promptTokens(), outputTokens: countTextTokens(completionText) }, estimated: true };
}

// The managed endpoint answers `{ output }` only; the caller gets an OpenAI chat completion.
function amlCompletion(deployment: Deployment, output: string, usage: TokenUsage, body: ChatRequest): Record<string, unknown> {
  const maxTokens = body.max_completion_tokens ?? body.max_tokens;
  return {
    id: `chatcmpl-${randomUUID().replace(/-/g, '')}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: deployment.upstreamModel,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: output, refusal: null },
        finish_reason: typeof maxTokens === 'number' && usage.outputTokens >= maxTokens ? 'length' : 'stop',
        logprobs: null,
      },
    ],
    usage: { prompt_tokens: usage.inputTokens, completion_tokens: usage.outputTokens, total_tokens: usage.inputTokens + usage.outputTokens },
  };
}

/** A finished completion told as a stream, for callers that asked to stream from an endpoint that cannot. */
function completionAsStream(completion: Record<string, unknown>, includeUsage: boolean): ReadableStream<Uint8Array> {
  const { id, created, model } = completion;
  const choice = (completion.choices as Array<{ message: { content: string }; finish_reason: string }>)[0]!;
  const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) => sseData({ id, object: 'chat.completion.chunk', created, model, choices, ...extra });
  const events = [
    chunk([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }]),
    chunk([{ index: 0, delta: { content: choice.message.content }, finish_reason: null }]),
    chunk([{ index: 0, delta: {}, finish_reason: choice.finish_reason }]),
    ...(includeUsage ? [chunk([], { usage: completion.usage })] : []),
    SSE_DONE,
  ];
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      const next = events.shift();
      if (next) controller.enqueue(next);
      if (events.length === 0) controller.close();
    },
  });
}

/**
 * Relays an upstream SSE stream to the caller as it arrives. Pull-based, so the caller's pace reaches the
 * upstream and a disconnect aborts it. A stream that breaks before [DONE], or passes the request's deadline,
 * ends with an error event; the upstream body is destroyed on every early end.
 */
function relayStream(
  answer: Answer,
  body: ChatRequest,
  deps: GatewayDeps,
  facts: UsageFacts,
  scope: CallScope,
  attempts: number,
  headersMs: number,
): ReadableStream<Uint8Array> {
  const tap = new StreamTap({ callerWantsUsage: body.stream_options?.include_usage === true });
  const iterator = (answer.response.body as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  let settled = false;
  let firstEventMs: number | undefined;
  const settle = (status: 'ok' | 'partial' | 'cancelled') => {
    if (settled) return;
    settled = true;
    answer.release();
    const { usage } = tap.summary;
    recordUsage(deps, facts, {
      deployment: answer.deployment,
      status,
      httpStatus: 200,
      inputTokens: usage?.inputTokens ?? countChatPromptTokens(body.messages),
      outputTokens: usage?.outputTokens ?? tap.completionTokens(),
      estimated: usage === undefined,
      ttfbMs: firstEventMs ?? headersMs,
      attempts,
    });
  };
  const failWith = (controller: ReadableStreamDefaultController<Uint8Array>, error: GatewayError) => {
    answer.response.body.destroy();
    scope.dispose();
    deps.health.failed(answer.deployment.id);
    controller.enqueue(errorEvent(error));
    controller.close();
    settle('partial');
  };
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          for (;;) {
            const { done, value } = await iterator.next();
            if (done) {
              if (!tap.summary.sawDone) return failWith(controller, errors.upstreamError('The model stream ended before it was complete.'));
              scope.dispose();
              controller.close();
              settle('ok');
              return;
            }
            const out = tap.push(value);
            if (out.length > 0) firstEventMs ??= deps.now() - facts.startedAtMs;
            for (const bytes of out) controller.enqueue(bytes);
            if (tap.summary.sawDone) {
              // The answer is complete at [DONE]: meter it now, and let the connection drain for reuse
              // (within what is left of the deadline, which still destroys an upstream that never ends).
              controller.close();
              settle('ok');
              void drain(iterator).finally(() => scope.dispose());
              return;
            }
            if (out.length > 0) return;
          }
        } catch (error) {
          if (settled) return;
          if (scope.stopped === 'caller') {
            answer.response.body.destroy();
            scope.dispose();
            settle('cancelled');
            controller.error(error);
            return;
          }
          deps.log.log('warn', 'upstream stream broke', { deployment: answer.deployment.id, requestId: facts.requestId, error: describe(error) });
          failWith(
            controller,
            scope.stopped === 'deadline'
              ? scope.stopError('The model stream did not finish')
              : errors.upstreamError('The model stream broke off before it was complete.'),
          );
        }
      },
      cancel() {
        answer.response.body.destroy();
        scope.dispose();
        settle('cancelled');
      },
    },
    { highWaterMark: 0 },
  );
}

async function drain(iterator: AsyncIterator<unknown>): Promise<void> {
  try {
    while (!(await iterator.next()).done);
  } catch {
    // Whatever the upstream does after [DONE] changes nothing for the caller.
  }
}
