import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { allocationBases, HOUR_MS } from '../../shared/allocation/allocate-hour.js';
import { allocatedPicoUsd, allocationRows, hourDocument } from '../../shared/allocation/hour-document.js';
import { costPicoUsd } from '../../shared/usage/pricing.js';
import { buildUsageReport, groupByFields } from '../../shared/usage/usage-report.js';

const START = Date.parse('2026-02-27T20:00:00.000Z');
const exactPico = (text: string) => BigInt(text.replace('.', ''));

describe('/usage over allocated hours (property)', () => {
  it('at any grouping, Σ rows = totals = Σ hours × price exactly, and the teams plus unallocated hold it all', () => {
    const useArb = fc.record({
      team: fc.constantFrom('a', 'b', 'c'),
      alias: fc.constantFrom('chat', 'embed'),
      requests: fc.integer({ min: 1, max: 500 }),
      inputTokens: fc.integer({ min: 0, max: 200_000 }),
      outputTokens: fc.integer({ min: 0, max: 200_000 }),
      busyMs: fc.integer({ min: 0, max: 3 * HOUR_MS }),
    });
    const hourArb = fc.record({
      deployment: fc.constantFrom('m1', 'm2'),
      hourIndex: fc.integer({ min: 0, max: 30 }),
      hourlyUsd: fc.integer({ min: 1, max: 50_000_000 }).map((micro) => micro / 1_000_000),
      instances: fc.integer({ min: 1, max: 8 }),
      slots: fc.integer({ min: 1, max: 16 }),
      basis: fc.constantFrom(...allocationBases),
      uses: fc.array(useArb, { maxLength: 6 }),
    });
    fc.assert(
      fc.property(fc.array(hourArb, { minLength: 1, maxLength: 20 }), fc.subarray([...groupByFields]), (hours, groupBy) => {
        const docs = hours.map((h) =>
          hourDocument(
            h.deployment,
            START + h.hourIndex * HOUR_MS,
            { hourlyUsd: h.hourlyUsd, instances: h.instances, slots: h.slots },
            h.uses,
            h.basis,
          ),
        );
        const expected = docs.reduce((sum, doc) => sum + costPicoUsd(doc), 0n);
        for (const doc of docs) expect(allocatedPicoUsd(doc)).toBe(costPicoUsd(doc));
        const report = buildUsageReport({ from: '2026-02-27', to: '2026-03-01', groupBy, format: 'json' }, allocationRows(docs));
        expect(exactPico(report.totals.costUsdExact)).toBe(expected);
        expect(report.rows.reduce((sum, row) => sum + exactPico(row.costUsdExact), 0n)).toBe(expected);
        // A team's own view: its rows only, and the teams' views plus unallocated add up to the whole.
        const byTeam = ['a', 'b', 'c', 'unallocated'].map((team) =>
          exactPico(
            buildUsageReport({ from: '2026-02-27', to: '2026-03-01', team, groupBy: ['team'], format: 'json' }, allocationRows(docs, team))
              .totals.costUsdExact,
          ),
        );
        expect(byTeam.reduce((a, b) => a + b, 0n)).toBe(expected);
      }),
      { numRuns: 200 },
    );
  });
});
