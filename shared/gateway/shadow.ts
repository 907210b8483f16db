import { z } from 'zod';
import type { Deployment, Route } from '../catalog/schemas.js';
import { readBody } from '../upstreams/read-body.js';
import {
  chatProtocol,
  chatRequest,
  embeddingsProtocol,
  embeddingsRequest,
  type Answered,
  type ChatBody,
  type EmbeddingsBody,
} from '../upstreams/protocols/index.js';
import type { UpstreamCredential, UpstreamRequest } from '../upstreams/upstream-port.js';
import { requestCost } from '../usage/pricing.js';
import { describe } from './call-upstream.js';
import { CallScope } from './call-scope.js';
import type { GatewayDeps } from './gateway-deps.js';
import type { UsageFacts, UsageOutcome } from './record-usage.js';
import type { ShadowRecord, ShadowSide } from '../usage/shadow-record.js';

/** Most bytes of a shadow's answer read; a longer one fails the copy, never the caller. */
const MAX_SHADOW_ANSWER_BYTES = 8 * 1024 * 1024;
/** Most characters of a shadow's chat answer kept in its record. */
export const SHADOW_ANSWER_CHARS = 4096;

export interface ShadowTrafficOptions {
  /** Shadow calls this instance runs at once; a copy beyond them is skipped and counted. */
  maxInFlight: number;
  /** Each shadow call's own deadline, headers and whole answer included. */
  timeoutMs: number;
}

/** This instance's shadow calls: how many run now, and how many were started or skipped since it started. */
export class ShadowTraffic {
  readonly timeoutMs: number;
  readonly #maxInFlight: number;
  #inFlight = 0;
  #started = 0;
  #skipped = 0;

  constructor(options: ShadowTrafficOptions) {
    this.#maxInFlight = options.maxInFlight;
    this.timeoutMs = options.timeoutMs;
  }

  /** Takes a slot for one shadow call; false (and counted as skipped) when all are taken. */
  tryStart(): boolean {
    if (this.#inFlight >= this.#maxInFlight) {
      this.#skipped += 1;
      return false;
    }
    this.#inFlight += 1;
    this.#started += 1;
    return true;
  }

  end(): void {
    this.#inFlight -= 1;
  }

  /** A copy drawn but not sent: no slot, or the shadow deployment could take no more. */
  skip(): void {
    this.#skipped += 1;
  }

