import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CosmosClient } from '@azure/cosmos';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedCosmos, type EmbeddedCosmos } from '../../local/embedded-cosmos.js';
import { containerDefinitions, ensureContainers } from '../../shared/store/containers.js';
import { CosmosLedgerSink, readRollups } from '../../shared/store/cosmos-ledger.js';
import { Ledger, type LedgerSink } from '../../shared/usage/ledger.js';
import { sweepRollups, unappliedDeltas } from '../../shared/usage/rollup-sweep.js';
import type { UsageRecord } from '../../shared/usage/usage-record.js';

let cosmos: EmbeddedCosmos;
let client: CosmosClient;
let sink: CosmosLedgerSink;
let dataDir: string;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'sy-sweep-'));
  cosmos = await startEmbeddedCosmos({ dataDir });
  client = new CosmosClient(cosmos.connectionOptions());
  const database = await ensureContainers(client, 'sweep-test');
  sink = new CosmosLedgerSink(database.container(containerDefinitions.usage.id), database.container(containerDefinitions.rollups.id));
});
afterAll(async () => {
  client?.dispose();
  await cosmos?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

const T0 = Date.parse('2026-04-01T10:00:00.000Z');
let n = 0;
function record(team: string, overrides: Partial<UsageRecord> = {}): UsageRecord {
  n += 1;
  return {
    id: `sweep-${n}`,
    requestId: `req-${n}`,
    team,
    day: '2026-04-01',
    ts: new Date(T0).toISOString(),
    alias: 'chat',
    deployment: 'dep',
    kind: 'serverless',
    operation: 'chat',
    status: 'ok',
    httpStatus: 200,
    inputTokens: 10,
    outputTokens: 2,
    cachedInputTokens: 0,
    reasoningTokens: 0,
    estimated: false,
    costMicroUsd: 1,
    costRemainderPicoUsd: 250_000,
    stream: false,
    latencyMs: 5,
    ttfbMs: 5,
    attempts: 1,
    ...overrides,
  };
}

/** A sink that stores records but whose rollup writes fail while `stalled`: a process stopped between the two. */
function recordsOnly(state: { stalled: boolean }): LedgerSink {
  return {
    writeRecords: (records) => sink.writeRecords(records),
    applyRollup: (writer, delta) => (state.stalled ? Promise.reject(new Error('stalled')) : sink.applyRollup(writer, delta)),
    recordProgress: (writer, appliedThrough, atMs) => sink.recordProgress(writer, appliedThrough, atMs),
  };
}

const rollupsOf = (team: string) =>
  readRollups(client.database('sweep-test').container(containerDefinitions.rollups.id), { from: '2026-04-01', to: '2026-04-01', team });
const progressOf = async (writer: string) => (await sink.readWriters()).find((w) => w.writer === writer)?.appliedThrough;
const sweep = (nowMs: number, graceMs = 60_000) => sweepRollups(sink, sink, { now: () => nowMs, lookbackMs: 3_600_000, graceMs });

describe('sweepRollups on the embedded store', () => {
  it("completes the rollups of a writer that stopped after its records were stored, exactly once, and a late writer's own deltas add nothing", async () => {
    const state = { stalled: true };
    const lost = new Ledger(recordsOnly(state), 'w-killed', { flushIntervalMs: 60_000, now: () => T0 });
    // Two seqs: three records in the first, two in the second, the second across two aliases.
    await Promise.all([0, 1, 2].map(() => lost.record(record('killed'))));
    await lost.flush().catch(() => undefined);
    await Promise.all([lost.record(record('killed')), lost.record(record('killed', { alias: 'embed' }))]);
    await lost.flush().catch(() => undefined);
    expect(await rollupsOf('killed')).toEqual([]);
    // Registered before its first record: the sweep knows where to look.
    expect(await progressOf('w-killed')).toBe(0);

    // Within the grace of its last report the writer may be alive: nothing of it is read (the newest-seq rule for a
    // writer silent past it is unappliedDeltas', below).
    expect(await sweep(T0 + 1_000)).toEqual({ deltasApplied: 0 });
    expect(await rollupsOf('killed')).toEqual([]);
    expect(await sweep(T0 + 120_000)).toEqual({ deltasApplied: 3 });
    expect(await progressOf('w-killed')).toBe(2);
    expect(await sweep(T0 + 120_000)).toEqual({ deltasApplied: 0 });
    await sink.recordProgress('w-killed', 1, T0); // never lowered
    expect(await progressOf('w-killed')).toBe(2);
    const rows = await rollupsOf('killed');
    expect(rows.map((r) => [r.alias, r.requests, r.inputTokens, r.costMicroUsd, r.costRemainderPicoUsd]).sort()).toEqual([
      ['chat', 4, 40, 4, 1_000_000],
      ['embed', 1, 10, 1, 250_000],
    ]);

    // The writer was only slow: its own deltas (same seqs) find them applied.
    state.stalled = false;
    await lost.flush();
    expect((await rollupsOf('killed')).map((r) => r.requests).sort()).toEqual([1, 4]);
  });

  it('leaves alone what a live writer has applied, and records written before stamps', async () => {
    const live = new Ledger(sink, 'w-live', { flushIntervalMs: 60_000, now: () => T0 });
    await Promise.all([live.record(record('live')), live.record(record('live'))]);
    await live.flush();
    expect(await progressOf('w-live')).toBe(1);
    await sink.writeRecords([record('live')]); // written before records carried a writer and seq
    expect(await sweep(T0 + 120_000)).toEqual({ deltasApplied: 0 });
    expect((await rollupsOf('live')).map((r) => r.requests)).toEqual([2]);
  });
});

describe('writer registrations', () => {
  it('are forgotten once silent past the lookback with nothing left to roll up, unless renewed since they were read', async () => {
    await sink.recordProgress('w-idle', 0, T0);
    await sink.recordProgress('w-renewed', 0, T0);
    const hourLater = T0 + 3_600_001;
    const [renewed] = (await sink.readWriters()).filter((w) => w.writer === 'w-renewed');
    await sink.recordProgress('w-renewed', 0, hourLater); // registers again before writing after a pause
    await sink.forgetWriter(renewed!); // as read before: refused
    expect(await progressOf('w-renewed')).toBe(0);
    await sweep(hourLater);
    const writers = (await sink.readWriters()).map((w) => w.writer);
    expect(writers).not.toContain('w-idle');
    expect(writers).toContain('w-renewed');
  });
});

describe('unappliedDeltas', () => {
  const stamped = (rollupSeq: number, overrides: Partial<UsageRecord> = {}) => record('t', { writer: 'a', rollupSeq, ...overrides });

  it('sums per (rollup, seq) in seq order, past what the writer applied to each rollup', () => {
    const records = [stamped(2), stamped(1), stamped(2), stamped(1, { alias: 'embed' }), stamped(3)];
    const { deltas, completeThrough } = unappliedDeltas(records, (key) => (key.alias === 'chat' ? 1 : 0), {
      nowMs: T0 + 120_000,
      graceMs: 60_000,
    });
    expect(deltas.map((d) => [d.key.alias, d.seq, d.counters.requests])).toEqual([
      ['embed', 1, 1],
      ['chat', 2, 2],
      ['chat', 3, 1],
    ]);
    expect(completeThrough).toBe(3);
  });

  it('holds back the newest seq until its newest record is older than the grace', () => {
    const records = [stamped(1), stamped(2, { latencyMs: 50_000 })];
    const at = (nowMs: number) => unappliedDeltas(records, () => 0, { nowMs, graceMs: 60_000 });
    expect(at(T0 + 100_000).deltas.map((d) => d.seq)).toEqual([1]);
    expect(at(T0 + 100_000).completeThrough).toBe(1);
    expect(at(T0 + 110_000).deltas.map((d) => d.seq)).toEqual([1, 2]);
  });
});
