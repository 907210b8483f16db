import { CosmosClient } from '@azure/cosmos';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedCosmos, type EmbeddedCosmos } from '../../local/embedded-cosmos.js';
import type { TeamBudget } from '../../shared/catalog/schemas.js';
import { createLogger } from '../../shared/log.js';
import { type BudgetHold, type Need, QuotaLeases } from '../../shared/limits/quota-leases.js';
import type { QuotaStore } from '../../shared/limits/quota-store.js';
import { containerDefinitions, ensureContainers } from '../../shared/store/containers.js';
import { CosmosQuotaStore } from '../../shared/store/cosmos-quotas.js';

// QuotaLeases over the real adapter on the embedded store: two instances, each its own client and instance id,
// a clock the test moves, flushes the test calls.
let cosmos: EmbeddedCosmos;
const clients: CosmosClient[] = [];
const STALE_MS = 60_000;
const FLUSH_MS = 1_000;
let now = Date.UTC(2026, 10, 30, 12, 0, 0);
const MONTH = '2026-11';
const WINDOW = '202611301200';
const quiet = createLogger(() => undefined);

/** The store calls an instance made, by kind: what the leases exist to save. */
type Calls = Record<'reserve' | 'settle' | 'take' | 'adjust', number>;

/** One instance's leases over the real adapter; `before` runs ahead of each reservation and take (a stalled store). */
async function instance(
  id: string,
  options: { before?: () => Promise<void>; storeWaitMs?: number } = {},
): Promise<{ store: CosmosQuotaStore; leases: QuotaLeases; calls: Calls }> {
  const before = options.before ?? (() => Promise.resolve());
  const client = new CosmosClient(cosmos.connectionOptions());
  clients.push(client);
  const database = await ensureContainers(client, 'quota-leases-test');
  const store = new CosmosQuotaStore(database.container(containerDefinitions.quotas.id), { instanceId: id, staleAfterMs: STALE_MS });
  const calls: Calls = { reserve: 0, settle: 0, take: 0, adjust: 0 };
  const counted: QuotaStore = {
    reserve: async (...a) => {
      calls.reserve++;
      await before();
      return store.reserve(...a);
    },
    settle: (...a) => {
      calls.settle++;
      return store.settle(...a);
    },
    take: async (...a) => {
      calls.take++;
      await before();
      return store.take(...a);
    },
    adjust: (...a) => {
      calls.adjust++;
      return store.adjust(...a);
    },
    mark: (...a) => store.mark(...a),
    read: (...a) => store.read(...a),
    sweep: (...a) => store.sweep(...a),
  };
  const leases = new QuotaLeases(counted, {
    sliceFraction: 0.01,
    flushMs: FLUSH_MS,
    touchMs: STALE_MS / 4,
    storeWaitMs: options.storeWaitMs ?? 60_000,
    now: () => now,
    log: quiet,
  });
  return { store, leases, calls };
}

const hard = (monthlyUsd: number): TeamBudget => ({ monthlyUsd, enforce: 'hard', alertAt: 0.8 });
/** A need whose bound is the exact amount. */
const exact = (amount: number): Need => ({ atMost: amount, exactly: () => amount });

beforeAll(async () => {
  cosmos = await startEmbeddedCosmos({});
});
afterAll(async () => {
  for (const client of clients) client.dispose();
  await cosmos?.stop();
});

