import { describe, expect, it } from 'vitest';
import { priceAt, priceBook, withPriceHistory } from '../../shared/catalog/price-book.js';
import { deploymentSchema, type Deployment } from '../../shared/catalog/schemas.js';

const T = (iso: string) => Date.parse(iso);
const NOW = T('2026-06-15T12:00:00.000Z');

function deployment(pricing: Record<string, unknown>, priceHistory?: Record<string, unknown>[]): Deployment {
  return deploymentSchema.parse({
    id: 'dep',
    kind: 'serverless',
    protocol: 'openai',
    endpoint: 'https://x.models.ai.azure.com',
    upstreamModel: 'm',
    auth: { type: 'key', secret: 'KEY' },
    pricing,
    priceHistory,
  });
}
const prices = (d: Deployment) => priceBook(d).map((p) => ['inputPerMillionUsd' in p ? p.inputPerMillionUsd : 0, p.effectiveFrom ?? null]);

describe('priceAt', () => {
  const d = deployment({ inputPerMillionUsd: 3, outputPerMillionUsd: 3, effectiveFrom: '2026-07-01T00:00:00Z' }, [
    { inputPerMillionUsd: 1, outputPerMillionUsd: 1 },
    { inputPerMillionUsd: 2, outputPerMillionUsd: 2, effectiveFrom: '2026-06-01T00:00:00.000Z' },
  ]);
  it.each([
    ['2026-01-01T00:00:00.000Z', 1],
    ['2026-05-31T23:59:59.999Z', 1],
    ['2026-06-01T00:00:00.000Z', 2],
    ['2026-06-30T23:59:59.999Z', 2],
    ['2026-07-01T00:00:00.000Z', 3],
  ])('at %s charges $%s/M', (at, input) => {
    expect(priceAt(d, T(at))).toMatchObject({ inputPerMillionUsd: input });
  });

  it('keeps an effectiveFrom in canonical UTC form, whatever offset it was given in', () => {
    expect(
      deployment({ inputPerMillionUsd: 1, outputPerMillionUsd: 1, effectiveFrom: '2026-07-01T02:00:00+02:00' }).pricing.effectiveFrom,
    ).toBe('2026-07-01T00:00:00.000Z');
  });
});

describe('withPriceHistory', () => {
  const first = deployment({ inputPerMillionUsd: 1, outputPerMillionUsd: 1 });

  it('stores a new deployment as given, without history (whatever history the caller sent)', () => {
    const sent = deployment({ inputPerMillionUsd: 1, outputPerMillionUsd: 1 }, [{ inputPerMillionUsd: 9, outputPerMillionUsd: 9 }]);
    expect(withPriceHistory(sent, undefined, { nowMs: NOW })).toEqual(first);
  });

  it('keeps the book when the prices do not change', () => {
    const changedOnce = withPriceHistory(deployment({ inputPerMillionUsd: 2, outputPerMillionUsd: 2 }), first, { nowMs: NOW });
    const again = withPriceHistory({ ...changedOnce, region: 'eastus2' }, changedOnce, { nowMs: NOW + 60_000 });
    expect(prices(again)).toEqual(prices(changedOnce));
    expect(again.region).toBe('eastus2');
  });

  it('dates a changed price now by default and keeps the earlier one', () => {
    const next = withPriceHistory(deployment({ inputPerMillionUsd: 2, outputPerMillionUsd: 2 }), first, { nowMs: NOW });
    expect(prices(next)).toEqual([
      [1, null],
      [2, '2026-06-15T12:00:00.000Z'],
    ]);
  });

  it('takes a future effectiveFrom, leaving the current price in force until then', () => {
    const next = withPriceHistory(
      deployment({ inputPerMillionUsd: 2, outputPerMillionUsd: 2, effectiveFrom: '2026-07-01T00:00:00Z' }),
      first,
      { nowMs: NOW },
    );
    expect(priceAt(next, NOW)).toMatchObject({ inputPerMillionUsd: 1 });
    expect(priceAt(next, T('2026-07-01T00:00:00Z'))).toMatchObject({ inputPerMillionUsd: 2 });
  });

  it('refuses a price dated before the latest change, naming the field', () => {
    const changed = withPriceHistory(deployment({ inputPerMillionUsd: 2, outputPerMillionUsd: 2 }), first, { nowMs: NOW });
    expect(() =>
      withPriceHistory(deployment({ inputPerMillionUsd: 3, outputPerMillionUsd: 3, effectiveFrom: '2026-06-15T11:00:00Z' }), changed, {
        nowMs: NOW + 1,
      }),
    ).toThrow(expect.objectContaining({ status: 400, param: 'pricing.effectiveFrom' }));
  });

  it('replaces a scheduled price sent again with its date, and dates a past one now when it is sent back changed', () => {
    const scheduled = withPriceHistory(
      deployment({ inputPerMillionUsd: 2, outputPerMillionUsd: 2, effectiveFrom: '2026-07-01T00:00:00Z' }),
      first,
      { nowMs: NOW },
    );
    const corrected = withPriceHistory({ ...scheduled, pricing: { ...scheduled.pricing, inputPerMillionUsd: 2.5 } }, scheduled, {
      nowMs: NOW,
    });
    expect(prices(corrected)).toEqual([
      [1, null],
      [2.5, '2026-07-01T00:00:00.000Z'],
    ]);
    // Past July: the caller read the document, changed the price and sent it back with the date it read.
    const later = T('2026-08-01T00:00:00Z');
    const sentBack = withPriceHistory({ ...corrected, pricing: { ...corrected.pricing, inputPerMillionUsd: 4 } }, corrected, {
      nowMs: later,
    });
    expect(prices(sentBack)).toEqual([
      [1, null],
      [2.5, '2026-07-01T00:00:00.000Z'],
      [4, '2026-08-01T00:00:00.000Z'],
    ]);
  });

  it('brings back a rolled-back price from now, not from the date it once had', () => {
    const changed = withPriceHistory(deployment({ inputPerMillionUsd: 2, outputPerMillionUsd: 2 }), first, { nowMs: NOW });
    const rolledBack = withPriceHistory(first, changed, { nowMs: NOW + 1_000, rollback: true });
    expect(prices(rolledBack)).toEqual([
      [1, null],
      [2, '2026-06-15T12:00:00.000Z'],
      [1, '2026-06-15T12:00:01.000Z'],
    ]);
  });
});
