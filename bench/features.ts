/**
 * `npm run bench:features`: what each feature costs in throughput, measured in one run. The same gateway process
 * (store and light upstream in their own processes, as in `npm run bench`) serves team demo while the team is
 * changed between runs, one feature added at a time; the bare passthrough runs first and last as the reference.
 * Non-streaming chat, 1 KB bodies, 32 connections. Prints req/s, latency and the gateway's CPU per request per step.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ALIAS, type BenchStack, call, cpuMs, expectOk, positiveSetting, startBenchStack } from './bench-stack.js';
import { textTable } from './goals.js';
import { type BenchChild, stopChild } from './child-processes.js';
import { drive, type LoadResult, stopDriving } from './load.js';

const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SECONDS = positiveSetting('BENCH_SECONDS', 8);
const WARMUP_SECONDS = positiveSetting('BENCH_WARMUP_SECONDS', 3);
const CONNECTIONS = 32;
// The machine's two cores are shared by load, upstream, store and target: each step is measured in every round, the median counts.
const ROUNDS = Math.max(1, Math.round(positiveSetting('BENCH_ROUNDS', 2)));

/** Each step's team demo, as a merge patch over the previous one: the features in the order their issues landed. */
const STEPS: ReadonlyArray<{ name: string; issue: string; patch: Record<string, unknown> }> = [
  {
    name: 'auth, routing with live state, durable ledger',
    issue: '#5 ledger, #8 live state',
    patch: { budget: null, limits: null, safety: null },
  },
  {
    name: '+ hard budget and rpm/tpm limits (leased)',
    issue: '#9 budgets and limits',
    patch: { budget: { monthlyUsd: 1_000_000, enforce: 'hard' }, limits: { rpm: 100_000_000, tpm: 1_000_000_000 } },
  },
  {
    name: '+ local safety layers (blocklist, PII mask)',
    issue: '#10 content safety, local',
    patch: { safety: { pii: 'mask', blocklists: ['demo-blocklist'] } },
  },
  {
    name: '+ remote Content Safety (categories, Prompt Shields)',
    issue: '#10 content safety, remote',
    patch: { safety: { categories: { hate: 4, sexual: 4, violence: 4, selfHarm: 4 }, promptShield: true } },
  },
];

interface Step {
  name: string;
  issue: string;
  result: LoadResult;
  cpuUsPerRequest?: number;
  /** req/s of every round, when the step ran in more than one. */
  rounds?: number[];
}

async function measure(
  url: string,
  child: BenchChild,
  headers: Record<string, string>,
  body: string,
): Promise<Omit<Step, 'name' | 'issue'>> {
  await drive({ url, body, headers, connections: CONNECTIONS, seconds: WARMUP_SECONDS });
  const before = await cpuMs(child.process.pid);
  const result = await drive({ url, body, headers, connections: CONNECTIONS, seconds: SECONDS });
  const after = await cpuMs(child.process.pid);
  const requests = result.ok2xx + result.non2xx;
  return {
    result,
    cpuUsPerRequest: before === undefined || after === undefined ? undefined : ((after - before) * 1000) / Math.max(1, requests),
  };
}

/** The round whose req/s is the median of the step's rounds (the lower middle one for an even count). */
function medianStep(measured: Step[]): Step {
  const sorted = [...measured].sort((a, b) => a.result.reqPerSecMean - b.result.reqPerSecMean);
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

function row(step: Step, reference: number): string[] {
  return [
    step.name,
    step.issue,
    step.result.reqPerSecMean.toFixed(0),
    step.rounds ? step.rounds.map((r) => r.toFixed(0)).join(' / ') : '',
    (step.result.reqPerSecMean / reference).toFixed(3),
    String(step.result.p50Ms),
    String(step.result.p99Ms),
    step.cpuUsPerRequest === undefined ? 'n/a' : step.cpuUsPerRequest.toFixed(0),
    String(step.result.non2xx + step.result.errors),
  ];
}

async function main(stack: BenchStack): Promise<void> {
  const body = JSON.stringify({
    model: ALIAS,
    messages: [{ role: 'user', content: 'Summarise the switchyard timetable notes in one line. '.repeat(17) }],
  });
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${stack.demoKey}` };
  const passthroughUrl = `${stack.passthroughUrl}/v1/chat/completions`;
  const gatewayUrl = `${stack.gatewayUrl}/v1/chat/completions`;
  // The gateway's first requests compile its hot path: warmed before the first step is measured.
  await drive({ url: gatewayUrl, body, headers, connections: CONNECTIONS, seconds: WARMUP_SECONDS * 2 });
  const first = await measure(passthroughUrl, stack.passthrough!, headers, body);
  const rounds: Step[][] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const steps: Step[] = [];
    for (const step of STEPS) {
      await expectOk(
        await call(stack.gatewayUrl, '/manage/teams/demo', { method: 'PATCH', key: stack.adminKey, body: step.patch }),
        step.name,
      );
      process.stdout.write(`round ${round}: ${step.name} … `);
      const measured = await measure(gatewayUrl, stack.gateway, headers, body);
      process.stdout.write(`${measured.result.reqPerSecMean.toFixed(0)} req/s\n`);
      steps.push({ ...step, ...measured });
    }
    rounds.push(steps);
  }
  const steps = STEPS.map((_, i) => ({
    ...medianStep(rounds.map((r) => r[i]!)),
    rounds: rounds.map((r) => r[i]!.result.reqPerSecMean),
  }));
  const last = await measure(passthroughUrl, stack.passthrough!, headers, body);
  const reference = (first.result.reqPerSecMean + last.result.reqPerSecMean) / 2;
  process.stdout.write(
    `\n${textTable([
      ['step', 'feature (issue)', 'req/s', 'each round', '÷ passthrough', 'p50 ms', 'p99 ms', 'CPU µs/req', 'errors'],
      row({ name: 'bare passthrough (first)', issue: '', ...first }, reference),
      ...steps.map((s) => row(s, reference)),
      row({ name: 'bare passthrough (last)', issue: '', ...last }, reference),
    ])}\n\n(each step: the median round of ${ROUNDS}, the lower one of two — the embedded store on the same cores slows as its usage container grows, so later rounds run slower; ÷ passthrough: against the mean of the two passthrough runs; the remote step calls the Content Safety simulator, which runs in the gateway's process in local mode, so its CPU is counted there)\n`,
  );
}

const children: BenchChild[] = [];
const dataDir = await mkdtemp(join(tmpdir(), 'switchyard-bench-features-'));
let code = 0;
process.stdout.write(
  `Switchyard bench:features — node ${process.version}, ${cpus().length} CPU, load ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' / ')}; ${CONNECTIONS} connections, ${WARMUP_SECONDS}s warm-up + ${SECONDS}s per step, ${ROUNDS} rounds\n\n`,
);
try {
  const stack = await startBenchStack({
    projectRoot,
    dataDir,
    stream: { chunks: 20, gapMs: 5 },
    passthrough: true,
    children,
  });
  await main(stack);
} catch (error) {
  process.stderr.write(`bench:features failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  code = 1;
} finally {
  stopDriving();
  for (const child of [...children].reverse()) await stopChild(child, child.name === 'gateway' ? 15_000 : 5_000);
  await rm(dataDir, { recursive: true, force: true });
}
process.exit(code);
