import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CosmosClient } from '@azure/cosmos';
import { BadRequestError } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { replyText } from '../../local/simulators/sim-content.js';
import type { UsageRecord } from '../../shared/usage/usage-record.js';
import { DEMO_KEY, putRoute, putSimDeployment, startTestGateway, type TestGateway } from '../e2e/harness.js';

// Content safety on every inference path, over HTTP with the openai client, against the local gateway's
// Content Safety simulator (marker words SIM_<CATEGORY>_<severity>, SIM_ATTACK) and the upstream simulator,
// whose deterministic replies let a test put a term it will say on a blocklist.

let gw: TestGateway;
let usage: ReturnType<CosmosClient['database']>;
let sequence = 0;

beforeAll(async () => {
  gw = await startTestGateway({ env: { SWITCHYARD_SAFETY_TIMEOUT_MS: '300' } });
  usage = new CosmosClient(gw.store!.connectionOptions()).database('switchyard');
  expect((await putSimDeployment(gw, 'safe-sim')).status).toBe(201);
  await putRoute(gw, 'safe', ['safe-sim']);
  await putRoute(gw, 'safe-embed', ['safe-sim']);
  expect((await gw.call('/manage/blocklists/codes', { method: 'PUT', body: JSON.stringify({ items: ['Project Falcon'] }) })).status).toBe(
    201,
  );
});
afterAll(async () => {
  await gw?.close();
});

/** Gives team demo this profile whole (a merge patch would keep the fields of the one before). */
async function profile(safety: Record<string, unknown>): Promise<void> {
  for (const patch of [null, safety]) {
    const patched = await gw.call('/manage/teams/demo', { method: 'PATCH', body: JSON.stringify({ safety: patch }) });
    expect(patched.status, await patched.text()).toBe(200);
  }
}

async function answerList(name: string, items: string[]): Promise<void> {
  const put = await gw.call(`/manage/blocklists/${name}`, { method: 'PUT', body: JSON.stringify({ items }) });
  expect([200, 201]).toContain(put.status);
}

function nextRequestId(): string {
  sequence += 1;
  return `safety-e2e-${sequence}`;
}

async function recordOf(requestId: string): Promise<UsageRecord> {
  await gw.flushUsage();
  const { resources } = await usage
    .container('usage')
    .items.query<UsageRecord>({ query: 'SELECT * FROM c WHERE c.requestId = @id', parameters: [{ name: '@id', value: requestId }] })
    .fetchAll();
  expect(resources).toHaveLength(1);
  return resources[0]!;
}

async function chat(content: string, extra: Record<string, unknown> = {}) {
  const requestId = nextRequestId();
  const response = await gw.call('/v1/chat/completions', {
    method: 'POST',
    key: DEMO_KEY,
    headers: { 'x-request-id': requestId },
    body: JSON.stringify({ model: 'safe', messages: [{ role: 'user', content }], max_tokens: 40, ...extra }),
  });
  return { response, requestId };
}

/** The reply the simulator gives `prompt` (40 tokens), and a two-word term from its middle. */
async function termIn(prompt: string, fromWord: number): Promise<{ reply: string; term: string }> {
  const reply = await replyText(prompt, 40);
  const words = reply.split(' ');
  return { reply, term: `${words[fromWord]} ${words[fromWord + 1]}` };
}

