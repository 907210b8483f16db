import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { HOUR_MS } from '../../shared/allocation/allocate-hour.js';
import { closeManagedHours } from '../../shared/gateway/close-managed-hours.js';
import { DEMO_KEY, startTestGateway, type TestGateway, today } from './harness.js';

let gw: TestGateway;
let teamKey: string;
let financeKey: string;
const month = today().slice(0, 7);
const lastDay = new Date(Date.UTC(Number(month.slice(0, 4)), Number(month.slice(5, 7)), 0)).toISOString().slice(0, 10);
const HOSTILE_NAME = '<img src=x onerror="alert(1)"> & Co';

beforeAll(async () => {
  gw = await startTestGateway();
  const route = await gw.call('/manage/routes/acct-serverless', {
    method: 'PUT',
    body: JSON.stringify({ targets: [{ deployment: 'sim-llama-serverless' }] }),
  });
  expect(route.status, await route.clone().text()).toBeLessThan(300);
  const managedRoute = await gw.call('/manage/routes/acct-managed', {
    method: 'PUT',
    body: JSON.stringify({ targets: [{ deployment: 'sim-llama-managed' }] }),
  });
  expect(managedRoute.status).toBeLessThan(300);
  const put = await gw.call('/manage/teams/acct', {
    method: 'PUT',
    body: JSON.stringify({
      name: HOSTILE_NAME,
      aliases: ['acct-serverless', 'acct-managed'],
      budget: { monthlyUsd: 0.00001, enforce: 'soft', alertAt: 0.5 },
    }),
  });
  expect(put.status, await put.clone().text()).toBe(201);
  teamKey = (await (await gw.call('/manage/teams/acct/keys', { method: 'POST', body: '{}' })).json()).key;
  financeKey = (await (await gw.call('/manage/keys', { method: 'POST', body: JSON.stringify({ role: 'finance' }) })).json()).key;
  await gw.services.deps.catalog.refresh();

  const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: teamKey, maxRetries: 0 });
  for (let i = 0; i < 3; i++) {
    await client.chat.completions.create({
      model: 'acct-serverless',
      messages: [{ role: 'user', content: `count to ${i}` }],
      max_tokens: 12,
    });
    await client.chat.completions.create({ model: 'acct-managed', messages: [{ role: 'user', content: `hello ${i}` }], max_tokens: 12 });
  }
  for (let attempt = 0; attempt < 100; attempt++) {
    await gw.flushUsage();
    const rows = await gw.services.deps.readRollups({ from: today(), to: today(), team: 'acct' });
    if (rows.reduce((sum, row) => sum + row.requests, 0) === 6) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const deps = gw.services.deps;
  await closeManagedHours({ ...deps, now: () => deps.now() + HOUR_MS });
});
afterAll(async () => {
  await gw?.close();
});

describe('GET /usage/statements/{team}', () => {
  it('totals equal /usage for the same team and month, to the micro-dollar, with serverless charges and the managed share', async () => {
    const usage = await (await gw.call(`/usage?from=${month}-01&to=${lastDay}&team=acct&groupBy=team`, { key: financeKey })).json();
    const response = await gw.call(`/usage/statements/acct?month=${month}`, { key: financeKey });
    expect(response.status).toBe(200);
    const statement = await response.json();
    expect(statement.totals).toEqual(usage.totals);
    expect(statement.totals.requests).toBe(6);
    expect(statement.totals.serverlessCostUsd).toBeGreaterThan(0);
    expect(statement.totals.managedAllocatedUsd).toBeGreaterThan(0);
    const byLine = Object.fromEntries(
      statement.lines.map((line: { alias: string; deployment: string; requests: number }) => [
        `${line.alias}/${line.deployment}`,
        line.requests,
      ]),
    );
    expect(byLine).toEqual({ 'acct-managed/sim-llama-managed': 3, 'acct-serverless/sim-llama-serverless': 3 });
    expect(statement.budget).toMatchObject({ monthlyUsd: 0.00001, enforce: 'soft' });
    expect(statement.budget.spentUsd).toBeGreaterThan(0.00001);
    expect(statement.alerts.alertedAt).toMatch(/^\d{4}-/);
    expect(statement.alerts.exhaustedAt).toMatch(/^\d{4}-/);
  });

  it('answers CSV with a total line and a printable HTML page with everything escaped', async () => {
    const json = await (await gw.call(`/usage/statements/acct?month=${month}`, { key: teamKey })).json();
    const csv = await gw.call(`/usage/statements/acct?month=${month}&format=csv`, { key: teamKey });
    expect(csv.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    const lines = (await csv.text()).trim().split('\r\n');
    expect(lines.at(-1)!.startsWith('total,,,6,')).toBe(true);
    expect(lines.at(-1)!.endsWith(`,${json.totals.costUsdExact},,,,`)).toBe(true);

    const html = await gw.call(`/usage/statements/acct?month=${month}&format=html`, { key: teamKey });
    expect(html.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(html.headers.get('content-security-policy')).toContain("default-src 'none'");
    const page = await html.text();
    expect(page).toContain('&lt;img src=x onerror=&quot;alert(1)&quot;&gt; &amp; Co');
    expect(page).not.toContain('<img');
    expect(page).toContain(json.totals.costUsdExact);
  });

  it("refuses another team's statement to a team key, ops keys, an unknown team and a bad month", async () => {
    const other = await gw.call(`/usage/statements/demo?month=${month}`, { key: teamKey });
    expect(other.status).toBe(403);
    expect((await other.json()).error.code).toBe('forbidden');
    expect((await gw.call(`/usage/statements/acct`, { key: DEMO_KEY })).status).toBe(403);
    const ops = (await (await gw.call('/manage/keys', { method: 'POST', body: JSON.stringify({ role: 'ops' }) })).json()).key;
    expect((await gw.call('/usage/statements/acct', { key: ops })).status).toBe(403);
    const missing = await gw.call(`/usage/statements/nobody?month=${month}`);
    expect(missing.status).toBe(404);
    const bad = await gw.call('/usage/statements/acct?month=2026-13');
    expect(bad.status).toBe(400);
    expect((await bad.json()).error).toMatchObject({ type: 'invalid_request_error', param: 'month' });
  });
});
