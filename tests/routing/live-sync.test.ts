import { CosmosClient, type Container } from '@azure/cosmos';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startEmbeddedCosmos, type EmbeddedCosmos } from '../../local/embedded-cosmos.js';
import { deploymentSchema, type Deployment } from '../../shared/catalog/schemas.js';
import { silentLogger } from '../../shared/log.js';
import { DeploymentHealth } from '../../shared/routing/deployment-health.js';
import { LiveSync } from '../../shared/routing/live-sync.js';
import { containerDefinitions, ensureContainers } from '../../shared/store/containers.js';
import { CosmosLiveStore } from '../../shared/store/cosmos-live.js';

const TTL_MS = 10_000;
const managed = deploymentSchema.parse({
  id: 'm',
  kind: 'managed',
  protocol: 'openai',
  endpoint: 'https://m.openai.azure.com',
  upstreamModel: 'm',
  auth: { type: 'none' },
  pricing: { hourlyUsd: 1, instances: 1 },
  capacity: { maxConcurrent: 6 },
});
const serverless = deploymentSchema.parse({
  ...managed,
  id: 's',
  kind: 'serverless',
  pricing: { inputPerMillionUsd: 1, outputPerMillionUsd: 1 },
  capacity: undefined,
});

let cosmos: EmbeddedCosmos;
let client: CosmosClient;
let container: Container;
let round = 0;

beforeAll(async () => {
  cosmos = await startEmbeddedCosmos({});
  client = new CosmosClient(cosmos.connectionOptions());
});
afterAll(async () => {
  client?.dispose();
  await cosmos?.stop();
});
beforeEach(async () => {
  // A database per test: each starts from no live state.
  round += 1;
  container = (await ensureContainers(client, `live-sync-${round}`)).container(containerDefinitions.live.id);
});

/** An instance with its own clock (they need not agree) over the shared store. */
function instance(name: string, startMs: number, deployments: Deployment[] = [managed, serverless]) {
  const clock = { nowMs: startMs };
  const health = new DeploymentHealth(() => clock.nowMs, { leaseTtlMs: TTL_MS });
  const sync = new LiveSync(new CosmosLiveStore(container), health, () => deployments, {
    instance: name,
    syncMs: 1_000,
    leaseTtlMs: TTL_MS,
    now: () => clock.nowMs,
    log: silentLogger,
  });
  return { clock, health, sync };
}

const slotsOf = (...list: Array<ReturnType<typeof instance>>) => list.map((i) => i.health.lease('m')?.slots ?? 0);

