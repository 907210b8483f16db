import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

const KEPT_OUTPUT_LINES = 40;

/** A child process of the bench, with the tail of its output kept for error messages. */
export interface BenchChild {
  name: string;
  process: ChildProcess;
  exited: Promise<number | string | null>;
  hasExited(): boolean;
  /** The last lines it printed on stdout and stderr. */
  tail(): string;
  /** The first stdout line that parses as JSON. */
  firstJsonLine(timeoutMs: number): Promise<Record<string, unknown>>;
  /** Calls `listener` with every later stdout line until it returns true. */
  onLine(listener: (line: string) => boolean): void;
}

export interface SpawnChildOptions {
  name: string;
  nodeArgs: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
}

/** Starts `node <nodeArgs>` with piped stdio; stdin stays open so the bench's own children notice a dead parent. */
export function spawnNode(options: SpawnChildOptions): BenchChild {
  const child = spawn(process.execPath, options.nodeArgs, { cwd: options.cwd, env: options.env, stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const keep = (line: string) => {
    lines.push(line);
    if (lines.length > KEPT_OUTPUT_LINES) lines.shift();
  };
  const jsonWaiters: Array<(value: Record<string, unknown>) => void> = [];
  let firstJson: Record<string, unknown> | undefined;
  const lineListeners = new Set<(line: string) => boolean>();
  createInterface({ input: child.stdout! }).on('line', (line) => {
    keep(line);
    for (const listener of lineListeners) if (listener(line)) lineListeners.delete(listener);
    if (firstJson || !line.startsWith('{')) return;
    try {
      firstJson = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    for (const resolve of jsonWaiters.splice(0)) resolve(firstJson);
  });
  createInterface({ input: child.stderr! }).on('line', keep);
  child.stdin!.on('error', () => undefined);

  let done = false;
  const exited = new Promise<number | string | null>((resolve) => {
    child.once('exit', (code, signal) => {
      done = true;
      resolve(code ?? signal);
    });
    child.once('error', (error) => {
      done = true;
      keep(String(error));
      resolve(null);
    });
  });

  return {
    name: options.name,
    process: child,
    exited,
    hasExited: () => done,
    tail: () => lines.join('\n'),
    onLine: (listener) => lineListeners.add(listener),
    firstJsonLine: (timeoutMs) =>
      new Promise((resolve, reject) => {
        if (firstJson) return resolve(firstJson);
        const timer = setTimeout(
          () => reject(new Error(`${options.name} printed no JSON line within ${timeoutMs} ms\n${lines.join('\n')}`)),
          timeoutMs,
        );
        jsonWaiters.push((value) => {
          clearTimeout(timer);
          resolve(value);
        });
        void exited.then((code) => {
          clearTimeout(timer);
          reject(new Error(`${options.name} exited (${code}) before it was ready\n${lines.join('\n')}`));
        });
      }),
  };
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone (or after a last bounded wait). */
export async function stopChild(child: BenchChild, graceMs: number): Promise<void> {
  if (child.hasExited()) return;
  child.process.kill('SIGTERM');
  child.process.stdin?.end();
  const gone = await Promise.race([child.exited.then(() => true), delay(graceMs).then(() => false)]);
  if (gone) return;
  process.stderr.write(`${child.name} did not stop within ${graceMs} ms; killing it\n`);
  child.process.kill('SIGKILL');
  await Promise.race([child.exited, delay(2_000)]);
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
