import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../shared/config/config.js';
import { createServices, type Services } from '../../shared/composition/services.js';
import { isGatewayError } from '../../shared/errors.js';
import { chatCompletions } from '../../shared/gateway/chat-completions.js';
import type { GatewayRequest } from '../../shared/http/types.js';
import { silentLogger } from '../../shared/log.js';
import { putLoopbackDeployment, startCountingUpstream, type CountingUpstream } from './counting-upstream.js';
import { DEMO_KEY, putRoute, startTestGateway, type TestGateway } from './harness.js';

/**
 * Two instances of the app on one store: the local gateway (over HTTP) and a second set of services built on the
 * same embedded store (called through the chat use case), each with its own DeploymentHealth and live sync.
 */
const LIVE_ENV = {
  SWITCHYARD_LIVE_SYNC_MS: '100',
  SWITCHYARD_LIVE_LEASE_TTL_MS: '2000',
  SWITCHYARD_BREAKER_FAILURES: '2',
  SWITCHYARD_BREAKER_OPEN_MS: '1500',
};
const CAPACITY = 4;

let gw: TestGateway;
let other: Services;
let upstream: CountingUpstream;

/** A chat request on the second instance, through the same use case the HTTP function calls: its status. */
async function askOther(alias: string): Promise<number> {
  const request: GatewayRequest = {
    method: 'POST',
    url: 'http://other.local/v1/chat/completions',
    headers: new Headers({ authorization: `Bearer ${DEMO_KEY}`, 'content-type': 'application/json' }),
    body: new Response(JSON.stringify({ model: alias, messages: [{ role: 'user', content: 'hi' }] })).body as GatewayRequest['body'],
    params: {},
    query: new URLSearchParams(),
  };
  try {
    const response = await chatCompletions(request, other.deps, { requestId: `other-${Math.random()}` });
    return response.status;
  } catch (error) {
    if (isGatewayError(error)) return error.status;
    throw error;
  }
}

async function askGateway(alias: string): Promise<number> {
  const response = await gw.call('/v1/chat/completions', {
    key: DEMO_KEY,
    method: 'POST',
    body: JSON.stringify({ model: alias, messages: [{ role: 'user', content: 'hi' }] }),
  });
  await response.arrayBuffer();
  return response.status;
}

const healthOn = async (id: string) => (await gw.call(`/manage/deployments/${id}/health`)).json();
const poll = { timeout: 10_000, interval: 25 };

beforeAll(async () => {
  upstream = await startCountingUpstream();
  gw = await startTestGateway({ env: LIVE_ENV });
  other = await createServices(loadConfig({ ...LIVE_ENV }), { cosmos: gw.store!.connectionOptions(), log: silentLogger });
  await putLoopbackDeployment(gw, upstream, 'live-managed', 'managed', { capacity: { maxConcurrent: CAPACITY } });
  await putLoopbackDeployment(gw, upstream, 'live-serverless', 'serverless');
  await putRoute(gw, 'live', ['live-managed', 'live-serverless']);
  await putLoopbackDeployment(gw, upstream, 'live-flaky', 'flaky');
  await putRoute(gw, 'flaky-only', ['live-flaky']);
  await putRoute(gw, 'flaky', ['live-flaky', 'live-serverless']);
  await putLoopbackDeployment(gw, upstream, 'live-drain', 'drain');
  await putRoute(gw, 'drain', ['live-drain', 'live-serverless']);
  await other.deps.catalog.refresh();
  await other.deps.liveSync.syncNow();
});
afterAll(async () => {
  // Whatever a failed test left held is answered, so both instances can drain and close.
  for (const path of upstream?.held ?? []) upstream.release(path);
  await other?.close();
  await gw?.close();
  await upstream?.close();
});

describe('capacity shared across two instances', () => {
  it('holds a managed deployment at its capacity under concurrent load on both, overflow landing on serverless', async () => {
    const slots = () => [gw.services.deps.health.lease('live-managed')?.slots, other.deps.health.lease('live-managed')?.slots];
    // A lone instance held all 4; once the second joined, the standby slots are split between them.
    await expect.poll(slots, poll).toEqual([2, 2]);
    upstream.held.add('managed');
    const PER_INSTANCE = 10;
    const answers = Promise.all([
      ...Array.from({ length: PER_INSTANCE }, () => askGateway('live')),
      ...Array.from({ length: PER_INSTANCE }, () => askOther('live')),
    ]);
    // Every request has reached an upstream: the managed one holds what it admitted, the rest spilled.
    await expect
      .poll(() => (upstream.requests.get('managed') ?? 0) + (upstream.requests.get('serverless') ?? 0), poll)
      .toBe(2 * PER_INSTANCE);
    expect(upstream.maxInFlight.get('managed')).toBe(CAPACITY);
    expect(upstream.waiting('managed')).toBe(CAPACITY);
    // The view across instances: in flight on both, each holding its lease.
    await expect.poll(async () => (await healthOn('live-managed')).inFlight, poll).toBe(CAPACITY);
    const view = await healthOn('live-managed');
    expect(view).toMatchObject({ deployment: 'live-managed', state: 'ok', capacity: CAPACITY, instances: 2 });
    expect(Object.values(view.slots).reduce((a: number, b) => a + (b as number), 0)).toBeLessThanOrEqual(CAPACITY);

    upstream.release('managed');
    upstream.held.delete('managed');
    expect(await answers).toEqual(Array(2 * PER_INSTANCE).fill(200));
    expect(upstream.requests.get('managed')).toBe(CAPACITY);
    expect(upstream.requests.get('serverless')).toBe(2 * PER_INSTANCE - CAPACITY);
    expect(upstream.maxInFlight.get('managed')).toBe(CAPACITY);
  });
});

