import { CosmosClient } from '@azure/cosmos';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { monthOf } from '../../shared/limits/quota-windows.js';
import { costPicoUsd, picoToUsd, roundToMicroUsd } from '../../shared/usage/pricing.js';
import type { UsageRecord } from '../../shared/usage/usage-record.js';
import { DEMO_KEY, putRoute, putSimDeployment, startTestGateway, type TestGateway } from '../e2e/harness.js';

// Parallel mode: a prompt Content Safety blocks while the model already runs stops the call; what the model used
// until then is billed to the team, or recorded but not billed, as its profile's billAborted says.

let gw: TestGateway;
let usage: ReturnType<CosmosClient['database']>;
let sequence = 0;

beforeAll(async () => {
  gw = await startTestGateway();
  usage = new CosmosClient(gw.store!.connectionOptions()).database('switchyard');
  expect((await putSimDeployment(gw, 'aborted-sim')).status).toBe(201);
  await putRoute(gw, 'aborted', ['aborted-sim']);
  // Content Safety answers late, so the model is under way when the verdict blocks it.
  gw.sims!.contentSafety!.setOptions({ latencyMs: 150 });
  gw.sims!.serverless.setOptions({ tokensPerSecond: 20 });
  const budgeted = await gw.call('/manage/teams/demo', {
    method: 'PATCH',
    body: JSON.stringify({ budget: { monthlyUsd: 1000, enforce: 'soft' } }),
  });
  expect(budgeted.status, await budgeted.text()).toBe(200);
});

/** What team demo's budget has counted as spent this month, once every settlement has landed. */
async function spentMicroUsd(): Promise<number> {
  // Spend settled on this instance's budget slice reaches the store at its flush.
  const read = async () => {
    await gw.services.deps.quotaLeases.flush();
    return (await gw.services.deps.quotas.read('demo', monthOf(Date.now())))?.spentMicroUsd ?? 0;
  };
  let last = -1;
  // Settlements are written after the answer: wait until the figure stops moving.
  await expect
    .poll(
      async () => {
        const now = await read();
        const still = now === last;
        last = now;
        return still;
      },
      { timeout: 5_000, interval: 100 },
    )
    .toBe(true);
  return last;
}
afterAll(async () => {
  await gw?.close();
});

async function profile(safety: Record<string, unknown>): Promise<void> {
  for (const patch of [null, safety]) {
    const patched = await gw.call('/manage/teams/demo', { method: 'PATCH', body: JSON.stringify({ safety: patch }) });
    expect(patched.status, await patched.text()).toBe(200);
  }
}

async function blockedCall(stream = true): Promise<UsageRecord> {
  sequence += 1;
  const requestId = `bill-aborted-${sequence}`;
  const response = await gw.call('/v1/chat/completions', {
    method: 'POST',
    key: DEMO_KEY,
    headers: { 'x-request-id': requestId },
    body: JSON.stringify({
      model: 'aborted',
      messages: [{ role: 'user', content: 'SIM_VIOLENCE_6 in parallel' }],
      max_tokens: 40,
      stream,
    }),
  });
  expect(response.status).toBe(400);
  expect((await response.json()).error.code).toBe('content_filter');
  await gw.flushUsage();
  const { resources } = await usage
    .container('usage')
    .items.query<UsageRecord>({ query: 'SELECT * FROM c WHERE c.requestId = @id', parameters: [{ name: '@id', value: requestId }] })
    .fetchAll();
  expect(resources).toHaveLength(1);
  return resources[0]!;
}

/** What the sim deployment charges for the record's tokens ($0.71 per million either way: 710,000 pico-dollars a token). */
const tokenPico = (record: UsageRecord) => BigInt(record.inputTokens + record.outputTokens) * 710_000n;

describe('safety.billAborted', () => {
  it('true (the default): the stopped call is billed to the team', async () => {
    await profile({ categories: { violence: 4 }, parallel: true });
    // Streamed, the tokens the stopped stream sent are counted; whole, the answer never came: its prompt is (estimated).
    for (const stream of [true, false]) {
      const spentBefore = await spentMicroUsd();
      const record = await blockedCall(stream);
      if (!stream) expect(record.estimated).toBe(true);
      expect(await spentMicroUsd()).toBeGreaterThan(spentBefore);
      expect(record).toMatchObject({ status: 'cancelled', safety: { action: 'block', flagged: { on: 'prompt' } } });
      expect(record.inputTokens).toBeGreaterThan(0);
      expect(costPicoUsd(record)).toBe(tokenPico(record));
      expect(record.safety!.unbilledCost).toBeUndefined();
    }
  });

  it('false: recorded with its tokens and real cost, but at cost 0 to the team; /usage shows it as unbilledCostUsd', async () => {
    await profile({ categories: { violence: 4 }, parallel: true, billAborted: false });
    const spentBefore = await spentMicroUsd();
    const records = [await blockedCall(), await blockedCall()];
    // The budget is not charged for them.
    expect(await spentMicroUsd()).toBe(spentBefore);
    for (const record of records) {
      expect(record).toMatchObject({ status: 'cancelled', costMicroUsd: 0, costRemainderPicoUsd: 0 });
      expect(record.inputTokens).toBeGreaterThan(0);
      expect(costPicoUsd(record.safety!.unbilledCost!)).toBe(tokenPico(record));
    }
    const { resources } = await usage
      .container('usage')
      .items.query<UsageRecord>('SELECT * FROM c WHERE c.type = "request" AND c.team = "demo"')
      .fetchAll();
    const billed = resources.reduce((sum, r) => sum + costPicoUsd(r), 0n);
    const unbilled = resources.reduce((sum, r) => sum + (r.safety?.unbilledCost ? costPicoUsd(r.safety.unbilledCost) : 0n), 0n);
    expect(unbilled).toBe(records.reduce((sum, r) => sum + tokenPico(r), 0n));
    const day = records[0]!.day;
    const report = await (await gw.call(`/usage?from=${day}&to=${day}&groupBy=team`)).json();
    const row = report.rows.find((r: { team: string }) => r.team === 'demo');
    expect(row.unbilledCostUsd).toBe(picoToUsd(unbilled));
    expect(row.costMicroUsd).toBe(Number(roundToMicroUsd(billed)));
    const csv = (await (await gw.call(`/usage?from=${day}&to=${day}&groupBy=team&format=csv`)).text()).split('\r\n');
    expect(csv[0]!.endsWith(',safetyCostUsd,unbilledCostUsd')).toBe(true);
    expect(csv.find((line) => line.startsWith('demo,'))!.endsWith(`,${picoToUsd(unbilled)}`)).toBe(true);
    const reconciled = await gw.call(`/usage/reconcile?month=${day.slice(0, 7)}`, { method: 'POST' });
    expect((await reconciled.json()).differences).toBe(0);
  });
});
