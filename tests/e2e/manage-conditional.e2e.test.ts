import { request, type ClientRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, putSimDeployment, startTestGateway, type TestGateway } from './harness.js';

let gw: TestGateway;

beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(async () => {
  await gw?.close();
});

const team = (name: string) => JSON.stringify({ name, aliases: [], tags: [] });
const putTeam = (id: string, name: string, headers: Record<string, string> = {}) =>
  gw.call(`/manage/teams/${id}`, { method: 'PUT', headers, body: team(name) });
/**
 * PUTs one body from many connections at once: each sends all but the body's last byte, and only when every
 * one has done so do they all send it, so the gateway handles the writes together rather than as they trickle in.
 */
async function simultaneousPuts(path: string, bodies: string[], headers: Record<string, string> = {}): Promise<number[]> {
  const url = new URL(gw.url);
  const started: Array<{ req: ClientRequest; last: string; status: Promise<number> }> = [];
  for (const body of bodies) {
    const req = request({
      host: url.hostname,
      port: url.port,
      method: 'PUT',
      path,
      agent: false,
      headers: {
        ...headers,
        authorization: `Bearer ${ADMIN_KEY}`,
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
      },
    });
    const status = new Promise<number>((resolve, reject) => {
      req.on('response', (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode!));
      });
      req.on('error', reject);
    });
    await new Promise<void>((resolve) => req.write(body.slice(0, -1), () => resolve()));
    started.push({ req, last: body.slice(-1), status });
  }
  for (const { req, last } of started) req.end(last);
  return Promise.all(started.map((s) => s.status));
}

function counts(statuses: number[]): Record<number, number> {
  const tally: Record<number, number> = {};
  for (const status of statuses) tally[status] = (tally[status] ?? 0) + 1;
  return tally;
}

