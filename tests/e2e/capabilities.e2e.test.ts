import { APIError } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { putRoute, putSimDeployment, startTestGateway, type TestGateway } from './harness.js';

// Routing by feature over the real local gateway. The default alias `chat` tries the managed /score simulator
// first, whose protocol carries message text only; a request using a feature must land on the serverless one,
// and where an alias has nothing else it must be refused, never answered with the feature dropped.
// These tests assert which deployment answered, not what the simulator made of the feature.

let gw: TestGateway;

beforeAll(async () => {
  gw = await startTestGateway();
  await putRoute(gw, 'managed-only', ['sim-llama-managed']);
  // A vLLM-style managed deployment speaking the OpenAI protocol, declaring tools only.
  const vllm = await putSimDeployment(gw, 'vllm-managed', {
    kind: 'managed',
    pricing: { hourlyUsd: 3.673, instances: 1 },
    features: ['tools'],
  });
  expect(vllm.status).toBe(201);
  await putRoute(gw, 'vllm-first', ['vllm-managed', 'sim-llama-serverless']);
});
afterAll(async () => {
  await gw?.close();
});

const messages = [{ role: 'user' as const, content: 'What is the weather in Paris?' }];
const tools = [
  {
    type: 'function' as const,
    function: { name: 'weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
  },
];
const image = { type: 'image_url' as const, image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } };

const features: Array<[string, Record<string, unknown>, string]> = [
  ['tools', { tools }, 'tools'],
  ['tool_choice', { tools, tool_choice: 'required' }, 'tools'],
  ['response_format json_object', { response_format: { type: 'json_object' } }, 'response_format'],
  [
    'response_format json_schema',
    { response_format: { type: 'json_schema', json_schema: { name: 'city', schema: { type: 'object', properties: {} } } } },
    'response_format',
  ],
  ['n=2', { n: 2 }, 'n'],
  ['logprobs', { logprobs: true, top_logprobs: 2 }, 'logprobs'],
  ['stop', { stop: ['END'] }, 'stop'],
  ['seed', { seed: 42 }, 'seed'],
  ['an image', { messages: [{ role: 'user', content: [{ type: 'text', text: 'what is this?' }, image] }] }, 'messages.0.content'],
];

const ask = (model: string, extra: Record<string, unknown>) =>
  gw.openai.chat.completions.create({ model, messages, max_tokens: 8, ...extra } as never).withResponse();

async function apiError(promise: Promise<unknown>): Promise<APIError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(APIError);
  return error as APIError;
}

describe('the default alias chat (managed aml-score first, serverless behind it)', () => {
  it('sends a plain request to the managed deployment first', async () => {
    const { response } = await ask('chat', { temperature: 0 });
    expect(response.headers.get('x-switchyard-deployment')).toBe('sim-llama-managed');
  });

  it.each(features)('sends a request using %s to the serverless deployment, never to /score', async (_name, extra) => {
    gw.sims!.managed.resetStats();
    const { response } = await ask('chat', extra);
    expect(response.status).toBe(200);
    expect(response.headers.get('x-switchyard-deployment')).toBe('sim-llama-serverless');
    expect(gw.sims!.managed.stats().requests).toBe(0);
  });

  it('routes a streamed request with tools to the serverless deployment', async () => {
    const { data, response } = await gw.openai.chat.completions
      .create({ model: 'chat', messages, tools, stream: true, max_tokens: 8 })
      .withResponse();
    for await (const _ of data) {
      // drain
    }
    expect(response.headers.get('x-switchyard-deployment')).toBe('sim-llama-serverless');
  });

  it('routes a conversation carrying a tool result to the serverless deployment', async () => {
    const { response } = await ask('chat', {
      tools,
      messages: [
        ...messages,
        {
          role: 'assistant',
          content: null,
          tool_calls: [{ id: 'c1', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } }],
        },
        { role: 'tool', tool_call_id: 'c1', content: '{"celsius":21}' },
      ],
    });
    expect(response.headers.get('x-switchyard-deployment')).toBe('sim-llama-serverless');
  });

  it('routes the Azure OpenAI path the same way', async () => {
    const { response } = await gw.azure('chat').chat.completions.create({ model: 'chat', messages, tools, max_tokens: 8 }).withResponse();
    expect(response.headers.get('x-switchyard-deployment')).toBe('sim-llama-serverless');
  });
});

describe('an alias whose only deployment is the managed aml-score one', () => {
  it('answers a plain request', async () => {
    const { response } = await ask('managed-only', {});
    expect(response.headers.get('x-switchyard-deployment')).toBe('sim-llama-managed');
  });

  it.each(features)('refuses a request using %s with 400 unsupported_feature naming the field', async (_name, extra, param) => {
    gw.sims!.managed.resetStats();
    const error = await apiError(ask('managed-only', extra));
    expect(error.status).toBe(400);
    expect(error.code).toBe('unsupported_feature');
    expect(error.type).toBe('invalid_request_error');
    expect(error.param).toBe(param);
    expect(error.message).toMatch(/managed-only/);
    expect(gw.sims!.managed.stats().requests).toBe(0);
  });

  it('refuses a stream before its first byte', async () => {
    const error = await apiError(gw.openai.chat.completions.create({ model: 'managed-only', messages, tools, stream: true }));
    expect(error.status).toBe(400);
    expect(error.code).toBe('unsupported_feature');
    expect(error.param).toBe('tools');
  });

  it('refuses reasoning_effort on the default alias too: no deployment declares reasoning', async () => {
    const error = await apiError(ask('chat', { reasoning_effort: 'low' }));
    expect(error.status).toBe(400);
    expect(error.code).toBe('unsupported_feature');
    expect(error.param).toBe('reasoning_effort');
  });
});

describe('a managed deployment speaking the openai protocol (vLLM on a managed online endpoint)', () => {
  it('takes what it declares (tools) and leaves what it does not (n) to the next target', async () => {
    expect((await ask('vllm-first', { tools })).response.headers.get('x-switchyard-deployment')).toBe('vllm-managed');
    expect((await ask('vllm-first', { n: 2 })).response.headers.get('x-switchyard-deployment')).toBe('sim-llama-serverless');
    expect((await ask('vllm-first', { response_format: { type: 'json_object' } })).response.headers.get('x-switchyard-deployment')).toBe(
      'sim-llama-serverless',
    );
  });

  it('takes a feature once a merge patch declares it', async () => {
    const patched = await gw.call('/manage/deployments/vllm-managed', {
      method: 'PATCH',
      headers: { 'content-type': 'application/merge-patch+json' },
      body: JSON.stringify({ features: ['tools', 'multiple-choices'] }),
    });
    expect(patched.status).toBe(200);
    expect((await patched.json()).features).toEqual(['tools', 'multiple-choices']);
    await expect
      .poll(async () => (await ask('vllm-first', { n: 2 })).response.headers.get('x-switchyard-deployment'), { timeout: 5_000 })
      .toBe('vllm-managed');
  });
});
