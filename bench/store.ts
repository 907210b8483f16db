/**
 * `npm run bench:store`: what durability costs the embedded store and how fast it comes back.
 * Prints: the latency of one acknowledged write (journal append + fdatasync) against the same store kept
 * in memory only, journal bytes per usage-sized record, throughput with concurrent writers (group commit),
 * and the start time with BENCH_STORE_DOCS documents (default 100,000) from a snapshot and from a journal.
 */
import { cp, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CosmosClient, type Container } from '@azure/cosmos';
import { startEmbeddedCosmos, type EmbeddedCosmos } from '../local/embedded-cosmos.js';

const DOCS = Number(process.env.BENCH_STORE_DOCS ?? 100_000);
const SEQUENTIAL_WRITES = 500;
const CONCURRENT_WRITES = 4_000;
const CONCURRENCY = 32;

// Shaped like a usage record (~600 bytes), the document the store writes most.
function usageRecord(n: number): Record<string, unknown> {
  return {
    id: `req-${n.toString(36).padStart(10, '0')}`,
    team: `team-${n % 40}`,
    day: `2026-11-${String((n % 28) + 1).padStart(2, '0')}`,
    alias: 'chat',
    deployment: n % 2 ? 'llama-managed' : 'llama-serverless',
    kind: n % 2 ? 'managed' : 'serverless',
    status: 'ok',
    httpStatus: 200,
    inputTokens: 100 + (n % 900),
    outputTokens: 20 + (n % 400),
    estimated: false,
    costMicroUsd: 850 + n,
    costRemainderPicoUsd: 0,
    latencyMs: 120 + (n % 70),
    ttfbMs: 40 + (n % 30),
    attempts: 1,
    requestId: `a1b2c3d4-${n.toString(16).padStart(8, '0')}-4e5f-9a8b-7c6d5e4f3a2b`,
    at: '2026-11-29T10:11:12.131Z',
  };
}

async function open(
  dataDir: string | undefined,
  options: { compactAfterBytes?: number; log?: (message: string) => void } = {},
): Promise<{ store: EmbeddedCosmos; container: Container; client: CosmosClient }> {
  const store = await startEmbeddedCosmos({ dataDir, ...options });
  const client = new CosmosClient(store.connectionOptions());
  const { database } = await client.databases.createIfNotExists({ id: 'bench' });
  const { container } = await database.containers.createIfNotExists({ id: 'usage', partitionKey: { paths: ['/team'] } });
  return { store, container, client };
}

async function sequentialWriteMs(container: Container, offset: number): Promise<{ p50: number; p99: number }> {
  const times: number[] = [];
  for (let i = 0; i < SEQUENTIAL_WRITES; i += 1) {
    const started = performance.now();
    await container.items.create(usageRecord(offset + i));
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  return { p50: times[Math.floor(times.length / 2)]!, p99: times[Math.floor(times.length * 0.99)]! };
}

async function concurrentWritesPerSecond(container: Container, offset: number): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < CONCURRENT_WRITES) await container.items.create(usageRecord(offset + next++));
    }),
  );
  return CONCURRENT_WRITES / ((performance.now() - started) / 1000);
}

async function load(container: Container, count: number, offset: number): Promise<void> {
  for (let start = 0; start < count; start += 10_000) {
    const batch = Array.from({ length: Math.min(10_000, count - start) }, (_, i) => usageRecord(offset + start + i));
    const results = await container.items.executeBulkOperations(
      batch.map((doc) => ({ operationType: 'Create' as const, partitionKey: doc.team as string, resourceBody: doc as { id: string } })),
    );
    const failed = results.filter((r) => r.error !== undefined || (r.response?.statusCode ?? 200) >= 400);
    if (failed.length > 0) throw new Error(`bulk load: ${failed.length} failed`);
  }
}

// The compatible server's queries are quadratic in container size, so the count comes from the restore's own log.
async function timedStart(dataDir: string): Promise<{ ms: number; count: number }> {
  let restored = '';
  const started = performance.now();
  const { store, client } = await open(dataDir, { log: (message) => (restored += message.includes('restored') ? message : '') });
  const ms = performance.now() - started;
  client.dispose();
  await store.stop();
  const [, snapshotEntries = '0', journalEntries = '0'] = /restored (\d+) snapshot entries and (\d+) journal entries/.exec(restored) ?? [];
  // Less the database and the container entries.
  return { ms, count: Number(snapshotEntries) + Number(journalEntries) - 2 };
}

async function journalBytes(dataDir: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(dataDir)) if (name.startsWith('cosmos-journal-')) total += (await stat(join(dataDir, name))).size;
  return total;
}

const root = await mkdtemp(join(tmpdir(), 'sy-bench-store-'));
try {
  const memory = await open(undefined);
  const inMemory = await sequentialWriteMs(memory.container, 0);
  const inMemoryRate = await concurrentWritesPerSecond(memory.container, 1_000_000);
  memory.client.dispose();
  await memory.store.stop();

  const journaledDir = join(root, 'journaled');
  const journaled = await open(journaledDir, { compactAfterBytes: Number.MAX_SAFE_INTEGER });
  const before = await journalBytes(journaledDir);
  const durable = await sequentialWriteMs(journaled.container, 0);
  const bytesPerWrite = ((await journalBytes(journaledDir)) - before) / SEQUENTIAL_WRITES;
  const durableRate = await concurrentWritesPerSecond(journaled.container, 1_000_000);
  console.log(
    `one write, acknowledged:    p50 ${durable.p50.toFixed(2)} ms, p99 ${durable.p99.toFixed(2)} ms journaled  |  p50 ${inMemory.p50.toFixed(2)} ms, p99 ${inMemory.p99.toFixed(2)} ms in memory`,
  );
  console.log(`journal bytes per record:   ${Math.round(bytesPerWrite)} (a ${JSON.stringify(usageRecord(0)).length}-byte document)`);
  console.log(
    `${CONCURRENCY} concurrent writers:      ${Math.round(durableRate)} writes/s journaled  |  ${Math.round(inMemoryRate)} writes/s in memory`,
  );

  await load(journaled.container, DOCS - SEQUENTIAL_WRITES - CONCURRENT_WRITES, 2_000_000);
  // A copy of the folder while the store runs is what a kill -9 leaves: every acknowledged write is in the journal.
  const crashedDir = join(root, 'crashed');
  await cp(journaledDir, crashedDir, { recursive: true });
  console.log(`journal for ${DOCS} docs:      ${((await journalBytes(crashedDir)) / 1024 / 1024).toFixed(1)} MiB`);
  journaled.client.dispose();
  const stopStarted = performance.now();
  await journaled.store.stop();
  console.log(
    `stop, compacting:           ${Math.round(performance.now() - stopStarted)} ms (snapshot ${((await stat(join(journaledDir, 'cosmos-snapshot.json'))).size / 1024 / 1024).toFixed(1)} MiB)`,
  );

  const fromSnapshot = await timedStart(journaledDir);
  console.log(`start from snapshot:        ${Math.round(fromSnapshot.ms)} ms for ${fromSnapshot.count} docs`);
  const fromJournal = await timedStart(crashedDir);
  console.log(`start from journal only:    ${Math.round(fromJournal.ms)} ms for ${fromJournal.count} docs`);
  if (fromSnapshot.count !== DOCS || fromJournal.count !== DOCS) throw new Error(`expected ${DOCS} docs after each start`);
} finally {
  await rm(root, { recursive: true, force: true });
}
