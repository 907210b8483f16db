import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../shared/config/config.js';
import { createServices, type Services } from '../../shared/composition/services.js';
import { silentLogger } from '../../shared/log.js';
import { putSimDeployment, startTestGateway, type TestGateway } from './harness.js';

let gw: TestGateway;
let other: Services;

beforeAll(async () => {
  gw = await startTestGateway({ env: { SWITCHYARD_CATALOG_REFRESH_MS: '2000' } });
  // A second instance of the app on the same store, as another Functions instance would be.
  other = await createServices(loadConfig({ SWITCHYARD_CATALOG_REFRESH_MS: '2000' }), { cosmos: gw.store!.connectionOptions(), log: silentLogger });
});
afterAll(async () => {
  await other?.close();
  await gw?.close();
});

describe('several instances on one store', () => {
  it('puts a change made on one instance in force on another within 5 seconds', async () => {
    expect(other.deps.catalog.current().routes.has('propagated')).toBe(false);
    const started = Date.now();
    expect((await putSimDeployment(gw, 'propagated-dep')).status).toBe(201);
    const put = await gw.call('/manage/routes/propagated', { method: 'PUT', body: JSON.stringify({ targets: [{ deployment: 'propagated-dep' }] }) });
    expect(put.status).toBe(201);
    await expect.poll(() => other.deps.catalog.current().routes.has('propagated'), { timeout: 5_000, interval: 50 }).toBe(true);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('revokes a deleted key on every instance within 5 seconds', async () => {
    const { id, key } = await (await gw.call('/manage/teams/demo/keys', { method: 'POST', body: '{}' })).json();
    const hashes = () => [...other.deps.catalog.current().keysByHash.values()].map((k) => k.id);
    await expect.poll(hashes, { timeout: 5_000, interval: 50 }).toContain(id);
    expect((await gw.call(`/manage/teams/demo/keys/${id}`, { method: 'DELETE' })).status).toBe(204);
    await expect.poll(hashes, { timeout: 5_000, interval: 50 }).not.toContain(id);
    expect((await gw.call('/v1/models', { key })).status).toBe(401);
  });

  it('revokes a role key deleted through /manage/keys on every instance within 5 seconds', async () => {
    const { id, key } = await (await gw.call('/manage/keys', { method: 'POST', body: JSON.stringify({ role: 'ops' }) })).json();
    const ids = () => [...other.deps.catalog.current().keysByHash.values()].map((k) => k.id);
    await expect.poll(ids, { timeout: 5_000, interval: 50 }).toContain(id);
    expect((await gw.call(`/manage/keys/${id}`, { method: 'DELETE' })).status).toBe(204);
    await expect.poll(ids, { timeout: 5_000, interval: 50 }).not.toContain(id);
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
      estimated: false,
      costMicroUsd: 7,
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
});
