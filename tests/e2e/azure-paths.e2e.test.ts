import OpenAI, { AzureOpenAI } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_KEY, putRoute, putSimDeployment, startTestGateway, type TestGateway } from './harness.js';

let gw: TestGateway;

beforeAll(async () => {
  gw = await startTestGateway();
  // An azure-openai deployment on the OpenAI-compatible simulator, which serves the dated deployment paths.
  const created = await putSimDeployment(gw, 'aoai-dated', {
    protocol: 'azure-openai',
    endpoint: gw.sims!.serverless.url,
    upstreamModel: 'gpt-4o-mini-prod',
    apiVersion: '2024-06-01',
  });
  expect(created.status).toBe(201);
  await putRoute(gw, 'aoai', ['aoai-dated']);
});
afterAll(async () => {
  await gw?.close();
});

const azureClient = (apiVersion: string, deployment?: string) =>
  new AzureOpenAI({ endpoint: gw.url, apiKey: DEMO_KEY, apiVersion, deployment, maxRetries: 0 });
const hi = [{ role: 'user' as const, content: 'hi' }];
const post = (path: string, body: unknown) => gw.call(path, { method: 'POST', key: DEMO_KEY, body: JSON.stringify(body) });

async function expectError(response: Response, status: number, code: string, param?: string): Promise<void> {
  expect(response.status).toBe(status);
  const { error } = await response.json();
  expect(error.code).toBe(code);
  if (param) expect(error.param).toBe(param);
}

