/**
 * `npm run bench`: the gateway against a bare passthrough proxy, both in front of the same light upstream, each
 * in its own process (the embedded store in a fourth, the load in this one): closed-loop ceilings at three body
 * sizes beside the upstream's own ceiling, streams (time to first chunk, gaps, many slow streams at once), and
 * open-loop latency at a fixed rate; then one table of the goals and a check that the usage ledger counted every
 * answer. Prints figures; exits 1 on errors above 0.5% or a ledger mismatch. BENCH_QUICK=1 for a smoke run.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { utcDay } from '../shared/usage/usage-record.js';
import {
  ALIAS,
  type BenchStack,
  childEnv,
  cpuMs,
  freePort,
  gatewayDescription,
  monitorReport,
  PIPELINE_DESCRIPTION,
  positiveSetting,
  readLedger,
  rssBytes,
  startBenchStack,
  streamPath,
} from './bench-stack.js';
import { type BenchChild, delay, spawnNode, stopChild } from './child-processes.js';
import { summariseCpuProfile } from './cpu-profile-summary.js';
import { type GoalFigures, goalRows, textTable } from './goals.js';
import { median, summariseLatencies } from './latency-stats.js';
import { drive, type LoadResult, stopDriving } from './load.js';
import { openLoop, type OpenLoopResult } from './open-loop.js';
import { concurrentStreams, type ConcurrentStreamsResult, type SequentialStreamsResult, sequentialStreams } from './stream-latency.js';

const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const QUICK = process.env.BENCH_QUICK === '1';
const SECONDS = positiveSetting('BENCH_SECONDS', QUICK ? 2 : 5);
const WARMUP_SECONDS = positiveSetting('BENCH_WARMUP_SECONDS', QUICK ? 1 : 2);
// Two cores shared by load, upstream, store and target make single runs noisy: rounds alternate targets, the median counts.
const ROUNDS = Math.round(positiveSetting('BENCH_ROUNDS', QUICK ? 1 : 2));
const CONNECTIONS = Math.round(positiveSetting('BENCH_CONNECTIONS', 32));
const BODY_SIZES = [
  { label: '150 B', bytes: 150 },
  { label: '5 KB', bytes: 5 * 1024 },
  { label: '100 KB', bytes: 100 * 1024 },
];
const STREAM = { chunks: 20, gapMs: 5 };
const STREAM_SHAPES = [
  // Token-sized chunks, as models send them: what a caller of a screened team sees, hold-back included.
  { label: 'token-sized chunks', alias: ALIAS, shape: { ...STREAM, chunkChars: 0 } },
  // Chunks wider than the output screening's window, so each is released as it comes: the gateway's own per-stream cost.
  { label: '256-char chunks', alias: 'bench-wide', shape: { ...STREAM, chunkChars: 256 } },
];
const SLOW_ALIAS = 'bench-slow';
const SEQUENTIAL_STREAMS = Math.round(positiveSetting('BENCH_STREAMS', QUICK ? 20 : 100));
// Wide chunks here too, so a stall means the gateway fell behind, not that screening held text back by design.
const SLOW_STREAM = { chunks: QUICK ? 5 : 10, gapMs: 200, chunkChars: 256 };
const SLOW_STREAMS = Math.round(positiveSetting('BENCH_SLOW_STREAMS', QUICK ? 200 : 2_000));
/** A gap this much longer than the upstream's is a stall. */
const STALL_MS = SLOW_STREAM.gapMs * 5;
const OPEN_LOOP_RATE = positiveSetting('BENCH_OPEN_LOOP_RATE', 1_000);
const OPEN_LOOP_SECONDS = positiveSetting('BENCH_OPEN_LOOP_SECONDS', QUICK ? 3 : 10);
const OPEN_LOOP_BODY_BYTES = 1024;
const MAX_ERROR_RATE = 0.005;
/** A proxy this close to the upstream's own ceiling is measuring the upstream. */
const CEILING_WARNING = 0.7;
const PROFILE = process.env.BENCH_PROFILE === '1';
const PORTKEY = process.env.BENCH_PORTKEY === '1';
const PORTKEY_ENTRY = process.env.BENCH_PORTKEY_ENTRY ?? join(projectRoot, 'node_modules/@portkey-ai/gateway/build/start-server.js');

