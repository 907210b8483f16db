import { describe, expect, it } from 'vitest';
import { percentile, SHADOW_SAMPLES, summariseShadow } from '../../shared/usage/shadow-summary.js';
import type { ShadowRecord, ShadowSide } from '../../shared/usage/shadow-record.js';

const side = (deployment: string, latencyMs: number, extra: Partial<ShadowSide> = {}): ShadowSide => ({
  deployment,
  latencyMs,
  inputTokens: 10,
  outputTokens: 5,
  costMicroUsd: 1,
  costRemainderPicoUsd: 500_000,
  ok: true,
  ...extra,
});

const record = (i: number, primary: ShadowSide, shadow: ShadowSide): ShadowRecord => ({
  id: `r${i}`,
  alias: 'chat',
  team: 'search',
  operation: 'chat',
  day: '2026-03-01',
  ts: `2026-03-01T10:00:${String(i).padStart(2, '0')}.000Z`,
  primary,
  shadow,
});

describe('percentile', () => {
  it('is the nearest rank', () => {
    const values = Array.from({ length: 20 }, (_, i) => i + 1);
    expect(percentile(values, 50)).toBe(10);
    expect(percentile(values, 95)).toBe(19);
    expect(percentile([7], 95)).toBe(7);
  });
});

describe('summariseShadow', () => {
  it('sums each side apart: requests, errors, latency over successes, tokens and exact cost', () => {
    const records = Array.from({ length: 20 }, (_, i) =>
      record(
        i,
        side(i < 15 ? 'old-a' : 'old-b', 100 + i, { ttftMs: 10 + i }),
        i % 4 === 0
          ? side('new', 5000, {
              ok: false,
              error: 'status: 500',
              inputTokens: 0,
              outputTokens: 0,
              costMicroUsd: 0,
              costRemainderPicoUsd: 0,
            })
          : side('new', 200 + i, { answer: `answer ${i}` }),
      ),
    );
    const summary = summariseShadow(records);
    expect(summary.requests).toBe(20);
    expect(summary.primary).toEqual({
      deployments: { 'old-a': 15, 'old-b': 5 },
      requests: 20,
      errors: 0,
      errorRate: 0,
      latencyMs: { p50: 109, p95: 118 },
      ttftMs: { p50: 19, p95: 28 },
      tokens: { input: 200, output: 100 },
      // 20 × 1.5 micro-dollars, exactly 30; per request 1.5, rounded half to even once: 2.
      costUsd: { total: 0.00003, totalExact: '0.000030000000', perRequest: 0.000002 },
    });
    const shadowLatencies = records.filter((r) => r.shadow.ok).map((r) => r.shadow.latencyMs);
    expect(shadowLatencies).toHaveLength(15);
    expect(summary.shadow).toMatchObject({
      deployments: { new: 20 },
      requests: 20,
      errors: 5,
      errorRate: 0.25,
      latencyMs: { p50: percentile(shadowLatencies, 50), p95: percentile(shadowLatencies, 95) },
      ttftMs: null,
      tokens: { input: 150, output: 75 },
      // 15 × 1.5 = 22.5 micro-dollars: exact in totalExact, rounded half to even in total.
      costUsd: { total: 0.000022, totalExact: '0.000022500000', perRequest: 0.000001 },
    });
    expect(summary.samples).toHaveLength(SHADOW_SAMPLES);
    expect(summary.samples[0]).toEqual({ ts: records[19]!.ts, team: 'search', operation: 'chat', ok: true, answer: 'answer 19' });
    expect(summary.samples[3]).toMatchObject({ ts: records[16]!.ts, ok: false, error: 'status: 500' });
  });

  it('an empty range has no latencies and zero rates', () => {
    const summary = summariseShadow([]);
    expect(summary.requests).toBe(0);
    expect(summary.shadow).toMatchObject({ requests: 0, errorRate: 0, latencyMs: null, costUsd: { total: 0, perRequest: 0 } });
    expect(summary.samples).toEqual([]);
  });
});
