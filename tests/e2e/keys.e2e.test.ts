import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashKey, keyDocument } from '../../shared/catalog/key-documents.js';
import { createServices } from '../../shared/composition/services.js';
import { loadConfig } from '../../shared/config/config.js';
import { silentLogger } from '../../shared/log.js';
import { ADMIN_KEY, DEMO_KEY, startTestGateway, type TestGateway } from './harness.js';

let gw: TestGateway;

beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(async () => {
  await gw?.close();
});

const inAnHour = () => new Date(Date.now() + 3_600_000).toISOString();
type Listed = {
  id: string;
  role?: string;
  team?: string;
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  configuredBy: string | null;
};
const listKeys = async (): Promise<Listed[]> => (await (await gw.call('/manage/keys')).json()).data;

describe('role and team keys', () => {
  it('lists every key for admin only: ids, owner, created, expiry, last use, never a hash or secret', async () => {
    const ops = await (await gw.call('/manage/keys', { method: 'POST', body: JSON.stringify({ role: 'ops' }) })).json();
    expect((await gw.call('/manage/keys', { key: ops.key })).status).toBe(403);
    expect((await gw.call('/manage/keys', { key: DEMO_KEY })).status).toBe(403);
    expect((await gw.call('/manage/keys', { key: null })).status).toBe(401);

    const listing = await gw.call('/manage/keys');
    expect(listing.status).toBe(200);
    const text = await listing.text();
    expect(text).not.toContain(ops.key);
    expect(text).not.toContain(hashKey(ops.key));
    expect(text).not.toContain(hashKey(ADMIN_KEY));
    expect(text).not.toMatch(/"hash"/);
    const keys: Listed[] = JSON.parse(text).data;
    expect(keys.find((k) => k.id === ops.id)).toMatchObject({ role: 'ops', expiresAt: null, configuredBy: null });
    expect(keys.find((k) => k.team === 'demo')).toMatchObject({ configuredBy: 'SWITCHYARD_DEMO_KEY' });
    expect(keys.find((k) => k.configuredBy === 'SWITCHYARD_ADMIN_KEY')).toMatchObject({ role: 'admin' });
    for (const key of keys)
      expect(Object.keys(key).sort()).toEqual(
        ['configuredBy', 'createdAt', 'expiresAt', 'id', 'lastUsedAt', key.team ? 'team' : 'role'].sort(),
      );
  });

  it('records when a key was last used, once per interval rather than on every request', async () => {
    const { id, key } = await (await gw.call('/manage/keys', { method: 'POST', body: JSON.stringify({ role: 'finance' }) })).json();
    expect((await listKeys()).find((k) => k.id === id)!.lastUsedAt).toBeNull();
    const before = Date.now();
    expect((await gw.call('/usage?from=2026-01-01&to=2026-01-01', { key })).status).toBe(200);
    await gw.services.deps.keyUse.settle();
    const first = (await listKeys()).find((k) => k.id === id)!.lastUsedAt!;
    expect(Date.parse(first)).toBeGreaterThanOrEqual(before - 1);
    for (let i = 0; i < 20; i++) expect((await gw.call('/usage?from=2026-01-01&to=2026-01-01', { key })).status).toBe(200);
    await gw.services.deps.keyUse.settle();
    expect((await listKeys()).find((k) => k.id === id)!.lastUsedAt).toBe(first);
  });

  it('revokes a role key with DELETE /manage/keys/{id}, honouring If-Match', async () => {
    const { id, key } = await (await gw.call('/manage/keys', { method: 'POST', body: JSON.stringify({ role: 'ops' }) })).json();
    expect((await gw.call('/manage/routes', { key })).status).toBe(200);
    expect((await gw.call(`/manage/keys/${id}`, { method: 'DELETE', key })).status).toBe(403);
    expect((await gw.call(`/manage/keys/${id}`, { method: 'DELETE', headers: { 'if-match': '"stale"' } })).status).toBe(412);
    expect((await gw.call('/manage/routes', { key })).status).toBe(200);
    expect((await gw.call(`/manage/keys/${id}`, { method: 'DELETE', headers: { 'if-match': '*' } })).status).toBe(204);
    const revoked = await gw.call('/manage/routes', { key });
    expect(revoked.status).toBe(401);
    expect((await revoked.json()).error.code).toBe('invalid_api_key');
    expect((await gw.call(`/manage/keys/${id}`, { method: 'DELETE' })).status).toBe(404);
    expect((await listKeys()).some((k) => k.id === id)).toBe(false);
  });

  it('revokes a team key through /manage/keys too', async () => {
    const { id, key } = await (await gw.call('/manage/teams/demo/keys', { method: 'POST' })).json();
    expect((await gw.call('/v1/models', { key })).status).toBe(200);
    expect((await gw.call(`/manage/keys/${id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await gw.call('/v1/models', { key })).status).toBe(401);
  });

  it('takes an expiry in the future on role and team keys, and refuses a past or malformed one', async () => {
    const expiresAt = inAnHour();
    const role = await gw.call('/manage/keys', { method: 'POST', body: JSON.stringify({ role: 'ops', expires: expiresAt }) });
    expect(role.status).toBe(201);
    const created = await role.json();
    expect(created.expiresAt).toBe(expiresAt);
    expect((await gw.call('/manage/routes', { key: created.key })).status).toBe(200);
    expect((await listKeys()).find((k) => k.id === created.id)!.expiresAt).toBe(expiresAt);

    const team = await gw.call('/manage/teams/demo/keys', { method: 'POST', body: JSON.stringify({ expires: expiresAt }) });
    expect(team.status).toBe(201);
    expect((await gw.call('/v1/models', { key: (await team.json()).key })).status).toBe(200);

    for (const expires of ['2001-01-01T00:00:00Z', 'tomorrow', '2030-13-01T00:00:00Z', 1_900_000_000]) {
      const refused = await gw.call('/manage/keys', { method: 'POST', body: JSON.stringify({ role: 'ops', expires }) });
      expect(refused.status, String(expires)).toBe(400);
      expect((await refused.json()).error.param).toBe('expires');
    }
    expect(
      (await gw.call('/manage/teams/demo/keys', { method: 'POST', body: JSON.stringify({ expires: '2001-01-01T00:00:00Z' }) })).status,
    ).toBe(400);
    expect((await gw.call('/manage/teams/demo/keys', { method: 'POST', body: JSON.stringify({ colour: 'red' }) })).status).toBe(400);
  });

  it('answers an expired key exactly as an unknown one', async () => {
    // Written straight to the store: the API accepts only future expiries, and no test waits for one to pass.
    const expiredSecret = 'sya-expired-key-0123456789abcdef';
    const expired = keyDocument({ role: 'admin' }, expiredSecret, {
      id: 'key_expired',
      createdAtMs: Date.now() - 7_200_000,
      expiresAt: new Date(Date.now() - 1_000).toISOString(),
    });
    await gw.services.deps.store.put('key', expired, { ifNoneMatch: '*' });
    await gw.services.deps.catalog.refresh();
    const expiredAnswer = await gw.call('/manage/keys', { key: expiredSecret });
    const unknownAnswer = await gw.call('/manage/keys', { key: 'sya-never-issued-0123456789abcdef' });
    expect(expiredAnswer.status).toBe(401);
    expect(await expiredAnswer.json()).toEqual(await unknownAnswer.json());
    expect((await listKeys()).find((k) => k.id === expired.id)!.lastUsedAt).toBeNull();
  });
});

describe('the configured admin key', () => {
  it('is revoked on a running instance within the refresh interval when another instance starts with a new value', async () => {
    const keyB = 'sya-rolled-key-b-0123456789abcdef';
    expect((await gw.call('/manage/routes', { key: ADMIN_KEY })).status).toBe(200);
    const rolled = await createServices(loadConfig({ SWITCHYARD_ADMIN_KEY: keyB, SWITCHYARD_CATALOG_REFRESH_MS: '1000' }), {
      cosmos: gw.store!.connectionOptions(),
      log: silentLogger,
    });
    try {
      await expect
        .poll(async () => (await gw.call('/manage/routes', { key: ADMIN_KEY })).status, { timeout: 5_000, interval: 100 })
        .toBe(401);
      await expect.poll(async () => (await gw.call('/manage/routes', { key: keyB })).status, { timeout: 5_000, interval: 100 }).toBe(200);
    } finally {
      await rolled.close();
    }
  });
});
