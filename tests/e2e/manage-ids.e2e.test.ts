import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, startTestGateway, type TestGateway } from './harness.js';

let gw: TestGateway;

beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(async () => {
  await gw?.close();
});

/** Sends the path exactly as written: fetch would resolve `%2e` segments before they reach the gateway. */
function rawCall(path: string, method: string, body?: string): Promise<{ status: number; text: string }> {
  const url = new URL(gw.url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        method,
        path,
        headers: {
          authorization: `Bearer ${ADMIN_KEY}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode!, text }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

// Each is one path segment as it travels on the wire.
const hostileIds = [
  '%2e',
  '%2E',
  '.%2e',
  '%2e%2e',
  '%2E%2E',
  '..',
  '%2F',
  'a%2Fb',
  '%5C',
  'a%5Cb',
  '%23',
  'a%23b',
  '%00',
  'a%00',
  '%20',
  'a%20b',
  '%09',
  '%E2%80%A4',
  '%EF%BC%8E',
  '%EF%BC%8E%EF%BC%8E',
  'Demo',
  'DEMO',
  'sim-llama-MANAGED',
  '%3F',
  '_x',
  '-x',
  'a'.repeat(64),
];
const hostileKeyIds = [
  '%2e',
  '%2E',
  '.%2e',
  '%2e%2e',
  '%2F',
  '%5C',
  '%23',
  '%00',
  '%20',
  '%09',
  '%E2%80%A4',
  '%EF%BC%8E',
  'key_%2e%2e',
  'key_a%2Fb',
  'key_a%5Cb',
  'key_a%23b',
  'key_a%20b',
  'key_',
  'key_a.b',
  'demo',
];

const team = JSON.stringify({ name: 'Hostile', aliases: [], tags: [] });
const deployment = JSON.stringify({
  kind: 'serverless',
  protocol: 'azure-openai',
  endpoint: 'https://my-resource.openai.azure.com',
  upstreamModel: 'gpt-4o-mini',
  auth: { type: 'entra', scope: 'https://cognitiveservices.azure.com/.default' },
  pricing: { inputPerMillionUsd: 0.15, outputPerMillionUsd: 0.6 },
});
const route = JSON.stringify({ targets: [{ deployment: 'sim-llama-serverless' }] });

type Case = { method: string; path: (id: string) => string; body?: string; status: number; route?: string };
const documentCases: Case[] = [
  { method: 'GET', path: (id) => `/manage/deployments/${id}`, status: 404 },
  { method: 'PUT', path: (id) => `/manage/deployments/${id}`, body: deployment, status: 400 },
  { method: 'PATCH', path: (id) => `/manage/deployments/${id}`, body: '{"region":"x"}', status: 400 },
  { method: 'DELETE', path: (id) => `/manage/deployments/${id}`, status: 404 },
  { method: 'GET', path: (id) => `/manage/routes/${id}`, status: 404 },
  { method: 'PUT', path: (id) => `/manage/routes/${id}`, body: route, status: 400 },
  { method: 'PATCH', path: (id) => `/manage/routes/${id}`, body: '{"strategy":"spillover"}', status: 400 },
  { method: 'DELETE', path: (id) => `/manage/routes/${id}`, status: 404 },
  { method: 'GET', path: (id) => `/manage/teams/${id}`, status: 404 },
  { method: 'PUT', path: (id) => `/manage/teams/${id}`, body: team, status: 400 },
  { method: 'PATCH', path: (id) => `/manage/teams/${id}`, body: '{"name":"x"}', status: 400 },
  { method: 'POST', path: (id) => `/manage/teams/${id}/keys`, body: '{}', status: 400 },
  { method: 'DELETE', path: (id) => `/manage/teams/${id}/keys/key_AAAAAAAAAAAA`, status: 404 },
];
const keyCases: Case[] = [
  { method: 'DELETE', path: (id) => `/manage/teams/demo/keys/${id}`, status: 404 },
  { method: 'DELETE', path: (id) => `/manage/keys/${id}`, status: 404 },
];

/** A body that holds another document: a key hash, Cosmos metadata, a container definition, a list. */
function expectNoForeignDocument(text: string): void {
  expect(text).not.toMatch(/"hash"|"partitionKey"|"_rid"|"_self"|"Documents"|"data"\s*:/);
}

describe('ids taken from paths', () => {
  it.each(documentCases.map((c) => ({ ...c, route: c.path('{id}') })))(
    '$method $route refuses every hostile id before the store',
    async ({ method, path, body, status }) => {
      for (const id of hostileIds) {
        const answer = await rawCall(path(id), method, body);
        expect(answer.status, `${method} ${path(id)}: ${answer.text}`).toBe(status);
        expectNoForeignDocument(answer.text);
        expect(JSON.parse(answer.text).error.code, path(id)).toBe(status === 404 ? 'not_found' : 'invalid_request_error');
      }
    },
  );

  it.each(keyCases.map((c) => ({ ...c, route: c.path('{keyId}') })))(
    '$method $route refuses every hostile key id',
    async ({ method, path, status }) => {
      for (const id of hostileKeyIds) {
        const answer = await rawCall(path(id), method);
        expect(answer.status, `${method} ${path(id)}: ${answer.text}`).toBe(status);
        expectNoForeignDocument(answer.text);
      }
    },
  );

  it('never mints a key for a team named by dot segments, and leaves the catalog as it was', async () => {
    const before = await (await gw.call('/manage/teams')).json();
    for (const id of ['%2e%2e', '%2e', '.%2e', '%EF%BC%8E']) {
      expect((await rawCall(`/manage/teams/${id}/keys`, 'POST', '{}')).status).toBe(400);
      expect((await rawCall(`/manage/teams/${id}`, 'PUT', team)).status).toBe(400);
    }
    expect(await (await gw.call('/manage/teams')).json()).toEqual(before);
    const keys = await (await gw.call('/manage/keys')).json();
    expect(keys.data.every((k: { team?: string }) => k.team === undefined || k.team === 'demo')).toBe(true);
  });

  it('still serves well-formed ids, including dots inside them', async () => {
    expect((await rawCall('/manage/teams/demo', 'GET')).status).toBe(200);
    expect((await rawCall('/manage/teams/team.v2', 'PUT', team)).status).toBe(201);
    expect((await rawCall('/manage/teams/team.v2', 'GET')).status).toBe(200);
    expect((await rawCall('/manage/teams/no-such-team', 'GET')).status).toBe(404);
    expect((await rawCall('/manage/keys/key_AAAAAAAAAAAA', 'DELETE')).status).toBe(404);
  });
});
