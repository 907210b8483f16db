import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SseSplitter } from '../../shared/http/sse.js';
import { DEMO_KEY, putRoute, putSimDeployment, startTestGateway, type TestGateway } from './harness.js';

// OpenAI's published OpenAPI description (../shared/contracts/openai-openapi.json), cut to the schemas used
// here: what an OpenAI client expects of each response.
const specPath = fileURLToPath(new URL('../fixtures/openai-openapi-subset.json', import.meta.url));
const spec = JSON.parse(readFileSync(specPath, 'utf8'));
const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
// OpenAPI 3.0's `nullable` lingers in places of this 3.1 document; JSON Schema spells it as a type union.
ajv.addSchema({ $id: 'openai', components: withoutNullable(spec.components) });

function withoutNullable(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(withoutNullable);
  if (!node || typeof node !== 'object') return node;
  const { nullable, ...rest } = node as Record<string, unknown>;
  const out = Object.fromEntries(Object.entries(rest).map(([k, v]) => [k, withoutNullable(v)]));
  if (nullable !== true) return out;
  if (Array.isArray(out.enum)) out.enum = [...out.enum, null];
  if (typeof out.type === 'string') return { ...out, type: [out.type, 'null'] };
  return { anyOf: [out, { type: 'null' }] };
}
const validator = (name: string) => ajv.compile({ $ref: `openai#/components/schemas/${name}` });
const shapes = {
  completion: validator('CreateChatCompletionResponse'),
  chunk: validator('CreateChatCompletionStreamResponse'),
  embeddings: validator('CreateEmbeddingResponse'),
  models: validator('ListModelsResponse'),
  error: validator('ErrorResponse'),
};

function expectShape(shape: keyof typeof shapes, value: unknown): void {
  const validate = shapes[shape];
  const ok = validate(value);
  expect(ok, `${shape}: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(value).slice(0, 500)}`).toBe(true);
}

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway();
  await putSimDeployment(gw, 'contract-serverless');
  await putRoute(gw, 'contract', ['contract-serverless']);
});
afterAll(async () => {
  await gw?.close();
});

const post = (path: string, body: unknown, key: string | null = DEMO_KEY) =>
  gw.call(path, { method: 'POST', key, body: JSON.stringify(body) });

async function streamChunks(response: Response): Promise<unknown[]> {
  const splitter = new SseSplitter();
  const chunks: unknown[] = [];
  for await (const bytes of response.body as unknown as AsyncIterable<Uint8Array>) {
    for (const event of splitter.push(bytes)) if (event.data && event.data !== '[DONE]') chunks.push(JSON.parse(event.data));
  }
  return chunks;
}

describe("responses have the shapes of OpenAI's published API description", () => {
  it('GET /v1/models is a ListModelsResponse', async () => {
    expectShape('models', await (await gw.call('/v1/models', { key: DEMO_KEY })).json());
  });

  it.each(['chat', 'contract'])('a chat completion from %s is a CreateChatCompletionResponse', async (model) => {
    expectShape(
      'completion',
      await (await post('/v1/chat/completions', { model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 })).json(),
    );
  });

  it.each(['chat', 'contract'])('every chunk of a stream from %s is a CreateChatCompletionStreamResponse', async (model) => {
    const chunks = await streamChunks(
      await post('/v1/chat/completions', {
        model,
        messages: [{ role: 'user', content: 'hi' }],
        max_tokens: 4,
        stream: true,
        stream_options: { include_usage: true },
      }),
    );
    expect(chunks.length).toBeGreaterThan(2);
    for (const chunk of chunks) expectShape('chunk', chunk);
  });

  it('embeddings are a CreateEmbeddingResponse', async () => {
    expectShape('embeddings', await (await post('/v1/embeddings', { model: 'embed', input: ['a', 'b'] })).json());
  });

  it('errors are an ErrorResponse', async () => {
    expectShape('error', await (await post('/v1/chat/completions', { model: 'nope', messages: [{ role: 'user', content: 'x' }] })).json());
    expectShape('error', await (await post('/v1/chat/completions', { model: 'chat' }, null)).json());
    expectShape('error', await (await post('/v1/chat/completions', { model: 'chat', messages: 'x' })).json());
    gw.sims!.serverless.injectFaults([{ kind: 'content_filter' }]);
    expectShape(
      'error',
      await (await post('/v1/chat/completions', { model: 'contract', messages: [{ role: 'user', content: 'x' }] })).json(),
    );
  });
});
