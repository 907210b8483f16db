import { CosmosClient } from '@azure/cosmos';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedCosmos, type EmbeddedCosmos } from '../../local/embedded-cosmos.js';
import { containerDefinitions, ensureContainers } from '../../shared/store/containers.js';
import { CosmosVersionLog } from '../../shared/store/cosmos-versions.js';

let cosmos: EmbeddedCosmos;
let client: CosmosClient;
let log: CosmosVersionLog;

beforeAll(async () => {
  cosmos = await startEmbeddedCosmos({});
  client = new CosmosClient(cosmos.connectionOptions());
  const database = await ensureContainers(client, 'versions-store-test');
  log = new CosmosVersionLog(database.container(containerDefinitions.versions.id));
});
afterAll(async () => {
  client?.dispose();
  await cosmos?.stop();
});

const entry = (document: Record<string, unknown> | null, action: 'put' | 'delete' = 'put') => ({
  at: '2026-03-01T00:00:00.000Z',
  actor: { keyId: 'key_ops1', role: 'ops' as const },
  action,
  document,
});

describe('CosmosVersionLog', () => {
  it('numbers versions per document from 1, lists them newest first and reads one back', async () => {
    expect(await log.append('route', 'chat', entry({ alias: 'chat', strategy: 'spillover' }))).toBe(1);
    expect(await log.append('route', 'chat', entry({ alias: 'chat', strategy: 'weighted' }))).toBe(2);
    expect(await log.append('deployment', 'chat', entry({ id: 'chat' }))).toBe(1);
    expect(await log.append('route', 'chat', entry(null, 'delete'))).toBe(3);
    expect((await log.list('route', 'chat')).map((v) => [v.version, v.document?.strategy ?? null])).toEqual([
      [3, null],
      [2, 'weighted'],
      [1, 'spillover'],
    ]);
    expect(await log.get('route', 'chat', 2)).toMatchObject({ version: 2, action: 'put', actor: { keyId: 'key_ops1', role: 'ops' } });
    expect(await log.get('route', 'chat', 9)).toBeUndefined();
    expect(await log.list('route', 'never')).toEqual([]);
  });

  it('gives concurrent writers distinct numbers', async () => {
    const numbers = await Promise.all([1, 2, 3].map((n) => log.append('deployment', 'busy', entry({ id: 'busy', n }))));
    expect([...numbers].sort()).toEqual([1, 2, 3]);
    expect((await log.list('deployment', 'busy')).map((v) => v.version)).toEqual([3, 2, 1]);
  });
});
