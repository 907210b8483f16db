import { describe, expect, it } from 'vitest';
import { Ledger, type LedgerSink, type RollupDelta } from '../../shared/usage/ledger.js';
import type { UsageRecord } from '../../shared/usage/usage-record.js';

const record = (id: string, alias = 'chat'): UsageRecord => ({
  id,
  requestId: id,
  team: 'demo',
  day: '2026-01-02',
  ts: '2026-01-02T00:00:00.000Z',
  alias,
  deployment: 'sim',
  kind: 'serverless',
  operation: 'chat',
  status: 'ok',
  httpStatus: 200,
  inputTokens: 3,
  outputTokens: 4,
  cachedInputTokens: 0,
  reasoningTokens: 0,
  estimated: false,
  costMicroUsd: 7,
  costRemainderPicoUsd: 5,
  stream: false,
  latencyMs: 1,
  ttfbMs: 1,
  attempts: 1,
});

/** A sink whose writes complete only when the test lets them (or fail while `down`). */
function gatedSink() {
  const writes: UsageRecord[][] = [];
  const applied: RollupDelta[] = [];
  const gates: Array<() => void> = [];
  const state = { down: false, gated: true };
  const sink: LedgerSink = {
    async writeRecords(records) {
      writes.push(records);
      if (state.gated) await new Promise<void>((resolve) => gates.push(resolve));
      if (state.down) throw new Error('store unreachable');
    },
    async applyRollup(_writer, delta) {
      if (state.down) throw new Error('store unreachable');
      applied.push(delta);
    },
  };
  const openGate = async () => {
    while (gates.length === 0) await new Promise((resolve) => setImmediate(resolve));
    gates.shift()!();
  };
  return { sink, writes, applied, state, openGate };
}

