import type { ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { costPicoUsd, picoToUsdExact } from '../../shared/usage/pricing.js';
import { percentile } from '../../shared/usage/shadow-summary.js';
import type { ShadowRecord } from '../../shared/usage/shadow-record.js';
import type { UsageRecord } from '../../shared/usage/usage-record.js';
import { putRoute, startTestGateway, today, type TestGateway } from './harness.js';
import { completionJson, putHostileDeployment, startHostileUpstream, watchUsage, type HostileUpstream } from './hostile-upstream.js';

const SHADOW_TIMEOUT_MS = 1_000;
const MAX_IN_FLIGHT = 3;

let gw: TestGateway;
let upstream: HostileUpstream;
let usage: UsageRecord[];
let financeKey: string;
const held: ServerResponse[] = [];

const embeddingJson = JSON.stringify({
  object: 'list',
  data: [{ object: 'embedding', index: 0, embedding: [0.1, 0.2] }],
  model: 'hostile',
  usage: { prompt_tokens: 2, total_tokens: 2 },
});

beforeAll(async () => {
  upstream = await startHostileUpstream({
    fine: (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(completionJson('shadow says hi')),
    embed: (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(embeddingJson),
    broken: (_req, res) =>
      res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":{"message":"boom","type":"server_error"}}'),
    // Never answers on its own: the test answers when it chooses, or the shadow's deadline ends it.
    held: (_req, res) => {
      held.push(res);
    },
  });
  gw = await startTestGateway({
    env: { SWITCHYARD_SHADOW_TIMEOUT_MS: String(SHADOW_TIMEOUT_MS), SWITCHYARD_SHADOW_MAX_IN_FLIGHT: String(MAX_IN_FLIGHT) },
  });
  usage = watchUsage(gw);
  financeKey = (await (await gw.call('/manage/keys', { method: 'POST', body: JSON.stringify({ role: 'finance' }) })).json()).key;
  for (const behaviour of ['fine', 'embed', 'broken', 'held']) await putHostileDeployment(gw, upstream, `shadow-${behaviour}`, behaviour);
});
afterAll(async () => {
  for (const res of held) res.destroy();
  await gw?.close();
  await upstream?.close();
});

const hello = (model: string, extra: Record<string, unknown> = {}) =>
  gw.openai.chat.completions.create({ model, messages: [{ role: 'user', content: 'hello' }], max_tokens: 3, ...extra }).withResponse();

async function records(alias: string): Promise<ShadowRecord[]> {
  const read = await gw.services.deps.shadowLog.read(alias, {
    fromTs: '2000-01-01T00:00:00.000Z',
    toTs: '2100-01-01T00:00:00.000Z',
    limit: 100_000,
  });
  return read.records;
}

/** Waits until a condition holds: the copies run in the background, after the callers have their answers. */
async function until<T>(what: string, read: () => Promise<T> | T, holds: (value: T) => boolean): Promise<T> {
  for (let i = 0; i < 500; i++) {
    const value = await read();
    if (holds(value)) return value;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const settled = () => gw.services.deps.shadowTraffic.stats().inFlight === 0;

describe('shadow traffic', () => {
  it('refuses a shadow deployment that does not exist or does not serve the route', async () => {
    const unknown = await gw.call('/manage/routes/shadow-bad', {
      method: 'PUT',
      body: JSON.stringify({ targets: [{ deployment: 'sim-llama-serverless' }], shadow: { deployment: 'nowhere', percent: 5 } }),
    });
    expect(unknown.status).toBe(400);
    expect((await unknown.json()).error.message).toMatch(/nowhere/);
    const offCapability = await gw.call('/manage/routes/shadow-bad', {
      method: 'PUT',
      body: JSON.stringify({
        targets: [{ deployment: 'sim-embed-serverless' }],
        shadow: { deployment: 'sim-llama-serverless', percent: 5 },
      }),
    });
    expect(offCapability.status).toBe(400);
    expect((await offCapability.json()).error.param).toBe('shadow.deployment');
    for (const percent of [0, 101]) {
      const bad = await gw.call('/manage/routes/shadow-bad', {
        method: 'PUT',
        body: JSON.stringify({ targets: [{ deployment: 'sim-llama-serverless' }], shadow: { deployment: 'shadow-fine', percent } }),
      });
      expect(bad.status).toBe(400);
    }
  });

  it('copies about percent of requests, records both sides with costs, and bills none of it to the team', async () => {
    await putRoute(gw, 'shadowed', ['sim-llama-serverless'], { shadow: { deployment: 'shadow-fine', percent: 50 } });
    const n = 200;
    let sent = 0;
    const worker = async () => {
      while (sent < n) {
        sent++;
        const { data, response } = await hello('shadowed');
        // The caller's answer is the primary's, whatever the shadow does.
        expect(response.headers.get('x-switchyard-deployment')).toBe('sim-llama-serverless');
        expect(data.choices[0]!.message.content).not.toBe('shadow says hi');
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    await until('the copies to settle', () => settled(), Boolean);
    const copied = upstream.requests('fine');
    // 5 standard errors of a binomial count of 200 at p = 0.5: 100 ± 35. None skipped: a fast shadow never fills 3 slots here.
    const { skipped } = gw.services.deps.shadowTraffic.stats();
    expect(Math.abs(copied + skipped - n / 2)).toBeLessThanOrEqual(5 * Math.sqrt(n * 0.25));
    const shadowRecords = await until(
      'every copy recorded',
      () => records('shadowed'),
      (r) => r.length === copied,
    );
    for (const record of shadowRecords) {
      expect(record).toMatchObject({ alias: 'shadowed', team: 'demo', operation: 'chat', day: today() });
      expect(record.primary).toMatchObject({ deployment: 'sim-llama-serverless', ok: true, outputTokens: 3 });
      expect(record.primary.inputTokens).toBeGreaterThan(0);
      // 3 input and 1 output token at $1 per million each: 4 micro-dollars.
      expect(record.shadow).toMatchObject({
        deployment: 'shadow-fine',
        ok: true,
        inputTokens: 3,
        outputTokens: 1,
        costMicroUsd: 4,
        costRemainderPicoUsd: 0,
        answer: 'shadow says hi',
      });
      expect(record.shadow.latencyMs).toBeGreaterThanOrEqual(0);
    }

    // The team's ledger and /usage hold the 200 requests on the primary and nothing of the shadow.
    await gw.flushUsage();
    const routed = usage.filter((u) => u.alias === 'shadowed');
    expect(routed).toHaveLength(n);
    expect(usage.some((u) => u.deployment.startsWith('shadow-'))).toBe(false);
    const report = await (await gw.call(`/usage?from=${today()}&to=${today()}&team=demo&groupBy=alias,deployment`)).json();
    const rows = report.rows.filter((r: { alias: string }) => r.alias === 'shadowed');
    expect(rows).toEqual([expect.objectContaining({ alias: 'shadowed', deployment: 'sim-llama-serverless', requests: n })]);

    // The summary's numbers are the records' own.
    const summary = await gw.call('/manage/routes/shadowed/shadow', { key: financeKey });
    expect(summary.status).toBe(200);
    const body = await summary.json();
    expect(body).toMatchObject({ alias: 'shadowed', shadowing: { deployment: 'shadow-fine', percent: 50 }, truncated: false });
    expect(body.requests).toBe(shadowRecords.length);
    const latencies = shadowRecords.map((r) => r.shadow.latencyMs).sort((a, b) => a - b);
    const primaryLatencies = shadowRecords.map((r) => r.primary.latencyMs).sort((a, b) => a - b);
    expect(body.shadow).toMatchObject({
      deployments: { 'shadow-fine': shadowRecords.length },
      requests: shadowRecords.length,
      errors: 0,
      errorRate: 0,
      latencyMs: { p50: percentile(latencies, 50), p95: percentile(latencies, 95) },
      tokens: { input: 3 * shadowRecords.length, output: shadowRecords.length },
      costUsd: { totalExact: picoToUsdExact(shadowRecords.reduce((sum, r) => sum + costPicoUsd(r.shadow), 0n)) },
    });
    expect(body.primary).toMatchObject({
      deployments: { 'sim-llama-serverless': shadowRecords.length },
      latencyMs: { p50: percentile(primaryLatencies, 50), p95: percentile(primaryLatencies, 95) },
      tokens: {
        input: shadowRecords.reduce((sum, r) => sum + r.primary.inputTokens, 0),
        output: shadowRecords.reduce((sum, r) => sum + r.primary.outputTokens, 0),
      },
      costUsd: { totalExact: picoToUsdExact(shadowRecords.reduce((sum, r) => sum + costPicoUsd(r.primary), 0n)) },
    });
    expect(body.samples[0]).toMatchObject({ ok: true, answer: 'shadow says hi', team: 'demo' });
  });

  it('the caller has its answer before a held shadow answers, and the copy is recorded once it does', async () => {
    await putRoute(gw, 'shadow-hold', ['sim-llama-serverless'], { shadow: { deployment: 'shadow-held', percent: 100 } });
    const before = upstream.requests('held');
    const { response } = await hello('shadow-hold');
    // Event 1: the caller's answer is complete. The copy is held upstream, so it cannot have answered yet.
    expect(response.status).toBe(200);
    await until(
      'the copy to reach the shadow',
      () => upstream.requests('held'),
      (count) => count === before + 1,
    );
    expect(await records('shadow-hold')).toEqual([]);
    // Event 2: the shadow answers, after the caller's answer.
    held.shift()!.writeHead(200, { 'content-type': 'application/json' }).end(completionJson('late but fine'));
    const [record] = await until(
      'the copy recorded',
      () => records('shadow-hold'),
      (r) => r.length === 1,
    );
    expect(record!.shadow).toMatchObject({ deployment: 'shadow-held', ok: true, answer: 'late but fine' });
  });

  it('a failing or silent shadow changes nothing for the caller and is recorded as an error', async () => {
    await putRoute(gw, 'shadow-broken', ['sim-llama-serverless'], { shadow: { deployment: 'shadow-broken', percent: 100 } });
    const { data, response } = await hello('shadow-broken');
    expect(response.status).toBe(200);
    expect(response.headers.get('x-switchyard-deployment')).toBe('sim-llama-serverless');
    expect(data.choices[0]!.message.content).toEqual(expect.any(String));
    const [broken] = await until(
      'the failure recorded',
      () => records('shadow-broken'),
      (r) => r.length === 1,
    );
    expect(broken!.shadow).toMatchObject({ deployment: 'shadow-broken', ok: false, costMicroUsd: 0 });
    expect(broken!.shadow.error).toMatch(/500/);
    expect(broken!.primary.ok).toBe(true);
    // The shadow's failure is not held against the deployment for routing.
    expect(gw.services.deps.health.coolingUntilMs('shadow-broken')).toBe(0);

    await putRoute(gw, 'shadow-silent', ['sim-llama-serverless'], { shadow: { deployment: 'shadow-held', percent: 100 } });
    expect((await hello('shadow-silent')).response.status).toBe(200);
    const [silent] = await until(
      'the deadline recorded',
      () => records('shadow-silent'),
      (r) => r.length === 1,
    );
    expect(silent!.shadow).toMatchObject({ ok: false, error: `no answer within ${SHADOW_TIMEOUT_MS} ms` });

    const summary = await (await gw.call('/manage/routes/shadow-broken/shadow')).json();
    expect(summary.shadow).toMatchObject({ requests: 1, errors: 1, errorRate: 1, latencyMs: null });
    expect(summary.samples).toEqual([expect.objectContaining({ ok: false, error: broken!.shadow.error })]);
  });

  it('runs at most the configured shadow calls at once; copies beyond are skipped and counted', async () => {
    await until('earlier copies to end', () => settled(), Boolean);
    const before = gw.services.deps.shadowTraffic.stats();
    const heldBefore = upstream.requests('held');
    for (let i = 0; i < MAX_IN_FLIGHT + 2; i++) expect((await hello('shadow-hold')).response.status).toBe(200);
    const after = await until(
      'every copy started or skipped',
      () => gw.services.deps.shadowTraffic.stats(),
      (s) => s.started + s.skipped - before.started - before.skipped === MAX_IN_FLIGHT + 2,
    );
    // Held copies keep their slots until answered or past their deadline; with the requests sent well within it,
    // the first MAX_IN_FLIGHT take the slots.
    expect(after.started - before.started).toBeLessThanOrEqual(MAX_IN_FLIGHT);
    expect(after.skipped - before.skipped).toBeGreaterThanOrEqual(2);
    expect(upstream.requests('held') - heldBefore).toBe(after.started - before.started);
    const body = await (await gw.call('/manage/routes/shadow-hold/shadow')).json();
    expect(body.thisInstance.skipped).toBe(after.skipped);
    while (held.length > 0) held.shift()!.writeHead(200, { 'content-type': 'application/json' }).end(completionJson('released'));
    await until('the held copies to end', () => settled(), Boolean);
  });

  it('a streamed primary is copied as a whole request; its time to first event is kept', async () => {
    await putRoute(gw, 'shadow-stream', ['sim-llama-serverless'], { shadow: { deployment: 'shadow-fine', percent: 100 } });
    const stream = await gw.openai.chat.completions.create({
      model: 'shadow-stream',
      messages: [{ role: 'user', content: 'hello' }],
      max_tokens: 3,
      stream: true,
    });
    for await (const _chunk of stream);
    const [record] = await until(
      'the copy recorded',
      () => records('shadow-stream'),
      (r) => r.length === 1,
    );
    expect(record!.primary.ttftMs).toEqual(expect.any(Number));
    expect(record!.shadow).toMatchObject({ ok: true, answer: 'shadow says hi' });
    expect(record!.shadow.ttftMs).toBeUndefined();
  });

  it('copies embeddings too, without keeping the vectors', async () => {
    await putRoute(gw, 'shadow-embed', ['sim-embed-serverless'], { shadow: { deployment: 'shadow-embed', percent: 100 } });
    const { response } = await gw.openai.embeddings.create({ model: 'shadow-embed', input: 'hello' }).withResponse();
    expect(response.headers.get('x-switchyard-deployment')).toBe('sim-embed-serverless');
    const [record] = await until(
      'the copy recorded',
      () => records('shadow-embed'),
      (r) => r.length === 1,
    );
    expect(record).toMatchObject({
      operation: 'embeddings',
      shadow: { deployment: 'shadow-embed', ok: true, inputTokens: 2, outputTokens: 0 },
    });
    expect(record!.shadow.answer).toBeUndefined();
  });

  it("does not copy a request the primary refused as the caller's fault", async () => {
    await putRoute(gw, 'shadow-filtered', ['sim-llama-serverless'], { shadow: { deployment: 'shadow-fine', percent: 100 } });
    const before = upstream.requests('fine');
    gw.sims!.serverless.injectFaults([{ kind: 'content_filter' }]);
    await expect(hello('shadow-filtered')).rejects.toMatchObject({ status: 400 });
    expect((await hello('shadow-filtered')).response.status).toBe(200);
    const recorded = await until(
      'the second copy recorded',
      () => records('shadow-filtered'),
      (r) => r.length >= 1,
    );
    await until('the copies to settle', () => settled(), Boolean);
    expect(await records('shadow-filtered')).toHaveLength(1);
    expect(recorded[0]!.primary.ok).toBe(true);
    expect(upstream.requests('fine') - before).toBe(1);
  });

  it('copies a Responses request as its chat request', async () => {
    await putRoute(gw, 'shadow-responses', ['sim-llama-serverless'], { shadow: { deployment: 'shadow-fine', percent: 100 } });
    const { response } = await gw.openai.responses.create({ model: 'shadow-responses', input: 'hello', store: false }).withResponse();
    expect(response.headers.get('x-switchyard-deployment')).toBe('sim-llama-serverless');
    const [record] = await until(
      'the copy recorded',
      () => records('shadow-responses'),
      (r) => r.length === 1,
    );
    expect(record).toMatchObject({ operation: 'chat', primary: { ok: true }, shadow: { ok: true, answer: 'shadow says hi' } });
  });

  it('the summary: 400 for bad dates, 404 for an unknown route, 403 for a team key', async () => {
    expect((await gw.call('/manage/routes/shadowed/shadow?from=yesterday')).status).toBe(400);
    expect((await gw.call('/manage/routes/shadowed/shadow?from=2026-01-01&to=2025-12-01')).status).toBe(400);
    expect((await gw.call('/manage/routes/shadowed/shadow?from=2025-01-01&to=2025-06-01')).status).toBe(400);
    expect((await gw.call('/manage/routes/no-such-route/shadow')).status).toBe(404);
    const empty = await (await gw.call('/manage/routes/chat/shadow')).json();
    expect(empty).toMatchObject({ requests: 0, shadowing: null });
    expect((await gw.call('/manage/routes/shadowed/shadow', { key: 'sy-test-demo-key-0123456789abcdef' })).status).toBe(403);
  });
});
