import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scheduledSafetySelfTest } from '../../shared/gateway/manage-safety.js';
import { startTestGateway, type TestGateway, today } from '../e2e/harness.js';

let gw: TestGateway;

beforeAll(async () => {
  gw = await startTestGateway();
  expect((await gw.call('/manage/blocklists/acme', { method: 'PUT', body: JSON.stringify({ items: ['Project Falcon'] }) })).status).toBe(
    201,
  );
  const team = await gw.call('/manage/teams/guarded', {
    method: 'PUT',
    body: JSON.stringify({ name: 'Guarded', safety: { blocklists: ['acme'], pii: 'mask', categories: { hate: 2 }, promptShield: true } }),
  });
  expect(team.status).toBe(201);
});
afterAll(async () => {
  await gw?.close();
});

const selftest = async () => {
  const response = await gw.call('/manage/safety/selftest', { method: 'POST' });
  expect(response.status).toBe(200);
  return response.json();
};
const layers = (report: { profiles: Array<{ layers: Array<{ layer: string; ok: boolean; detail?: string }> }> }) =>
  Object.fromEntries(report.profiles[0]!.layers.map((l) => [l.layer, l.ok ? 'ok' : l.detail]));

describe('POST /manage/safety/selftest', () => {
  it("passes every layer of each team's profile in local mode, where the simulator is Content Safety", async () => {
    const sim = gw.sims!.contentSafety!;
    sim.resetStats();
    const report = await selftest();
    expect(report.ok).toBe(true);
    expect(report.profiles.map((p: { teams: string[] }) => p.teams)).toEqual([['guarded']]);
    expect(layers(report)).toEqual({ blocklist: 'ok', pii: 'ok', analyze: 'ok', shield: 'ok' });
    expect(sim.stats()).toMatchObject({ analyzeCalls: 2, shieldCalls: 2 });
  });

  it('catches a remote layer that is down, and one that is not configured', async () => {
    const sim = gw.sims!.contentSafety!;
    sim.setOptions({ down: true });
    try {
      const down = await selftest();
      expect(down.ok).toBe(false);
      expect(layers(down)).toMatchObject({ blocklist: 'ok', pii: 'ok', analyze: expect.stringMatching(/^unavailable/) });
    } finally {
      sim.setOptions({ down: false });
    }
    const configured = gw.services.deps.contentSafety;
    gw.services.deps.contentSafety = undefined;
    try {
      expect(layers(await selftest())).toMatchObject({
        analyze: 'Content Safety is not configured',
        shield: 'Content Safety is not configured',
      });
    } finally {
      gw.services.deps.contentSafety = configured;
    }
  });

  it('records every run in the audit, without canary text', async () => {
    const audit = await (await gw.call(`/manage/audit?from=${today()}&to=${today()}&kind=safety`)).json();
    expect(audit.data.map((e: { action: string; after: { ok: boolean } }) => [e.action, e.after.ok])).toEqual([
      ['selftest', false],
      ['selftest', false],
      ['selftest', true],
    ]);
    expect(JSON.stringify(audit)).not.toContain('SIM_');
  });

  it('runs hourly as the timer too: a failing layer shows in /health/ready (which stays ready) and the audit names the timer', async () => {
    const sim = gw.sims!.contentSafety!;
    sim.setOptions({ down: true });
    try {
      expect((await scheduledSafetySelfTest(gw.services.deps)).ok).toBe(false);
    } finally {
      sim.setOptions({ down: false });
    }
    const failing = await gw.call('/health/ready', { key: null });
    expect(failing.status).toBe(200);
    expect(await failing.json()).toMatchObject({
      checks: { safety: 'failing' },
      safetySelfTest: { ok: false, failing: ['analyze (guarded)', 'shield (guarded)'] },
    });
    expect((await scheduledSafetySelfTest(gw.services.deps)).ok).toBe(true);
    expect(await (await gw.call('/health/ready', { key: null })).json()).toMatchObject({
      checks: { safety: 'ok' },
      safetySelfTest: { ok: true, failing: [] },
    });
    const audit = await (await gw.call(`/manage/audit?from=${today()}&to=${today()}&kind=safety&actor=timer:safetySelfTest`)).json();
    expect(audit.data.map((e: { after: { ok: boolean } }) => e.after.ok)).toEqual([true, false]);
  });
});
