import { describe, expect, it } from 'vitest';
import { BufferBudget } from '../../shared/gateway/buffer-budget.js';
import { readWhole, type Answer } from '../../shared/gateway/call-upstream.js';
import { CallScope } from '../../shared/gateway/call-scope.js';

const aborted = (signal: AbortSignal) => new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));

describe('CallScope', () => {
  it('fires its signal at the deadline, as a timeout', async () => {
    const scope = new CallScope({ deadlineMs: 20, buffers: new BufferBudget(1), now: Date.now });
    await aborted(scope.signal);
    expect(scope.stopped).toBe('deadline');
    expect((scope.signal.reason as Error).name).toBe('TimeoutError');
    expect(scope.remainingMs()).toBe(0);
    expect(scope.stopError('The model did not answer')).toMatchObject({ status: 504, code: 'upstream_timeout' });
    scope.dispose();
  });

  it('fires its signal when the caller leaves, naming the caller', () => {
    const caller = new AbortController();
    const scope = new CallScope({ deadlineMs: 60_000, callerSignal: caller.signal, buffers: new BufferBudget(1), now: Date.now });
    expect(scope.signal.aborted).toBe(false);
    caller.abort();
    expect(scope.signal.aborted).toBe(true);
    expect(scope.stopped).toBe('caller');
    expect(scope.stopError('x')).toMatchObject({ code: 'request_cancelled' });
    scope.dispose();
  });

  it('starts stopped when the caller has already left', () => {
    const scope = new CallScope({ deadlineMs: 60_000, callerSignal: AbortSignal.abort(), buffers: new BufferBudget(1), now: Date.now });
    expect(scope.stopped).toBe('caller');
    scope.dispose();
  });

  it('gives later attempts what is left of the deadline, by the clock it is given', () => {
    let nowMs = 1_000;
    const scope = new CallScope({ deadlineMs: 600, buffers: new BufferBudget(1), now: () => nowMs });
    nowMs += 450;
    expect(scope.remainingMs()).toBe(150);
    nowMs += 1_000;
    expect(scope.remainingMs()).toBe(0);
    scope.dispose();
  });

  it('after dispose, neither the deadline nor the caller stops it, and the caller signal has no listener left', async () => {
    const caller = new AbortController();
    let listeners = 0;
    const signal = caller.signal;
    const add = signal.addEventListener.bind(signal);
    const remove = signal.removeEventListener.bind(signal);
    signal.addEventListener = ((...args: Parameters<typeof add>) => {
      listeners += 1;
      add(...args);
    }) as typeof add;
    signal.removeEventListener = ((...args: Parameters<typeof remove>) => {
      listeners -= 1;
      remove(...args);
    }) as typeof remove;
    const scope = new CallScope({ deadlineMs: 10, callerSignal: signal, buffers: new BufferBudget(1), now: Date.now });
    expect(listeners).toBe(1);
    scope.dispose();
    expect(listeners).toBe(0);
    caller.abort();
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(scope.signal.aborted).toBe(false);
    expect(scope.stopped).toBeUndefined();
  });
});

describe('answer bytes across requests', () => {
  it('refuses a reservation past the cap with 503 overloaded and Retry-After, taking nothing', () => {
    const budget = new BufferBudget(100);
    const a = new CallScope({ deadlineMs: 60_000, buffers: budget, now: Date.now });
    const b = new CallScope({ deadlineMs: 60_000, buffers: budget, now: Date.now });
    a.reserve(60);
    b.reserve(30);
    expect(() => b.reserve(20)).toThrow(expect.objectContaining({ status: 503, code: 'overloaded', retryAfterSeconds: 1 }));
    expect(budget.reservedBytes).toBe(90);
    a.dispose();
    expect(budget.reservedBytes).toBe(30);
    b.reserve(70);
    b.dispose();
    b.dispose();
    expect(budget.reservedBytes).toBe(0);
  });

  it('gives back the bytes of an answer that could not be read whole at once, not when its request ends', async () => {
    const budget = new BufferBudget(100);
    const other = new CallScope({ deadlineMs: 60_000, buffers: budget, now: Date.now });
    const scope = new CallScope({ deadlineMs: 60_000, buffers: budget, now: Date.now });
    other.reserve(50);
    const chunks = [new Uint8Array(40), new Uint8Array(40)];
    const answer = {
      response: {
        status: 200,
        headers: {},
        body: new ReadableStream<Uint8Array>({
          pull: (controller) => (chunks.length ? controller.enqueue(chunks.shift()!) : controller.close()),
        }),
      },
    } as unknown as Answer;
    await expect(readWhole(answer, 1_000, scope)).rejects.toMatchObject({ code: 'overloaded' });
    // Its request still runs (recording its usage, say): only the other request's bytes stay reserved.
    expect(budget.reservedBytes).toBe(50);
    scope.dispose();
    other.dispose();
    expect(budget.reservedBytes).toBe(0);
  });
});
