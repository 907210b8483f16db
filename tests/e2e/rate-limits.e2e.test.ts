import { type Container, CosmosClient } from '@azure/cosmos';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../shared/config/config.js';
import { createServices, type Services } from '../../shared/composition/services.js';
import { chatCompletions } from '../../shared/gateway/chat-completions.js';
import type { GatewayRequest, RequestBody } from '../../shared/http/types.js';
import { silentLogger } from '../../shared/log.js';
import { minuteWindow } from '../../shared/limits/quota-windows.js';
import { DEFAULT_OUTPUT_RESERVATION_TOKENS } from '../../shared/limits/worst-case.js';
import { containerDefinitions } from '../../shared/store/containers.js';
import { countChatPromptTokens } from '../../shared/usage/count-tokens.js';
import { putSimDeployment, startTestGateway, type TestGateway } from './harness.js';

const SIM_KEY = 'sim-key-limits-0123456789';
const MESSAGES = [{ role: 'user', content: 'Say something short.' }];
const MAX_TOKENS = 50;
const RESERVED_TOKENS = countChatPromptTokens(MESSAGES) + MAX_TOKENS;
const HEADERS = [
  'x-ratelimit-limit-requests',
  'x-ratelimit-remaining-requests',
  'x-ratelimit-reset-requests',
  'x-ratelimit-limit-tokens',
  'x-ratelimit-remaining-tokens',
  'x-ratelimit-reset-tokens',
];

let gw: TestGateway;
let other: Services;
let client: CosmosClient;
let quotas: Container;

beforeAll(async () => {
  gw = await startTestGateway({ env: { UPSTREAM_SIM_KEY: SIM_KEY } });
  other = await createServices(loadConfig({}), {
    cosmos: gw.store!.connectionOptions(),
    log: silentLogger,
    env: { UPSTREAM_SIM_KEY: SIM_KEY },
  });
  other.deps.catalog.stop();
  client = new CosmosClient(gw.store!.connectionOptions());
  quotas = client.database(gw.config.cosmos.database).container(containerDefinitions.quotas.id);
  // Both instances read a clock set one second into a minute, so no test here straddles two windows.
  const offsetMs = (Date.now() % 60_000) - 1_000;
  gw.services.deps.now = () => Date.now() - offsetMs;
  other.deps.now = () => Date.now() - offsetMs;
  expect((await putSimDeployment(gw, 'limits-dep')).status).toBe(201);
  expect(
    (await gw.call('/manage/routes/limited', { method: 'PUT', body: JSON.stringify({ targets: [{ deployment: 'limits-dep' }] }) })).status,
  ).toBe(201);
});
afterAll(async () => {
  client?.dispose();
  await other?.close();
  await gw?.close();
});

async function teamWith(id: string, limits: Record<string, number>): Promise<string> {
  const put = await gw.call(`/manage/teams/${id}`, { method: 'PUT', body: JSON.stringify({ name: id, aliases: ['limited'], limits }) });
  expect(put.status, await put.clone().text()).toBe(201);
  const { key } = await (await gw.call(`/manage/teams/${id}/keys`, { method: 'POST', body: '{}' })).json();
  await gw.services.deps.catalog.refresh();
  await other.deps.catalog.refresh();
  return key;
}

const chatBody = () => JSON.stringify({ model: 'limited', messages: MESSAGES, max_tokens: MAX_TOKENS });

function viaHttp(key: string): Promise<Response> {
  return gw.call('/v1/chat/completions', { method: 'POST', key, body: chatBody() });
}

/** A chat request through the second instance's use case, answered as a fetch Response would be (errors with their headers). */
async function viaOther(key: string): Promise<Response> {
  const request: GatewayRequest = {
    method: 'POST',
    url: 'http://other/v1/chat/completions',
    headers: new Headers({ authorization: `Bearer ${key}`, 'content-type': 'application/json' }),
    body: new Blob([chatBody()]).stream() as RequestBody,
    params: {},
    query: new URLSearchParams(),
  };
  try {
    const answer = await chatCompletions(request, other.deps, { requestId: `other-${Math.random()}` });
    return new Response(JSON.stringify(answer.jsonBody ?? null), { status: answer.status, headers: answer.headers });
  } catch (error) {
    const { status, code, headers, retryAfterSeconds } = error as {
      status: number;
      code: string;
      headers: Record<string, string>;
      retryAfterSeconds: number;
    };
    return new Response(JSON.stringify({ error: { code } }), { status, headers: { ...headers, 'retry-after': String(retryAfterSeconds) } });
  }
}

