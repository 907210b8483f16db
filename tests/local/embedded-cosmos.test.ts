import { X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CosmosClient, PartitionKeyDefinitionVersion, PartitionKeyKind } from '@azure/cosmos';
import type { Item } from '@azure/cosmos';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startEmbeddedCosmos } from '../../local/embedded-cosmos.js';
import type { EmbeddedCosmos } from '../../local/embedded-cosmos.js';

const HIERARCHICAL = { paths: ['/team', '/day'], kind: PartitionKeyKind.MultiHash, version: PartitionKeyDefinitionVersion.V2 };
const NINETY_DAYS_S = 7_776_000;

let dataDir: string;
const running: EmbeddedCosmos[] = [];

async function start(options: Parameters<typeof startEmbeddedCosmos>[0]): Promise<{ store: EmbeddedCosmos; client: CosmosClient }> {
  const store = await startEmbeddedCosmos(options);
  running.push(store);
  return { store, client: new CosmosClient(store.connectionOptions()) };
}

async function stop(store: EmbeddedCosmos): Promise<void> {
  running.splice(running.indexOf(store), 1);
  await store.stop();
}

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'embedded-cosmos-'));
});

afterEach(async () => {
  await Promise.all(running.splice(0).map((store) => store.stop()));
  await rm(dataDir, { recursive: true, force: true });
});

