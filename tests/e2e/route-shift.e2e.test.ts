import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServices, type Services } from '../../shared/composition/services.js';
import { loadConfig } from '../../shared/config/config.js';
import type { GatewayDeps } from '../../shared/gateway/gateway-deps.js';
import { routingDecision } from '../../shared/gateway/inference-request.js';
import { silentLogger } from '../../shared/log.js';
import { seededRandom } from '../../shared/seeded-random.js';
import { putRoute, putSimDeployment, startTestGateway, today, type TestGateway } from './harness.js';

let gw: TestGateway;
let other: Services;
let opsKey: string;
let opsKeyId: string;

const MINUTE = 60_000;

beforeAll(async () => {
  gw = await startTestGateway();
  const created = await (await gw.call('/manage/keys', { method: 'POST', body: JSON.stringify({ role: 'ops' }) })).json();
  opsKey = created.key;
  opsKeyId = created.id;
  for (const id of ['shift-old', 'shift-new'])
    expect((await putSimDeployment(gw, id, { serves: ['chat'], upstreamModel: 'sim-model' })).status).toBe(201);
  expect((await putSimDeployment(gw, 'shift-off', { serves: ['chat'], enabled: false })).status).toBe(201);
  expect((await putSimDeployment(gw, 'shift-embed', { serves: ['embeddings'] })).status).toBe(201);
  await putRoute(gw, 'shifty', ['shift-old']);
  // A second instance on the same store; its catalog refreshes only when the test says so.
  other = await createServices(loadConfig({}), { cosmos: gw.store!.connectionOptions(), log: silentLogger });
  other.deps.catalog.stop();
});
afterAll(async () => {
  await other?.close();
  await gw?.close();
});

const shift = (alias: string, body: unknown, headers: Record<string, string> = {}) =>
  gw.call(`/manage/routes/${alias}/shift`, { method: 'PUT', body: JSON.stringify(body), key: opsKey, headers });
const abort = (alias: string) => gw.call(`/manage/routes/${alias}/shift`, { method: 'DELETE', key: opsKey });

