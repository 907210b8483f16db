import { costPicoUsd, picoToUsd, picoToUsdExact } from './pricing.js';
import type { ShadowRecord, ShadowSide } from './shadow-record.js';

/** How many of a range's records carry their shadow's answer or error into a summary. */
export const SHADOW_SAMPLES = 5;

/** One side of a route's shadowed requests, summed. */
export interface SideSummary {
  /** Requests per deployment (the primary may have been answered by several). */
  deployments: Record<string, number>;
  requests: number;
  errors: number;
  errorRate: number;
  /** Over the requests that succeeded; null when none did. */
  latencyMs: { p50: number; p95: number } | null;
  /** A streamed primary's time to first event; null when none was streamed. */
  ttftMs: { p50: number; p95: number } | null;
  tokens: { input: number; output: number };
  /** List-price cost, summed exactly and shown rounded once to the micro-dollar (totalExact: 12 decimals, exact). */
  costUsd: { total: number; totalExact: string; perRequest: number };
}

export interface ShadowSummary {
  requests: number;
  primary: SideSummary;
  shadow: SideSummary;
  /** The newest shadow answers (or errors), to compare with what callers got. */
  samples: Array<{ ts: string; team: string; operation: string; ok: boolean; answer?: string; error?: string }>;
}

/** Nearest-rank percentile of ascending values. */
export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function spread(values: number[]): { p50: number; p95: number } | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p95: percentile(sorted, 95) };
}

function summariseSide(sides: readonly ShadowSide[]): SideSummary {
  const deployments: Record<string, number> = {};
  let errors = 0;
  let input = 0;
  let output = 0;
  let pico = 0n;
  for (const side of sides) {
    deployments[side.deployment] = (deployments[side.deployment] ?? 0) + 1;
    if (!side.ok) errors += 1;
    input += side.inputTokens;
    output += side.outputTokens;
    pico += costPicoUsd(side);
  }
  const requests = sides.length;
  return {
    deployments,
    requests,
    errors,
    errorRate: requests === 0 ? 0 : errors / requests,
    latencyMs: spread(sides.filter((s) => s.ok).map((s) => s.latencyMs)),
    ttftMs: spread(sides.flatMap((s) => (s.ttftMs === undefined ? [] : [s.ttftMs]))),
    tokens: { input, output },
    costUsd: {
      total: picoToUsd(pico),
      totalExact: picoToUsdExact(pico),
      perRequest: requests === 0 ? 0 : picoToUsd(pico / BigInt(requests)),
    },
  };
}

/** The primary and the shadow of a route's copied requests, side by side. */
export function summariseShadow(records: readonly ShadowRecord[]): ShadowSummary {
  const newest = [...records].sort((a, b) => b.ts.localeCompare(a.ts)).slice(0, SHADOW_SAMPLES);
  return {
    requests: records.length,
    primary: summariseSide(records.map((r) => r.primary)),
    shadow: summariseSide(records.map((r) => r.shadow)),
    samples: newest.map((r) => ({
      ts: r.ts,
      team: r.team,
      operation: r.operation,
      ok: r.shadow.ok,
      ...(r.shadow.answer === undefined ? {} : { answer: r.shadow.answer }),
      ...(r.shadow.error === undefined ? {} : { error: r.shadow.error }),
    })),
  };
}
