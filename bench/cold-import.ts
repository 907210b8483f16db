import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { buildFunctionsCorePreload, buildProduction } from '../scripts/build.js';
import { freePort, rssBytes } from './bench-stack.js';

// npm run bench:start (also called by npm run bench): how fast a fresh process gets going, in fresh node processes.
// (a) importing the production bundle's function entries (what `npm run build` deploys) against (b) importing the
// raw SDK set, interleaved in one run; and npm start's compiled path from spawn to a 200 on /health, with RSS idle.

const root = resolve(import.meta.dirname, '..');
const RAW_SDK_SET = ['openai', '@azure/cosmos', '@azure/identity', '@azure/functions', 'zod', 'undici'];
const HEALTH_POLL_MS = 15;
const SETTLED_IDLE_MS = 20_000;

export interface ImportFigure {
  ms: number;
  rssBytes: number;
}

export interface ColdImportFigures {
  runs: number;
  /** Medians of the runs. */
  bundle: ImportFigure;
  sdk: ImportFigure;
  /** bundle.ms / sdk.ms: the goal is ≤ 0.3. */
  ratio: number;
}

export interface StartFigures {
  runs: number;
  /** Median from spawning `node scripts/start.mjs` to the first 200 on /health, on a fresh data folder. */
  toHealthyMs: number;
  /** Median RSS one second after healthy. */
  rssAfterStartBytes: number;
  /** RSS after SETTLED_IDLE_MS of idling (last run): V8 gives back what start-up grew once allocation stops. */
  rssIdleBytes: number;
  /** The first start's own time when it had to build local mode first (undefined when a build was there). */
  firstStartWithBuildMs?: number;
}

// Timed inside the child, from just before the first import to after the last; RSS when done.
const IMPORT_CHILD = `
const specifiers = JSON.parse(process.argv[1]);
const started = performance.now();
for (const specifier of specifiers) await import(specifier);
const ms = performance.now() - started;
process.stdout.write(JSON.stringify({ ms, rssBytes: process.memoryUsage().rss }));
`;

