import { CosmosClient } from '@azure/cosmos';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashKey } from '../../shared/catalog/key-documents.js';
import { createLogger } from '../../shared/log.js';
import { DEMO_KEY, putSimDeployment, startTestGateway, type TestGateway, today } from './harness.js';

let gw: TestGateway;

beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(async () => {
  await gw?.close();
});

type Entry = {
  at: string;
  actor: { keyId: string; role: string };
  kind: string;
  id: string;
  action: string;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
};

const newKey = async (role: string): Promise<{ id: string; key: string }> =>
  (await gw.call('/manage/keys', { method: 'POST', body: JSON.stringify({ role }) })).json();

const audit = async (query: string, key?: string): Promise<Entry[]> => {
  const response = await gw.call(`/manage/audit?from=${today()}&to=${today()}${query}`, key ? { key } : {});
  expect(response.status).toBe(200);
  return (await response.json()).data;
};

describe('GET /manage/audit', () => {
  it('names the key and role behind every change to a deployment, with the documents before and after', async () => {
    const ops = await newKey('ops');
    expect((await putSimDeployment(gw, 'audited-dep', {})).status).toBe(201);
    const patched = await gw.call('/manage/deployments/audited-dep', {
      method: 'PATCH',
      key: ops.key,
      body: JSON.stringify({ enabled: false }),
    });
    expect(patched.status).toBe(200);
    expect((await gw.call('/manage/deployments/audited-dep', { method: 'DELETE', key: ops.key })).status).toBe(204);

    const entries = (await audit(`&actor=${ops.id}&kind=deployment`)).filter((e) => e.id === 'audited-dep');
    // Newest first; two changes within one millisecond may come in either order.
    expect(entries.map((e) => e.action).sort()).toEqual(['delete', 'patch']);
    expect(entries[0]!.at >= entries[1]!.at).toBe(true);
    const deleted = entries.find((e) => e.action === 'delete');
    const patch = entries.find((e) => e.action === 'patch');
    expect(patch!.actor).toEqual({ keyId: ops.id, role: 'ops' });
    expect(patch!.before).toMatchObject({ id: 'audited-dep', enabled: true });
    expect(patch!.after).toMatchObject({ id: 'audited-dep', enabled: false });
    expect(deleted!.before).toMatchObject({ enabled: false });
    expect(deleted!.after).toBeNull();
    expect(Date.parse(patch!.at)).not.toBeNaN();

    const created = (await audit('&kind=deployment')).find((e) => e.id === 'audited-dep' && e.action === 'put');
    expect(created).toMatchObject({ before: null, after: { id: 'audited-dep' }, actor: { role: 'admin' } });
  });

  it('records routes, teams and keys; a key entry never carries the hash or the secret', async () => {
    const before = (await audit('')).length;
    expect((await gw.call('/manage/teams/demo', { method: 'PATCH', body: JSON.stringify({ tags: ['audited'] }) })).status).toBe(200);
    const teamKey = await (await gw.call('/manage/teams/demo/keys', { method: 'POST' })).json();
    expect((await gw.call(`/manage/teams/demo/keys/${teamKey.id}`, { method: 'DELETE' })).status).toBe(204);
    const finance = await newKey('finance');
    expect((await gw.call(`/manage/keys/${finance.id}`, { method: 'DELETE' })).status).toBe(204);

    const response = await gw.call(`/manage/audit?from=${today()}&to=${today()}`);
    const text = await response.text();
    for (const secret of [teamKey.key, finance.key]) {
      expect(text).not.toContain(secret);
      expect(text).not.toContain(hashKey(secret));
    }
    expect(text).not.toMatch(/"hash"/);
    const entries: Entry[] = JSON.parse(text).data;
    expect(entries.length).toBe(before + 5);
    expect(entries.find((e) => e.kind === 'team' && e.id === 'demo')).toMatchObject({ action: 'patch', after: { tags: ['audited'] } });
    expect(entries.find((e) => e.id === teamKey.id && e.action === 'create')).toMatchObject({ kind: 'key', after: { team: 'demo' } });
    expect(entries.find((e) => e.id === teamKey.id && e.action === 'delete')).toMatchObject({ before: { team: 'demo' }, after: null });
    expect(entries.find((e) => e.id === finance.id && e.action === 'create')).toMatchObject({ after: { role: 'finance' } });
    const keysOnly = await audit('&kind=key');
    expect(keysOnly.every((e) => e.kind === 'key')).toBe(true);
  });

  it('is read by finance and admin only', async () => {
    const finance = await newKey('finance');
    const ops = await newKey('ops');
    const path = `/manage/audit?from=${today()}&to=${today()}`;
    expect((await gw.call(path, { key: finance.key })).status).toBe(200);
    expect((await gw.call(path, { key: ops.key })).status).toBe(403);
    expect((await gw.call(path, { key: DEMO_KEY })).status).toBe(403);
    expect((await gw.call(path, { key: null })).status).toBe(401);
  });

  it('refuses bad dates and kinds in the OpenAI error shape', async () => {
    for (const query of [
      'from=2026-13-01&to=2026-12-01',
      'to=2026-01-01',
      'from=2026-02-01&to=2026-01-01',
      `from=${today()}&to=${today()}&kind=widget`,
    ]) {
      const response = await gw.call(`/manage/audit?${query}`);
      expect(response.status).toBe(400);
      expect((await response.json()).error).toMatchObject({ type: 'invalid_request_error' });
    }
  });
});

describe('an audit write that fails', () => {
  it('keeps the change, answers success and logs the whole entry at error level', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const own = await startTestGateway({ log: createLogger((line) => lines.push(JSON.parse(line)), 'error') });
    const client = new CosmosClient(own.store!.connectionOptions());
    try {
      await client.database(own.config.cosmos.database).container('audit').delete();
      const patched = await own.call('/manage/teams/demo', { method: 'PATCH', body: JSON.stringify({ tags: ['unaudited'] }) });
      expect(patched.status).toBe(200);
      expect((await (await own.call('/manage/teams/demo')).json()).tags).toEqual(['unaudited']);
      const logged = lines.find((line) => line.message === 'audit: could not record a management change');
      expect(logged).toMatchObject({
        level: 'error',
        entry: { kind: 'team', id: 'demo', action: 'patch', after: { tags: ['unaudited'] } },
      });
    } finally {
      client.dispose();
      await own.close();
    }
  });
});
