import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { putRoute, putSimDeployment, startTestGateway, today, type TestGateway } from './harness.js';

let gw: TestGateway;

beforeAll(async () => {
  gw = await startTestGateway();
  expect((await putSimDeployment(gw, 'llama-serverless-e2e')).status).toBe(201);
  await putRoute(gw, 'chat-serverless', ['llama-serverless-e2e']);
});
afterAll(async () => {
  await gw?.close();
});

describe('the official openai client against the gateway', () => {
  it('lists the aliases the team may use', async () => {
    const models = await gw.openai.models.list();
    expect(models.data.map((m) => m.id)).toEqual(['chat', 'chat-serverless', 'embed']);
    expect(models.data[0]).toMatchObject({ object: 'model', owned_by: 'switchyard' });
    expect(await gw.openai.models.retrieve('embed')).toMatchObject({ id: 'embed', object: 'model' });
    await expect(gw.openai.models.retrieve('nope')).rejects.toMatchObject({ status: 404, code: 'model_not_found' });
  });

  it('answers a chat completion from the managed deployment, with token usage estimated by the tokenizer', async () => {
    const { data, response } = await gw.openai.chat.completions
      .create({ model: 'chat', messages: [{ role: 'user', content: 'Say hello' }], max_tokens: 7 })
      .withResponse();
    expect(response.headers.get('x-switchyard-deployment')).toBe('sim-llama-managed');
    expect(response.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(data.object).toBe('chat.completion');
    expect(data.choices[0]!.message.content!.length).toBeGreaterThan(0);
    expect(data.usage!.completion_tokens).toBe(7);
  });

  it("keeps the caller's sane x-request-id and replaces a hostile one", async () => {
    const kept = await gw.openai.chat.completions
      .create(
        { model: 'chat', messages: [{ role: 'user', content: 'x' }], max_tokens: 2 },
        { headers: { 'x-request-id': 'trace-123.abc' } },
      )
      .withResponse();
    expect(kept.response.headers.get('x-request-id')).toBe('trace-123.abc');
    const replaced = await gw.openai.chat.completions
      .create(
        { model: 'chat', messages: [{ role: 'user', content: 'x' }], max_tokens: 2 },
        { headers: { 'x-request-id': '<script>alert(1)</script>' } },
      )
      .withResponse();
    expect(replaced.response.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('relays a serverless stream untouched and hides the usage chunk the caller did not ask for', async () => {
    const stream = await gw.openai.chat.completions.create({
      model: 'chat-serverless',
      messages: [{ role: 'user', content: 'Stream please' }],
      max_tokens: 12,
      stream: true,
    });
    let text = '';
    let usageChunks = 0;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? '';
      if (chunk.usage) usageChunks += 1;
    }
    expect(usageChunks).toBe(0);
    expect(text.length).toBeGreaterThan(0);
    // The upstream was asked for usage all the same.
    expect(gw.sims!.serverless.stats().lastRequest!.body).toMatchObject({ stream: true, stream_options: { include_usage: true } });
  });

  it('passes the usage chunk on when the caller asks for it', async () => {
    const stream = await gw.openai.chat.completions.create({
      model: 'chat-serverless',
      messages: [{ role: 'user', content: 'Count me' }],
      max_tokens: 9,
      stream: true,
      stream_options: { include_usage: true },
    });
    const usages = [];
    for await (const chunk of stream) if (chunk.usage) usages.push(chunk.usage);
    expect(usages).toHaveLength(1);
    expect(usages[0]!.completion_tokens).toBe(9);
  });

  it('streams from the managed deployment (which cannot stream) as SSE chunks', async () => {
    const stream = await gw.openai.chat.completions.create({
      model: 'chat',
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 5,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let usage: { prompt_tokens: number; completion_tokens: number } | null | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? '';
      usage = chunk.usage ?? usage;
    }
    expect(text.split(/\s+/).filter(Boolean).length).toBeGreaterThan(0);
    expect(usage?.completion_tokens).toBe(5);
  });

  it('creates embeddings, as floats and as base64', async () => {
    const floats = await gw.openai.embeddings.create({ model: 'embed', input: ['one', 'two'], encoding_format: 'float' });
    expect(floats.data).toHaveLength(2);
    expect(floats.data[0]!.embedding.length).toBe(8);
    const decoded = await gw.openai.embeddings.create({ model: 'embed', input: 'one' });
    expect(decoded.data[0]!.embedding).toEqual(floats.data[0]!.embedding);
  });

  it('serves the AzureOpenAI client on /openai/deployments/{alias}', async () => {
    const azure = gw.azure('chat-serverless');
    const completion = await azure.chat.completions.create({ model: '', messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 });
    expect(completion.usage!.completion_tokens).toBe(4);
    const embeddings = await gw.azure('embed').embeddings.create({ model: '', input: 'hello' });
    expect(embeddings.data).toHaveLength(1);
    const stream = await azure.chat.completions.create({
      model: '',
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 3,
      stream: true,
    });
    let chunks = 0;
    for await (const _ of stream) chunks += 1;
    expect(chunks).toBeGreaterThan(2);
  });

  it('records usage that sums exactly to what the deployments reported, over 200 concurrent mixed requests', async () => {
    await gw.flushUsage();
    const before = await (await gw.call(`/usage?from=${today()}&to=${today()}&groupBy=alias`)).json();
    const sim = gw.sims!.serverless;
    sim.resetStats();
    const jobs = Array.from({ length: 200 }, (_, i) => {
      const content = `request ${i} ${'word '.repeat(i % 17)}`;
      if (i % 3 === 0) return gw.openai.embeddings.create({ model: 'embed', input: [content, `${content}!`] });
      if (i % 3 === 1)
        return gw.openai.chat.completions.create({
          model: 'chat-serverless',
          messages: [{ role: 'user', content }],
          max_tokens: 1 + (i % 11),
        });
      return (async () => {
        const stream = await gw.openai.chat.completions.create({
          model: 'chat-serverless',
          messages: [{ role: 'user', content }],
          max_tokens: 1 + (i % 13),
          stream: true,
        });
        for await (const _ of stream) void _;
      })();
    });
    await Promise.all(jobs);
    await gw.flushUsage();
    const after = await (await gw.call(`/usage?from=${today()}&to=${today()}&groupBy=alias`)).json();
    const delta = (alias: string, field: string) =>
      (after.rows.find((r: Record<string, unknown>) => r.alias === alias)?.[field] ?? 0) -
      (before.rows.find((r: Record<string, unknown>) => r.alias === alias)?.[field] ?? 0);
    const stats = sim.stats();
    expect(stats.succeeded).toBe(200);
    expect(delta('chat-serverless', 'requests') + delta('embed', 'requests')).toBe(200);
    expect(delta('chat-serverless', 'inputTokens')).toBe(stats.promptTokens);
    expect(delta('chat-serverless', 'outputTokens')).toBe(stats.completionTokens);
    expect(delta('embed', 'inputTokens')).toBe(stats.embeddingTokens);
    expect(delta('chat-serverless', 'estimatedRequests')).toBe(0);
    // Serverless cost is tokens × price, in integer micro-dollars.
    const row = after.rows.find((r: Record<string, unknown>) => r.alias === 'chat-serverless');
    expect(Number.isInteger(row.costMicroUsd)).toBe(true);
    expect(row.costMicroUsd).toBeGreaterThan(0);
  });

  it('exports usage as CSV with a header row', async () => {
    await gw.flushUsage();
    const response = await gw.call(`/usage?from=${today()}&to=${today()}&groupBy=team,kind&format=csv`);
    expect(response.headers.get('content-type')).toMatch(/^text\/csv/);
    const lines = (await response.text()).trim().split('\r\n');
    expect(lines[0]).toBe(
      'team,kind,requests,inputTokens,outputTokens,cachedInputTokens,reasoningTokens,costUsd,estimatedRequests,failedRequests,serverlessCostUsd,managedAllocatedUsd,costUsdExact,safetyBlockedRequests,safetyTextRecords,safetyCostUsd,unbilledCostUsd',
    );
    expect(lines.some((l) => l.startsWith('demo,managed,'))).toBe(true);
  });
});
