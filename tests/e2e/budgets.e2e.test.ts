import { CosmosClient } from '@azure/cosmos';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../shared/config/config.js';
import { createServices, type Services } from '../../shared/composition/services.js';
import { chatCompletions } from '../../shared/gateway/chat-completions.js';
import type { GatewayRequest, RequestBody } from '../../shared/http/types.js';
import { monthOf } from '../../shared/limits/quota-windows.js';
import { silentLogger } from '../../shared/log.js';
import { containerDefinitions } from '../../shared/store/containers.js';
import { countChatPromptTokens } from '../../shared/usage/count-tokens.js';
import { putSimDeployment, startTestGateway, type TestGateway } from './harness.js';

const SIM_KEY = 'sim-key-budgets-0123456789';
const MESSAGES = [{ role: 'user', content: 'Say something short.' }];
const PROMPT_TOKENS = countChatPromptTokens(MESSAGES);
const MAX_TOKENS = 100;
// $10 per million tokens in and out: 10 micro-dollars a token.
const PRICE_PER_MILLION = 10;
/** A request's worst case, as admission prices it: prompt + max_tokens, 10 micro-dollars each. */
const WORST_MICRO = (PROMPT_TOKENS + MAX_TOKENS) * PRICE_PER_MILLION;

let gw: TestGateway;
let other: Services;

beforeAll(async () => {
  gw = await startTestGateway({ env: { UPSTREAM_SIM_KEY: SIM_KEY } });
  // A second instance of the app on the same store, with its own store client and instance id, as another Functions
  // instance would be; it serves requests through the same use case the HTTP host calls.
  other = await createServices(loadConfig({}), {
    cosmos: gw.store!.connectionOptions(),
    log: silentLogger,
    env: { UPSTREAM_SIM_KEY: SIM_KEY },
  });
  other.deps.catalog.stop();
  expect(
    (
      await putSimDeployment(gw, 'budget-dep', {
        pricing: { inputPerMillionUsd: PRICE_PER_MILLION, outputPerMillionUsd: PRICE_PER_MILLION },
      })
    ).status,
  ).toBe(201);
  const route = await gw.call('/manage/routes/budgeted', {
    method: 'PUT',
    body: JSON.stringify({ targets: [{ deployment: 'budget-dep' }] }),
  });
  expect(route.status).toBe(201);
});
afterAll(async () => {
  await other?.close();
  await gw?.close();
});

/** A team on the alias with the given budget/limits, and a key for it; both instances see it. */
async function teamWith(id: string, extra: Record<string, unknown>): Promise<string> {
  const put = await gw.call(`/manage/teams/${id}`, { method: 'PUT', body: JSON.stringify({ name: id, aliases: ['budgeted'], ...extra }) });
  expect(put.status, await put.clone().text()).toBe(201);
  const { key } = await (await gw.call(`/manage/teams/${id}/keys`, { method: 'POST', body: '{}' })).json();
  await gw.services.deps.catalog.refresh();
  await other.deps.catalog.refresh();
  return key;
}

const chatBody = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({ model: 'budgeted', messages: MESSAGES, max_tokens: MAX_TOKENS, ...extra });

/** A chat request over HTTP to the first instance. */
function viaHttp(key: string, extra: Record<string, unknown> = {}): Promise<Response> {
  return gw.call('/v1/chat/completions', { method: 'POST', key, body: chatBody(extra) });
}

/** A chat request through the second instance's use case, answered as a fetch Response would be. */
async function viaOther(key: string, extra: Record<string, unknown> = {}): Promise<Response> {
  const request: GatewayRequest = {
    method: 'POST',
    url: 'http://other/v1/chat/completions',
    headers: new Headers({ authorization: `Bearer ${key}`, 'content-type': 'application/json' }),
    body: new Blob([chatBody(extra)]).stream() as RequestBody,
    params: {},
    query: new URLSearchParams(),
  };
  try {
    const answer = await chatCompletions(request, other.deps, { requestId: `other-${Math.random()}` });
    const body = answer.jsonBody !== undefined ? JSON.stringify(answer.jsonBody) : (answer.body as BodyInit);
    return new Response(body, { status: answer.status, headers: answer.headers });
  } catch (error) {
    const { status, code } = error as { status: number; code: string };
    return new Response(JSON.stringify({ error: { code } }), { status });
  }
}

