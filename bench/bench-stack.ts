import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { type BenchChild, delay, spawnNode } from './child-processes.js';

/**
 * The processes `npm run bench` and `npm run soak` measure, each in its own process: the light upstream, the
 * embedded store, a bare passthrough (optional) and the gateway (with the loop-monitor preload), and the routes and
 * team the gateway serves the bench with.
 */
export const ALIAS = 'bench';

/** What team demo runs through on every bench request (never refused: the budget and limits are far above the load). */
export const BENCH_TEAM_PIPELINE = {
  budget: { monthlyUsd: 1_000_000, enforce: 'hard' },
  limits: { rpm: 100_000_000, tpm: 1_000_000_000 },
  // A merge patch over the demo profile that npm start seeds: the remote layers (categories, Prompt Shields) are
  // switched off explicitly, or they would stay on and every request would call Content Safety.
  safety: { categories: null, promptShield: false, pii: 'mask', blocklists: ['demo-blocklist'] },
} as const;

/** What bench/loop-monitor.mjs starts its report lines with. */
const MONITOR_LINE_PREFIX = 'bench-monitor ';

export const PIPELINE_DESCRIPTION =
  'auth, routing with shared live state, durable ledger (store in its own process, over TLS), hard budget and rpm/tpm limits, local safety layers (blocklist, PII mask)';

export interface StreamShape {
  chunks: number;
  gapMs: number;
  /** Each chunk's text is padded to this many characters (0: just its word, like a token or two). */
  chunkChars: number;
}

export interface BenchStackOptions {
  projectRoot: string;
  /** Folder for the store's data and certificate and the gateway's data; the caller deletes it. */
  dataDir: string;
  /** The upstream's default stream shape (alias bench, path /v1/chat/completions); its chunkChars is 0. */
  stream: Omit<StreamShape, 'chunkChars'>;
  /** More aliases, each on a deployment whose upstream streams in its shape (reached at streamPath(shape) without the gateway). */
  streamAliases?: Array<{ alias: string; shape: StreamShape }>;
  passthrough: boolean;
  /**
   * Writes the gateway's CPU profile here (node --cpu-prof) when set; the gateway then runs from its sources
   * through tsx, so the profile names source files rather than bundle chunks.
   */
  profileDir?: string;
  /** Each monitor report collects garbage first (a soak's samples then show what is live, not the GC sawtooth). */
  collectGarbageOnReport?: boolean;
  /** Every child is pushed here as soon as it starts, so the caller can stop them whatever happens next. */
  children: BenchChild[];
}

export interface BenchStack {
  upstream: BenchChild;
  upstreamUrl: string;
  store: BenchChild;
  gateway: BenchChild;
  gatewayUrl: string;
  passthrough?: BenchChild;
  passthroughUrl?: string;
  upstreamKey: string;
  demoKey: string;
  adminKey: string;
}