describe('the AzureOpenAI client on the dated deployment paths', () => {
  it('chats, streams and embeds with the alias as its deployment', async () => {
    const chat = azureClient('2024-10-21', 'chat');
    const completion = await chat.chat.completions.create({ model: '', messages: hi, max_tokens: 4 });
    expect(completion.usage!.completion_tokens).toBe(4);

    const stream = await chat.chat.completions.create({ model: '', messages: hi, max_tokens: 3, stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    expect(text.length).toBeGreaterThan(0);

    const floats = await azureClient('2024-10-21', 'embed').embeddings.create({ model: '', input: ['a', 'b'], encoding_format: 'float' });
    expect(floats.data).toHaveLength(2);
    const decoded = await azureClient('2024-10-21', 'embed').embeddings.create({ model: '', input: 'a' });
    expect(decoded.data[0]!.embedding).toEqual(floats.data[0]!.embedding);
  });

  it('lists and retrieves the aliases the team may use through models.list() (GET /openai/models)', async () => {
    const models = await azureClient('2024-10-21').models.list();
    expect(models.data.map((model) => model.id)).toEqual(['aoai', 'chat', 'embed']);
    const one = await azureClient('2024-10-21').models.retrieve('chat');
    expect(one).toMatchObject({ id: 'chat', object: 'model' });
  });

  it("forwards the caller's api-version to an azure-openai upstream, and the deployment's own when the caller names none", async () => {
    const sim = gw.sims!.serverless;
    await azureClient('2025-04-01-preview', 'aoai').chat.completions.create({ model: '', messages: hi, max_tokens: 2 });
    expect(sim.stats().lastRequest!.path).toBe('/openai/deployments/gpt-4o-mini-prod/chat/completions');
    expect(sim.stats().lastRequest!.query).toMatchObject({ 'api-version': '2025-04-01-preview' });

    await azureClient('2024-02-01', 'aoai').embeddings.create({ model: '', input: 'x' });
    expect(sim.stats().lastRequest!.path).toBe('/openai/deployments/gpt-4o-mini-prod/embeddings');
    expect(sim.stats().lastRequest!.query).toMatchObject({ 'api-version': '2024-02-01' });

    await gw.openai.chat.completions.create({ model: 'aoai', messages: hi, max_tokens: 2 });
    expect(sim.stats().lastRequest!.query).toMatchObject({ 'api-version': '2024-06-01' });
    // The v1 surface has no dated version to forward: the deployment's own is sent.
    await post('/openai/v1/chat/completions?api-version=preview', { model: 'aoai', messages: hi, max_tokens: 2 });
    expect(sim.stats().lastRequest!.query).toMatchObject({ 'api-version': '2024-06-01' });
  });

  it('refuses an unknown or missing api-version with a 400 naming api-version, before any upstream call', async () => {
    const sim = gw.sims!.serverless;
    const before = sim.stats().requests;
    for (const query of ['?api-version=2024-13-01', '?api-version=latest', '?api-version=v1', '']) {
      await expectError(
        await post(`/openai/deployments/aoai/chat/completions${query}`, { messages: hi }),
        400,
        'invalid_request_error',
        'api-version',
      );
    }
    await expectError(
      await post('/openai/deployments/aoai/embeddings?api-version=2099-01-01', { input: 'x' }),
      400,
      'invalid_request_error',
      'api-version',
    );
    await expect(azureClient('2023-01-01', 'aoai').chat.completions.create({ model: '', messages: hi })).rejects.toMatchObject({
      status: 400,
      param: 'api-version',
    });
    expect(sim.stats().requests).toBe(before);
  });
});

describe('the Azure OpenAI v1 surface (/openai/v1, model = alias)', () => {
  it('serves the OpenAI client with baseURL …/openai/v1: chat, stream, embeddings, models', async () => {
    const v1 = new OpenAI({ baseURL: `${gw.url}/openai/v1`, apiKey: DEMO_KEY, maxRetries: 0 });
    const completion = await v1.chat.completions.create({ model: 'chat', messages: hi, max_tokens: 5 });
    expect(completion.usage!.completion_tokens).toBe(5);
    const stream = await v1.chat.completions.create({
      model: 'chat',
      messages: hi,
      max_tokens: 3,
      stream: true,
      stream_options: { include_usage: true },
    });
    let usage = 0;
    for await (const chunk of stream) usage += chunk.usage?.completion_tokens ?? 0;
    expect(usage).toBe(3);
    const embeddings = await v1.embeddings.create({ model: 'embed', input: ['x', 'y'] });
    expect(embeddings.data).toHaveLength(2);
    expect((await v1.models.list()).data.map((model) => model.id)).toEqual(['aoai', 'chat', 'embed']);
    expect(await v1.models.retrieve('embed')).toMatchObject({ id: 'embed', object: 'model' });
  });

  it('accepts api-version v1, preview or none, and refuses any other', async () => {
    for (const query of ['', '?api-version=v1', '?api-version=preview']) {
      const chat = await post(`/openai/v1/chat/completions${query}`, { model: 'chat', messages: hi, max_tokens: 2 });
      expect(chat.status).toBe(200);
      expect(chat.headers.get('x-switchyard-deployment')).toBeTruthy();
      const embeddings = await post(`/openai/v1/embeddings${query}`, { model: 'embed', input: 'x' });
      expect(embeddings.status).toBe(200);
      const models = await gw.call(`/openai/v1/models${query}`, { key: DEMO_KEY });
      expect(models.status).toBe(200);
      expect((await models.json()).object).toBe('list');
    }
    await expectError(
      await post('/openai/v1/chat/completions?api-version=2024-10-21', { model: 'chat', messages: hi }),
      400,
      'invalid_request_error',
      'api-version',
    );
    await expectError(await gw.call('/openai/v1/models?api-version=v2', { key: DEMO_KEY }), 400, 'invalid_request_error', 'api-version');
  });

  it('answers plain fetch on GET /openai/models, and refuses a call without a key or with an alias the team lacks', async () => {
    const models = await gw.call('/openai/models?api-version=2024-10-21', { key: DEMO_KEY });
    expect(models.status).toBe(200);
    expect((await models.json()).data.map((model: { id: string }) => model.id)).toEqual(['aoai', 'chat', 'embed']);
    await expectError(await gw.call('/openai/v1/models', { key: null }), 401, 'invalid_api_key');
    await expectError(await post('/openai/v1/chat/completions', { model: 'nope', messages: hi }), 404, 'model_not_found');
    await expectError(await gw.call('/openai/v1/models/nope', { key: DEMO_KEY }), 404, 'model_not_found');
  });
});
