import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_KEY, startTestGateway, type TestGateway, today } from './harness.js';

/**
 * Every management and usage route × every kind of caller. 'auth' is 401, 'forbidden' 403, 'allowed' anything
 * else (2xx, or a 4xx about the request itself: the caller got past authorisation). Ids name nothing that
 * exists and bodies are empty where a write would change something shared, so allowed writes answer 4xx.
 */
type Caller = 'none' | 'team' | 'ops' | 'finance' | 'admin';
type Outcome = 'auth' | 'forbidden' | 'allowed';
type Access = 'ops' | 'admin' | 'finance' | 'usage' | 'read';

/** Who passes, per access rule: ops-level routes admit ops and admin; usage also admits a team key for its own team. */
const admits: Record<Access, readonly Caller[]> = {
  ops: ['ops', 'admin'],
  admin: ['admin'],
  finance: ['finance', 'admin'],
  usage: ['team', 'finance', 'admin'],
  read: ['ops', 'finance', 'admin'],
};

const rows: ReadonlyArray<{ method: string; route: string; access: Access; path: string; body?: unknown }> = [
  { method: 'GET', route: 'manage/deployments', access: 'ops', path: '/manage/deployments' },
  { method: 'GET', route: 'manage/deployments/{id}', access: 'ops', path: '/manage/deployments/matrix-x' },
  { method: 'PUT', route: 'manage/deployments/{id}', access: 'ops', path: '/manage/deployments/matrix-x', body: {} },
  { method: 'PATCH', route: 'manage/deployments/{id}', access: 'ops', path: '/manage/deployments/matrix-x', body: {} },
  { method: 'DELETE', route: 'manage/deployments/{id}', access: 'ops', path: '/manage/deployments/matrix-x' },
  { method: 'GET', route: 'manage/deployments/{id}/versions', access: 'ops', path: '/manage/deployments/matrix-x/versions' },
  { method: 'GET', route: 'manage/deployments/{id}/prices', access: 'read', path: '/manage/deployments/matrix-x/prices' },
  {
    method: 'POST',
    route: 'manage/deployments/{id}/rollback',
    access: 'ops',
    path: '/manage/deployments/matrix-x/rollback',
    body: { version: 1 },
  },
  { method: 'GET', route: 'manage/routes', access: 'ops', path: '/manage/routes' },
  { method: 'GET', route: 'manage/routes/{alias}', access: 'ops', path: '/manage/routes/matrix-x' },
  { method: 'PUT', route: 'manage/routes/{alias}', access: 'ops', path: '/manage/routes/matrix-x', body: {} },
  { method: 'PATCH', route: 'manage/routes/{alias}', access: 'ops', path: '/manage/routes/matrix-x', body: {} },
  { method: 'DELETE', route: 'manage/routes/{alias}', access: 'ops', path: '/manage/routes/matrix-x' },
  { method: 'GET', route: 'manage/routes/{alias}/versions', access: 'ops', path: '/manage/routes/matrix-x/versions' },
  {
    method: 'POST',
    route: 'manage/routes/{alias}/rollback',
    access: 'ops',
    path: '/manage/routes/matrix-x/rollback',
    body: { version: 1 },
  },
  { method: 'PUT', route: 'manage/routes/{alias}/shift', access: 'ops', path: '/manage/routes/matrix-x/shift', body: {} },
  { method: 'DELETE', route: 'manage/routes/{alias}/shift', access: 'ops', path: '/manage/routes/matrix-x/shift' },
  { method: 'GET', route: 'manage/routes/{alias}/shadow', access: 'read', path: '/manage/routes/matrix-x/shadow' },
  { method: 'GET', route: 'manage/teams', access: 'ops', path: '/manage/teams' },
  { method: 'GET', route: 'manage/teams/{id}', access: 'ops', path: '/manage/teams/matrix-x' },
  { method: 'PUT', route: 'manage/teams/{id}', access: 'ops', path: '/manage/teams/matrix-x', body: {} },
  { method: 'PATCH', route: 'manage/teams/{id}', access: 'ops', path: '/manage/teams/matrix-x', body: {} },
  { method: 'GET', route: 'manage/teams/{id}/versions', access: 'ops', path: '/manage/teams/matrix-x/versions' },
  { method: 'POST', route: 'manage/teams/{id}/rollback', access: 'ops', path: '/manage/teams/matrix-x/rollback', body: { version: 1 } },
  { method: 'GET', route: 'manage/blocklists', access: 'ops', path: '/manage/blocklists' },
  { method: 'GET', route: 'manage/blocklists/{name}', access: 'ops', path: '/manage/blocklists/matrix-x' },
  { method: 'PUT', route: 'manage/blocklists/{name}', access: 'ops', path: '/manage/blocklists/matrix-x', body: {} },
  { method: 'DELETE', route: 'manage/blocklists/{name}', access: 'ops', path: '/manage/blocklists/matrix-x' },
  { method: 'POST', route: 'manage/safety/selftest', access: 'ops', path: '/manage/safety/selftest' },
  { method: 'POST', route: 'manage/teams/{id}/keys', access: 'ops', path: '/manage/teams/matrix-x/keys', body: {} },
  { method: 'DELETE', route: 'manage/teams/{id}/keys/{keyId}', access: 'ops', path: '/manage/teams/matrix-x/keys/key_matrix0' },
  { method: 'POST', route: 'manage/explain', access: 'ops', path: '/manage/explain', body: {} },
  { method: 'GET', route: 'manage/deployments/{id}/health', access: 'read', path: '/manage/deployments/matrix-x/health' },
  { method: 'GET', route: 'manage/health/deployments', access: 'read', path: '/manage/health/deployments' },
  { method: 'GET', route: 'manage/keys', access: 'admin', path: '/manage/keys' },
  { method: 'POST', route: 'manage/keys', access: 'admin', path: '/manage/keys', body: {} },
  { method: 'DELETE', route: 'manage/keys/{id}', access: 'admin', path: '/manage/keys/key_matrix0' },
  { method: 'GET', route: 'manage/audit', access: 'finance', path: `/manage/audit?from=${today()}&to=${today()}` },
  { method: 'GET', route: 'usage', access: 'usage', path: `/usage?from=${today()}&to=${today()}` },
  { method: 'GET', route: 'usage/budgets', access: 'usage', path: '/usage/budgets' },
  { method: 'GET', route: 'usage/statements/{team}', access: 'usage', path: '/usage/statements/demo' },
  { method: 'GET', route: 'usage/advice', access: 'finance', path: '/usage/advice' },
  { method: 'POST', route: 'usage/reconcile', access: 'finance', path: '/usage/reconcile?month=2000-01' },
  { method: 'POST', route: 'usage/reconcile/azure', access: 'finance', path: '/usage/reconcile/azure' },
];

