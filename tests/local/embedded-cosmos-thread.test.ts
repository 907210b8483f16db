import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CosmosClient } from '@azure/cosmos';
import { afterAll, describe, expect, it } from 'vitest';
import { startEmbeddedCosmosThread } from '../../local/embedded-cosmos-thread.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe('the embedded store on its own thread', () => {
  it('serves the SDK, and keeps its data across a stop and a start on the same data dir', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'sy-thread-'));
    dirs.push(dataDir);
    const logs: string[] = [];
    const first = await startEmbeddedCosmosThread({ dataDir, log: (m) => logs.push(m) });
    const client = new CosmosClient(first.connectionOptions());
    const { database } = await client.databases.createIfNotExists({ id: 'threaded' });
    const { container } = await database.containers.createIfNotExists({ id: 'things', partitionKey: { paths: ['/pk'] } });
    await container.items.create({ id: 'one', pk: 'a', value: 42 });
    client.dispose();
    await first.stop();
    await first.stop();
    expect(logs.some((m) => m.includes('listening'))).toBe(true);

    const second = await startEmbeddedCosmosThread({ dataDir });
    try {
      const again = new CosmosClient(second.connectionOptions());
      const { resource } = await again.database('threaded').container('things').item('one', 'a').read();
      expect(resource).toMatchObject({ id: 'one', value: 42 });
      again.dispose();
    } finally {
      await second.stop();
    }
  });

  it('reports a start that fails', async () => {
    const blocker = await startEmbeddedCosmosThread({});
    const port = Number(new URL(blocker.endpoint).port);
    try {
      await expect(startEmbeddedCosmosThread({ port })).rejects.toThrow(/EADDRINUSE/);
    } finally {
      await blocker.stop();
    }
  });
});