const children: BenchChild[] = [];
let dataDir: string | undefined;
let cleaning: Promise<void> | undefined;

/** A chat request whose JSON is exactly `bytes` long. */
function chatBody(bytes: number, options: { model?: string; stream?: boolean } = {}): string {
  const shape = (content: string) =>
    JSON.stringify({
      model: options.model ?? ALIAS,
      ...(options.stream ? { stream: true } : {}),
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content },
      ],
    });
  const room = bytes - Buffer.byteLength(shape(''));
  if (room < 0) throw new Error(`a chat body cannot be as small as ${bytes} bytes`);
  const filler = 'Summarise the following notes about the switchyard timetable in one line. '
    .repeat(Math.ceil(room / 70) + 1)
    .slice(0, room);
  const body = shape(filler);
  if (Buffer.byteLength(body) !== bytes) throw new Error(`body is ${Buffer.byteLength(body)} bytes, wanted ${bytes}`);
  return body;
}

interface Target {
  name: 'upstream' | 'passthrough' | 'gateway' | 'portkey';
  child: BenchChild;
  url: string;
  headers: Record<string, string>;
}

interface CpuShare {
  /** Cores the process kept busy on average during the measured run. */
  cores: number;
  usPerRequest: number;
}

interface ClosedLoopRun {
  target: Target['name'];
  round: number;
  warmup: LoadResult;
  measured: LoadResult;
  cpu?: CpuShare;
  upstreamCpu?: CpuShare;
  /** Cores this process (the load generator) used during the measured run. */
  loadCores: number;
  storeCpu?: CpuShare;
  rssMb?: number;
  loopDelayP99Ms?: number;
  /** Monotonic clock (µs) around the measured run, to cut a CPU profile to it. */
  windowUs: { from: number; to: number };
}

async function cpuOf(children: BenchChild[]): Promise<Array<number | undefined>> {
  return Promise.all(children.map((c) => cpuMs(c.process.pid)));
}

function share(before: number | undefined, after: number | undefined, wallMs: number, requests: number): CpuShare | undefined {
  if (before === undefined || after === undefined) return undefined;
  return { cores: (after - before) / wallMs, usPerRequest: ((after - before) * 1000) / Math.max(1, requests) };
}

function busyCores(used: NodeJS.CpuUsage, wallMs: number): number {
  return (used.user + used.system) / 1000 / wallMs;
}

