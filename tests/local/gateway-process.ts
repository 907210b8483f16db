import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { connect } from 'node:net';

// The local gateway as a separate process, started and stopped the way a person or a process manager does it.

export interface GatewayProcess {
  /** What was spawned: node itself, npm, or a shell. */
  readonly child: ChildProcess;
  readonly url: string;
  readonly port: number;
  /** stdout and stderr, interleaved as they arrived. */
  output(): string;
  stderr(): string;
  /** Resolves when the spawned process exits. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export const GATEWAY_ENTRY = ['--import', 'tsx', 'local/start.ts'] as const;

/** The environment a child gateway gets: nothing inherited but PATH, a free port, its own data folder. */
export function gatewayEnv(dataDir: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  // Timers off: the hourly allocation would add managed compute to a test's sums when it runs past five past the hour.
  return { PATH: process.env.PATH ?? '', PORT: '0', SWITCHYARD_DATA_DIR: dataDir, SWITCHYARD_TIMERS: 'off', ...extra };
}

interface Captured {
  child: ChildProcess;
  output(): string;
  stderr(): string;
  exited: GatewayProcess['exited'];
}

/** Spawns a command and keeps its output; the exit promise is created at once so no exit goes unseen. */
export function spawnCaptured(command: string, args: readonly string[], env: NodeJS.ProcessEnv): Captured {
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    stderr += chunk.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, output: () => output, stderr: () => stderr, exited };
}

/** Spawns the gateway (or npm, or a shell that runs it) and waits for the whole start-up block. */
export async function startGatewayProcess(command: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<GatewayProcess> {
  const captured = spawnCaptured(command, args, env);
  try {
    const url = await waitFor(captured, (text) => /listening on (http:\/\/127\.0\.0\.1:\d+)[\s\S]*?\n\n/.exec(text)?.[1], 30_000);
    return { ...captured, url, port: Number(new URL(url).port) };
  } catch (error) {
    captured.child.kill('SIGKILL');
    throw error;
  }
}

/** Waits until `find` returns something from the output; fails if the process exits first or time runs out. */
export async function waitFor<T>(captured: Captured, find: (output: string) => T | undefined, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void captured.exited.then(() => (exited = true));
  for (;;) {
    const found = find(captured.output());
    if (found !== undefined) return found;
    if (exited) throw new Error(`the process exited before it was ready:\n${captured.output()}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for the process:\n${captured.output()}`);
    await sleep(50);
  }
}

/** Resolves with the exit, or rejects after timeoutMs (the process is then still running). */
export async function exitWithin(
  exited: GatewayProcess['exited'],
  timeoutMs: number,
): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the process did not exit within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Whether a TCP connect to the port on loopback is refused (nobody listening). */
export function portRefuses(port: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNREFUSED') resolve(true);
      else reject(error);
    });
  });
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Polls until the process is gone; false if it is still there after timeoutMs. */
export async function goneWithin(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid) && !isZombie(pid)) {
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
  return true;
}

/** Linux: every process below pid, read from /proc (the gateway under npm is a grandchild). */
export function descendants(pid: number): number[] {
  const found: number[] = [];
  for (const task of readdirSafe(`/proc/${pid}/task`)) {
    const children = readFileSafe(`/proc/${pid}/task/${task}/children`).trim();
    for (const child of children === '' ? [] : children.split(/\s+/).map(Number)) found.push(child, ...descendants(child));
  }
  return found;
}

/** The command line of a running process (Linux). */
export function commandLine(pid: number): string {
  return readFileSafe(`/proc/${pid}/cmdline`).split('\0').join(' ').trim();
}

export const hasProcFs = existsSync('/proc/self/task');

/** SIGKILLs whatever is still alive: for afterAll/finally, so a failed test never leaves a gateway behind. */
export function killAll(pids: Iterable<number>): void {
  for (const pid of pids) {
    if (isAlive(pid)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

function isZombie(pid: number): boolean {
  return / Z /.test(readFileSafe(`/proc/${pid}/stat`).replace(/^.*\)/, ' '));
}

function readdirSafe(path: string): string[] {
  try {
    return readdirSync(path);
  } catch {
    return [];
  }
}

function readFileSafe(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
