import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CosmosClient } from '@azure/cosmos';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedCosmos, type EmbeddedCosmos } from '../../local/embedded-cosmos.js';
import { HOUR_MS, UNALLOCATED_TEAM } from '../../shared/allocation/allocate-hour.js';
import { allocateManagedCompute } from '../../shared/allocation/close-hours.js';
import { allocatedPicoUsd, allocationRows } from '../../shared/allocation/hour-document.js';
import { containerDefinitions, ensureContainers } from '../../shared/store/containers.js';
import { CosmosAllocationStore } from '../../shared/store/cosmos-allocations.js';
import { CosmosLedgerSink } from '../../shared/store/cosmos-ledger.js';
import { costPicoUsd } from '../../shared/usage/pricing.js';
import type { UsageRecord } from '../../shared/usage/usage-record.js';
import { buildUsageReport } from '../../shared/usage/usage-report.js';

let cosmos: EmbeddedCosmos;
let client: CosmosClient;
let dataDir: string;
let sink: CosmosLedgerSink;
let store: CosmosAllocationStore;

const FEB = Date.parse('2026-02-01T00:00:00.000Z');
const MAR = Date.parse('2026-03-01T00:00:00.000Z');
const HOURS = (MAR - FEB) / HOUR_MS;
const deployment = {
  id: 'llama-managed',
  kind: 'managed' as const,
  pricing: { hourlyUsd: 3.673, instances: 2 },
  capacity: { maxConcurrent: 4 },
};
const HOUR_PICO = 7_346_000_000_000n;

let seq = 0;
function record(team: string, alias: string, atMs: number, tokens: number, latencyMs: number): UsageRecord {
  seq += 1;
  const ts = new Date(atMs).toISOString();
  return {
    id: `r${seq}`,
    requestId: `q${seq}`,
    team,
    day: ts.slice(0, 10),
    ts,
    alias,
    deployment: deployment.id,
    kind: 'managed',
    operation: 'chat',
    status: 'ok',
    httpStatus: 200,
    inputTokens: tokens,
    outputTokens: tokens,
    cachedInputTokens: 0,
    reasoningTokens: 0,
    estimated: false,
    costMicroUsd: 0,
    costRemainderPicoUsd: 0,
    stream: false,
    latencyMs,
    ttfbMs: 0,
    attempts: 1,
  };
}

