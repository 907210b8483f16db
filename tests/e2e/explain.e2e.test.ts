import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_KEY, putRoute, putSimDeployment, startTestGateway, today, type TestGateway } from './harness.js';
import { watchUsage } from './hostile-upstream.js';
import { countChatPromptTokens } from '../../shared/usage/count-tokens.js';
import type { UsageRecord } from '../../shared/usage/usage-record.js';

let gw: TestGateway;
let usage: UsageRecord[];
let opsKey: string;
let financeKey: string;

const roleKey = async (role: string): Promise<string> => {
  const created = await gw.call('/manage/keys', { method: 'POST', body: JSON.stringify({ role }) });
  expect(created.status).toBe(201);
  return (await created.json()).key;
};

beforeAll(async () => {
  gw = await startTestGateway();
  usage = watchUsage(gw);
  opsKey = await roleKey('ops');
  financeKey = await roleKey('finance');
  expect((await gw.call('/manage/teams/outsiders', { method: 'PUT', body: JSON.stringify({ name: 'Outsiders' }) })).status).toBe(201);
});
afterAll(async () => {
  await gw?.close();
});

const hello = { model: 'chat', messages: [{ role: 'user', content: 'hello' }], max_tokens: 4 };
const tools = [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object', properties: {} } } }];

const explain = (body: unknown, key: string | null = opsKey) =>
  gw.call('/manage/explain', { method: 'POST', body: JSON.stringify(body), key });

const simRequests = () => gw.sims!.managed.stats().requests + gw.sims!.serverless.stats().requests;

async function usageRequests(): Promise<number> {
  await gw.flushUsage();
  const report = await gw.call(`/usage?from=${today()}&to=${today()}&team=demo`);
  expect(report.status).toBe(200);
  return (await report.json()).totals.requests ?? 0;
}

describe('POST /manage/explain', () => {
  it('chooses the managed deployment first for a plain request on chat, and sends nothing anywhere', async () => {
    const before = { sims: simRequests(), usage: await usageRequests(), records: usage.length };
    const answer = await explain({ team: 'demo', request: hello });
    expect(answer.status).toBe(200);
    expect(await answer.json()).toEqual({
      team: 'demo',
      alias: 'chat',
      strategy: 'spillover',
      features: [],
      chosen: 'sim-llama-managed',
      candidates: ['sim-llama-managed', 'sim-llama-serverless'],
      considered: [
        { deployment: 'sim-llama-managed', taken: true, reason: 'first available in order' },
        { deployment: 'sim-llama-serverless', taken: true, reason: 'fallback in order' },
      ],
    });
    expect(simRequests()).toBe(before.sims);
    expect(usage).toHaveLength(before.records);
    expect(await usageRequests()).toBe(before.usage);
    expect(gw.services.deps.health.inFlight('sim-llama-managed')).toBe(0);
  });

  it('skips the managed deployment for tools, naming the feature, and chooses serverless', async () => {
    const before = simRequests();
    const answer = await explain({ team: 'demo', request: { ...hello, tools } });
    expect(answer.status).toBe(200);
    const body = await answer.json();
    expect(body.features).toEqual([{ feature: 'tools', param: 'tools' }]);
    expect(body.chosen).toBe('sim-llama-serverless');
    expect(body.candidates).toEqual(['sim-llama-serverless']);
    expect(body.considered).toEqual([
      { deployment: 'sim-llama-managed', taken: false, reason: 'does not honour tools (tools)' },
      { deployment: 'sim-llama-serverless', taken: true, reason: 'first available in order' },
    ]);
    expect(simRequests()).toBe(before);
    // The same decision a real request meets: it is answered by the deployment explain chose.
    const real = await gw.openai.chat.completions
      .create({ ...hello, tools: tools as never, messages: [{ role: 'user', content: 'hello' }] })
      .withResponse();
    expect(real.response.headers.get('x-switchyard-deployment')).toBe(body.chosen);
  });

  it('reports a cooling deployment as tried last, and a disabled one as skipped', async () => {
    await putSimDeployment(gw, 'explain-off', { serves: ['chat'], enabled: false });
    // Both honour tools only, so that a request for logprobs can find no deployment.
    await putSimDeployment(gw, 'explain-cool', { serves: ['chat'], features: ['tools'] });
    await putSimDeployment(gw, 'explain-ok', { serves: ['chat'], features: ['tools'] });
    await putRoute(gw, 'explain-mix', ['explain-off', 'explain-cool', 'explain-ok']);
    gw.services.deps.health.failed('explain-cool', 60_000);
    const body = await (await explain({ team: 'demo', request: { ...hello, model: 'explain-mix' } })).json();
    expect(body.chosen).toBe('explain-ok');
    expect(body.candidates).toEqual(['explain-ok', 'explain-cool']);
    expect(body.considered.map((c: { deployment: string; taken: boolean }) => [c.deployment, c.taken])).toEqual([
      ['explain-off', false],
      ['explain-cool', true],
      ['explain-ok', true],
    ]);
    expect(body.considered[0].reason).toBe('disabled');
    expect(body.considered[1].reason).toMatch(/^cooling down for \d+ ms after failures; tried last$/);
  });

  it('orders a cheapest route by the expected cost of this request: its counted prompt and its max_tokens', async () => {
    // 'frugal' charges only for answers, 'pricey' mostly for prompts: a 1-token answer favours frugal, 10 tokens pricey.
    await putSimDeployment(gw, 'explain-pricey', { pricing: { inputPerMillionUsd: 5, outputPerMillionUsd: 0.1 } });
    await putSimDeployment(gw, 'explain-frugal', { pricing: { inputPerMillionUsd: 0, outputPerMillionUsd: 20 } });
    await putRoute(gw, 'explain-cheap', ['explain-pricey', 'explain-frugal'], { strategy: 'cheapest' });
    const promptTokens = countChatPromptTokens(hello.messages);
    const short = await (await explain({ team: 'demo', request: { ...hello, model: 'explain-cheap', max_tokens: 1 } })).json();
    expect(short.strategy).toBe('cheapest');
    expect(short.candidates).toEqual(['explain-frugal', 'explain-pricey']);
    expect(short.considered[0]).toEqual({
      deployment: 'explain-frugal',
      taken: true,
      reason: `cheapest: expected cost $0.000020 (list price for ~${promptTokens} prompt + 1 answer tokens)`,
    });
    const long = await (await explain({ team: 'demo', request: { ...hello, model: 'explain-cheap', max_tokens: 10 } })).json();
    expect(long.candidates).toEqual(['explain-pricey', 'explain-frugal']);
    // The same decision a real request meets.
    const real = await gw.openai.chat.completions
      .create({ model: 'explain-cheap', messages: [{ role: 'user', content: 'hello' }], max_tokens: 1 })
      .withResponse();
    expect(real.response.headers.get('x-switchyard-deployment')).toBe('explain-frugal');
  });

  it('orders a fastest route by the time to first token this instance measured on streamed answers', async () => {
    await putSimDeployment(gw, 'explain-fast-a');
    await putSimDeployment(gw, 'explain-fast-b');
    await putRoute(gw, 'explain-fast', ['explain-fast-a', 'explain-fast-b'], { strategy: 'fastest' });
    const health = gw.services.deps.health;
    const unmeasured = await (await explain({ team: 'demo', request: { ...hello, model: 'explain-fast' } })).json();
    expect(unmeasured.candidates).toEqual(['explain-fast-a', 'explain-fast-b']);
    expect(unmeasured.considered[0].reason).toBe('first: no time to first token measured yet (after measured ones, in route order)');
    // A streamed answer relayed through the gateway is measured for the deployment that gave it.
    const stream = await gw.openai.chat.completions.create({
      model: 'explain-fast',
      messages: [{ role: 'user', content: 'hello' }],
      max_tokens: 4,
      stream: true,
    });
    for await (const _ of stream) {
      // drain
    }
    expect(health.timeToFirstTokenMs('explain-fast-a')).toBeGreaterThanOrEqual(0);
    expect(health.timeToFirstTokenMs('explain-fast-b')).toBeUndefined();
    const measured = await (await explain({ team: 'demo', request: { ...hello, model: 'explain-fast' } })).json();
    expect(measured.candidates).toEqual(['explain-fast-a', 'explain-fast-b']);
    expect(measured.considered[0].reason).toMatch(/^fastest: time to first token ~\d+ ms \(decaying average\)$/);
  });

  it('applies rules by request facts: streamed requests and long prompts go where the rules say', async () => {
    await putSimDeployment(gw, 'explain-facts-a');
    await putSimDeployment(gw, 'explain-facts-b');
    await putRoute(gw, 'explain-facts', ['explain-facts-a', 'explain-facts-b'], {
      rules: [
        { when: { stream: true }, only: ['explain-facts-b'] },
        { when: { minPromptTokens: 1_000 }, only: ['explain-facts-b'] },
      ],
    });
    const ask = async (request: Record<string, unknown>) =>
      (await (await explain({ team: 'demo', request: { ...hello, model: 'explain-facts', ...request } })).json()).candidates;
    expect(await ask({})).toEqual(['explain-facts-a', 'explain-facts-b']);
    expect(await ask({ stream: true })).toEqual(['explain-facts-b']);
    expect(await ask({ messages: [{ role: 'user', content: 'word '.repeat(1_200) }] })).toEqual(['explain-facts-b']);
    // The same decision a real streamed request meets.
    const stream = await gw.openai.chat.completions
      .create({ model: 'explain-facts', messages: [{ role: 'user', content: 'hello' }], max_tokens: 4, stream: true })
      .withResponse();
    expect(stream.response.headers.get('x-switchyard-deployment')).toBe('explain-facts-b');
    for await (const _ of stream.data) {
      // drain
    }
  });

  it('says the request would be refused with 403 model_not_allowed when the team may not use the model', async () => {
    const answer = await explain({ team: 'outsiders', request: hello });
    expect(answer.status).toBe(200);
    expect(await answer.json()).toMatchObject({
      team: 'outsiders',
      alias: 'chat',
      chosen: null,
      candidates: [],
      considered: [],
      refused: { status: 403, code: 'model_not_allowed' },
    });
  });

  it('says a request no deployment can honour would be refused 400 unsupported_feature, with every deployment considered', async () => {
    const body = await (await explain({ team: 'demo', request: { ...hello, model: 'explain-mix', logprobs: true } })).json();
    expect(body.chosen).toBe(null);
    expect(body.refused).toMatchObject({ status: 400, code: 'unsupported_feature', param: 'logprobs' });
    expect(body.considered).toHaveLength(3);
  });

  it('says the request would be refused 503 no_deployment_available when every deployment is disabled', async () => {
    await putRoute(gw, 'explain-off', ['explain-off']);
    const body = await (await explain({ team: 'demo', request: { ...hello, model: 'explain-off' } })).json();
    expect(body.chosen).toBe(null);
    expect(body.considered).toEqual([{ deployment: 'explain-off', taken: false, reason: 'disabled' }]);
    expect(body.refused).toMatchObject({ status: 503, code: 'no_deployment_available' });
    const real = await gw.call('/v1/chat/completions', {
      method: 'POST',
      key: DEMO_KEY,
      body: JSON.stringify({ ...hello, model: 'explain-off' }),
    });
    expect(real.status).toBe(503);
    expect((await real.json()).error.code).toBe('no_deployment_available');
  });

  it('accepts ops and admin keys only: no key 401, team or finance key 403', async () => {
    expect((await explain({ team: 'demo', request: hello }, null)).status).toBe(401);
    for (const key of [DEMO_KEY, financeKey]) {
      const refused = await explain({ team: 'demo', request: hello }, key);
      expect(refused.status).toBe(403);
      expect((await refused.json()).error).toMatchObject({ type: 'permission_error', code: 'forbidden' });
    }
    expect((await gw.call('/manage/explain', { method: 'POST', body: JSON.stringify({ team: 'demo', request: hello }) })).status).toBe(200);
  });

  it('answers 404 for an unknown team and 400 in the OpenAI error shape for a bad body', async () => {
    const unknown = await explain({ team: 'nobody', request: hello });
    expect(unknown.status).toBe(404);
    expect((await unknown.json()).error.code).toBe('not_found');
    for (const [bad, param] of [
      [{ team: 'demo' }, 'request'],
      [{ team: 'demo', request: { model: 'chat' } }, 'request.messages'],
      [{ team: 'demo', request: { messages: hello.messages } }, 'request.model'],
    ] as const) {
      const refused = await explain(bad);
      expect(refused.status).toBe(400);
      const { error } = await refused.json();
      expect(error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_request_error', param });
      expect(typeof error.message).toBe('string');
    }
    const extra = await explain({ team: 'demo', request: hello, dryRun: true });
    expect(extra.status).toBe(400);
  });
});