async function budgetOf(team: string) {
  const month = monthOf(Date.now());
  const state = await gw.services.deps.quotas.read(team, month);
  return state!;
}

/** Waits until every admitted request of the team is settled (nothing held). */
async function settled(team: string) {
  await expect.poll(async () => (await budgetOf(team)).reservedMicroUsd, { timeout: 10_000, interval: 20 }).toBe(0);
  return budgetOf(team);
}

async function ledgerCostMicro(team: string): Promise<number> {
  await gw.flushUsage();
  await other.deps.ledger.flush();
  const day = new Date().toISOString().slice(0, 10);
  const rows = await gw.services.deps.readRollups({ from: day, to: day, team });
  return rows.reduce((sum, r) => sum + r.costMicroUsd + (r.costRemainderPicoUsd ?? 0) / 1_000_000, 0);
}

async function drain(response: Response): Promise<string> {
  return await response.text();
}

describe('a hard budget', () => {
  it('admits no more than fits when 50 requests race for a budget that fits 10, and refuses the rest with 429 budget_exceeded', async () => {
    const limitMicro = 10 * WORST_MICRO + WORST_MICRO / 2;
    const key = await teamWith('race-one', { budget: { monthlyUsd: limitMicro / 1_000_000, enforce: 'hard' } });
    const responses = await Promise.all(Array.from({ length: 50 }, () => viaHttp(key)));
    const ok = responses.filter((r) => r.status === 200);
    const refused = responses.filter((r) => r.status !== 200);
    expect(ok.length).toBeGreaterThanOrEqual(10);
    for (const r of refused) {
      expect(r.status).toBe(429);
      const { error } = await r.json();
      expect(error).toMatchObject({ code: 'budget_exceeded', type: 'insufficient_quota' });
      expect(error.message).toContain("'race-one'");
      expect(error.message).toContain(monthOf(Date.now()));
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
    }
    await Promise.all(ok.map(drain));
    const budget = await settled('race-one');
    expect(budget.spentMicroUsd).toBeLessThanOrEqual(limitMicro);
    expect(await ledgerCostMicro('race-one')).toBeLessThanOrEqual(limitMicro);
    // What was spent is what the ledger says, up to rounding each request up to the micro-dollar.
    expect(budget.spentMicroUsd - (await ledgerCostMicro('race-one'))).toBeLessThan(ok.length);
  });

  it('reserves at the price in force now, not at a higher one scheduled for later', async () => {
    const nextYear = `${new Date().getUTCFullYear() + 1}-01-01T00:00:00.000Z`;
    const put = await putSimDeployment(gw, 'raising-dep', {
      pricing: { inputPerMillionUsd: PRICE_PER_MILLION, outputPerMillionUsd: PRICE_PER_MILLION },
    });
    expect(put.status).toBe(201);
    // A hundredfold rise from next year: reserving at it would refuse a request the budget fits today.
    const raise = await gw.call('/manage/deployments/raising-dep', {
      method: 'PATCH',
      headers: { 'content-type': 'application/merge-patch+json' },
      body: JSON.stringify({ pricing: { inputPerMillionUsd: 1_000, outputPerMillionUsd: 1_000, effectiveFrom: nextYear } }),
    });
    expect(raise.status, await raise.clone().text()).toBe(200);
    const route = await gw.call('/manage/routes/raising', {
      method: 'PUT',
      body: JSON.stringify({ targets: [{ deployment: 'raising-dep' }] }),
    });
    expect(route.status).toBe(201);
    const put2 = await gw.call('/manage/teams/raising-team', {
      method: 'PUT',
      body: JSON.stringify({
        name: 'raising',
        aliases: ['raising'],
        budget: { monthlyUsd: (2 * WORST_MICRO) / 1_000_000, enforce: 'hard' },
      }),
    });
    expect(put2.status).toBe(201);
    const { key } = await (await gw.call('/manage/teams/raising-team/keys', { method: 'POST', body: '{}' })).json();
    await gw.services.deps.catalog.refresh();
    const answer = await gw.call('/v1/chat/completions', {
      method: 'POST',
      key,
      body: JSON.stringify({ model: 'raising', messages: MESSAGES, max_tokens: MAX_TOKENS }),
    });
    expect(answer.status, await answer.clone().text()).toBe(200);
    await drain(answer);
  });

  it('holds across two instances on one store', async () => {
    const limitMicro = 10 * WORST_MICRO + WORST_MICRO / 2;
    const key = await teamWith('race-two', { budget: { monthlyUsd: limitMicro / 1_000_000, enforce: 'hard' } });
    const responses = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? viaHttp(key) : viaOther(key))));
    const ok = responses.filter((r) => r.status === 200);
    expect(ok.length).toBeGreaterThanOrEqual(10);
    expect(responses.filter((r) => r.status === 429)).toHaveLength(50 - ok.length);
    await Promise.all(ok.map(drain));
    expect((await settled('race-two')).spentMicroUsd).toBeLessThanOrEqual(limitMicro);
    expect(await ledgerCostMicro('race-two')).toBeLessThanOrEqual(limitMicro);
  });

  it('holds for streams across two instances, settled when each stream ends', async () => {
    const limitMicro = 10 * WORST_MICRO + WORST_MICRO / 2;
    const key = await teamWith('race-stream', { budget: { monthlyUsd: limitMicro / 1_000_000, enforce: 'hard' } });
    const streamed = { stream: true, stream_options: { include_usage: true } };
    const responses = await Promise.all(
      Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? viaHttp(key, streamed) : viaOther(key, streamed))),
    );
    const ok = responses.filter((r) => r.status === 200);
    expect(ok.length).toBeGreaterThanOrEqual(10);
    expect(responses.filter((r) => r.status === 429)).toHaveLength(50 - ok.length);
    const bodies = await Promise.all(ok.map(drain));
    expect(bodies.every((b) => b.includes('"usage"') && b.trim().endsWith('data: [DONE]'))).toBe(true);
    const budget = await settled('race-stream');
    // Every stream is metered: spent is their real cost, never over the limit.
    expect(budget.spentMicroUsd).toBeGreaterThan(0);
    expect(budget.spentMicroUsd).toBeLessThanOrEqual(limitMicro);
    expect(await ledgerCostMicro('race-stream')).toBeLessThanOrEqual(limitMicro);
  });

  it('is told to the openai client as a RateLimitError with code budget_exceeded, which it does not retry', async () => {
    const key = await teamWith('broke', { budget: { monthlyUsd: 0, enforce: 'hard' } });
    let calls = 0;
    const counted: typeof fetch = (input, init) => {
      calls += 1;
      return fetch(input, init);
    };
    // Retries allowed: the answer tells the client a retry cannot help (x-should-retry: false).
    const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: key, maxRetries: 2, fetch: counted });
    const error = await client.chat.completions.create({ model: 'budgeted', messages: MESSAGES as never }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    expect(error).toMatchObject({ status: 429, code: 'budget_exceeded', type: 'insufficient_quota' });
    expect(calls).toBe(1);
  });

  it('releases what a request held when the upstream fails, and when a stream is cut', async () => {
    const key = await teamWith('released', { budget: { monthlyUsd: 1, enforce: 'hard' } });
    gw.sims!.serverless.injectFaults([{ kind: 'status', status: 500 }]);
    expect((await viaHttp(key)).status).toBe(502);
    expect(await settled('released')).toMatchObject({ spentMicroUsd: 0, reservedMicroUsd: 0 });

    gw.sims!.serverless.injectFaults([{ kind: 'half-stream', afterChunks: 1 }]);
    const cut = await viaHttp(key, { stream: true });
    expect(cut.status).toBe(200);
    expect(await cut.text()).toContain('"error"');
    const afterCut = await settled('released');
    // The cut stream is settled at what it used (its prompt, at least), not at its worst case.
    expect(afterCut.spentMicroUsd).toBeGreaterThan(0);
    expect(afterCut.spentMicroUsd).toBeLessThan(WORST_MICRO);
  });
});

