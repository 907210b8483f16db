import { CosmosClient } from '@azure/cosmos';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOUR_MS } from '../../shared/allocation/allocate-hour.js';
import { closeManagedHours } from '../../shared/gateway/close-managed-hours.js';
import { reconcileMonth } from '../../shared/gateway/reconcile.js';
import { CosmosLedgerSink } from '../../shared/store/cosmos-ledger.js';
import type { UsageRecord } from '../../shared/usage/usage-record.js';
import { DEMO_KEY, putRoute, startTestGateway, type TestGateway, today } from './harness.js';

let gw: TestGateway;
let client: CosmosClient;
const month = today().slice(0, 7);
/** The clock an hour ahead: the hour of this test's traffic is closed. */
const later = () => ({ ...gw.services.deps, now: () => gw.services.deps.now() + HOUR_MS });

beforeAll(async () => {
  gw = await startTestGateway();
  await putRoute(gw, 'managed-chat', ['sim-llama-managed']);
  for (let i = 0; i < 3; i++) {
    await gw.openai.chat.completions.create({ model: 'managed-chat', messages: [{ role: 'user', content: `hi ${i}` }], max_tokens: 8 });
    await gw.openai.embeddings.create({ model: 'embed', input: `text ${i}` });
  }
  for (let attempt = 0; attempt < 100; attempt++) {
    await gw.flushUsage();
    const rows = await gw.services.deps.readRollups({ from: today(), to: today(), team: 'demo' });
    if (rows.reduce((sum, row) => sum + row.requests, 0) === 6) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await closeManagedHours(later());
  client = new CosmosClient(gw.store!.connectionOptions());
});
afterAll(async () => {
  client?.dispose();
  await gw?.close();
});

describe('reconcile the ledger against its raw records', () => {
  it('finds nothing to report in the normal state', async () => {
    const report = await reconcileMonth(later(), month);
    expect(report.rollups.records).toBe(6);
    expect(report.allocations.hours).toBeGreaterThanOrEqual(1);
    expect(report.differences).toBe(0);
    const response = await gw.call(`/usage/reconcile?month=${month}`, { method: 'POST' });
    expect(response.status).toBe(200);
    expect((await response.json()).differences).toBe(0);
    expect((await gw.call(`/usage/reconcile?month=${month}`, { method: 'POST', key: DEMO_KEY })).status).toBe(403);
    expect((await gw.call('/usage/reconcile?month=May', { method: 'POST' })).status).toBe(400);
  });

  it('reports a tampered rollup and a record that arrived after its rollup and its hour were closed', async () => {
    const database = client.database(gw.config.cosmos.database);
    const rollups = database.container('rollups');
    const { resources } = await rollups.items.query({ query: 'SELECT * FROM c WHERE c.type = "rollup" AND c.alias = "embed"' }).fetchAll();
    const embed = resources[0]!;
    await rollups.item(embed.id, [embed.team, embed.day]).patch([{ op: 'incr', path: '/inputTokens', value: 5 }]);

    // At the time of the managed traffic, so it lands in the hour already closed.
    const { resources: served } = await database
      .container('usage')
      .items.query<UsageRecord>({ query: 'SELECT * FROM c WHERE c.alias = "managed-chat"' })
      .fetchAll();
    const ts = served[0]!.ts;
    const late: UsageRecord = {
      id: 'late-record',
      requestId: 'late',
      team: 'demo',
      day: ts.slice(0, 10),
      ts,
      alias: 'managed-chat',
      deployment: 'sim-llama-managed',
      kind: 'managed',
      operation: 'chat',
      status: 'ok',
      httpStatus: 200,
      inputTokens: 40,
      outputTokens: 2,
      cachedInputTokens: 0,
      reasoningTokens: 0,
      estimated: false,
      costMicroUsd: 0,
      costRemainderPicoUsd: 0,
      stream: false,
      latencyMs: 1_000,
      ttfbMs: 10,
      attempts: 1,
    };
    await new CosmosLedgerSink(database.container('usage'), rollups).writeRecords([late]);

    const report = await reconcileMonth(later(), month);
    const rollupDiffs = report.rollups.differences.map((d) => [d.alias, d.field, d.stored, d.recomputed]);
    expect(rollupDiffs).toContainEqual(['embed', 'inputTokens', embed.inputTokens + 5, embed.inputTokens]);
    expect(rollupDiffs).toContainEqual(['managed-chat', 'requests', 3, 4]);
    const managedInput = report.rollups.differences.find((d) => d.alias === 'managed-chat' && d.field === 'inputTokens')!;
    expect(Number(managedInput.recomputed) - Number(managedInput.stored)).toBe(40);
    expect(report.allocations.differences).toEqual([
      expect.objectContaining({ deployment: 'sim-llama-managed', hour: `${ts.slice(0, 13)}:00:00.000Z`, kind: 'lines' }),
    ]);
    expect(report.differences).toBe(report.rollups.differences.length + 1);

    // Asked to, reconcile rewrites the differing hour from the records (as the timer would): the allocation
    // difference is gone, the rollup ones stay reported.
    const repaired = await reconcileMonth(later(), month, { repairAllocations: true });
    expect(repaired.allocations.repaired).toBe(1);
    const after = await reconcileMonth(later(), month);
    expect(after.allocations.differences).toEqual([]);
    expect(after.rollups.differences.length).toBe(report.rollups.differences.length);
    expect((await closeManagedHours(later())).hoursWritten).toBe(0);
    expect((await gw.call(`/usage/reconcile?month=${month}&repair=rollups`, { method: 'POST' })).status).toBe(400);
  });
});
