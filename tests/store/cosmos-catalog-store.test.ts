import { CosmosClient } from '@azure/cosmos';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedCosmos, type EmbeddedCosmos } from '../../local/embedded-cosmos.js';
import { containerDefinitions, ensureContainers } from '../../shared/store/containers.js';
import { CosmosCatalogStore } from '../../shared/store/cosmos-catalog-store.js';

let cosmos: EmbeddedCosmos;
let client: CosmosClient;
let store: CosmosCatalogStore;

beforeAll(async () => {
  cosmos = await startEmbeddedCosmos({});
  client = new CosmosClient(cosmos.connectionOptions());
  const database = await ensureContainers(client, 'catalog-store-test');
  store = new CosmosCatalogStore(database.container(containerDefinitions.catalog.id));
  await store.put('team', { id: 'kept', name: 'Kept', aliases: [], tags: [] });
  await store.put('key', { id: 'key_AAAAAAAAAAAA', hash: 'a'.repeat(64), role: 'admin', createdAt: '2026-01-01T00:00:00.000Z' });
});
afterAll(async () => {
  client?.dispose();
  await cosmos?.stop();
});

const team = (id: string) => ({ id, name: id, aliases: [], tags: [] });
// Ids that would address another resource (the container, the database) or fail as an outage in the SDK.
const unsafeIds = [
  '',
  '.',
  '..',
  '../kept',
  'a/b',
  '/',
  'a\\b',
  '\\',
  'a#b',
  '#',
  'a?b',
  'a b',
  ' ',
  'a\tb',
  '\t',
  'a\u0000',
  '.hidden',
  '\u2024',
  '\uff0e',
  'x'.repeat(256),
];

describe('CosmosCatalogStore ids', () => {
  it.each(unsafeIds)('reads of %j find nothing (404) and never another resource', async (id) => {
    await expect(store.get('team', id)).rejects.toMatchObject({ name: 'GatewayError', status: 404 });
    await expect(store.delete('team', id)).rejects.toMatchObject({ name: 'GatewayError', status: 404 });
  });

  it.each(unsafeIds)('writes of %j are refused (400)', async (id) => {
    await expect(store.put('team', team(id))).rejects.toMatchObject({ name: 'GatewayError', status: 400 });
    await expect(store.recordKeyUse(id, '2026-01-01T00:00:00.000Z')).rejects.toMatchObject({ name: 'GatewayError', status: 400 });
  });

  it('keeps the catalog as it was', async () => {
    const docs = await store.loadAll();
    expect(docs.filter((d) => d.type === 'team').map((d) => (d.doc as { id: string }).id)).toEqual(['kept']);
  });
});

describe('CosmosCatalogStore conditional writes', () => {
  it('creates then replaces without a condition, telling which happened', async () => {
    expect((await store.put('team', team('plain'))).created).toBe(true);
    expect((await store.put('team', team('plain'))).created).toBe(false);
  });

  it('creates exactly once among concurrent unconditional writers', async () => {
    const results = await Promise.all(Array.from({ length: 30 }, () => store.put('team', team('contended'))));
    expect(results.filter((r) => r.created)).toHaveLength(1);
  });

  it("ifMatch '*' replaces only what exists; ifNoneMatch '*' creates only", async () => {
    await expect(store.put('team', team('star'), { ifMatch: '*' })).rejects.toMatchObject({ status: 412 });
    expect((await store.put('team', team('star'), { ifNoneMatch: '*' })).created).toBe(true);
    await expect(store.put('team', team('star'), { ifNoneMatch: '*' })).rejects.toMatchObject({ status: 412 });
    expect((await store.put('team', team('star'), { ifMatch: '*' })).created).toBe(false);
  });

  it('an ETag condition on an absent document is 412, a stale one 412', async () => {
    await expect(store.put('team', team('never'), { ifMatch: '"nope"' })).rejects.toMatchObject({ status: 412 });
    const { etag } = await store.put('team', team('stale'));
    await store.put('team', team('stale'), { ifMatch: etag });
    await expect(store.put('team', team('stale'), { ifMatch: etag })).rejects.toMatchObject({ status: 412 });
    await expect(store.delete('team', 'stale', { ifMatch: etag })).rejects.toMatchObject({ status: 412 });
  });
});

describe('CosmosCatalogStore key uses', () => {
  it('keeps last uses apart from the configuration, without moving its version', async () => {
    const version = await store.readVersion();
    await store.recordKeyUse('key_AAAAAAAAAAAA', '2026-02-01T00:00:00.000Z');
    await store.recordKeyUse('key_AAAAAAAAAAAA', '2026-02-02T00:00:00.000Z');
    expect(await store.readVersion()).toBe(version);
    expect((await store.readKeyUses()).get('key_AAAAAAAAAAAA')).toBe('2026-02-02T00:00:00.000Z');
    expect((await store.loadAll()).every((d) => ['deployment', 'route', 'team', 'key'].includes(d.type))).toBe(true);
    await store.delete('key', 'key_AAAAAAAAAAAA');
    expect((await store.readKeyUses()).has('key_AAAAAAAAAAAA')).toBe(false);
  });
});

describe('CosmosCatalogStore reads', () => {
  it('parses every document it reads with its schema: one written around Switchyard is logged and treated as absent', async () => {
    const database = await ensureContainers(client, 'catalog-store-parse-test');
    const container = database.container(containerDefinitions.catalog.id);
    const logged: string[] = [];
    const parsing = new CosmosCatalogStore(container, (message) => logged.push(message));
    const valid = { id: 'key_valid', hash: 'b'.repeat(64), team: 'kept', createdAt: '2026-01-01T00:00:00.000Z' };
    await parsing.put('key', valid);
    // Straight into the container: a plaintext secret where the hash belongs, and a key that is both team and role.
    await container.items.create({
      id: 'key_plain',
      type: 'key',
      hash: 'sy-plaintext',
      team: 'kept',
      createdAt: '2026-01-01T00:00:00.000Z',
    });
    await container.items.create({
      id: 'key_both',
      type: 'key',
      hash: 'c'.repeat(64),
      team: 'kept',
      role: 'admin',
      createdAt: '2026-01-01T00:00:00.000Z',
    });

    expect((await parsing.list('key')).map((k) => k.doc)).toEqual([valid]);
    expect(await parsing.get('key', 'key_plain')).toBeUndefined();
    expect((await parsing.get('key', 'key_valid'))?.doc).toEqual(valid);
    expect(logged.filter((line) => line.startsWith('catalog: skipped invalid key key_plain'))).toHaveLength(2);
    expect(logged.filter((line) => line.startsWith('catalog: skipped invalid key key_both'))).toHaveLength(1);
  });

  it('lists documents in id order, routes by alias', async () => {
    const database = await ensureContainers(client, 'catalog-store-order-test');
    const ordered = new CosmosCatalogStore(database.container(containerDefinitions.catalog.id));
    for (const alias of ['b', 'c', 'a']) {
      await ordered.put('route', { alias, strategy: 'spillover', targets: [{ deployment: 'd' }], rules: [] });
    }
    expect((await ordered.list('route')).map((r) => r.doc.alias)).toEqual(['a', 'b', 'c']);
  });
});