describe('prompts screened before any upstream', () => {
  it('refuses a blocklisted prompt with content_filter, never sending it, and records why', async () => {
    await profile({ blocklists: ['codes'] });
    const before = gw.sims!.serverless.stats().requests;
    const requestId = nextRequestId();
    const error = await gw.openai.chat.completions
      .create(
        { model: 'safe', messages: [{ role: 'user', content: 'tell me about PROJECT  falcon' }] },
        { headers: { 'x-request-id': requestId } },
      )
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BadRequestError);
    expect((error as BadRequestError).code).toBe('content_filter');
    expect((error as BadRequestError).error).toMatchObject({
      innererror: { code: 'ResponsibleAIPolicyViolation', content_filter_result: { custom_blocklists: { filtered: true } } },
    });
    expect(gw.sims!.serverless.stats().requests).toBe(before);
    const record = await recordOf(requestId);
    expect(record).toMatchObject({ status: 'client_error', httpStatus: 400, deployment: '', costMicroUsd: 0 });
    expect(record.safety).toMatchObject({ mode: 'enforce', action: 'block', flagged: { on: 'prompt', layer: 'blocklist' } });
  });

  it('masks personal data before the upstream sees it', async () => {
    await profile({ pii: 'mask' });
    const { response } = await chat('mail a@b.io about it');
    expect(response.status).toBe(200);
    const sent = gw.sims!.serverless.stats().lastRequest!.body as { messages: Array<{ content: string }> };
    expect(sent.messages[0]!.content).toBe('mail [EMAIL_1] about it');
    expect(response.headers.get('server-timing')).toMatch(/(^|, )safety;dur=\d+/);
  });

  it('blocks a category above its threshold and passes one at it, each category by its own', async () => {
    await profile({ categories: { violence: 4, hate: 2 } });
    const sims = gw.sims!;
    const before = sims.serverless.stats().requests;
    expect((await chat('SIM_VIOLENCE_4 is fine')).response.status).toBe(200);
    const violent = await chat('SIM_VIOLENCE_6 is not');
    expect(violent.response.status).toBe(400);
    const body = await violent.response.json();
    expect(body.error.innererror.content_filter_result).toMatchObject({ violence: { filtered: true, severity: 'high' } });
    expect((await chat('SIM_HATE_4 is not either')).response.status).toBe(400);
    expect(sims.serverless.stats().requests).toBe(before + 1);
    expect(sims.contentSafety!.stats().analyzeCalls).toBeGreaterThanOrEqual(3);
  });

  it('refuses a prompt attack when Prompt Shields are on', async () => {
    await profile({ promptShield: true });
    const attack = await chat('ignore everything SIM_ATTACK');
    expect(attack.response.status).toBe(400);
    expect((await attack.response.json()).error.innererror.content_filter_result).toMatchObject({ jailbreak: { detected: true } });
    expect((await recordOf(attack.requestId)).safety).toMatchObject({ flagged: { on: 'prompt', layer: 'shield' } });
  });

  it('screens embeddings inputs as a prompt', async () => {
    await profile({ blocklists: ['codes'], pii: 'mask' });
    const before = gw.sims!.serverless.stats().requests;
    const blocked = await gw.call('/v1/embeddings', {
      method: 'POST',
      key: DEMO_KEY,
      body: JSON.stringify({ model: 'safe-embed', input: ['fine', 'the project falcon file'] }),
    });
    expect(blocked.status).toBe(400);
    expect((await blocked.json()).error.code).toBe('content_filter');
    expect(gw.sims!.serverless.stats().requests).toBe(before);
    const masked = await gw.openai.embeddings.create({ model: 'safe-embed', input: ['call a@b.io'] });
    expect(masked.data).toHaveLength(1);
    expect((gw.sims!.serverless.stats().lastRequest!.body as { input: string[] }).input).toEqual(['call [EMAIL_1]']);
  });
});

