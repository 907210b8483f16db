import { z } from 'zod';

/**
 * Time to first token as counts in logarithmic buckets (each 2^(1/4) ≈ 19 % wider than the last), keyed by
 * bucket index: small to publish, and the histograms of several instances merge by adding counts.
 */
export type LatencyHistogram = Record<string, number>;

const BUCKETS_PER_DOUBLING = 4;

export function bucketOf(ms: number): number {
  return Math.max(0, Math.round(BUCKETS_PER_DOUBLING * Math.log2(ms + 1)));
}

export function addSample(histogram: LatencyHistogram, ms: number): void {
  const key = String(bucketOf(ms));
  histogram[key] = (histogram[key] ?? 0) + 1;
}

export function mergeHistograms(...histograms: readonly LatencyHistogram[]): LatencyHistogram {
  const merged: LatencyHistogram = {};
  for (const histogram of histograms) for (const [key, count] of Object.entries(histogram)) merged[key] = (merged[key] ?? 0) + count;
  return merged;
}

/** The value below which `quantile` of the samples lie, to the bucket's precision; undefined without samples. */
export function histogramQuantile(histogram: LatencyHistogram, quantile: number): number | undefined {
  const buckets = Object.entries(histogram)
    .map(([key, count]) => [Number(key), count] as const)
    .sort((a, b) => a[0] - b[0]);
  const total = buckets.reduce((sum, [, count]) => sum + count, 0);
  if (total === 0) return undefined;
  let seen = 0;
  for (const [bucket, count] of buckets) {
    seen += count;
    if (seen >= quantile * total) return Math.round(2 ** (bucket / BUCKETS_PER_DOUBLING) - 1);
  }
  return undefined;
}

const ms = z.number().int().min(0);

/** What one instance publishes about one deployment. Durations are remaining ms, so no clocks are compared. */
export const liveEntrySchema = z.object({
  /** Bumped on every write by its owner: an entry whose counter stands still for the lease TTL has expired. */
  renewal: z.number().int().min(0),
  /** Capacity slots this instance holds (its lease), when the deployment has a capacity. */
  slots: ms,
  want: ms,
  inFlight: ms,
  cooling: z.object({ remainingMs: ms, reason: z.string(), askedMs: ms.optional(), appliedMs: ms }).optional(),
  /** An opening this instance found itself (adopted ones are not published, so none is passed on twice). */
  breaker: z.object({ state: z.enum(['open', 'half-open']), remainingMs: ms, reason: z.string(), episode: ms }).optional(),
  ttftAvgMs: z.number().min(0).optional(),
  ttft: z.record(z.string(), ms),
  requests: ms,
  errors: ms,
});
export type LiveEntry = z.infer<typeof liveEntrySchema>;

/** One document per deployment in the `live` container, with an entry per instance. */
export const liveDocSchema = z.object({
  id: z.string(),
  entries: z.record(z.string(), liveEntrySchema),
});
export type LiveDoc = z.infer<typeof liveDocSchema> & { etag?: string };

/** The entry of another instance as this one read it, with when (on this instance's clock) its renewal was first seen. */
export interface RemoteEntry {
  instance: string;
  entry: LiveEntry;
  seenAtMs: number;
}

/** The store behind the shared live state. */
export interface LiveStore {
  /** Every live document (one query). */
  readAll(): Promise<LiveDoc[]>;
  /**
   * Writes a document: replaced only if it still has `etag`, created only if absent when `etag` is undefined.
   * Resolves the new ETag, or undefined when another writer got there first (412 / 409).
   */
  write(doc: LiveDoc, etag: string | undefined): Promise<string | undefined>;
}
