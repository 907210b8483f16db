import type { UsageRecord } from './usage-record.js';

/** Counters summed per (team, day, alias, deployment, kind): what /usage reads. */
export interface RollupCounters {
  requests: number;
  inputTokens: number;
  outputTokens: number;
  cachedInputTokens: number;
  reasoningTokens: number;
  costMicroUsd: number;
  /** Summed pico-dollar remainders: with costMicroUsd, the exact cost (see pricing.ts Cost). */
  costRemainderPicoUsd: number;
  estimatedRequests: number;
  failedRequests: number;
}

export interface RollupKey {
  team: string;
  day: string;
  alias: string;
  deployment: string;
  kind: UsageRecord['kind'];
}

export interface RollupDelta {
  key: RollupKey;
  counters: RollupCounters;
  /** This writer's sequence number for the delta; a store applies each (writer, seq) at most once. */
  seq: number;
}

/** Where the ledger lands: idempotent record writes and exactly-once rollup increments. */
export interface LedgerSink {
  /** Writes records; ones already stored (same id) count as written. */
  writeRecords(records: UsageRecord[]): Promise<void>;
  /** Adds a delta to its rollup unless this writer already applied that seq to it. */
  applyRollup(writerId: string, delta: RollupDelta): Promise<void>;
}

export interface LedgerOptions {
  flushIntervalMs: number;
  /** The clock the shutdown deadline is measured on. */
  now: () => number;
  /** Records held while the store is unreachable before new ones are dropped (and counted). */
  maxBufferedRecords?: number;
  log?: (message: string) => void;
}

/**
 * Unique in the whole container, not only within a team's partition: the Cosmos-compatible store of local mode
 * checks a patch condition against every document with the id, so two teams' rollups must never share one.
 * Ids from before (without the team) keep summing in reports, which group by fields, not ids.
 */
export function rollupId(key: RollupKey): string {
  return `${key.team}|${key.day}|${key.alias}|${key.deployment}|${key.kind}`;
}

export function countersOf(record: UsageRecord): RollupCounters {
  return {
    requests: 1,
    inputTokens: record.inputTokens,
    outputTokens: record.outputTokens,
    cachedInputTokens: record.cachedInputTokens,
    reasoningTokens: record.reasoningTokens,
    costMicroUsd: record.costMicroUsd,
    costRemainderPicoUsd: record.costRemainderPicoUsd,
    estimatedRequests: record.estimated ? 1 : 0,
    failedRequests: record.status === 'ok' ? 0 : 1,
  };
}

function add(target: RollupCounters, more: RollupCounters): void {
  target.requests += more.requests;
  target.inputTokens += more.inputTokens;
  target.outputTokens += more.outputTokens;
  target.cachedInputTokens += more.cachedInputTokens;
  target.reasoningTokens += more.reasoningTokens;
  target.costMicroUsd += more.costMicroUsd;
  target.costRemainderPicoUsd += more.costRemainderPicoUsd;
  target.estimatedRequests += more.estimatedRequests;
  target.failedRequests += more.failedRequests;
}

interface RollupQueue {
  key: RollupKey;
  /** Sealed deltas, applied strictly in order so a retried seq is never overtaken by a later one. */
  sealed: RollupDelta[];
  open?: RollupCounters;
}

/**
 * The usage ledger: requests record synchronously into memory; a timer writes records and rollup
 * deltas in batches, retrying until the store has them, so a slow or absent store never slows a request.
 */
export class Ledger {
  private pendingRecords: UsageRecord[] = [];
  private readonly rollups = new Map<string, RollupQueue>();
  private nextSeq = 1;
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();
  private busy = false;
  private droppedRecords = 0;
  private readonly maxBuffered: number;

  constructor(
    private readonly sink: LedgerSink,
    private readonly writerId: string,
    private readonly options: LedgerOptions,
  ) {
    this.maxBuffered = options.maxBufferedRecords ?? 200_000;
  }

  record(record: UsageRecord): void {
    if (this.pendingRecords.length >= this.maxBuffered) {
      this.droppedRecords += 1;
      if (this.droppedRecords === 1 || this.droppedRecords % 1000 === 0) {
        this.options.log?.(`ledger: store unreachable and buffer full; ${this.droppedRecords} records dropped so far`);
      }
      return;
    }
    this.pendingRecords.push(record);
    const key: RollupKey = { team: record.team, day: record.day, alias: record.alias, deployment: record.deployment, kind: record.kind };
    const id = rollupId(key);
    let queue = this.rollups.get(id);
    if (!queue) {
      queue = { key, sealed: [] };
      this.rollups.set(id, queue);
    }
    if (queue.open) add(queue.open, countersOf(record));
    else queue.open = countersOf(record);
  }

  get stats(): { bufferedRecords: number; pendingRollups: number; droppedRecords: number } {
    let pendingRollups = 0;
    for (const q of this.rollups.values()) pendingRollups += q.sealed.length + (q.open ? 1 : 0);
    return { bufferedRecords: this.pendingRecords.length, pendingRollups, droppedRecords: this.droppedRecords };
  }

  start(): void {
    this.timer = setInterval(() => {
      if (this.busy) return;
      this.flush().catch((error: unknown) => this.options.log?.(`ledger: flush failed, will retry: ${(error as Error).message}`));
    }, this.options.flushIntervalMs);
    this.timer.unref();
  }

  /** Writes everything recorded before the call; passes run one after another, never side by side. */
  flush(): Promise<void> {
    const pass = this.chain.catch(() => undefined).then(() => this.flushOnce());
    this.chain = pass;
    this.busy = true;
    void pass.then(
      () => this.settleBusy(pass),
      () => this.settleBusy(pass),
    );
    return pass;
  }

  private settleBusy(pass: Promise<void>): void {
    if (this.chain === pass) this.busy = false;
  }

  /** Stops the timer and flushes until empty or the deadline passes. */
  async close(deadlineMs = 10_000): Promise<void> {
    clearInterval(this.timer);
    const giveUpAt = this.options.now() + deadlineMs;
    for (;;) {
      try {
        await this.flush();
      } catch (error) {
        this.options.log?.(`ledger: flush at shutdown failed: ${(error as Error).message}`);
      }
      const { bufferedRecords, pendingRollups } = this.stats;
      if (bufferedRecords === 0 && pendingRollups === 0) return;
      if (this.options.now() >= giveUpAt) {
        this.options.log?.(`ledger: shutting down with ${bufferedRecords} records and ${pendingRollups} rollup deltas unwritten`);
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  private async flushOnce(): Promise<void> {
    const records = this.pendingRecords;
    this.pendingRecords = [];
    for (const queue of this.rollups.values()) {
      if (queue.open) {
        queue.sealed.push({ key: queue.key, counters: queue.open, seq: this.nextSeq++ });
        queue.open = undefined;
      }
    }
    const failures: unknown[] = [];
    if (records.length > 0) {
      try {
        await this.sink.writeRecords(records);
      } catch (error) {
        this.pendingRecords = records.concat(this.pendingRecords);
        failures.push(error);
      }
    }
    await Promise.all(
      [...this.rollups.entries()].map(async ([id, queue]) => {
        while (queue.sealed.length > 0) {
          try {
            await this.sink.applyRollup(this.writerId, queue.sealed[0]!);
            queue.sealed.shift();
          } catch (error) {
            failures.push(error);
            return;
          }
        }
        if (!queue.open) this.rollups.delete(id);
      }),
    );
    if (failures.length > 0) throw failures[0];
  }
}