describe('conditional writes (RFC 9110)', () => {
  it('If-Match: * replaces an existing document, and refuses to create one', async () => {
    expect((await putTeam('star-match', 'One')).status).toBe(201);
    const replaced = await putTeam('star-match', 'Two', { 'if-match': '*' });
    expect(replaced.status).toBe(200);
    expect((await replaced.json()).name).toBe('Two');

    const absent = await putTeam('star-match-absent', 'Never', { 'if-match': '*' });
    expect(absent.status).toBe(412);
    expect((await absent.json()).error.code).toBe('precondition_failed');
    expect((await gw.call('/manage/teams/star-match-absent')).status).toBe(404);
  });

  it('If-Match with an ETag on an absent document is 412, not a create', async () => {
    expect((await putTeam('etag-absent', 'Never', { 'if-match': '"0123"' })).status).toBe(412);
    expect((await gw.call('/manage/teams/etag-absent')).status).toBe(404);
  });

  it('If-None-Match: * creates only', async () => {
    const created = await putTeam('create-only', 'First', { 'if-none-match': '*' });
    expect(created.status).toBe(201);
    const again = await putTeam('create-only', 'Second', { 'if-none-match': '*' });
    expect(again.status).toBe(412);
    expect((await (await gw.call('/manage/teams/create-only')).json()).name).toBe('First');
  });

  it('of 50 concurrent unconditional PUTs creating one id, exactly one answers 201 and the others 200', async () => {
    const statuses = await simultaneousPuts(
      '/manage/teams/raced',
      Array.from({ length: 50 }, (_, i) => team(`Writer ${i}`)),
    );
    expect(counts(statuses)).toEqual({ 201: 1, 200: 49 });
  });

  it('of 50 concurrent If-None-Match: * PUTs of one id, exactly one answers 201 and 49 answer 412', async () => {
    const statuses = await simultaneousPuts(
      '/manage/teams/raced-create-only',
      Array.from({ length: 50 }, (_, i) => team(`Writer ${i}`)),
      { 'if-none-match': '*' },
    );
    expect(counts(statuses)).toEqual({ 201: 1, 412: 49 });
  });

  it('evaluates ETag lists and refuses weak ETags for If-Match', async () => {
    const etag = (await putTeam('listed', 'One')).headers.get('etag')!;
    expect((await putTeam('listed', 'Two', { 'if-match': `"stale", ${etag}` })).status).toBe(200);
    expect((await putTeam('listed', 'Three', { 'if-match': `"stale", ${etag}` })).status).toBe(412);
    const current = (await gw.call('/manage/teams/listed')).headers.get('etag')!;
    expect((await putTeam('listed', 'Three', { 'if-match': `W/${current}` })).status).toBe(412);
    expect((await putTeam('listed', 'Three', { 'if-none-match': current })).status).toBe(412);
    expect((await putTeam('listed', 'Three', { 'if-none-match': '"other"' })).status).toBe(200);
    expect((await putTeam('listed', 'Four', { 'if-match': '"a" "b"' })).status).toBe(400);
  });

  it('PATCH honours If-Match (*, stale) and If-None-Match: *, and merges per RFC 7396', async () => {
    const etag = (await putTeam('patched', 'Patched')).headers.get('etag')!;
    const patch = (body: unknown, headers: Record<string, string> = {}) =>
      gw.call('/manage/teams/patched', { method: 'PATCH', headers, body: JSON.stringify(body) });
    const first = await patch({ tags: ['a'] }, { 'if-match': etag });
    expect(first.status).toBe(200);
    expect((await patch({ tags: ['b'] }, { 'if-match': etag })).status).toBe(412);
    expect((await patch({ tags: ['c'] }, { 'if-none-match': '*' })).status).toBe(412);
    const star = await patch({ tags: ['d'] }, { 'if-match': '*' });
    expect(star.status).toBe(200);
    expect(await star.json()).toMatchObject({ tags: ['d'], name: 'Patched' });
    expect((await gw.call('/manage/teams/patch-absent', { method: 'PATCH', body: '{"name":"x"}' })).status).toBe(404);

    expect((await putSimDeployment(gw, 'patched-dep', { region: 'eastus2' })).status).toBe(201);
    const removed = await gw.call('/manage/deployments/patched-dep', {
      method: 'PATCH',
      body: JSON.stringify({ region: null, capacity: { maxConcurrent: 3 } }),
    });
    expect(removed.status).toBe(200);
    const doc = await removed.json();
    expect(doc.region).toBeUndefined();
    expect(doc.capacity).toEqual({ maxConcurrent: 3 });
  });

  it('DELETE honours If-Match: stale is 412, * deletes, absent is 404', async () => {
    expect((await putSimDeployment(gw, 'deleted-dep')).status).toBe(201);
    const etag = (await gw.call('/manage/deployments/deleted-dep')).headers.get('etag')!;
    expect((await gw.call('/manage/deployments/deleted-dep', { method: 'PATCH', body: '{"region":"x"}' })).status).toBe(200);
    expect((await gw.call('/manage/deployments/deleted-dep', { method: 'DELETE', headers: { 'if-match': etag } })).status).toBe(412);
    expect((await gw.call('/manage/deployments/deleted-dep')).status).toBe(200);
    expect((await gw.call('/manage/deployments/deleted-dep', { method: 'DELETE', headers: { 'if-match': '*' } })).status).toBe(204);
    expect((await gw.call('/manage/deployments/deleted-dep')).status).toBe(404);
    expect((await gw.call('/manage/deployments/deleted-dep', { method: 'DELETE', headers: { 'if-match': '*' } })).status).toBe(404);
  });

  it('refuses to delete a deployment a route still names, and deletes routes', async () => {
    expect((await putSimDeployment(gw, 'routed-dep')).status).toBe(201);
    expect(
      (await gw.call('/manage/routes/routed', { method: 'PUT', body: JSON.stringify({ targets: [{ deployment: 'routed-dep' }] }) })).status,
    ).toBe(201);
    const refused = await gw.call('/manage/deployments/routed-dep', { method: 'DELETE' });
    expect(refused.status).toBe(409);
    expect((await refused.json()).error.message).toMatch(/routed/);
    const routeEtag = (await gw.call('/manage/routes/routed')).headers.get('etag')!;
    expect((await gw.call('/manage/routes/routed', { method: 'DELETE', headers: { 'if-match': routeEtag } })).status).toBe(204);
    expect((await gw.call('/manage/routes/routed')).status).toBe(404);
    expect((await gw.call('/manage/deployments/routed-dep', { method: 'DELETE' })).status).toBe(204);
  });
});