function importInFreshProcess(specifiers: string[], preload: string[] = []): ImportFigure {
  const imports = preload.flatMap((file) => ['--import', pathToFileURL(file).href]);
  const child = spawnSync(process.execPath, [...imports, '--input-type=module', '-e', IMPORT_CHILD, JSON.stringify(specifiers)], {
    cwd: root,
    encoding: 'utf8',
  });
  if (child.status !== 0) throw new Error(`import child failed (${child.status}):\n${child.stderr}`);
  return JSON.parse(child.stdout) as ImportFigure;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function medianFigure(figures: ImportFigure[]): ImportFigure {
  return { ms: median(figures.map((f) => f.ms)), rssBytes: median(figures.map((f) => f.rssBytes)) };
}

/**
 * Builds the production bundle and times importing its function entries against the raw SDK set, alternating
 * fresh processes. The bundle's children first install the local @azure/functions-core stand-in, as the Functions
 * worker provides the real one before it loads the app (without it the library prints a warning per function).
 */
export async function measureColdImport(options: { runs?: number } = {}): Promise<ColdImportFigures> {
  const runs = options.runs ?? 5;
  // Inside the project, so the bundle resolves node_modules as dist/ does.
  const work = join(root, 'node_modules', '.cache', 'switchyard', `cold-import-${process.pid}`);
  try {
    const metafile = await buildProduction(join(work, 'dist'));
    const entries = Object.keys(metafile.outputs)
      .filter((output) => /\/functions\/[^/]+\.js$/.test(output))
      .sort()
      .map((output) => pathToFileURL(resolve(root, output)).href);
    const core = join(work, 'functions-core-preload.js');
    await buildFunctionsCorePreload(core);
    const bundle: ImportFigure[] = [];
    const sdk: ImportFigure[] = [];
    for (let run = 0; run < runs; run++) {
      bundle.push(importInFreshProcess(entries, [core]));
      sdk.push(importInFreshProcess(RAW_SDK_SET));
    }
    const bundleMedian = medianFigure(bundle);
    const sdkMedian = medianFigure(sdk);
    return { runs, bundle: bundleMedian, sdk: sdkMedian, ratio: bundleMedian.ms / sdkMedian.ms };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function healthy(url: string): Promise<boolean> {
  try {
    const response = await fetch(url);
    await response.arrayBuffer();
    return response.status === 200;
  } catch {
    return false;
  }
}

/** One `npm start` (the launcher itself, without npm's own start-up) on a fresh data folder, stopped with SIGTERM. */
async function startOnce(idleMs: number, settleMs = 0): Promise<{ toHealthyMs: number; rssAfterStartBytes: number; rssIdleBytes: number }> {
  const dataDir = await mkdtemp(join(tmpdir(), 'sy-start-'));
  const port = await freePort();
  const started = performance.now();
  const child = spawn(process.execPath, [join(root, 'scripts', 'start.mjs')], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', PORT: String(port), SWITCHYARD_DATA_DIR: dataDir },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`npm start exited with ${child.exitCode}:\n${stderr}`);
      if (await healthy(`http://127.0.0.1:${port}/health`)) break;
      await new Promise((wait) => setTimeout(wait, HEALTH_POLL_MS));
    }
    const toHealthyMs = performance.now() - started;
    await new Promise((wait) => setTimeout(wait, idleMs));
    const rssAfterStartBytes = (await rssBytes(child.pid)) ?? Number.NaN;
    if (settleMs > idleMs) await new Promise((wait) => setTimeout(wait, settleMs - idleMs));
    return { toHealthyMs, rssAfterStartBytes, rssIdleBytes: (await rssBytes(child.pid)) ?? Number.NaN };
  } finally {
    child.kill('SIGTERM');
    await exited;
    await rm(dataDir, { recursive: true, force: true });
  }
}

/** npm start's compiled path: one start to make sure local mode is built, then the median of `runs` starts (the last one left idle to settle). */
export async function measureStartToHealthy(options: { runs?: number; idleMs?: number } = {}): Promise<StartFigures> {
  const runs = options.runs ?? 3;
  const idleMs = options.idleMs ?? 1_000;
  const first = await startOnce(idleMs);
  const measured: Array<{ toHealthyMs: number; rssAfterStartBytes: number; rssIdleBytes: number }> = [];
  for (let run = 0; run < runs; run++) measured.push(await startOnce(idleMs, run === runs - 1 ? SETTLED_IDLE_MS : 0));
  const toHealthyMs = median(measured.map((m) => m.toHealthyMs));
  return {
    runs,
    toHealthyMs,
    rssAfterStartBytes: median(measured.map((m) => m.rssAfterStartBytes)),
    rssIdleBytes: measured.at(-1)!.rssIdleBytes,
    // A start that took much longer than the rest built local mode first.
    firstStartWithBuildMs: first.toHealthyMs > 2 * toHealthyMs ? first.toHealthyMs : undefined,
  };
}

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;

/** The figures as the bench prints them. */
export function describeStartFigures(imports: ColdImportFigures, start: StartFigures): string {
  return [
    `cold import, median of ${imports.runs} fresh processes each, alternating:`,
    `  production bundle (dist/functions/*.js)  ${imports.bundle.ms.toFixed(0)} ms  RSS ${mb(imports.bundle.rssBytes)}`,
    `  raw SDK set (${RAW_SDK_SET.join(', ')})  ${imports.sdk.ms.toFixed(0)} ms  RSS ${mb(imports.sdk.rssBytes)}`,
    `  ratio bundle / SDK set  ${imports.ratio.toFixed(2)}  (goal ≤ 0.30)`,
    `npm start (compiled, node scripts/start.mjs) to 200 on /health, fresh data folder, median of ${start.runs}:`,
    `  ${start.toHealthyMs.toFixed(0)} ms (goal ≤ 1500)  RSS 1 s after healthy ${mb(start.rssAfterStartBytes)}, idle ${SETTLED_IDLE_MS / 1000} s ${mb(start.rssIdleBytes)} (goal ≤ 120 MB)` +
      (start.firstStartWithBuildMs === undefined ? '' : `; first start, building local mode: ${start.firstStartWithBuildMs.toFixed(0)} ms`),
  ].join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const imports = await measureColdImport();
  const start = await measureStartToHealthy();
  process.stdout.write(`${describeStartFigures(imports, start)}\n`);
}
