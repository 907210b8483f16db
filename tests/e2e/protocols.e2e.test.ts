import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_KEY, putRoute, putSimDeployment, startTestGateway, type TestGateway } from './harness.js';

let gw: TestGateway;

beforeAll(async () => {
  gw = await startTestGateway();
  const azure = await putSimDeployment(gw, 'aoai-sim', {
    protocol: 'azure-openai',
    endpoint: gw.sims!.serverless.url,
    upstreamModel: 'gpt-4o-mini-prod',
    apiVersion: '2024-10-21',
  });
  expect(azure.status).toBe(201);
  await putRoute(gw, 'aoai', ['aoai-sim']);
});
afterAll(async () => {
  await gw?.close();
});

describe('each upstream protocol against its simulator', () => {
  it("azure-openai: calls /openai/deployments/{upstreamModel} with api-version and the api-key header, never the caller's key", async () => {
    const sim = gw.sims!.serverless;
    const completion = await gw.openai.chat.completions.create(
      { model: 'aoai', messages: [{ role: 'user', content: 'hi' }], max_tokens: 3 },
      { headers: { 'x-request-id': 'trace-aoai-1' } },
    );
    expect(completion.usage!.completion_tokens).toBe(3);
    const last = sim.stats().lastRequest!;
    expect(last.headers['x-ms-client-request-id']).toBe('trace-aoai-1');
    expect(last.path).toBe('/openai/deployments/gpt-4o-mini-prod/chat/completions');
    expect(last.query).toMatchObject({ 'api-version': '2024-10-21' });
    expect(last.headers['api-key']).toBeTruthy();
    expect(last.headers.authorization).toBeUndefined();
    expect(JSON.stringify(last.headers)).not.toContain(DEMO_KEY);
    expect(last.body).not.toHaveProperty('model');
  });

  it('azure-openai: streams with the prompt-filter chunk passed through and usage hidden unless asked', async () => {
    const stream = await gw.openai.chat.completions.create({
      model: 'aoai',
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 5,
      stream: true,
    });
    let text = '';
    let usage = 0;
    let filterChunks = 0;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? '';
      if (chunk.usage) usage += 1;
      if ((chunk as unknown as { prompt_filter_results?: unknown }).prompt_filter_results) filterChunks += 1;
    }
    expect(text.length).toBeGreaterThan(0);
    expect(usage).toBe(0);
    expect(filterChunks).toBe(1);
    expect(gw.sims!.serverless.stats().lastRequest!.body).toMatchObject({ stream_options: { include_usage: true } });
  });

  it("openai: sends the deployment's upstream model and the key in both headers", async () => {
    await gw.openai.embeddings.create({ model: 'embed', input: 'x' });
    const last = gw.sims!.serverless.stats().lastRequest!;
    expect(last.path).toBe('/v1/embeddings');
    expect(last.body).toMatchObject({ model: 'text-embedding-3-small' });
    expect(last.headers['api-key']).toBeTruthy();
    expect(last.headers.authorization).toBe(`Bearer ${last.headers['api-key']}`);
  });

  it('aml-score: posts input_data to /score pinned to the deployment, and maps max_tokens and temperature', async () => {
    const sim = gw.sims!.managed;
    const generatedBefore = sim.stats().completionTokens;
    const completion = await gw.openai.chat.completions.create({
      model: 'chat',
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: [{ type: 'text', text: 'two parts' }] },
      ],
      max_tokens: 4,
      temperature: 0.3,
    });
    // The endpoint's answer reaches the caller, generated to exactly the max_tokens it was sent.
    expect(completion.choices[0]!.message.content!.trim()).not.toBe('');
    expect(sim.stats().completionTokens - generatedBefore).toBe(4);
    const last = sim.stats().lastRequest!;
    expect(last.path).toBe('/score');
    expect(last.headers['azureml-model-deployment']).toBe('blue');
    expect(last.headers.authorization).toMatch(/^Bearer /);
    expect(last.body).toEqual({
      input_data: {
        input_string: [
          { role: 'system', content: 'be brief' },
          { role: 'user', content: 'two parts' },
        ],
        parameters: { max_new_tokens: 4, temperature: 0.3, do_sample: true },
      },
    });
  });

  it('refuses embeddings from a model whose deployments serve chat only', async () => {
    const response = await gw.call('/v1/embeddings', {
      method: 'POST',
      key: DEMO_KEY,
      body: JSON.stringify({ model: 'chat', input: 'x' }),
    });
    expect(response.status).toBe(400);
    expect((await response.json()).error).toMatchObject({
      code: 'invalid_request_error',
      param: 'model',
      message: "The model 'chat' does not serve embeddings.",
    });
  });
});
