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
  /** Requests content safety blocked (prompt or answer); present once a screened request is summed in. */
  safetyBlockedRequests?: number;
  /** Content Safety text records billed for screening (Azure bills per 1,000); present like safetyBlockedRequests. */
  safetyTextRecords?: number;
  /** Stopped calls' cost not billed to the team (safety.billAborted false), exact like costMicroUsd + remainder. */
  unbilledCostMicroUsd?: number;
  unbilledCostRemainderPicoUsd?: number;
}

/** The counters only screened requests carry: a rollup of unscreened traffic keeps its shape. */
export const SAFETY_COUNTERS = [
  'safetyBlockedRequests',
  'safetyTextRecords',
  'unbilledCostMicroUsd',
  'unbilledCostRemainderPicoUsd',
] as const;

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
  /**
   * Notes that every delta of the writer up to `appliedThrough` is applied (0 registers the writer), never lowering
   * it: the rollup sweep reads only a writer's records past it. A sink without it is never swept.
   */
  recordProgress?(writerId: string, appliedThrough: number, atMs: number): Promise<void>;
}

export interface LedgerOptions {
  /** How often sealed rollup deltas are applied (and a failed record write retried). */
  flushIntervalMs: number;
  /** The clock the shutdown deadline is measured on. */
  now: () => number;
  /** Records held while the store is unreachable before new ones are dropped (and counted). */
  maxBufferedRecords?: number;
  /** Records per bulk write; what arrives while one is written waits for the next (group commit). */
  maxBatchRecords?: number;
  /** Longest a request waits for its record to be acknowledged before it is answered anyway (the record stays buffered). */
  durableWaitMs?: number;
  /** A writer registers again before writing when it last did longer ago than this (the sweep forgets silent writers). */
  registerEveryMs?: number;
  log?: (message: string) => void;
}

/** What the ledger has done since it started: for /health/ready and the bench. */
export interface LedgerStats {
  bufferedRecords: number;
  pendingRollups: number;
  droppedRecords: number;
}

interface Waiting {
  record: UsageRecord;
  acknowledged: () => void;
}

/** Records stamped with one rollup seq and sent together; retried as they are until the store has them all. */
interface Batch {
  seq: number;
  items: Waiting[];
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
    ...(record.safety
      ? {
          safetyBlockedRequests: record.safety.action === 'block' ? 1 : 0,
          safetyTextRecords: record.safety.billableRecords,
          unbilledCostMicroUsd: record.safety.unbilledCost?.costMicroUsd ?? 0,
          unbilledCostRemainderPicoUsd: record.safety.unbilledCost?.costRemainderPicoUsd ?? 0,
        }
      : {}),
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
  for (const name of SAFETY_COUNTERS) if (more[name] !== undefined) target[name] = (target[name] ?? 0) + more[name];
}

interface RollupQueue {
  key: RollupKey;
  /** Sealed deltas, applied strictly in order so a retried seq is never overtaken by a later one. */
  sealed: RollupDelta[];
}

/**
 * The usage ledger. A record is durable before the request that made it is answered: `record` resolves once the
 * store acknowledged it (group commit: the records that arrive while one bulk write runs go together in the next).
 * Every record carries this writer's id and the rollup seq of the delta it is summed in, so the rollups can be
 * completed from the records alone after a crash (see rollup-sweep.ts): a seq closes (is sealed) only between
 * bulk writes, so all records of a seq are in the store before any record of a later one.
 *
 * While the store is unreachable, requests are answered without waiting and their records held in memory
 * (bounded) until it is back: during an outage a crash loses what is held.
 */
export class Ledger {
  private queue: Waiting[] = [];
  private inFlight: Batch | undefined;
  private writing: Promise<void> | undefined;
  /** The seq stamped on records written now; closed by seal(). */
  private openSeq = 1;
  private readonly open = new Map<string, { key: RollupKey; counters: RollupCounters }>();
  private readonly rollups = new Map<string, RollupQueue>();
  private rollupChain: Promise<void> = Promise.resolve();
  private rollupBusy = false;
  private sealWanted = false;
  /** The last record write failed and none has succeeded since: requests do not wait. */
  private degraded = false;
  private timer: NodeJS.Timeout | undefined;
  private droppedRecords = 0;
  /** Registered with the sink before its first record is written, so a sweep can find this writer's records. */
  private registeredAtMs: number | undefined;
  private progressed = 0;
  private readonly maxBuffered: number;
  private readonly maxBatch: number;
  private readonly durableWaitMs: number;
  /** Bulk writes acknowledged and the records they held: records per batch = written / batches. */
  readonly writes = { batches: 0, records: 0 };

  constructor(
    private readonly sink: LedgerSink,
    private readonly writerId: string,
    private readonly options: LedgerOptions,
  ) {
    this.maxBuffered = options.maxBufferedRecords ?? 200_000;
    this.maxBatch = options.maxBatchRecords ?? 500;
    this.durableWaitMs = options.durableWaitMs ?? 2_000;
    // A seq must grow across restarts of a writer id too; ids are per process, so starting at 1 is safe.
  }

