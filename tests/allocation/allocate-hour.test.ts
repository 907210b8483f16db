import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  allocateHour,
  allocationBases,
  HOUR_MS,
  hourCostPicoUsd,
  hourUses,
  largestRemainder,
  type HourUse,
} from '../../shared/allocation/allocate-hour.js';

const use = (team: string, alias: string, inputTokens: number, outputTokens: number, busyMs: number, requests = 1): HourUse => ({
  team,
  alias,
  requests,
  inputTokens,
  outputTokens,
  busyMs,
});

describe('allocateHour', () => {
  it('prices the hour exactly: $3.673 × 2 instances', () => {
    expect(hourCostPicoUsd({ hourlyUsd: 3.673, instances: 2 })).toBe(7_346_000_000_000n);
  });

  it('an hour without traffic is wholly unallocated', () => {
    const hour = allocateHour({ hourlyUsd: 2, instances: 1, slots: 4 }, [], 'tokens');
    expect(hour.lines).toEqual([]);
    expect(hour.unallocatedPicoUsd).toBe(2_000_000_000_000n);
    expect(hour.utilisation).toBe(0);
  });

  it('gives the used share of the hour to the teams by tokens and the idle share to unallocated', () => {
    // Two slots busy half an hour in all: 25% of the capacity.
    const uses = [use('a', 'chat', 300, 0, HOUR_MS / 4), use('b', 'chat', 100, 0, HOUR_MS / 4)];
    const hour = allocateHour({ hourlyUsd: 4, instances: 1, slots: 2 }, uses, 'tokens');
    expect(hour.utilisation).toBe(0.25);
    expect(hour.lines.map((l) => l.costPicoUsd)).toEqual([750_000_000_000n, 250_000_000_000n]);
    expect(hour.unallocatedPicoUsd).toBe(3_000_000_000_000n);
  });

  it('splits by requests or busy time when asked', () => {
    const uses = [use('a', 'chat', 900, 0, HOUR_MS, 1), use('b', 'chat', 100, 0, 3 * HOUR_MS, 3)];
    const price = { hourlyUsd: 1, instances: 1, slots: 4 };
    expect(allocateHour(price, uses, 'requests').lines.map((l) => l.costPicoUsd)).toEqual([250_000_000_000n, 750_000_000_000n]);
    expect(allocateHour(price, uses, 'busy-time').lines.map((l) => l.costPicoUsd)).toEqual([250_000_000_000n, 750_000_000_000n]);
    expect(allocateHour(price, uses, 'tokens').lines.map((l) => l.costPicoUsd)).toEqual([900_000_000_000n, 100_000_000_000n]);
  });

  it('a saturated deployment has nothing unallocated', () => {
    const hour = allocateHour({ hourlyUsd: 1, instances: 1, slots: 1 }, [use('a', 'chat', 1, 1, 2 * HOUR_MS)], 'tokens');
    expect(hour.utilisation).toBe(1);
    expect(hour.unallocatedPicoUsd).toBe(0n);
  });

  it('largest remainder: shares sum to the total exactly; equal remainders go to the first', () => {
    expect(largestRemainder(10n, [1n, 1n, 1n])).toEqual([4n, 3n, 3n]);
    expect(largestRemainder(0n, [0n, 0n])).toEqual([0n, 0n]);
  });

  it('sums (team, alias) per hour from records', () => {
    const records = [
      { team: 'b', alias: 'chat', inputTokens: 1, outputTokens: 2, latencyMs: 10 },
      { team: 'a', alias: 'chat', inputTokens: 3, outputTokens: 4, latencyMs: 20 },
      { team: 'b', alias: 'chat', inputTokens: 5, outputTokens: 6, latencyMs: 30 },
    ];
    expect(hourUses(records)).toEqual([use('a', 'chat', 3, 4, 20), use('b', 'chat', 6, 8, 40, 2)]);
  });

  it('property: for random traffic, prices and basis, lines + unallocated = hourly price × instances exactly; nothing negative', () => {
    const useArb = fc.record({
      team: fc.constantFrom('a', 'b', 'c', 'd'),
      alias: fc.constantFrom('chat', 'embed'),
      requests: fc.integer({ min: 1, max: 10_000 }),
      inputTokens: fc.integer({ min: 0, max: 5_000_000 }),
      outputTokens: fc.integer({ min: 0, max: 5_000_000 }),
      busyMs: fc.integer({ min: 0, max: 40 * HOUR_MS }),
    });
    fc.assert(
      fc.property(
        fc.array(useArb, { maxLength: 12 }),
        fc.integer({ min: 0, max: 100_000_000_000 }).map((micro) => micro / 1_000_000),
        fc.integer({ min: 1, max: 1000 }),
        fc.integer({ min: 1, max: 64 }),
        fc.constantFrom(...allocationBases),
        (uses, hourlyUsd, instances, slots, basis) => {
          const hour = allocateHour({ hourlyUsd, instances, slots }, uses, basis);
          const allocated = hour.lines.reduce((sum, line) => sum + line.costPicoUsd, 0n);
          expect(allocated + hour.unallocatedPicoUsd).toBe(BigInt(Math.round(hourlyUsd * 1e6)) * 1_000_000n * BigInt(instances));
          expect(hour.unallocatedPicoUsd >= 0n).toBe(true);
          for (const line of hour.lines) expect(line.costPicoUsd >= 0n).toBe(true);
          expect(hour.utilisation).toBeGreaterThanOrEqual(0);
          expect(hour.utilisation).toBeLessThanOrEqual(1);
        },
      ),
      { numRuns: 500 },
    );
  });
});
