import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simulatorCanaries, startContentSafetySim, type ContentSafetySim } from '../../local/simulators/content-safety-sim.js';
import { createContentSafety } from '../../shared/composition/content-safety.js';
import { createSender, createUpstreamDispatcher } from '../../shared/upstreams/send-upstream.js';
import { startTestGateway, type TestGateway, today } from '../e2e/harness.js';

let gw: TestGateway;
let sim: ContentSafetySim;
const dispatcher = createUpstreamDispatcher({ allowLoopback: true });

beforeAll(async () => {
  [gw, sim] = await Promise.all([startTestGateway(), startContentSafetySim({ apiKeys: ['cs-key'] })]);
});
afterAll(async () => {
  await Promise.all([gw?.close(), sim?.close()]);
  await dispatcher.close();
});

const selftest = async () => {
  const response = await gw.call('/manage/safety/selftest', { method: 'POST' });
  expect(response.status).toBe(200);
  return response.json();
};
const layers = (report: { profiles: Array<{ layers: Array<{ layer: string; ok: boolean; detail?: string }> }> }) =>
  Object.fromEntries(report.profiles[0]!.layers.map((l) => [l.layer, l.ok ? 'ok' : l.detail]));

describe('POST /manage/safety/selftest', () => {
  it('checks the local layers of each team profile, and fails remote layers while Content Safety is not configured', async () => {
    expect((await gw.call('/manage/blocklists/acme', { method: 'PUT', body: JSON.stringify({ items: ['Project Falcon'] }) })).status).toBe(
      201,
    );
    const team = await gw.call('/manage/teams/guarded', {
      method: 'PUT',
      body: JSON.stringify({ name: 'Guarded', safety: { blocklists: ['acme'], pii: 'mask', categories: { hate: 2 }, promptShield: true } }),
    });
    expect(team.status).toBe(201);
    const report = await selftest();
    expect(report.ok).toBe(false);
    expect(report.profiles[0].teams).toEqual(['guarded']);
    expect(layers(report)).toEqual({
      blocklist: 'ok',
      pii: 'ok',
      analyze: 'Content Safety is not configured',
      shield: 'Content Safety is not configured',
    });
  });

  it('passes every layer once Content Safety is there, and each run is in the audit', async () => {
    // What composition will do from CONTENT_SAFETY_ENDPOINT (and, in local mode, the simulator's canaries).
    gw.services.deps.contentSafety = createContentSafety(
      { endpoint: sim.url, key: 'cs-key', timeoutMs: 2_000 },
      {
        send: createSender(dispatcher),
        tokenCredential: () => {
          throw new Error('no Entra here');
        },
        now: Date.now,
      },
    );
    gw.services.deps.safetyCanaries = simulatorCanaries;
    const report = await selftest();
    expect(layers(report)).toEqual({ blocklist: 'ok', pii: 'ok', analyze: 'ok', shield: 'ok' });
    expect(report.ok).toBe(true);
    expect(sim.stats().analyzeCalls).toBe(2);

    const audit = await (await gw.call(`/manage/audit?from=${today()}&to=${today()}&kind=safety`)).json();
    expect(audit.data.map((e: { action: string; after: { ok: boolean } }) => [e.action, e.after.ok])).toEqual([
      ['selftest', true],
      ['selftest', false],
    ]);
    expect(JSON.stringify(audit)).not.toContain('SIM_');
  });
});
