import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { simulatorCanaries, startContentSafetySim, type ContentSafetySim } from '../../local/simulators/content-safety-sim.js';
import { ContentSafetyClient } from '../../shared/safety/content-safety-client.js';
import { safetyProfileSchema } from '../../shared/safety/safety-profile.js';
import { azureCanaries, runSafetySelfTest, type SelfTestDeps } from '../../shared/safety/self-test.js';
import { createSender, createUpstreamDispatcher } from '../../shared/upstreams/send-upstream.js';

const dispatcher = createUpstreamDispatcher({ allowLoopback: true });
let sim: ContentSafetySim;
const clientFor = (endpoint: string, key = 'k') =>
  new ContentSafetyClient({
    endpoint,
    send: createSender(dispatcher),
    credential: async () => ({ kind: 'key', value: key }),
    now: () => 0,
    timeoutMs: 1_000,
  });

beforeAll(async () => {
  sim = await startContentSafetySim({ apiKeys: ['k'] });
});
beforeEach(() => sim.setOptions({ down: false }));
afterAll(async () => {
  await sim.close();
  await dispatcher.close();
});

const full = safetyProfileSchema.parse({ categories: { hate: 2, violence: 4 }, promptShield: true, pii: 'mask', blocklists: ['acme'] });
const teams = [{ id: 'search', safety: full }, { id: 'legal', safety: full }, { id: 'plain' }];
const deps = (extra: Partial<SelfTestDeps> = {}): SelfTestDeps => ({
  blocklists: new Map([['acme', { name: 'acme', items: ['Project Falcon'] }]]),
  remote: clientFor(sim.url),
  canaries: simulatorCanaries,
  now: () => Date.parse('2026-11-30T01:00:00Z'),
  ...extra,
});
const layers = (report: Awaited<ReturnType<typeof runSafetySelfTest>>) =>
  Object.fromEntries(
    report.profiles[0]!.layers.map((l) => [
      l.layer,
      l.ok ? 'ok' : (l.detail ?? `blocked ${l.blockedWhatItMust}, passed ${l.passedWhatItMust}`),
    ]),
  );

describe('the safety self-test', () => {
  it('passes every configured layer once per distinct profile, and bills its remote calls', async () => {
    const report = await runSafetySelfTest(teams, deps());
    expect(report).toMatchObject({ at: '2026-11-30T01:00:00.000Z', ok: true });
    expect(report.profiles).toHaveLength(1);
    expect(report.profiles[0]!.teams).toEqual(['legal', 'search']);
    expect(layers(report)).toEqual({ blocklist: 'ok', pii: 'ok', analyze: 'ok', shield: 'ok' });
    expect(report.profiles[0]!.layers.reduce((sum, l) => sum + l.billableRecords, 0)).toBe(4);
  });

  it('fails a blocklist that is named but gone or empty', async () => {
    expect(layers(await runSafetySelfTest(teams, deps({ blocklists: new Map() })))).toMatchObject({ blocklist: 'named but missing: acme' });
    const empty = new Map([['acme', { name: 'acme', items: [] as string[] }]]);
    expect(layers(await runSafetySelfTest(teams, deps({ blocklists: empty })))).toMatchObject({
      blocklist: 'empty, so it blocks nothing: acme',
    });
  });

  it('fails the remote layers when Content Safety is not configured, refuses us, is down or at a wrong endpoint', async () => {
    expect(layers(await runSafetySelfTest(teams, deps({ remote: undefined })))).toMatchObject({
      analyze: 'Content Safety is not configured',
      shield: 'Content Safety is not configured',
    });
    expect(layers(await runSafetySelfTest(teams, deps({ remote: clientFor(sim.url, 'wrong') })))).toMatchObject({
      analyze: 'refused: text:analyze refused the call: 401 PermissionDenied',
    });
    expect(layers(await runSafetySelfTest(teams, deps({ remote: clientFor(`${sim.url}/elsewhere`) })))).toMatchObject({
      analyze: expect.stringContaining('refused'),
      shield: expect.stringContaining('refused'),
    });
    sim.setOptions({ down: true });
    const down = await runSafetySelfTest(teams, deps());
    expect(down.ok).toBe(false);
    expect(layers(down)).toMatchObject({ blocklist: 'ok', pii: 'ok', analyze: expect.stringContaining('unavailable') });
  });

  it('fails a layer that answers but does not catch its canary', async () => {
    // The simulator scores only its marker words: real-service canaries go through it unflagged.
    const report = await runSafetySelfTest(teams, deps({ canaries: azureCanaries }));
    expect(layers(report)).toMatchObject({ analyze: 'blocked false, passed true', shield: 'blocked false, passed true' });
    expect(report.ok).toBe(false);
  });

  it('reports nothing to check when no team has a profile', async () => {
    expect(await runSafetySelfTest([{ id: 'plain' }], deps())).toMatchObject({ ok: true, profiles: [] });
  });
});
