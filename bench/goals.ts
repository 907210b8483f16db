/** The figures of one bench run that issue 11's goals are stated against. */
export interface GoalFigures {
  /** Median over rounds of gateway ÷ passthrough req/s, per request body size. */
  throughputRatios: Array<{ body: string; ratio: number }>;
  /** Gateway ÷ Portkey req/s (same load), when Portkey was measured. */
  portkeyRatio?: number;
  /** Gateway − passthrough, per stream shape. */
  streams: Array<{ shape: string; addedFirstChunkP50Ms: number; addedFirstChunkP99Ms: number; addedGapP99Ms: number }>;
  slowStreams: { total: number; withoutStall: number };
  openLoop: { ratePerSecond: number; addedP99Ms: number };
  /** Gateway RSS once ready, before any load. */
  gatewayRssIdleMb: number;
  /** Highest gateway RSS seen under load (right after each closed-loop run, and while the slow streams ran). */
  gatewayRssUnderLoadMb: number;
}

export type GoalVerdict = 'met' | 'not met' | 'not measured';

export interface GoalRow {
  goal: string;
  figure: string;
  verdict: GoalVerdict;
}

const verdict = (met: boolean): GoalVerdict => (met ? 'met' : 'not met');
const ms = (value: number) => (Number.isNaN(value) ? 'n/a' : `${value >= 0 ? '+' : ''}${value.toFixed(2)} ms`);
/** A figure that could not be taken (no whole stream, say) is not measured, not met. */
const atMost = (value: number, limit: number): GoalVerdict => (Number.isNaN(value) ? 'not measured' : verdict(value <= limit));

/** One row per goal; further rows (start-to-healthy, cold import) are appended by whoever measures them. */
export function goalRows(f: GoalFigures): GoalRow[] {
  return [
    ...f.throughputRatios.map(({ body, ratio }) => ({
      goal: `throughput ≥ 0.70 × passthrough (${body})`,
      figure: `${ratio.toFixed(3)} ×`,
      verdict: verdict(ratio >= 0.7),
    })),
    f.portkeyRatio === undefined
      ? { goal: 'throughput ≥ 5 × Portkey', figure: 'BENCH_PORTKEY=1 to measure', verdict: 'not measured' as const }
      : { goal: 'throughput ≥ 5 × Portkey', figure: `${f.portkeyRatio.toFixed(2)} ×`, verdict: verdict(f.portkeyRatio >= 5) },
    ...f.streams.flatMap((s) => [
      {
        goal: `added time to first chunk ≤ 1 ms p50 (${s.shape})`,
        figure: ms(s.addedFirstChunkP50Ms),
        verdict: atMost(s.addedFirstChunkP50Ms, 1),
      },
      {
        goal: `added time to first chunk ≤ 2 ms p99 (${s.shape})`,
        figure: ms(s.addedFirstChunkP99Ms),
        verdict: atMost(s.addedFirstChunkP99Ms, 2),
      },
      { goal: `added gap between chunks ≤ 0.5 ms p99 (${s.shape})`, figure: ms(s.addedGapP99Ms), verdict: atMost(s.addedGapP99Ms, 0.5) },
    ]),
    {
      goal: `${f.slowStreams.total} concurrent slow streams without a stall`,
      figure: `${f.slowStreams.withoutStall} of ${f.slowStreams.total}`,
      verdict: verdict(f.slowStreams.total > 0 && f.slowStreams.withoutStall === f.slowStreams.total),
    },
    {
      goal: `added p99 at ${f.openLoop.ratePerSecond} req/s open-loop ≤ 2 ms`,
      figure: ms(f.openLoop.addedP99Ms),
      verdict: atMost(f.openLoop.addedP99Ms, 2),
    },
    { goal: 'gateway RSS ≤ 120 MB idle', figure: `${f.gatewayRssIdleMb.toFixed(0)} MB`, verdict: verdict(f.gatewayRssIdleMb <= 120) },
    {
      goal: 'gateway RSS ≤ 200 MB under load',
      figure: `${f.gatewayRssUnderLoadMb.toFixed(0)} MB`,
      verdict: verdict(f.gatewayRssUnderLoadMb <= 200),
    },
  ];
}

/** Rows of strings as an aligned text table, the first row its header. */
export function textTable(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows
    .map(
      (r, ri) =>
        r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ') +
        (ri === 0 ? `\n${widths.map((w) => '-'.repeat(w)).join('  ')}` : ''),
    )
    .join('\n');
}
