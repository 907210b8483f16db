import { countersOf, type LedgerSink, type RollupCounters, type RollupDelta, type RollupKey, rollupId } from './ledger.js';
import type { UsageRecord } from './usage-record.js';

/** What the sweep reads: records the ledger stamped, and how far each writer's deltas reached each rollup. */
export interface SweepSource {
  /** Records stamped with a writer and rollup seq whose request started at or after `sinceIso`. */
  readStampedRecords(sinceIso: string): Promise<UsageRecord[]>;
  /** The last seq the writer applied to the rollup; 0 when it applied none or the rollup does not exist. */
  appliedSeq(key: RollupKey, writer: string): Promise<number>;
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

export interface SweptDelta {
  writer: string;
  delta: RollupDelta;
}

const keyOf = (r: UsageRecord): RollupKey => ({ team: r.team, day: r.day, alias: r.alias, deployment: r.deployment, kind: r.kind });

function add(target: RollupCounters, more: RollupCounters): void {
  for (const name of Object.keys(more) as Array<keyof RollupCounters>) target[name] += more[name];
}

/**
 * The rollup deltas the records hold that their writers have not applied, per (writer, rollup) in seq order:
 * the same deltas the writer would have applied, so applying them (exactly once, by the rollup's seq condition)
 * is safe whether the writer died or is merely late.
 */
export function unappliedDeltas(
  records: UsageRecord[],
  applied: (key: RollupKey, writer: string) => number,
  options: { nowMs: number; graceMs: number },
): SweptDelta[] {
  const newest = new Map<string, { seq: number; writtenAtMs: number }>();
  for (const r of records) {
    if (r.writer === undefined || r.rollupSeq === undefined) continue;
    const writtenAtMs = Date.parse(r.ts) + r.latencyMs;
    const seen = newest.get(r.writer);
    if (!seen) newest.set(r.writer, { seq: r.rollupSeq, writtenAtMs });
    else newest.set(r.writer, { seq: Math.max(seen.seq, r.rollupSeq), writtenAtMs: Math.max(seen.writtenAtMs, writtenAtMs) });
  }
  const groups = new Map<string, SweptDelta>();
  for (const r of records) {
    if (r.writer === undefined || r.rollupSeq === undefined) continue;
    const last = newest.get(r.writer)!;
    if (r.rollupSeq === last.seq && options.nowMs - last.writtenAtMs < options.graceMs) continue;
    const key = keyOf(r);
    if (r.rollupSeq <= applied(key, r.writer)) continue;
    const id = `${r.writer}\u0000${rollupId(key)}\u0000${r.rollupSeq}`;
    const group = groups.get(id);
    if (group) add(group.delta.counters, countersOf(r));
    else groups.set(id, { writer: r.writer, delta: { key, counters: countersOf(r), seq: r.rollupSeq } });
  }
  return [...groups.values()].sort((a, b) => a.delta.seq - b.delta.seq);
}

/** Completes rollups from the records after a writer stopped before applying its deltas (kill -9, lost instance). */
export async function sweepRollups(source: SweepSource, sink: LedgerSink, options: SweepOptions): Promise<{ deltasApplied: number }> {
  const nowMs = options.now();
  const records = await source.readStampedRecords(new Date(nowMs - options.lookbackMs).toISOString());
  const applied = new Map<string, number>();
  for (const r of records) {
    if (r.writer === undefined) continue;
    const id = `${r.writer}\u0000${rollupId(keyOf(r))}`;
    if (!applied.has(id)) applied.set(id, await source.appliedSeq(keyOf(r), r.writer));
  }
  const deltas = unappliedDeltas(records, (key, writer) => applied.get(`${writer}\u0000${rollupId(key)}`) ?? 0, {
    nowMs,
    graceMs: options.graceMs,
  });
  // In seq order, one at a time: a rollup's seq condition refuses a delta older than one already applied.
  for (const { writer, delta } of deltas) await sink.applyRollup(writer, delta);
  return { deltasApplied: deltas.length };
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
