import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import OpenAI, { AzureOpenAI } from 'openai';
import { zodResponseFormat } from 'openai/helpers/zod';
import type { ChatCompletionChunk, ChatCompletionMessageParam, ChatCompletionTool } from 'openai/resources/chat/completions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { startOpenAICompatibleSim, type OpenAICompatibleSim } from '../../local/simulators/openai-compatible-sim.js';
import { schemaInstance } from '../../local/simulators/sim-json-schema.js';
import { hashText, seededRandom } from '../../shared/seeded-random.js';
import { countChatPromptTokens, countTextTokens } from '../../shared/usage/count-tokens.js';

// OpenAI's published OpenAPI description, cut to the schemas clients rely on (as the contract e2e test uses it).
const spec = JSON.parse(readFileSync(fileURLToPath(new URL('../fixtures/openai-openapi-subset.json', import.meta.url)), 'utf8'));
const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
ajv.addSchema({ $id: 'openai', components: withoutNullable(spec.components) });

// OpenAPI 3.0's `nullable` lingers in places of this 3.1 document; JSON Schema spells it as a type union.
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
const completionShape = ajv.compile({ $ref: 'openai#/components/schemas/CreateChatCompletionResponse' });
const chunkShape = ajv.compile({ $ref: 'openai#/components/schemas/CreateChatCompletionStreamResponse' });

function expectOpenAIShape(kind: 'completion' | 'chunk', value: unknown): void {
  const validate = kind === 'completion' ? completionShape : chunkShape;
  expect(validate(value), `${kind}: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(value).slice(0, 600)}`).toBe(true);
}

// A second Ajv that checks formats too, for what the generator produces against caller schemas.
const strictAjv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });

function expectValid(schema: object, value: unknown): void {
  const validate = strictAjv.compile(schema);
  expect(validate(value), `${strictAjv.errorsText(validate.errors)}\n${JSON.stringify(value)}`).toBe(true);
}

const WEATHER_PARAMETERS = {
  type: 'object',
  properties: {
    city: { type: 'string', minLength: 3, maxLength: 40 },
    unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
    days: { type: 'integer', minimum: 1, maximum: 7 },
    threshold: { type: 'number', exclusiveMinimum: 0, maximum: 1.5 },
    alerts: { type: 'boolean' },
    tags: { type: 'array', items: { type: 'string' }, minItems: 2, maxItems: 4 },
    where: {
      type: 'object',
      properties: { lat: { type: 'number', minimum: -90, maximum: 90 }, lon: { type: 'number', minimum: -180, maximum: 180 } },
      required: ['lat', 'lon'],
      additionalProperties: false,
    },
    note: { type: ['string', 'null'] },
  },
  required: ['city', 'unit', 'days', 'threshold', 'alerts', 'tags', 'where', 'note'],
  additionalProperties: false,
} as const;

const TOOLS: ChatCompletionTool[] = [
  { type: 'function', function: { name: 'get_weather', description: 'Weather for a city', parameters: WEATHER_PARAMETERS } },
  {
    type: 'function',
    function: {
      name: 'lookup_order',
      parameters: {
        type: 'object',
        properties: { order_id: { type: 'string', format: 'uuid' }, items: { type: 'array', items: { $ref: '#/$defs/item' } } },
        required: ['order_id'],
        additionalProperties: false,
        $defs: {
          item: { type: 'object', properties: { sku: { type: 'string' }, qty: { type: 'integer', minimum: 1 } }, required: ['sku'] },
        },
      },
    },
  },
];

const MESSAGES: ChatCompletionMessageParam[] = [{ role: 'user', content: 'What is the weather in Lisbon?' }];

