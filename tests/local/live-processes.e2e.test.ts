import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { putLoopbackDeployment, startCountingUpstream, type CountingUpstream } from '../e2e/counting-upstream.js';
import { ADMIN_KEY, DEMO_KEY, putRoute, startTestGateway, type TestGateway } from '../e2e/harness.js';
import { GATEWAY_ENTRY, exitWithin, gatewayEnv, killAll, startGatewayProcess, type GatewayProcess } from './gateway-process.js';

// Capacity and health shared by two gateway processes on one store: this process's gateway (with the embedded
// store) and a child gateway reaching the same store over HTTPS, as a second Functions instance would.

const LIVE_ENV = { SWITCHYARD_LIVE_SYNC_MS: '100', SWITCHYARD_LIVE_LEASE_TTL_MS: '2000', SWITCHYARD_BREAKER_FAILURES: '2' };
const CAPACITY = 4;
const poll = { timeout: 15_000, interval: 50 };

let gw: TestGateway;
let child: GatewayProcess | undefined;
let upstream: CountingUpstream;
let dir: string;

beforeAll(async () => {
  upstream = await startCountingUpstream();
  gw = await startTestGateway({ env: LIVE_ENV });
  dir = await mkdtemp(join(tmpdir(), 'sy-live-'));
  const certificate = join(dir, 'store.pem');
  await writeFile(certificate, gw.store!.certificatePem);
  child = await startGatewayProcess(
    process.execPath,
    GATEWAY_ENTRY,
    gatewayEnv(join(dir, 'data'), {
      ...LIVE_ENV,
      SWITCHYARD_MODE: 'local',
      SWITCHYARD_SIMULATORS: 'off',
      COSMOS_ENDPOINT: gw.store!.endpoint,
      COSMOS_KEY: gw.store!.key,
      NODE_EXTRA_CA_CERTS: certificate,
      SWITCHYARD_ADMIN_KEY: ADMIN_KEY,
      SWITCHYARD_CATALOG_REFRESH_MS: '200',
    }),
  );
  await putLoopbackDeployment(gw, upstream, 'procs-managed', 'managed', { capacity: { maxConcurrent: CAPACITY } });
  await putLoopbackDeployment(gw, upstream, 'procs-serverless', 'serverless');
  await putRoute(gw, 'procs-live', ['procs-managed', 'procs-serverless']);
  await putLoopbackDeployment(gw, upstream, 'procs-flaky', 'flaky');
  await putRoute(gw, 'procs-flaky-only', ['procs-flaky']);
  await putRoute(gw, 'procs-flaky', ['procs-flaky', 'procs-serverless']);
}, 60_000);
afterAll(async () => {
  for (const path of upstream?.held ?? []) upstream.release(path);
  if (child) {
    child.child.kill('SIGTERM');
    await exitWithin(child.exited, 20_000).catch(() => killAll([child!.child.pid!]));
  }
  await gw?.close();
  await upstream?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function chat(url: string, alias: string): Promise<number> {
  return fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${DEMO_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: alias, messages: [{ role: 'user', content: 'hi' }] }),
  }).then(async (response) => {
    await response.arrayBuffer();
    return response.status;
  });
}

async function health(url: string, id: string) {
  return (await fetch(`${url}/manage/deployments/${id}/health`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })).json();
}

describe('two gateway processes on one store', () => {
  it('hold a managed deployment at its capacity under load on both (overshoot 0), the overflow going serverless', async () => {
    // Both processes know the deployment and hold half of its slots each before the load starts.
    const slots = async (url: string) => Object.values((await health(url, 'procs-managed')).slots ?? {}).sort();
    await expect.poll(() => slots(gw.url), poll).toEqual([2, 2]);
    await expect.poll(() => slots(child!.url), poll).toEqual([2, 2]);

    upstream.held.add('managed');
    const answers = Promise.all(Array.from({ length: 20 }, (_, i) => chat(i % 2 === 0 ? gw.url : child!.url, 'procs-live')));
    await expect.poll(() => (upstream.requests.get('managed') ?? 0) + (upstream.requests.get('serverless') ?? 0), poll).toBe(20);
    expect(upstream.maxInFlight.get('managed')).toBe(CAPACITY);
    await expect.poll(async () => (await health(child!.url, 'procs-managed')).inFlight, poll).toBe(CAPACITY);
    upstream.release('managed');
    upstream.held.delete('managed');

    expect(await answers).toEqual(Array(20).fill(200));
    expect(upstream.requests.get('managed')).toBe(CAPACITY);
    expect(upstream.requests.get('serverless')).toBe(20 - CAPACITY);
    expect(upstream.maxInFlight.get('managed')).toBe(CAPACITY);
  });

  it('avoid a deployment on one process once the other found it failing', async () => {
    upstream.failing.add('flaky');
    expect(await chat(gw.url, 'procs-flaky-only')).toBe(502);
    expect(await chat(gw.url, 'procs-flaky-only')).toBe(502);
    await expect.poll(async () => (await health(child!.url, 'procs-flaky')).state, poll).toBe('open');
    const calls = upstream.requests.get('flaky');
    expect(await chat(child!.url, 'procs-flaky')).toBe(200);
    expect(upstream.requests.get('flaky')).toBe(calls);
    expect(upstream.requests.get('serverless')).toBeGreaterThan(0);
  });
});