describe('health shared across two instances', () => {
  it("opens a failing deployment's breaker on one instance; the other avoids it after its next sync; it half-opens and a probe closes it", async () => {
    upstream.failing.add('flaky');
    expect(await askGateway('flaky-only')).toBe(502);
    expect(await askGateway('flaky-only')).toBe(502);
    const open = await healthOn('live-flaky');
    expect(open).toMatchObject({ state: 'open', breaker: { state: 'open', reason: '2 consecutive failures' }, requests: 2, errorRate: 1 });
    expect(open.breaker.remainingMs).toBeGreaterThan(0);
    expect(open.cooldown).toMatchObject({ reason: 'backoff after 2 failures' });
    const explained = await gw.call('/manage/explain', {
      method: 'POST',
      body: JSON.stringify({ team: 'demo', request: { model: 'flaky', messages: [{ role: 'user', content: 'hi' }] } }),
    });
    const { considered, chosen } = await explained.json();
    expect(chosen).toBe('live-serverless');
    expect(considered[0].reason).toMatch(/^breaker open for \d+ ms \(2 consecutive failures\)$/);

    // The second instance never called it, yet after a sync its routing skips it.
    await expect.poll(() => other.deps.health.breaker('live-flaky').state, poll).toBe('open');
    const flakyCalls = upstream.requests.get('flaky');
    expect(await askOther('flaky')).toBe(200);
    expect(upstream.requests.get('flaky')).toBe(flakyCalls);

    // After the open period: half-open, one probe; the upstream has recovered, so the probe closes it.
    upstream.failing.delete('flaky');
    await expect.poll(async () => (await healthOn('live-flaky')).state, { timeout: 10_000, interval: 50 }).toBe('half-open');
    expect(await askGateway('flaky-only')).toBe(200);
    expect(upstream.requests.get('flaky')).toBe(flakyCalls! + 1);
    expect((await healthOn('live-flaky')).breaker).toEqual({ state: 'closed', reason: '', remainingMs: 0 });
  });

  it('drains a disabled deployment across both instances: draining while either has a request in flight, then disabled', async () => {
    upstream.held.add('drain');
    const first = askGateway('drain');
    const second = askOther('drain');
    await expect.poll(() => upstream.waiting('drain'), poll).toBe(2);
    const patched = await gw.call('/manage/deployments/live-drain', { method: 'PATCH', body: JSON.stringify({ enabled: false }) });
    expect(patched.status).toBe(200);
    await other.deps.catalog.refresh();

    const drainView = async () => {
      const { state, inFlight } = await healthOn('live-drain');
      return { state, inFlight };
    };
    await expect.poll(drainView, poll).toEqual({ state: 'draining', inFlight: 2 });
    // New requests go elsewhere while the old ones finish.
    expect(await askGateway('drain')).toBe(200);
    expect(upstream.requests.get('drain')).toBe(2);

    upstream.release('drain', 1);
    await expect.poll(drainView, poll).toEqual({ state: 'draining', inFlight: 1 });
    upstream.release('drain');
    await expect.poll(drainView, poll).toEqual({ state: 'disabled', inFlight: 0 });
    expect(await Promise.all([first, second])).toEqual([200, 200]);
  });

  it('shows a one-day Retry-After capped: asked and applied, with the reason', async () => {
    await putLoopbackDeployment(gw, upstream, 'live-throttled', 'throttled');
    await putRoute(gw, 'throttled', ['live-throttled']);
    upstream.throttled.add('throttled');
    expect(await askGateway('throttled')).toBe(429);
    const view = await healthOn('live-throttled');
    expect(view).toMatchObject({
      state: 'cooling',
      // A 429 is capacity, not a fault: the breaker stays closed.
      breaker: { state: 'closed' },
      cooldown: { reason: 'throttled: Retry-After', askedMs: 86_400_000, appliedMs: 300_000 },
    });
    expect(view.cooldown.remainingMs).toBeLessThanOrEqual(300_000);
    // The other instance keeps away too after its next sync.
    await expect.poll(() => other.deps.health.coolingUntilMs('live-throttled') > Date.now(), poll).toBe(true);
    expect(other.deps.health.report(other.deps.catalog.current().deployments.get('live-throttled')!).cooldown).toMatchObject({
      reason: 'throttled: Retry-After on another instance',
      askedMs: 86_400_000,
      appliedMs: 300_000,
    });
  });

  it('lists every deployment in the health view and answers 404 for an unknown or malformed id', async () => {
    const list = await (await gw.call('/manage/health/deployments')).json();
    const ids = list.data.map((d: { deployment: string }) => d.deployment);
    expect(ids).toEqual([...ids].sort());
    expect(ids).toEqual(expect.arrayContaining(['live-managed', 'live-flaky', 'live-drain']));
    expect((await gw.call('/manage/deployments/nope/health')).status).toBe(404);
    expect((await gw.call('/manage/deployments/NOPE!/health')).status).toBe(404);
  });
});
