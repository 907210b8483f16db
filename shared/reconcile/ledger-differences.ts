import type { HourDocument } from '../allocation/hour-document.js';
import { allocatedPicoUsd } from '../allocation/hour-document.js';
import { countersOf, type RollupCounters, type RollupKey, rollupId, SAFETY_COUNTERS } from '../usage/ledger.js';
import { costPicoUsd, picoToUsdExact } from '../usage/pricing.js';
import type { UsageRecord } from '../usage/usage-record.js';
import type { RollupRow } from '../usage/usage-report.js';

const COUNTS = [
  'requests',
  'inputTokens',
  'outputTokens',
  'cachedInputTokens',
  'reasoningTokens',
  'estimatedRequests',
  'failedRequests',
  ...SAFETY_COUNTERS,
] as const;

export interface RollupDifference extends RollupKey {
  /** A counter, or `costUsd` (compared exactly). */
  field: (typeof COUNTS)[number] | 'costUsd';
  stored: number | string;
  recomputed: number | string;
}

export interface HourDifference {
  deployment: string;
  hour: string;
  /** missing: no stored allocation for an hour that should have one; cost/lines: stored differs from the records. */
  kind: 'missing' | 'cost' | 'lines';
  storedCostUsd: string | null;
  recomputedCostUsd: string;
  detail: string;
}

interface Sums {
  key: RollupKey;
  counts: Record<(typeof COUNTS)[number], number>;
  pico: bigint;
}

function emptySums(key: RollupKey): Sums {
  return { key, counts: Object.fromEntries(COUNTS.map((c) => [c, 0])) as Sums['counts'], pico: 0n };
}

function addCounters(target: Sums, counters: Partial<RollupCounters>): void {
  for (const c of COUNTS) target.counts[c] += counters[c] ?? 0;
  target.pico += costPicoUsd(counters);
}

/** Sums records into rollups as the ledger does, a page at a time. */
export class RollupRecount {
  readonly sums = new Map<string, Sums>();
  records = 0;

  add(records: Iterable<UsageRecord>): void {
    for (const record of records) {
      this.records += 1;
      const key: RollupKey = { team: record.team, day: record.day, alias: record.alias, deployment: record.deployment, kind: record.kind };
      const id = rollupId(key);
      let sums = this.sums.get(id);
      if (!sums) {
        sums = emptySums(key);
        this.sums.set(id, sums);
      }
      addCounters(sums, countersOf(record));
    }
  }
}

/** Every counter where the stored rollups (summed per key: older ids may split a key) differ from the records' sums. */
export function rollupDifferences(stored: RollupRow[], recount: RollupRecount): RollupDifference[] {
  const storedSums = new Map<string, Sums>();
  for (const row of stored) {
    if (row.managedAllocated) continue;
    const key: RollupKey = {
      team: row.team,
      day: row.day,
      alias: row.alias,
      deployment: row.deployment,
      kind: row.kind as RollupKey['kind'],
    };
    const id = rollupId(key);
    let sums = storedSums.get(id);
    if (!sums) {
      sums = emptySums(key);
      storedSums.set(id, sums);
    }
    addCounters(sums, row as Partial<RollupCounters>);
  }
  const differences: RollupDifference[] = [];
  const ids = new Set([...storedSums.keys(), ...recount.sums.keys()]);
  for (const id of [...ids].sort()) {
    const before = storedSums.get(id);
    const after = recount.sums.get(id);
    const key = (before ?? after)!.key;
    for (const field of COUNTS) {
      const storedValue = before?.counts[field] ?? 0;
      const recomputed = after?.counts[field] ?? 0;
      if (storedValue !== recomputed) differences.push({ ...key, field, stored: storedValue, recomputed });
    }
    const storedPico = before?.pico ?? 0n;
    const recomputedPico = after?.pico ?? 0n;
    if (storedPico !== recomputedPico) {
      differences.push({ ...key, field: 'costUsd', stored: picoToUsdExact(storedPico), recomputed: picoToUsdExact(recomputedPico) });
    }
  }
  return differences;
}

const lineKey = (doc: HourDocument) =>
  JSON.stringify(
    doc.lines.map((l) => [l.team, l.alias, l.requests, l.inputTokens, l.outputTokens, l.busyMs, l.costMicroUsd, l.costRemainderPicoUsd]),
  );

/** Every hour whose stored allocation is missing or differs from the one the records give. */
export function hourDifferences(computed: HourDocument[], stored: ReadonlyMap<string, HourDocument>): HourDifference[] {
  const differences: HourDifference[] = [];
  for (const doc of computed) {
    const before = stored.get(doc.hour);
    const recomputedCostUsd = picoToUsdExact(allocatedPicoUsd(doc));
    const base = { deployment: doc.deployment, hour: doc.hour, recomputedCostUsd };
    if (!before) {
      differences.push({ ...base, kind: 'missing', storedCostUsd: null, detail: 'no allocation stored for this hour' });
      continue;
    }
    const storedCostUsd = picoToUsdExact(allocatedPicoUsd(before));
    if (storedCostUsd !== recomputedCostUsd || costPicoUsd(before) !== costPicoUsd(doc)) {
      differences.push({
        ...base,
        kind: 'cost',
        storedCostUsd,
        detail: `hour priced ${before.hourlyUsd} × ${before.instances}, lines + unallocated ${storedCostUsd}`,
      });
    } else if (lineKey(before) !== lineKey(doc) || before.unallocatedMicroUsd !== doc.unallocatedMicroUsd) {
      const requestsBefore = before.lines.reduce((sum, l) => sum + l.requests, 0);
      differences.push({
        ...base,
        kind: 'lines',
        storedCostUsd,
        detail: `stored split covers ${requestsBefore} requests, the records hold ${doc.requests}`,
      });
    }
  }
  return differences;
}