describe('a soft budget', () => {
  it('never refuses, and records crossing alertAt and 100% once each, visible in GET /usage/budgets', async () => {
    // Every answer here is the same length: the first one's usage prices each, and 4 of them pass 100% of the budget.
    const first = await (await viaHttp(await teamWith('soft-probe', {}))).json();
    const costMicro = first.usage.total_tokens * PRICE_PER_MILLION;
    const key = await teamWith('soft', { budget: { monthlyUsd: (3.5 * costMicro) / 1_000_000, enforce: 'soft', alertAt: 0.5 } });
    for (let i = 0; i < 6; i += 1) expect((await viaHttp(key)).status).toBe(200);
    await expect.poll(async () => (await budgetOf('soft')).spentMicroUsd, { timeout: 10_000, interval: 20 }).toBe(6 * costMicro);
    await expect
      .poll(async () => Object.keys((await budgetOf('soft')).marks).sort(), { timeout: 10_000, interval: 20 })
      .toEqual(['alerted', 'exhausted']);
    const marks = (await budgetOf('soft')).marks;
    // More spend changes neither mark.
    expect((await viaHttp(key)).status).toBe(200);
    await expect.poll(async () => (await budgetOf('soft')).spentMicroUsd, { timeout: 10_000, interval: 20 }).toBe(7 * costMicro);
    expect((await budgetOf('soft')).marks).toEqual(marks);

    const status = await (await gw.call('/usage/budgets?team=soft', { key })).json();
    expect(status.budgets).toEqual([
      expect.objectContaining({
        team: 'soft',
        enforce: 'soft',
        spentUsd: (7 * costMicro) / 1_000_000,
        reservedUsd: 0,
        remainingUsd: 0,
        alerts: { alertedAt: marks.alerted, exhaustedAt: marks.exhausted },
      }),
    ]);
    expect((await gw.call('/usage/budgets?team=race-one', { key })).status).toBe(403);
    expect((await gw.call('/usage/budgets?month=2026-13')).status).toBe(400);
  });
});