/** A positive number from the environment (a bench or soak setting), or `fallback` when unset; anything else throws. */
export function positiveSetting(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, got '${raw}'`);
  return value;
}

/** Children get our environment minus anything that would point the gateway away from its bench settings. */
export function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (/^(COSMOS_|SWITCHYARD_|AZURE_|BENCH_|NODE_EXTRA_CA_CERTS|NODE_TLS_)/.test(name) || name === 'PORT' || name === 'HOST') continue;
    env[name] = value;
  }
  return { ...env, ...extra };
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((ok, fail) => server.once('error', fail).listen(0, '127.0.0.1', ok));
  const { port } = server.address() as { port: number };
  await new Promise<void>((ok) => server.close(() => ok()));
  return port;
}

export async function call(base: string, path: string, init: { method?: string; key: string; body?: unknown }): Promise<Response> {
  return fetch(base + path, {
    method: init.method ?? 'GET',
    headers: { authorization: `Bearer ${init.key}`, ...(init.body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
    signal: AbortSignal.timeout(10_000),
  });
}

export async function expectOk(response: Response, what: string): Promise<unknown> {
  const text = await response.text();
  if (!response.ok) throw new Error(`${what}: HTTP ${response.status} ${text}`);
  return text ? (JSON.parse(text) as unknown) : undefined;
}

export async function startBenchStack(options: BenchStackOptions): Promise<BenchStack> {
  const { projectRoot, dataDir, children } = options;
  const upstreamKey = `up-${randomBytes(18).toString('base64url')}`;
  const demoKey = `sy-bench-${randomBytes(16).toString('hex')}`;
  const adminKey = `sya-bench-${randomBytes(16).toString('hex')}`;

  const upstream = spawnNode({
    name: 'upstream',
    nodeArgs: ['--import', 'tsx', 'bench/light-upstream.ts'],
    cwd: projectRoot,
    env: childEnv({
      BENCH_UPSTREAM_KEY: upstreamKey,
      BENCH_STREAM_CHUNKS: String(options.stream.chunks),
      BENCH_STREAM_GAP_MS: String(options.stream.gapMs),
    }),
  });
  children.push(upstream);
  const store = spawnNode({
    name: 'store',
    nodeArgs: ['--import', 'tsx', 'bench/store-process.ts'],
    cwd: projectRoot,
    env: childEnv({ BENCH_STORE_DATA_DIR: join(dataDir, 'store'), BENCH_STORE_CA_FILE: join(dataDir, 'store-ca.pem') }),
  });
  children.push(store);
  let passthrough: BenchChild | undefined;
  const upstreamUrl = String((await upstream.firstJsonLine(30_000)).url);
  if (options.passthrough) {
    passthrough = spawnNode({
      name: 'passthrough',
      nodeArgs: ['--import', 'tsx', 'bench/passthrough-process.ts'],
      cwd: projectRoot,
      env: childEnv({ BENCH_UPSTREAM_URL: upstreamUrl, BENCH_UPSTREAM_KEY: upstreamKey }),
    });
    children.push(passthrough);
  }
  const storeInfo = await store.firstJsonLine(60_000);

  const gatewayPort = await freePort();
  const gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
  const gateway = spawnNode({
    name: 'gateway',
    nodeArgs: [...(options.collectGarbageOnReport ? ['--expose-gc'] : []), ...gatewayNodeArgs(options.profileDir)],
    cwd: projectRoot,
    env: childEnv({
      PORT: String(gatewayPort),
      HOST: '127.0.0.1',
      SWITCHYARD_MODE: 'local',
      COSMOS_ENDPOINT: String(storeInfo.endpoint),
      COSMOS_KEY: String(storeInfo.key),
      // This child alone trusts the store's certificate (new on every start); TLS stays verified.
      NODE_EXTRA_CA_CERTS: String(storeInfo.caFile),
      SWITCHYARD_DATA_DIR: join(dataDir, 'gateway'),
      SWITCHYARD_DEMO_KEY: demoKey,
      SWITCHYARD_ADMIN_KEY: adminKey,
      UPSTREAM_BENCH_KEY: upstreamKey,
      ...(options.collectGarbageOnReport ? { BENCH_MONITOR_GC: '1' } : {}),
    }),
  });
  children.push(gateway);
  const passthroughUrl = passthrough ? String((await passthrough.firstJsonLine(30_000)).url) : undefined;
  await waitReady(gateway, gatewayUrl, 120_000);
  const stack = { upstream, upstreamUrl, store, gateway, gatewayUrl, passthrough, passthroughUrl, upstreamKey, demoKey, adminKey };
  await registerBenchRoutes(stack, options.streamAliases);
  return stack;
}

/** What `npm start` runs (precompiled), or its sources through tsx when profiling; with the loop-monitor preload. */
function gatewayNodeArgs(profileDir: string | undefined): string[] {
  const monitor = ['--import', './bench/loop-monitor.mjs'];
  if (!profileDir) return [...monitor, 'scripts/start.mjs'];
  return ['--import', 'tsx', ...monitor, '--cpu-prof', `--cpu-prof-dir=${profileDir}`, 'local/start.ts'];
}

export function gatewayDescription(profiling: boolean): string {
  return profiling
    ? 'gateway from its sources through tsx (node --cpu-prof, so the profile names source files)'
    : 'gateway as npm start runs it (scripts/start.mjs: the precompiled local build)';
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

/** The path under the passthrough (or the upstream) that gives streams of this shape. */
export function streamPath(shape: StreamShape): string {
  return `/s/${shape.chunks}/${shape.gapMs}/${shape.chunkChars}/v1/chat/completions`;
}

async function registerBenchRoutes(stack: BenchStack, streamAliases: BenchStackOptions['streamAliases'] = []): Promise<void> {
  const { gatewayUrl, adminKey, demoKey, upstreamUrl } = stack;
  const deployments = [
    { alias: ALIAS, deployment: 'bench-light', endpoint: `${upstreamUrl}/v1` },
    ...streamAliases.map(({ alias, shape }) => ({
      alias,
      deployment: `bench-light-${alias}`,
      endpoint: `${upstreamUrl}${streamPath(shape).replace('/chat/completions', '')}`,
    })),
  ];
  const aliases = deployments.map((d) => d.alias);
  for (const { alias, deployment, endpoint } of deployments) {
    await expectOk(
      await call(gatewayUrl, `/manage/deployments/${deployment}`, {
        method: 'PUT',
        key: adminKey,
        body: {
          kind: 'serverless',
          protocol: 'openai',
          endpoint,
          upstreamModel: 'bench-light',
          serves: ['chat'],
          auth: { type: 'key', secret: 'UPSTREAM_BENCH_KEY' },
          pricing: { inputPerMillionUsd: 0.71, outputPerMillionUsd: 0.71 },
        },
      }),
      `register deployment ${deployment}`,
    );
    await expectOk(
      await call(gatewayUrl, `/manage/routes/${alias}`, { method: 'PUT', key: adminKey, body: { targets: [{ deployment }] } }),
      `register route ${alias}`,
    );
  }
  const team = (await expectOk(await call(gatewayUrl, '/manage/teams/demo', { key: adminKey }), 'read team demo')) as { aliases: string[] };
  // The pipeline the performance goals name: a hard budget and limits checked on every request, and the local safety
  // layers (blocklist, PII) — not the remote Content Safety calls, whose simulator would run in the gateway's process.
  await expectOk(
    await call(gatewayUrl, '/manage/teams/demo', {
      method: 'PATCH',
      key: adminKey,
      body: {
        aliases: [...new Set([...team.aliases, ...aliases])],
        budget: BENCH_TEAM_PIPELINE.budget,
        limits: BENCH_TEAM_PIPELINE.limits,
        safety: BENCH_TEAM_PIPELINE.safety,
      },
    }),
    'set up team demo for the bench',
  );
  // The demo key must see the aliases before load starts; /v1/models leaves no trace in the ledger.
  const models = (await expectOk(await call(gatewayUrl, '/v1/models', { key: demoKey }), 'list models')) as { data: Array<{ id: string }> };
  for (const alias of aliases)
    if (!models.data.some((m) => m.id === alias)) throw new Error(`alias ${alias} is not visible to team demo: ${JSON.stringify(models)}`);
}

/** CPU time a process has used so far (user + system), from /proc; undefined where there is no /proc. */
export async function cpuMs(pid: number | undefined): Promise<number | undefined> {
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

/** Resident set size of a process now, from /proc; undefined where there is no /proc. */
export async function rssBytes(pid: number | undefined): Promise<number | undefined> {
  if (pid === undefined) return undefined;
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
    return kb === undefined ? undefined : Number(kb) * 1024;
  } catch {
    return undefined;
  }
}

/** What the loop-monitor preload reports: event-loop delay since its last report, and memory now. */
export interface MonitorReport {
  loopDelayP50Ms: number;
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
  rssBytes: number;
  heapUsedBytes: number;
  heapTotalBytes: number;
}

/** Asks a child started with bench/loop-monitor.mjs for its report (and starts its next window). */
export function monitorReport(child: BenchChild, timeoutMs = 5_000): Promise<MonitorReport | undefined> {
  return new Promise((resolve) => {
    let settled = false;
    const timer = setTimeout(() => {
      settled = true;
      resolve(undefined);
    }, timeoutMs);
    child.onLine((line) => {
      if (settled) return true;
      if (!line.startsWith(MONITOR_LINE_PREFIX)) return false;
      settled = true;
      clearTimeout(timer);
      resolve(JSON.parse(line.slice(MONITOR_LINE_PREFIX.length)) as MonitorReport);
      return true;
    });
    child.process.kill('SIGUSR2');
  });
}

/** Requests the ledger holds for these aliases since `fromDay`, read until at least `expected` and still, or 5 s pass. */
export async function readLedger(
  stack: BenchStack,
  fromDay: string,
  toDay: () => string,
  aliases: readonly string[],
  expected: number,
): Promise<{ requests: number; failedRequests: number }> {
  const giveUpAt = Date.now() + 5_000;
  let last: { requests: number; failedRequests: number } | undefined;
  for (;;) {
    const report = (await expectOk(
      await call(stack.gatewayUrl, `/usage?from=${fromDay}&to=${toDay()}&groupBy=alias`, { key: stack.adminKey }),
      'read usage',
    )) as { rows: Array<{ alias?: string; requests: number; failedRequests: number }> };
    const rows = report.rows.filter((r) => r.alias !== undefined && aliases.includes(r.alias));
    const now = { requests: rows.reduce((n, r) => n + r.requests, 0), failedRequests: rows.reduce((n, r) => n + r.failedRequests, 0) };
    if (last && now.requests >= expected && now.requests === last.requests) return now;
    if (Date.now() >= giveUpAt) return now;
    last = now;
    await delay(500);
  }
}