describe('LiveSync on the embedded store', () => {
  it('gives a lone instance every slot on its first sync, and splits the standby slots when a second joins', async () => {
    const a = instance('a', 0);
    expect(a.health.tryBegin(managed)).toBeUndefined(); // no lease before the first sync
    await a.sync.syncNow();
    expect(slotsOf(a)).toEqual([6]);
    const b = instance('b', 5_000_000);
    for (let n = 0; n < 3; n++) {
      await b.sync.syncNow();
      await a.sync.syncNow();
    }
    expect(slotsOf(a, b)).toEqual([3, 3]);
  });

  it('moves slots to the instance that runs out, and never lets the two hold more than the capacity', async () => {
    const a = instance('a', 0);
    const b = instance('b', 0);
    await a.sync.syncNow();
    await b.sync.syncNow();
    const held: Array<() => void> = [];
    for (let tick = 0; tick < 8; tick++) {
      // a wants everything it can get; b is idle.
      for (let n = 0; n < 6; n++) {
        const release = a.health.tryBegin(managed);
        if (release) held.push(release);
      }
      for (const i of [a, b]) i.clock.nowMs += 500;
      // Concurrent syncs: one of them may lose the ETag race and retry on its next tick.
      await Promise.all([a.sync.syncNow(), b.sync.syncNow()]);
      expect(slotsOf(a, b).reduce((x, y) => x + y, 0)).toBeLessThanOrEqual(6);
      expect(a.health.localInFlight('m') + b.health.localInFlight('m')).toBeLessThanOrEqual(6);
    }
    expect(slotsOf(a, b)).toEqual([6, 0]);
    expect(a.health.localInFlight('m')).toBe(6);
    for (const release of held) release();
  });

  it('moves slots to an instance whose requests routing skipped as saturated before any attempt', async () => {
    const a = instance('a', 0);
    const b = instance('b', 0);
    for (let n = 0; n < 3; n++) {
      await a.sync.syncNow();
      await b.sync.syncNow();
    }
    const held = [a.health.tryBegin(managed)!, a.health.tryBegin(managed)!, a.health.tryBegin(managed)!];
    // What decideTargets does for every deployment routing skipped as full.
    a.health.noteSaturated('m');
    for (let n = 0; n < 3; n++) {
      await a.sync.syncNow();
      await b.sync.syncNow();
      a.health.noteSaturated('m');
    }
    await a.sync.syncNow();
    expect(slotsOf(a, b)).toEqual([6, 0]);
    for (const release of held) release();
  });

  it("drops an instance that stopped renewing after the lease TTL on the reader's clock, and takes its slots", async () => {
    const a = instance('a', 0);
    const b = instance('b', 0);
    for (let n = 0; n < 3; n++) {
      await a.sync.syncNow();
      await b.sync.syncNow();
    }
    expect(slotsOf(a, b)).toEqual([3, 3]);
    // b goes silent (its host froze): its own lease stops admitting once half the TTL passed without a renewal.
    b.clock.nowMs += TTL_MS / 2 + 1;
    expect(b.health.hasRoom('m', 6)).toBe(false);
    expect(b.health.tryBegin(managed)).toBeUndefined();
    // a still counts b until b's renewal counter has stood still for the TTL on a's clock.
    for (let s = 0; s < 9; s++) {
      a.clock.nowMs += 1_000;
      await a.sync.syncNow();
    }
    expect(slotsOf(a)).toEqual([3]);
    for (let s = 0; s < 3; s++) {
      a.clock.nowMs += 1_000;
      await a.sync.syncNow();
    }
    expect(slotsOf(a)).toEqual([6]);
    expect(a.health.report(managed)).toMatchObject({ instances: 1, slots: { self: 6 } });
  });

  it('gives the slots back at once when an instance stops', async () => {
    const a = instance('a', 0);
    const b = instance('b', 0);
    for (let n = 0; n < 3; n++) {
      await a.sync.syncNow();
      await b.sync.syncNow();
    }
    await b.sync.stop();
    await a.sync.syncNow();
    await a.sync.syncNow();
    expect(slotsOf(a)).toEqual([6]);
  });

  it("shows another instance's cool-down on this instance's clock, for what remained of it", async () => {
    const a = instance('a', 1_000);
    const b = instance('b', 7_000_000); // clocks far apart: only durations cross between instances
    a.health.failed('s', 5_000);
    await a.sync.syncNow();
    await b.sync.syncNow();
    expect(b.health.coolingUntilMs('s')).toBe(7_000_000 + 5_000);
    expect(b.health.report(serverless)).toMatchObject({
      state: 'cooling',
      cooldown: { remainingMs: 5_000, reason: 'Retry-After on another instance', askedMs: 5_000, appliedMs: 5_000 },
      requests: 1,
      errorRate: 1,
      instances: 2,
    });
    // Re-reading the same entry later does not push the end of the cool-down out.
    b.clock.nowMs += 2_000;
    await b.sync.syncNow();
    expect(b.health.coolingUntilMs('s')).toBe(7_000_000 + 5_000);
  });

  it('merges in flight and time to first token across instances', async () => {
    const a = instance('a', 0);
    const b = instance('b', 0);
    const ends = [a.health.tryBegin(serverless)!, a.health.tryBegin(serverless)!, b.health.tryBegin(serverless)!];
    a.health.recordFirstToken('s', 100);
    b.health.recordFirstToken('s', 400);
    await a.sync.syncNow();
    await b.sync.syncNow();
    await a.sync.syncNow();
    expect([a.health.inFlight('s'), b.health.inFlight('s')]).toEqual([3, 3]);
    expect(a.health.timeToFirstTokenMs('s')).toBe(250);
    const { ttftMs } = a.health.report(serverless);
    expect(ttftMs.p50).toBeGreaterThanOrEqual(84);
    expect(ttftMs.p50).toBeLessThanOrEqual(119);
    expect(ttftMs.p95).toBeGreaterThanOrEqual(336);
    expect(ttftMs.p95).toBeLessThanOrEqual(476);
    for (const end of ends) end();
  });
});
