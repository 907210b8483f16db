import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_KEY, putRoute, putSimDeployment, startTestGateway, today, type TestGateway } from './harness.js';

let gw: TestGateway;

beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(async () => {
  await gw?.close();
});

const validDeployment = {
  kind: 'serverless',
  protocol: 'azure-openai',
  endpoint: 'https://my-resource.openai.azure.com',
  upstreamModel: 'gpt-4o-mini',
  auth: { type: 'entra', scope: 'https://cognitiveservices.azure.com/.default' },
  pricing: { inputPerMillionUsd: 0.15, outputPerMillionUsd: 0.6 },
};

describe('management API', () => {
  it('guards every document with role keys', async () => {
    expect((await gw.call('/manage/deployments', { key: null })).status).toBe(401);
    const teamKey = await gw.call('/manage/deployments', { key: DEMO_KEY });
    expect(teamKey.status).toBe(403);
    expect((await teamKey.json()).error.code).toBe('forbidden');
    expect((await gw.call('/manage/deployments')).status).toBe(200);
  });

  it('validates deployments, naming the offending field, and refuses endpoints outside the allow-list', async () => {
    const unknownField = await gw.call('/manage/deployments/d1', {
      method: 'PUT',
      body: JSON.stringify({ ...validDeployment, colour: 'red' }),
    });
    expect(unknownField.status).toBe(400);
    expect((await unknownField.json()).error.message).toMatch(/unknown field 'colour'/);
    const wrongPricing = await gw.call('/manage/deployments/d1', {
      method: 'PUT',
      body: JSON.stringify({ ...validDeployment, pricing: { hourlyUsd: 3, instances: 1 } }),
    });
    expect((await wrongPricing.json()).error.message).toMatch(/pricing/);
    for (const endpoint of [
      'https://evil.example.com',
      'http://my-resource.openai.azure.com',
      'https://169.254.169.254',
      'https://10.0.0.5',
      'https://openai.azure.com.evil.com',
    ]) {
      const refused = await gw.call('/manage/deployments/d1', { method: 'PUT', body: JSON.stringify({ ...validDeployment, endpoint }) });
      expect(refused.status, endpoint).toBe(400);
      expect((await refused.json()).error.param).toBe('endpoint');
    }
    const secretValue = await gw.call('/manage/deployments/d1', {
      method: 'PUT',
      body: JSON.stringify({ ...validDeployment, auth: { type: 'key', secret: 'sk-live-abc123/xyz==' } }),
    });
    expect(secretValue.status).toBe(400);
    const ok = await gw.call('/manage/deployments/d1', { method: 'PUT', body: JSON.stringify(validDeployment) });
    expect(ok.status).toBe(201);
    expect(ok.headers.get('etag')).toBeTruthy();
    expect(await ok.json()).toMatchObject({ id: 'd1', enabled: true, serves: ['chat'], tags: [] });
  });

  it('honours If-Match: a stale ETag gets 412 and changes nothing', async () => {
    const first = await gw.call('/manage/deployments/d2', { method: 'PUT', body: JSON.stringify(validDeployment) });
    const etag = first.headers.get('etag')!;
    const second = await gw.call('/manage/deployments/d2', {
      method: 'PUT',
      headers: { 'if-match': etag },
      body: JSON.stringify({ ...validDeployment, region: 'eastus2' }),
    });
    expect(second.status).toBe(200);
    const stale = await gw.call('/manage/deployments/d2', {
      method: 'PUT',
      headers: { 'if-match': etag },
      body: JSON.stringify({ ...validDeployment, region: 'westus' }),
    });
    expect(stale.status).toBe(412);
    expect((await stale.json()).error.code).toBe('precondition_failed');
    const current = await gw.call('/manage/deployments/d2');
    expect((await current.json()).region).toBe('eastus2');
    expect(current.headers.get('etag')).toBe(second.headers.get('etag'));
  });

  it('refuses a route naming an unknown deployment', async () => {
    const response = await gw.call('/manage/routes/ghost', {
      method: 'PUT',
      body: JSON.stringify({ targets: [{ deployment: 'does-not-exist' }] }),
    });
    expect(response.status).toBe(400);
    expect((await response.json()).error.message).toMatch(/does-not-exist/);
  });

  it('puts a newly registered deployment into traffic from the next request on, with its tokens exact in /usage', async () => {
    expect((await putSimDeployment(gw, 'fresh-serverless', { pricing: { inputPerMillionUsd: 2, outputPerMillionUsd: 6 } })).status).toBe(
      201,
    );
    await putRoute(gw, 'fresh', ['fresh-serverless']);
    gw.sims!.serverless.resetStats();
    const { data, response } = await gw.openai.chat.completions
      .create({ model: 'fresh', messages: [{ role: 'user', content: 'new route' }], max_tokens: 10 })
      .withResponse();
    expect(response.headers.get('x-switchyard-deployment')).toBe('fresh-serverless');
    await gw.flushUsage();
    const usage = await (await gw.call(`/usage?from=${today()}&to=${today()}&groupBy=alias,deployment,kind`)).json();
    const row = usage.rows.find((r: { alias: string }) => r.alias === 'fresh');
    const stats = gw.sims!.serverless.stats();
    expect(row).toMatchObject({
      deployment: 'fresh-serverless',
      kind: 'serverless',
      requests: 1,
      inputTokens: stats.promptTokens,
      outputTokens: stats.completionTokens,
    });
    expect(data.usage!.prompt_tokens).toBe(stats.promptTokens);
    expect(row.costMicroUsd).toBe(stats.promptTokens * 2 + stats.completionTokens * 6);
  });

  it('patches a team, and issues team keys shown once, stored hashed, revocable', async () => {
    const patched = await gw.call('/manage/teams/demo', { method: 'PATCH', body: JSON.stringify({ tags: ['confidential'] }) });
    expect(patched.status).toBe(200);
    expect(await patched.json()).toMatchObject({ id: 'demo', tags: ['confidential'] });
    const badPatch = await gw.call('/manage/teams/demo', { method: 'PATCH', body: JSON.stringify({ budget: 5 }) });
    expect(badPatch.status).toBe(400);

    const created = await gw.call('/manage/teams/demo/keys', { method: 'POST', body: '{}' });
    expect(created.status).toBe(201);
    const { id, key } = await created.json();
    expect(key).toMatch(/^sy-/);
    const models = await gw.call('/v1/models', { key });
    expect(models.status).toBe(200);
    const everything = JSON.stringify(await (await gw.call('/manage/teams')).json());
    expect(everything).not.toContain(key);
    expect((await gw.call(`/manage/teams/demo/keys/${id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await gw.call('/v1/models', { key })).status).toBe(401);
  });

  it('lets only admin create role keys, and a finance key read usage but not manage', async () => {
    expect((await gw.call('/manage/keys', { method: 'POST', body: JSON.stringify({ role: 'finance' }), key: DEMO_KEY })).status).toBe(403);
    expect((await gw.call('/manage/keys', { method: 'POST', body: JSON.stringify({ role: 'root' }) })).status).toBe(400);
    const created = await gw.call('/manage/keys', { method: 'POST', body: JSON.stringify({ role: 'finance' }) });
    expect(created.status).toBe(201);
    const { key } = await created.json();
    expect((await gw.call(`/usage?from=${today()}&to=${today()}`, { key })).status).toBe(200);
    expect((await gw.call('/manage/deployments', { key })).status).toBe(403);
    const ops = await (await gw.call('/manage/keys', { method: 'POST', body: JSON.stringify({ role: 'ops' }) })).json();
    expect((await gw.call('/manage/routes', { key: ops.key })).status).toBe(200);
    expect((await gw.call(`/usage?from=${today()}&to=${today()}`, { key: ops.key })).status).toBe(403);
  });

  it('shows a team key its own usage only', async () => {
    const own = await gw.call(`/usage?from=${today()}&to=${today()}&groupBy=team`, { key: DEMO_KEY });
    expect(own.status).toBe(200);
    expect((await own.json()).rows.every((r: { team: string }) => r.team === 'demo')).toBe(true);
    expect((await gw.call(`/usage?from=${today()}&to=${today()}&team=other`, { key: DEMO_KEY })).status).toBe(403);
    const bad = await gw.call(`/usage?from=2026-02-30&to=${today()}`, { key: DEMO_KEY });
    expect(bad.status).toBe(400);
    expect((await gw.call(`/usage?from=${today()}&to=${today()}&groupBy=colour`)).status).toBe(400);
  });
});
