/**
 * `npm run bench:ledger`: what the durable usage record costs.
 * 1. The ledger alone on the embedded store (journal + fdatasync): BENCH_LEDGER_RECORDS records from
 *    BENCH_LEDGER_CONCURRENCY concurrent writers, each awaiting its acknowledgement: median and p95 time to
 *    acknowledge, records per bulk write (group commit) and records per second.
 * 2. The local gateway (simulators on) under the same concurrency of non-streaming chat requests, with the answer
 *    waiting for its record (the default) and without (SWITCHYARD_LEDGER_DURABLE_WAIT_MS=0), alternating rounds:
 *    median and p95 request latency and requests per second.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CosmosClient } from '@azure/cosmos';
import { startEmbeddedCosmos } from '../local/embedded-cosmos.js';
import { containerDefinitions, ensureContainers } from '../shared/store/containers.js';
import { CosmosLedgerSink } from '../shared/store/cosmos-ledger.js';
import { Ledger } from '../shared/usage/ledger.js';
import type { UsageRecord } from '../shared/usage/usage-record.js';
import { type BenchChild, delay, spawnNode, stopChild } from './child-processes.js';

const RECORDS = Number(process.env.BENCH_LEDGER_RECORDS ?? 4_000);
const CONCURRENCY = Number(process.env.BENCH_LEDGER_CONCURRENCY ?? 32);
const REQUESTS_PER_ROUND = Number(process.env.BENCH_LEDGER_REQUESTS ?? 1_500);
const ROUNDS = Number(process.env.BENCH_LEDGER_ROUNDS ?? 2);
const DEMO_KEY = `sy-bench-ledger-${randomUUID()}`;
const projectRoot = join(import.meta.dirname, '..');

function usageRecord(n: number): UsageRecord {
  return {
    id: randomUUID(),
    requestId: `bench-${n}`,
    team: `team-${n % 8}`,
    day: '2026-11-30',
    ts: '2026-11-30T12:00:00.000Z',
    alias: 'chat',
    deployment: n % 2 ? 'llama-managed' : 'llama-serverless',
    kind: n % 2 ? 'managed' : 'serverless',
    operation: 'chat',
    status: 'ok',
    httpStatus: 200,
    inputTokens: 100 + (n % 900),
    outputTokens: 20 + (n % 400),
    cachedInputTokens: 0,
    reasoningTokens: 0,
    estimated: false,
    costMicroUsd: 850 + n,
    costRemainderPicoUsd: n % 1_000_000,
    stream: false,
    latencyMs: 120,
    ttfbMs: 40,
    attempts: 1,
  };
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
const ms = (value: number) => `${value.toFixed(2)} ms`;

/** Runs `total` calls of `one` from `concurrency` loops; returns each call's duration (ms) and the wall time. */
async function drive(
  total: number,
  concurrency: number,
  one: (n: number) => Promise<void>,
): Promise<{ durations: number[]; wallMs: number }> {
  const durations: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const n = next++;
        const t = performance.now();
        await one(n);
        durations.push(performance.now() - t);
      }
    }),
  );
  return { durations: durations.sort((a, b) => a - b), wallMs: performance.now() - started };
}

async function ledgerAlone(): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), 'switchyard-bench-ledger-'));
  const store = await startEmbeddedCosmos({ dataDir });
  const client = new CosmosClient(store.connectionOptions());
  try {
    const database = await ensureContainers(client, 'bench');
    const sink = new CosmosLedgerSink(
      database.container(containerDefinitions.usage.id),
      database.container(containerDefinitions.rollups.id),
    );
    const ledger = new Ledger(sink, 'w-bench', { flushIntervalMs: 1_000, now: Date.now, durableWaitMs: 60_000 });
    ledger.start();
    const { durations, wallMs } = await drive(RECORDS, CONCURRENCY, (n) => ledger.record(usageRecord(n)));
    await ledger.close(10_000);
    const { batches, records } = ledger.writes;
    process.stdout.write(
      `ledger alone (embedded store, journal + fdatasync), ${RECORDS} records from ${CONCURRENCY} concurrent writers:\n` +
        `  time to acknowledge: median ${ms(percentile(durations, 0.5))}, p95 ${ms(percentile(durations, 0.95))}\n` +
        `  bulk writes: ${batches}, records per write: ${(records / batches).toFixed(1)}, records/s: ${Math.round((RECORDS / wallMs) * 1000)}\n\n`,
    );
  } finally {
    client.dispose();
    await store.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((ok, fail) => server.once('error', fail).listen(0, '127.0.0.1', ok));
  const { port } = server.address() as { port: number };
  await new Promise<void>((ok) => server.close(() => ok()));
  return port;
}

