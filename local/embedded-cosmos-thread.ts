import https from 'node:https';
import { Worker } from 'node:worker_threads';
import type { EmbeddedCosmos, EmbeddedCosmosConnection, EmbeddedCosmosOptions } from './embedded-cosmos.js';

export type StoreThreadOptions = Omit<EmbeddedCosmosOptions, 'log'>;
export type ToStoreThread = { type: 'start'; options: StoreThreadOptions } | { type: 'snapshot' | 'stop'; id: number };
export type FromStoreThread =
  | { type: 'ready'; endpoint: string; key: string; certificatePem: string }
  | { type: 'log'; message: string }
  | { type: 'done'; id: number; error?: string }
  | { type: 'failed'; error: string };

/** A store thread spawned before its options are known: it loads the store's code while its parent reads its settings. */
export interface SpawnedStoreThread {
  start(options: EmbeddedCosmosOptions): Promise<EmbeddedCosmos>;
  /** Ends the thread when no embedded store is wanted after all (a Cosmos endpoint is configured). */
  discard(): Promise<void>;
}

export function spawnEmbeddedCosmosThread(): SpawnedStoreThread {
  const worker = spawnStoreWorker();
  // Listened for from the start: a thread that fails while loading, before start(), is reported by start().
  const ended = new Promise<never>((_, reject) => {
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`the embedded store thread exited with code ${code}`)));
  });
  ended.catch(() => undefined);
  return {
    start: (options) => runStoreThread(worker, ended, options),
    discard: async () => {
      await worker.terminate();
    },
  };
}

/**
 * The embedded store on a worker thread of its own: its request handling, queries and snapshots never
 * take turns with the gateway's requests. Same interface as startEmbeddedCosmos.
 */
export function startEmbeddedCosmosThread(options: EmbeddedCosmosOptions): Promise<EmbeddedCosmos> {
  return spawnEmbeddedCosmosThread().start(options);
}

async function runStoreThread(worker: Worker, ended: Promise<never>, options: EmbeddedCosmosOptions): Promise<EmbeddedCosmos> {
  const { log = () => undefined, ...workerOptions } = options;
  const pending = new Map<number, { resolve: () => void; reject: (error: Error) => void }>();
  let nextId = 1;
  let stopped: Promise<void> | undefined;

  const ready = new Promise<{ endpoint: string; key: string; certificatePem: string }>((resolve, reject) => {
    worker.on('message', (message: FromStoreThread) => {
      switch (message.type) {
        case 'ready':
          resolve(message);
          break;
        case 'log':
          log(message.message);
          break;
        case 'failed':
          reject(new Error(message.error));
          break;
        case 'done': {
          const waiter = pending.get(message.id);
          pending.delete(message.id);
          if (message.error) waiter?.reject(new Error(message.error));
          else waiter?.resolve();
          break;
        }
      }
    });
    ended.catch((error: unknown) => {
      reject(error);
      for (const waiter of pending.values()) waiter.reject(new Error('the embedded store thread exited'));
      pending.clear();
    });
  });
  worker.postMessage({ type: 'start', options: workerOptions } satisfies ToStoreThread);

  const ask = (type: 'snapshot' | 'stop'): Promise<void> =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      worker.postMessage({ type, id } satisfies ToStoreThread);
    });

  let started: { endpoint: string; key: string; certificatePem: string };
  try {
    started = await ready;
  } catch (error) {
    await worker.terminate();
    throw error;
  }
  const agent = new https.Agent({ keepAlive: true, ca: started.certificatePem });
  const connectionOptions = (): EmbeddedCosmosConnection => ({ endpoint: started.endpoint, key: started.key, agent });
  return {
    endpoint: started.endpoint,
    key: started.key,
    agent,
    certificatePem: started.certificatePem,
    connectionOptions,
    snapshot: () => ask('snapshot'),
    stop() {
      stopped ??= ask('stop').finally(() => {
        agent.destroy();
        void worker.terminate();
      });
      return stopped;
    },
  };
}

/**
 * The worker entry: built JavaScript under npm start, or TypeScript under tests and tsx, where the thread registers
 * the loader its parent uses. '../local/' holds from the sources' local/ and from the build's local/ or chunks/
 * alike (scripts/build.ts keeps every output one folder below its root).
 */
function spawnStoreWorker(): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('../local/embedded-cosmos-worker.js', import.meta.url));
  const entry = new URL('../local/embedded-cosmos-worker.ts', import.meta.url).href;
  const bootstrap = `(async () => {
    (await import('tsx/esm/api')).register();
    await import(${JSON.stringify(entry)});
  })().catch((error) => { process.exitCode = 1; throw error; });`;
  return new Worker(bootstrap, { eval: true });
}