describe('team rate limits', () => {
  it("answer with OpenAI's x-ratelimit-* headers, remaining requests and tokens decreasing", async () => {
    const key = await teamWith('headers', { rpm: 5, tpm: 100_000 });
    const seen: Array<Record<string, string | null>> = [];
    for (let i = 0; i < 3; i += 1) {
      const response = await viaHttp(key);
      expect(response.status).toBe(200);
      await response.text();
      seen.push(Object.fromEntries(HEADERS.map((h) => [h, response.headers.get(h)])));
    }
    expect(seen.map((h) => h['x-ratelimit-limit-requests'])).toEqual(['5', '5', '5']);
    expect(seen.map((h) => h['x-ratelimit-remaining-requests'])).toEqual(['4', '3', '2']);
    expect(seen.map((h) => h['x-ratelimit-limit-tokens'])).toEqual(['100000', '100000', '100000']);
    const tokensLeft = seen.map((h) => Number(h['x-ratelimit-remaining-tokens']));
    expect(tokensLeft[0]).toBe(100_000 - RESERVED_TOKENS);
    expect(tokensLeft[1]!).toBeLessThan(tokensLeft[0]!);
    expect(tokensLeft[2]!).toBeLessThan(tokensLeft[1]!);
    for (const h of seen) {
      expect(h['x-ratelimit-reset-requests']).toMatch(/^\d+s$/);
      expect(h['x-ratelimit-reset-tokens']).toBe(h['x-ratelimit-reset-requests']);
    }
  });

  it('correct the tokens taken at admission (the default reservation, with no max_tokens) to what the request used', async () => {
    const key = await teamWith('corrected', { tpm: 100_000 });
    const response = await gw.call('/v1/chat/completions', {
      method: 'POST',
      key,
      body: JSON.stringify({ model: 'limited', messages: MESSAGES }),
    });
    expect(Number(response.headers.get('x-ratelimit-remaining-tokens'))).toBe(
      100_000 - countChatPromptTokens(MESSAGES) - DEFAULT_OUTPUT_RESERVATION_TOKENS,
    );
    const used = (await response.json()).usage.total_tokens as number;
    expect(used).toBeLessThan(countChatPromptTokens(MESSAGES) + DEFAULT_OUTPUT_RESERVATION_TOKENS);
    const window = quotas.item(`rate:corrected:${minuteWindow(gw.services.deps.now()).key}`, 'corrected');
    await expect.poll(async () => (await window.read()).resource?.tokens, { timeout: 10_000, interval: 20 }).toBe(used);
    expect((await window.read()).resource?.requests).toBe(1);
  });

  it('hold rpm exactly across two instances: 30 racing requests, 10 answered, the rest 429 rate_limit_exceeded with Retry-After', async () => {
    const key = await teamWith('racing', { rpm: 10 });
    const responses = await Promise.all(Array.from({ length: 30 }, (_, i) => (i % 2 === 0 ? viaHttp(key) : viaOther(key))));
    expect(responses.filter((r) => r.status === 200)).toHaveLength(10);
    const refused = responses.filter((r) => r.status !== 200);
    expect(refused).toHaveLength(20);
    for (const r of refused) {
      expect(r.status).toBe(429);
      expect((await r.json()).error.code).toBe('rate_limit_exceeded');
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(r.headers.get('x-ratelimit-remaining-requests')).toBe('0');
      expect(r.headers.get('x-ratelimit-limit-requests')).toBe('10');
    }
  });

  it('hold tpm across two instances: no more requests than their worst-case tokens fit', async () => {
    const key = await teamWith('tokens', { tpm: 3 * RESERVED_TOKENS });
    const responses = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? viaHttp(key) : viaOther(key))));
    const ok = responses.filter((r) => r.status === 200).length;
    expect(ok).toBeGreaterThanOrEqual(3);
    // Settlements may give back unused tokens while the race runs; never more than the window could hold at their real size.
    expect(ok).toBeLessThanOrEqual(Math.floor((3 * RESERVED_TOKENS) / countChatPromptTokens(MESSAGES)));
    const refused = responses.filter((r) => r.status !== 200);
    for (const r of refused) {
      expect(r.status).toBe(429);
      const { error } = await r.json();
      expect(error.code).toBe('rate_limit_exceeded');
    }
  });

  it('are carried by embeddings and streamed Responses answers too, and a team without limits gets none', async () => {
    const key = await teamWith('embedder', { rpm: 100 });
    const response = await gw.call('/v1/embeddings', { method: 'POST', key, body: JSON.stringify({ model: 'limited', input: 'hello' }) });
    expect(response.status).toBe(200);
    expect(response.headers.get('x-ratelimit-remaining-requests')).toBe('99');
    expect(response.headers.get('x-ratelimit-limit-tokens')).toBeNull();
    const streamed = await gw.call('/v1/responses', {
      method: 'POST',
      key,
      body: JSON.stringify({ model: 'limited', input: 'hello', stream: true, store: false }),
    });
    expect(streamed.status).toBe(200);
    expect(streamed.headers.get('x-ratelimit-remaining-requests')).toBe('98');
    expect(await streamed.text()).toContain('response.completed');
    // An answer the upstream refused as the caller's fault carries them too.
    gw.sims!.serverless.injectFaults([{ kind: 'status', status: 400 }]);
    const rejected = await gw.call('/v1/embeddings', { method: 'POST', key, body: JSON.stringify({ model: 'limited', input: 'hello' }) });
    expect(rejected.status).toBe(400);
    expect(rejected.headers.get('x-ratelimit-remaining-requests')).toBe('97');
    const unlimited = await gw.openai.chat.completions.create({ model: 'chat', messages: MESSAGES as never }).withResponse();
    expect([...unlimited.response.headers.keys()].filter((h) => h.startsWith('x-ratelimit'))).toEqual([]);
  });
});