  stats(): { inFlight: number; started: number; skipped: number; maxInFlight: number } {
    return { inFlight: this.#inFlight, started: this.#started, skipped: this.#skipped, maxInFlight: this.#maxInFlight };
  }
}

/** How to send one operation's copy to a deployment and read its whole answer. */
export interface ShadowRequest {
  build(deployment: Deployment, credential: UpstreamCredential | undefined): UpstreamRequest;
  read(text: string, deployment: Deployment): { answered: Answered; answer?: string };
}

/**
 * Decides, with the injected random, whether this admitted request is copied to the route's shadow deployment; when
 * it is, answers the observer to hand to the usage facts: once the caller's request is metered, the copy is sent in
 * the background and recorded apart. The caller never waits for it, and nothing of it reaches the team's usage.
 */
export function shadowCopy(
  deps: GatewayDeps,
  route: Route,
  request: ShadowRequest,
): ((outcome: UsageOutcome, facts: UsageFacts) => void) | undefined {
  const shadow = route.shadow;
  if (!shadow || deps.random() * 100 >= shadow.percent) return undefined;
  let copied = false;
  return (outcome, facts) => {
    // A request refused as the caller's own fault (a bad field, a content filter) is not worth a copy.
    if (copied || outcome.status === 'client_error') return;
    copied = true;
    const primary = primarySide(outcome, facts, deps.now());
    // Off the caller's path: the copy runs in the background once the caller's outcome is known (it may start while
    // the caller's usage record is being written), and nothing the caller gets waits for it.
    setImmediate(() => void sendCopy(deps, shadow.deployment, facts, primary, request));
  };
}

async function sendCopy(
  deps: GatewayDeps,
  deploymentId: string,
  facts: UsageFacts,
  primary: ShadowSide,
  request: ShadowRequest,
): Promise<void> {
  const deployment = deps.catalog.current().deployments.get(deploymentId);
  if (!deployment?.enabled) return deps.shadowTraffic.skip();
  // Only the shadow deployment's own in-flight count (and its capacity) is touched: never its breaker or cool-down.
  const release = deps.health.tryBegin(deployment);
  if (!release) return deps.shadowTraffic.skip();
  if (!deps.shadowTraffic.tryStart()) return release();
  const scope = new CallScope({ deadlineMs: deps.shadowTraffic.timeoutMs, buffers: deps.bufferedAnswers, now: deps.now });
  const startedAtMs = deps.now();
  let side: ShadowSide;
  try {
    const upstream = request.build(deployment, await deps.credentialFor(deployment));
    const answer = await deps.send(upstream, {
      signal: scope.signal,
      deadlineMs: scope.remainingMs(),
      headersTimeoutMs: scope.remainingMs(),
      idleTimeoutMs: deps.limits.firstByteTimeoutMs,
    });
    const text = await readBody(answer.body, {
      maxBytes: MAX_SHADOW_ANSWER_BYTES,
      headers: answer.headers,
      reserve: (bytes) => scope.reserve(bytes),
    });
    const { answered, answer: answerText } = request.read(text, deployment);
    const usage = answered.usage;
    side = {
      deployment: deployment.id,
      latencyMs: deps.now() - startedAtMs,
      inputTokens: usage.inputTokens,
      outputTokens: usage.outputTokens,
      ...requestCost(deployment, usage),
      ok: true,
      ...(answerText === undefined ? {} : { answer: answerText }),
    };
  } catch (error) {
    side = {
      deployment: deployment.id,
      latencyMs: deps.now() - startedAtMs,
      inputTokens: 0,
      outputTokens: 0,
      costMicroUsd: 0,
      costRemainderPicoUsd: 0,
      ok: false,
      error: scope.stopped === 'deadline' ? `no answer within ${scope.deadlineMs} ms` : describe(error),
    };
  } finally {
    release();
    scope.dispose();
    deps.shadowTraffic.end();
  }
  const ts = new Date(facts.startedAtMs).toISOString();
  const record: ShadowRecord = {
    id: deps.newId(),
    alias: facts.alias,
    team: facts.team,
    operation: facts.operation,
    day: ts.slice(0, 10),
    ts,
    primary,
    shadow: side,
  };
  deps.shadowLog.record(record);
}

/** What the caller's request did, as metered (its cost is the team's, recorded here only to compare). */
function primarySide(outcome: UsageOutcome, facts: UsageFacts, nowMs: number): ShadowSide {
  const deployment = outcome.deployment;
  return {
    deployment: deployment?.id ?? '',
    latencyMs: nowMs - facts.startedAtMs,
    ...(facts.stream ? { ttftMs: outcome.ttfbMs } : {}),
    inputTokens: outcome.inputTokens,
    outputTokens: outcome.outputTokens,
    ...(deployment ? requestCost(deployment, outcome) : { costMicroUsd: 0, costRemainderPicoUsd: 0 }),
    ok: outcome.status === 'ok',
  };
}

const chatAnswerSchema = z.object({
  choices: z.array(z.object({ message: z.object({ content: z.string().nullable().optional() }).optional() })).optional(),
});

/** The text of a chat answer's first choice, cut to SHADOW_ANSWER_CHARS. */
function answerText(json: string): string | undefined {
  const parsed = chatAnswerSchema.safeParse(JSON.parse(json));
  const content = parsed.success ? parsed.data.choices?.[0]?.message?.content : undefined;
  return typeof content === 'string' ? content.slice(0, SHADOW_ANSWER_CHARS) : undefined;
}

/**
 * A chat request's copy. It is always sent as a whole (non-streamed) request, so its latency is to the whole
 * answer and its text can be kept; a streamed primary's latency is likewise to its last event.
 */
export function chatShadow(body: ChatBody, deps: Pick<GatewayDeps, 'now' | 'newId'>, callerApiVersion?: string): ShadowRequest {
  const { stream: _stream, stream_options: _streamOptions, ...whole } = body;
  return {
    build: (deployment, credential) => chatRequest({ ...deployment, callerApiVersion }, whole, credential),
    read: (text, deployment) => {
      const answered = chatProtocol(deployment.protocol).readAnswer(text, {
        target: deployment,
        request: whole,
        now: deps.now,
        newId: deps.newId,
      });
      return { answered, answer: answerText(answered.json) };
    },
  };
}

/** An embeddings request's copy; its vectors are not kept. */
export function embeddingsShadow(body: EmbeddingsBody, callerApiVersion?: string): ShadowRequest {
  return {
    build: (deployment, credential) => embeddingsRequest({ ...deployment, callerApiVersion }, body, credential),
    read: (text, deployment) => ({ answered: embeddingsProtocol(deployment.protocol).readAnswer(text, body) }),
  };
}