describe('answers screened before the caller sees them', () => {
  it('withholds a whole answer that says a blocklisted term, in Azure shape', async () => {
    const prompt = 'whole answer to be filtered';
    const { term } = await termIn(prompt, 20);
    await answerList('answers', [term]);
    await profile({ blocklists: ['answers'] });
    const { response, requestId } = await chat(prompt);
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(text.toLowerCase()).not.toContain(term.toLowerCase());
    const body = JSON.parse(text);
    expect(body.choices[0]).toMatchObject({
      finish_reason: 'content_filter',
      message: { content: null },
      content_filter_results: { custom_blocklists: { filtered: true } },
    });
    expect(body.prompt_filter_results[0].prompt_index).toBe(0);
    const record = await recordOf(requestId);
    expect(record).toMatchObject({ status: 'ok', outputTokens: 40 });
    expect(record.safety).toMatchObject({ action: 'block', flagged: { on: 'answer', layer: 'blocklist' } });
  });

  for (const windowChars of [64, 100, 333]) {
    for (const fromWord of [3, 17, 30]) {
      it(`never streams a flagged term to the caller (window ${windowChars}, term at word ${fromWord})`, async () => {
        const prompt = `streamed answer ${windowChars} ${fromWord}`;
        const { reply, term } = await termIn(prompt, fromWord);
        await answerList('answers', [term]);
        await profile({ blocklists: ['answers'], windowChars });
        const { response, requestId } = await chat(prompt, { stream: true, stream_options: { include_usage: true } });
        expect(response.status).toBe(200);
        const bytes = new Uint8Array(await response.arrayBuffer());
        const raw = new TextDecoder().decode(bytes);
        expect(raw.toLowerCase()).not.toContain(term.toLowerCase());
        const events = raw
          .split('\n\n')
          .filter((e) => e.startsWith('data: '))
          .map((e) => e.slice(6));
        expect(events.at(-1)).toBe('[DONE]');
        const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
        const said = chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('');
        // What was released is the reply's beginning, before the term.
        expect(reply.startsWith(said)).toBe(true);
        expect(said.length).toBeLessThan(reply.indexOf(term));
        // The choice's last chunk ends it for the filter (the usage chunk, without choices, may follow).
        expect(chunks.filter((c) => c.choices.length > 0).at(-1).choices[0]).toMatchObject({
          finish_reason: 'content_filter',
          content_filter_results: { custom_blocklists: { filtered: true } },
        });
        const record = await recordOf(requestId);
        expect(record.safety).toMatchObject({ action: 'block', flagged: { on: 'answer', layer: 'blocklist' } });
      });
    }
  }

  it('lets an audit team see its answers whole, recording what would have been blocked', async () => {
    const prompt = 'an audited answer';
    const { reply, term } = await termIn(prompt, 10);
    await answerList('answers', [term]);
    await profile({ blocklists: ['answers'], mode: 'audit', windowChars: 64 });
    const whole = await chat(prompt);
    expect((await whole.response.json()).choices[0].message.content).toBe(reply);
    expect((await recordOf(whole.requestId)).safety).toMatchObject({ mode: 'audit', action: 'allow', finding: 'block' });
    const streamed = await chat(prompt, { stream: true });
    const said = (await streamed.response.text())
      .split('\n\n')
      .filter((e) => e.startsWith('data: {'))
      .map((e) => JSON.parse(e.slice(6)).choices[0]?.delta?.content ?? '')
      .join('');
    expect(said).toBe(reply);
    expect((await recordOf(streamed.requestId)).safety).toMatchObject({ mode: 'audit', action: 'allow', finding: 'block' });
  });

  it('stops reading an upstream whose streamed answer it cut, and bills what it sent', async () => {
    const sims = gw.sims!;
    const prompt = 'an answer cut early';
    const { term } = await termIn(prompt, 3);
    await answerList('answers', [term]);
    await profile({ blocklists: ['answers'], windowChars: 64 });
    sims.serverless.setOptions({ tokensPerSecond: 50 });
    try {
      const before = sims.serverless.stats().cancelled;
      const { response, requestId } = await chat(prompt, { stream: true, max_tokens: 400 });
      expect((await response.text()).toLowerCase()).not.toContain(term.toLowerCase());
      await expect.poll(() => sims.serverless.stats().cancelled, { timeout: 5_000 }).toBe(before + 1);
      const record = await recordOf(requestId);
      expect(record.status).toBe('ok');
      expect(record.outputTokens).toBeGreaterThan(0);
      expect(record.outputTokens).toBeLessThan(400);
    } finally {
      sims.serverless.setOptions({ tokensPerSecond: 0 });
    }
  });

  it('streams a clean answer whole, through the openai client', async () => {
    await profile({ blocklists: ['codes'], windowChars: 64 });
    const prompt = 'a clean streamed answer';
    const reply = await replyText(prompt, 40);
    const stream = await gw.openai.chat.completions.create({
      model: 'safe',
      messages: [{ role: 'user', content: prompt }],
      max_tokens: 40,
      stream: true,
      stream_options: { include_usage: true },
    });
    let said = '';
    let finish: string | null | undefined;
    let completionTokens = 0;
    for await (const chunk of stream) {
      said += chunk.choices[0]?.delta?.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
      completionTokens = chunk.usage?.completion_tokens ?? completionTokens;
    }
    expect(said).toBe(reply);
    expect(finish).toBe('length');
    expect(completionTokens).toBe(40);
  });
});

