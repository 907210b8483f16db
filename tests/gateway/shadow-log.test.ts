import { createServer, type Server, type Socket } from 'node:net';
import { CosmosClient } from '@azure/cosmos';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedCosmos, type EmbeddedCosmos } from '../../local/embedded-cosmos.js';
import { ShadowLog } from '../../shared/gateway/shadow-log.js';
import type { Logger } from '../../shared/log.js';
import { containerDefinitions, ensureContainers } from '../../shared/store/containers.js';
import { CosmosShadowStore } from '../../shared/store/cosmos-shadow.js';
import type { ShadowRecord } from '../../shared/usage/shadow-record.js';

let cosmos: EmbeddedCosmos;
let client: CosmosClient;
let store: CosmosShadowStore;

beforeAll(async () => {
  cosmos = await startEmbeddedCosmos({});
  client = new CosmosClient(cosmos.connectionOptions());
  const database = await ensureContainers(client, 'shadow-log-test');
  store = new CosmosShadowStore(database.container(containerDefinitions.shadow.id));
});
afterAll(async () => {
  client?.dispose();
  await cosmos?.stop();
});

const side = { deployment: 'd', latencyMs: 1, inputTokens: 1, outputTokens: 1, costMicroUsd: 0, costRemainderPicoUsd: 0, ok: true };
const record = (id: string, alias: string): ShadowRecord => ({
  id,
  alias,
  team: 't',
  operation: 'chat',
  day: '2026-03-01',
  ts: '2026-03-01T10:00:00.000Z',
  primary: side,
  shadow: side,
});
const everything = { fromTs: '2000-01-01T00:00:00.000Z', toTs: '2100-01-01T00:00:00.000Z', limit: 1000 };

function capture(): { log: Logger; lines: Array<{ level: string; message: string; fields?: Record<string, unknown> }> } {
  const lines: Array<{ level: string; message: string; fields?: Record<string, unknown> }> = [];
  return { lines, log: { log: (level, message, fields) => lines.push({ level, message, fields }) } };
}

describe('ShadowLog', () => {
  it('holds records until a flush writes them together; a read writes first', async () => {
    const { log } = capture();
    const shadowLog = new ShadowLog(store, { flushMs: 60_000, maxBuffered: 100, log });
    for (let i = 0; i < 3; i++) shadowLog.record(record(`held-${i}`, 'held'));
    expect((await store.read('held', everything)).records).toEqual([]);
    expect((await shadowLog.read('held', everything)).records.map((r) => r.id).sort()).toEqual(['held-0', 'held-1', 'held-2']);
  });

  it('writes on its own after flushMs', async () => {
    const { log } = capture();
    const shadowLog = new ShadowLog(store, { flushMs: 10, maxBuffered: 100, log });
    shadowLog.record(record('timed-0', 'timed'));
    await expect.poll(async () => (await store.read('timed', everything)).records.length, { timeout: 5_000, interval: 20 }).toBe(1);
  });

  it('drops what is beyond maxBuffered and says how many', async () => {
    const { log, lines } = capture();
    const shadowLog = new ShadowLog(store, { flushMs: 60_000, maxBuffered: 2, log });
    for (let i = 0; i < 5; i++) shadowLog.record(record(`full-${i}`, 'full'));
    await shadowLog.flush();
    expect((await store.read('full', everything)).records).toHaveLength(2);
    expect(lines).toEqual([{ level: 'warn', message: 'shadow: records dropped, the buffer was full', fields: { dropped: 3 } }]);
  });

  it('at shutdown gives up on a store that does not answer, and says so', async () => {
    // A store that accepts connections and never answers.
    const sockets: Socket[] = [];
    const silent: Server = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as { port: number }).port;
    const deaf = new CosmosClient({ endpoint: `http://127.0.0.1:${port}`, key: Buffer.from('k'.repeat(32)).toString('base64') });
    const { log, lines } = capture();
    const shadowLog = new ShadowLog(new CosmosShadowStore(deaf.database('db').container('shadow')), {
      flushMs: 60_000,
      maxBuffered: 10,
      log,
    });
    shadowLog.record(record('lost-0', 'lost'));
    await shadowLog.close(200);
    expect(lines).toContainEqual({ level: 'warn', message: 'shadow: records not written at shutdown', fields: { waitedMs: 200 } });
    deaf.dispose();
    for (const socket of sockets) socket.destroy();
    silent.close();
  });
});
