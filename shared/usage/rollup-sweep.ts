import { countersOf, type LedgerSink, type RollupCounters, type RollupDelta, type RollupKey, rollupId } from './ledger.js';
import type { UsageRecord } from './usage-record.js';

/** A registered writer: the seq through which all its deltas are known to be applied, and when it last said so. */
export interface WriterProgress {
  writer: string;
  appliedThrough: number;
  seenAtMs: number;
  /** The document's version as read, so forgetting it cannot undo a newer registration. */
  version: string;
}

/** What the sweep reads: the writers, their records past what they applied, how far each reached each rollup. */
export interface SweepSource {
  readWriters(): Promise<WriterProgress[]>;
  /** Removes a writer's registration unless it changed since it was read. */
  forgetWriter(writer: WriterProgress): Promise<void>;
  /** The writer's records with a rollup seq above `afterSeq` whose request started at or after `sinceIso`. */
  readStampedRecords(writer: string, afterSeq: number, sinceIso: string): Promise<UsageRecord[]>;
  /** The last seq the writer applied to the rollup; 0 when it applied none or the rollup does not exist. */
  appliedSeq(key: RollupKey, writer: string): Promise<number>;
  /** Raises the writer's appliedThrough (never lowers it) and notes it as seen at atMs. */
  recordProgress(writer: string, appliedThrough: number, atMs: number): Promise<void>;
}

export interface SweepOptions {
  now: () => number;
  /** How far back records are read (by their request's start). */
  lookbackMs: number;
  /**
   * A writer's newest seq is swept only once its newest record is this old: until then the writer may be alive
   * and still adding records to it. Older seqs are complete (a seq closes before any record of the next is written).
   */
  graceMs: number;
}

const keyOf = (r: UsageRecord): RollupKey => ({ team: r.team, day: r.day, alias: r.alias, deployment: r.deployment, kind: r.kind });

function add(target: RollupCounters, more: RollupCounters): void {
  for (const name of Object.keys(more) as Array<keyof RollupCounters>) target[name] = (target[name] ?? 0) + (more[name] ?? 0);
}

/**
 * The rollup deltas one writer's records hold that it has not applied, in seq order: the same deltas the writer
 * would have applied, so applying them (exactly once, by the rollup's seq condition) is safe whether the writer
 * died or is merely late. `completeThrough` is the highest seq whose records are all in: every seq but the newest
 * (a seq closes before any record of the next is written), and the newest once its newest record is graceMs old.
 */
export function unappliedDeltas(
  records: UsageRecord[],
  applied: (key: RollupKey) => number,
  options: { nowMs: number; graceMs: number },
): { deltas: RollupDelta[]; completeThrough: number } {
  let newest = 0;
  let newestWrittenAtMs = 0;
  for (const r of records) {
    const seq = r.rollupSeq ?? 0;
    const writtenAtMs = Date.parse(r.ts) + r.latencyMs;
    if (seq > newest) {
      newest = seq;
      newestWrittenAtMs = writtenAtMs;
    } else if (seq === newest) newestWrittenAtMs = Math.max(newestWrittenAtMs, writtenAtMs);
  }
  const completeThrough = options.nowMs - newestWrittenAtMs >= options.graceMs ? newest : newest - 1;
  const groups = new Map<string, RollupDelta>();
  for (const r of records) {
    const seq = r.rollupSeq ?? 0;
    const key = keyOf(r);
    if (seq > completeThrough || seq <= applied(key)) continue;
    const id = `${rollupId(key)}\u0000${seq}`;
    const group = groups.get(id);
    if (group) add(group.counters, countersOf(r));
    else groups.set(id, { key, counters: countersOf(r), seq });
  }
  return { deltas: [...groups.values()].sort((a, b) => a.seq - b.seq), completeThrough };
}

/**
 * Completes rollups from the records after a writer stopped before applying its deltas (kill -9, lost instance).
 * Reads, per registered writer silent for longer than the grace, only its records past the seq through which it (or
 * an earlier sweep) applied all.
 */
export async function sweepRollups(source: SweepSource, sink: LedgerSink, options: SweepOptions): Promise<{ deltasApplied: number }> {
  const nowMs = options.now();
  const sinceIso = new Date(nowMs - options.lookbackMs).toISOString();
  let deltasApplied = 0;
  for (const progress of await source.readWriters()) {
    const { writer, appliedThrough } = progress;
    // A writer that reported its rollups applied within the grace is alive and completes them itself (it reports
    // at every pass that applies one): reading its records would be a query over what it wrote since, for nothing.
    if (nowMs - progress.seenAtMs < options.graceMs) continue;
    const records = await source.readStampedRecords(writer, appliedThrough, sinceIso);
    if (records.length === 0) {
      // Silent past the lookback with nothing left to roll up: stopped, or idle (a writer registers again before
      // it writes after a long pause), so it need not be read again.
      if (nowMs - progress.seenAtMs > options.lookbackMs) await source.forgetWriter(progress);
      continue;
    }
    const applied = new Map<string, number>();
    for (const r of records) {
      const id = rollupId(keyOf(r));
      if (!applied.has(id)) applied.set(id, await source.appliedSeq(keyOf(r), writer));
    }
    const { deltas, completeThrough } = unappliedDeltas(records, (key) => applied.get(rollupId(key)) ?? 0, {
      nowMs,
      graceMs: options.graceMs,
    });
    // In seq order, one at a time: a rollup's seq condition refuses a delta older than one already applied.
    for (const delta of deltas) await sink.applyRollup(writer, delta);
    deltasApplied += deltas.length;
    if (completeThrough > appliedThrough) await source.recordProgress(writer, completeThrough, nowMs);
  }
  return { deltasApplied };
}

/** Runs the sweep now and then every intervalMs; failures are logged and retried at the next run. */
export class RollupSweeper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly source: SweepSource,
    private readonly sink: LedgerSink,
    private readonly options: SweepOptions & { intervalMs: number; log?: (level: 'info' | 'warn', message: string) => void },
  ) {}

  start(): void {
    this.run();
    this.timer = setInterval(() => this.run(), this.options.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  private run(): void {
    if (this.running) return;
    this.running = sweepRollups(this.source, this.sink, this.options)
      .then(({ deltasApplied }) => {
        if (deltasApplied > 0)
          this.options.log?.('info', `ledger sweep: applied ${deltasApplied} rollup deltas left by writers that stopped`);
      })
      .catch((error: unknown) => this.options.log?.('warn', `ledger sweep failed, will retry: ${(error as Error).message}`))
      .finally(() => {
        this.running = undefined;
      });
  }
}
