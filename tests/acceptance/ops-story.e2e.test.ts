/**
 * Issue 8's "done when", as one story told over HTTP: an ops key (made by the admin) registers a managed and a
 * serverless deployment, routes an alias managed-first with overflow, watches the overflow under load on two
 * gateway instances at the managed capacity, shadows 5% to a candidate and compares, shifts traffic gradually,
 * drains the old deployment, rolls back a bad change and reads who did what. The application is the `openai`
 * client. The two instances are this process's local gateway (with the embedded store) and a child gateway
 * process on the same store, as two Functions instances would be; neither is refreshed by hand except through
 * the readiness probe a platform calls.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCountingUpstream, type CountingUpstream } from '../e2e/counting-upstream.js';
import { ADMIN_KEY, DEMO_KEY, startTestGateway, today, type TestGateway } from '../e2e/harness.js';
import { GATEWAY_ENTRY, exitWithin, gatewayEnv, killAll, startGatewayProcess, type GatewayProcess } from '../local/gateway-process.js';

const CAPACITY = 4;
const MINUTE = 60_000;
// Leases move faster than the default (1 s) so the story stays short; the catalog refresh is the default (2 s).
const LIVE_ENV = { SWITCHYARD_LIVE_SYNC_MS: '100', SWITCHYARD_LIVE_LEASE_TTL_MS: '2000' };
/** How long the issue gives every instance to agree on a change. */
const AGREE = { timeout: 5_000, interval: 50 };
const poll = { timeout: 10_000, interval: 50 };

let upstream: CountingUpstream;
let gw: TestGateway;
let child: GatewayProcess | undefined;
let dir: string;
let opsKey: string;
let opsKeyId: string;
/** Both instances' base URLs: this process's gateway first, the child's second. */
let instances: string[];
let clients: OpenAI[];
/** A user the half-done shift keeps on the old deployment. */
let stayingUser: string;

beforeAll(async () => {
  upstream = await startCountingUpstream();
  gw = await startTestGateway({ env: LIVE_ENV });
  dir = await mkdtemp(join(tmpdir(), 'sy-ops-story-'));
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
    }),
  );
  instances = [gw.url, child.url];
  clients = instances.map((url) => new OpenAI({ baseURL: `${url}/v1`, apiKey: DEMO_KEY, maxRetries: 0 }));
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

/** A management call as the ops person (or another key), on one instance. */
function call(path: string, init: RequestInit & { key?: string; on?: string } = {}): Promise<Response> {
  const { key = opsKey, on = gw.url, ...rest } = init;
  return fetch(on + path, {
    ...rest,
    headers: { authorization: `Bearer ${key}`, ...(rest.body === undefined ? {} : { 'content-type': 'application/json' }) },
  });
}

async function write(method: 'PUT' | 'PATCH' | 'POST', path: string, body: unknown): Promise<Record<string, unknown>> {
  const response = await call(path, { method, body: JSON.stringify(body) });
  expect(response.status, `${method} ${path}: ${await response.clone().text()}`).toBeLessThan(300);
  return response.json();
}

const loopback = (path: string, kind: 'managed' | 'serverless', extra: Record<string, unknown> = {}) => ({
  kind,
  protocol: 'openai',
  endpoint: `${upstream.url}/${path}`,
  upstreamModel: 'loopback',
  auth: { type: 'none' },
  pricing: kind === 'managed' ? { hourlyUsd: 1, instances: 1 } : { inputPerMillionUsd: 1, outputPerMillionUsd: 1 },
  ...extra,
});

/** One chat request of the application on an instance: who answered it. */
async function ask(client: OpenAI, user?: string): Promise<string> {
  const { response } = await client.chat.completions
    .create({ model: 'story', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2, ...(user ? { user } : {}) })
    .withResponse();
  return response.headers.get('x-switchyard-deployment') ?? '';
}

/** `count` requests split over both instances, a few at a time on each: how many each deployment answered. */
async function landings(count: number): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  let sent = 0;
  const worker = async (client: OpenAI) => {
    while (sent < count) {
      sent++;
      const id = await ask(client);
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: 8 }, (_, i) => worker(clients[i % 2]!)));
  return counts;
}

/** The deployment an instance's routing would try first for the request (null when it would refuse it). */
async function chosenOn(instance: string, user?: string): Promise<string | null> {
  const request = { model: 'story', messages: [{ role: 'user', content: 'hi' }], ...(user ? { user } : {}) };
  const response = await call('/manage/explain', { on: instance, method: 'POST', body: JSON.stringify({ team: 'demo', request }) });
  expect(response.status).toBe(200);
  return (await response.json()).chosen;
}

