/**
 * `npm run soak`: the gateway (own process, the store in another, the light upstream in a third) under a steady
 * open-loop load of whole and streamed chat for SOAK_SECONDS (default 180, at most 600), its RSS (from /proc) and
 * heap (from the loop-monitor preload) sampled every SOAK_SAMPLE_SECONDS; prints the samples and a verdict on
 * growth; exits 1 when memory grows, on errors above 0.5% or when the ledger misses an answer.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { utcDay } from '../shared/usage/usage-record.js';
import {
  ALIAS,
  type BenchStack,
  gatewayDescription,
  monitorReport,
  PIPELINE_DESCRIPTION,
  positiveSetting,
  readLedger,
  rssBytes,
  startBenchStack,
} from './bench-stack.js';
import { type BenchChild, delay, stopChild } from './child-processes.js';
import { summariseLatencies } from './latency-stats.js';
import { openLoop, type OpenLoopResult } from './open-loop.js';
import { type GrowthVerdictOptions, growthVerdict, type MemorySample } from './soak-verdict.js';

const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const MAX_SECONDS = 600;
const SECONDS = setting('SOAK_SECONDS', 180);
const SAMPLE_SECONDS = setting('SOAK_SAMPLE_SECONDS', 5);
const RATE = setting('SOAK_RATE', 150);
/** One request in this many is streamed. */
const STREAM_EVERY = 4;
const MAX_ERROR_RATE = 0.005;
// Samples follow a full collection, so the heap is what is live (noise well under 1 MB) and can be held tighter than RSS.
const RSS_VERDICT: GrowthVerdictOptions = { maxSlopeMbPerMinute: 2, maxQuarterRiseMb: 5 };
const HEAP_VERDICT: GrowthVerdictOptions = { maxSlopeMbPerMinute: 1, maxQuarterRiseMb: 2 };
const MB = 2 ** 20;

function setting(name: string, fallback: number): number {
  const value = positiveSetting(name, fallback);
  if (name === 'SOAK_SECONDS' && value > MAX_SECONDS) throw new Error(`SOAK_SECONDS is at most ${MAX_SECONDS}, got ${value}`);
  return value;
}

interface Sample extends MemorySample {
  loopDelayP99Ms?: number;
  answered: number;
}

function chat(stream: boolean, n: number): string {
  return JSON.stringify({
    model: ALIAS,
    ...(stream ? { stream: true } : {}),
    messages: [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: `Soak request ${n}: what leaves the switchyard after the night train, and on which track?` },
    ],
  });
}

async function sampleMemory(stack: BenchStack, startedAt: number, answered: () => number): Promise<Sample | undefined> {
  const [rss, report] = await Promise.all([rssBytes(stack.gateway.process.pid), monitorReport(stack.gateway)]);
  if (rss === undefined) return undefined;
  return {
    atMs: performance.now() - startedAt,
    rssBytes: rss,
    heapUsedBytes: report?.heapUsedBytes,
    loopDelayP99Ms: report?.loopDelayP99Ms,
    answered: answered(),
  };
}