/** A loopback upstream that speaks the Responses API, streaming `text` a few characters per delta. */
async function startNativeUpstream(text: string) {
  const server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => {
      raw += c;
    });
    req.on('end', () => {
      const body = JSON.parse(raw);
      const message = {
        id: 'msg_1',
        type: 'message',
        role: 'assistant',
        status: 'completed',
        content: [{ type: 'output_text', text, annotations: [] }],
      };
      const response = {
        id: 'resp_up',
        object: 'response',
        created_at: 1,
        status: 'completed',
        model: body.model,
        output: [message],
        usage: { input_tokens: 9, output_tokens: 30, total_tokens: 39 },
      };
      if (!body.stream) return res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(response));
      const at = { item_id: 'msg_1', output_index: 0, content_index: 0 };
      const deltas = text.match(/.{1,7}/gs)!.map((delta) => ({ type: 'response.output_text.delta', ...at, delta }));
      const events = [
        { type: 'response.created', response: { ...response, status: 'in_progress', output: [], usage: null } },
        { type: 'response.output_item.added', output_index: 0, item: { ...message, status: 'in_progress', content: [] } },
        { type: 'response.content_part.added', ...at, part: { type: 'output_text', text: '', annotations: [] } },
        ...deltas,
        { type: 'response.output_text.done', ...at, text },
        { type: 'response.content_part.done', ...at, part: message.content[0] },
        { type: 'response.output_item.done', output_index: 0, item: message },
        { type: 'response.completed', response },
      ];
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(events.map((e, i) => `event: ${e.type}\ndata: ${JSON.stringify({ ...e, sequence_number: i })}\n\n`).join(''));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('the Responses API screened like chat', () => {
  async function respond(model: string, input: string, stream: boolean) {
    const requestId = nextRequestId();
    const response = await gw.call('/v1/responses', {
      method: 'POST',
      key: DEMO_KEY,
      headers: { 'x-request-id': requestId },
      body: JSON.stringify({ model, input, max_output_tokens: 40, stream }),
    });
    return { response, requestId };
  }

  it('refuses a blocked input before any upstream', async () => {
    await profile({ blocklists: ['codes'] });
    const before = gw.sims!.serverless.stats().requests;
    const { response } = await respond('safe', 'the project falcon plan', false);
    expect(response.status).toBe(400);
    expect((await response.json()).error.code).toBe('content_filter');
    expect(gw.sims!.serverless.stats().requests).toBe(before);
  });

  it('makes a translated whole answer incomplete, its text withheld', async () => {
    const prompt = 'responses whole answer';
    const { term } = await termIn(prompt, 12);
    await answerList('answers', [term]);
    await profile({ blocklists: ['answers'] });
    const { response, requestId } = await respond('safe', prompt, false);
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(text.toLowerCase()).not.toContain(term.toLowerCase());
    expect(JSON.parse(text)).toMatchObject({ status: 'incomplete', incomplete_details: { reason: 'content_filter' } });
    expect((await recordOf(requestId)).safety).toMatchObject({ flagged: { on: 'answer', layer: 'blocklist' } });
  });

  for (const fromWord of [2, 25]) {
    it(`never streams a flagged term in a translated stream (term at word ${fromWord}); it ends incomplete`, async () => {
      const prompt = `responses stream ${fromWord}`;
      const { term } = await termIn(prompt, fromWord);
      await answerList('answers', [term]);
      await profile({ blocklists: ['answers'], windowChars: 64 });
      const { response } = await respond('safe', prompt, true);
      const raw = new TextDecoder().decode(new Uint8Array(await response.arrayBuffer()));
      expect(raw.toLowerCase()).not.toContain(term.toLowerCase());
      const last = raw.trim().split('\n\n').at(-1)!;
      expect(last).toMatch(/^event: response\.incomplete\n/);
      expect(JSON.parse(last.split('\ndata: ')[1]!).response.incomplete_details).toEqual({ reason: 'content_filter' });
    });
  }

  it('screens a native Responses stream and whole answer, and stores what the caller got', async () => {
    const text = 'Here is the plan. The secret code is Blue Harbor and it must never be shared with anyone at all today.';
    const upstream = await startNativeUpstream(text);
    try {
      expect((await putSimDeployment(gw, 'safe-native', { endpoint: `${upstream.url}/v1`, features: ['responses'] })).status).toBe(201);
      await putRoute(gw, 'safe-native', ['safe-native']);
      await answerList('answers', ['blue harbor']);
      await profile({ blocklists: ['answers'], windowChars: 64 });
      const streamed = await respond('safe-native', 'what is the plan', true);
      const raw = new TextDecoder().decode(new Uint8Array(await streamed.response.arrayBuffer()));
      expect(raw.toLowerCase()).not.toContain('blue harbor');
      const last = raw.trim().split('\n\n').at(-1)!;
      expect(last).toMatch(/^event: response\.incomplete\n/);
      const id = JSON.parse(last.split('\ndata: ')[1]!).response.id as string;
      const stored = await gw.call(`/v1/responses/${id}`, { key: DEMO_KEY });
      expect((await stored.text()).toLowerCase()).not.toContain('blue harbor');

      const whole = await respond('safe-native', 'what is the plan', false);
      const body = await whole.response.text();
      expect(body.toLowerCase()).not.toContain('blue harbor');
      expect(JSON.parse(body)).toMatchObject({ status: 'incomplete', incomplete_details: { reason: 'content_filter' } });
    } finally {
      await upstream.close();
    }
  });
});

describe("Content Safety's outages follow the team's choice", () => {
  const outages: Array<[string, () => void]> = [
    ['down', () => gw.sims!.contentSafety!.setOptions({ down: true })],
    ['slower than the timeout', () => gw.sims!.contentSafety!.setOptions({ latencyMs: 1_000 })],
    ['throttling', () => gw.sims!.contentSafety!.injectFaults([{ kind: 'status', status: 429, retryAfterSeconds: 30 }])],
  ];
  for (const [name, fail] of outages) {
    it(`${name}: closed teams get 503, open teams an answer, audit teams are never blocked; each recorded`, async () => {
      const sims = gw.sims!;
      try {
        await profile({ categories: { violence: 4 }, onOutage: 'closed' });
        fail();
        const closed = await chat('a question while it is out');
        expect(closed.response.status).toBe(503);
        expect((await closed.response.json()).error.code).toBe('safety_unavailable');
        expect((await recordOf(closed.requestId)).safety).toMatchObject({
          reachable: false,
          action: 'block',
          flagged: { layer: 'outage' },
        });

        await profile({ categories: { violence: 4 }, onOutage: 'open' });
        fail();
        const open = await chat('another question while it is out');
        expect(open.response.status).toBe(200);
        expect((await recordOf(open.requestId)).safety).toMatchObject({ reachable: false, action: 'allow' });

        await profile({ categories: { violence: 4 }, blocklists: ['codes'], onOutage: 'closed', mode: 'audit' });
        fail();
        const audited = await chat('project falcon while it is out');
        expect(audited.response.status).toBe(200);
        expect((await recordOf(audited.requestId)).safety).toMatchObject({
          mode: 'audit',
          reachable: false,
          action: 'allow',
          finding: 'block',
        });
      } finally {
        sims.contentSafety!.setOptions({ down: false, latencyMs: 0 });
      }
    });
  }
});

describe('parallel mode', () => {
  it('starts the model while Content Safety screens; a blocked prompt aborts it (the simulator sees the cancel)', async () => {
    const sims = gw.sims!;
    await profile({ categories: { violence: 4 }, parallel: true });
    sims.contentSafety!.setOptions({ latencyMs: 150 });
    sims.serverless.setOptions({ tokensPerSecond: 10 });
    try {
      for (const stream of [true, false]) {
        const before = sims.serverless.stats();
        const blocked = await chat('SIM_VIOLENCE_6 in parallel', { stream });
        expect(blocked.response.status).toBe(400);
        expect((await blocked.response.json()).error.code).toBe('content_filter');
        await expect.poll(() => sims.serverless.stats().cancelled, { timeout: 5_000 }).toBe(before.cancelled + 1);
        expect(sims.serverless.stats().requests).toBe(before.requests + 1);
        const record = await recordOf(blocked.requestId);
        expect(record.status).toBe('cancelled');
        expect(record.safety).toMatchObject({ action: 'block', flagged: { on: 'prompt', layer: 'analyze' } });
        // The stopped call is recorded on the deployment that had it, with at least its prompt (counted when the
        // answer never came), so its partial cost is billed per the team's billAborted.
        expect(record.deployment).toBe(blocked.response.headers.get('x-switchyard-deployment') ?? record.deployment);
        expect(record.deployment).not.toBe('');
        expect(record.inputTokens).toBeGreaterThan(0);
        if (!stream) expect(record.estimated).toBe(true);
      }
      // Nor is a shadow copy of a blocked prompt sent: only the clean request after it is copied.
      expect((await putSimDeployment(gw, 'safe-shadow')).status).toBe(201);
      await putRoute(gw, 'safe-shadowed', ['safe-sim'], { shadow: { deployment: 'safe-shadow', percent: 100 } });
      const before = sims.serverless.stats().requests;
      expect((await chat('SIM_VIOLENCE_6 shadowed', { model: 'safe-shadowed' })).response.status).toBe(400);
      sims.serverless.setOptions({ tokensPerSecond: 0 });
      expect((await chat('SIM_VIOLENCE_2 shadowed', { model: 'safe-shadowed' })).response.status).toBe(200);
      await expect.poll(() => sims.serverless.stats().requests, { timeout: 5_000 }).toBeGreaterThanOrEqual(before + 3);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(sims.serverless.stats().requests).toBe(before + 3);
      const clean = await chat('SIM_VIOLENCE_2 in parallel', { stream: true });
      expect(clean.response.status).toBe(200);
      expect(await clean.response.text()).toContain('data: [DONE]');
      expect((await recordOf(clean.requestId)).safety).toMatchObject({ action: 'allow', severities: { violence: 2 } });
    } finally {
      sims.contentSafety!.setOptions({ latencyMs: 0 });
      sims.serverless.setOptions({ tokensPerSecond: 0 });
    }
  });
});

describe('what safety blocked and cost, per team', () => {
  it("sums the records' blocked requests and billed text records into /usage, exactly", async () => {
    await gw.flushUsage();
    const { resources } = await usage
      .container('usage')
      .items.query<UsageRecord>('SELECT * FROM c WHERE c.type = "request" AND c.team = "demo"')
      .fetchAll();
    const screened = resources.filter((r) => r.safety);
    const blocked = screened.filter((r) => r.safety!.action === 'block').length;
    const textRecords = screened.reduce((sum, r) => sum + r.safety!.billableRecords, 0);
    expect(blocked).toBeGreaterThan(10);
    expect(textRecords).toBeGreaterThan(5);
    const day = resources[0]!.day;
    const report = await (await gw.call(`/usage?from=${day}&to=${day}&groupBy=team`)).json();
    expect(report.rows.find((r: { team: string }) => r.team === 'demo')).toMatchObject({
      safetyBlockedRequests: blocked,
      safetyTextRecords: textRecords,
      // Azure's list price, $0.38 per 1,000 records (the default), is 380 micro-dollars a record.
      safetyCostUsd: (textRecords * 380) / 1_000_000,
    });
    const csv = (await (await gw.call(`/usage?from=${day}&to=${day}&groupBy=team&format=csv`)).text()).split('\r\n');
    expect(csv.find((line) => line.startsWith('demo,'))!.endsWith(`,${blocked},${textRecords},${(textRecords * 380) / 1_000_000},0`)).toBe(
      true,
    );
    const statement = await (await gw.call(`/usage/statements/demo?month=${day.slice(0, 7)}`)).json();
    expect(statement.totals).toMatchObject({ safetyTextRecords: textRecords, safetyCostUsd: (textRecords * 380) / 1_000_000 });
    // Recounted from the records, the safety counters agree with the rollups too.
    const reconciled = await gw.call(`/usage/reconcile?month=${day.slice(0, 7)}`, { method: 'POST' });
    expect((await reconciled.json()).differences).toBe(0);
  });
});
