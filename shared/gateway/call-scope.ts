import type { Deployment } from '../catalog/schemas.js';
import { errors, type GatewayError } from '../errors.js';
import type { GatewayRequest } from '../http/types.js';
import type { BufferBudget } from './buffer-budget.js';
import type { GatewayDeps } from './gateway-deps.js';

export interface CallScopeOptions {
  /** The whole request's time for its upstream work, every attempt included. */
  deadlineMs: number;
  /** Fires when the caller leaves (set by the local host; the Azure Functions library surfaces none). */
  callerSignal?: AbortSignal;
  buffers: BufferBudget;
  now: () => number;
}

export type StopReason = 'deadline' | 'caller';

/**
 * One request's upstream work: a signal that fires at the deadline or when the caller leaves (every attempt
 * shares it, so a later attempt gets what is left), and the answer bytes it holds in the process-wide budget.
 * `dispose` ends it on every exit path: timer cleared, listener removed, bytes released.
 */
export class CallScope {
  readonly signal: AbortSignal;
  readonly deadlineMs: number;
  #stopped: StopReason | undefined;
  readonly #controller = new AbortController();
  readonly #deadlineAtMs: number;
  readonly #timer: NodeJS.Timeout;
  readonly #options: CallScopeOptions;
  #reservedBytes = 0;
  #disposed = false;
  #upstreamMs = 0;

  constructor(options: CallScopeOptions) {
    this.#options = options;
    this.deadlineMs = options.deadlineMs;
    this.signal = this.#controller.signal;
    this.#deadlineAtMs = options.now() + options.deadlineMs;
    this.#timer = setTimeout(() => this.#stop('deadline'), options.deadlineMs);
    this.#timer.unref();
    if (options.callerSignal?.aborted) this.#stop('caller');
    else options.callerSignal?.addEventListener('abort', this.#onCallerAbort, { once: true });
  }

  /** Time spent waiting on upstreams so far (every attempt's headers, whole bodies read), for Server-Timing. */
  get upstreamMs(): number {
    return this.#upstreamMs;
  }

  /** Runs one wait on an upstream, counting its time as the upstream's, whether it answers or fails. */
  async upstreamWork<T>(work: () => Promise<T>): Promise<T> {
    const startedAtMs = this.#options.now();
    try {
      return await work();
    } finally {
      this.#upstreamMs += this.#options.now() - startedAtMs;
    }
  }

  /** Why the work was stopped, if it was. */
  get stopped(): StopReason | undefined {
    return this.#stopped;
  }

  remainingMs(): number {
    return this.#stopped ? 0 : Math.max(0, this.#deadlineAtMs - this.#options.now());
  }

  /** The error a stopped request ends with. */
  stopError(what: string): GatewayError {
    return this.#stopped === 'caller'
      ? errors.requestCancelled()
      : errors.upstreamTimeout(`${what} within the deadline of ${this.deadlineMs} ms.`);
  }

  /** Counts `bytes` more of a buffered answer against the process-wide cap; throws `overloaded` past it. */
  reserve(bytes: number): void {
    if (!this.#options.buffers.tryReserve(bytes)) throw errors.overloaded();
    this.#reservedBytes += bytes;
  }

  /** The deployment the latest attempt went to: the one a call stopped mid-attempt was running on. */
  attempting: Deployment | undefined;

  /** Gives back `bytes` of what this request reserved (an answer dropped before the request ends). */
  release(bytes: number): void {
    const released = Math.min(bytes, this.#reservedBytes);
    this.#options.buffers.release(released);
    this.#reservedBytes -= released;
  }

  /** Stops the upstream work as a caller who left would (a prompt that parallel screening blocked): nothing more is read. */
  cancel(): void {
    this.#stop('caller');
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    clearTimeout(this.#timer);
    this.#options.callerSignal?.removeEventListener('abort', this.#onCallerAbort);
    this.#options.buffers.release(this.#reservedBytes);
    this.#reservedBytes = 0;
  }

  readonly #onCallerAbort = () => this.#stop('caller');

  #stop(reason: StopReason): void {
    if (this.#stopped || this.#disposed) return;
    this.#stopped = reason;
    this.#controller.abort(
      reason === 'deadline'
        ? new DOMException('The request deadline passed.', 'TimeoutError')
        : new DOMException('The caller left.', 'AbortError'),
    );
  }
}

/** The scope of one inference request: a stream gets the stream deadline, anything else the upstream timeout. */
export function requestScope(request: GatewayRequest, deps: GatewayDeps, stream: boolean): CallScope {
  return new CallScope({
    deadlineMs: stream ? deps.limits.streamDeadlineMs : deps.limits.upstreamTimeoutMs,
    callerSignal: request.signal,
    buffers: deps.bufferedAnswers,
    now: deps.now,
  });
}
