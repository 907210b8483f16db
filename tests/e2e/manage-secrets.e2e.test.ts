import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedLocal } from '../../local/seed-local.js';
import { ADMIN_KEY, DEMO_KEY, putRoute, startTestGateway, type TestGateway } from './harness.js';

const COSMOS_KEY_VALUE = 'cosmos-account-key-that-must-stay-home';
const UPSTREAM_KEY_VALUE = 'upstream-key-for-the-listener';
const ALLOWED_KEY_VALUE = 'allow-listed-key-for-the-listener';

let gw: TestGateway;
let listener: Server;
let listenerUrl: string;
const received: IncomingHttpHeaders[] = [];

beforeAll(async () => {
  // Any loopback listener: in local mode an ops key may point a deployment at it.
  listener = createServer((req, res) => {
    received.push(req.headers);
    req.resume();
    res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":{"message":"listener"}}');
  });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  listenerUrl = `http://127.0.0.1:${(listener.address() as AddressInfo).port}/v1`;
  gw = await startTestGateway({
    env: {
      UNRELATED_COSMOS_KEY: COSMOS_KEY_VALUE,
      UPSTREAM_LISTENER_KEY: UPSTREAM_KEY_VALUE,
      LISTENER_API_KEY: ALLOWED_KEY_VALUE,
      SWITCHYARD_UPSTREAM_SECRET_SETTINGS: 'LISTENER_API_KEY',
    },
  });
});
afterAll(async () => {
  await gw?.close();
  await new Promise((resolve) => listener?.close(resolve));
});

const deploymentNaming = (secret: string) => ({
  kind: 'serverless',
  protocol: 'openai',
  endpoint: listenerUrl,
  upstreamModel: 'any',
  auth: { type: 'key', secret },
  pricing: { inputPerMillionUsd: 1, outputPerMillionUsd: 1 },
});

function sentKeys(): string[] {
  return received.map((headers) => `${headers.authorization ?? ''} ${headers['api-key'] ?? ''}`);
}

