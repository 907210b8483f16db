import { describe, expect, it } from 'vitest';
import { Ledger, type LedgerSink, type RollupDelta } from '../../shared/usage/ledger.js';
import type { UsageRecord } from '../../shared/usage/usage-record.js';

// What the ledger keeps, drops and counts when the store stays down past its buffer, and what it writes once the
// store is back. (tests/store/cosmos-ledger.test.ts checks the same bound against the Cosmos adapter's sink.)

const record = (id: string, outputTokens = 1): UsageRecord => ({
  id,
  requestId: id,
  team: 'overflow',
  day: '2026-02-03',
  ts: '2026-02-03T00:00:00.000Z',
  alias: 'chat',
  deployment: 'sim',
  kind: 'serverless',
  operation: 'chat',
  status: 'ok',
  httpStatus: 200,
  inputTokens: 2,
  outputTokens,
  cachedInputTokens: 0,
  reasoningTokens: 0,
  estimated: false,
  costMicroUsd: 3,
  costRemainderPicoUsd: 0,
  stream: false,
  latencyMs: 1,
  ttfbMs: 1,
  attempts: 1,
});

/** An in-memory store that can be taken down and brought back. */
function switchableSink() {
  const written: UsageRecord[] = [];
  const applied: RollupDelta[] = [];
  const state = { down: true };
  const sink: LedgerSink = {
    async writeRecords(records) {
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

describe('Ledger buffer overflow', () => {
  it('drops records past maxBufferedRecords while the store is down, counts and reports them, and writes exactly the rest', async () => {
    const { sink, written, applied, state } = switchableSink();
    const logged: string[] = [];
    const ledger = new Ledger(sink, 'w-overflow', {
      flushIntervalMs: 60_000,
      now: () => 0,
      maxBufferedRecords: 5,
      log: (message) => logged.push(message),
    });

    for (let i = 0; i < 5; i++) ledger.record(record(`kept-${i}`, 10));
    await expect(ledger.flush()).rejects.toThrow('store unreachable');
    for (let i = 0; i < 3; i++) ledger.record(record(`dropped-${i}`, 1000));
    expect(ledger.stats).toEqual({ bufferedRecords: 5, pendingRollups: 0, droppedRecords: 3 });
    // One line at the first drop, not one per record.
    expect(logged.filter((line) => line.includes('dropped'))).toEqual([
      'ledger: store unreachable and buffer full; 1 records dropped so far',
    ]);

    state.down = false;
    await ledger.flush();
    expect(written.map((r) => r.id)).toEqual(['kept-0', 'kept-1', 'kept-2', 'kept-3', 'kept-4']);
    // The rollups count what was kept, never what was dropped: records and rollups agree.
    const totals = applied.reduce(
      (sum, delta) => ({ requests: sum.requests + delta.counters.requests, outputTokens: sum.outputTokens + delta.counters.outputTokens }),
      { requests: 0, outputTokens: 0 },
    );
    expect(totals).toEqual({ requests: 5, outputTokens: 50 });
    // The count of drops stays, for whoever looks later; the room is free again.
    expect(ledger.stats).toEqual({ bufferedRecords: 0, pendingRollups: 0, droppedRecords: 3 });
    ledger.record(record('after'));
    await ledger.flush();
    expect(written.at(-1)!.id).toBe('after');
    expect(ledger.stats.droppedRecords).toBe(3);
  });

  it('reports again every thousand drops', () => {
    const { sink } = switchableSink();
    const logged: string[] = [];
    const ledger = new Ledger(sink, 'w-overflow-2', {
      flushIntervalMs: 60_000,
      now: () => 0,
      maxBufferedRecords: 1,
      log: (message) => logged.push(message),
    });
    for (let i = 0; i < 2_001; i++) ledger.record(record(`r-${i}`));
    expect(ledger.stats).toMatchObject({ bufferedRecords: 1, droppedRecords: 2_000 });
    expect(logged).toEqual([
      'ledger: store unreachable and buffer full; 1 records dropped so far',
      'ledger: store unreachable and buffer full; 1000 records dropped so far',
      'ledger: store unreachable and buffer full; 2000 records dropped so far',
    ]);
  });
});