async function closedLoop(target: Target, stack: BenchStack, body: string, round: number): Promise<ClosedLoopRun> {
  process.stdout.write(`  ${target.name}${round > 0 ? ` #${round}` : ''}: `);
  const load = { url: `${target.url}/v1/chat/completions`, body, headers: target.headers, connections: CONNECTIONS };
  const warmup = await drive({ ...load, seconds: WARMUP_SECONDS });
  const isGateway = target.name === 'gateway';
  if (isGateway) await monitorReport(stack.gateway); // starts the loop-delay window at the measured run
  const watched = [target.child, stack.upstream, stack.store];
  const before = await cpuOf(watched);
  const from = Number(process.hrtime.bigint() / 1000n);
  const startedAt = performance.now();
  const loadCpuBefore = process.cpuUsage();
  const measured = await drive({ ...load, seconds: SECONDS });
  const wallMs = performance.now() - startedAt;
  const loadCores = busyCores(process.cpuUsage(loadCpuBefore), wallMs);
  const to = Number(process.hrtime.bigint() / 1000n);
  const after = await cpuOf(watched);
  const requests = measured.ok2xx + measured.non2xx;
  const report = isGateway ? await monitorReport(stack.gateway) : undefined;
  const rss = await rssBytes(target.child.process.pid);
  process.stdout.write(`${measured.reqPerSecMean.toFixed(0)} req/s\n`);
  return {
    target: target.name,
    round,
    warmup,
    measured,
    cpu: share(before[0], after[0], wallMs, requests),
    upstreamCpu: target.name === 'upstream' ? undefined : share(before[1], after[1], wallMs, requests),
    storeCpu: isGateway ? share(before[2], after[2], wallMs, requests) : undefined,
    loadCores,
    rssMb: rss === undefined ? undefined : rss / 2 ** 20,
    loopDelayP99Ms: report?.loopDelayP99Ms,
    windowUs: { from, to },
  };
}

async function startPortkey(upstreamUrl: string, upstreamKey: string): Promise<Target | undefined> {
  if (!existsSync(PORTKEY_ENTRY)) {
    process.stdout.write(
      `BENCH_PORTKEY=1 but ${PORTKEY_ENTRY} does not exist: Portkey not measured. Install it outside the project (npm install --prefix /tmp/portkey @portkey-ai/gateway) and set BENCH_PORTKEY_ENTRY=/tmp/portkey/node_modules/@portkey-ai/gateway/build/start-server.js\n`,
    );
    return undefined;
  }
  const port = await freePort();
  const child = spawnNode({
    name: 'portkey',
    nodeArgs: [PORTKEY_ENTRY, `--port=${port}`, '--headless'],
    cwd: dirname(PORTKEY_ENTRY),
    env: childEnv({ NODE_ENV: 'production' }),
  });
  children.push(child);
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 150 && !child.hasExited(); i++) {
    if (
      (await fetch(url).then(
        (r) => r.status,
        () => 0,
      )) === 200
    ) {
      return {
        name: 'portkey',
        child,
        url,
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${upstreamKey}`,
          'x-portkey-provider': 'openai',
          'x-portkey-custom-host': `${upstreamUrl}/v1`,
        },
      };
    }
    await delay(200);
  }
  process.stdout.write(`Portkey did not answer on ${url}: not measured\n${child.tail()}\n`);
  return undefined;
}

interface StreamScenario {
  shape: string;
  target: Target['name'];
  result: SequentialStreamsResult;
}

function fmt(value: number | undefined, digits = 2): string {
  return value === undefined || Number.isNaN(value) ? 'n/a' : value.toFixed(digits);
}

function countsOf(statuses: Record<string, number>): string {
  return (
    Object.entries(statuses)
      .map(([code, n]) => `${code}×${n}`)
      .join(' ') || 'none'
  );
}

async function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    stopDriving();
    // The gateway first: on SIGTERM it finishes in-flight requests and flushes the ledger into the store.
    for (const child of [...children].reverse()) await stopChild(child, child.name === 'gateway' ? (PROFILE ? 30_000 : 15_000) : 5_000);
    if (dataDir)
      await rm(dataDir, { recursive: true, force: true, maxRetries: 3 }).catch((error: unknown) =>
        process.stderr.write(`could not delete ${dataDir}: ${String(error)}\n`),
      );
  })();
  return cleaning;
}

async function main(): Promise<number> {
  const benchStartedAt = performance.now();
  const cpuList = cpus();
  process.stdout.write(
    `${[
      `Switchyard bench${QUICK ? ' (BENCH_QUICK=1: a smoke run, not figures to quote)' : ''}`,
      `machine: node ${process.version}, ${cpuList.length} CPU (${cpuList[0]?.model.trim() ?? 'unknown'}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB, ${process.platform}/${process.arch}`,
      `load average at start (1/5/15 min): ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' / ')}`,
      `processes: light upstream, embedded store, passthrough, ${gatewayDescription(PROFILE)}, each its own; load from this process`,
      `closed loop: ${CONNECTIONS} connections, non-streaming chat, bodies ${BODY_SIZES.map((b) => b.label).join(' / ')}, ${WARMUP_SECONDS}s warm-up + ${SECONDS}s measured per target, ${ROUNDS} alternating round(s); the upstream's own ceiling first`,
      `streams: ${SEQUENTIAL_STREAMS} sequential of ${STREAM.chunks} chunks ${STREAM.gapMs} ms apart (${STREAM_SHAPES.map((x) => x.label).join(', then ')}); ${SLOW_STREAMS} concurrent of ${SLOW_STREAM.chunks} chunks ${SLOW_STREAM.gapMs} ms apart (stall: a gap > ${STALL_MS} ms)`,
      `open loop: ${OPEN_LOOP_RATE} req/s for ${OPEN_LOOP_SECONDS}s, ${OPEN_LOOP_BODY_BYTES} B bodies, latency from each request's scheduled time`,
      `gateway pipeline: ${PIPELINE_DESCRIPTION}`,
      '',
    ].join('\n')}\n`,
  );

  dataDir = await mkdtemp(join(tmpdir(), 'switchyard-bench-'));
  const profileDir = PROFILE ? await mkdtemp(join(tmpdir(), 'switchyard-bench-profile-')) : undefined;
  const stack = await startBenchStack({
    projectRoot,
    dataDir,
    stream: STREAM,
    streamAliases: [
      { alias: SLOW_ALIAS, shape: SLOW_STREAM },
      ...STREAM_SHAPES.filter((x) => x.shape.chunkChars > 0).map(({ alias, shape }) => ({ alias, shape })),
    ],
    passthrough: true,
    profileDir,
    children,
  });
  const gatewayRssIdleMb = ((await rssBytes(stack.gateway.process.pid)) ?? Number.NaN) / 2 ** 20;
  const demoHeaders = { 'content-type': 'application/json', authorization: `Bearer ${stack.demoKey}` };
  const upstream: Target = {
    name: 'upstream',
    child: stack.upstream,
    url: stack.upstreamUrl,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${stack.upstreamKey}` },
  };
  const passthrough: Target = { name: 'passthrough', child: stack.passthrough!, url: stack.passthroughUrl!, headers: demoHeaders };
  const gateway: Target = { name: 'gateway', child: stack.gateway, url: stack.gatewayUrl, headers: demoHeaders };
  const portkey = PORTKEY ? await startPortkey(stack.upstreamUrl, stack.upstreamKey) : undefined;
  process.stdout.write(
    `upstream ${stack.upstreamUrl}  passthrough ${stack.passthroughUrl}  gateway ${stack.gatewayUrl}${portkey ? `  portkey ${portkey.url}` : ''}${profileDir ? `  (gateway CPU profile → ${profileDir})` : ''}\n\n`,
  );

  const startedDay = utcDay(Date.now());
  let failed = false;
  let gateway2xx = 0;
  let gatewayAbandoned = 0;
  const errorLines: string[] = [];
  const checkErrors = (name: string, bad: number, total: number, detail: string) => {
    const rate = total === 0 ? 1 : bad / total;
    errorLines.push(`${name}: non-2xx + errors = ${bad} of ${total} (${(100 * rate).toFixed(3)}%)  ${detail}`);
    if (rate > MAX_ERROR_RATE) failed = true;
  };

  // 1. Closed loop at each body size.
  const closedRuns = new Map<string, ClosedLoopRun[]>();
  for (const size of BODY_SIZES) {
    process.stdout.write(`closed loop, ${size.label} bodies:\n`);
    const body = chatBody(size.bytes);
    const runs = [await closedLoop(upstream, stack, body, 0)];
    for (let round = 1; round <= ROUNDS; round++) {
      runs.push(await closedLoop(passthrough, stack, body, round));
      runs.push(await closedLoop(gateway, stack, body, round));
      if (portkey) runs.push(await closedLoop(portkey, stack, body, round));
    }
    closedRuns.set(size.label, runs);
    for (const run of runs) {
      const all = [run.warmup, run.measured];
      const bad = all.reduce((n, x) => n + x.non2xx + x.errors, 0);
      const total = all.reduce((n, x) => n + x.ok2xx + x.non2xx + x.errors, 0);
      checkErrors(
        `closed ${size.label} ${run.target}${run.round ? ` #${run.round}` : ''}`,
        bad,
        total,
        `(warm-up included) ${countsOf(run.measured.statusCodes)}`,
      );
      if (run.target === 'gateway') {
        gateway2xx += run.warmup.ok2xx + run.measured.ok2xx;
        gatewayAbandoned += run.warmup.abandoned + run.measured.abandoned + run.warmup.errors + run.measured.errors;
      }
    }
  }

  // 2. Sequential streams: time to first chunk and gaps, direct vs passthrough vs gateway, for each chunk shape.
  const streamBody = chatBody(300, { stream: true });
  const streams: StreamScenario[] = [];
  for (const { label, alias, shape } of STREAM_SHAPES) {
    process.stdout.write(`\nstreams, ${SEQUENTIAL_STREAMS} one after another, ${label}:\n`);
    const path = shape.chunkChars === 0 ? '/v1/chat/completions' : streamPath(shape);
    for (const target of [upstream, passthrough, gateway]) {
      process.stdout.write(`  ${target.name}: `);
      const isGateway = target.name === 'gateway';
      const result = await sequentialStreams(
        {
          url: `${target.url}${isGateway ? '/v1/chat/completions' : path}`,
          headers: target.headers,
          body: isGateway ? chatBody(300, { model: alias, stream: true }) : streamBody,
        },
        SEQUENTIAL_STREAMS,
        shape.chunks,
      );
      process.stdout.write(`${result.ok} whole, ${result.failed} not\n`);
      streams.push({ shape: label, target: target.name, result });
      checkErrors(`streams ${label} ${target.name}`, result.failed, SEQUENTIAL_STREAMS, countsOf(result.statuses));
      if (isGateway) {
        gateway2xx += result.statuses['200'] ?? 0;
        gatewayAbandoned += result.failed;
      }
    }
  }

  // 3. Many slow streams at once, against the gateway; its RSS sampled while they run.
  process.stdout.write(`\n${SLOW_STREAMS} concurrent slow streams through the gateway … `);
  let slowPeakRss = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      slowPeakRss = Math.max(slowPeakRss, (await rssBytes(stack.gateway.process.pid)) ?? 0);
      await delay(250);
    }
  })();
  let slow: ConcurrentStreamsResult;
  const loadCpuBefore = process.cpuUsage();
  const slowStartedAt = performance.now();
  try {
    slow = await concurrentStreams(
      { url: `${gateway.url}/v1/chat/completions`, headers: demoHeaders, body: chatBody(300, { model: SLOW_ALIAS, stream: true }) },
      {
        count: SLOW_STREAMS,
        expectedChunks: SLOW_STREAM.chunks,
        rampMs: 1_000,
        stallMs: STALL_MS,
        deadlineMs: SLOW_STREAM.chunks * SLOW_STREAM.gapMs + 30_000,
      },
    );
  } finally {
    sampling = false;
    await sampler;
  }
  const loadCores = busyCores(process.cpuUsage(loadCpuBefore), performance.now() - slowStartedAt);
  process.stdout.write(`${slow.withoutStall} without a stall\n`);
  gateway2xx += slow.ok2xx;
  gatewayAbandoned += slow.incomplete;
  checkErrors('slow streams gateway', slow.total - slow.ok2xx, slow.total, countsOf(slow.statuses));

  // 4. Open loop at a fixed rate.
  process.stdout.write(`\nopen loop, ${OPEN_LOOP_RATE} req/s for ${OPEN_LOOP_SECONDS}s:\n`);
  const openBody = chatBody(OPEN_LOOP_BODY_BYTES);
  const open = new Map<string, OpenLoopResult & { loadCores: number }>();
  for (const target of [passthrough, gateway]) {
    process.stdout.write(`  ${target.name}: `);
    const openCpuBefore = process.cpuUsage();
    const openStartedAt = performance.now();
    const run = await openLoop({
      url: `${target.url}/v1/chat/completions`,
      headers: target.headers,
      bodies: [openBody],
      ratePerSecond: OPEN_LOOP_RATE,
      seconds: OPEN_LOOP_SECONDS,
      // A target far below the rate would otherwise queue the whole run and take minutes to drain.
      maxInFlight: 512,
      connections: 128,
    });
    const result = { ...run, loadCores: busyCores(process.cpuUsage(openCpuBefore), performance.now() - openStartedAt) };
    process.stdout.write(`${result.ok2xx} answered\n`);
    open.set(target.name, result);
    // Requests not sent at the in-flight bound are a target that cannot keep the rate: they show in its latency, not as errors.
    checkErrors(
      `open loop ${target.name}`,
      result.non2xx + result.errors,
      result.sent,
      `${countsOf(result.statuses)}; not sent: ${result.skipped}`,
    );
    if (target.name === 'gateway') {
      gateway2xx += result.ok2xx;
      gatewayAbandoned += result.errors;
    }
  }

  // The tables.
  const out: string[] = [''];
  const medianRatio = new Map<string, number>();
  let portkeyRatio: number | undefined;
  let gatewayRssUnderLoadMb = slowPeakRss / 2 ** 20;
  for (const size of BODY_SIZES) {
    const runs = closedRuns.get(size.label)!;
    const ceiling = runs[0]!.measured.reqPerSecMean;
    out.push(
      `closed loop, ${size.label} bodies`,
      textTable([
        [
          'target',
          'req/s',
          'p50 ms',
          'p99 ms',
          '2xx',
          'non-2xx',
          'errors',
          'CPU cores',
          'µs CPU/req',
          'RSS MB',
          'loop p99 ms',
          'store µs/req',
          'upstream cores',
          'load gen cores',
        ],
        ...runs.map((r) => [
          r.round ? `${r.target} #${r.round}` : `${r.target} (direct: the ceiling)`,
          r.measured.reqPerSecMean.toFixed(0),
          fmt(r.measured.p50Ms),
          fmt(r.measured.p99Ms),
          String(r.measured.ok2xx),
          String(r.measured.non2xx),
          String(r.measured.errors),
          fmt(r.cpu?.cores),
          fmt(r.cpu?.usPerRequest, 0),
          fmt(r.rssMb, 0),
          fmt(r.loopDelayP99Ms),
          fmt(r.storeCpu?.usPerRequest, 0),
          fmt(r.upstreamCpu?.cores),
          fmt(r.loadCores),
        ]),
      ]),
    );
    const ratios = runs
      .filter((r) => r.target === 'gateway')
      .map((g) => g.measured.reqPerSecMean / runs.find((p) => p.target === 'passthrough' && p.round === g.round)!.measured.reqPerSecMean);
    medianRatio.set(size.label, median(ratios));
    out.push(`gateway ÷ passthrough (req/s) per round: ${ratios.map((r) => r.toFixed(3)).join(', ')}; median ${median(ratios).toFixed(3)}`);
    for (const r of runs.filter((x) => x.round > 0 && x.measured.reqPerSecMean >= CEILING_WARNING * ceiling))
      out.push(
        `WARNING: ${r.target} #${r.round} reached ${((100 * r.measured.reqPerSecMean) / ceiling).toFixed(0)}% of the upstream's own ceiling: the upstream may be what is measured`,
      );
    if (portkey && size.label === '5 KB') {
      const gatewayRps = median(runs.filter((r) => r.target === 'gateway').map((r) => r.measured.reqPerSecMean));
      const portkeyRps = median(runs.filter((r) => r.target === 'portkey').map((r) => r.measured.reqPerSecMean));
      portkeyRatio = gatewayRps / portkeyRps;
      out.push(`gateway ÷ portkey (req/s, medians): ${portkeyRatio.toFixed(2)}`);
    }
    for (const r of runs)
      if (r.target === 'gateway' && r.rssMb !== undefined) gatewayRssUnderLoadMb = Math.max(gatewayRssUnderLoadMb, r.rssMb);
    out.push('');
  }
  out.push(
    '(CPU cores, µs CPU/req: the target process during the measured run, from /proc; store µs/req: the store process per gateway request; upstream cores: how busy the upstream was; load gen cores: this process, autocannon included; RSS: the target right after its run; loop p99: the gateway event loop during its measured run)',
    '',
  );

  const streamSummary = (shape: string, target: string) => {
    const r = streams.find((x) => x.shape === shape && x.target === target)!.result;
    return { first: summariseLatencies(r.firstChunkMs), gap: summariseLatencies(r.gapsMs), r };
  };
  const addedByShape: GoalFigures['streams'] = [];
  for (const { label } of STREAM_SHAPES) {
    const [direct, pass, gw] = ['upstream', 'passthrough', 'gateway'].map((t) => streamSummary(label, t)) as [
      ReturnType<typeof streamSummary>,
      ReturnType<typeof streamSummary>,
      ReturnType<typeof streamSummary>,
    ];
    const added = {
      shape: label,
      addedFirstChunkP50Ms: gw.first.p50Ms - pass.first.p50Ms,
      addedFirstChunkP99Ms: gw.first.p99Ms - pass.first.p99Ms,
      addedGapP99Ms: gw.gap.p99Ms - pass.gap.p99Ms,
    };
    addedByShape.push(added);
    out.push(
      `streams, ${label} (${STREAM.chunks} chunks ${STREAM.gapMs} ms apart, ${SEQUENTIAL_STREAMS} one after another)`,
      textTable([
        [
          'target',
          'first event p50 ms',
          'first chunk p50 ms',
          'first chunk p99 ms',
          'gap p50 ms',
          'gap p99 ms',
          'chunks/stream',
          'whole',
          'not whole',
        ],
        ...(
          [
            ['upstream (direct)', direct],
            ['passthrough', pass],
            ['gateway', gw],
          ] as const
        ).map(([name, x]) => [
          name,
          fmt(summariseLatencies(x.r.firstEventMs).p50Ms),
          fmt(x.first.p50Ms),
          fmt(x.first.p99Ms),
          fmt(x.gap.p50Ms),
          fmt(x.gap.p99Ms),
          fmt(x.r.ok === 0 ? Number.NaN : x.r.contentChunks / x.r.ok, 1),
          String(x.r.ok),
          String(x.r.failed),
        ]),
      ]),
      `added by the gateway (gateway − passthrough): first chunk p50 ${fmt(added.addedFirstChunkP50Ms)} ms, p99 ${fmt(added.addedFirstChunkP99Ms)} ms; gap p99 ${fmt(added.addedGapP99Ms)} ms`,
      '',
    );
  }
  out.push(
    '(first event: the first SSE data event, content or not; first chunk: the first with content, when a caller sees a token; gap: between content chunks; chunks/stream: content chunks a whole stream arrived in — fewer than the upstream sent means text was held back and merged, e.g. by output screening)',
    '',
    `${SLOW_STREAMS} concurrent slow streams through the gateway (${SLOW_STREAM.chunks} chunks of ${SLOW_STREAM.chunkChars} characters ${SLOW_STREAM.gapMs} ms apart, started over 1 s):`,
    `  ${slow.withoutStall} whole without a stall; ${slow.lateStart} whole but started late (first chunk > ${STALL_MS} ms); ${slow.stalledMidStream} whole but stalled mid-stream (a gap > ${STALL_MS} ms); ${slow.incomplete} not whole`,
    `  first chunk p50 ${fmt(summariseLatencies(slow.firstChunkMs).p50Ms)} ms, p99 ${fmt(summariseLatencies(slow.firstChunkMs).p99Ms)} ms; longest gap between chunks ${fmt(slow.maxGapMs, 0)} ms; peak in flight ${slow.peakInFlight}; gateway peak RSS ${(slowPeakRss / 2 ** 20).toFixed(0)} MB; load generator ${loadCores.toFixed(2)} cores; answers ${countsOf(slow.statuses)}`,
    '',
  );

  const openSummary = (name: string) => ({ s: summariseLatencies(open.get(name)!.latenciesMs), r: open.get(name)! });
  const openPass = openSummary('passthrough');
  const openGw = openSummary('gateway');
  out.push(
    `open loop, ${OPEN_LOOP_RATE} req/s for ${OPEN_LOOP_SECONDS}s (latency from the scheduled time)`,
    textTable([
      ['target', 'p50 ms', 'p99 ms', 'max ms', '2xx', 'non-2xx', 'errors', 'not sent (in-flight bound)', 'load gen cores'],
      ...[
        ['passthrough', openPass],
        ['gateway', openGw],
      ].map(([name, x]) => {
        const o = x as ReturnType<typeof openSummary>;
        return [
          name as string,
          fmt(o.s.p50Ms),
          fmt(o.s.p99Ms),
          fmt(o.s.maxMs),
          String(o.r.ok2xx),
          String(o.r.non2xx),
          String(o.r.errors),
          String(o.r.skipped),
          fmt(o.r.loadCores),
        ];
      }),
    ]),
    `added p99 (gateway − passthrough): ${fmt(openGw.s.p99Ms - openPass.s.p99Ms)} ms; added p50: ${fmt(openGw.s.p50Ms - openPass.s.p50Ms)} ms`,
    '',
  );

  const figures: GoalFigures = {
    throughputRatios: BODY_SIZES.map((b) => ({ body: b.label, ratio: medianRatio.get(b.label)! })),
    portkeyRatio,
    streams: addedByShape,
    slowStreams: { total: slow.total, withoutStall: slow.withoutStall },
    openLoop: { ratePerSecond: OPEN_LOOP_RATE, addedP99Ms: openGw.s.p99Ms - openPass.s.p99Ms },
    gatewayRssIdleMb,
    gatewayRssUnderLoadMb,
  };
  out.push(
    'goals (issue 11), this run',
    textTable([['goal', 'figure', 'verdict'], ...goalRows(figures).map((g) => [g.goal, g.figure, g.verdict])]),
    '',
    ...errorLines,
  );
  process.stdout.write(`${out.join('\n')}\n`);

  const aliases = [...new Set([ALIAS, SLOW_ALIAS, ...STREAM_SHAPES.map((x) => x.alias)])];
  const ledger = await readLedger(stack, startedDay, () => utcDay(Date.now()), aliases, gateway2xx);
  const matches = ledger.requests >= gateway2xx && ledger.requests <= gateway2xx + gatewayAbandoned;
  process.stdout.write(
    `${[
      '',
      `ledger check (GET /usage?groupBy=alias, aliases ${aliases.join(', ')}, ${startedDay}…${utcDay(Date.now())}):`,
      `  requests in the ledger:                    ${ledger.requests} (failedRequests ${ledger.failedRequests})`,
      `  2xx the gateway answered (all scenarios):  ${gateway2xx}`,
      `  cut by the client or unanswered:           ${gatewayAbandoned} (in flight when a run stopped, timeouts, incomplete streams; the gateway may record them)`,
      matches
        ? `  match: yes (every 2xx is recorded${ledger.requests > gateway2xx ? `, and ${ledger.requests - gateway2xx} of the cut ones` : ''})`
        : `  match: NO (ledger − 2xx = ${ledger.requests - gateway2xx})`,
      '',
      `load average at end (1/5/15 min): ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' / ')}; the bench took ${((performance.now() - benchStartedAt) / 1000).toFixed(0)} s`,
    ].join('\n')}\n`,
  );
  if (!matches) failed = true;

  if (profileDir) {
    await stopChild(stack.gateway, 30_000);
    const window = closedRuns
      .get('5 KB')!
      .filter((r) => r.target === 'gateway')
      .at(-1)!.windowUs;
    // Kept with the profile so it can be summarised again: `node --import tsx bench/cpu-profile-summary.ts <file> [top] [window.json]`.
    await writeFile(join(profileDir, 'measured-window.json'), `${JSON.stringify(window)}\n`);
    const files = (await readdir(profileDir)).filter((f) => f.endsWith('.cpuprofile'));
    if (files.length === 0) process.stdout.write(`no .cpuprofile was written to ${profileDir}\n`);
    process.stdout.write('\nCPU profile of the gateway during its last closed-loop run at 5 KB:\n');
    for (const f of files)
      process.stdout.write(`\n${await summariseCpuProfile(join(profileDir, f), { windowUs: window, projectRoot, top: 30 })}\n`);
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
