import { CosmosClient } from '@azure/cosmos';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedCosmos, type EmbeddedCosmos } from '../../local/embedded-cosmos.js';
import { containerDefinitions, ensureContainers } from '../../shared/store/containers.js';
import { CosmosShadowStore } from '../../shared/store/cosmos-shadow.js';
import type { ShadowRecord } from '../../shared/usage/shadow-record.js';

let cosmos: EmbeddedCosmos;
let client: CosmosClient;
let log: CosmosShadowStore;

beforeAll(async () => {
  cosmos = await startEmbeddedCosmos({});
  client = new CosmosClient(cosmos.connectionOptions());
  const database = await ensureContainers(client, 'shadow-store-test');
  log = new CosmosShadowStore(database.container(containerDefinitions.shadow.id));
});
afterAll(async () => {
  client?.dispose();
  await cosmos?.stop();
});

const side = (deployment: string, extra: Partial<ShadowRecord['primary']> = {}) => ({
  deployment,
  latencyMs: 10,
  inputTokens: 3,
  outputTokens: 2,
  costMicroUsd: 5,
  costRemainderPicoUsd: 7,
  ok: true,
  ...extra,
});

const record = (id: string, alias: string, ts: string): ShadowRecord => ({
  id,
  alias,
  team: 'search',
  operation: 'chat',
  day: ts.slice(0, 10),
  ts,
  primary: side('old', { ttftMs: 4 }),
  shadow: side('new', { answer: 'hello', ok: false, error: 'status: 500' }),
});

describe('CosmosShadowStore', () => {
  it('reads back one alias within an instant range, and says when a limit left records out', async () => {
    await log.appendMany([
      record('a1', 'chat', '2026-03-01T10:00:00.000Z'),
      record('a2', 'chat', '2026-03-01T11:00:00.000Z'),
      record('b1', 'other', '2026-03-01T10:30:00.000Z'),
    ]);
    await log.appendMany([record('a3', 'chat', '2026-03-02T09:00:00.000Z')]);
    // A batch written again (a retry) adds nothing.
    await log.appendMany([record('a3', 'chat', '2026-03-02T09:00:00.000Z')]);

    const all = await log.read('chat', { fromTs: '2026-03-01T00:00:00.000Z', toTs: '2026-03-02T23:59:59.999Z', limit: 100 });
    expect(all.truncated).toBe(false);
    expect(all.records.map((r) => r.id).sort()).toEqual(['a1', 'a2', 'a3']);
    expect(all.records.find((r) => r.id === 'a1')).toEqual(record('a1', 'chat', '2026-03-01T10:00:00.000Z'));

    const range = await log.read('chat', { fromTs: '2026-03-01T10:30:00.000Z', toTs: '2026-03-01T23:00:00.000Z', limit: 100 });
    expect(range.records.map((r) => r.id)).toEqual(['a2']);

    const limited = await log.read('chat', { fromTs: '2026-03-01T00:00:00.000Z', toTs: '2026-03-02T23:59:59.999Z', limit: 2 });
    expect(limited.records).toHaveLength(2);
    expect(limited.truncated).toBe(true);
  });
});
