import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { putRoute, putSimDeployment, startTestGateway, type TestGateway, today } from './harness.js';

let gw: TestGateway;

beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(async () => {
  await gw?.close();
});

type Version = {
  version: number;
  at: string;
  actor: { keyId: string; role: string };
  action: string;
  document: Record<string, unknown> | null;
};
const versions = async (path: string): Promise<Version[]> => {
  const response = await gw.call(`${path}/versions`);
  expect(response.status).toBe(200);
  return (await response.json()).data;
};
const rollback = (path: string, version: unknown, headers: Record<string, string> = {}) =>
  gw.call(`${path}/rollback`, { method: 'POST', body: JSON.stringify({ version }), headers });

async function chatLandsOn(alias: string): Promise<string | null> {
  const answer = await gw.openai.chat.completions.create({ model: alias, messages: [{ role: 'user', content: 'hi' }] }).withResponse();
  return answer.response.headers.get('x-switchyard-deployment');
}

describe('versions and rollback', () => {
  it('keeps every version of a route, newest first; a rollback writes an old one as a new version and it routes', async () => {
    expect((await putSimDeployment(gw, 'ver-a')).status).toBe(201);
    expect((await putSimDeployment(gw, 'ver-b')).status).toBe(201);
    await putRoute(gw, 'ver-chat', ['ver-a']);
    expect(
      (await gw.call('/manage/routes/ver-chat', { method: 'PUT', body: JSON.stringify({ targets: [{ deployment: 'ver-b' }] }) })).status,
    ).toBe(200);
    expect(await chatLandsOn('ver-chat')).toBe('ver-b');

    const listed = await versions('/manage/routes/ver-chat');
    expect(listed.map((v) => v.version)).toEqual([2, 1]);
    expect(listed[1]!.document).toMatchObject({ alias: 'ver-chat', targets: [{ deployment: 'ver-a' }] });
    expect(listed[0]).toMatchObject({ action: 'put', actor: { role: 'admin' }, document: { targets: [{ deployment: 'ver-b' }] } });

    const etag = (await gw.call('/manage/routes/ver-chat')).headers.get('etag')!;
    expect((await rollback('/manage/routes/ver-chat', 1, { 'if-match': '"stale"' })).status).toBe(412);
    const rolled = await rollback('/manage/routes/ver-chat', 1, { 'if-match': etag });
    expect(rolled.status).toBe(200);
    expect(rolled.headers.get('etag')).toBeTruthy();
    expect(await rolled.json()).toMatchObject({ alias: 'ver-chat', targets: [{ deployment: 'ver-a' }] });
    expect(await chatLandsOn('ver-chat')).toBe('ver-a');

    const after = await versions('/manage/routes/ver-chat');
    expect(after.map((v) => [v.version, v.action])).toEqual([
      [3, 'rollback'],
      [2, 'put'],
      [1, 'put'],
    ]);
    const audit = await (await gw.call(`/manage/audit?from=${today()}&to=${today()}&kind=route`)).json();
    expect(audit.data.find((e: { id: string; action: string }) => e.id === 'ver-chat' && e.action === 'rollback')).toMatchObject({
      before: { targets: [{ deployment: 'ver-b' }] },
      after: { targets: [{ deployment: 'ver-a' }] },
    });
  });

  it('refuses a rollback of a route to a version naming a since-deleted deployment', async () => {
    expect((await putSimDeployment(gw, 'ver-gone')).status).toBe(201);
    expect((await putSimDeployment(gw, 'ver-stays')).status).toBe(201);
    await putRoute(gw, 'ver-route2', ['ver-gone']);
    expect(
      (await gw.call('/manage/routes/ver-route2', { method: 'PATCH', body: JSON.stringify({ targets: [{ deployment: 'ver-stays' }] }) }))
        .status,
    ).toBe(200);
    expect((await gw.call('/manage/deployments/ver-gone', { method: 'DELETE' })).status).toBe(204);
    const refused = await rollback('/manage/routes/ver-route2', 1);
    expect(refused.status).toBe(400);
    expect((await refused.json()).error.message).toMatch(/ver-gone/);
    expect((await gw.call('/manage/routes/ver-route2')).status).toBe(200);
    expect((await versions('/manage/routes/ver-route2')).map((v) => v.action)).toEqual(['patch', 'put']);
  });

  it('versions deployments, a delete included, and brings a deleted deployment back', async () => {
    expect((await putSimDeployment(gw, 'ver-dep')).status).toBe(201);
    expect((await gw.call('/manage/deployments/ver-dep', { method: 'PATCH', body: JSON.stringify({ enabled: false }) })).status).toBe(200);
    expect((await gw.call('/manage/deployments/ver-dep', { method: 'DELETE' })).status).toBe(204);
    const listed = await versions('/manage/deployments/ver-dep');
    expect(listed.map((v) => [v.version, v.action, v.document === null])).toEqual([
      [3, 'delete', true],
      [2, 'patch', false],
      [1, 'put', false],
    ]);
    expect((await rollback('/manage/deployments/ver-dep', 3)).status).toBe(409);
    const restored = await rollback('/manage/deployments/ver-dep', 1);
    expect(restored.status).toBe(201);
    expect(await (await gw.call('/manage/deployments/ver-dep')).json()).toMatchObject({ id: 'ver-dep', enabled: true });
  });

  it('answers 404 for unknown ids and versions, 400 for a bad body, 403 for finance', async () => {
    expect((await gw.call('/manage/routes/no-such-route/versions')).status).toBe(404);
    expect((await rollback('/manage/routes/no-such-route', 1)).status).toBe(404);
    await putRoute(gw, 'ver-route3', ['ver-a']);
    expect((await rollback('/manage/routes/ver-route3', 99)).status).toBe(404);
    for (const version of [0, -1, 1.5, '1', null]) expect((await rollback('/manage/routes/ver-route3', version)).status).toBe(400);
    const finance = await (await gw.call('/manage/keys', { method: 'POST', body: JSON.stringify({ role: 'finance' }) })).json();
    expect((await gw.call('/manage/routes/ver-route3/versions', { key: finance.key })).status).toBe(403);
  });
});
