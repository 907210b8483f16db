import { CosmosClient } from '@azure/cosmos';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CatalogCache } from '../../shared/catalog/catalog-snapshot.js';
import type { CatalogStore } from '../../shared/catalog/catalog-store.js';
import { startEmbeddedCosmos, type EmbeddedCosmos } from '../../local/embedded-cosmos.js';
import { containerDefinitions, ensureContainers } from '../../shared/store/containers.js';
import { CosmosCatalogStore } from '../../shared/store/cosmos-catalog-store.js';

let cosmos: EmbeddedCosmos;
let client: CosmosClient;
let store: CosmosCatalogStore;

beforeAll(async () => {
  cosmos = await startEmbeddedCosmos({});
  client = new CosmosClient(cosmos.connectionOptions());
  const database = await ensureContainers(client, 'catalog-cache-test');
  store = new CosmosCatalogStore(database.container(containerDefinitions.catalog.id));
});
afterAll(async () => {
  client?.dispose();
  await cosmos?.stop();
});

/** The real store, counting full loads. */
function counting(inner: CatalogStore): CatalogStore & { loads: number } {
  const counted = Object.create(inner) as CatalogStore & { loads: number };
  counted.loads = 0;
  counted.loadAll = async () => {
    counted.loads += 1;
    return inner.loadAll();
  };
  return counted;
}

const team = (id: string) => ({ id, name: id, aliases: [], tags: [] });

describe('CatalogCache', () => {
  it('tells its listener after each load whose version moved, and not after a reload of the same version', async () => {
    let nowMs = 2_000_000;
    const seen: boolean[] = [];
    const cache = new CatalogCache(store, {
      refreshMs: 1_000,
      fullReloadMs: 10_000,
      now: () => nowMs,
      onChanged: (snapshot) => seen.push(snapshot.teams.has('listened')),
    });
    await cache.refresh();
    expect(seen).toEqual([false]);
    await store.put('team', team('listened'));
    await cache.refreshIfChanged();
    expect(seen).toEqual([false, true]);
    nowMs += 10_000; // the safety-net reload of an unchanged version
    await cache.refreshIfChanged();
    expect(seen).toEqual([false, true]);
    await store.delete('team', 'listened');
  });

  it('reloads only when the catalog version moved, and sees every write and delete', async () => {
    const observed = counting(store);
    let nowMs = 1_000_000;
    const cache = new CatalogCache(observed, { refreshMs: 1_000, fullReloadMs: 60_000, now: () => nowMs });
    await cache.refresh();
    expect(observed.loads).toBe(1);

    for (let i = 0; i < 5; i++) await cache.refreshIfChanged();
    expect(observed.loads).toBe(1);

    await store.put('team', team('alpha'));
    await cache.refreshIfChanged();
    expect(observed.loads).toBe(2);
    expect(cache.current().teams.has('alpha')).toBe(true);

    await store.delete('team', 'alpha');
    await cache.refreshIfChanged();
    expect(cache.current().teams.has('alpha')).toBe(false);
    expect(observed.loads).toBe(3);

    nowMs += 60_000;
    await cache.refreshIfChanged();
    expect(observed.loads).toBe(4);
  });

  it('is fresh while the store confirms the snapshot, stale when it stops answering', async () => {
    let nowMs = 5_000_000;
    const cache = new CatalogCache(store, { refreshMs: 1_000, now: () => nowMs });
    expect(cache.isFresh()).toBe(false);
    await cache.refresh();
    nowMs += 2_500;
    await cache.refreshIfChanged();
    expect(cache.isFresh()).toBe(true);
    nowMs += 3_500;
    expect(cache.isFresh()).toBe(false);
  });

  it('never lists the version document as configuration', async () => {
    await store.put('team', team('beta'));
    const docs = await store.loadAll();
    expect(docs.every((d) => ['deployment', 'route', 'team', 'key'].includes(d.type))).toBe(true);
    expect(await store.readVersion()).toBeTruthy();
  });
});
