import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { putRoute, startTestGateway, today, type TestGateway } from './harness.js';

// An OpenAI-compatible upstream on loopback that reports cached input and reasoning tokens in every shape it
// answers: a chat completion, a chat stream's usage chunk and a Response. /usage must show their exact sums.

const CHAT_USAGE = {
  prompt_tokens: 100,
  completion_tokens: 40,
  total_tokens: 140,
  prompt_tokens_details: { cached_tokens: 64 },
  completion_tokens_details: { reasoning_tokens: 25 },
};
const STREAM_USAGE = {
  prompt_tokens: 50,
  completion_tokens: 30,
  total_tokens: 80,
  prompt_tokens_details: { cached_tokens: 32 },
  completion_tokens_details: { reasoning_tokens: 12 },
};
const RESPONSE_USAGE = {
  input_tokens: 200,
  input_tokens_details: { cached_tokens: 128 },
  output_tokens: 70,
  output_tokens_details: { reasoning_tokens: 50 },
  total_tokens: 270,
};

function chatStream(res: ServerResponse): void {
  const chunk = (extra: Record<string, unknown>) =>
    `data: ${JSON.stringify({ id: 'chatcmpl-s', object: 'chat.completion.chunk', created: 1, model: 'm', ...extra })}\n\n`;
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  res.end(
    chunk({ choices: [{ index: 0, delta: { role: 'assistant', content: 'thought ' }, finish_reason: null }] }) +
      chunk({ choices: [{ index: 0, delta: { content: 'hard' }, finish_reason: 'stop' }] }) +
      chunk({ choices: [], usage: STREAM_USAGE }) +
      'data: [DONE]\n\n',
  );
}

function answer(path: string, body: Record<string, any>, res: ServerResponse): void {
  if (path === '/v1/chat/completions' && body.stream) {
    chatStream(res);
    return;
  }
  const json =
    path === '/v1/chat/completions'
      ? {
          id: 'chatcmpl-1',
          object: 'chat.completion',
          created: 1,
          model: body.model,
          choices: [{ index: 0, message: { role: 'assistant', content: 'thought hard' }, finish_reason: 'stop', logprobs: null }],
          usage: CHAT_USAGE,
        }
      : {
          id: 'resp_up1',
          object: 'response',
          created_at: 1,
          status: 'completed',
          model: body.model,
          output: [
            {
              id: 'msg_1',
              type: 'message',
              role: 'assistant',
              status: 'completed',
              content: [{ type: 'output_text', text: 'thought hard', annotations: [] }],
            },
          ],
          usage: RESPONSE_USAGE,
        };
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(json));
}

async function startUpstream() {
  const paths: string[] = [];
  const server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => {
      raw += c;
    });
    req.on('end', () => {
      paths.push(req.url ?? '');
      answer(req.url ?? '', JSON.parse(raw), res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    paths,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function putDeployment(gw: TestGateway, id: string, endpoint: string, features: string[]): Promise<void> {
  const response = await gw.call(`/manage/deployments/${id}`, {
    method: 'PUT',
    body: JSON.stringify({
      kind: 'serverless',
      protocol: 'openai',
      endpoint,
      upstreamModel: 'reasoner',
      serves: ['chat'],
      auth: { type: 'none' },
      features,
      pricing: { inputPerMillionUsd: 1, outputPerMillionUsd: 2 },
    }),
  });
  if (response.status >= 300) throw new Error(`deployment ${id}: ${response.status} ${await response.text()}`);
}

let gw: TestGateway;
let upstream: Awaited<ReturnType<typeof startUpstream>>;
beforeAll(async () => {
  upstream = await startUpstream();
  gw = await startTestGateway();
  // `reasoned` speaks Responses natively; `reasoned-chat` gets a Response translated to chat.
  await putDeployment(gw, 'reasoner-native', `${upstream.url}/v1`, ['responses']);
  await putDeployment(gw, 'reasoner-chat', `${upstream.url}/v1`, []);
  await putRoute(gw, 'reasoned', ['reasoner-native']);
  await putRoute(gw, 'reasoned-chat', ['reasoner-chat']);
});
afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});

describe('cached input and reasoning tokens in /usage', () => {
  it('sums what a chat answer, a chat stream and a Response report, per alias, in JSON and CSV', async () => {
    const chat = await gw.openai.chat.completions.create({ model: 'reasoned', messages: [{ role: 'user', content: 'think' }] });
    expect(chat.usage).toMatchObject(CHAT_USAGE);

    const stream = await gw.openai.chat.completions.create({
      model: 'reasoned',
      messages: [{ role: 'user', content: 'think' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let streamedUsage: unknown;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      if (chunk.usage) streamedUsage = chunk.usage;
    }
    expect(text).toBe('thought hard');
    expect(streamedUsage).toMatchObject(STREAM_USAGE);

    const native = await gw.openai.responses.create({ model: 'reasoned', input: 'think' });
    expect(native.usage).toMatchObject(RESPONSE_USAGE);

    const translated = await gw.openai.responses.create({ model: 'reasoned-chat', input: 'think' });
    expect(translated.usage).toMatchObject({
      input_tokens: 100,
      input_tokens_details: { cached_tokens: 64 },
      output_tokens: 40,
      output_tokens_details: { reasoning_tokens: 25 },
    });
    expect(upstream.paths).toEqual(['/v1/chat/completions', '/v1/chat/completions', '/v1/responses', '/v1/chat/completions']);

    await gw.flushUsage();
    const day = today();
    const report = await (await gw.call(`/usage?from=${day}&to=${day}&groupBy=alias`)).json();
    const row = (alias: string) => report.rows.find((r: Record<string, unknown>) => r.alias === alias);
    // These deployments give no cached-input price: cached input is charged at the input price.
    expect(row('reasoned')).toEqual({
      alias: 'reasoned',
      requests: 3,
      inputTokens: 350,
      outputTokens: 140,
      cachedInputTokens: 224,
      reasoningTokens: 87,
      costMicroUsd: 350 + 2 * 140,
      costUsd: 0.00063,
      costUsdExact: '0.000630000000',
      serverlessCostUsd: 0.00063,
      managedAllocatedUsd: 0,
      estimatedRequests: 0,
      failedRequests: 0,
    });
    expect(row('reasoned-chat')).toMatchObject({
      requests: 1,
      inputTokens: 100,
      outputTokens: 40,
      cachedInputTokens: 64,
      reasoningTokens: 25,
    });
    expect(report.totals).toMatchObject({ cachedInputTokens: 288, reasoningTokens: 112 });

    const csv = await (await gw.call(`/usage?from=${day}&to=${day}&groupBy=alias&format=csv`)).text();
    const lines = csv.trimEnd().split('\r\n');
    expect(lines[0]).toBe(
      'alias,requests,inputTokens,outputTokens,cachedInputTokens,reasoningTokens,costUsd,estimatedRequests,failedRequests,serverlessCostUsd,managedAllocatedUsd,costUsdExact,safetyBlockedRequests,safetyTextRecords,safetyCostUsd,unbilledCostUsd',
    );
    expect(lines).toContain('reasoned,3,350,140,224,87,0.00063,0,0,0.00063,0,0.000630000000,,,,');
    expect(lines).toContain('reasoned-chat,1,100,40,64,25,0.00018,0,0,0.00018,0,0.000180000000,,,,');
  });
});
