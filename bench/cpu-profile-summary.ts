import { readFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface SummaryOptions {
  /** Only samples taken in this window of the monotonic clock, in microseconds (the clock V8 stamps samples with). */
  windowUs?: { from: number; to: number };
  top?: number;
  projectRoot?: string;
}

/** Self time per function and per file/package of a V8 .cpuprofile, as printable text. */
export async function summariseCpuProfile(file: string, options: SummaryOptions = {}): Promise<string> {
  const profile = JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfUs = new Map<number, number>();
  let at = profile.startTime;
  let inWindow = 0;
  const windowed = (options.windowUs?.from ?? 0) < profile.endTime && (options.windowUs?.to ?? Infinity) > profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i] ?? 0;
    // A sample's time is the gap to the next one.
    const spent = profile.timeDeltas[i + 1] ?? 0;
    if (windowed && options.windowUs && (at < options.windowUs.from || at > options.windowUs.to)) continue;
    inWindow += spent;
    const id = profile.samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + spent);
  }

  const parents = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parents.set(child, node.id);

  const byFunction = new Map<string, number>();
  const byFile = new Map<string, number>();
  const inclusiveByFile = new Map<string, number>();
  const inclusiveByProjectFunction = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const frame = nodes.get(id)!.callFrame;
    const where = shortUrl(frame.url, options.projectRoot);
    const key = frameKey(frame, where);
    byFunction.set(key, (byFunction.get(key) ?? 0) + us);
    const group = fileGroup(where, frame.functionName);
    byFile.set(group, (byFile.get(group) ?? 0) + us);
    // Inclusive: every file/package and project function on the (synchronous) stack, once per sample.
    const groups = new Set<string>();
    const projectFunctions = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parents.get(at)) {
      const f = nodes.get(at)!.callFrame;
      const w = shortUrl(f.url, options.projectRoot);
      groups.add(fileGroup(w, f.functionName));
      if (isProjectFile(w)) projectFunctions.add(frameKey(f, w));
    }
    for (const g of groups) inclusiveByFile.set(g, (inclusiveByFile.get(g) ?? 0) + us);
    for (const f of projectFunctions) inclusiveByProjectFunction.set(f, (inclusiveByProjectFunction.get(f) ?? 0) + us);
  }
  for (const pseudo of ['(root)', '(program)', '(idle)', '(garbage collector)', '(native)', 'node:internal/process/task_queues'])
    inclusiveByFile.delete(pseudo);

  const idleUs = byFunction.get('(idle)') ?? 0;
  if (inWindow > 0 && idleUs / inWindow > 0.99)
    return `profile ${file}\nan idle thread (${(idleUs / 1000).toFixed(0)} ms idle of ${(inWindow / 1000).toFixed(0)} ms): nothing to report`;

  const top = options.top ?? 25;
  const pct = (us: number) => `${((100 * us) / Math.max(1, inWindow)).toFixed(1).padStart(5)}%`;
  const ms = (us: number) => `${(us / 1000).toFixed(0).padStart(7)} ms`;
  const rank = (map: Map<string, number>) => [...map.entries()].sort((a, b) => b[1] - a[1]).slice(0, top);
  const lines = [
    `profile ${file}`,
    windowed
      ? `samples in the measured window: ${(inWindow / 1000).toFixed(0)} ms of CPU-sampled time`
      : `whole profile (window not covered): ${(inWindow / 1000).toFixed(0)} ms`,
    '',
    `top ${top} functions by self time`,
    ...rank(byFunction).map(([key, us]) => `${pct(us)} ${ms(us)}  ${key}`),
    '',
    `self time by file / package`,
    ...rank(byFile).map(([key, us]) => `${pct(us)} ${ms(us)}  ${key}`),
    '',
    `inclusive time by file / package (time with it anywhere on the synchronous stack; async hops cut stacks)`,
    ...rank(inclusiveByFile).map(([key, us]) => `${pct(us)} ${ms(us)}  ${key}`),
    '',
    `inclusive time by project function`,
    ...rank(inclusiveByProjectFunction).map(([key, us]) => `${pct(us)} ${ms(us)}  ${key}`),
  ];
  return lines.join('\n');
}

// tsx's transformed line numbers do not match the .ts source, so project frames are named by file and function.
function frameKey(frame: ProfileNode['callFrame'], where: string): string {
  const name = frame.functionName || '(anonymous)';
  if (!where) return name;
  return where.endsWith('.ts') ? `${where}:${name}` : `${where}:${frame.lineNumber + 1} ${name}`;
}

function isProjectFile(where: string): boolean {
  return where.endsWith('.ts') && !where.includes('node_modules/') && !where.startsWith('/');
}

function shortUrl(url: string, projectRoot?: string): string {
  if (!url) return '';
  let path = url.startsWith('file://') ? decodeURIComponent(new URL(url).pathname) : url;
  if (projectRoot && path.startsWith(`${projectRoot}/`)) path = path.slice(projectRoot.length + 1);
  return path;
}

// Project files stay whole; dependencies collapse to their package; V8 pseudo-frames keep their names.
function fileGroup(where: string, name: string): string {
  if (!where) return name.startsWith('(') ? name : '(native)';
  const nm = where.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = where.slice(nm + 'node_modules/'.length).split('/');
    return `node_modules/${rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]}`;
  }
  return where;
}

// `node --import tsx bench/cpu-profile-summary.ts <file.cpuprofile> [top] [measured-window.json]` summarises a profile on its own.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: node --import tsx bench/cpu-profile-summary.ts <file.cpuprofile> [top] [measured-window.json]\n');
    process.exit(2);
  }
  const windowFile = process.argv[4];
  const windowUs = windowFile ? (JSON.parse(await readFile(windowFile, 'utf8')) as { from: number; to: number }) : undefined;
  process.stdout.write(
    `${await summariseCpuProfile(file, { top: Number(process.argv[3] ?? 25), projectRoot: process.cwd(), windowUs })}\n`,
  );
}