describe('embedded Cosmos store', () => {
  it('keeps items, partition key definitions and TTL settings across a clean restart', async () => {
    const first = await start({ dataDir });
    const { database } = await first.client.databases.create({ id: 'switchyard' });
    const { container: events } = await database.containers.create({
      id: 'usage_events',
      partitionKey: HIERARCHICAL,
      defaultTtl: NINETY_DAYS_S,
    });
    const { container: budgets } = await database.containers.create({ id: 'budgets', partitionKey: { paths: ['/pk'] } });

    await events.items.create({ id: 'e1', team: 'blue', day: '2026-11-27', promptTokens: 12, ttl: -1 });
    await events.items.create({ id: 'e2', team: 'blue', day: '2026-11-28', promptTokens: 30 });
    await events.items.create({
      id: 'e3',
      team: 'red',
      day: '2026-11-28',
      promptTokens: 5,
      nested: { model: 'gpt-4o-mini', tags: ['a', 'b'] },
    });
    await budgets.items.create({ id: 'blue|2026-11', pk: 'blue', spentMicroUsd: 100 });
    await budgets.item('blue|2026-11', 'blue').patch([{ op: 'incr', path: '/spentMicroUsd', value: 250 }]);
    const batch = await budgets.items.batch(
      [{ operationType: 'Create', resourceBody: { id: 'red|2026-11', pk: 'red', spentMicroUsd: 7 } }],
      'red',
    );
    expect(batch.result?.[0]?.statusCode).toBe(201);
    const { etag: etagBeforeRestart } = await budgets.item('blue|2026-11', 'blue').read();
    await stop(first.store);

    const saved = await readFile(join(dataDir, 'cosmos-snapshot.json'), 'utf8');
    expect(
      saved
        .trimEnd()
        .split('\n')
        .every((line) => typeof JSON.parse(line) === 'object'),
    ).toBe(true);
    expect(saved).not.toMatch(/"_(rid|self|attachments)"/);

    const second = await start({ dataDir });
    const restoredDb = second.client.database('switchyard');
    const restoredEvents = restoredDb.container('usage_events');
    const restoredBudgets = restoredDb.container('budgets');

    const { resource: eventsDefinition } = await restoredEvents.read();
    expect(eventsDefinition?.partitionKey).toEqual(HIERARCHICAL);
    expect(eventsDefinition?.defaultTtl).toBe(NINETY_DAYS_S);
    expect((await restoredBudgets.read()).resource?.partitionKey?.paths).toEqual(['/pk']);

    const { resource: e1 } = await restoredEvents.item('e1', ['blue', '2026-11-27']).read();
    expect(e1).toMatchObject({ id: 'e1', team: 'blue', day: '2026-11-27', promptTokens: 12, ttl: -1 });
    expect(e1?._etag).toEqual(expect.any(String));
    const { resource: e3 } = await restoredEvents.item('e3', ['red', '2026-11-28']).read();
    expect(e3?.nested).toEqual({ model: 'gpt-4o-mini', tags: ['a', 'b'] });
    const { resources: blueTokens } = await restoredEvents.items
      .query({ query: 'SELECT VALUE SUM(c.promptTokens) FROM c WHERE c.team = @team', parameters: [{ name: '@team', value: 'blue' }] })
      .fetchAll();
    expect(blueTokens).toEqual([42]);

    expect((await restoredBudgets.item('blue|2026-11', 'blue').read()).resource?.spentMicroUsd).toBe(350);
    expect((await restoredBudgets.item('red|2026-11', 'red').read()).resource?.spentMicroUsd).toBe(7);

    // Writes keep working on restored containers: a patch incr and a new hierarchical item.
    await restoredBudgets.item('red|2026-11', 'red').patch([{ op: 'incr', path: '/spentMicroUsd', value: 3 }]);
    expect((await restoredBudgets.item('red|2026-11', 'red').read()).resource?.spentMicroUsd).toBe(10);
    await restoredEvents.items.create({ id: 'e4', team: 'red', day: '2026-11-29', promptTokens: 1 });
    expect((await restoredEvents.item('e4', ['red', '2026-11-29']).read()).statusCode).toBe(200);
    // ETags survive a restart: one read before it still guards a write after it, and only that one write.
    const blue = restoredBudgets.item('blue|2026-11', 'blue');
    const replaced = await blue.replace(
      { ...(await blue.read()).resource!, touched: true },
      { accessCondition: { type: 'IfMatch', condition: etagBeforeRestart! } },
    );
    expect(replaced.statusCode).toBe(200);
    await expectStaleEtagRejected(blue, etagBeforeRestart!);
  });

  it('keeps ETag concurrency after a restart: a stale If-Match gets 412', async () => {
    const first = await start({ dataDir });
    const { database } = await first.client.databases.create({ id: 'switchyard' });
    const { container } = await database.containers.create({ id: 'budgets', partitionKey: { paths: ['/pk'] } });
    await container.items.create({ id: 'b1', pk: 'blue', limit: 10 });
    await stop(first.store);

    const second = await start({ dataDir });
    const budgets = second.client.database('switchyard').container('budgets');
    const { resource, etag } = await budgets.item('b1', 'blue').read();
    const replaced = await budgets
      .item('b1', 'blue')
      .replace({ ...resource!, limit: 20 }, { accessCondition: { type: 'IfMatch', condition: etag! } });
    expect(replaced.statusCode).toBe(200);
    await expectStaleEtagRejected(budgets.item('b1', 'blue'), etag!);
    expect((await budgets.item('b1', 'blue').read()).resource?.limit).toBe(20);
  });

  it('is trusted by the clients given its agent only, never process-wide', async () => {
    const { store, client } = await start({});
    expect((await client.getDatabaseAccount()).statusCode).toBe(200);

    const certificate = new X509Certificate(store.certificatePem);
    expect(certificate.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(certificate.checkHost('localhost')).toBe('localhost');
    expect(store.endpoint).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/$/);
    expect(process.env.NODE_TLS_REJECT_UNAUTHORIZED).toBeUndefined();
    expect(https.globalAgent.options.ca).toBeUndefined();

    const stranger = new CosmosClient({ endpoint: store.endpoint, key: store.key });
    const failure = await stranger.databases
      .readAll()
      .fetchAll()
      .then(
        () => undefined,
        (error: unknown) => error as { code?: unknown; message?: string },
      );
    stranger.dispose();
    expect(failure).toBeDefined();
    expect(`${String(failure?.code)} ${failure?.message}`).toMatch(/SELF_SIGNED|self[- ]signed|UNABLE_TO_VERIFY|certificate/i);
  });

  it('writes nothing and starts empty when there is no dataDir', async () => {
    const cwdSnapshot = join(process.cwd(), 'cosmos-snapshot.json');
    const before = existsSync(cwdSnapshot);
    const first = await start({});
    const { database } = await first.client.databases.create({ id: 'switchyard' });
    await database.containers.create({ id: 'budgets', partitionKey: { paths: ['/pk'] } });
    await first.store.snapshot();
    await stop(first.store);
    expect(existsSync(cwdSnapshot)).toBe(before);

    const second = await start({});
    expect((await second.client.databases.readAll().fetchAll()).resources).toEqual([]);
  });

  it('refuses to start on a file that is not one of its snapshots', async () => {
    await writeFile(join(dataDir, 'cosmos-snapshot.json'), '{"format":"something-else","version":9,"databases":[]}');
    await expect(startEmbeddedCosmos({ dataDir })).rejects.toThrow(/is not an embedded Cosmos snapshot/);
  });
});

async function expectStaleEtagRejected(item: Item, staleEtag: string): Promise<void> {
  const { resource } = await item.read();
  const status = await item.replace({ ...resource!, touched: true }, { accessCondition: { type: 'IfMatch', condition: staleEtag } }).then(
    (response) => response.statusCode,
    (error: { code?: number }) => error.code,
  );
  expect(status).toBe(412);
}