describe('QuotaLeases budgets', () => {
  it('admits many requests on one slice reserved in the store, writes their spend at the flush, and gives an idle slice back', async () => {
    const { store, leases, calls } = await instance('ibusy');
    // $1,000 a month: a 1% slice is $10; each request holds at most $0.05 and costs $0.02.
    const holds: BudgetHold[] = [];
    for (let i = 0; i < 100; i++) holds.push((await leases.reserve('busy', MONTH, hard(1_000), exact(50_000)))!);
    expect(holds.every(Boolean)).toBe(true);
    expect(calls.reserve).toBe(1);
    expect(await store.read('busy', MONTH)).toMatchObject({ reservedMicroUsd: 10_000_000, spentMicroUsd: 0 });
    for (const hold of holds) hold.settle(20_000);
    // Still busy this tick: the spend is written, the slice kept.
    await leases.flush();
    expect(await store.read('busy', MONTH)).toMatchObject({ spentMicroUsd: 2_000_000, reservedMicroUsd: 8_000_000 });
    now += FLUSH_MS;
    await leases.flush();
    expect(await store.read('busy', MONTH)).toMatchObject({ spentMicroUsd: 2_000_000, reservedMicroUsd: 0 });
    expect(calls.settle).toBe(2);
  });

  it('never holds past a budget that 250 requests fill when two instances race 400, and admits exactly those 250', async () => {
    const one = await instance('iraceone');
    const two = await instance('iracetwo');
    // $100: slices of $1, each request's worst case $0.40.
    const results = await Promise.all(
      Array.from({ length: 400 }, (_, i) => (i % 2 ? one : two).leases.reserve('race', MONTH, hard(100), exact(400_000))),
    );
    expect(results.filter(Boolean)).toHaveLength(250);
    expect(await one.store.read('race', MONTH)).toMatchObject({ reservedMicroUsd: 100_000_000, spentMicroUsd: 0 });
    // Near the limit each instance went request by request: more store calls than slices, but far fewer than requests.
    expect(one.calls.reserve + two.calls.reserve).toBeLessThan(400);
  });

  it('reserves request by request when a slice would not hold two of them, exactly as the store allows', async () => {
    const { store, leases, calls } = await instance('ismall');
    // $1: a 1% slice is 1 cent, less than two requests of a cent each.
    const results = await Promise.all(Array.from({ length: 150 }, () => leases.reserve('small', MONTH, hard(1), exact(10_000))));
    expect(results.filter(Boolean)).toHaveLength(100);
    expect(calls.reserve).toBe(150);
    results[0]!.settle(4_000);
    // Settled in the store at once, not at the flush.
    await expect.poll(async () => (await store.read('small', MONTH))?.spentMicroUsd).toBe(4_000);
  });

  it('holds a leased request at its cheap bound, and counts exactly only a request held in the store by itself', async () => {
    const { store, leases } = await instance('ibound');
    let counted = 0;
    const need = (atMost: number, exactly: number): Need => ({
      atMost,
      exactly: () => {
        counted++;
        return exactly;
      },
    });
    // $1,000: a slice of $10 takes the $0.05 bound twenty times over; nothing is counted.
    for (let i = 0; i < 20; i++) expect(await leases.reserve('boundbig', MONTH, hard(1_000), need(50_000, 20_000))).toBeDefined();
    expect(counted).toBe(0);
    // $1: too small to slice; each request is reserved exactly, so 50 at $0.02 fit where the bound would let 20.
    const held = await Promise.all(Array.from({ length: 60 }, () => leases.reserve('boundsmall', MONTH, hard(1), need(50_000, 20_000))));
    expect(held.filter(Boolean)).toHaveLength(50);
    expect(counted).toBe(60);
    expect(await store.read('boundsmall', MONTH)).toMatchObject({ reservedMicroUsd: 1_000_000 });
  });

  it('touches a slice held longer than a sweep waits, so no other instance sweeps a live one', async () => {
    const one = await instance('itouch');
    const two = await instance('isweeper');
    const start = now;
    const hold = (await one.leases.reserve('touch', MONTH, hard(1_000), exact(50_000)))!;
    // A request still in flight, ticks passing: the slice is busy, never idle, and touched before it looks stale.
    for (let t = 0; t < 8; t++) {
      now += STALE_MS / 4;
      await one.leases.flush();
    }
    expect(await two.store.sweep('touch', MONTH, now)).toMatchObject({ reservedMicroUsd: 50_000, spentMicroUsd: 0, sweptMicroUsd: 0 });
    hold.settle(10_000);
    await one.leases.close();
    expect(await two.store.read('touch', MONTH)).toMatchObject({ reservedMicroUsd: 0, spentMicroUsd: 10_000 });
    expect(now - start).toBeGreaterThan(STALE_MS);
  });

  it("adds a soft budget's spend at the flush and records its marks once", async () => {
    const { store, leases, calls } = await instance('isoft');
    const soft: TeamBudget = { monthlyUsd: 1, enforce: 'soft', alertAt: 0.5 };
    for (let i = 0; i < 7; i++) leases.spend('soft', MONTH, soft, 100_000);
    expect(calls.settle).toBe(0);
    await leases.flush();
    expect(calls.settle).toBe(1);
    const state = await store.read('soft', MONTH);
    expect(state).toMatchObject({ spentMicroUsd: 700_000 });
    expect(Object.keys(state!.marks)).toEqual(['alerted']);
  });
});