describe('the settings a deployment may send upstream', () => {
  it('refuses an ops key that names the admin key setting, and the admin key never reaches the listener', async () => {
    const ops = await (await gw.call('/manage/keys', { method: 'POST', body: JSON.stringify({ role: 'ops' }) })).json();
    const attack = await gw.call('/manage/deployments/exfiltrate', {
      method: 'PUT',
      key: ops.key,
      body: JSON.stringify(deploymentNaming('SWITCHYARD_ADMIN_KEY')),
    });
    expect(attack.status).toBe(400);
    const error = (await attack.json()).error;
    expect(error.param).toBe('auth.secret');
    expect(error.message).toMatch(/SWITCHYARD_ADMIN_KEY/);
    expect((await gw.call('/manage/deployments/exfiltrate')).status).toBe(404);
    expect(sentKeys().join('\n')).not.toContain(ADMIN_KEY);
  });

  it.each([
    'SWITCHYARD_ADMIN_KEY',
    'SWITCHYARD_DEMO_KEY',
    'COSMOS_KEY',
    'AzureWebJobsStorage',
    'AZURE_CLIENT_SECRET',
    'IDENTITY_HEADER',
    'MSI_SECRET',
    'WEBSITE_AUTH_ENCRYPTION_KEY',
    'FUNCTIONS_EXTENSION_VERSION',
    'APPLICATIONSETTING_COSMOS_KEY',
    'APPLICATIONINSIGHTS_CONNECTION_STRING',
    'UNRELATED_COSMOS_KEY',
    'PATH',
  ])('refuses auth.secret %s with 400 naming the field', async (secret) => {
    const refused = await gw.call('/manage/deployments/named-setting', { method: 'PUT', body: JSON.stringify(deploymentNaming(secret)) });
    expect(refused.status).toBe(400);
    expect((await refused.json()).error.param).toBe('auth.secret');
  });

  it('refuses the same through PATCH', async () => {
    expect(
      (
        await gw.call('/manage/deployments/patched-secret', {
          method: 'PUT',
          body: JSON.stringify(deploymentNaming('UPSTREAM_LISTENER_KEY')),
        })
      ).status,
    ).toBe(201);
    const patched = await gw.call('/manage/deployments/patched-secret', {
      method: 'PATCH',
      body: JSON.stringify({ auth: { secret: 'SWITCHYARD_ADMIN_KEY' } }),
    });
    expect(patched.status).toBe(400);
    expect((await patched.json()).error.param).toBe('auth.secret');
  });

  it('sends a setting starting with UPSTREAM_, or one on SWITCHYARD_UPSTREAM_SECRET_SETTINGS', async () => {
    expect(
      (
        await gw.call('/manage/deployments/listener-prefixed', {
          method: 'PUT',
          body: JSON.stringify(deploymentNaming('UPSTREAM_LISTENER_KEY')),
        })
      ).status,
    ).toBe(201);
    expect(
      (await gw.call('/manage/deployments/listener-listed', { method: 'PUT', body: JSON.stringify(deploymentNaming('LISTENER_API_KEY')) }))
        .status,
    ).toBe(201);
    await putRoute(gw, 'listener-prefixed', ['listener-prefixed']);
    await putRoute(gw, 'listener-listed', ['listener-listed']);
    received.length = 0;
    await gw.openai.chat.completions
      .create({ model: 'listener-prefixed', messages: [{ role: 'user', content: 'hi' }] })
      .catch(() => undefined);
    await gw.openai.chat.completions
      .create({ model: 'listener-listed', messages: [{ role: 'user', content: 'hi' }] })
      .catch(() => undefined);
    const sent = sentKeys().join('\n');
    expect(sent).toContain(UPSTREAM_KEY_VALUE);
    expect(sent).toContain(ALLOWED_KEY_VALUE);
  });

  it('never sends a reserved setting named by a document already in the store', async () => {
    // As a store written before the rule, or by hand, would hold it: past the management API's checks.
    const { store } = gw.services.deps;
    for (const [id, secret] of [
      ['stored-admin', 'SWITCHYARD_ADMIN_KEY'],
      ['stored-unlisted', 'UNRELATED_COSMOS_KEY'],
    ] as const) {
      await store.put('deployment', {
        id,
        kind: 'serverless',
        protocol: 'openai',
        endpoint: listenerUrl,
        upstreamModel: 'any',
        serves: ['chat'],
        auth: { type: 'key', secret },
        pricing: { inputPerMillionUsd: 1, outputPerMillionUsd: 1 },
        tags: [],
        enabled: true,
      });
    }
    await putRoute(gw, 'stored-secrets', ['stored-admin', 'stored-unlisted']);
    received.length = 0;
    const answer = await gw.call('/v1/chat/completions', {
      key: DEMO_KEY,
      method: 'POST',
      body: JSON.stringify({ model: 'stored-secrets', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(answer.status).toBeGreaterThanOrEqual(500);
    expect(received).toHaveLength(0);
    const text = await answer.text();
    expect(text).not.toContain(ADMIN_KEY);
    expect(text).not.toContain(COSMOS_KEY_VALUE);
  });

  it('moves simulated deployments stored by an earlier start off the old SWITCHYARD_SIM_KEY setting', async () => {
    const { store } = gw.services.deps;
    const current = (await store.get('deployment', 'sim-llama-serverless'))!;
    expect(current.doc.auth).toEqual({ type: 'key', secret: 'UPSTREAM_SIM_KEY' });
    await store.put('deployment', { ...current.doc, auth: { type: 'key', secret: 'SWITCHYARD_SIM_KEY' } }, { ifMatch: current.etag });
    await seedLocal(store, {
      serverlessSimUrl: gw.sims!.serverless.url,
      managedSimUrl: gw.sims!.managed.url,
      simKeySetting: 'UPSTREAM_SIM_KEY',
      adminKey: ADMIN_KEY,
      now: Date.now,
    });
    expect((await store.get('deployment', 'sim-llama-serverless'))!.doc.auth).toEqual({ type: 'key', secret: 'UPSTREAM_SIM_KEY' });
    await gw.services.deps.catalog.refresh();
    const answer = await gw.openai.chat.completions.create({
      model: 'chat',
      messages: [{ role: 'user', content: 'still served' }],
      max_tokens: 5,
    });
    expect(answer.choices[0]!.message.content).toBeTruthy();
  });
});
