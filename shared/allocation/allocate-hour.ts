import type { UsageRecord } from '../usage/usage-record.js';

export const allocationBases = ['tokens', 'requests', 'busy-time'] as const;
export type AllocationBasis = (typeof allocationBases)[number];

/** SWITCHYARD_ALLOCATION_BASIS and SWITCHYARD_ALLOCATION_LOOKBACK_HOURS. */
export interface AllocationSettings {
  basis: AllocationBasis;
  /** Closed hours the timer recomputes each run: usage arriving later than this re-opens an hour only by reconcile. */
  lookbackHours: number;
}

/** The team that holds a managed deployment's idle capacity in every report. */
export const UNALLOCATED_TEAM = 'unallocated';

export const HOUR_MS = 3_600_000;
const PICO_PER_MICRO = 1_000_000n;

/** What one (team, alias) used of a managed deployment in one hour. */
export interface HourUse {
  team: string;
  alias: string;
  requests: number;
  inputTokens: number;
  outputTokens: number;
  /** Σ latency of its requests: the time it held one of the deployment's concurrent slots. */
  busyMs: number;
}

export interface HourPrice {
  hourlyUsd: number;
  instances: number;
  /** Requests the deployment serves at once (capacity.maxConcurrent, else one per instance): the capacity busy time is measured against. */
  slots: number;
}

export interface AllocationLine extends HourUse {
  costPicoUsd: bigint;
}

export interface HourAllocation {
  /** hourlyUsd (to the micro-dollar) × instances, in pico-dollars. */
  costPicoUsd: bigint;
  /** Σ busy time ÷ (one hour × slots), at most 1: the share of the hour's cost that goes to the teams. */
  utilisation: number;
  busyMs: number;
  lines: AllocationLine[];
  /** The idle share: cost − Σ lines, never negative. */
  unallocatedPicoUsd: bigint;
}

/** The hour's cost in pico-dollars: the hourly price is taken to the micro-dollar, so the product is exact. */
export function hourCostPicoUsd(price: Pick<HourPrice, 'hourlyUsd' | 'instances'>): bigint {
  return BigInt(Math.round(price.hourlyUsd * 1_000_000)) * PICO_PER_MICRO * BigInt(price.instances);
}

/** Sums a managed deployment's records of one hour per (team, alias); every request counts, failed ones held a slot too. */
export function hourUses(records: Iterable<Pick<UsageRecord, 'team' | 'alias' | 'inputTokens' | 'outputTokens' | 'latencyMs'>>): HourUse[] {
  const uses = new Map<string, HourUse>();
  for (const record of records) {
    const key = `${record.team}\u0000${record.alias}`;
    let use = uses.get(key);
    if (!use) {
      use = { team: record.team, alias: record.alias, requests: 0, inputTokens: 0, outputTokens: 0, busyMs: 0 };
      uses.set(key, use);
    }
    use.requests += 1;
    use.inputTokens += record.inputTokens;
    use.outputTokens += record.outputTokens;
    use.busyMs += Math.max(0, Math.round(record.latencyMs));
  }
  return [...uses.values()].sort((a, b) => (a.team === b.team ? compare(a.alias, b.alias) : compare(a.team, b.team)));
}

function weightOf(use: HourUse, basis: AllocationBasis): bigint {
  if (basis === 'tokens') return BigInt(use.inputTokens + use.outputTokens);
  if (basis === 'requests') return BigInt(use.requests);
  return BigInt(use.busyMs);
}

/**
 * Splits one hour of a managed deployment between the teams it served. The used share of the hour
 * (busy time against capacity, whatever the basis) goes to the (team, alias) pairs in proportion to the basis;
 * the idle share is unallocated. Largest-remainder rounding to the pico-dollar, ties to the first pair by
 * (team, alias), so lines + unallocated = the hour's cost exactly. An hour without traffic is wholly unallocated.
 */
export function allocateHour(price: HourPrice, uses: HourUse[], basis: AllocationBasis): HourAllocation {
  const cost = hourCostPicoUsd(price);
  const capacityMs = BigInt(HOUR_MS) * BigInt(Math.max(1, price.slots));
  const busyMs = uses.reduce((sum, use) => sum + use.busyMs, 0);
  const usedMs = BigInt(busyMs) < capacityMs ? BigInt(busyMs) : capacityMs;
  // Pairs whose requests held no measurable time still used the deployment: the used share is never below one
  // millisecond per request, so a burst of fast requests is not free.
  const requests = uses.reduce((sum, use) => sum + use.requests, 0);
  const floorMs = BigInt(requests) < capacityMs ? BigInt(requests) : capacityMs;
  const effectiveUsedMs = usedMs > floorMs ? usedMs : floorMs;
  const pool = (cost * effectiveUsedMs) / capacityMs;
  let weights = uses.map((use) => weightOf(use, basis));
  // Traffic with no weight on the chosen basis (requests that failed before any token) is split by requests.
  if (weights.every((w) => w === 0n)) weights = uses.map((use) => BigInt(use.requests));
  const shares = largestRemainder(pool, weights);
  const lines = uses.map((use, i) => ({ ...use, costPicoUsd: shares[i]! }));
  const allocated = shares.reduce((sum, share) => sum + share, 0n);
  return {
    costPicoUsd: cost,
    utilisation: Number(effectiveUsedMs) / Number(capacityMs),
    busyMs,
    lines,
    unallocatedPicoUsd: cost - allocated,
  };
}

/** Integer shares of `total` in proportion to `weights`, summing to `total` exactly (0 each when every weight is 0). */
export function largestRemainder(total: bigint, weights: bigint[]): bigint[] {
  const sum = weights.reduce((a, b) => a + b, 0n);
  if (sum === 0n) return weights.map(() => 0n);
  const shares = weights.map((w) => (total * w) / sum);
  const remainders = weights.map((w, i) => ({ i, rest: (total * w) % sum }));
  let left = total - shares.reduce((a, b) => a + b, 0n);
  remainders.sort((a, b) => (a.rest === b.rest ? a.i - b.i : a.rest > b.rest ? -1 : 1));
  for (const { i } of remainders) {
    if (left === 0n) break;
    shares[i]! += 1n;
    left -= 1n;
  }
  return shares;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
