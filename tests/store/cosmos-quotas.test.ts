import { CosmosClient } from '@azure/cosmos';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedCosmos, type EmbeddedCosmos } from '../../local/embedded-cosmos.js';
import { containerDefinitions, ensureContainers } from '../../shared/store/containers.js';
import { CosmosQuotaStore } from '../../shared/store/cosmos-quotas.js';

let cosmos: EmbeddedCosmos;
const clients: CosmosClient[] = [];
let one: CosmosQuotaStore;
let two: CosmosQuotaStore;
const STALE_MS = 60_000;

// Two instances: each its own client (its own connections) and instance id, on one store.
async function instance(instanceId: string): Promise<CosmosQuotaStore> {
  const client = new CosmosClient(cosmos.connectionOptions());
  clients.push(client);
  const database = await ensureContainers(client, 'quotas-store-test');
  return new CosmosQuotaStore(database.container(containerDefinitions.quotas.id), { instanceId, staleAfterMs: STALE_MS });
}

beforeAll(async () => {
  cosmos = await startEmbeddedCosmos({});
  one = await instance('ione');
  two = await instance('itwo');
});
afterAll(async () => {
  for (const client of clients) client.dispose();
  await cosmos?.stop();
});

describe('CosmosQuotaStore budgets', () => {
  it('lets 50 concurrent reservations from two instances hold no more than the limit', async () => {
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? one : two).reserve('race', '2026-11', 100, 1_000, 0)),
    );
    expect(results.filter((r) => r !== undefined)).toHaveLength(10);
    expect(await one.read('race', '2026-11')).toMatchObject({ spentMicroUsd: 0, reservedMicroUsd: 1_000 });
  });

  it('settles a reservation at its real cost, releasing the rest, and admits again within what is left', async () => {
    expect(await one.reserve('settle', '2026-11', 600, 1_000, 0)).toBeDefined();
    expect(await two.reserve('settle', '2026-11', 600, 1_000, 0)).toBeUndefined();
    expect(await one.settle('settle', '2026-11', 600, 250, 1)).toMatchObject({ spentMicroUsd: 250, reservedMicroUsd: 0 });
    expect(await two.reserve('settle', '2026-11', 600, 1_000, 2)).toMatchObject({ spentMicroUsd: 250, reservedMicroUsd: 600 });
    // A failure releases everything it held.
    expect(await two.settle('settle', '2026-11', 600, 0, 3)).toMatchObject({ spentMicroUsd: 250, reservedMicroUsd: 0 });
    // A soft budget's request reserves nothing and is settled at its cost, creating the month.
    expect(await one.settle('soft', '2026-11', 0, 42, 0)).toMatchObject({ spentMicroUsd: 42, reservedMicroUsd: 0 });
  });

  it("sweeps the holds of an instance silent for longer than a request lasts into spent, and no live instance's", async () => {
    await one.reserve('sweep', '2026-11', 300, 1_000, 1_000);
    await two.reserve('sweep', '2026-11', 200, 1_000, 50_000);
    // Nobody is stale yet.
    expect(await two.sweep('sweep', '2026-11', 1_000 + STALE_MS)).toMatchObject({ reservedMicroUsd: 500, spentMicroUsd: 0 });
    // Instance one has been silent past the threshold; two has not.
    expect(await two.sweep('sweep', '2026-11', 1_001 + STALE_MS)).toMatchObject({
      reservedMicroUsd: 200,
      spentMicroUsd: 300,
      sweptMicroUsd: 300,
    });
    // A second sweep finds nothing more to move.
    expect(await one.sweep('sweep', '2026-11', 2_000 + STALE_MS)).toMatchObject({ reservedMicroUsd: 200, spentMicroUsd: 300 });
  });

  it('records each mark once, however many settle at once', async () => {
    await one.settle('marks', '2026-11', 0, 1, 0);
    const firsts = await Promise.all(
      Array.from({ length: 10 }, (_, i) => (i % 2 ? one : two).mark('marks', '2026-11', 'alerted', `t${i}`)),
    );
    expect(firsts.filter(Boolean)).toHaveLength(1);
    expect(Object.keys((await one.read('marks', '2026-11'))!.marks)).toEqual(['alerted']);
  });
});

describe('CosmosQuotaStore rate windows', () => {
  it('takes no more requests than rpm from two instances in one window, and reports what the window used', async () => {
    const take = { team: 'rpm', window: '202611300000', requests: 1, tokens: 10 };
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? one : two).take(take, { rpm: 5 })));
    expect(results.filter((r) => r.taken)).toHaveLength(5);
    expect(results.filter((r) => !r.taken).every((r) => r.used.requests === 5)).toBe(true);
    expect(
      results
        .filter((r) => r.taken)
        .map((r) => r.used.requests)
        .sort(),
    ).toEqual([1, 2, 3, 4, 5]);
  });

  it('takes no more tokens than tpm, and gives tokens back on correction', async () => {
    const take = { team: 'tpm', window: '202611300000', requests: 1, tokens: 40 };
    expect((await one.take(take, { tpm: 100 })).taken).toBe(true);
    expect((await two.take(take, { tpm: 100 })).taken).toBe(true);
    expect(await one.take(take, { tpm: 100 })).toEqual({ taken: false, used: expect.objectContaining({ requests: 2, tokens: 80 }) });
    await two.adjust(take, { requests: 0, tokens: -30 });
    expect(await one.take(take, { tpm: 100 })).toEqual({ taken: true, used: expect.objectContaining({ requests: 3, tokens: 90 }) });
  });

  it('takes an instance lease of several requests and tokens at once, within both limits', async () => {
    const window = { team: 'lease', window: '202611300000' };
    expect(await one.take({ ...window, requests: 6, tokens: 600 }, { rpm: 10, tpm: 1_000 })).toEqual({
      taken: true,
      used: expect.objectContaining({ requests: 6, tokens: 600 }),
    });
    // Either limit refuses a lease that would pass it.
    expect((await two.take({ ...window, requests: 5, tokens: 100 }, { rpm: 10, tpm: 1_000 })).taken).toBe(false);
    expect((await two.take({ ...window, requests: 1, tokens: 500 }, { rpm: 10, tpm: 1_000 })).taken).toBe(false);
    expect(await two.take({ ...window, requests: 4, tokens: 400 }, { rpm: 10, tpm: 1_000 })).toEqual({
      taken: true,
      used: expect.objectContaining({ requests: 10, tokens: 1_000 }),
    });
  });
});

describe('CosmosQuotaStore holds', () => {
  it('marks an instance alive on every settlement, so a sweep never takes a hold it keeps touching', async () => {
    await one.reserve('touch', '2026-11', 300, 1_000, 1_000);
    // Nothing released, nothing spent: only the touch.
    await one.settle('touch', '2026-11', 0, 0, 1_000 + STALE_MS);
    expect(await two.sweep('touch', '2026-11', 2_000 + STALE_MS)).toMatchObject({ reservedMicroUsd: 300, spentMicroUsd: 0 });
  });
});
