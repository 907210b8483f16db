import { spawn, type ChildProcess } from 'node:child_process';
import { appendFile, mkdtemp, open, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CosmosClient } from '@azure/cosmos';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { startEmbeddedCosmos, type EmbeddedCosmos } from '../../local/embedded-cosmos.js';

let dataDir: string;
const running: EmbeddedCosmos[] = [];
const children: ChildProcess[] = [];

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'sy-store-crash-'));
});
afterEach(async () => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
  await Promise.all(running.splice(0).map((store) => store.stop()));
  await rm(dataDir, { recursive: true, force: true });
});

async function start(): Promise<{ store: EmbeddedCosmos; client: CosmosClient }> {
  const store = await startEmbeddedCosmos({ dataDir });
  running.push(store);
  return { store, client: new CosmosClient(store.connectionOptions()) };
}

/** Runs the writer fixture until it has printed `acks` lines (acknowledgements, deletes sent), then kills it with SIGKILL. */
async function writeThenKill(acks: number): Promise<string[]> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'tests/local/fixtures/store-writer.ts', dataDir, '8'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const lines: string[] = [];
  let partial = '';
  let errors = '';
  child.stderr!.on('data', (chunk: Buffer) => (errors += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the writer acknowledged only ${lines.length} writes:\n${errors}`)), 60_000);
    child.once('exit', (code) => reject(new Error(`the writer exited with ${code}:\n${errors}`)));
    child.stdout!.on('data', (chunk: Buffer) => {
      const text = partial + chunk.toString();
      const complete = text.split('\n');
      partial = complete.pop()!;
      lines.push(...complete.filter((line) => line !== 'ready'));
      if (lines.length >= acks) {
        clearTimeout(timer);
        // Killed while writes are in flight: whatever was acknowledged must be there after a restart.
        child.kill('SIGKILL');
        resolve();
      }
    });
  });
  await exited;
  return lines;
}

describe('the embedded store after kill -9', () => {
  it('keeps every write it acknowledged: creates, patches and deletes, through compactions', async () => {
    const acknowledged = await writeThenKill(1500);
    const segments = (await readdir(dataDir)).filter((name) => name.startsWith('cosmos-journal-'));
    expect(segments.length).toBeGreaterThan(0);

    const { client } = await start();
    const things = client.database('crash').container('things');
    const created = acknowledged.filter((l) => l.startsWith('created ')).map((l) => l.slice(8));
    const deleted = new Set(acknowledged.filter((l) => l.startsWith('deleted ')).map((l) => l.slice(8)));
    const deleteSent = new Set(acknowledged.filter((l) => l.startsWith('deleting ')).map((l) => l.slice(9)));
    const counters = acknowledged.filter((l) => l.startsWith('counter ')).map((l) => Number(l.slice(8)));
    expect(created.length).toBeGreaterThan(300);

    const { resources: stored } = await things.items.query<{ id: string }>('SELECT c.id FROM c').fetchAll();
    const ids = new Set(stored.map((item) => item.id));
    const lost = created.filter((id) => !deleteSent.has(id) && !ids.has(id));
    const resurrected = [...deleted].filter((id) => ids.has(id));
    expect(lost).toEqual([]);
    expect(resurrected).toEqual([]);
    const { resource: counter } = await things.item('counter', 'counter').read<{ value: number }>();
    expect(counter!.value).toBeGreaterThanOrEqual(Math.max(...counters));
  }, 90_000);

  it('answers a write only once its journal line is synced to disk', async () => {
    const { client } = await start();
    const { database } = await client.databases.create({ id: 'synced' });
    const { container } = await database.containers.create({ id: 'things', partitionKey: { paths: ['/pk'] } });
    // Every fdatasync is slowed down, so an answer sent before the sync finished would be seen here.
    const probe = await open(join(dataDir, 'probe'), 'w');
    const fileHandle = Object.getPrototypeOf(probe) as { datasync: () => Promise<void> };
    await probe.close();
    const realDatasync = fileHandle.datasync;
    let syncsFinished = 0;
    const slowed = vi.spyOn(fileHandle, 'datasync').mockImplementation(async function (this: unknown) {
      await new Promise((resolve) => setTimeout(resolve, 150));
      await realDatasync.call(this);
      syncsFinished += 1;
    });
    try {
      for (const id of ['a', 'b', 'c']) {
        const before = syncsFinished;
        await container.items.create({ id, pk: 'p' });
        expect(syncsFinished).toBeGreaterThan(before);
        const journal = (await readdir(dataDir)).filter((name) => name.startsWith('cosmos-journal-'));
        const text = (await Promise.all(journal.map((name) => readFile(join(dataDir, name), 'utf8')))).join('');
        expect(text).toContain(`"id":"${id}"`);
      }
    } finally {
      slowed.mockRestore();
    }
  });

  it('drops a torn last journal line, which was never acknowledged, and keeps the lines before it', async () => {
    const first = await start();
    const { database } = await first.client.databases.create({ id: 'torn' });
    const { container } = await database.containers.create({ id: 'things', partitionKey: { paths: ['/pk'] } });
    await container.items.create({ id: 'before', pk: 'a' });
    await first.store.stop();
    running.splice(0);

    const newest = (await readdir(dataDir))
      .filter((name) => name.startsWith('cosmos-journal-'))
      .sort()
      .at(-1)!;
    const whole = JSON.stringify({
      kind: 'item',
      db: 'torn',
      container: 'things',
      op: 'put',
      data: { id: 'whole', pk: 'a', _etag: 'e1', _ts: 1 },
    });
    await appendFile(join(dataDir, newest), `${whole}\n{"kind":"item","db":"torn","container":"thi`);

    const second = await start();
    const things = second.client.database('torn').container('things');
    expect((await things.item('before', 'a').read()).resource?.id).toBe('before');
    const { resource: replayed, etag } = await things.item('whole', 'a').read();
    expect(replayed?.id).toBe('whole');
    expect(etag).toBe('e1');
  });

  it('refuses to start on a journal corrupt before its last line', async () => {
    const first = await start();
    await first.client.databases.create({ id: 'corrupt' });
    await first.store.stop();
    running.splice(0);
    const newest = (await readdir(dataDir))
      .filter((name) => name.startsWith('cosmos-journal-'))
      .sort()
      .at(-1)!;
    await appendFile(
      join(dataDir, newest),
      `{"kind":"database","op":"pu\n${JSON.stringify({ kind: 'database', op: 'put', data: { id: 'later' } })}\n`,
    );
    await expect(startEmbeddedCosmos({ dataDir })).rejects.toThrow(/line 1 is corrupt/);
  });

  it('writes a snapshot only when something changed, and compacts the journal into it', async () => {
    const first = await start();
    const { database } = await first.client.databases.create({ id: 'quiet' });
    await database.containers.create({ id: 'things', partitionKey: { paths: ['/pk'] } });
    await first.store.stop();
    running.splice(0);
    const snapshotPath = join(dataDir, 'cosmos-snapshot.json');
    const written = (await stat(snapshotPath)).mtimeMs;
    const header = JSON.parse((await readFile(snapshotPath, 'utf8')).split('\n')[0]!);

    // A start and a stop that change nothing leave the snapshot as it was.
    const idle = await start();
    await idle.client.database('quiet').read();
    await idle.store.stop();
    running.splice(0);
    expect((await stat(snapshotPath)).mtimeMs).toBe(written);
    expect(JSON.parse((await readFile(snapshotPath, 'utf8')).split('\n')[0]!)).toEqual(header);

    // Journal segments the snapshot covers are removed.
    const busy = await start();
    await busy.client.database('quiet').container('things').items.create({ id: 'x', pk: 'a' });
    await busy.store.snapshot();
    const segments = (await readdir(dataDir)).filter((name) => name.startsWith('cosmos-journal-'));
    expect(segments).toHaveLength(1);
    expect(await readFile(join(dataDir, segments[0]!), 'utf8')).toBe('');
  });
});
