import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { putRoute, putSimDeployment, startTestGateway, today, type TestGateway } from './harness.js';

let gw: TestGateway;

beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(async () => {
  await gw?.close();
});

type Listed = { data: Array<Record<string, unknown>>; next: string | null };

/** Follows `next` from the first page until it is null: the pages, and each page's Link header. */
async function pagesOf(path: string): Promise<{ pages: Listed[]; links: Array<string | null> }> {
  const pages: Listed[] = [];
  const links: Array<string | null> = [];
  let url: string | null = path;
  while (url !== null) {
    const response = await gw.call(url);
    expect(response.status, await response.clone().text()).toBe(200);
    const page = (await response.json()) as Listed;
    pages.push(page);
    links.push(response.headers.get('link'));
    url = page.next === null ? null : `${path}&next=${page.next}`;
  }
  return { pages, links };
}

describe('paging GET /manage/audit', () => {
  it('reads 250 entries in pages of 100 that together are the whole, following next or the Link header', async () => {
    const day = today();
    // Written straight to the audit port, as 250 management writes would leave them (an audit kind no other test here writes).
    for (let i = 0; i < 250; i++) {
      await gw.services.deps.audit.append({
        at: new Date(Date.now() - i).toISOString(),
        actor: { keyId: 'key_pager', role: 'ops' },
        kind: 'blocklist',
        id: `list-${i}`,
        action: 'put',
        before: null,
        after: { name: `list-${i}` },
      });
    }
    const path = `/manage/audit?from=${day}&to=${day}&actor=key_pager&limit=100`;
    const whole = (await (await gw.call(`/manage/audit?from=${day}&to=${day}&actor=key_pager&limit=1000`)).json()) as Listed;
    expect(whole.data).toHaveLength(250);
    expect(whole.next).toBeNull();

    const { pages, links } = await pagesOf(path);
    expect(pages.map((p) => p.data.length)).toEqual([100, 100, 50]);
    expect(pages.flatMap((p) => p.data)).toEqual(whole.data);
    expect(new Set(pages.flatMap((p) => p.data.map((e) => e.id))).size).toBe(250);
    // The Link header names the same listing with the token.
    expect(links[0]).toBe(`<${path}&next=${pages[0]!.next}>; rel="next"`);
    expect(links[2]).toBeNull();
    const followed = await gw.call(links[0]!.slice(1, links[0]!.indexOf('>')));
    expect(((await followed.json()) as Listed).data).toEqual(pages[1]!.data);

    // Without a limit, a page holds 100.
    expect(((await (await gw.call(`/manage/audit?from=${day}&to=${day}&actor=key_pager`)).json()) as Listed).data).toHaveLength(100);
  });

  it('refuses a bad limit or token with 400 naming it', async () => {
    const day = today();
    for (const limit of ['0', '1001', '-1', '1.5', 'ten', '', '1e2']) {
      const response = await gw.call(`/manage/audit?from=${day}&to=${day}&limit=${limit}`);
      expect(response.status, limit).toBe(400);
      expect((await response.json()).error).toMatchObject({ code: 'invalid_request_error', param: 'limit' });
    }
    for (const next of ['not!a!token', 'bm9wZQ', '']) {
      const response = await gw.call(`/manage/audit?from=${day}&to=${day}&next=${next}`);
      expect(response.status, next).toBe(400);
      expect((await response.json()).error.param).toBe('next');
    }
  });
});

describe('paging GET …/versions', () => {
  it("reads a route's versions in pages that together are the whole; a bad limit is 400", async () => {
    for (const id of ['page-a', 'page-b']) expect((await putSimDeployment(gw, id)).status).toBe(201);
    await putRoute(gw, 'paged', ['page-a']);
    for (let i = 0; i < 6; i++) {
      const targets = [{ deployment: i % 2 === 0 ? 'page-b' : 'page-a' }];
      expect((await gw.call('/manage/routes/paged', { method: 'PATCH', body: JSON.stringify({ targets }) })).status).toBe(200);
    }
    const whole = (await (await gw.call('/manage/routes/paged/versions')).json()) as Listed;
    expect(whole.data.map((v) => v.version)).toEqual([7, 6, 5, 4, 3, 2, 1]);
    expect(whole.next).toBeNull();
    const { pages, links } = await pagesOf('/manage/routes/paged/versions?limit=3');
    expect(pages.map((p) => p.data.map((v) => v.version))).toEqual([[7, 6, 5], [4, 3, 2], [1]]);
    expect(links.map((link) => link !== null)).toEqual([true, true, false]);

    for (const limit of ['0', '1001', 'x']) expect((await gw.call(`/manage/routes/paged/versions?limit=${limit}`)).status).toBe(400);
    expect((await gw.call('/manage/routes/paged/versions?next=bm9wZQ')).status).toBe(400);
  });
});

describe('team versions', () => {
  it('keeps every write of a team as a version and rolls a team back, audited; in force at once', async () => {
    const team = (id: string, aliases: string[]) =>
      gw.call(`/manage/teams/${id}`, { method: 'PUT', body: JSON.stringify({ name: 'Versioned team', aliases }) });
    expect((await team('ver-team', ['chat'])).status).toBe(201);
    expect((await gw.call('/manage/teams/ver-team', { method: 'PATCH', body: JSON.stringify({ aliases: [] }) })).status).toBe(200);
    const listed = (await (await gw.call('/manage/teams/ver-team/versions')).json()) as Listed;
    expect(listed.data.map((v) => [v.version, v.action])).toEqual([
      [2, 'patch'],
      [1, 'put'],
    ]);
    expect(listed.data[1]!.document).toMatchObject({ id: 'ver-team', aliases: ['chat'] });

    const rolled = await gw.call('/manage/teams/ver-team/rollback', { method: 'POST', body: JSON.stringify({ version: 1 }) });
    expect(rolled.status, await rolled.clone().text()).toBe(200);
    expect(await rolled.json()).toMatchObject({ id: 'ver-team', aliases: ['chat'] });
    expect(gw.services.deps.catalog.current().teams.get('ver-team')?.aliases).toEqual(['chat']);
    expect(((await (await gw.call('/manage/teams/ver-team/versions')).json()) as Listed).data[0]).toMatchObject({
      version: 3,
      action: 'rollback',
    });
    const audit = (await (await gw.call(`/manage/audit?from=${today()}&to=${today()}&kind=team`)).json()) as Listed;
    expect(audit.data.find((e) => e.id === 'ver-team' && e.action === 'rollback')).toMatchObject({
      before: { aliases: [] },
      after: { aliases: ['chat'] },
    });

    expect((await gw.call('/manage/teams/no-such-team/versions')).status).toBe(404);
    expect((await gw.call('/manage/teams/ver-team/rollback', { method: 'POST', body: JSON.stringify({ version: 9 }) })).status).toBe(404);
  });
});
