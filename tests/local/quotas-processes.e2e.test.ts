import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { monthOf } from '../../shared/limits/quota-windows.js';
import { countChatPromptTokens } from '../../shared/usage/count-tokens.js';
import { ADMIN_KEY, DEMO_KEY, putSimDeployment, startTestGateway, type TestGateway } from '../e2e/harness.js';
import { GATEWAY_ENTRY, exitWithin, gatewayEnv, killAll, startGatewayProcess, type GatewayProcess } from './gateway-process.js';

// Budgets and rate limits held by two gateway processes on one store: this process's gateway (with the embedded
// store) and a child gateway that reaches the same store over HTTPS, as a second Functions instance would.

const SIM_KEY = 'sim-key-processes-0123456789';
const MESSAGES = [{ role: 'user', content: 'Say something short.' }];
const MAX_TOKENS = 100;
const PRICE_PER_MILLION = 10;
const WORST_MICRO = (countChatPromptTokens(MESSAGES) + MAX_TOKENS) * PRICE_PER_MILLION;

let gw: TestGateway;
let child: GatewayProcess | undefined;
let dir: string;

beforeAll(async () => {
  gw = await startTestGateway({ env: { UPSTREAM_SIM_KEY: SIM_KEY } });
  dir = await mkdtemp(join(tmpdir(), 'sy-quotas-'));
  const certificate = join(dir, 'store.pem');
  await writeFile(certificate, gw.store!.certificatePem);
  child = await startGatewayProcess(
    process.execPath,
    GATEWAY_ENTRY,
    gatewayEnv(join(dir, 'data'), {
      SWITCHYARD_MODE: 'local',
      COSMOS_ENDPOINT: gw.store!.endpoint,
      COSMOS_KEY: gw.store!.key,
      NODE_EXTRA_CA_CERTS: certificate,
      UPSTREAM_SIM_KEY: SIM_KEY,
      SWITCHYARD_ADMIN_KEY: ADMIN_KEY,
      SWITCHYARD_DEMO_KEY: DEMO_KEY,
      SWITCHYARD_CATALOG_REFRESH_MS: '200',
      SWITCHYARD_LEDGER_FLUSH_MS: '50',
    }),
  );
  const pricing = { inputPerMillionUsd: PRICE_PER_MILLION, outputPerMillionUsd: PRICE_PER_MILLION };
  expect((await putSimDeployment(gw, 'procs-dep', { pricing })).status).toBe(201);
  const route = await gw.call('/manage/routes/procs', { method: 'PUT', body: JSON.stringify({ targets: [{ deployment: 'procs-dep' }] }) });
  expect(route.status).toBe(201);
}, 60_000);
afterAll(async () => {
  if (child) {
    child.child.kill('SIGTERM');
    await exitWithin(child.exited, 20_000).catch(() => killAll([child!.child.pid!]));
  }
  await gw?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A team on the alias, and its key once both processes know it. */
async function teamWith(id: string, extra: Record<string, unknown>): Promise<string> {
  const put = await gw.call(`/manage/teams/${id}`, { method: 'PUT', body: JSON.stringify({ name: id, aliases: ['procs'], ...extra }) });
  expect(put.status).toBe(201);
  const { key } = await (await gw.call(`/manage/teams/${id}/keys`, { method: 'POST', body: '{}' })).json();
  await gw.services.deps.catalog.refresh();
  await expect
    .poll(async () => (await fetch(`${child!.url}/v1/models`, { headers: { authorization: `Bearer ${key}` } })).status, {
      timeout: 10_000,
      interval: 50,
    })
    .toBe(200);
  return key;
}

function chat(url: string, key: string, extra: Record<string, unknown> = {}): Promise<Response> {
  return fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'procs', messages: MESSAGES, max_tokens: MAX_TOKENS, ...extra }),
  });
}

async function settledBudget(team: string) {
  const read = () => gw.services.deps.quotas.read(team, monthOf(Date.now()));
  await expect.poll(async () => (await read())?.reservedMicroUsd, { timeout: 10_000, interval: 20 }).toBe(0);
  return (await read())!;
}

async function ledgerCostMicro(team: string, requests: number): Promise<number> {
  const day = new Date().toISOString().slice(0, 10);
  const rows = async () => gw.services.deps.readRollups({ from: day, to: day, team });
  await gw.flushUsage();
  // The child writes its own records; wait until both processes' are in.
  await expect.poll(async () => (await rows()).reduce((n, r) => n + r.requests, 0), { timeout: 10_000, interval: 50 }).toBe(requests);
  return (await rows()).reduce((sum, r) => sum + r.costMicroUsd + (r.costRemainderPicoUsd ?? 0) / 1_000_000, 0);
}

describe('two gateway processes on one store', () => {
  it('never spend past a hard budget that fits 10, with 40 requests (half of them streamed) split between them', async () => {
    const limitMicro = 10 * WORST_MICRO + WORST_MICRO / 2;
    const key = await teamWith('procs-budget', { budget: { monthlyUsd: limitMicro / 1_000_000, enforce: 'hard' } });
    const responses = await Promise.all(
      Array.from({ length: 40 }, (_, i) => chat(i % 2 === 0 ? gw.url : child!.url, key, i % 4 < 2 ? {} : { stream: true })),
    );
    const ok = responses.filter((r) => r.status === 200);
    expect(ok.length).toBeGreaterThanOrEqual(10);
    for (const r of responses.filter((r) => r.status !== 200)) {
      expect(r.status).toBe(429);
      expect((await r.json()).error.code).toBe('budget_exceeded');
    }
    await Promise.all(ok.map((r) => r.text()));
    expect((await settledBudget('procs-budget')).spentMicroUsd).toBeLessThanOrEqual(limitMicro);
    expect(await ledgerCostMicro('procs-budget', ok.length)).toBeLessThanOrEqual(limitMicro);
  });

  it('answer exactly rpm requests of 30 split between them (overshoot 0), refusing the rest with 429 rate_limit_exceeded', async () => {
    const key = await teamWith('procs-rpm', { limits: { rpm: 10 } });
    // Within one minute window: wait out the end of a minute that has less than 10 s left.
    const leftMs = 60_000 - (Date.now() % 60_000);
    if (leftMs < 10_000) await new Promise((resolve) => setTimeout(resolve, leftMs + 100));
    const responses = await Promise.all(Array.from({ length: 30 }, (_, i) => chat(i % 2 === 0 ? gw.url : child!.url, key)));
    const ok = responses.filter((r) => r.status === 200);
    expect(ok).toHaveLength(10);
    const remaining = ok.map((r) => Number(r.headers.get('x-ratelimit-remaining-requests'))).sort((a, b) => a - b);
    expect(remaining).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    for (const r of responses.filter((r) => r.status !== 200)) {
      expect(r.status).toBe(429);
      expect((await r.json()).error.code).toBe('rate_limit_exceeded');
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    }
  });
});
