import { describe, expect, it } from 'vitest';
import { deploymentSchema, type Deployment } from '../../shared/catalog/schemas.js';
import { microToUsd, requestCostMicroUsd } from '../../shared/usage/pricing.js';

function serverless(inputPerMillionUsd: number, outputPerMillionUsd: number): Deployment {
  return deploymentSchema.parse({
    id: 'serverless',
    kind: 'serverless',
    protocol: 'openai',
    endpoint: 'https://x.models.ai.azure.com',
    upstreamModel: 'm',
    auth: { type: 'key', secret: 'KEY' },
    pricing: { inputPerMillionUsd, outputPerMillionUsd },
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

describe('requestCostMicroUsd', () => {
  it.each([
    // [input $/M, output $/M, input tokens, output tokens, micro-dollars]
    [0.15, 0.6, 1_000, 500, 450],
    [2.5, 10, 1_234, 567, 8_755],
    [0.71, 0.71, 1_000_000, 0, 710_000],
    [0.1, 0.2, 1_000_000, 1_000_000, 300_000],
    [60, 120, 10_000_000, 1_000_000, 720_000_000],
    [1.1, 0, 3, 0, 3],
    [0.15, 0.6, 3, 1, 1], // 0.45 + 0.6 = 1.05 → 1
    [0.15, 0.6, 3, 0, 0], // 0.45 → 0
    [0.5, 0, 1, 0, 1], // 0.5 rounds half up
    [0.000001, 0, 999_999, 0, 1], // 1 µ$ per million: 0.999999 µ$ → 1
    [0.000001, 0, 499_999, 0, 0], // 0.499999 µ$ → 0
    [0.0000004, 0, 1_000_000, 0, 0], // a price under 1 µ$ per million rounds to 0
    [0, 0, 123_456, 654_321, 0],
    [5, 15, 0, 0, 0],
  ])('$%s/$%s per million, %s in + %s out → %s µ$', (inPrice, outPrice, input, output, micro) => {
    const cost = requestCostMicroUsd(serverless(inPrice, outPrice), input, output);
    expect(cost).toBe(micro);
    expect(Number.isInteger(cost)).toBe(true);
  });

  it('does not suffer binary floating-point error on decimal prices', () => {
    // 0.1 * 3 is 0.30000000000000004 in floating point; the integer arithmetic gives 300 000 µ$ exactly.
    expect(requestCostMicroUsd(serverless(0.1, 0.1), 1_500_000, 1_500_000)).toBe(300_000);
    expect(requestCostMicroUsd(serverless(0.07, 0.29), 1_000_000, 1_000_000)).toBe(360_000);
  });

  it('is always an integer and adds up across requests as integers', () => {
    const deployment = serverless(0.37, 1.49);
    let total = 0;
    for (let i = 0; i < 1_000; i++) {
      const cost = requestCostMicroUsd(deployment, 17 * i, 3 * i + 1);
      expect(Number.isInteger(cost)).toBe(true);
      total += cost;
    }
    expect(Number.isSafeInteger(total)).toBe(true);
    // Each request is rounded on its own: Σ round((17i·0.37 + (3i+1)·1.49)) for i < 1000.
    let expected = 0;
    for (let i = 0; i < 1_000; i++) expected += Math.round((17 * i * 370_000 + (3 * i + 1) * 1_490_000) / 1_000_000);
    expect(total).toBe(expected);
    expect(total).toBe(5_376_100); // exact sum 5 376 110 less per-request rounding
  });

  it('charges nothing per request on a managed deployment', () => {
    expect(requestCostMicroUsd(MANAGED, 1_000_000, 1_000_000)).toBe(0);
    expect(requestCostMicroUsd(MANAGED, 0, 0)).toBe(0);
  });
});

describe('microToUsd', () => {
  it.each([
    [0, 0],
    [1, 0.000001],
    [450, 0.00045],
    [300_000, 0.3],
    [1_234_567, 1.234567],
    [720_000_000, 720],
  ])('%s µ$ → $%s', (micro, usd) => {
    expect(microToUsd(micro)).toBe(usd);
  });
});