const settledOf = (promise: Promise<void>) => {
  const state = { settled: false };
  void promise.then(() => (state.settled = true));
  return state;
};
const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('Ledger durability (group commit)', () => {
  it('acknowledges a record only once the store has it', async () => {
    const { sink, writes, openGate } = gatedSink();
    const ledger = new Ledger(sink, 'w1', { flushIntervalMs: 60_000, now: () => 0 });
    const acknowledged = settledOf(ledger.record(record('a')));
    await turn();
    await turn();
    expect(writes.map((w) => w.map((r) => r.id))).toEqual([['a']]);
    expect(acknowledged.settled).toBe(false);
    await openGate();
    await turn();
    expect(acknowledged.settled).toBe(true);
  });

  it('writes what arrives during one bulk write together in the next, one write at a time', async () => {
    const { sink, writes, openGate } = gatedSink();
    const ledger = new Ledger(sink, 'w1', { flushIntervalMs: 60_000, now: () => 0 });
    const first = Array.from({ length: 50 }, (_, i) => ledger.record(record(`a${i}`)));
    await turn();
    const second = Array.from({ length: 30 }, (_, i) => ledger.record(record(`b${i}`)));
    await turn();
    expect(writes.map((w) => w.length)).toEqual([50]);
    await openGate();
    await Promise.all(first);
    await openGate();
    await Promise.all(second);
    expect(writes.map((w) => w.length)).toEqual([50, 30]);
    expect(ledger.writes).toEqual({ batches: 2, records: 80 });
  });

  it('writes a record that arrives as the previous write lets go, without waiting for the timer', async () => {
    const { sink, writes, state } = gatedSink();
    state.gated = false;
    const ledger = new Ledger(sink, 'w1', { flushIntervalMs: 60_000, now: () => 0, durableWaitMs: 60_000 });
    // Each writer records again as soon as its record is acknowledged, as a request loop does.
    await Promise.all(
      [0, 1, 2, 3].map(async (w) => {
        for (let i = 0; i < 5; i++) await ledger.record(record(`w${w}-${i}`));
      }),
    );
    expect(writes.flat()).toHaveLength(20);
  });

  it('stamps each record with its writer and the seq of the rollup delta that sums it', async () => {
    const { sink, writes, applied, state } = gatedSink();
    state.gated = false;
    const ledger = new Ledger(sink, 'w-stamp', { flushIntervalMs: 60_000, now: () => 0 });
    await Promise.all([ledger.record(record('a')), ledger.record(record('b', 'embed'))]);
    await ledger.flush();
    await Promise.all([ledger.record(record('c'))]);
    await ledger.flush();
    expect(writes.flat().map((r) => [r.id, r.writer, r.rollupSeq])).toEqual([
      ['a', 'w-stamp', 1],
      ['b', 'w-stamp', 1],
      ['c', 'w-stamp', 2],
    ]);
    expect(applied.map((d) => [d.key.alias, d.seq, d.counters.requests, d.counters.costRemainderPicoUsd])).toEqual([
      ['chat', 1, 1, 5],
      ['embed', 1, 1, 5],
      ['chat', 2, 1, 5],
    ]);
  });

  it('registers before its first record, reports each seq applied, and registers again after a long pause', async () => {
    const { sink, writes, state } = gatedSink();
    state.gated = false;
    const progress: string[] = [];
    sink.recordProgress = async (writer, appliedThrough, atMs) => {
      progress.push(`${writer}:${appliedThrough}@${atMs} after ${writes.length} writes`);
    };
    let nowMs = 1_000;
    const ledger = new Ledger(sink, 'w-reg', { flushIntervalMs: 60_000, now: () => nowMs, registerEveryMs: 600_000 });
    await ledger.record(record('a'));
    await ledger.flush();
    nowMs += 300_000;
    await ledger.record(record('b')); // within the interval: no registration before it
    nowMs += 600_000;
    await ledger.record(record('c')); // 10 min after the last report: registered again first
    expect(progress).toEqual(['w-reg:0@1000 after 0 writes', 'w-reg:1@1000 after 1 writes', 'w-reg:1@901000 after 2 writes']);
  });

  it("reports each seq applied while newer ones wait, so a sweep never re-reads a busy writer's records", async () => {
    const { sink, state } = gatedSink();
    state.gated = false;
    const progress: number[] = [];
    sink.recordProgress = async (_writer, appliedThrough) => {
      progress.push(appliedThrough);
    };
    const ledger = new Ledger(sink, 'w-busy', { flushIntervalMs: 60_000, now: () => 0 });
    const applyRollup = sink.applyRollup.bind(sink);
    let next: Promise<void> | undefined;
    // Requests keep coming: while seq 1's embeddings delta is applied, a chat record arrives and seq 2 is sealed.
    sink.applyRollup = async (writer, delta) => {
      if (delta.key.alias === 'embed' && delta.seq === 1) {
        await ledger.record(record('c', 'chat'));
        next = ledger.flush();
      }
      await applyRollup(writer, delta);
    };
    await Promise.all([ledger.record(record('a', 'chat')), ledger.record(record('b', 'embed'))]);
    await ledger.flush();
    // Seq 1 is applied for every key while seq 2 waits: reported then, not only once the writer falls idle.
    expect(progress).toEqual([0, 1]);
    await next;
    expect(progress).toEqual([0, 1, 2]);
  });

  it('never closes a seq while a bulk write of it is in flight', async () => {
    const { sink, writes, applied, openGate } = gatedSink();
    const ledger = new Ledger(sink, 'w-seal', { flushIntervalMs: 60_000, now: () => 0 });
    const a = ledger.record(record('a'));
    await turn();
    // A flush asks for the seq to close while 'a' is still being written: it closes after, with 'a' in it.
    const flushed = ledger.flush();
    await openGate();
    await a;
    await flushed;
    const b = ledger.record(record('b'));
    await openGate();
    await b;
    expect(writes.flat().map((r) => r.rollupSeq)).toEqual([1, 2]);
    expect(applied.map((d) => [d.seq, d.counters.requests])).toEqual([[1, 1]]);
  });

  it('answers at once while the store is unreachable, holds the records, and writes them once it is back', async () => {
    const { sink, writes, state, openGate } = gatedSink();
    state.down = true;
    const ledger = new Ledger(sink, 'w-down', { flushIntervalMs: 60_000, now: () => 0, durableWaitMs: 60_000 });
    const first = ledger.record(record('a'));
    await openGate();
    await first; // acknowledged by the failure, not the 60 s wait
    await ledger.record(record('b')); // the ledger knows the store is down: no wait at all
    expect(ledger.stats.bufferedRecords).toBe(2);
    state.down = false;
    state.gated = false;
    await ledger.flush();
    // The failed batch is retried as it was (same records, same seq) before anything that came after it.
    expect(writes.map((w) => w.map((r) => `${r.id}@${r.rollupSeq}`))).toEqual([['a@1'], ['a@1'], ['b@1']]);
    expect(ledger.stats).toEqual({ bufferedRecords: 0, pendingRollups: 0, droppedRecords: 0 });
  });

  it('answers after durableWaitMs when a write hangs, keeping the record for the write in flight', async () => {
    const { sink } = gatedSink();
    const ledger = new Ledger(sink, 'w-slow', { flushIntervalMs: 60_000, now: () => 0, durableWaitMs: 20 });
    await ledger.record(record('a'));
    expect(ledger.stats.bufferedRecords).toBe(1);
  });
});