async function startGateway(durableWaitMs: number, dataDir: string): Promise<{ child: BenchChild; url: string }> {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '' };
  const child = spawnNode({
    name: `gateway (durable wait ${durableWaitMs} ms)`,
    nodeArgs: ['--import', 'tsx', 'local/start.ts'],
    cwd: projectRoot,
    env: {
      ...env,
      PORT: String(port),
      HOST: '127.0.0.1',
      SWITCHYARD_DATA_DIR: dataDir,
      SWITCHYARD_DEMO_KEY: DEMO_KEY,
      SWITCHYARD_LEDGER_DURABLE_WAIT_MS: String(durableWaitMs),
    },
  });
  const url = `http://127.0.0.1:${port}`;
  const giveUpAt = Date.now() + 120_000;
  for (;;) {
    if (child.hasExited()) throw new Error(`the gateway exited before it was ready\n${child.tail()}`);
    const status = await fetch(`${url}/health/ready`).then(
      (r) => r.status,
      () => 0,
    );
    if (status === 200) return { child, url };
    if (Date.now() > giveUpAt) throw new Error(`the gateway was not ready\n${child.tail()}`);
    await delay(200);
  }
}

/** One round on a fresh data folder, so neither setting inherits the other's store. */
async function gatewayRound(durableWaitMs: number): Promise<{ median: number; p95: number; perSecond: number }> {
  const dataDir = await mkdtemp(join(tmpdir(), 'switchyard-bench-ledger-gw-'));
  const { child, url } = await startGateway(durableWaitMs, dataDir);
  try {
    const body = JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'How much does a record cost?' }], max_tokens: 16 });
    const one = async () => {
      const response = await fetch(`${url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${DEMO_KEY}`, 'content-type': 'application/json' },
        body,
      });
      const text = await response.text();
      if (response.status !== 200) throw new Error(`chat answered ${response.status}: ${text}`);
    };
    await drive(200, CONCURRENCY, one); // warm-up
    const { durations, wallMs } = await drive(REQUESTS_PER_ROUND, CONCURRENCY, one);
    return { median: percentile(durations, 0.5), p95: percentile(durations, 0.95), perSecond: (REQUESTS_PER_ROUND / wallMs) * 1000 };
  } finally {
    await stopChild(child, 15_000);
    await rm(dataDir, { recursive: true, force: true });
  }
}

async function gatewayComparison(): Promise<void> {
  const results: Record<'waits' | 'no wait', Array<{ median: number; p95: number; perSecond: number }>> = { waits: [], 'no wait': [] };
  for (let round = 0; round < ROUNDS; round++) {
    results['no wait'].push(await gatewayRound(0));
    results.waits.push(await gatewayRound(2_000));
  }
  process.stdout.write(
    `local gateway, non-streaming chat on the simulator, ${CONCURRENCY} concurrent, ${REQUESTS_PER_ROUND} requests × ${ROUNDS} alternating rounds:\n`,
  );
  for (const [name, rounds] of Object.entries(results)) {
    const median = rounds.map((r) => r.median).sort((a, b) => a - b);
    process.stdout.write(
      `  answer ${name === 'waits' ? 'waits for its durable record' : 'does not wait (record written behind)'}: ` +
        `median ${rounds.map((r) => ms(r.median)).join(' / ')}, p95 ${rounds.map((r) => ms(r.p95)).join(' / ')}, ` +
        `req/s ${rounds.map((r) => Math.round(r.perSecond)).join(' / ')} (median of medians ${ms(median[Math.floor(median.length / 2)]!)})\n`,
    );
  }
}

await ledgerAlone();
await gatewayComparison();
