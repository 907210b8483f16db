import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CosmosClient } from '@azure/cosmos';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedCosmos, type EmbeddedCosmos } from '../../local/embedded-cosmos.js';
import { containerDefinitions, ensureContainers } from '../../shared/store/containers.js';
import { CosmosLedgerSink, readRollups } from '../../shared/store/cosmos-ledger.js';
import { Ledger, rollupId, type LedgerSink, type RollupDelta } from '../../shared/usage/ledger.js';
import type { UsageRecord } from '../../shared/usage/usage-record.js';

let cosmos: EmbeddedCosmos;
let client: CosmosClient;
let sink: CosmosLedgerSink;
let dataDir: string;

async function connect(): Promise<void> {
  client = new CosmosClient({
    ...cosmos.connectionOptions(),
    connectionPolicy: {
      requestTimeout: 2_000,
      retryOptions: { maxRetryAttemptCount: 0, fixedRetryIntervalInMilliseconds: 0, maxWaitTimeInSeconds: 1 },
    },
  });
  const database = await ensureContainers(client, 'ledger-test');
  sink = new CosmosLedgerSink(database.container(containerDefinitions.usage.id), database.container(containerDefinitions.rollups.id));
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'sy-ledger-'));
  cosmos = await startEmbeddedCosmos({ dataDir });
  await connect();
});
afterAll(async () => {
  client?.dispose();
  await cosmos?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

function record(overrides: Partial<UsageRecord> = {}): UsageRecord {
  return {
    id: `rec-${Math.random().toString(36).slice(2)}`,
    requestId: 'req',
    team: 'ledger',
    day: '2026-03-01',
    ts: '2026-03-01T00:00:00.000Z',
    alias: 'chat',
    deployment: 'dep',
    kind: 'serverless',
    operation: 'chat',
    status: 'ok',
    httpStatus: 200,
    inputTokens: 10,
    outputTokens: 4,
    cachedInputTokens: 0,
    reasoningTokens: 0,
    estimated: false,
    costMicroUsd: 3,
    costRemainderPicoUsd: 0,
    stream: false,
    latencyMs: 5,
    ttfbMs: 2,
    attempts: 1,
    ...overrides,
  };
}

const rollups = (team: string, day = '2026-03-01') =>
  readRollups(client.database('ledger-test').container('rollups'), { from: day, to: day, team });

describe('CosmosLedgerSink', () => {
  it('applies a rollup delta at most once per (writer, seq), even when it is sent again', async () => {
    const delta: RollupDelta = {
      key: { team: 'once', day: '2026-03-01', alias: 'chat', deployment: 'dep', kind: 'serverless' },
      counters: {
        requests: 2,
        inputTokens: 20,
        outputTokens: 8,
        cachedInputTokens: 12,
        reasoningTokens: 5,
        costMicroUsd: 6,
        costRemainderPicoUsd: 700_000,
        estimatedRequests: 0,
        failedRequests: 1,
      },
      seq: 1,
    };
    await sink.applyRollup('writer-a', delta);
    await sink.applyRollup('writer-a', delta); // a retry after an ambiguous failure
    await sink.applyRollup('writer-a', { ...delta, seq: 2 });
    await sink.applyRollup('writer-b', delta); // another instance's own seq 1
    const [row] = await rollups('once');
    expect(row).toMatchObject({
      requests: 6,
      inputTokens: 60,
      outputTokens: 24,
      cachedInputTokens: 36,
      reasoningTokens: 15,
      costMicroUsd: 18,
      costRemainderPicoUsd: 2_100_000,
      failedRequests: 3,
    });
  });

  it("keeps two teams' rollups of the same day, alias, deployment and kind apart, whatever order one writer sends them in", async () => {
    const counters = {
      requests: 1,
      inputTokens: 10,
      outputTokens: 1,
      cachedInputTokens: 0,
      reasoningTokens: 0,
      costMicroUsd: 1,
      costRemainderPicoUsd: 0,
      estimatedRequests: 0,
      failedRequests: 0,
    };
    const key = (team: string) => ({ team, day: '2026-03-02', alias: 'shared-alias', deployment: 'dep', kind: 'serverless' as const });
    // One writer's sequence numbers run across teams; team-b's retried seq 3 must not pass on team-a's older seq 2.
    await sink.applyRollup('writer-x', { key: key('team-a'), counters, seq: 2 });
    await sink.applyRollup('writer-x', { key: key('team-b'), counters, seq: 3 });
    await sink.applyRollup('writer-x', { key: key('team-b'), counters, seq: 3 }); // a retry
    await sink.applyRollup('writer-x', { key: key('team-a'), counters, seq: 4 });
    expect((await rollups('team-a', '2026-03-02')).map((r) => r.requests)).toEqual([2]);
    expect((await rollups('team-b', '2026-03-02')).map((r) => r.requests)).toEqual([1]);
  });

  it('adds cached and reasoning tokens to a rollup written before those counters existed', async () => {
    const key = { team: 'old-rollup', day: '2026-03-01', alias: 'legacy', deployment: 'dep', kind: 'serverless' as const };
    // A rollup as the ledger wrote it before: no cachedInputTokens, no reasoningTokens.
    await client
      .database('ledger-test')
      .container('rollups')
      .items.create({
        id: rollupId(key),
        type: 'rollup',
        ...key,
        requests: 3,
        inputTokens: 30,
        outputTokens: 9,
        costMicroUsd: 4,
        estimatedRequests: 0,
        failedRequests: 0,
        seq: { 'writer-old': 7 },
        updatedAt: '2026-03-01T00:00:00.000Z',
      });
    const counters = {
      requests: 1,
      inputTokens: 10,
      outputTokens: 4,
      cachedInputTokens: 6,
      reasoningTokens: 2,
      costMicroUsd: 1,
      costRemainderPicoUsd: 0,
      estimatedRequests: 0,
      failedRequests: 0,
    };
    await sink.applyRollup('writer-new', { key, counters, seq: 1 });
    await sink.applyRollup('writer-new', { key, counters, seq: 1 }); // retried: applied once
    await sink.applyRollup('writer-new', { key, counters: { ...counters, cachedInputTokens: 0, reasoningTokens: 1 }, seq: 2 });
    const [row] = await rollups('old-rollup');
    expect(row).toMatchObject({
      requests: 5,
      inputTokens: 50,
      outputTokens: 17,
      cachedInputTokens: 6,
      reasoningTokens: 3,
      costMicroUsd: 6,
    });
    // Written before exact cost: the remainder is created by the first increment that carries one.
    expect(row!.costRemainderPicoUsd ?? 0).toBe(0);
  });

  it('sums the cached and reasoning tokens of the records it rolls up', async () => {
    const ledger = new Ledger(sink, 'writer-details', { flushIntervalMs: 1_000, now: Date.now });
    ledger.record(record({ team: 'details', cachedInputTokens: 8, reasoningTokens: 3 }));
    ledger.record(record({ team: 'details', cachedInputTokens: 2, reasoningTokens: 0 }));
    ledger.record(record({ team: 'details' }));
    await ledger.flush();
    ledger.record(record({ team: 'details', cachedInputTokens: 5, reasoningTokens: 4 }));
    await ledger.flush();
    const [row] = await rollups('details');
    expect(row).toMatchObject({ requests: 4, inputTokens: 40, outputTokens: 16, cachedInputTokens: 15, reasoningTokens: 7 });
  });

  it('writes a record once, even when the write is repeated', async () => {
    const r = record({ team: 'idempotent' });
    await sink.writeRecords([r]);
    await sink.writeRecords([r]);
    const { resources } = await client
      .database('ledger-test')
      .container('usage')
      .items.query({ query: 'SELECT VALUE COUNT(1) FROM c WHERE c.team = "idempotent"' })
      .fetchAll();
    expect(resources[0]).toBe(1);
  });

  it('keeps separate rollups per day for the same team, alias and deployment', async () => {
    const ledger = new Ledger(sink, 'writer-days', { flushIntervalMs: 1_000, now: Date.now });
    ledger.record(record({ team: 'days', day: '2026-03-01' }));
    ledger.record(record({ team: 'days', day: '2026-03-02' }));
    ledger.record(record({ team: 'days', day: '2026-03-02' }));
    await ledger.flush();
    expect((await rollups('days', '2026-03-01'))[0]?.requests).toBe(1);
    expect((await rollups('days', '2026-03-02'))[0]?.requests).toBe(2);
  });
});

describe('Ledger memory', () => {
  it('holds no record, rollup delta or rollup queue once everything is written', async () => {
    const ledger = new Ledger(sink, 'writer-memory', { flushIntervalMs: 1_000, now: Date.now });
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 105; i++) ledger.record(record({ team: 'memory', alias: `alias-${i % 7}`, day: `2026-03-0${1 + (i % 3)}` }));
      expect(ledger.stats).toMatchObject({ bufferedRecords: 105, pendingRollups: 0 });
      await ledger.flush();
      expect(ledger.stats).toEqual({ bufferedRecords: 0, pendingRollups: 0, droppedRecords: 0 });
    }
    const rows = await readRollups(client.database('ledger-test').container('rollups'), {
      from: '2026-03-01',
      to: '2026-03-03',
      team: 'memory',
    });
    expect(rows.reduce((sum, row) => sum + row.requests, 0)).toBe(315);
  });

  it('bounds what it holds while the store is down, counting what it drops', async () => {
    const failing: LedgerSink = {
      writeRecords: () => Promise.reject(new Error('store down')),
      applyRollup: () => Promise.reject(new Error('store down')),
    };
    const ledger = new Ledger(failing, 'writer-bounded', { flushIntervalMs: 1_000, now: Date.now, maxBufferedRecords: 50 });
    for (let i = 0; i < 80; i++) ledger.record(record({ team: 'bounded' }));
    await expect(ledger.flush()).rejects.toThrow('store down');
    for (let i = 0; i < 10; i++) ledger.record(record({ team: 'bounded' }));
    expect(ledger.stats).toMatchObject({ bufferedRecords: 50, droppedRecords: 40 });
  });
});