  /** Takes a record; resolves once the store has it, or at once while the store is unreachable (it is then held). */
  record(record: UsageRecord): Promise<void> {
    if (this.queue.length + (this.inFlight?.items.length ?? 0) >= this.maxBuffered) {
      this.droppedRecords += 1;
      if (this.droppedRecords === 1 || this.droppedRecords % 1000 === 0) {
        this.options.log?.(`ledger: store unreachable and buffer full; ${this.droppedRecords} records dropped so far`);
      }
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const acknowledged = () => {
        clearTimeout(timer);
        resolve();
      };
      this.queue.push({ record, acknowledged });
      if (this.degraded) return acknowledged();
      if (this.durableWaitMs === 0) acknowledged();
      else {
        timer = setTimeout(acknowledged, this.durableWaitMs);
        timer.unref();
      }
      // After this turn's other records and after a write that is just ending has let go (kick checks again).
      if (this.queue.length === 1) setImmediate(() => this.kick());
    });
  }

  get stats(): LedgerStats {
    let pendingRollups = this.open.size;
    for (const q of this.rollups.values()) pendingRollups += q.sealed.length;
    return { bufferedRecords: this.queue.length + (this.inFlight?.items.length ?? 0), pendingRollups, droppedRecords: this.droppedRecords };
  }

  start(): void {
    this.timer = setInterval(() => {
      this.kick();
      this.requestSeal();
      if (this.rollupBusy) return;
      this.applyRollups().catch((error: unknown) =>
        this.options.log?.(`ledger: rollup write failed, will retry: ${(error as Error).message}`),
      );
    }, this.options.flushIntervalMs);
    this.timer.unref();
  }

  /** Writes every record taken before the call and applies every rollup delta; rejects with the first failure. */
  async flush(): Promise<void> {
    while (this.inFlight || this.queue.length > 0) await (this.writing ?? this.startWriting());
    this.requestSeal();
    await this.applyRollups();
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

  /** Starts writing in the background unless a write runs; a failure is retried by the timer. */
  private kick(): void {
    if (this.writing || (!this.inFlight && this.queue.length === 0)) return;
    this.startWriting().catch((error: unknown) =>
      this.options.log?.(`ledger: usage record write failed, holding records: ${(error as Error).message}`),
    );
  }

  private startWriting(): Promise<void> {
    const run = this.writeAll();
    this.writing = run;
    const clear = () => {
      if (this.writing === run) this.writing = undefined;
    };
    run.then(clear, clear);
    return run;
  }

  /** Bulk writes, one after another, until nothing waits; stops at the first failure. */
  private async writeAll(): Promise<void> {
    for (;;) {
      if (!this.inFlight) {
        if (this.sealWanted) this.seal();
        if (this.queue.length === 0) return;
        const items = this.queue.splice(0, this.maxBatch);
        for (const item of items) item.record = { ...item.record, writer: this.writerId, rollupSeq: this.openSeq };
        this.inFlight = { seq: this.openSeq, items };
      }
      const batch = this.inFlight;
      try {
        const nowMs = this.options.now();
        if (this.registeredAtMs === undefined || nowMs - this.registeredAtMs >= (this.options.registerEveryMs ?? 600_000)) {
          await this.sink.recordProgress?.(this.writerId, this.progressed, nowMs);
          this.registeredAtMs = nowMs;
        }
        await this.sink.writeRecords(batch.items.map((item) => item.record));
      } catch (error) {
        // Answer the waiting requests anyway: their records stay here until the store takes them.
        this.degraded = true;
        for (const item of batch.items) item.acknowledged();
        for (const item of this.queue) item.acknowledged();
        throw error;
      }
      this.degraded = false;
      this.inFlight = undefined;
      this.writes.batches += 1;
      this.writes.records += batch.items.length;
      for (const item of batch.items) {
        this.addToOpen(item.record);
        item.acknowledged();
      }
    }
  }

  private addToOpen(record: UsageRecord): void {
    const key: RollupKey = { team: record.team, day: record.day, alias: record.alias, deployment: record.deployment, kind: record.kind };
    const id = rollupId(key);
    const open = this.open.get(id);
    if (open) add(open.counters, countersOf(record));
    else this.open.set(id, { key, counters: countersOf(record) });
  }

  /** Closes the open seq between bulk writes (never while one is in flight, so a seq's records are all stored first). */
  private requestSeal(): void {
    if (this.inFlight) this.sealWanted = true;
    else this.seal();
  }

  private seal(): void {
    this.sealWanted = false;
    if (this.open.size === 0) return;
    for (const [id, { key, counters }] of this.open) {
      let queue = this.rollups.get(id);
      if (!queue) {
        queue = { key, sealed: [] };
        this.rollups.set(id, queue);
      }
      queue.sealed.push({ key, counters, seq: this.openSeq });
    }
    this.open.clear();
    this.openSeq += 1;
  }

  /** Applies sealed deltas; passes run one after another, never side by side. */
  private applyRollups(): Promise<void> {
    const pass = this.rollupChain.catch(() => undefined).then(() => this.applyRollupsOnce());
    this.rollupChain = pass;
    this.rollupBusy = true;
    const settle = () => {
      if (this.rollupChain === pass) this.rollupBusy = false;
    };
    pass.then(settle, settle);
    return pass;
  }

  private async applyRollupsOnce(): Promise<void> {
    const failures: unknown[] = [];
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
        this.rollups.delete(id);
      }),
    );
    if (failures.length > 0) throw failures[0];
    // Every seq below the oldest still waiting (seals made during this pass included) is applied for every key, and
    // the open seq is not sealed yet: the sweep may skip this writer's records through there. Reported while newer
    // seqs wait too, or a writer that is never idle would have its whole lookback re-read by every sweep.
    let oldestWaiting = this.openSeq;
    for (const queue of this.rollups.values()) if (queue.sealed.length > 0) oldestWaiting = Math.min(oldestWaiting, queue.sealed[0]!.seq);
    const appliedThrough = oldestWaiting - 1;
    if (appliedThrough > this.progressed && this.registeredAtMs !== undefined) {
      const nowMs = this.options.now();
      await this.sink.recordProgress?.(this.writerId, appliedThrough, nowMs);
      this.progressed = appliedThrough;
      this.registeredAtMs = nowMs;
    }
  }
}
