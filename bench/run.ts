/**
 * `npm run bench`: throughput and latency of the local gateway against a bare passthrough proxy, both in
 * front of the same simulated upstream, each in its own process; then a check that the usage ledger
 * counted every request the gateway answered. Prints figures; exits 1 on errors above 0.5% or a ledger mismatch.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { delay, spawnNode, stopChild, type BenchChild } from './child-processes.js';
import { summariseCpuProfile } from './cpu-profile-summary.js';
import { utcDay } from '../shared/usage/usage-record.js';
import { drive, stopDriving, type LoadResult } from './load.js';

const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SECONDS = positiveNumber('BENCH_SECONDS', 10);
const WARMUP_SECONDS = positiveNumber('BENCH_WARMUP_SECONDS', 5);
// Two cores shared by load, simulator and target make single runs noisy: rounds alternate targets, the median counts.
const ROUNDS = Math.round(positiveNumber('BENCH_ROUNDS', 3));
const CONNECTIONS = 32;
const BODY_BYTES = 1024;
const MAX_ERROR_RATE = 0.005;
const PROFILE = process.env.BENCH_PROFILE === '1';
const ALIAS = 'bench';
const DEPLOYMENT = 'bench-sim';

const simKey = `sim-${randomBytes(18).toString('base64url')}`;
const demoKey = `sy-bench-${randomBytes(16).toString('hex')}`;
/** What team demo runs through on every bench request (never refused: the budget and limits are far above the load). */
const BENCH_TEAM_PIPELINE = {
  budget: { monthlyUsd: 1_000_000, enforce: 'hard' },
  limits: { rpm: 100_000_000, tpm: 1_000_000_000 },
  safety: { pii: 'mask', blocklists: ['demo-blocklist'] },
} as const;
const adminKey = `sya-bench-${randomBytes(16).toString('hex')}`;

const children: BenchChild[] = [];
let dataDir: string | undefined;
let cleaning: Promise<void> | undefined;

function positiveNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, got '${raw}'`);
  return value;
}

/** Children get our environment minus anything that would point the gateway away from local mode. */
function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (/^(COSMOS_|SWITCHYARD_|AZURE_)/.test(name) || name === 'PORT' || name === 'HOST') continue;
    env[name] = value;
  }
  return { ...env, ...extra };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((ok, fail) => server.once('error', fail).listen(0, '127.0.0.1', ok));
  const { port } = server.address() as { port: number };
  await new Promise<void>((ok) => server.close(() => ok()));
  return port;
}

/** A non-streaming chat request whose JSON is exactly `bytes` long. */
function chatBody(bytes: number): string {
  const shape = (content: string) =>
    JSON.stringify({
      model: ALIAS,
      messages: [
        { role: 'system', content: 'You are a concise assistant.' },
        { role: 'user', content },
      ],
    });
  const room = bytes - Buffer.byteLength(shape(''));
  const filler = 'Summarise the following notes about the switchyard timetable in one line. '
    .repeat(Math.ceil(room / 70) + 1)
    .slice(0, room);
  const body = shape(filler);
  if (Buffer.byteLength(body) !== bytes) throw new Error(`body is ${Buffer.byteLength(body)} bytes, wanted ${bytes}`);
  return body;
}

async function call(base: string, path: string, init: { method?: string; key: string; body?: unknown }): Promise<Response> {
  return fetch(base + path, {
    method: init.method ?? 'GET',
    headers: { authorization: `Bearer ${init.key}`, ...(init.body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
    signal: AbortSignal.timeout(10_000),
  });
}

async function expectOk(response: Response, what: string): Promise<unknown> {
  const text = await response.text();
  if (!response.ok) throw new Error(`${what}: HTTP ${response.status} ${text}`);
  return text ? (JSON.parse(text) as unknown) : undefined;
}

async function waitReady(gateway: BenchChild, url: string, timeoutMs: number): Promise<void> {
  const giveUpAt = Date.now() + timeoutMs;
  while (Date.now() < giveUpAt) {
    if (gateway.hasExited()) throw new Error(`the gateway exited before it was ready\n${gateway.tail()}`);
    const status = await fetch(`${url}/health/ready`, { signal: AbortSignal.timeout(2_000) }).then(
      (r) => r.status,
      () => 0,
    );
    if (status === 200) return;
    await delay(200);
  }
  throw new Error(`the gateway was not ready within ${timeoutMs} ms\n${gateway.tail()}`);
}

async function registerBenchRoute(gatewayUrl: string, simUrl: string): Promise<void> {
  await expectOk(
    await call(gatewayUrl, `/manage/deployments/${DEPLOYMENT}`, {
      method: 'PUT',
      key: adminKey,
      body: {
        kind: 'serverless',
        protocol: 'openai',
        endpoint: `${simUrl}/v1`,
        upstreamModel: 'Llama-3.3-70B-Instruct',
        serves: ['chat'],
        auth: { type: 'key', secret: 'UPSTREAM_BENCH_SIM_KEY' },
        pricing: { inputPerMillionUsd: 0.71, outputPerMillionUsd: 0.71 },
      },
    }),
    'register deployment',
  );
  await expectOk(
    await call(gatewayUrl, `/manage/routes/${ALIAS}`, { method: 'PUT', key: adminKey, body: { targets: [{ deployment: DEPLOYMENT }] } }),
    'register route',
  );
  const team = (await expectOk(await call(gatewayUrl, '/manage/teams/demo', { key: adminKey }), 'read team demo')) as { aliases: string[] };
  // The pipeline the performance goals name: a hard budget and limits checked on every request, and the local safety
  // layers (blocklist, PII) — not the remote Content Safety calls, whose simulator would run in the gateway's process.
  await expectOk(
    await call(gatewayUrl, '/manage/teams/demo', {
      method: 'PATCH',
      key: adminKey,
      body: {
        aliases: team.aliases.includes(ALIAS) ? team.aliases : [...team.aliases, ALIAS],
        budget: BENCH_TEAM_PIPELINE.budget,
        limits: BENCH_TEAM_PIPELINE.limits,
        safety: BENCH_TEAM_PIPELINE.safety,
      },
    }),
    'set up team demo for the bench',
  );
  // The demo key must see the alias before load starts; /v1/models leaves no trace in the ledger.
  const models = (await expectOk(await call(gatewayUrl, '/v1/models', { key: demoKey }), 'list models')) as { data: Array<{ id: string }> };
  if (!models.data.some((m) => m.id === ALIAS)) throw new Error(`alias ${ALIAS} is not visible to team demo: ${JSON.stringify(models)}`);
}

/** CPU time a process has used so far (user + system), from /proc; undefined where there is no /proc. */
async function cpuMs(pid: number | undefined): Promise<number | undefined> {
  if (pid === undefined) return undefined;
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticksPerSecond = 100; // USER_HZ on Linux
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / ticksPerSecond;
  } catch {
    return undefined;
  }
}

interface CpuUse {
  /** Cores the process kept busy on average during the measured run. */
  cores: number;
  usPerRequest: number;
}

async function cpuUse(
  pid: number | undefined,
  measure: () => Promise<LoadResult>,
): Promise<{ result: LoadResult; cpu?: CpuUse; wallMs: number; cpuMsUsed?: number }> {
  const before = await cpuMs(pid);
  const startedAt = performance.now();
  const result = await measure();
  const wallMs = performance.now() - startedAt;
  const after = await cpuMs(pid);
  if (before === undefined || after === undefined) return { result, wallMs };
  const used = after - before;
  return {
    result,
    wallMs,
    cpuMsUsed: used,
    cpu: { cores: used / wallMs, usPerRequest: (used * 1000) / Math.max(1, result.ok2xx + result.non2xx) },
  };
}

interface TargetRun {
  name: string;
  warmup: LoadResult;
  measured: LoadResult;
  cpu?: CpuUse;
  simCpu?: CpuUse;
  /** Monotonic clock (µs) around the measured run, to cut a CPU profile to it. */
  windowUs: { from: number; to: number };
}

async function runTarget(
  name: string,
  url: string,
  target: BenchChild,
  sim: BenchChild,
  body: string,
  headers: Record<string, string>,
): Promise<TargetRun> {
  process.stdout.write(`${name}: warm-up ${WARMUP_SECONDS}s, then ${SECONDS}s measured … `);
  const warmup = await drive({ url, body, headers, connections: CONNECTIONS, seconds: WARMUP_SECONDS });
  const from = Number(process.hrtime.bigint() / 1000n);
  const simBefore = await cpuMs(sim.process.pid);
  const {
    result: measured,
    cpu,
    wallMs,
  } = await cpuUse(target.process.pid, () => drive({ url, body, headers, connections: CONNECTIONS, seconds: SECONDS }));
  const simAfter = await cpuMs(sim.process.pid);
  const to = Number(process.hrtime.bigint() / 1000n);
  const simCpu =
    simBefore !== undefined && simAfter !== undefined
      ? {
          cores: (simAfter - simBefore) / wallMs,
          usPerRequest: ((simAfter - simBefore) * 1000) / Math.max(1, measured.ok2xx + measured.non2xx),
        }
      : undefined;
  process.stdout.write(`${measured.reqPerSecMean.toFixed(0)} req/s\n`);
  return { name, warmup, measured, cpu, simCpu, windowUs: { from, to } };
}

interface LedgerCheck {
  requests: number;
  failedRequests: number;
}

/** Reads alias `bench` from /usage until it has at least `expected` requests and holds still, or 5 s pass. */
async function readLedger(gatewayUrl: string, fromDay: string, expected: number): Promise<LedgerCheck> {
  const giveUpAt = Date.now() + 5_000;
  let last: LedgerCheck | undefined;
  for (;;) {
    const toDay = utcDay(Date.now());
    const report = (await expectOk(
      await call(gatewayUrl, `/usage?from=${fromDay}&to=${toDay}&groupBy=alias`, { key: adminKey }),
      'read usage',
    )) as {
      rows: Array<{ alias?: string; requests: number; failedRequests: number }>;
    };
    const row = report.rows.find((r) => r.alias === ALIAS);
    const now = { requests: row?.requests ?? 0, failedRequests: row?.failedRequests ?? 0 };
    if (last && now.requests >= expected && now.requests === last.requests) return now;
    if (Date.now() >= giveUpAt) return now;
    last = now;
    await delay(500);
  }
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows
    .map(
      (r, ri) =>
        r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ') +
        (ri === 0 ? `\n${widths.map((w) => '-'.repeat(w)).join('  ')}` : ''),
    )
    .join('\n');
}

function fixed(value: number, digits: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(digits);
}

async function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    stopDriving();
    // The gateway first: on SIGTERM it finishes in-flight requests, flushes the ledger and snapshots its store.
    for (const child of [...children].reverse()) await stopChild(child, child.name === 'gateway' ? (PROFILE ? 30_000 : 15_000) : 5_000);
    if (dataDir)
      await rm(dataDir, { recursive: true, force: true, maxRetries: 3 }).catch((error: unknown) =>
        process.stderr.write(`could not delete ${dataDir}: ${String(error)}\n`),
      );
  })();
  return cleaning;
}

async function main(): Promise<number> {
  const cpuList = cpus();
  process.stdout.write(
    `${[
      'Switchyard bench',
      `machine: node ${process.version}, ${cpuList.length} CPU (${cpuList[0]?.model.trim() ?? 'unknown'}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB, ${process.platform}/${process.arch}`,
      `load average at start (1/5/15 min): ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' / ')}`,
      `load: ${CONNECTIONS} connections, non-streaming chat, ${BODY_BYTES} B request bodies, ${WARMUP_SECONDS}s warm-up + ${SECONDS}s measured per target, one target at a time, ${ROUNDS} alternating rounds`,
      `gateway pipeline: auth, routing with shared live state, durable ledger, hard budget and rpm/tpm limits, local safety layers (blocklist, PII mask)`,
      '',
    ].join('\n')}\n`,
  );

  dataDir = await mkdtemp(join(tmpdir(), 'switchyard-bench-'));
  const profileDir = PROFILE ? await mkdtemp(join(tmpdir(), 'switchyard-bench-profile-')) : undefined;

  const sim = spawnNode({
    name: 'sim',
    nodeArgs: ['--import', 'tsx', 'bench/sim-process.ts'],
    cwd: projectRoot,
    env: childEnv({ BENCH_SIM_KEY: simKey }),
  });
  children.push(sim);
  const simUrl = String((await sim.firstJsonLine(30_000)).url);

  const gatewayPort = await freePort();
  const gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
  const gateway = spawnNode({
    name: 'gateway',
    nodeArgs: ['--import', 'tsx', ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []), 'local/start.ts'],
    cwd: projectRoot,
    env: childEnv({
      PORT: String(gatewayPort),
      HOST: '127.0.0.1',
      SWITCHYARD_DATA_DIR: dataDir,
      SWITCHYARD_DEMO_KEY: demoKey,
      SWITCHYARD_ADMIN_KEY: adminKey,
      UPSTREAM_BENCH_SIM_KEY: simKey,
    }),
  });
  children.push(gateway);

  const passthrough = spawnNode({
    name: 'passthrough',
    nodeArgs: ['--import', 'tsx', 'bench/passthrough-process.ts'],
    cwd: projectRoot,
    env: childEnv({ BENCH_SIM_URL: simUrl, BENCH_SIM_KEY: simKey }),
  });
  children.push(passthrough);
  const passthroughUrl = String((await passthrough.firstJsonLine(30_000)).url);

  await waitReady(gateway, gatewayUrl, 120_000);
  await registerBenchRoute(gatewayUrl, simUrl);
  process.stdout.write(
    `sim ${simUrl}  gateway ${gatewayUrl}  passthrough ${passthroughUrl}${profileDir ? `  (gateway CPU profile → ${profileDir})` : ''}\n\n`,
  );

  const body = chatBody(BODY_BYTES);
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${demoKey}` };
  const startedDay = utcDay(Date.now());
  const runs: TargetRun[] = [];
  const ratios: number[] = [];
  const gatewayRuns: TargetRun[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const passRun = await runTarget(`passthrough #${round}`, `${passthroughUrl}/v1/chat/completions`, passthrough, sim, body, headers);
    const gatewayRun = await runTarget(`gateway #${round}`, `${gatewayUrl}/v1/chat/completions`, gateway, sim, body, headers);
    runs.push(passRun, gatewayRun);
    gatewayRuns.push(gatewayRun);
    ratios.push(gatewayRun.measured.reqPerSecMean / passRun.measured.reqPerSecMean);
  }
  const gatewayRun = gatewayRuns[gatewayRuns.length - 1]!;
  const warmup2xx = gatewayRuns.reduce((n, r) => n + r.warmup.ok2xx, 0);
  const measured2xx = gatewayRuns.reduce((n, r) => n + r.measured.ok2xx, 0);
  const gateway2xx = warmup2xx + measured2xx;
  const abandoned = gatewayRuns.reduce((n, r) => n + r.warmup.abandoned + r.measured.abandoned, 0);
  const ledger = await readLedger(gatewayUrl, startedDay, gateway2xx);

  const median = [...ratios].sort((a, b) => a - b)[Math.floor(ratios.length / 2)]!;
  process.stdout.write(
    '\n' +
      table([
        ['target', 'req/s (mean)', 'p50 ms', 'p99 ms', '2xx', 'non-2xx', 'errors', 'target CPU', 'µs CPU/req', 'sim CPU'],
        ...runs.map((r) => [
          r.name,
          r.measured.reqPerSecMean.toFixed(1),
          fixed(r.measured.p50Ms, 2),
          fixed(r.measured.p99Ms, 2),
          String(r.measured.ok2xx),
          String(r.measured.non2xx),
          String(r.measured.errors),
          r.cpu ? `${r.cpu.cores.toFixed(2)} cores` : 'n/a',
          r.cpu ? r.cpu.usPerRequest.toFixed(0) : 'n/a',
          r.simCpu ? `${r.simCpu.cores.toFixed(2)} cores` : 'n/a',
        ]),
      ]) +
      '\n' +
      `(target CPU, sim CPU: cores each process kept busy during the measured run, from /proc; autocannon, the sim and the target share ${cpus().length} CPUs)\n\n` +
      `gateway ÷ passthrough (req/s), per round: ${ratios.map((r) => r.toFixed(3)).join(', ')}\n` +
      `gateway ÷ passthrough (req/s), median of ${ratios.length}: ${median.toFixed(3)}\n`,
  );

  let failed = false;
  for (const r of runs) {
    const all = [r.warmup, r.measured];
    const bad = all.reduce((n, x) => n + x.non2xx + x.errors, 0);
    const total = all.reduce((n, x) => n + x.ok2xx + x.non2xx + x.errors, 0);
    const rate = total === 0 ? 1 : bad / total;
    const codes = Object.entries(r.measured.statusCodes)
      .map(([c, n]) => `${c}×${n}`)
      .join(' ');
    process.stdout.write(
      `${r.name}: non-2xx + errors = ${bad} of ${total} (${(100 * rate).toFixed(3)}%, warm-up included)  status codes (measured): ${codes || 'none'}\n`,
    );
    if (rate > MAX_ERROR_RATE) failed = true;
  }

  const exact = ledger.requests === gateway2xx;
  const withAbandoned = !exact && ledger.requests === gateway2xx + abandoned;
  process.stdout.write(
    `${[
      '',
      `ledger check (GET /usage?groupBy=alias, alias ${ALIAS}, ${startedDay}…${utcDay(Date.now())}):`,
      `  requests in the ledger:              ${ledger.requests} (failedRequests ${ledger.failedRequests})`,
      `  2xx counted by autocannon:           ${gateway2xx} (warm-ups ${warmup2xx} + measured ${measured2xx})`,
      `  in flight when autocannon stopped:   ${abandoned} (sent, then its connection closed before the answer)`,
      exact
        ? '  match: yes'
        : withAbandoned
          ? `  match: yes, once the ${abandoned} requests autocannon abandoned at the end of its runs are counted (the gateway answered them into closed sockets)`
          : `  match: NO (ledger − 2xx = ${ledger.requests - gateway2xx})`,
      '',
    ].join('\n')}\n`,
  );
  if (!exact && !withAbandoned) failed = true;
  process.stdout.write(
    `load average at end (1/5/15 min): ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' / ')}\n`,
  );

  if (profileDir) {
    await stopChild(gateway, 30_000);
    // Kept with the profile so it can be summarised again: `node --import tsx bench/cpu-profile-summary.ts <file> [top] [window.json]`.
    await writeFile(join(profileDir, 'measured-window.json'), `${JSON.stringify(gatewayRun.windowUs)}\n`);
    const files = (await readdir(profileDir)).filter((f) => f.endsWith('.cpuprofile'));
    if (files.length === 0) process.stdout.write(`no .cpuprofile was written to ${profileDir}\n`);
    for (const f of files) {
      process.stdout.write(
        `\n${await summariseCpuProfile(join(profileDir, f), { windowUs: gatewayRun.windowUs, projectRoot, top: 30 })}\n`,
      );
    }
  }
  if (failed) process.stdout.write('\nFAILED: errors above 0.5% or a ledger mismatch\n');
  return failed ? 1 : 0;
}

process.once('SIGINT', () => {
  process.stderr.write('\ninterrupted: stopping the bench processes…\n');
  void cleanup().finally(() => process.exit(130));
});
process.once('SIGTERM', () => void cleanup().finally(() => process.exit(143)));

let code = 1;
try {
  code = await main();
} catch (error) {
  process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
} finally {
  await cleanup();
}
process.exit(code);
