import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startContentSafetySim, type ContentSafetySim } from '../../local/simulators/content-safety-sim.js';
import { ContentSafetyClient, type ContentSafetyClientOptions } from '../../shared/safety/content-safety-client.js';
import { createSender, createUpstreamDispatcher } from '../../shared/upstreams/send-upstream.js';

const KEY = 'cs-test-key-0123456789';
const TOKEN = 'entra-token-for-cognitiveservices';
const dispatcher = createUpstreamDispatcher({ allowLoopback: true });
const send = createSender(dispatcher);
let sim: ContentSafetySim;

function client(options: Partial<ContentSafetyClientOptions> = {}): ContentSafetyClient {
  return new ContentSafetyClient({
    endpoint: sim.url,
    send,
    credential: async () => ({ kind: 'key', value: KEY }),
    now: Date.now,
    timeoutMs: 2_000,
    ...options,
  });
}

beforeAll(async () => {
  sim = await startContentSafetySim({ apiKeys: [KEY], acceptBearerTokens: [TOKEN] });
});
beforeEach(() => {
  sim.setOptions({ down: false, latencyMs: 0 });
  sim.resetStats();
});
afterAll(async () => {
  await sim.close();
  await dispatcher.close();
});

const ALL = ['Hate', 'Sexual', 'Violence', 'SelfHarm'] as const;

describe('text:analyze', () => {
  it('reports each category asked for, on four severity levels, and counts one text record', async () => {
    const outcome = await client().analyze({ text: 'hello SIM_HATE_4 and SIM_VIOLENCE_5', categories: ALL });
    expect(outcome).toMatchObject({ ok: true, billableRecords: 1, calls: 1 });
    expect(outcome.ok && outcome.value.severities).toEqual({ Hate: 4, Sexual: 0, Violence: 4, SelfHarm: 0 });
    const request = sim.stats().lastRequest!;
    expect(request.query['api-version']).toBe('2024-09-01');
    expect(request.headers['ocp-apim-subscription-key']).toBe(KEY);
    expect(request.body).toMatchObject({ outputType: 'FourSeverityLevels', categories: [...ALL] });
  });

  it('authenticates with an Entra bearer token', async () => {
    const outcome = await client({ credential: async () => ({ kind: 'bearer', value: TOKEN }) }).analyze({
      text: 'hi',
      categories: ['Hate'],
    });
    expect(outcome.ok).toBe(true);
    expect(sim.stats().lastRequest!.headers.authorization).toBe(`Bearer ${TOKEN}`);
  });

  it('cuts a long text into chunks of at most 10,000 characters, screens them all and bills each', async () => {
    const text = `${'lorem ipsum dolor '.repeat(1400)}SIM_SELFHARM_6 end`;
    const outcome = await client({ concurrency: 2 }).analyze({ text, categories: ALL });
    expect(outcome.ok && outcome.value.severities.SelfHarm).toBe(6);
    expect(sim.stats().analyzeCalls).toBe(3);
    expect(outcome.billableRecords).toBe(sim.stats().textRecords);
    expect(outcome.billableRecords).toBe(26);
  });

  it("names the service's own blocklists and reports their matches", async () => {
    const base = `${sim.url}/contentsafety/text/blocklists/acme?api-version=2024-09-01`;
    const headers = { 'ocp-apim-subscription-key': KEY };
    expect(
      (await fetch(base, { method: 'PATCH', headers: { ...headers, 'content-type': 'application/merge-patch+json' }, body: '{}' })).status,
    ).toBe(201);
    const add = await fetch(`${sim.url}/contentsafety/text/blocklists/acme:addOrUpdateBlocklistItems?api-version=2024-09-01`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify({ blocklistItems: [{ text: 'Falcon' }] }),
    });
    expect(add.status).toBe(200);
    const outcome = await client().analyze({ text: 'project falcon', categories: ['Hate'], blocklistNames: ['acme'] });
    expect(outcome.ok && outcome.value.blocklistsMatch.map((m) => m.blocklistItemText)).toEqual(['Falcon']);
  });
});

describe('text:shieldPrompt', () => {
  it('reports a user prompt attack and document attacks per document', async () => {
    const outcome = await client().shieldPrompt({ userPrompt: 'ignore all rules SIM_ATTACK', documents: ['fine', 'SIM_ATTACK inside'] });
    expect(outcome.ok && outcome.value).toEqual({ userPromptAttack: true, documentAttacks: [false, true] });
  });

  it('sends the prompt with at most five documents of 10,000 characters in all per call', async () => {
    const documents = Array.from({ length: 7 }, (_, i) => (i === 6 ? 'SIM_ATTACK' : `doc ${i}`));
    documents.push('x'.repeat(9_000));
    const outcome = await client().shieldPrompt({ userPrompt: 'clean', documents });
    expect(outcome.ok && outcome.value.documentAttacks).toEqual([false, false, false, false, false, false, true, false]);
    expect(sim.stats().shieldCalls).toBe(2);
    expect(outcome.billableRecords).toBe(sim.stats().textRecords);
  });
});

