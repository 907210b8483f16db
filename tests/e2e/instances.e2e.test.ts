import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../shared/config/config.js';
import { createServices, type Services } from '../../shared/composition/services.js';
import { silentLogger } from '../../shared/log.js';
import { putSimDeployment, startTestGateway, type TestGateway } from './harness.js';

let gw: TestGateway;
let other: Services;

// The product's longest refresh interval: a change must be in force on every instance within it.
const REFRESH_MS = 5_000;

beforeAll(async () => {
  gw = await startTestGateway();
  // A second instance of the app on the same store, as another Functions instance would be. Its catalog timer
  // is stopped: it refreshes only when a test says so, or on a clock the test controls.
  other = await createServices(loadConfig({ SWITCHYARD_CATALOG_REFRESH_MS: String(REFRESH_MS) }), {
    cosmos: gw.store!.connectionOptions(),
    log: silentLogger,
  });
  other.deps.catalog.stop();
});
afterAll(async () => {
  await other?.close();
  await gw?.close();
});

describe('several instances on one store', () => {
  it('puts a change made on one instance in force on another at its next refresh, which runs every refresh interval', async () => {
    expect(other.deps.catalog.current().routes.has('propagated')).toBe(false);
    // The instance's timer, captured rather than waited for: what it is scheduled at and what one tick does.
    const setIntervalSpy = vi.spyOn(globalThis, 'setInterval').mockImplementationOnce((() => ({ unref: () => undefined })) as never);
    try {
      await other.deps.catalog.start();
      const [tick, intervalMs] = setIntervalSpy.mock.calls.at(-1) ?? [];
      expect(intervalMs).toBe(REFRESH_MS);
      expect((await putSimDeployment(gw, 'propagated-dep')).status).toBe(201);
      const put = await gw.call('/manage/routes/propagated', {
        method: 'PUT',
        body: JSON.stringify({ targets: [{ deployment: 'propagated-dep' }] }),
      });
      expect(put.status).toBe(201);
      expect(other.deps.catalog.current().routes.has('propagated')).toBe(false);
      // One tick of the refresh timer, whose store reads are real: it must bring the change.
      (tick as () => void)();
      await expect.poll(() => other.deps.catalog.current().routes.has('propagated'), { timeout: 10_000, interval: 20 }).toBe(true);
    } finally {
      setIntervalSpy.mockRestore();
      other.deps.catalog.stop();
    }
  });

  it('revokes a deleted key on every instance at their next refresh', async () => {
    const { id, key } = await (await gw.call('/manage/teams/demo/keys', { method: 'POST', body: '{}' })).json();
    const ids = () => [...other.deps.catalog.current().keysByHash.values()].map((k) => k.id);
    await other.deps.catalog.refreshIfChanged();
    expect(ids()).toContain(id);
    expect((await gw.call('/v1/models', { key })).status).toBe(200);
    expect((await gw.call(`/manage/teams/demo/keys/${id}`, { method: 'DELETE' })).status).toBe(204);
    await other.deps.catalog.refreshIfChanged();
    expect(ids()).not.toContain(id);
    expect((await gw.call('/v1/models', { key })).status).toBe(401);
  });

  it('revokes a role key deleted through /manage/keys on every instance at their next refresh', async () => {
    const { id, key } = await (await gw.call('/manage/keys', { method: 'POST', body: JSON.stringify({ role: 'ops' }) })).json();
    const ids = () => [...other.deps.catalog.current().keysByHash.values()].map((k) => k.id);
    await other.deps.catalog.refreshIfChanged();
    expect(ids()).toContain(id);
    expect((await gw.call('/manage/routes', { key })).status).toBe(200);
    expect((await gw.call(`/manage/keys/${id}`, { method: 'DELETE' })).status).toBe(204);
    await other.deps.catalog.refreshIfChanged();
    expect(ids()).not.toContain(id);
    expect((await gw.call('/manage/routes', { key })).status).toBe(401);
  });

  it('keeps rollups exact when two instances write the same rollup at once', async () => {
    await gw.flushUsage();
    await other.deps.ledger.flush();
    const record = (team: string, i: number) => ({
      id: `rec-${team}-${i}-${Math.random()}`,
      requestId: `r${i}`,
      team,
      day: '2026-01-15',
      ts: '2026-01-15T10:00:00.000Z',
      alias: 'chat',
      deployment: 'sim-llama-serverless',
      kind: 'serverless' as const,
      operation: 'chat' as const,
      status: 'ok' as const,
      httpStatus: 200,
      inputTokens: 10 + i,
      outputTokens: 5,
      cachedInputTokens: 0,
      reasoningTokens: 0,
      estimated: false,
      costMicroUsd: 7,
      costRemainderPicoUsd: 0,
      stream: false,
      latencyMs: 1,
      ttfbMs: 1,
      attempts: 1,
    });
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 20; i++) {
        gw.services.deps.ledger.record(record('concurrent', i));
        other.deps.ledger.record(record('concurrent', i));
      }
      await Promise.all([gw.services.deps.ledger.flush(), other.deps.ledger.flush()]);
    }
    const rows = await gw.services.deps.readRollups({ from: '2026-01-15', to: '2026-01-15', team: 'concurrent' });
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ requests: 200, outputTokens: 1000, costMicroUsd: 1400, inputTokens: 2 * 5 * (20 * 10 + 190) });
  });

  it('puts a rollback made on one instance in force on another at its next refresh; both read the same versions and audit', async () => {
    for (const id of ['rollback-a', 'rollback-b']) expect((await putSimDeployment(gw, id)).status).toBe(201);
    const put = (deployment: string) =>
      gw.call('/manage/routes/rolled', { method: 'PUT', body: JSON.stringify({ targets: [{ deployment }] }) });
    expect((await put('rollback-a')).status).toBe(201);
    expect((await put('rollback-b')).status).toBe(200);
    await other.deps.catalog.refreshIfChanged();
    expect(
      other.deps.catalog
        .current()
        .routes.get('rolled')
        ?.targets.map((t) => t.deployment),
    ).toEqual(['rollback-b']);

    const rolled = await gw.call('/manage/routes/rolled/rollback', { method: 'POST', body: JSON.stringify({ version: 1 }) });
    expect(rolled.status).toBe(200);
    await other.deps.catalog.refreshIfChanged();
    expect(
      other.deps.catalog
        .current()
        .routes.get('rolled')
        ?.targets.map((t) => t.deployment),
    ).toEqual(['rollback-a']);
    expect((await other.deps.versions.list('route', 'rolled')).map((v) => [v.version, v.action])).toEqual([
      [3, 'rollback'],
      [2, 'put'],
      [1, 'put'],
    ]);
    const day = new Date().toISOString().slice(0, 10);
    const audited = (await other.deps.audit.read({ from: day, to: day, kind: 'route' }, { limit: 1000 })).data;
    expect(
      audited
        .filter((e) => e.id === 'rolled')
        .map((e) => e.action)
        .sort(),
    ).toEqual(['put', 'put', 'rollback']);
  });
});