/** Sends `count` chat requests on the alias, a few at a time, and counts who answered by x-switchyard-deployment. */
async function landings(alias: string, count: number): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  let sent = 0;
  const worker = async () => {
    while (sent < count) {
      sent++;
      const { response } = await gw.openai.chat.completions
        .create({ model: alias, messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 })
        .withResponse();
      const id = response.headers.get('x-switchyard-deployment') ?? '';
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return counts;
}

/** Rewrites the route's shift as if it had started `agoMs` ago: each instance computes its share from the document. */
async function backdateShift(alias: string, agoMs: number): Promise<void> {
  const route = await (await gw.call(`/manage/routes/${alias}`)).json();
  route.shift.startedAt = new Date(Date.now() - agoMs).toISOString();
  const put = await gw.call(`/manage/routes/${alias}`, { method: 'PUT', body: JSON.stringify(route) });
  expect(put.status, await put.clone().text()).toBe(200);
}

describe('PUT /manage/routes/{alias}/shift', () => {
  it('refuses an unknown, disabled or off-capability `to` and a bad `over`, naming the field', async () => {
    const cases: Array<[unknown, string, RegExp]> = [
      [{ to: 'nowhere', over: '10m' }, 'to', /nowhere/],
      [{ to: 'shift-off', over: '10m' }, 'to', /disabled.*shift-off/],
      [{ to: 'shift-embed', over: '10m' }, 'to', /shift-embed.*does not serve chat/],
      [{ to: 'shift-new', over: '5s' }, 'over', /10s to 7d/],
      [{ to: 'shift-new', over: '8d' }, 'over', /10s to 7d/],
      [{ to: 'shift-new', over: 'ten minutes' }, 'over', /duration/],
      [{ to: 'shift-new', over: '10m', steps: 0 }, 'steps', /steps/],
      [{ to: 'shift-new' }, 'over', /over/],
    ];
    for (const [body, param, message] of cases) {
      const response = await shift('shifty', body);
      const error = (await response.json()).error;
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(error.code).toBe('invalid_request_error');
      expect(error.param).toBe(param);
      expect(error.message).toMatch(message);
    }
    expect((await shift('no-such-route', { to: 'shift-new', over: '10m' })).status).toBe(404);
    const route = await (await gw.call('/manage/routes/shifty')).json();
    expect(route.shift).toBeUndefined();
  });

  it('starts a shift: adds `to` as a target, shows share and next step, and audits and versions it as the ops key', async () => {
    const started = await shift('shifty', { to: 'shift-new', over: '10m' });
    expect(started.status, await started.clone().text()).toBe(200);
    const written = await started.json();
    expect(written.targets).toEqual([{ deployment: 'shift-old' }, { deployment: 'shift-new' }]);
    expect(written.shift).toMatchObject({ to: 'shift-new', overMs: 10 * MINUTE, steps: 10 });

    const shown = await (await gw.call('/manage/routes/shifty')).json();
    expect(shown.shift.share).toBe(0);
    expect(Date.parse(shown.shift.nextStepAt) - Date.parse(shown.shift.startedAt)).toBe(MINUTE);
    const listed = await (await gw.call('/manage/routes')).json();
    expect(listed.data.find((r: { alias: string }) => r.alias === 'shifty').shift).toEqual(shown.shift);

    // Before the first step, nothing goes to the new deployment first.
    expect((await landings('shifty', 10)).get('shift-old')).toBe(10);

    const audit = await (await gw.call(`/manage/audit?from=${today()}&to=${today()}&kind=route`)).json();
    const entry = audit.data.find((e: { id: string; action: string }) => e.id === 'shifty' && e.action === 'shift');
    expect(entry.actor).toEqual({ keyId: opsKeyId, role: 'ops' });
    expect(entry.before.shift).toBeUndefined();
    expect(entry.after.shift.to).toBe('shift-new');
    const versions = await (await gw.call('/manage/routes/shifty/versions')).json();
    expect(versions.data[0].action).toBe('shift');
  });

  it('at a step of 50%, about half the requests land on `to` first (binomial bounds)', async () => {
    await backdateShift('shifty', 5.5 * MINUTE);
    const shown = await (await gw.call('/manage/routes/shifty')).json();
    expect(shown.shift.share).toBe(0.5);
    const n = 200;
    const counts = await landings('shifty', n);
    expect((counts.get('shift-new') ?? 0) + (counts.get('shift-old') ?? 0)).toBe(n);
    // 5 standard errors of a binomial share of 200 at p = 0.5: 100 ± 35.
    expect(Math.abs((counts.get('shift-new') ?? 0) - n / 2)).toBeLessThanOrEqual(5 * Math.sqrt(n * 0.25));

    const explained = await (
      await gw.call('/manage/explain', {
        method: 'POST',
        body: JSON.stringify({ team: 'demo', request: { model: 'shifty', messages: [{ role: 'user', content: 'hi' }], user: 'u1' } }),
      })
    ).json();
    const reason = explained.considered.find((c: { deployment: string }) => c.deployment === 'shift-new').reason;
    expect(reason).toMatch(/^(first|last) by shift draw \(shift to shift-new: 50% of requests at step 5 of 10\)$/);
  });

  it('at 100% every request goes to `to` first, the old deployment stays a fallback', async () => {
    await backdateShift('shifty', 11 * MINUTE);
    const shown = await (await gw.call('/manage/routes/shifty')).json();
    expect(shown.shift).toMatchObject({ share: 1, nextStepAt: null });
    expect((await landings('shifty', 20)).get('shift-new')).toBe(20);
    const explained = await (
      await gw.call('/manage/explain', {
        method: 'POST',
        body: JSON.stringify({ team: 'demo', request: { model: 'shifty', messages: [{ role: 'user', content: 'hi' }] } }),
      })
    ).json();
    expect(explained.candidates).toEqual(['shift-new', 'shift-old']);
  });

  it('aborting freezes the share and is audited; a second abort is 404', async () => {
    await backdateShift('shifty', 3.5 * MINUTE);
    const aborted = await abort('shifty');
    expect(aborted.status, await aborted.clone().text()).toBe(200);
    expect((await aborted.json()).shift.abortedAt).toEqual(expect.any(String));
    const shown = await (await gw.call('/manage/routes/shifty')).json();
    expect(shown.shift).toMatchObject({ share: 0.3, nextStepAt: null });
    expect((await abort('shifty')).status).toBe(404);
    expect((await abort('chat')).status).toBe(404);

    const audit = await (await gw.call(`/manage/audit?from=${today()}&to=${today()}&kind=route`)).json();
    const entry = audit.data.find((e: { id: string; action: string }) => e.id === 'shifty' && e.action === 'abort-shift');
    expect(entry.actor).toEqual({ keyId: opsKeyId, role: 'ops' });
    expect(entry.before.shift.abortedAt).toBeUndefined();
    expect(entry.after.shift.abortedAt).toEqual(expect.any(String));
  });

  it('honours If-Match: a stale ETag is 412 and changes nothing', async () => {
    const current = await gw.call('/manage/routes/shifty');
    const etag = current.headers.get('etag')!;
    const fresh = await shift('shifty', { to: 'shift-new', over: '1h', steps: 4 }, { 'if-match': etag });
    expect(fresh.status).toBe(200);
    expect((await fresh.json()).shift).toMatchObject({ overMs: 60 * MINUTE, steps: 4 });
    const stale = await shift('shifty', { to: 'shift-new', over: '2h' }, { 'if-match': etag });
    expect(stale.status).toBe(412);
    expect((await (await gw.call('/manage/routes/shifty')).json()).shift.overMs).toBe(60 * MINUTE);
  });

  it('on a weighted route a new `to` joins with weight 0, so only the shift sends it traffic', async () => {
    const put = await gw.call('/manage/routes/weighty', {
      method: 'PUT',
      body: JSON.stringify({ strategy: 'weighted', targets: [{ deployment: 'shift-old', weight: 1 }] }),
    });
    expect(put.status).toBe(201);
    const started = await shift('weighty', { to: 'shift-new', over: '30s' });
    expect(started.status).toBe(200);
    expect((await started.json()).targets).toEqual([
      { deployment: 'shift-old', weight: 1 },
      { deployment: 'shift-new', weight: 0 },
    ]);
  });

  it('every instance computes the same share from the document and its own clock: no job moves it', async () => {
    await putRoute(gw, 'shift-two', ['shift-old']);
    const started = await shift('shift-two', { to: 'shift-new', over: '10m' });
    expect(started.status).toBe(200);
    const startedAtMs = Date.parse((await started.json()).shift.startedAt);
    await other.deps.catalog.refreshIfChanged();
    const team = gw.services.deps.catalog.current().teams.get('demo')!;
    // Each instance's routing, on an injected clock and random: the same document gives the same first picks.
    const firstPicks = (deps: GatewayDeps, atMs: number) => {
      const instance = { ...deps, now: () => atMs, random: seededRandom(11) };
      const route = instance.catalog.current().routes.get('shift-two')!;
      return Array.from({ length: 400 }, () => routingDecision(route, team, 'chat', instance).candidates[0]!.id);
    };
    for (const [atMs, share] of [
      [startedAtMs + 30_000, 0],
      [startedAtMs + 5.5 * MINUTE, 0.5],
      [startedAtMs + 10 * MINUTE, 1],
    ] as const) {
      const here = firstPicks(gw.services.deps, atMs);
      expect(firstPicks(other.deps, atMs)).toEqual(here);
      const moved = here.filter((id) => id === 'shift-new').length;
      expect(Math.abs(moved - 400 * share)).toBeLessThanOrEqual(5 * Math.sqrt(400 * share * (1 - share)));
    }
  });
});
