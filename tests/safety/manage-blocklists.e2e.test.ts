import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway, today } from '../e2e/harness.js';

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(async () => {
  await gw?.close();
});

const put = (name: string, body: unknown, headers: Record<string, string> = {}) =>
  gw.call(`/manage/blocklists/${name}`, { method: 'PUT', body: JSON.stringify(body), headers });

describe('/manage/blocklists', () => {
  it('creates, reads, replaces under If-Match and lists a blocklist; this instance screens with it at once', async () => {
    const created = await put('acme-secrets', { items: ['Project Falcon', 'falcon-7'], description: 'code names' });
    expect(created.status).toBe(201);
    const etag = created.headers.get('etag')!;
    expect(await created.json()).toEqual({ name: 'acme-secrets', items: ['Project Falcon', 'falcon-7'], description: 'code names' });

    const read = await gw.call('/manage/blocklists/acme-secrets');
    expect(read.status).toBe(200);
    expect(read.headers.get('etag')).toBe(etag);
    expect(gw.services.deps.catalog.current().blocklists.get('acme-secrets')?.items).toEqual(['Project Falcon', 'falcon-7']);

    expect((await put('acme-secrets', { items: ['x'] }, { 'if-none-match': '*' })).status).toBe(412);
    const replaced = await put('acme-secrets', { items: ['Project Falcon'] }, { 'if-match': etag });
    expect(replaced.status).toBe(200);
    expect((await put('acme-secrets', { items: ['y'] }, { 'if-match': etag })).status).toBe(412);

    const listed = await (await gw.call('/manage/blocklists')).json();
    expect(listed.data).toEqual([{ name: 'acme-secrets', items: ['Project Falcon'] }]);
  });

  it('refuses bad names and items with a 400 naming the field, and a malformed name on a read with a 404', async () => {
    const bad = async (name: string, body: unknown) => {
      const response = await put(name, body);
      expect(response.status).toBe(400);
      return (await response.json()).error;
    };
    expect((await bad('Bad_Name', { items: [] })).param).toBe('name');
    expect((await bad('ok', { items: [''] })).message).toContain('an item is 1-128 characters');
    expect((await bad('ok', { items: ['x'.repeat(129)] })).message).toContain('an item is 1-128 characters');
    expect((await bad('ok', { items: ['a', 'a'] })).message).toContain('an item is listed twice');
    expect((await bad('ok', { items: [], extra: 1 })).message).toContain("unknown field 'extra'");
    expect((await bad('ok', { name: 'other', items: [] })).param).toBe('name');
    expect((await gw.call('/manage/blocklists/Bad_Name')).status).toBe(404);
    expect((await gw.call('/manage/blocklists/missing')).status).toBe(404);
  });

  it('lets a team name only existing blocklists, and refuses to delete one a team names', async () => {
    expect((await put('team-terms', { items: ['moonshot'] })).status).toBe(201);
    const team = (safety: unknown) => gw.call('/manage/teams/safe-team', { method: 'PUT', body: JSON.stringify({ name: 'Safe', safety }) });
    const unknown = await team({ blocklists: ['team-terms', 'nope'] });
    expect(unknown.status).toBe(400);
    expect((await unknown.json()).error).toMatchObject({ param: 'safety.blocklists', message: expect.stringContaining('nope') });
    expect((await team({ blocklists: ['team-terms'], pii: 'mask' })).status).toBe(201);

    const refused = await gw.call('/manage/blocklists/team-terms', { method: 'DELETE' });
    expect(refused.status).toBe(409);
    expect((await refused.json()).error.message).toContain('safe-team');

    expect((await team({ pii: 'mask' })).status).toBe(200);
    expect((await gw.call('/manage/blocklists/team-terms', { method: 'DELETE', headers: { 'if-match': '"stale"' } })).status).toBe(412);
    expect((await gw.call('/manage/blocklists/team-terms', { method: 'DELETE' })).status).toBe(204);
    expect((await gw.call('/manage/blocklists/team-terms')).status).toBe(404);
    expect((await gw.call('/manage/blocklists/team-terms', { method: 'DELETE' })).status).toBe(404);
    expect(gw.services.deps.catalog.current().blocklists.has('team-terms')).toBe(false);
  });

  it('audits every change with its actor', async () => {
    const audit = await (await gw.call(`/manage/audit?from=${today()}&to=${today()}&kind=blocklist`)).json();
    const changes = audit.data.map((e: { id: string; action: string; actor: { role: string } }) => `${e.action} ${e.id} ${e.actor.role}`);
    expect(changes).toEqual(['delete team-terms admin', 'put team-terms admin', 'put acme-secrets admin', 'put acme-secrets admin']);
  });
});

describe('kept in step with Azure Content Safety', () => {
  it('syncs a list on PUT and removes it on DELETE; a failed sync leaves the change made and says so', async () => {
    // Local mode wires the Content Safety simulator as the service.
    const sim = gw.sims!.contentSafety!;
    try {
      const created = await put('mirrored', { items: ['alpha', 'beta'] });
      expect(created.status).toBe(201);
      expect(created.headers.get('x-switchyard-content-safety-sync')).toBe('ok');
      expect(sim.blocklistItems('mirrored')!.sort()).toEqual(['alpha', 'beta']);
      expect((await put('mirrored', { items: ['beta', 'gamma'] })).status).toBe(200);
      expect(sim.blocklistItems('mirrored')!.sort()).toEqual(['beta', 'gamma']);

      sim.setOptions({ down: true });
      const offline = await put('mirrored', { items: ['delta'] });
      expect(offline.status).toBe(200);
      expect(offline.headers.get('x-switchyard-content-safety-sync')).toBe('failed');
      expect((await (await gw.call('/manage/blocklists/mirrored')).json()).items).toEqual(['delta']);

      sim.setOptions({ down: false });
      const deleted = await gw.call('/manage/blocklists/mirrored', { method: 'DELETE' });
      expect(deleted.status).toBe(204);
      expect(deleted.headers.get('x-switchyard-content-safety-sync')).toBe('ok');
      expect(sim.blocklistItems('mirrored')).toBeUndefined();
    } finally {
      sim.setOptions({ down: false });
    }
  });
});