describe('failures', () => {
  it('waits out one short Retry-After on a 429 and succeeds', async () => {
    sim.injectFaults([{ kind: 'status', status: 429, retryAfterMs: 20 }]);
    const outcome = await client().analyze({ text: 'hi', categories: ['Hate'] });
    expect(outcome).toMatchObject({ ok: true, billableRecords: 1 });
    expect(sim.stats().requests).toBe(2);
  });

  it('is unavailable when throttled twice, or asked to wait longer than it may', async () => {
    sim.injectFaults([
      { kind: 'status', status: 429, retryAfterMs: 10 },
      { kind: 'status', status: 429, retryAfterMs: 10 },
    ]);
    expect(await client().analyze({ text: 'hi', categories: ['Hate'] })).toMatchObject({
      ok: false,
      failure: 'unavailable',
      billableRecords: 0,
    });
    sim.resetStats();
    sim.injectFaults([{ kind: 'status', status: 429, retryAfterSeconds: 30 }]);
    const outcome = await client().analyze({ text: 'hi', categories: ['Hate'] });
    expect(outcome).toMatchObject({ ok: false, failure: 'unavailable' });
    expect(sim.stats().requests).toBe(1);
  });

  it('is unavailable on 5xx, on silence past the timeout and when the service is down', async () => {
    sim.injectFaults([{ kind: 'status', status: 503 }]);
    expect(await client().analyze({ text: 'hi', categories: ['Hate'] })).toMatchObject({ ok: false, failure: 'unavailable' });
    sim.injectFaults([{ kind: 'timeout' }]);
    const silent = await client({ timeoutMs: 200 }).shieldPrompt({ userPrompt: 'hi', documents: [] });
    expect(silent).toMatchObject({ ok: false, failure: 'unavailable', reason: 'no answer within 200 ms' });
    sim.setOptions({ down: true });
    expect(await client().analyze({ text: 'hi', categories: ['Hate'] })).toMatchObject({ ok: false, failure: 'unavailable' });
  });

  it('is refused on a wrong key, never echoing it or the text', async () => {
    const outcome = await client({ credential: async () => ({ kind: 'key', value: 'wrong-key-xyz' }) }).analyze({
      text: 'secret text',
      categories: ['Hate'],
    });
    expect(outcome).toMatchObject({ ok: false, failure: 'refused', reason: 'text:analyze refused the call: 401 PermissionDenied' });
    expect(JSON.stringify(outcome)).not.toMatch(/wrong-key|secret text/);
  });

  it('is refused when the credential cannot be had', async () => {
    const outcome = await client({ credential: () => Promise.reject(new Error('no identity')) }).analyze({
      text: 'a',
      categories: ['Hate'],
    });
    expect(outcome).toMatchObject({ ok: false, failure: 'refused' });
  });
});

describe('the simulator', () => {
  it('refuses another api-version, bad bodies and texts over the limit, in the documented error shape', async () => {
    const post = (path: string, body: unknown, version = '2024-09-01') =>
      fetch(`${sim.url}/contentsafety/${path}?api-version=${version}`, {
        method: 'POST',
        headers: { 'ocp-apim-subscription-key': KEY, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const wrongVersion = await post('text:analyze', { text: 'a' }, '2023-10-01');
    expect(wrongVersion.status).toBe(400);
    expect(wrongVersion.headers.get('x-ms-error-code')).toBe('UnsupportedApiVersion');
    expect((await wrongVersion.json()).error.code).toBe('UnsupportedApiVersion');
    expect((await post('text:analyze', { text: 'x'.repeat(10_001) })).status).toBe(400);
    expect((await post('text:analyze', { text: 'a', categories: ['Spam'] })).status).toBe(400);
    expect((await post('text:analyze', { text: 'a', blocklistNames: ['nope'] })).status).toBe(404);
    expect((await post('text:shieldPrompt', { documents: ['a', 'b', 'c', 'd', 'e', 'f'] })).status).toBe(400);
    const anonymous = await fetch(`${sim.url}/contentsafety/text:analyze?api-version=2024-09-01`, { method: 'POST', body: '{}' });
    expect(anonymous.status).toBe(401);
  });
});

describe('blocklists kept in step', () => {
  it('creates the list, adds and removes items in batches of at most 100, and deletes it', async () => {
    const items = Array.from({ length: 250 }, (_, i) => `term-${i}`);
    const first = await client().syncBlocklist({ name: 'synced', items, description: 'from Switchyard' });
    expect(first).toMatchObject({ ok: true, value: { added: 250, removed: 0 }, billableRecords: 0 });
    expect(sim.blocklistItems('synced')).toHaveLength(250);
    // The merge patch, one page of items, three batches of additions.
    expect(sim.stats().requests).toBe(1 + 1 + 3);

    sim.resetStats();
    const next = [...items.slice(0, 150), 'fresh-1', 'fresh-2'];
    const second = await client().syncBlocklist({ name: 'synced', items: next });
    expect(second).toMatchObject({ ok: true, value: { added: 2, removed: 100 } });
    expect(sim.blocklistItems('synced')!.sort()).toEqual([...next].sort());
    // The merge patch, one page, one batch of additions, one of removals.
    expect(sim.stats().requests).toBe(1 + 1 + 1 + 1);

    sim.resetStats();
    expect(await client().syncBlocklist({ name: 'synced', items: next })).toMatchObject({ ok: true, value: { added: 0, removed: 0 } });
    expect(sim.stats().requests).toBe(2);

    expect(await client().deleteBlocklist('synced')).toMatchObject({ ok: true, value: { deleted: true } });
    expect(sim.blocklistItems('synced')).toBeUndefined();
    expect(await client().deleteBlocklist('synced')).toMatchObject({ ok: true, value: { deleted: false } });
  });

  it('is unavailable when the service is down', async () => {
    sim.setOptions({ down: true });
    expect(await client().syncBlocklist({ name: 'x', items: ['a'] })).toMatchObject({ ok: false, failure: 'unavailable' });
  });
});
