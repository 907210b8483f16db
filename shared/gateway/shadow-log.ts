import type { Logger } from '../log.js';
import type { ShadowRecord } from '../usage/shadow-record.js';

/** Where shadow records are kept, apart from the usage ledger. */
export interface ShadowStore {
  /** Writes records in as few store requests as it can. */
  appendMany(records: readonly ShadowRecord[]): Promise<void>;
  /** The alias's records whose `ts` is in [fromTs, toTs] (ISO instants), at most `limit`, and whether more were left out. */
  read(alias: string, range: { fromTs: string; toTs: string; limit: number }): Promise<{ records: ShadowRecord[]; truncated: boolean }>;
}

/** How long a shadow record waits to share a write with others: at most two store writes a second per instance. */
export const SHADOW_FLUSH_MS = 500;

export interface ShadowLogOptions {
  /** How long a record waits for others to share its write. */
  flushMs: number;
  /** Records held at most; beyond them new ones are dropped (and counted in the log), never the request slowed. */
  maxBuffered: number;
  log: Logger;
}

/**
 * Shadow records, written in batches: one store request per flush instead of one per copy, so recording copies adds
 * little to the store that the callers' own usage records wait on. A record is analytics, not money: a failed batch
 * is logged and dropped, and records still buffered when a process dies are lost.
 */
export class ShadowLog {
  readonly #store: ShadowStore;
  readonly #options: ShadowLogOptions;
  #buffered: ShadowRecord[] = [];
  #dropped = 0;
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> = Promise.resolve();

  constructor(store: ShadowStore, options: ShadowLogOptions) {
    this.#store = store;
    this.#options = options;
  }

  record(record: ShadowRecord): void {
    if (this.#buffered.length >= this.#options.maxBuffered) {
      this.#dropped += 1;
      return;
    }
    this.#buffered.push(record);
    if (!this.#timer) {
      this.#timer = setTimeout(() => void this.flush(), this.#options.flushMs);
      this.#timer.unref();
    }
  }

  /** Writes what is buffered; resolves once it and every earlier flush are done. */
  flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const batch = this.#buffered;
    const dropped = this.#dropped;
    this.#buffered = [];
    this.#dropped = 0;
    this.#flushing = this.#flushing.then(async () => {
      if (dropped > 0) this.#options.log.log('warn', 'shadow: records dropped, the buffer was full', { dropped });
      if (batch.length === 0) return;
      try {
        await this.#store.appendMany(batch);
      } catch (error) {
        this.#options.log.log('error', 'shadow: could not record shadowed requests', {
          records: batch.length,
          error: (error as Error).message,
        });
      }
    });
    return this.#flushing;
  }

  /** At shutdown: writes what is buffered, waiting at most `timeoutMs` (an unreachable store must not hold the exit). */
  async close(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = new Promise<'gave up'>((resolve) => {
      timer = setTimeout(() => resolve('gave up'), timeoutMs);
    });
    const outcome = await Promise.race([this.flush(), gaveUp]);
    clearTimeout(timer);
    if (outcome === 'gave up') this.#options.log.log('warn', 'shadow: records not written at shutdown', { waitedMs: timeoutMs });
  }

  /** Reads after writing what this instance holds, so a summary includes every copy it has finished. */
  async read(
    alias: string,
    range: { fromTs: string; toTs: string; limit: number },
  ): Promise<{ records: ShadowRecord[]; truncated: boolean }> {
    await this.flush();
    return this.#store.read(alias, range);
  }
}