describe('QuotaLeases rate windows', () => {
  it('admits exactly rpm across two instances racing for 1,500, with far fewer store calls than requests', async () => {
    const one = await instance('irateone');
    const two = await instance('iratetwo');
    const results = await Promise.all(
      Array.from({ length: 1_500 }, (_, i) => (i % 2 ? one : two).leases.take('rpm', WINDOW, exact(10), { rpm: 1_000 })),
    );
    expect(results.filter((r) => r.taken)).toHaveLength(1_000);
    expect(one.calls.take + two.calls.take).toBeLessThan(1_500);
    const refused = results.find((r) => !r.taken);
    expect(refused && !refused.taken && refused.used.requests).toBe(1_000);
  });

  it("reports what the window used, growing by one per request on this instance, and gives back an unused request's tokens", async () => {
    const { leases, calls } = await instance('iheaders');
    const limits = { rpm: 10_000, tpm: 10_000_000 };
    const first = await leases.take('headers', WINDOW, exact(1_000), limits);
    const second = await leases.take('headers', WINDOW, exact(1_000), limits);
    if (!first.taken || !second.taken) throw new Error('not taken');
    expect(first.hold.used).toEqual({ requests: 1, tokens: 1_000 });
    expect(second.hold.used).toEqual({ requests: 2, tokens: 2_000 });
    first.hold.settle(100);
    second.hold.giveBack();
    const third = await leases.take('headers', WINDOW, exact(1_000), limits);
    if (!third.taken) throw new Error('not taken');
    expect(third.hold.used).toEqual({ requests: 2, tokens: 1_100 });
    expect(calls.take).toBe(1);
  });

  it('takes request by request for limits too small to lease, with corrections written to the store', async () => {
    const { leases, calls } = await instance('itiny');
    const results = await Promise.all(Array.from({ length: 30 }, () => leases.take('tiny', WINDOW, exact(10), { rpm: 10 })));
    expect(results.filter((r) => r.taken)).toHaveLength(10);
    expect(calls.take).toBe(30);
    const taken = results.find((r) => r.taken);
    if (!taken?.taken) throw new Error('not taken');
    taken.hold.settle(4);
    await expect.poll(() => calls.adjust).toBe(1);
  });
});

describe('QuotaLeases with a store that does not answer', () => {
  /** The real adapter behind a gate: while closed, reservations and takes wait. */
  async function stalled(id: string) {
    const gate: Array<() => void> = [];
    const closed = { on: true };
    const before = () => (closed.on ? new Promise<void>((resolve) => gate.push(resolve)) : Promise.resolve());
    const { store, leases } = await instance(id, { before, storeWaitMs: 50 });
    const open = () => {
      closed.on = false;
      for (const resolve of gate.splice(0)) resolve();
    };
    return { store, leases, open };
  }

  it('fails the waiting requests, and keeps the slice the store grants late for the requests after', async () => {
    const { store, leases, open } = await stalled('istalledslice');
    const waiting = await Promise.allSettled([1, 2, 3].map(() => leases.reserve('stalled', MONTH, hard(1_000), exact(50_000))));
    expect(waiting.map((w) => w.status)).toEqual(['rejected', 'rejected', 'rejected']);
    open();
    await expect.poll(async () => (await store.read('stalled', MONTH))?.reservedMicroUsd).toBe(10_000_000);
    // The late slice serves the next request without asking the store again.
    expect(await leases.reserve('stalled', MONTH, hard(1_000), exact(50_000))).toBeDefined();
    expect((await store.read('stalled', MONTH))?.reservedMicroUsd).toBe(10_000_000);
  });

  it('gives back a reservation or a rate take the store grants after its request gave up', async () => {
    const { store, leases, open } = await stalled('istalledexact');
    await expect(leases.reserve('stalledexact', MONTH, hard(1), exact(10_000))).rejects.toThrow(/did not answer/);
    await expect(leases.take('stalledrate', WINDOW, exact(10), { rpm: 10 })).rejects.toThrow(/did not answer/);
    open();
    await expect.poll(async () => (await store.read('stalledexact', MONTH))?.reservedMicroUsd).toBe(0);
    // The window counts nothing for the request that gave up: all 10 requests of rpm 10 are still there.
    const results = await Promise.all(Array.from({ length: 12 }, () => leases.take('stalledrate', WINDOW, exact(10), { rpm: 10 })));
    expect(results.filter((r) => r.taken)).toHaveLength(10);
  });
});