describe('team budget and limits input', () => {
  it.each([
    [{ budget: { monthlyUsd: -5, enforce: 'hard' } }, 'budget.monthlyUsd'],
    [{ budget: { monthlyUsd: 5, enforce: 'sometimes' } }, 'budget.enforce'],
    [{ budget: { monthlyUsd: 5, enforce: 'hard', alertAt: 2 } }, 'budget.alertAt'],
    [{ limits: { rpm: 0 } }, 'limits.rpm'],
    [{ limits: { tpm: -1 } }, 'limits.tpm'],
    [{ limits: { rpm: 5, burst: 2 } }, 'limits'],
  ])('refuses %j with 400 naming the field', async (extra, field) => {
    const put = await gw.call('/manage/teams/bad-input', { method: 'PUT', body: JSON.stringify({ name: 'x', ...extra }) });
    expect(put.status).toBe(400);
    const { error } = await put.json();
    expect(error.type).toBe('invalid_request_error');
    expect(`${error.param} ${error.message}`).toContain(field);
  });

  it("accepts PRODUCT.md's team budget and limits", async () => {
    const put = await gw.call('/manage/teams/product-example', {
      method: 'PUT',
      body: JSON.stringify({
        name: 'Search',
        aliases: ['budgeted'],
        budget: { monthlyUsd: 500, enforce: 'hard', alertAt: 0.8 },
        limits: { rpm: 600, tpm: 200000 },
      }),
    });
    expect(put.status).toBe(201);
    expect(await put.json()).toMatchObject({
      budget: { monthlyUsd: 500, enforce: 'hard', alertAt: 0.8 },
      limits: { rpm: 600, tpm: 200000 },
    });
  });
});

describe('a budget the store cannot be asked about', () => {
  it('fails closed: 503 store_unavailable for a team with a hard budget, while a team without one is served', async () => {
    const key = await teamWith('unchecked', { budget: { monthlyUsd: 1, enforce: 'hard' } });
    const free = await teamWith('unbudgeted', {});
    const client = new CosmosClient(gw.store!.connectionOptions());
    const database = client.database(gw.config.cosmos.database);
    try {
      await database.container(containerDefinitions.quotas.id).delete();
      const refused = await viaHttp(key);
      expect(refused.status).toBe(503);
      expect((await refused.json()).error.code).toBe('store_unavailable');
      expect((await viaHttp(free)).status).toBe(200);
    } finally {
      await database.containers.createIfNotExists(containerDefinitions.quotas);
      client.dispose();
    }
    expect((await viaHttp(key)).status).toBe(200);
  });
});