async function post(sim: OpenAICompatibleSim, body: unknown) {
  const response = await fetch(`${sim.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, json: (await response.json()) as any };
}

async function collect(stream: AsyncIterable<ChatCompletionChunk>): Promise<ChatCompletionChunk[]> {
  const chunks: ChatCompletionChunk[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

describe('schemaInstance', () => {
  const random = (seed: string) => seededRandom(hashText(seed));

  it('builds values that validate against every kind of schema it supports, the same for the same seed', () => {
    const schemas: object[] = [
      WEATHER_PARAMETERS,
      TOOLS[1]!.type === 'function' ? TOOLS[1]!.function.parameters! : {},
      { type: 'string', enum: ['a', 'b', 'c'] },
      { const: 42 },
      { enum: [1, 'two', null] },
      { type: 'integer', exclusiveMinimum: 10, exclusiveMaximum: 12 },
      { type: 'integer', minimum: -50, maximum: 50, multipleOf: 7 },
      { type: 'number', minimum: 2.5, maximum: 2.5 },
      { type: 'number', minimum: 0.07, maximum: 0.07 },
      { type: 'number', exclusiveMinimum: 0.29, maximum: 0.3 },
      { type: 'number', multipleOf: 0.25, minimum: 1 },
      { type: 'string', minLength: 30, maxLength: 32 },
      { type: 'string', maxLength: 2 },
      { type: 'string', format: 'date-time' },
      { type: 'string', format: 'date' },
      { type: 'string', format: 'email' },
      { type: 'string', format: 'uri' },
      { type: 'array', items: { type: 'integer', enum: [1, 2, 3, 4, 5] }, minItems: 4, uniqueItems: true },
      { type: 'array', prefixItems: [{ type: 'string' }, { type: 'boolean' }], items: false, minItems: 2 },
      { anyOf: [{ type: 'string' }, { type: 'null' }] },
      { oneOf: [{ type: 'integer' }, { type: 'boolean' }] },
      {
        allOf: [
          { type: 'object', properties: { a: { type: 'string' } }, required: ['a'] },
          { properties: { b: { type: 'integer' } }, required: ['b'] },
        ],
      },
      {
        $ref: '#/$defs/node',
        $defs: {
          node: {
            type: 'object',
            properties: { name: { type: 'string' }, children: { type: 'array', items: { $ref: '#/$defs/node' } } },
            required: ['name', 'children'],
            additionalProperties: false,
          },
        },
      },
      {
        type: 'object',
        properties: { next: { anyOf: [{ $ref: '#' }, { type: 'null' }] }, value: { type: 'integer' } },
        required: ['next', 'value'],
        additionalProperties: false,
      },
      { type: 'object', required: ['free'], additionalProperties: { type: 'integer' } },
      {},
      { type: 'null' },
    ];
    for (const [i, schema] of schemas.entries()) {
      const value = schemaInstance(schema, random(`s${i}`));
      expectValid(schema, value);
      expect(schemaInstance(schema, random(`s${i}`))).toEqual(value);
    }
  });

  it('writes only ASCII, so every token of the JSON decodes on its own', () => {
    const text = JSON.stringify(schemaInstance(WEATHER_PARAMETERS, random('ascii')));
    expect(/^[\x20-\x7e]*$/.test(text)).toBe(true);
  });
});

describe('OpenAI-compatible simulator features', () => {
  let sim: OpenAICompatibleSim;
  let client: OpenAI;

  beforeAll(async () => {
    sim = await startOpenAICompatibleSim({ modelName: 'sim-features' });
    client = new OpenAI({ baseURL: `${sim.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  });
  afterAll(async () => {
    await sim.close();
  });

  describe('tools', () => {
    it('answers with a call of the first tool whose arguments validate, counted as completion tokens', async () => {
      const completion = await client.chat.completions.create({ model: 'm', messages: MESSAGES, tools: TOOLS });
      expectOpenAIShape('completion', completion);
      const choice = completion.choices[0]!;
      expect(choice.finish_reason).toBe('tool_calls');
      expect(choice.message.content).toBeNull();
      const [call] = choice.message.tool_calls ?? [];
      expect(call?.type).toBe('function');
      if (call?.type !== 'function') throw new Error('expected a function call');
      expect(call.id).toMatch(/^call_[A-Za-z0-9]+$/);
      expect(call.function.name).toBe('get_weather');
      expectValid(WEATHER_PARAMETERS, JSON.parse(call.function.arguments));
      const promptTokens = countChatPromptTokens(MESSAGES as never);
      const argumentTokens = countTextTokens(call.function.arguments);
      expect(completion.usage).toEqual({
        prompt_tokens: promptTokens,
        completion_tokens: argumentTokens,
        total_tokens: promptTokens + argumentTokens,
      });

      const again = await client.chat.completions.create({ model: 'm', messages: MESSAGES, tools: TOOLS, tool_choice: 'auto' });
      expect(again.choices).toEqual(completion.choices);
    });

    it('follows tool_choice: a named function, required, none', async () => {
      const named = await client.chat.completions.create({
        model: 'm',
        messages: MESSAGES,
        tools: TOOLS,
        tool_choice: { type: 'function', function: { name: 'lookup_order' } },
      });
      const call = named.choices[0]!.message.tool_calls?.[0];
      if (call?.type !== 'function') throw new Error('expected a function call');
      expect(call.function.name).toBe('lookup_order');
      expectValid((TOOLS[1] as { function: { parameters: object } }).function.parameters, JSON.parse(call.function.arguments));

      const required = await client.chat.completions.create({ model: 'm', messages: MESSAGES, tools: TOOLS, tool_choice: 'required' });
      expect(required.choices[0]!.message.tool_calls?.[0]).toMatchObject({ function: { name: 'get_weather' } });

      const none = await client.chat.completions.create({ model: 'm', messages: MESSAGES, tools: TOOLS, tool_choice: 'none' });
      expect(none.choices[0]!.finish_reason).toBe('stop');
      expect(none.choices[0]!.message.tool_calls).toBeUndefined();
      expect(countTextTokens(none.choices[0]!.message.content ?? '')).toBe(16);
    });

    it('refuses a tool_choice naming no tool, and malformed tools, in the OpenAI error shape', async () => {
      const unknown = await post(sim, {
        messages: MESSAGES,
        tools: TOOLS,
        tool_choice: { type: 'function', function: { name: 'nope' } },
      });
      expect(unknown.status).toBe(400);
      expect(unknown.json.error).toMatchObject({ type: 'invalid_request_error', param: 'tool_choice' });
      const malformed = await post(sim, { messages: MESSAGES, tools: [{ type: 'function', function: {} }] });
      expect(malformed.status).toBe(400);
      expect(malformed.json.error.param).toBe('tools');
    });

    it('answers a tool result with text, so agent loops end', async () => {
      const first = await client.chat.completions.create({ model: 'm', messages: MESSAGES, tools: TOOLS });
      const call = first.choices[0]!.message;
      const followUp = await client.chat.completions.create({
        model: 'm',
        tools: TOOLS,
        messages: [...MESSAGES, call, { role: 'tool', tool_call_id: call.tool_calls![0]!.id, content: '{"temp":21}' }],
      });
      expect(followUp.choices[0]!.finish_reason).toBe('stop');
      expect(typeof followUp.choices[0]!.message.content).toBe('string');
    });

    it('streams a tool call as OpenAI chunks it: header, argument pieces, finish, usage', async () => {
      const whole = await client.chat.completions.create({ model: 'm', messages: MESSAGES, tools: TOOLS, n: 2 });
      const chunks = await collect(
        await client.chat.completions.create({
          model: 'm',
          messages: MESSAGES,
          tools: TOOLS,
          n: 2,
          stream: true,
          stream_options: { include_usage: true },
        }),
      );
      for (const chunk of chunks) expectOpenAIShape('chunk', chunk);
      for (const index of [0, 1]) {
        const mine = chunks.filter((c) => c.choices[0]?.index === index);
        const header = mine[0]!.choices[0]!.delta.tool_calls![0]!;
        const wholeCall = whole.choices[index]!.message.tool_calls![0]! as { id: string; function: { name: string; arguments: string } };
        expect(header).toEqual({ index: 0, id: wholeCall.id, type: 'function', function: { name: 'get_weather', arguments: '' } });
        const pieces = mine.slice(1, -1).map((c) => c.choices[0]!.delta.tool_calls![0]!);
        expect(pieces.length).toBe(countTextTokens(wholeCall.function.arguments));
        for (const piece of pieces) expect(Object.keys(piece).sort()).toEqual(['function', 'index']);
        expect(pieces.map((p) => p.function!.arguments).join('')).toBe(wholeCall.function.arguments);
        expect(mine.at(-1)!.choices[0]).toMatchObject({ delta: {}, finish_reason: 'tool_calls' });
      }
      expect(chunks.at(-1)!.usage).toEqual(whole.usage);
    });

    it('assembles streamed tool calls in the official client (stream → finalChatCompletion)', async () => {
      const stream = client.chat.completions.stream({ model: 'm', messages: MESSAGES, tools: TOOLS, tool_choice: 'required' });
      const final = await stream.finalChatCompletion();
      const call = final.choices[0]!.message.tool_calls![0]!;
      if (call.type !== 'function') throw new Error('expected a function call');
      expect(final.choices[0]!.finish_reason).toBe('tool_calls');
      expectValid(WEATHER_PARAMETERS, JSON.parse(call.function.arguments));
    });
    it('keeps the content-filter annotations on the dated Azure form, whole and streamed', async () => {
      const azure = new AzureOpenAI({ endpoint: sim.url, apiKey: 'unused', apiVersion: '2024-10-21', deployment: 'dep', maxRetries: 0 });
      const request = { model: 'dep', messages: MESSAGES, tools: TOOLS, logprobs: true, top_logprobs: 1 };
      const whole = await azure.chat.completions.create(request);
      expectOpenAIShape('completion', whole);
      expect(whole.choices[0]).toMatchObject({ finish_reason: 'tool_calls', logprobs: { content: null, refusal: null } });
      expect(whole.choices[0]).toHaveProperty('content_filter_results');
      const chunks = await collect(await azure.chat.completions.create({ ...request, stream: true }));
      // The first is §2.6's pre-flight prompt-filter chunk, which is no OpenAI chunk.
      expect(chunks[0]).toHaveProperty('prompt_filter_results');
      for (const chunk of chunks.slice(1)) expectOpenAIShape('chunk', chunk);
      const args = chunks.map((c) => c.choices[0]?.delta.tool_calls?.[0]?.function?.arguments ?? '').join('');
      expect(args).toBe((whole.choices[0]!.message.tool_calls![0] as { function: { arguments: string } }).function.arguments);
    });
  });

  describe('response_format', () => {
    it('json_object: the content is a JSON object', async () => {
      const completion = await client.chat.completions.create({ model: 'm', messages: MESSAGES, response_format: { type: 'json_object' } });
      expectOpenAIShape('completion', completion);
      const content = completion.choices[0]!.message.content!;
      const parsed = JSON.parse(content);
      expect(parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)).toBe(true);
      expect(completion.choices[0]!.finish_reason).toBe('stop');
      expect(completion.usage?.completion_tokens).toBe(countTextTokens(content));
    });

    it('json_schema: the content validates, whole and streamed alike', async () => {
      const response_format = {
        type: 'json_schema' as const,
        json_schema: { name: 'weather', strict: true, schema: WEATHER_PARAMETERS as unknown as Record<string, unknown> },
      };
      const completion = await client.chat.completions.create({ model: 'm', messages: MESSAGES, response_format });
      const content = completion.choices[0]!.message.content!;
      expectValid(WEATHER_PARAMETERS, JSON.parse(content));
      const chunks = await collect(
        await client.chat.completions.create({
          model: 'm',
          messages: MESSAGES,
          response_format,
          stream: true,
          stream_options: { include_usage: true },
        }),
      );
      for (const chunk of chunks) expectOpenAIShape('chunk', chunk);
      expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe(content);
      expect(chunks.at(-1)!.usage).toEqual(completion.usage);
    });

    it('cuts JSON at max_tokens with finish_reason length, as a model does', async () => {
      const completion = await client.chat.completions.create({
        model: 'm',
        messages: MESSAGES,
        max_tokens: 5,
        response_format: { type: 'json_schema', json_schema: { name: 'w', schema: WEATHER_PARAMETERS as never } },
      });
      expect(completion.choices[0]!.finish_reason).toBe('length');
      expect(completion.usage?.completion_tokens).toBe(5);
      expect(countTextTokens(completion.choices[0]!.message.content!)).toBe(5);
    });

    it('parses with chat.completions.parse and a zod schema', async () => {
      const Answer = z.object({
        city: z.string(),
        temperature: z.number(),
        conditions: z.enum(['sunny', 'cloudy', 'rain']),
        forecast: z.array(z.object({ day: z.number().int(), high: z.number(), low: z.number().nullable() })),
        advice: z.string().nullable(),
      });
      const completion = await client.chat.completions.parse({
        model: 'm',
        messages: MESSAGES,
        response_format: zodResponseFormat(Answer, 'answer'),
      });
      const parsed = completion.choices[0]!.message.parsed;
      expect(Answer.parse(parsed)).toEqual(parsed);
    });

    it('refuses an unknown response_format type', async () => {
      const { status, json } = await post(sim, { messages: MESSAGES, response_format: { type: 'xml' } });
      expect(status).toBe(400);
      expect(json.error.param).toBe('response_format');
    });
  });

  describe('logprobs', () => {
    it('gives every generated token its logprob, bytes and top_logprobs', async () => {
      const completion = await client.chat.completions.create({
        model: 'm',
        messages: MESSAGES,
        max_tokens: 6,
        logprobs: true,
        top_logprobs: 3,
      });
      expectOpenAIShape('completion', completion);
      const { content, logprobs } = { content: completion.choices[0]!.message.content!, logprobs: completion.choices[0]!.logprobs! };
      expect(logprobs.refusal).toBeNull();
      const entries = logprobs.content!;
      expect(entries).toHaveLength(6);
      expect(entries.map((e) => e.token).join('')).toBe(content);
      for (const entry of entries) {
        expect(entry.bytes).toEqual([...Buffer.from(entry.token, 'utf8')]);
        expect(entry.logprob).toBeLessThanOrEqual(0);
        expect(entry.top_logprobs).toHaveLength(3);
        expect(entry.top_logprobs[0]).toEqual({ token: entry.token, logprob: entry.logprob, bytes: entry.bytes });
        const others = entry.top_logprobs.slice(1);
        expect(new Set(entry.top_logprobs.map((t) => t.token)).size).toBe(3);
        for (const other of others) expect(other.logprob).toBeLessThanOrEqual(entry.logprob);
      }
      const without = await client.chat.completions.create({ model: 'm', messages: MESSAGES, max_tokens: 6, logprobs: true });
      expect(without.choices[0]!.logprobs!.content!.every((e) => e.top_logprobs.length === 0)).toBe(true);
      const none = await client.chat.completions.create({ model: 'm', messages: MESSAGES, max_tokens: 6 });
      expect(none.choices[0]!.logprobs).toBeNull();
    });

    it('streams one logprob entry per chunk, equal to the whole answer’s', async () => {
      const request = { model: 'm', messages: MESSAGES, max_tokens: 5, logprobs: true, top_logprobs: 2 };
      const whole = await client.chat.completions.create(request);
      const chunks = await collect(await client.chat.completions.create({ ...request, stream: true }));
      for (const chunk of chunks) expectOpenAIShape('chunk', chunk);
      const streamed = chunks.flatMap((c) => c.choices[0]?.logprobs?.content ?? []);
      expect(streamed).toEqual(whole.choices[0]!.logprobs!.content);
    });

    it('covers JSON content too, and refuses top_logprobs without logprobs or above 20', async () => {
      const completion = await client.chat.completions.create({
        model: 'm',
        messages: MESSAGES,
        logprobs: true,
        response_format: { type: 'json_object' },
      });
      const entries = completion.choices[0]!.logprobs!.content!;
      expect(entries.map((e) => e.token).join('')).toBe(completion.choices[0]!.message.content);
      expect(entries).toHaveLength(completion.usage!.completion_tokens);
      expect((await post(sim, { messages: MESSAGES, logprobs: true, top_logprobs: 21 })).json.error.param).toBe('top_logprobs');
      expect((await post(sim, { messages: MESSAGES, top_logprobs: 2 })).json.error.param).toBe('logprobs');
    });
  });

  describe('stop', () => {
    it('ends before the first stop sequence, with finish_reason stop and exact usage, whole and streamed', async () => {
      const plain = await client.chat.completions.create({ model: 'm', messages: MESSAGES, max_tokens: 12 });
      const text = plain.choices[0]!.message.content!;
      const words = text.split(/(?= )/);
      const stopWord = words[4]!;
      const expected = text.slice(0, text.indexOf(stopWord));
      for (const stop of [stopWord, ['never-there', stopWord.slice(0, 3)]]) {
        const cut = text.slice(0, Math.min(...[stop].flat().map((s) => (text.includes(s) ? text.indexOf(s) : text.length))));
        expect(cut.length).toBeLessThanOrEqual(expected.length);
        const completion = await client.chat.completions.create({ model: 'm', messages: MESSAGES, max_tokens: 12, stop });
        expect(completion.choices[0]!.message.content).toBe(cut);
        expect(completion.choices[0]!.finish_reason).toBe('stop');
        expect(completion.usage!.completion_tokens).toBe(countTextTokens(cut));
        const chunks = await collect(
          await client.chat.completions.create({
            model: 'm',
            messages: MESSAGES,
            max_tokens: 12,
            stop,
            stream: true,
            stream_options: { include_usage: true },
          }),
        );
        expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe(cut);
        expect(chunks.find((c) => c.choices[0]?.finish_reason)?.choices[0]?.finish_reason).toBe('stop');
        expect(chunks.at(-1)!.usage).toEqual(completion.usage);
      }
    });

    it('changes nothing when no stop sequence appears, and refuses more than 4', async () => {
      const plain = await client.chat.completions.create({ model: 'm', messages: MESSAGES, max_tokens: 7 });
      const stopped = await client.chat.completions.create({ model: 'm', messages: MESSAGES, max_tokens: 7, stop: ['zzz'] });
      expect(stopped.choices).toEqual(plain.choices);
      const { status, json } = await post(sim, { messages: MESSAGES, stop: ['a', 'b', 'c', 'd', 'e'] });
      expect(status).toBe(400);
      expect(json.error.param).toBe('stop');
    });
  });

  describe('seed', () => {
    it('gives the same answer for the same seed and request, another for another seed', async () => {
      const ask = (seed?: number) =>
        client.chat.completions.create({ model: 'm', messages: MESSAGES, max_tokens: 12, tools: TOOLS, tool_choice: 'none', seed });
      const [a, b, c, unseeded] = await Promise.all([ask(7), ask(7), ask(8), ask()]);
      expect(a.choices).toEqual(b.choices);
      expect(a.choices[0]!.message.content).not.toBe(c.choices[0]!.message.content);
      expect(a.choices[0]!.message.content).not.toBe(unseeded.choices[0]!.message.content);
      const call = (seed: number) => client.chat.completions.create({ model: 'm', messages: MESSAGES, tools: TOOLS, seed });
      expect((await call(3)).choices).toEqual((await call(3)).choices);
      expect((await call(3)).choices).not.toEqual((await call(4)).choices);
      const { json } = await post(sim, { messages: MESSAGES, seed: 1.5 });
      expect(json.error.param).toBe('seed');
    });
  });
});