async function soak(stack: BenchStack): Promise<number> {
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${stack.demoKey}` };
  // A few distinct bodies, so nothing is served from one cached shape.
  const bodies = Array.from({ length: STREAM_EVERY * 4 }, (_, i) => chat(i % STREAM_EVERY === STREAM_EVERY - 1, i));
  const startedDay = utcDay(Date.now());
  const samples: Sample[] = [];
  const startedAt = performance.now();
  let result: OpenLoopResult | undefined;
  let answeredSoFar = 0;
  const load = openLoop({
    url: `${stack.gatewayUrl}/v1/chat/completions`,
    headers,
    bodies,
    ratePerSecond: RATE,
    seconds: SECONDS,
    maxInFlight: 512,
    connections: 64,
    onAnswer: () => {
      answeredSoFar += 1;
    },
  }).then((r) => {
    result = r;
  });
  process.stdout.write(
    `${'t s'.padStart(6)}  ${'RSS MB'.padStart(7)}  ${'heap MB'.padStart(7)}  ${'loop p99 ms'.padStart(11)}  answered\n`,
  );
  while (result === undefined) {
    await Promise.race([load, delay(SAMPLE_SECONDS * 1000)]);
    if (result !== undefined) break;
    const sample = await sampleMemory(stack, startedAt, () => answeredSoFar);
    if (!sample) continue;
    samples.push(sample);
    process.stdout.write(
      `${(sample.atMs / 1000).toFixed(0).padStart(6)}  ${(sample.rssBytes / MB).toFixed(1).padStart(7)}  ${((sample.heapUsedBytes ?? Number.NaN) / MB).toFixed(1).padStart(7)}  ${(sample.loopDelayP99Ms ?? Number.NaN).toFixed(2).padStart(11)}  ${sample.answered}\n`,
    );
  }
  await load;
  const done = result!;

  const rss = growthVerdict(samples, (s) => s.rssBytes, RSS_VERDICT);
  const withHeap = samples.filter((s) => s.heapUsedBytes !== undefined);
  const heap = growthVerdict(withHeap, (s) => s.heapUsedBytes!, HEAP_VERDICT);
  const latency = summariseLatencies(done.latenciesMs);
  const expected = done.ok2xx;
  const ledger = await readLedger(stack, startedDay, () => utcDay(Date.now()), [ALIAS], expected);
  const errorRate = done.sent === 0 ? 1 : (done.non2xx + done.errors) / done.sent;
  const ledgerMatches = ledger.requests >= expected && ledger.requests <= expected + done.errors;
  process.stdout.write(
    `${[
      '',
      `load: ${done.scheduled} scheduled at ${RATE} req/s (1 in ${STREAM_EVERY} streamed), ${done.sent} sent, ${done.skipped} not sent (512 in flight), ${done.ok2xx} 2xx, ${done.non2xx} non-2xx, ${done.errors} errors; latency from the scheduled time p50 ${latency.p50Ms.toFixed(2)} ms, p99 ${latency.p99Ms.toFixed(2)} ms`,
      `RSS:  ${rss.reason} (second-quarter median ${rss.secondQuarterMedianMb.toFixed(1)} MB, last-quarter ${rss.lastQuarterMedianMb.toFixed(1)} MB)`,
      `heap: ${heap.reason} (second-quarter median ${heap.secondQuarterMedianMb.toFixed(1)} MB, last-quarter ${heap.lastQuarterMedianMb.toFixed(1)} MB)`,
      "(growth means both: a least-squares slope over the second half above the limit, and the last quarter's median more than its limit above the second quarter's; the first half is warm-up)",
      `ledger: ${ledger.requests} requests recorded for ${expected} 2xx answers (+ up to ${done.errors} cut) — ${ledgerMatches ? 'match' : 'MISMATCH'}`,
      `load average at end (1/5/15 min): ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' / ')}`,
    ].join('\n')}\n`,
  );
  const grows = rss.grows || heap.grows;
  const failed = grows || errorRate > MAX_ERROR_RATE || !ledgerMatches;
  process.stdout.write(
    failed
      ? `\nFAILED: ${[grows ? 'memory grows' : '', errorRate > MAX_ERROR_RATE ? `errors ${(100 * errorRate).toFixed(2)}%` : '', ledgerMatches ? '' : 'ledger mismatch'].filter(Boolean).join(', ')}\n`
      : '\nflat: no growth, errors within 0.5%, every answer recorded\n',
  );
  return failed ? 1 : 0;
}

const children: BenchChild[] = [];
const dataDir = await mkdtemp(join(tmpdir(), 'switchyard-soak-'));
let stopping: Promise<void> | undefined;
const cleanup = () => {
  stopping ??= (async () => {
    for (const child of [...children].reverse()) await stopChild(child, child.name === 'gateway' ? 15_000 : 5_000);
    await rm(dataDir, { recursive: true, force: true, maxRetries: 3 });
  })();
  return stopping;
};
process.once('SIGINT', () => void cleanup().finally(() => process.exit(130)));
process.once('SIGTERM', () => void cleanup().finally(() => process.exit(143)));

let code = 1;
try {
  process.stdout.write(
    `Switchyard soak — node ${process.version}, ${cpus().length} CPU, load ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' / ')}\n` +
      `${SECONDS}s at ${RATE} req/s open loop (1 in ${STREAM_EVERY} streamed: 20 token-sized chunks 5 ms apart), samples every ${SAMPLE_SECONDS}s, each after a full garbage collection in the gateway (node --expose-gc)\n` +
      `${gatewayDescription(false)}; pipeline: ${PIPELINE_DESCRIPTION}\n\n`,
  );
  const stack = await startBenchStack({
    projectRoot,
    dataDir,
    stream: { chunks: 20, gapMs: 5 },
    passthrough: false,
    collectGarbageOnReport: true,
    children,
  });
  code = await soak(stack);
} catch (error) {
  process.stderr.write(`soak failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
} finally {
  await cleanup();
}
process.exit(code);
