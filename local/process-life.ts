import type { Logger } from '../shared/log.js';
import { storeFailureKind } from '../shared/store/containers.js';

// How the `npm start` process ends: on a signal or when its parent disappears, gracefully, within a hard deadline.

/** SIGHUP too: a closed terminal should drain like any other stop, not drop the ledger's buffer. */
const STOP_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;

export interface StopOptions {
  /** Drains requests and flushes the ledger. */
  close: () => Promise<void>;
  /** After this long the process exits (code 1) whatever close() is still waiting for. */
  deadlineMs: number;
  log: Logger;
  /** How often to look whether the parent process is still there; default 1000. */
  parentCheckIntervalMs?: number;
}

/**
 * Stops the process gracefully on SIGTERM, SIGINT or SIGHUP, and when its parent exits without passing a signal on
 * (a shell that ran `npm start`'s script and was killed, npm killed with SIGKILL): exit code 0 when close() finished,
 * 1 when it failed or the deadline cut it short.
 */
export function stopGracefully(options: StopOptions): void {
  let stopping = false;
  // Repeated signals are ignored on purpose: Ctrl+C reaches node twice under npm (from the terminal and from npm).
  const stop = (why: string): void => {
    if (stopping) return;
    stopping = true;
    options.log.log('info', `${why}: finishing in-flight requests, flushing the ledger`);
    setTimeout(() => {
      options.log.log('error', `shutdown deadline of ${options.deadlineMs} ms passed; exiting with work unfinished`);
      process.exit(1);
    }, options.deadlineMs);
    options.close().then(
      () => process.exit(0),
      (error: unknown) => {
        options.log.log('error', 'shutdown failed', { error: String(error) });
        process.exit(1);
      },
    );
  };
  for (const signal of STOP_SIGNALS) process.on(signal, () => stop(`received ${signal}`));
  watchParent(() => stop('parent process exited'), options.parentCheckIntervalMs ?? 1_000);
}

/** Calls onGone once this process has been re-parented, i.e. its parent has exited. */
export function watchParent(onGone: () => void, intervalMs: number): () => void {
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    onGone();
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

/** One line for a start-up failure that a setting fixes; undefined for anything else. */
/** One line for a start that could not use the store COSMOS_ENDPOINT names; undefined for any other failure. */
export function describeStoreFailure(error: unknown, endpoint: string | undefined): string | undefined {
  if (!endpoint) return undefined;
  const kind = storeFailureKind(error);
  if (kind === 'refused') return `the store at ${endpoint} refused the credentials — check COSMOS_KEY or the identity's data role`;
  if (kind !== 'unreachable') return undefined;
  const code = (error as { code?: unknown } | null)?.code;
  const why = typeof code === 'string' ? ` (${code})` : '';
  return `the store at ${endpoint} is not reachable${why} — check COSMOS_ENDPOINT, or leave it unset for the embedded store`;
}

export function describeListenFailure(error: unknown): string | undefined {
  const { code, syscall, port, address } = (error ?? {}) as NodeJS.ErrnoException & { port?: number; address?: string };
  if (syscall !== 'listen') return undefined;
  if (code === 'EADDRINUSE') return `port ${port} is in use — set PORT`;
  if (code === 'EACCES') return `port ${port} needs privileges this process does not have — set PORT`;
  if (code === 'EADDRNOTAVAIL') return `address ${address} is not on this machine — set HOST`;
  return undefined;
}
