import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UsageRecord } from '../../shared/usage/usage-record.js';
import { putRoute, putSimDeployment, startTestGateway, type TestGateway, today } from './harness.js';
import { watchUsage } from './hostile-upstream.js';

let gw: TestGateway;
let seen: UsageRecord[];

beforeAll(async () => {
  gw = await startTestGateway();
  seen = watchUsage(gw);
  expect((await putSimDeployment(gw, 'priced', { pricing: { inputPerMillionUsd: 0.5, outputPerMillionUsd: 1.5 } })).status).toBe(201);
  await putRoute(gw, 'priced-chat', ['priced']);
});
afterAll(async () => {
  await gw?.close();
});

async function chat(): Promise<UsageRecord> {
  const before = seen.length;
  await gw.openai.chat.completions.create({ model: 'priced-chat', messages: [{ role: 'user', content: 'price me' }], max_tokens: 5 });
  expect(seen).toHaveLength(before + 1);
  return seen.at(-1)!;
}

const pico = (tokens: number, perMillionUsd: number) => BigInt(tokens) * BigInt(Math.round(perMillionUsd * 1_000_000));
const costOf = (r: UsageRecord) => BigInt(r.costMicroUsd) * 1_000_000n + BigInt(r.costRemainderPicoUsd);

describe('a deployment price book', () => {
  it('charges each request the price in force when it started, keeps earlier prices, and lists them newest first', async () => {
    const atFirst = await chat();
    expect(costOf(atFirst)).toBe(pico(atFirst.inputTokens, 0.5) + pico(atFirst.outputTokens, 1.5));
    expect(atFirst.priceEffectiveFrom).toBeUndefined();

    // A new price from now (no effectiveFrom given), through PATCH.
    const patched = await gw.call('/manage/deployments/priced', {
      method: 'PATCH',
      body: JSON.stringify({ pricing: { inputPerMillionUsd: 0.25, cachedInputPerMillionUsd: 0.125 } }),
    });
    expect(patched.status).toBe(200);
    const changed = (await patched.json()) as { pricing: { effectiveFrom: string }; priceHistory: unknown[] };
    expect(changed.priceHistory).toEqual([{ inputPerMillionUsd: 0.5, outputPerMillionUsd: 1.5 }]);
    const atSecond = await chat();
    expect(atSecond.priceEffectiveFrom).toBe(changed.pricing.effectiveFrom);
    expect(costOf(atSecond)).toBe(pico(atSecond.inputTokens, 0.25) + pico(atSecond.outputTokens, 1.5));

    // A price scheduled for tomorrow leaves today's in force.
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString();
    const scheduled = await gw.call('/manage/deployments/priced', {
      method: 'PATCH',
      body: JSON.stringify({ pricing: { inputPerMillionUsd: 4, effectiveFrom: tomorrow } }),
    });
    expect(scheduled.status).toBe(200);
    const atThird = await chat();
    expect(atThird.priceEffectiveFrom).toBe(changed.pricing.effectiveFrom);
    expect(costOf(atThird)).toBe(pico(atThird.inputTokens, 0.25) + pico(atThird.outputTokens, 1.5));

    const listed = await gw.call('/manage/deployments/priced/prices');
    expect(listed.status).toBe(200);
    expect(await listed.json()).toEqual({
      deployment: 'priced',
      data: [
        {
          effectiveFrom: tomorrow,
          until: null,
          inForce: false,
          inputPerMillionUsd: 4,
          outputPerMillionUsd: 1.5,
          cachedInputPerMillionUsd: 0.125,
        },
        {
          effectiveFrom: changed.pricing.effectiveFrom,
          until: tomorrow,
          inForce: true,
          inputPerMillionUsd: 0.25,
          outputPerMillionUsd: 1.5,
          cachedInputPerMillionUsd: 0.125,
        },
        { effectiveFrom: null, until: changed.pricing.effectiveFrom, inForce: false, inputPerMillionUsd: 0.5, outputPerMillionUsd: 1.5 },
      ],
    });

    // /usage sums each request at the price it was charged, exactly.
    await gw.flushUsage();
    const day = today();
    const report = (await (await gw.call(`/usage?from=${day}&to=${day}&groupBy=deployment`)).json()) as {
      rows: Array<{ deployment: string; costUsdExact: string; requests: number }>;
    };
    const row = report.rows.find((r) => r.deployment === 'priced')!;
    const expected = costOf(atFirst) + costOf(atSecond) + costOf(atThird);
    expect(row.requests).toBe(3);
    expect(BigInt(row.costUsdExact.replace('.', ''))).toBe(expected);
  });

  it('refuses a price dated before the latest change, and answers 404 for an unknown deployment', async () => {
    const refused = await gw.call('/manage/deployments/priced', {
      method: 'PATCH',
      body: JSON.stringify({ pricing: { inputPerMillionUsd: 9, effectiveFrom: '2020-01-01T00:00:00Z' } }),
    });
    expect(refused.status).toBe(400);
    expect((await refused.json()).error).toMatchObject({ type: 'invalid_request_error', param: 'pricing.effectiveFrom' });
    expect((await gw.call('/manage/deployments/no-such-deployment/prices')).status).toBe(404);
  });
});
