import { describe, expect, it } from 'vitest';
import { Ledger, type LedgerSink, type RollupDelta } from '../../shared/usage/ledger.js';
import type { UsageRecord } from '../../shared/usage/usage-record.js';

const record = (id: string): UsageRecord => ({
  id,
  requestId: id,
  team: 'demo',
  day: '2026-01-02',
  ts: '2026-01-02T00:00:00.000Z',
  alias: 'chat',
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
  costRemainderPicoUsd: 0,
  stream: false,
  latencyMs: 1,
  ttfbMs: 1,
  attempts: 1,
});

/** A sink in memory; `down` makes every write fail, as an unreachable store does. */
function memorySink(onWrite: () => void = () => undefined) {
  const written: UsageRecord[] = [];
  const applied: RollupDelta[] = [];
  const state = { down: false, writes: 0 };
  const sink: LedgerSink = {
    async writeRecords(records) {
      state.writes += 1;
      onWrite();
      if (state.down) throw new Error('store unreachable');
      written.push(...records);
    },
    async applyRollup(_writer, delta) {
      if (state.down) throw new Error('store unreachable');
      applied.push(delta);
    },
  };
  return { sink, written, applied, state };
}

describe('Ledger.close', () => {
  it('writes what is buffered and returns once the store has it', async () => {
    const { sink, written, applied } = memorySink();
    const ledger = new Ledger(sink, 'w1', { flushIntervalMs: 60_000, now: () => 0 });
    ledger.record(record('a'));
    ledger.record(record('b'));
    await ledger.close(1_000);
    expect(written.map((r) => r.id)).toEqual(['a', 'b']);
    expect(applied).toHaveLength(1);
    expect(applied[0]!.counters).toMatchObject({ requests: 2, inputTokens: 6, outputTokens: 8, costMicroUsd: 14 });
    expect(ledger.stats).toEqual({ bufferedRecords: 0, pendingRollups: 0, droppedRecords: 0 });
  });

  it('gives up when its deadline passes on the clock it is given, saying what it leaves unwritten', async () => {
    // Each failed write takes 400 ms on the ledger's clock: a 1 s deadline allows exactly three attempts.
    let nowMs = 0;
    const { sink, state } = memorySink(() => {
      nowMs += 400;
    });
    state.down = true;
    const logged: string[] = [];
    const ledger = new Ledger(sink, 'w1', { flushIntervalMs: 60_000, now: () => nowMs, log: (message) => logged.push(message) });
    ledger.record(record('a'));
    await ledger.close(1_000);
    expect(state.writes).toBe(3);
    // A record joins a rollup delta only once the store has it, so nothing is summed yet.
    expect(logged.at(-1)).toBe('ledger: shutting down with 1 records and 0 rollup deltas unwritten');
    expect(ledger.stats.bufferedRecords).toBe(1);
  });
});
