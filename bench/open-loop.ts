import { Agent, request } from 'undici';
import { dueCount, scheduledAtMs } from './open-loop-schedule.js';

export interface OpenLoopOptions {
  url: string;
  headers: Record<string, string>;
  /** Request bodies, used in turn (a mix of whole and streamed requests, say). */
  bodies: readonly string[];
  ratePerSecond: number;
  seconds: number;
  /** Requests due while this many are unanswered are not sent and are counted apart (the generator stays bounded). */
  maxInFlight: number;
  connections: number;
  signal?: AbortSignal;
  /** Called on each 2xx answer as it ends, for progress while the run goes on. */
  onAnswer?: () => void;
}

export interface OpenLoopResult {
  scheduled: number;
  sent: number;
  /** Due while maxInFlight requests were unanswered: not sent. */
  skipped: number;
  ok2xx: number;
  non2xx: number;
  errors: number;
  /** From each request's scheduled time (not its send time) to the end of its answer. */
  latenciesMs: number[];
  statuses: Record<string, number>;
}

/**
 * Sends requests at a fixed rate by the clock, whatever the answers do, and measures each one from the time it
 * was scheduled, so a slow answer cannot hide the requests that queued behind it (coordinated omission).
 */
export async function openLoop(options: OpenLoopOptions): Promise<OpenLoopResult> {
  const total = Math.round(options.ratePerSecond * options.seconds);
  const dispatcher = new Agent({ connections: options.connections, keepAliveTimeout: 30_000 });
  const result: OpenLoopResult = { scheduled: total, sent: 0, skipped: 0, ok2xx: 0, non2xx: 0, errors: 0, latenciesMs: [], statuses: {} };
  const pending = new Set<Promise<void>>();
  const startedAt = performance.now();

  const send = (index: number) => {
    const scheduledAt = startedAt + scheduledAtMs(index, options.ratePerSecond);
    const body = options.bodies[index % options.bodies.length]!;
    const done = request(options.url, { method: 'POST', headers: options.headers, body, dispatcher, signal: AbortSignal.timeout(30_000) })
      .then(async (response) => {
        await response.body.dump({ limit: Number.POSITIVE_INFINITY });
        const key = String(response.statusCode);
        result.statuses[key] = (result.statuses[key] ?? 0) + 1;
        if (response.statusCode >= 200 && response.statusCode < 300) {
          result.ok2xx += 1;
          result.latenciesMs.push(performance.now() - scheduledAt);
          options.onAnswer?.();
        } else result.non2xx += 1;
      })
      .catch((error: unknown) => {
        result.errors += 1;
        const key = error instanceof Error ? error.name : 'error';
        result.statuses[key] = (result.statuses[key] ?? 0) + 1;
      })
      .finally(() => pending.delete(done));
    pending.add(done);
  };

  try {
    let next = 0;
    while (next < total && !options.signal?.aborted) {
      const due = dueCount(performance.now() - startedAt, options.ratePerSecond, total);
      for (; next < due; next++) {
        if (pending.size >= options.maxInFlight) result.skipped += 1;
        else {
          result.sent += 1;
          send(next);
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    await Promise.all(pending);
  } finally {
    await dispatcher.close();
  }
  return result;
}