describe('Ledger while the store is down', () => {
  it('holds records while Cosmos is unreachable and writes them, exactly, once it is back', async () => {
    // The store comes back with a new certificate, so the ledger reaches it through a new client.
    const throughCurrentClient: LedgerSink = {
      writeRecords: (records) => sink.writeRecords(records),
      applyRollup: (writer, delta) => sink.applyRollup(writer, delta),
    };
    const ledger = new Ledger(throughCurrentClient, 'writer-outage', { flushIntervalMs: 1_000, now: Date.now });
    const port = Number(new URL(cosmos.endpoint).port);
    ledger.record(record({ team: 'outage' }));
    await ledger.flush();
    await cosmos.stop();
    client.dispose();
    ledger.record(record({ team: 'outage', inputTokens: 100 }));
    ledger.record(record({ team: 'outage', inputTokens: 1000 }));
    await expect(ledger.flush()).rejects.toBeTruthy();
    expect(ledger.stats.bufferedRecords).toBe(2);

    cosmos = await startEmbeddedCosmos({ dataDir, port });
    await connect();
    await ledger.flush();
    expect(ledger.stats).toMatchObject({ bufferedRecords: 0, pendingRollups: 0 });
    const [row] = await rollups('outage');
    expect(row).toMatchObject({ requests: 3, inputTokens: 1110 });
  });
});