const options = (overrides = {}) => ({
  basis: 'tokens' as const,
  fromMs: FEB,
  toMs: MAR,
  nowMs: MAR + 10 * 60_000,
  firstVersionAtMs: async () => FEB,
  ...overrides,
});

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'sy-alloc-'));
  cosmos = await startEmbeddedCosmos({ dataDir });
  client = new CosmosClient(cosmos.connectionOptions());
  const database = await ensureContainers(client, 'allocation-test');
  const usage = database.container(containerDefinitions.usage.id);
  sink = new CosmosLedgerSink(usage, database.container(containerDefinitions.rollups.id));
  store = new CosmosAllocationStore(usage, database.container(containerDefinitions.allocations.id));
  // Hour 10 of Feb 3: search 3× the tokens of ads, the deployment busy 1 of its 4 slot-hours (25%).
  const h = FEB + (2 * 24 + 10) * HOUR_MS;
  await sink.writeRecords([
    record('search', 'chat', h + 60_000, 300, HOUR_MS / 8),
    record('ads', 'chat', h + 120_000, 100, HOUR_MS / 8),
    record('search', 'chat', h + 180_000, 300, HOUR_MS / 2),
    // Another deployment's traffic and the next month's are not this month's.
    { ...record('ads', 'chat', h, 1000, HOUR_MS), deployment: 'other' },
    record('ads', 'chat', MAR + 1000, 1000, HOUR_MS),
  ]);
});
afterAll(async () => {
  client?.dispose();
  await cosmos?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

describe('hourly allocation of a synthetic month', () => {
  it('charges every hour of February exactly: Σ lines + unallocated = hours × hourlyUsd × instances', async () => {
    const result = await allocateManagedCompute(store, [deployment], options());
    expect(result).toEqual({ deployments: 1, hoursWritten: HOURS, hoursUnchanged: 0 });
    const hours = await store.readHours({ fromIso: new Date(FEB).toISOString(), toIso: new Date(MAR).toISOString() });
    expect(hours).toHaveLength(HOURS);
    let total = 0n;
    for (const hour of hours) {
      expect(allocatedPicoUsd(hour)).toBe(HOUR_PICO);
      total += allocatedPicoUsd(hour);
    }
    expect(total).toBe(BigInt(HOURS) * HOUR_PICO);

    const busy = hours.find((hour) => hour.lines.length > 0)!;
    expect(busy.hour).toBe('2026-02-03T10:00:00.000Z');
    expect(busy.utilisation).toBe(0.1875);
    // 18.75% of $7.346 = $1.377375, split 600:100 by tokens (search 1200, ads 200).
    expect(busy.lines.map((line) => [line.team, costPicoUsd(line)])).toEqual([
      ['ads', 196_767_857_143n],
      ['search', 1_180_607_142_857n],
    ]);

    const report = buildUsageReport({ from: '2026-02-01', to: '2026-02-28', groupBy: ['team'], format: 'json' }, allocationRows(hours));
    expect(report.rows.map((row) => [row.team, row.managedAllocatedUsd])).toEqual([
      ['ads', 0.196768],
      ['search', 1.180607],
      [UNALLOCATED_TEAM, 4935.134625],
    ]);
    expect(report.totals.costUsdExact).toBe('4936.512000000000');
    expect(report.totals.managedAllocatedUsd).toBe(4936.512);
  });

  it('a second run writes nothing; a late record re-opens its hour only', async () => {
    expect(await allocateManagedCompute(store, [deployment], options())).toMatchObject({ hoursWritten: 0, hoursUnchanged: HOURS });
    // A capacity changed since, or another basis, applies to hours not yet allocated only.
    const resized = { ...deployment, capacity: { maxConcurrent: 8 } };
    expect(await allocateManagedCompute(store, [resized], options({ basis: 'requests' }))).toMatchObject({ hoursWritten: 0 });
    const late = FEB + 100 * HOUR_MS + 5_000;
    await sink.writeRecords([record('ads', 'embed', late, 50, 1_000)]);
    expect(await allocateManagedCompute(store, [deployment], options())).toMatchObject({ hoursWritten: 1, hoursUnchanged: HOURS - 1 });
    const [hour] = await store.readHours({
      fromIso: new Date(FEB + 100 * HOUR_MS).toISOString(),
      toIso: new Date(FEB + 101 * HOUR_MS).toISOString(),
    });
    expect(hour!.lines.map((line) => [line.team, line.alias, line.requests])).toEqual([['ads', 'embed', 1]]);
    expect(costPicoUsd(hour!.lines[0]!) > 0n).toBe(true);
    expect(allocatedPicoUsd(hour!)).toBe(HOUR_PICO);
  });

  it('each hour is priced by the price book at its start: a change from March leaves February as charged', async () => {
    const repriced = {
      ...deployment,
      pricing: { hourlyUsd: 10, instances: 1, effectiveFrom: new Date(MAR).toISOString() },
      priceHistory: [deployment.pricing],
    };
    const late = FEB + 200 * HOUR_MS;
    await sink.writeRecords([record('ads', 'chat', late, 10, 1_000)]);
    await allocateManagedCompute(store, [repriced], options());
    const [hour] = await store.readHours({ fromIso: new Date(late).toISOString(), toIso: new Date(late + HOUR_MS).toISOString() });
    expect(hour!.hourlyUsd).toBe(3.673);
    expect(allocatedPicoUsd(hour!)).toBe(HOUR_PICO);
    const april = await allocateManagedCompute(store, [repriced], options({ fromMs: MAR, toMs: MAR + HOUR_MS, nowMs: MAR + 2 * HOUR_MS }));
    expect(april.hoursWritten).toBe(1);
    const [march] = await store.readHours({ fromIso: new Date(MAR).toISOString(), toIso: new Date(MAR + HOUR_MS).toISOString() });
    expect(march!.hourlyUsd).toBe(10);
    expect(allocatedPicoUsd(march!)).toBe(10_000_000_000_000n);
  });

  it('charges a deployment from the hour it was first known, not before', async () => {
    const young = { ...deployment, id: 'young' };
    const result = await allocateManagedCompute(store, [young], options({ firstVersionAtMs: async () => MAR - 3 * HOUR_MS + 1 }));
    expect(result.hoursWritten).toBe(3);
  });
});
