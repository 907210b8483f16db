import { costPicoUsd, splitPico } from '../usage/pricing.js';
import type { AllocationStore } from './allocation-store.js';
import type { RollupRow } from '../usage/usage-report.js';
import { type AllocationBasis, allocateHour, type HourPrice, type HourUse, UNALLOCATED_TEAM } from './allocate-hour.js';

/** One allocated line of an hour: what a (team, alias) used and its share of the hour's cost (micro-dollars + pico remainder). */
export interface AllocatedLine extends HourUse {
  costMicroUsd: number;
  costRemainderPicoUsd: number;
}

/** One closed hour of one managed deployment, as stored: replaced whole whenever its usage changes. */
export interface HourDocument extends HourPrice {
  /** `<deployment>|<hour>` */
  id: string;
  type: 'hour';
  month: string;
  day: string;
  /** The hour's start, ISO (YYYY-MM-DDTHH:00:00.000Z). */
  hour: string;
  deployment: string;
  basis: AllocationBasis;
  costMicroUsd: number;
  costRemainderPicoUsd: number;
  utilisation: number;
  busyMs: number;
  requests: number;
  inputTokens: number;
  outputTokens: number;
  lines: AllocatedLine[];
  unallocatedMicroUsd: number;
  unallocatedRemainderPicoUsd: number;
}

export function hourId(deployment: string, hourIso: string): string {
  return `${deployment}|${hourIso}`;
}

/** The stored form of an hour's allocation. */
export function hourDocument(
  deployment: string,
  hourStartMs: number,
  price: HourPrice,
  uses: HourUse[],
  basis: AllocationBasis,
): HourDocument {
  const allocation = allocateHour(price, uses, basis);
  const hour = new Date(hourStartMs).toISOString();
  const cost = splitPico(allocation.costPicoUsd);
  const unallocated = splitPico(allocation.unallocatedPicoUsd);
  return {
    id: hourId(deployment, hour),
    type: 'hour',
    month: hour.slice(0, 7),
    day: hour.slice(0, 10),
    hour,
    deployment,
    basis,
    hourlyUsd: price.hourlyUsd,
    instances: price.instances,
    slots: price.slots,
    costMicroUsd: cost.costMicroUsd,
    costRemainderPicoUsd: cost.costRemainderPicoUsd,
    utilisation: allocation.utilisation,
    busyMs: allocation.busyMs,
    requests: uses.reduce((sum, use) => sum + use.requests, 0),
    inputTokens: uses.reduce((sum, use) => sum + use.inputTokens, 0),
    outputTokens: uses.reduce((sum, use) => sum + use.outputTokens, 0),
    lines: allocation.lines.map(({ costPicoUsd: pico, ...use }) => ({ ...use, ...splitPico(pico) })),
    unallocatedMicroUsd: unallocated.costMicroUsd,
    unallocatedRemainderPicoUsd: unallocated.costRemainderPicoUsd,
  };
}

/** What is compared to tell whether an hour must be rewritten: everything but bookkeeping the store adds. */
export function sameAllocation(a: HourDocument, b: HourDocument): boolean {
  return JSON.stringify(comparable(a)) === JSON.stringify(comparable(b));
}

function comparable(doc: HourDocument): unknown[] {
  return [
    doc.id,
    doc.basis,
    doc.hourlyUsd,
    doc.instances,
    doc.slots,
    doc.costMicroUsd,
    doc.costRemainderPicoUsd,
    doc.busyMs,
    doc.lines.map((l) => [l.team, l.alias, l.requests, l.inputTokens, l.outputTokens, l.busyMs, l.costMicroUsd, l.costRemainderPicoUsd]),
    doc.unallocatedMicroUsd,
    doc.unallocatedRemainderPicoUsd,
  ];
}

/**
 * An hour's allocation as /usage rows: one per (team, alias) and one `unallocated` row, all of kind managed with
 * no requests or tokens (those are in the rollups already), carrying the money as managed compute.
 */
export function allocationRows(docs: Iterable<HourDocument>, team?: string): RollupRow[] {
  const rows: RollupRow[] = [];
  for (const doc of docs) {
    for (const line of doc.lines) {
      if (team !== undefined && line.team !== team) continue;
      rows.push(moneyRow(doc, line.team, line.alias, line));
    }
    if (team === undefined || team === UNALLOCATED_TEAM) {
      rows.push(
        moneyRow(doc, UNALLOCATED_TEAM, '', {
          costMicroUsd: doc.unallocatedMicroUsd,
          costRemainderPicoUsd: doc.unallocatedRemainderPicoUsd,
        }),
      );
    }
  }
  return rows;
}

function moneyRow(doc: HourDocument, team: string, alias: string, cost: { costMicroUsd: number; costRemainderPicoUsd: number }): RollupRow {
  return {
    team,
    alias,
    deployment: doc.deployment,
    kind: 'managed',
    day: doc.day,
    requests: 0,
    inputTokens: 0,
    outputTokens: 0,
    cachedInputTokens: 0,
    reasoningTokens: 0,
    estimatedRequests: 0,
    failedRequests: 0,
    costMicroUsd: cost.costMicroUsd,
    costRemainderPicoUsd: cost.costRemainderPicoUsd,
    managedAllocated: true,
  };
}

/** Σ of an hour's lines and unallocated, exactly: equals its cost. */
export function allocatedPicoUsd(doc: HourDocument): bigint {
  return (
    doc.lines.reduce((sum, line) => sum + costPicoUsd(line), 0n) +
    costPicoUsd({ costMicroUsd: doc.unallocatedMicroUsd, costRemainderPicoUsd: doc.unallocatedRemainderPicoUsd })
  );
}

/** The allocation rows of a range of UTC days (both ends included), optionally of one team. */
export async function readAllocationRows(
  store: Pick<AllocationStore, 'readHours'>,
  range: { from: string; to: string; team?: string },
): Promise<RollupRow[]> {
  const toExclusive = new Date(Date.parse(`${range.to}T00:00:00.000Z`) + 86_400_000).toISOString();
  const hours = await store.readHours({ fromIso: `${range.from}T00:00:00.000Z`, toIso: toExclusive });
  return allocationRows(hours, range.team);
}