let gw: TestGateway;
const keys: Record<Caller, string | null> = { none: null, team: DEMO_KEY, ops: null, finance: null, admin: null };

beforeAll(async () => {
  gw = await startTestGateway();
  keys.admin = (await gw.call('/manage/keys', { method: 'POST', body: JSON.stringify({ role: 'admin' }) }).then((r) => r.json())).key;
  for (const role of ['ops', 'finance'] as const)
    keys[role] = (await gw.call('/manage/keys', { method: 'POST', body: JSON.stringify({ role }) }).then((r) => r.json())).key;
});
afterAll(async () => {
  await gw?.close();
});

function outcome(status: number): Outcome {
  if (status === 401) return 'auth';
  if (status === 403) return 'forbidden';
  return 'allowed';
}

describe('role matrix', () => {
  it('has a row for every management and usage route the function app registers', () => {
    const registered = gw.host.registrations
      .filter((r) => r.route.startsWith('manage/') || r.route === 'usage' || r.route.startsWith('usage/'))
      .flatMap((r) => r.methods.map((m) => `${m} ${r.route}`))
      .sort();
    expect(rows.map((r) => `${r.method} ${r.route}`).sort()).toEqual(registered);
  });

  const cases = rows.flatMap((row) =>
    (['none', 'team', 'ops', 'finance', 'admin'] as const).map((caller) => {
      const expected: Outcome = caller === 'none' ? 'auth' : admits[row.access].includes(caller) ? 'allowed' : 'forbidden';
      return { ...row, caller, expected };
    }),
  );

  it.each(cases)('$method $route as $caller → $expected', async ({ method, path, body, caller, expected }) => {
    const response = await gw.call(path, { method, key: keys[caller], ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    const text = await response.text();
    expect(outcome(response.status), `${response.status} ${text.slice(0, 200)}`).toBe(expected);
    expect(response.status, text.slice(0, 200)).toBeLessThan(500);
    if (expected !== 'allowed') expect(JSON.parse(text).error.code).toBe(expected === 'auth' ? 'invalid_api_key' : 'forbidden');
  });
});
