/**
 * Fault injection shared by the Azure endpoint simulators. The status faults reproduce the failure
 * statuses the contracts list (AZURE.md §1.8, §2.5, §2.7, §3.4); the transport faults (timeout,
 * reset, half-stream, malformed) are the ways a real upstream fails that no contract documents
 * but every gateway meets.
 *
 * A fault is taken by the next request that passes routing and auth, and is answered at once,
 * without the simulator's configured latency, except half-stream and malformed, which fail a
 * response that is otherwise generated (and paced) normally.
 */

export type SimFault =
  /** Answer with this status; 429s carry `retry-after` / `retry-after-ms` (§2.7). */
  | { kind: 'status'; status: number; retryAfterSeconds?: number; retryAfterMs?: number }
  /** The prompt-blocked 400 of §2.5. */
  | { kind: 'content_filter' }
  /** Accept the request and never answer, until the client goes away. */
  | { kind: 'timeout' }
  /** Reset the connection without any response. */
  | { kind: 'reset' }
  /** Streams: send this many SSE events, then cut the connection. Non-streams: half the JSON. */
  | { kind: 'half-stream'; afterChunks: number }
  /** 200 with a body that is not JSON (or, for streams, an SSE event that is not JSON). */
  | { kind: 'malformed' };

export interface SimFaultRate<F extends SimFault = SimFault> {
  fault: F;
  /** Chance in [0, 1] that a request without a queued fault gets this one. */
  probability: number;
  /** Injected so that a bench run can be replayed; defaults to Math.random. */
  random?: () => number;
}

/** Faults for upcoming requests: queued ones first (one per request, FIFO), then a random rate. */
export class FaultPlan<F extends SimFault = SimFault> {
  #queue: F[] = [];

  inject(faults: readonly F[]): void {
    this.#queue.push(...faults);
  }

  next(rate: SimFaultRate<F> | undefined): F | undefined {
    const queued = this.#queue.shift();
    if (queued !== undefined) return queued;
    if (rate === undefined || rate.probability <= 0) return undefined;
    return (rate.random ?? Math.random)() < rate.probability ? rate.fault : undefined;
  }
}

/**
 * The retry headers of a status fault. Azure sends both on 429 (§2.7), so a 429 without explicit
 * values still gets one second; other statuses only carry them when asked to.
 */
export function retryAfterHeaders(fault: Extract<SimFault, { kind: 'status' }>): Record<string, string> {
  let seconds = fault.retryAfterSeconds;
  let ms = fault.retryAfterMs;
  if (seconds === undefined && ms === undefined) {
    if (fault.status !== 429) return {};
    seconds = 1;
  }
  ms ??= (seconds ?? 0) * 1000;
  seconds ??= Math.ceil(ms / 1000);
  return { 'retry-after': String(seconds), 'retry-after-ms': String(ms) };
}
