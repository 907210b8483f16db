import { describe, expect, it } from 'vitest';
import { deploymentSchema, type Deployment } from '../../shared/catalog/schemas.js';
import type { RollupCounters } from '../../shared/usage/ledger.js';
import { costPicoUsd, picoToUsd, picoToUsdExact, requestCost, requestCostPicoUsd, roundToMicroUsd } from '../../shared/usage/pricing.js';
import { buildUsageReport, type RollupRow } from '../../shared/usage/usage-report.js';

function serverless(inputPerMillionUsd: number, outputPerMillionUsd: number, cachedInputPerMillionUsd?: number): Deployment {
  return deploymentSchema.parse({
    id: 'serverless',
    kind: 'serverless',
    protocol: 'openai',
    endpoint: 'https://x.models.ai.azure.com',
    upstreamModel: 'm',
    auth: { type: 'key', secret: 'KEY' },
    pricing: { inputPerMillionUsd, outputPerMillionUsd, cachedInputPerMillionUsd },
  });
}

const MANAGED = deploymentSchema.parse({
  id: 'llama70b-managed',
  kind: 'managed',
  protocol: 'aml-score',
  endpoint: 'https://my-ep.eastus2.inference.ml.azure.com',
  upstreamModel: 'llama70b-blue',
  auth: { type: 'entra', scope: 'https://ml.azure.com/.default' },
  pricing: { hourlyUsd: 3.673, instances: 2 },
});

const tokens = (inputTokens: number, outputTokens: number, cachedInputTokens = 0) => ({ inputTokens, outputTokens, cachedInputTokens });

describe('requestCostPicoUsd', () => {
  it.each([
    // [input $/M, output $/M, input tokens, output tokens, pico-dollars]
    [0.15, 0.6, 1_000, 500, 450_000_000n],
    [2.5, 10, 1_234, 567, 8_755_000_000n],
    [0.15, 0.6, 3, 1, 1_050_000n], // 1.05 µ$: no longer rounded to 1
    [0.15, 0.6, 3, 0, 450_000n], // 0.45 µ$: no longer free
    [0.000001, 0, 499_999, 0, 499_999n],
    [60, 120, 10_000_000, 1_000_000, 720_000_000_000_000n],
    [0, 0, 123_456, 654_321, 0n],
    [1_000_000, 1_000_000, 100_000_000, 100_000_000, 200_000_000_000_000_000_000n], // past 2^53: BigInt
  ])('$%s/$%s per million, %s in + %s out → %s pico-$', (inPrice, outPrice, input, output, pico) => {
    expect(requestCostPicoUsd(serverless(inPrice, outPrice), tokens(input, output))).toBe(pico);
  });

  it('does not suffer binary floating-point error on decimal prices', () => {
    expect(requestCostPicoUsd(serverless(0.1, 0.1), tokens(1_500_000, 1_500_000))).toBe(300_000_000_000n);
    expect(requestCostPicoUsd(serverless(0.07, 0.29), tokens(1_000_000, 1_000_000))).toBe(360_000_000_000n);
    expect(requestCostPicoUsd(serverless(0.000007, 0.123457), tokens(3, 7))).toBe(3n * 7n + 7n * 123_457n);
  });

  it('charges cached input at its own price when the deployment gives one, else at the input price', () => {
    // 1 000 input of which 400 cached: 600 × $2.5/M + 400 × $1.25/M + 100 × $10/M.
    expect(requestCostPicoUsd(serverless(2.5, 10, 1.25), tokens(1_000, 100, 400))).toBe(
      600n * 2_500_000n + 400n * 1_250_000n + 100n * 10_000_000n,
    );
    expect(requestCostPicoUsd(serverless(2.5, 10), tokens(1_000, 100, 400))).toBe(1_000n * 2_500_000n + 100n * 10_000_000n);
  });

  it('charges nothing per request on a managed deployment', () => {
    expect(requestCostPicoUsd(MANAGED, tokens(1_000_000, 1_000_000))).toBe(0n);
  });

  it('prices embeddings of 10 tokens at $0.02/M as 0.2 µ$, not free (regression)', () => {
    const cost = requestCost(serverless(0.02, 0), tokens(10, 0));
    expect(cost).toEqual({ costMicroUsd: 0, costRemainderPicoUsd: 200_000 });
    expect(costPicoUsd(cost)).toBe(200_000n);
  });
});

describe('a day of small requests (regression: +5.6% drift from rounding each request)', () => {
  it('reads $0.010071, the exact Σ tokens × price, where per-request rounding read $0.010638', () => {
    // 1 134 requests of 10 in + 10 out at $0.15/$0.60 per million are 7.5 µ$ each (rounded to 8 before);
    // 522 requests of 20 in are 3 µ$ each.
    const deployment = serverless(0.15, 0.6);
    const counters: RollupCounters = {
      requests: 0,
      inputTokens: 0,
      outputTokens: 0,
      cachedInputTokens: 0,
      reasoningTokens: 0,
      costMicroUsd: 0,
      costRemainderPicoUsd: 0,
      estimatedRequests: 0,
      failedRequests: 0,
    };
    const requests = [...Array(1_134).fill(tokens(10, 10)), ...Array(522).fill(tokens(20, 0))];
    for (const t of requests) {
      const cost = requestCost(deployment, t);
      counters.requests += 1;
      counters.inputTokens += t.inputTokens;
      counters.outputTokens += t.outputTokens;
      counters.costMicroUsd += cost.costMicroUsd;
      counters.costRemainderPicoUsd += cost.costRemainderPicoUsd;
    }
    const rollup: RollupRow = { ...counters, team: 't', day: '2026-01-01', alias: 'chat', deployment: 'serverless', kind: 'serverless' };
    const report = buildUsageReport({ from: '2026-01-01', to: '2026-01-01', groupBy: ['kind'], format: 'json' }, [rollup]);
    expect(report.rows[0]).toMatchObject({ kind: 'serverless', requests: 1_656, costUsd: 0.010071, serverlessCostUsd: 0.010071 });
    expect(report.rows[0]!.costUsdExact).toBe('0.010071000000');
  });
});

describe('rounding for display', () => {
  it.each([
    [0n, 0n],
    [499_999n, 0n],
    [500_000n, 0n], // half to even: 0
    [500_001n, 1n],
    [1_500_000n, 2n], // half to even: 2
    [2_500_000n, 2n], // half to even: 2
    [2_500_001n, 3n],
  ])('%s pico-$ → %s µ$', (pico, micro) => {
    expect(roundToMicroUsd(pico)).toBe(micro);
  });

  it('writes exact strings with 12 decimals', () => {
    expect(picoToUsdExact(0n)).toBe('0.000000000000');
    expect(picoToUsdExact(200_000n)).toBe('0.000000200000');
    expect(picoToUsdExact(123_456_789_012_345_678n)).toBe('123456.789012345678');
    expect(picoToUsd(1_234_567_500_000n)).toBe(1.234568);
  });

  it('reads a rollup written before exact cost (costMicroUsd only) as exact micro-dollars', () => {
    expect(costPicoUsd({ costMicroUsd: 42 })).toBe(42_000_000n);
  });
});

describe('deployment prices', () => {
  it('refuses a price with more than 6 decimals, which would not be exact per token', () => {
    expect(() => serverless(0.0000001, 1)).toThrow(/at most 6 decimals/);
    expect(() => serverless(1, 1, 0.1234567)).toThrow(/at most 6 decimals/);
    expect(serverless(0.123456, 999_999.999999).pricing).toMatchObject({ inputPerMillionUsd: 0.123456 });
  });
});