async function healthOn(instance: string, id: string): Promise<{ state: string; inFlight: number; slots: Record<string, number> }> {
  return (await call(`/manage/deployments/${id}/health`, { on: instance })).json();
}

/** The readiness probe a platform calls: it also brings the instance's catalog up to date. */
async function probed(): Promise<void> {
  for (const instance of instances) expect((await fetch(`${instance}/health/ready`)).status).toBe(200);
}

/** Moves the shift's start back, as if it had begun `agoMs` ago: every instance computes the share from it. */
const backdateShift = (agoMs: number) =>
  write('PATCH', '/manage/routes/story', { shift: { startedAt: new Date(Date.now() - agoMs).toISOString() } });

/** Five standard errors of a binomial count: the bound a share's count must fall within. */
const binomialBound = (n: number, p: number) => 5 * Math.sqrt(n * p * (1 - p));

describe('an ops person switches models safely on two instances', () => {
  it('gets an ops key from the admin, registers a managed and a serverless deployment and routes an alias managed-first', async () => {
    const created = await (await call('/manage/keys', { key: ADMIN_KEY, method: 'POST', body: JSON.stringify({ role: 'ops' }) })).json();
    opsKey = created.key;
    opsKeyId = created.id;
    expect(created.role).toBe('ops');

    await write('PUT', '/manage/deployments/ops-managed', loopback('managed', 'managed', { capacity: { maxConcurrent: CAPACITY } }));
    await write('PUT', '/manage/deployments/ops-serverless', loopback('serverless', 'serverless'));
    await write('PUT', '/manage/routes/story', {
      strategy: 'spillover',
      targets: [{ deployment: 'ops-managed' }, { deployment: 'ops-serverless' }],
    });
    const team = await (await call('/manage/teams/demo')).json();
    await write('PATCH', '/manage/teams/demo', { aliases: [...team.aliases, 'story'] });

    // Both instances know the deployment and hold half of its slots each before any load.
    for (const instance of instances) {
      await expect.poll(async () => Object.values((await healthOn(instance, 'ops-managed')).slots ?? {}).sort(), poll).toEqual([2, 2]);
    }
    for (const instance of instances) await expect.poll(() => chosenOn(instance), AGREE).toBe('ops-managed');
  });

  it('under concurrent load on both instances the managed upstream never holds more than its capacity; the overflow goes serverless', async () => {
    upstream.held.add('managed');
    const PER_INSTANCE = 10;
    const answers = Promise.all(clients.flatMap((client) => Array.from({ length: PER_INSTANCE }, () => ask(client))));
    const reached = () => (upstream.requests.get('managed') ?? 0) + (upstream.requests.get('serverless') ?? 0);
    await expect.poll(reached, poll).toBe(2 * PER_INSTANCE);
    // The managed upstream's own count of requests it held at once: the capacity, not twice it.
    expect(upstream.maxInFlight.get('managed')).toBe(CAPACITY);
    for (const instance of instances)
      await expect.poll(async () => (await healthOn(instance, 'ops-managed')).inFlight, poll).toBe(CAPACITY);
    upstream.release('managed');
    upstream.held.delete('managed');

    const answeredBy = await answers;
    expect(answeredBy.filter((id) => id === 'ops-managed')).toHaveLength(CAPACITY);
    expect(answeredBy.filter((id) => id === 'ops-serverless')).toHaveLength(2 * PER_INSTANCE - CAPACITY);
    expect(upstream.maxInFlight.get('managed')).toBe(CAPACITY);
  });

  it('shadows 5% of the traffic to a candidate and compares it with the primary, side by side', async () => {
    await write('PUT', '/manage/deployments/ops-candidate', loopback('candidate', 'serverless'));
    await write('PATCH', '/manage/routes/story', { shadow: { deployment: 'ops-candidate', percent: 5 } });
    await probed();

    const n = 200;
    const counts = await landings(n);
    // The callers' answers are the primary's; the candidate only gets copies.
    expect(counts.get('ops-candidate')).toBeUndefined();
    // Each instance shows its own shadow calls in flight and skipped (copies not made because its shadow slots were full).
    const shadowViews = () => Promise.all(instances.map(async (on) => (await call('/manage/routes/story/shadow', { on })).json()));
    await expect.poll(async () => (await shadowViews()).every((view) => view.thisInstance.inFlight === 0), poll).toBe(true);
    const skipped = (await shadowViews()).reduce((sum, view) => sum + view.thisInstance.skipped, 0);
    const copies = upstream.requests.get('candidate') ?? 0;
    expect(Math.abs(copies + skipped - n * 0.05)).toBeLessThanOrEqual(binomialBound(n, 0.05));
    expect(copies).toBeGreaterThan(0);

    // Both instances' records reach the store; the summary is the same whichever instance is asked.
    await expect.poll(async () => (await shadowViews()).map((view) => view.requests), poll).toEqual([copies, copies]);
    const [here, there] = await shadowViews();
    expect(there.shadow).toEqual(here.shadow);
    expect(here.shadowing).toEqual({ deployment: 'ops-candidate', percent: 5 });
    expect(here.shadow).toMatchObject({
      deployments: { 'ops-candidate': copies },
      requests: copies,
      errorRate: 0,
      // 3 input and 1 output token at $1 per million each: 4 micro-dollars a copy, recorded apart from the team's bill.
      tokens: { input: 3 * copies, output: copies },
      costUsd: { total: (4 * copies) / 1e6 },
    });
    expect(here.primary.requests).toBe(copies);
    expect(here.primary.errorRate).toBe(0);
    expect(here.shadow.latencyMs.p95).toBeGreaterThanOrEqual(here.shadow.latencyMs.p50);

    // The team is billed for what its callers got, on both instances, and for none of the copies.
    const billed = async () => {
      const usage = `/usage?from=${today()}&to=${today()}&team=demo&groupBy=alias,deployment`;
      const { rows } = await (await call(usage, { key: ADMIN_KEY })).json();
      return Object.fromEntries(
        rows
          .filter((r: { alias: string }) => r.alias === 'story')
          .map((r: { deployment: string; requests: number }) => [r.deployment, r.requests]),
      );
    };
    const answered = 2 * 10 + n;
    await expect.poll(async () => Object.values(await billed()).reduce((a: number, b) => a + (b as number), 0), poll).toBe(answered);
    expect(Object.keys(await billed()).sort()).toEqual(['ops-managed', 'ops-serverless']);

    // Compared: the candidate answers as well, so the ops person stops shadowing and moves traffic to it.
    await write('PATCH', '/manage/routes/story', { shadow: null });
  });

  it('shifts traffic to the candidate gradually: none at first, about half at step 5 of 10, all at the end', async () => {
    const started = await write('PUT', '/manage/routes/story/shift', { to: 'ops-candidate', over: '10m' });
    expect(started.targets).toEqual([{ deployment: 'ops-managed' }, { deployment: 'ops-serverless' }, { deployment: 'ops-candidate' }]);
    expect((await (await call('/manage/routes/story')).json()).shift).toMatchObject({ to: 'ops-candidate', share: 0, steps: 10 });
    expect((await landings(20)).get('ops-candidate')).toBeUndefined();

    await backdateShift(5.5 * MINUTE);
    expect((await (await call('/manage/routes/story')).json()).shift.share).toBe(0.5);
    // A user's draw is a hash of its name: find one the shift moved and one it did not, and wait for both instances to agree.
    const drawn = await Promise.all(
      Array.from({ length: 16 }, async (_, i) => [`user-${i}`, await chosenOn(gw.url, `user-${i}`)] as const),
    );
    const moved = drawn.find(([, chosen]) => chosen === 'ops-candidate')![0];
    stayingUser = drawn.find(([, chosen]) => chosen !== 'ops-candidate')![0];
    await expect.poll(() => chosenOn(child!.url, moved), AGREE).toBe('ops-candidate');
    await expect.poll(() => chosenOn(child!.url, stayingUser), AGREE).not.toBe('ops-candidate');
    const n = 100;
    const counts = await landings(n);
    expect(Math.abs((counts.get('ops-candidate') ?? 0) - n / 2)).toBeLessThanOrEqual(binomialBound(n, 0.5));
  });

  it('drains the old deployment: draining on both instances while requests finish, new ones elsewhere, then disabled', async () => {
    // Once the last load's demand has faded, each instance has a slot of the old deployment for the user again.
    for (const instance of instances) await expect.poll(() => chosenOn(instance, stayingUser), poll).toBe('ops-managed');
    upstream.held.add('managed');
    const before = upstream.requests.get('managed') ?? 0;
    const held = clients.map((client) => ask(client, stayingUser));
    await expect.poll(() => upstream.waiting('managed'), poll).toBe(2);

    await write('PATCH', '/manage/deployments/ops-managed', { enabled: false });
    const drainView = async (instance: string) => {
      const { state, inFlight } = await healthOn(instance, 'ops-managed');
      return { state, inFlight };
    };
    for (const instance of instances) await expect.poll(() => drainView(instance), AGREE).toEqual({ state: 'draining', inFlight: 2 });
    // The same user's next requests go elsewhere on both instances while the old ones finish.
    for (const client of clients) expect(await ask(client, stayingUser)).toBe('ops-serverless');
    expect(upstream.requests.get('managed')).toBe(before + 2);

    upstream.release('managed');
    upstream.held.delete('managed');
    expect(await Promise.all(held)).toEqual(['ops-managed', 'ops-managed']);
    for (const instance of instances) await expect.poll(() => drainView(instance), AGREE).toEqual({ state: 'disabled', inFlight: 0 });

    // The shift completes: every request tries the candidate first.
    await backdateShift(11 * MINUTE);
    for (const instance of instances) await expect.poll(() => chosenOn(instance, stayingUser), AGREE).toBe('ops-candidate');
    expect((await landings(20)).get('ops-candidate')).toBe(20);
    const explained = await call('/manage/explain', {
      method: 'POST',
      body: JSON.stringify({ team: 'demo', request: { model: 'story', messages: [{ role: 'user', content: 'hi' }], user: 'user-1' } }),
    });
    // Why each deployment is where it is, as the ops person reads it.
    expect(await explained.json()).toEqual({
      team: 'demo',
      alias: 'story',
      strategy: 'spillover',
      features: [],
      chosen: 'ops-candidate',
      candidates: ['ops-candidate', 'ops-serverless'],
      considered: [
        {
          deployment: 'ops-candidate',
          taken: true,
          reason: 'first by shift draw (shift to ops-candidate: 100% of requests at step 10 of 10)',
        },
        { deployment: 'ops-managed', taken: false, reason: 'disabled' },
        { deployment: 'ops-serverless', taken: true, reason: 'fallback in order' },
      ],
    });
  });

  it('rolls back a bad change, in force on both instances within 5 s', async () => {
    // The bad change: the route sent only to the drained deployment, so every request is refused.
    await write('PATCH', '/manage/routes/story', { targets: [{ deployment: 'ops-managed' }], shift: null });
    for (const instance of instances) await expect.poll(() => chosenOn(instance), AGREE).toBeNull();
    for (const client of clients) await expect(ask(client)).rejects.toMatchObject({ status: 503 });

    const versions = (await (await call('/manage/routes/story/versions')).json()).data;
    expect(versions[0].action).toBe('patch');
    expect(versions[0].document.targets).toEqual([{ deployment: 'ops-managed' }]);
    const good = versions[1];
    const rolled = await write('POST', '/manage/routes/story/rollback', { version: good.version });
    expect(rolled.targets).toEqual(good.document.targets);

    // Both instances are watched from the moment of the rollback: each must be routing by it within 5 s.
    await Promise.all(instances.map((instance) => expect.poll(() => chosenOn(instance), AGREE).toBe('ops-candidate')));
    for (const client of clients) expect(await ask(client)).toBe('ops-candidate');
  });

  it('reads who did what: every step in the audit names the ops key and its role, the same on both instances', async () => {
    const auditOn = async (on: string) => {
      const response = await call(`/manage/audit?from=${today()}&to=${today()}&actor=${opsKeyId}`, { on, key: ADMIN_KEY });
      expect(response.status).toBe(200);
      return (await response.json()).data as Array<{ actor: unknown; kind: string; id: string; action: string; before: unknown }>;
    };
    const entries = await auditOn(gw.url);
    expect(await auditOn(child!.url)).toEqual(entries);
    for (const entry of entries) expect(entry.actor).toEqual({ keyId: opsKeyId, role: 'ops' });
    expect(entries.map((e) => `${e.action} ${e.kind} ${e.id}`).reverse()).toEqual([
      'put deployment ops-managed',
      'put deployment ops-serverless',
      'put route story',
      'patch team demo',
      'put deployment ops-candidate',
      'patch route story', // shadow 5% to the candidate
      'patch route story', // shadow off
      'shift route story',
      'patch route story', // the shift backdated to step 5
      'patch deployment ops-managed', // drained
      'patch route story', // the shift backdated to its end
      'patch route story', // the bad change
      'rollback route story',
    ]);
    expect(entries[0]).toMatchObject({ action: 'rollback', before: { targets: [{ deployment: 'ops-managed' }] } });
  });
});
