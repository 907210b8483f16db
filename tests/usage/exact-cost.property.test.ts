import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { countersOf, type RollupCounters } from '../../shared/usage/ledger.js';
import { requestCost } from '../../shared/usage/pricing.js';
import { buildUsageReport, type GroupByField, type RollupRow } from '../../shared/usage/usage-report.js';
import type { UsageRecord } from '../../shared/usage/usage-record.js';

// Prices are drawn as whole micro-dollars per million (any price with at most 6 decimals), which is also
// pico-dollars per token: the model below prices with those integers and BigInt, apart from the code under test.
const priceMicros = fc.oneof(fc.integer({ min: 0, max: 1_000 }), fc.integer({ min: 0, max: 200_000_000 }));
const deploymentPrices = fc.record({ input: priceMicros, output: priceMicros, cached: fc.option(priceMicros, { nil: undefined }) });

const requestArb = fc
  .record({
    team: fc.constantFrom('ads', 'search', 'web'),
    day: fc.constantFrom('2026-03-01', '2026-03-02', '2026-03-31'),
    alias: fc.constantFrom('chat', 'embed'),
    deployment: fc.integer({ min: 0, max: 3 }),
    inputTokens: fc.oneof(fc.integer({ min: 0, max: 30 }), fc.integer({ min: 0, max: 2_000_000 })),
    outputTokens: fc.oneof(fc.integer({ min: 0, max: 30 }), fc.integer({ min: 0, max: 200_000 })),
    cachedShare: fc.double({ min: 0, max: 1, noNaN: true }),
  })
  .map((r) => ({ ...r, cachedInputTokens: Math.floor(r.inputTokens * r.cachedShare) }));

const groupings: GroupByField[][] = [
  [],
  ['team'],
  ['day'],
  ['team', 'alias'],
  ['team', 'day', 'alias', 'deployment', 'kind'],
  ['deployment'],
];

function modelPico(
  price: { input: number; output: number; cached?: number },
  r: { inputTokens: number; outputTokens: number; cachedInputTokens: number },
): bigint {
  return (
    BigInt(r.inputTokens - r.cachedInputTokens) * BigInt(price.input) +
    BigInt(r.cachedInputTokens) * BigInt(price.cached ?? price.input) +
    BigInt(r.outputTokens) * BigInt(price.output)
  );
}

function exactString(pico: bigint): string {
  const digits = pico.toString().padStart(13, '0');
  return `${digits.slice(0, -12)}.${digits.slice(-12)}`;
}

function halfEvenMicro(pico: bigint): number {
  const whole = pico / 1_000_000n;
  const rest = pico % 1_000_000n;
  return Number(rest > 500_000n || (rest === 500_000n && whole % 2n === 1n) ? whole + 1n : whole);
}

describe('exact cost at every grouping (property)', () => {
  it('Σ costUsd of any /usage grouping is Σ tokens × price, and the sum of its finer groupings', () => {
    fc.assert(
      fc.property(
        fc.array(deploymentPrices, { minLength: 4, maxLength: 4 }),
        fc.array(requestArb, { minLength: 1, maxLength: 150 }),
        (prices, requests) => {
          const rollups = new Map<string, RollupRow>();
          const expected = new Map<string, bigint>();
          for (const r of requests) {
            const price = prices[r.deployment]!;
            const pricing = {
              inputPerMillionUsd: price.input / 1_000_000,
              outputPerMillionUsd: price.output / 1_000_000,
              cachedInputPerMillionUsd: price.cached === undefined ? undefined : price.cached / 1_000_000,
            };
            const record = {
              ...r,
              deployment: `dep-${r.deployment}`,
              kind: 'serverless',
              status: 'ok',
              estimated: false,
              reasoningTokens: 0,
              ...requestCost({ pricing }, r),
            } as unknown as UsageRecord;
            const fields = { team: record.team, day: record.day, alias: record.alias, deployment: record.deployment, kind: record.kind };
            const id = Object.values(fields).join('|');
            const counters = countersOf(record);
            const existing = rollups.get(id);
            if (existing)
              for (const k of Object.keys(counters) as Array<keyof RollupCounters>) existing[k] = (existing[k] ?? 0) + (counters[k] ?? 0);
            else rollups.set(id, { ...fields, ...counters });
            for (const groupBy of groupings) {
              const key = `${groupBy.join(',')}:${groupBy.map((f) => fields[f]).join('|')}`;
              expected.set(key, (expected.get(key) ?? 0n) + modelPico(price, r));
            }
          }
          const query = (groupBy: GroupByField[]) => ({ from: '2026-03-01', to: '2026-03-31', groupBy, format: 'json' as const });
          const finest = buildUsageReport(query(groupings[4]!), [...rollups.values()]);
          for (const groupBy of groupings) {
            const report = buildUsageReport(query(groupBy), [...rollups.values()]);
            for (const row of report.rows) {
              const pico = expected.get(`${groupBy.join(',')}:${groupBy.map((f) => row[f]).join('|')}`)!;
              expect(row.costUsdExact).toBe(exactString(pico));
              expect(row.costMicroUsd).toBe(halfEvenMicro(pico));
              expect(row.costUsd).toBe(halfEvenMicro(pico) / 1_000_000);
              // The finest rows that fall in this group, summed exactly, give this row's exact cost.
              const finer = finest.rows.filter((f) => groupBy.every((g) => f[g] === row[g]));
              const finerPico = finer.reduce((sum, f) => sum + BigInt(f.costUsdExact.replace('.', '')), 0n);
              expect(finerPico).toBe(pico);
            }
            const totalPico = report.rows.reduce((sum, row) => sum + BigInt(row.costUsdExact.replace('.', '')), 0n);
            expect(report.totals.costUsdExact).toBe(exactString(totalPico));
            expect(report.totals.costUsdExact).toBe(exactString(expected.get(':')!));
          }
        },
      ),
      { numRuns: 200, seed: 9 },
    );
  });
});
