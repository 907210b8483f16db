import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { putRoute, putSimDeployment, startTestGateway, type TestGateway, today } from './harness.js';

// 1,000 concurrent mixed requests (chat whole and streamed, embeddings, Responses) over both kinds: two serverless
// deployments with awkward 6-decimal prices, and a managed one (capacity 8, spilling to a serverless one) whose
// requests cost nothing per token (its hours are allocated apart). /usage tokens equal what the simulators counted,
// and the exact cost of every grouping is Σ tokens × price, computed here from the token sums with BigInt.
const PRICES = {
  'exact-a': { inputPerMillionUsd: 0.123457, outputPerMillionUsd: 1.000001 },
  'exact-b': { inputPerMillionUsd: 2.999999, outputPerMillionUsd: 0.000003 },
} as const;
const REQUESTS = 1_000;
const MANAGED = 'exact-m';
const ALIASES = ['exact-chat', 'exact-other', 'exact-managed'] as const;

let gw: TestGateway;

beforeAll(async () => {
  gw = await startTestGateway();
  for (const [id, pricing] of Object.entries(PRICES)) expect((await putSimDeployment(gw, id, { pricing })).status).toBe(201);
  await putRoute(gw, 'exact-chat', ['exact-a']);
  await putRoute(gw, 'exact-other', ['exact-b']);
  const managed = await gw.call(`/manage/deployments/${MANAGED}`, {
    method: 'PUT',
    body: JSON.stringify({
      kind: 'managed',
      protocol: 'aml-score',
      endpoint: gw.sims!.managed.url,
      upstreamModel: 'blue',
      serves: ['chat'],
      auth: { type: 'key', secret: 'UPSTREAM_SIM_KEY' },
      pricing: { hourlyUsd: 3.673, instances: 1 },
      capacity: { maxConcurrent: 8 },
    }),
  });
  expect(managed.status, await managed.clone().text()).toBe(201);
  await putRoute(gw, 'exact-managed', [MANAGED, 'exact-a']);
});
afterAll(async () => {
  await gw?.close();
});

const picoPerToken = (perMillionUsd: number) => BigInt(Math.round(perMillionUsd * 1_000_000));
const exactPico = (usd: string) => BigInt(usd.replace('.', ''));

interface Row {
  alias?: string;
  deployment?: string;
  team?: string;
  inputTokens: number;
  outputTokens: number;
  cachedInputTokens: number;
  requests: number;
  costUsd: number;
  costUsdExact: string;
}

describe('exact usage under concurrent mixed traffic', () => {
  it('meters what the simulator counted and prices every grouping exactly', async () => {
    gw.sims!.serverless.resetStats();
    gw.sims!.managed.resetStats();
    const one = async (i: number) => {
      const alias = ALIASES[i % 3]!;
      switch (i % 4) {
        case 0:
        case 1:
          if (i % 8 < 4) {
            await gw.openai.chat.completions.create({
              model: alias,
              messages: [{ role: 'user', content: `whole ${i}` }],
              max_tokens: 3 + (i % 7),
            });
          } else {
            const stream = await gw.openai.chat.completions.create({
              model: alias,
              messages: [{ role: 'user', content: `stream ${i}` }],
              max_tokens: 2 + (i % 5),
              stream: true,
              stream_options: { include_usage: true },
            });
            for await (const _chunk of stream);
          }
          return;
        case 2:
          await gw.openai.embeddings.create({ model: alias, input: `embed ${i} ${'x '.repeat(i % 13)}` });
          return;
        default:
          await gw.openai.responses.create({ model: alias, input: `respond ${i}`, max_output_tokens: 16 + (i % 3) });
      }
    };
    await Promise.all(Array.from({ length: REQUESTS }, (_, i) => one(i)));
    await gw.flushUsage();

    const day = today();
    const report = async (groupBy: string): Promise<{ rows: Row[]; totals: Row }> =>
      (await gw.call(`/usage?from=${day}&to=${day}&groupBy=${groupBy}`)).json();

    const stats = gw.sims!.serverless.stats();
    const managedStats = gw.sims!.managed.stats();
    const byDeployment = await report('deployment');
    const ours = byDeployment.rows.filter((r) => r.deployment! in PRICES || r.deployment === MANAGED);
    expect(ours.reduce((n, r) => n + r.requests, 0)).toBe(REQUESTS);
    expect(ours.reduce((n, r) => n + r.inputTokens, 0)).toBe(stats.promptTokens + stats.embeddingTokens + managedStats.promptTokens);
    expect(ours.reduce((n, r) => n + r.outputTokens, 0)).toBe(stats.completionTokens + managedStats.completionTokens);
    // Both kinds served: the managed deployment took requests, and spilled the rest of its alias to serverless.
    const managedRow = ours.find((r) => r.deployment === MANAGED);
    expect(managedRow?.requests).toBeGreaterThan(0);
    expect(exactPico(managedRow!.costUsdExact)).toBe(0n);

    // Each deployment has one price: its exact cost is its token sums times it.
    const expectedPico = new Map<string, bigint>();
    for (const row of ours.filter((r) => r.deployment! in PRICES)) {
      const price = PRICES[row.deployment as keyof typeof PRICES];
      const pico =
        BigInt(row.inputTokens) * picoPerToken(price.inputPerMillionUsd) +
        BigInt(row.outputTokens) * picoPerToken(price.outputPerMillionUsd);
      expect(row.cachedInputTokens).toBe(0);
      expect(exactPico(row.costUsdExact)).toBe(pico);
      expectedPico.set(row.deployment!, pico);
    }
    const total = [...expectedPico.values()].reduce((a, b) => a + b, 0n);

    // Coarser and finer groupings sum to the same exact amounts.
    for (const groupBy of ['alias,deployment,kind,day', 'team,alias', 'kind']) {
      const { rows } = await report(groupBy);
      const sum = rows.reduce((a, r) => a + exactPico(r.costUsdExact), 0n);
      expect(sum).toBe(exactPico(byDeployment.totals.costUsdExact));
    }
    const fine = (await report('alias,deployment')).rows.filter((r) => r.deployment! in PRICES);
    for (const [deployment, pico] of expectedPico) {
      expect(fine.filter((r) => r.deployment === deployment).reduce((a, r) => a + exactPico(r.costUsdExact), 0n)).toBe(pico);
    }
    const demo = (await report('team')).rows.find((r) => r.team === 'demo')!;
    expect(exactPico(demo.costUsdExact)).toBe(total);
  });
});
