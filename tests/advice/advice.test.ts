import { describe, expect, it } from 'vitest';
import { aliasCosts, buildAdvice } from '../../shared/advice/advice.js';
import { HOUR_MS } from '../../shared/allocation/allocate-hour.js';
import { hourDocument } from '../../shared/allocation/hour-document.js';
import { deploymentSchema, routeSchema } from '../../shared/catalog/schemas.js';
import type { RollupRow } from '../../shared/usage/usage-report.js';

const START = Date.parse('2026-02-01T00:00:00.000Z');
const managed = (id: string) =>
  deploymentSchema.parse({
    id,
    kind: 'managed',
    protocol: 'aml-score',
    endpoint: 'https://ep.eastus2.inference.ml.azure.com',
    upstreamModel: 'llama',
    auth: { type: 'entra', scope: 'https://ml.azure.com/.default' },
    pricing: { hourlyUsd: 2, instances: 1 },
    capacity: { maxConcurrent: 1 },
  });
const serverless = deploymentSchema.parse({
  id: 'llama-serverless',
  kind: 'serverless',
  protocol: 'openai',
  endpoint: 'https://x.services.ai.azure.com/models',
  upstreamModel: 'llama',
  auth: { type: 'entra', scope: 'https://cognitiveservices.azure.com/.default' },
  pricing: { inputPerMillionUsd: 0.5, outputPerMillionUsd: 1.5 },
});
const routes = [
  routeSchema.parse({ alias: 'quiet', targets: [{ deployment: 'quiet-managed' }, { deployment: 'llama-serverless' }] }),
  routeSchema.parse({ alias: 'busy', targets: [{ deployment: 'busy-managed' }, { deployment: 'llama-serverless' }] }),
  routeSchema.parse({ alias: 'solo', targets: [{ deployment: 'solo-managed' }] }),
];

/** `count` hours of a deployment, each busy `busyShare` of its one slot, serving the given tokens. */
function hours(deployment: string, count: number, busyShare: number, inputTokens: number, outputTokens: number) {
  return Array.from({ length: count }, (_, i) =>
    hourDocument(
      deployment,
      START + i * HOUR_MS,
      { hourlyUsd: 2, instances: 1, slots: 1 },
      [{ team: 'search', alias: 'x', requests: 10, inputTokens, outputTokens, busyMs: busyShare * HOUR_MS }],
      'tokens',
    ),
  );
}

const rollup = (alias: string, deployment: string, kind: 'managed' | 'serverless', requests: number): RollupRow => ({
  team: 'search',
  day: '2026-02-01',
  alias,
  deployment,
  kind,
  requests,
  inputTokens: 0,
  outputTokens: 0,
  cachedInputTokens: 0,
  reasoningTokens: 0,
  estimatedRequests: 0,
  failedRequests: 0,
  costMicroUsd: 0,
  costRemainderPicoUsd: 0,
});

describe('advice per managed deployment', () => {
  const advice = buildAdvice({
    deployments: [managed('quiet-managed'), managed('busy-managed'), managed('solo-managed'), serverless],
    routes,
    hours: [...hours('quiet-managed', 10, 0.12, 20_000, 10_000), ...hours('busy-managed', 10, 0.9, 2_000_000, 1_000_000)],
    rollups: [
      rollup('quiet', 'quiet-managed', 'managed', 100),
      rollup('busy', 'busy-managed', 'managed', 70),
      rollup('busy', 'llama-serverless', 'serverless', 30),
    ],
  });
  const byId = Object.fromEntries(advice.map((a) => [a.deployment, a]));

  it('a 12%-utilised deployment whose traffic is cheaper serverless: move to serverless', () => {
    const quiet = byId['quiet-managed']!;
    expect(quiet).toMatchObject({
      hours: 10,
      utilisation: 0.12,
      tokensServed: 300_000,
      tokensPerHour: 30_000,
      costUsd: 20,
      allocatedToTeamsUsd: 2.4,
      unallocatedUsd: 17.6,
      serverlessTwin: { deployment: 'llama-serverless', routes: ['quiet'], inputPerMillionUsd: 0.5, outputPerMillionUsd: 1.5 },
      spillShare: 0,
      routes: ['quiet'],
      recommendation: 'move to serverless: 12% utilised',
    });
    // $20 over 300,000 tokens; the same tokens serverless: 200k × $0.5/M + 100k × $1.5/M = $0.25.
    expect(quiet.effectivePerMillionUsd).toBeCloseTo(66.666667, 6);
    expect(quiet.serverlessEquivalentUsd).toBe(0.25);
    // $2 an hour ÷ (2/3 × $0.5/M + 1/3 × $1.5/M) = 2,400,000 tokens an hour.
    expect(quiet.breakEvenTokensPerHour).toBe(2_400_000);
  });

  it('a deployment whose route spills 30% of its requests to serverless: add an instance', () => {
    expect(byId['busy-managed']).toMatchObject({
      utilisation: 0.9,
      spillShare: 0.3,
      recommendation: 'add an instance: spilling 30% to pay-as-you-go',
    });
  });

  it('a deployment without closed hours, or without a serverless twin, says so', () => {
    expect(byId['solo-managed']).toMatchObject({
      hours: 0,
      serverlessTwin: null,
      breakEvenTokensPerHour: null,
      recommendation: 'no closed hours in this period yet',
    });
    expect(byId['llama-serverless']).toBeUndefined();
  });

  it('keeps a well-used deployment that does not spill', () => {
    const [kept] = buildAdvice({
      deployments: [managed('busy-managed'), serverless],
      routes,
      hours: hours('busy-managed', 3, 0.9, 2_000_000, 1_000_000),
      rollups: [],
    });
    expect(kept!.recommendation).toBe('keep');
  });

  it("per alias: its traffic's cost on each kind of deployment, managed compute by its share and idle capacity left out", () => {
    const quietHours = hours('quiet-managed', 2, 0.12, 20_000, 10_000);
    const rows = aliasCosts(
      { from: '2026-02-01', to: '2026-02-28' },
      [rollup('busy', 'llama-serverless', 'serverless', 30), rollup('quiet', 'quiet-managed', 'managed', 100)],
      quietHours,
    );
    expect(rows.map((row) => [row.alias, row.kind, row.requests, row.managedAllocatedUsd])).toEqual([
      ['busy', 'serverless', 30, 0],
      ['quiet', 'managed', 100, 0],
      // The hours' lines name alias 'x': 12% of 2 × $2.
      ['x', 'managed', 0, 0.48],
    ]);
  });
});
