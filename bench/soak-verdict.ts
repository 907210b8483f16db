import { median } from './latency-stats.js';

/** One sample of the gateway's memory during a soak. */
export interface MemorySample {
  atMs: number;
  rssBytes: number;
  heapUsedBytes?: number;
}

export interface GrowthVerdictOptions {
  /** Growth slower than this (least-squares over the second half) is flat. */
  maxSlopeMbPerMinute: number;
  /** A last-quarter median less than this above the second quarter's is flat, whatever the slope (noise floor). */
  maxQuarterRiseMb: number;
}

export interface GrowthVerdict {
  grows: boolean;
  slopeMbPerMinute: number;
  secondQuarterMedianMb: number;
  lastQuarterMedianMb: number;
  reason: string;
}

const MB = 1024 * 1024;

/** Least-squares slope of `values` against `times`; 0 for fewer than two distinct times. */
export function slope(times: readonly number[], values: readonly number[]): number {
  const n = times.length;
  if (n < 2) return 0;
  const meanT = times.reduce((s, t) => s + t, 0) / n;
  const meanV = values.reduce((s, v) => s + v, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (times[i]! - meanT) * (values[i]! - meanV);
    den += (times[i]! - meanT) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/**
 * Whether a series of memory samples grows: the first half is warm-up (pools, JIT, caches filling), so only
 * the second half's slope counts, and it only counts when the last quarter also sits above the second.
 */
export function growthVerdict(
  samples: readonly MemorySample[],
  pick: (sample: MemorySample) => number,
  options: GrowthVerdictOptions,
): GrowthVerdict {
  if (samples.length < 4)
    return {
      grows: false,
      slopeMbPerMinute: 0,
      secondQuarterMedianMb: Number.NaN,
      lastQuarterMedianMb: Number.NaN,
      reason: 'too few samples',
    };
  const quarter = Math.floor(samples.length / 4);
  const secondHalf = samples.slice(Math.floor(samples.length / 2));
  const slopeMbPerMinute =
    (slope(
      secondHalf.map((s) => s.atMs),
      secondHalf.map((s) => pick(s)),
    ) *
      60_000) /
    MB;
  const secondQuarterMedianMb = median(samples.slice(quarter, 2 * quarter).map(pick)) / MB;
  const lastQuarterMedianMb = median(samples.slice(samples.length - quarter).map(pick)) / MB;
  const rise = lastQuarterMedianMb - secondQuarterMedianMb;
  const steep = slopeMbPerMinute > options.maxSlopeMbPerMinute;
  const risen = rise > options.maxQuarterRiseMb;
  const grows = steep && risen;
  const reason = grows
    ? `grows: ${slopeMbPerMinute.toFixed(2)} MB/min over the second half (> ${options.maxSlopeMbPerMinute}) and the last quarter sits ${rise.toFixed(1)} MB above the second (> ${options.maxQuarterRiseMb})`
    : `flat: ${slopeMbPerMinute.toFixed(2)} MB/min over the second half (limit ${options.maxSlopeMbPerMinute}), last quarter ${rise >= 0 ? '+' : ''}${rise.toFixed(1)} MB against the second (limit ${options.maxQuarterRiseMb})`;
  return { grows, slopeMbPerMinute, secondQuarterMedianMb, lastQuarterMedianMb, reason };
}
