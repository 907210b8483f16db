import { errors, type GatewayError } from '../errors.js';
import { errorEvent } from '../http/error-response.js';
import type { ChatStreamReader } from '../upstreams/protocols/index.js';
import type { UsageStatus } from '../usage/usage-record.js';
import { describe, type Answer } from './call-upstream.js';
import type { CallScope } from './call-scope.js';
import type { GatewayDeps } from './gateway-deps.js';
import { recordUsage, type UsageFacts } from './record-usage.js';

export interface RelayOptions {
  deps: GatewayDeps;
  facts: UsageFacts;
  scope: CallScope;
  attempts: number;
  /** When the upstream's headers came, from the request's start: the time to first byte until an event passes. */
  headersMs: number;
  /** The events that end a stream that broke, in the caller's protocol; by default the chat error event. */
  failureEvents?: (error: GatewayError) => Uint8Array[];
  /** Screens the events on their way to the caller (the team's content safety); absent: relayed as they come. */
  guard?: StreamGuard;
}

/** What a relayed stream's events pass through before the caller sees them; `cut` once the answer was ended early. */
export interface StreamGuard {
  push(events: readonly Uint8Array[]): Promise<Uint8Array[]>;
  /** The upstream's answer is complete (or cut): what is still held, and the end. */
  end(): Promise<Uint8Array[]>;
  readonly cut: boolean;
}

type Controller = ReadableStreamDefaultController<Uint8Array>;

/**
 * Relays an upstream SSE stream to the caller as it arrives. Pull-based, so the caller's pace reaches the
 * upstream and a disconnect aborts it. A stream that breaks before its end, or passes the request's deadline,
 * ends with an error event; the upstream body is cancelled on every early end. The relay ends the scope.
 */
export function relayStream(answer: Answer, reader: ChatStreamReader, options: RelayOptions): ReadableStream<Uint8Array> {
  const relay = new StreamRelay(answer, reader, options);
  return new ReadableStream<Uint8Array>(
    { pull: (controller) => relay.pull(controller), cancel: () => relay.cancel() },
    { highWaterMark: 0 },
  );
}

class StreamRelay {
  readonly answer: Answer;
  readonly reader: ChatStreamReader;
  readonly options: RelayOptions;
  readonly #upstream: ReadableStreamDefaultReader<Uint8Array>;
  #settled = false;
  #firstEventMs: number | undefined;

  constructor(answer: Answer, reader: ChatStreamReader, options: RelayOptions) {
    this.answer = answer;
    this.reader = reader;
    this.options = options;
    this.#upstream = answer.response.body.getReader();
  }

  async pull(controller: Controller): Promise<void> {
    const { deps, facts } = this.options;
    try {
      for (;;) {
        const { done, value } = await this.#upstream.read();
        // The caller left while the upstream was being read.
        if (this.#settled) return;
        if (done) return this.#fail(controller, errors.upstreamError('The model stream ended before it was complete.'));
        const guard = this.options.guard;
        const out = guard ? await guard.push(this.reader.push(value)) : this.reader.push(value);
        if (this.#settled) return;
        const ending = this.reader.complete || guard?.cut === true;
        if (ending && guard) out.push(...(await guard.end()));
        if (out.length > 0 && this.#firstEventMs === undefined) {
          this.#firstEventMs = deps.now() - facts.startedAtMs;
          // The deployment's own latency, from this attempt's start (not the request's, which counts failovers).
          deps.health.recordFirstToken(this.answer.deployment.id, deps.now() - this.answer.startedAtMs);
        }
        if (ending) {
          // The last events (the end of the answer) wait for its usage record to be durable: a stream the caller
          // saw complete is always in the ledger, whatever happens to this process after.
          // An answer the filter cut is not read further: the upstream is cancelled and what it sent so far billed.
          if (!this.reader.complete) this.#discard();
          await this.#settle('ok');
          for (const bytes of out) controller.enqueue(bytes);
          return this.#complete(controller);
        }
        for (const bytes of out) controller.enqueue(bytes);
        if (out.length > 0) return;
      }
    } catch (error) {
      if (!this.#settled) this.#broke(controller, error);
    }
  }

  cancel(): void {
    this.#discard();
    this.options.scope.dispose();
    void this.#settle('cancelled');
  }

  #complete(controller: Controller): void {
    // The answer is complete and metered: let the connection drain for reuse (within what is left of the
    // deadline, which still ends an upstream that never does).
    controller.close();
    void this.#drain().finally(() => this.options.scope.dispose());
  }

  #broke(controller: Controller, error: unknown): void {
    const { deps, facts, scope } = this.options;
    if (scope.stopped === 'caller') {
      this.#discard();
      scope.dispose();
      void this.#settle('cancelled');
      controller.error(error);
      return;
    }
    deps.log.log('warn', 'upstream stream broke', {
      deployment: this.answer.deployment.id,
      requestId: facts.requestId,
      error: describe(error),
    });
    this.#fail(
      controller,
      scope.stopped === 'deadline'
        ? scope.stopError('The model stream did not finish')
        : errors.upstreamError('The model stream broke off before it was complete.'),
    );
  }

  #fail(controller: Controller, error: GatewayError): void {
    this.#discard();
    this.options.scope.dispose();
    this.options.deps.health.failed(this.answer.deployment.id);
    for (const bytes of this.options.failureEvents?.(error) ?? [errorEvent(error)]) controller.enqueue(bytes);
    controller.close();
    void this.#settle('partial');
  }

  #discard(): void {
    this.#upstream.cancel().catch(() => undefined);
  }

  async #drain(): Promise<void> {
    try {
      while (!(await this.#upstream.read()).done);
    } catch {
      // Whatever the upstream does after its answer is complete changes nothing for the caller.
    }
  }

  #settle(status: UsageStatus): Promise<void> {
    if (this.#settled) return Promise.resolve();
    this.#settled = true;
    this.answer.release();
    const { deps, facts, attempts, headersMs } = this.options;
    const usage = this.reader.usage();
    return recordUsage(deps, facts, {
      deployment: this.answer.deployment,
      status,
      httpStatus: 200,
      inputTokens: usage.inputTokens,
      outputTokens: usage.outputTokens,
      cachedInputTokens: usage.cachedInputTokens,
      reasoningTokens: usage.reasoningTokens,
      estimated: usage.estimated,
      ttfbMs: this.#firstEventMs ?? headersMs,
      attempts,
    });
  }
}
