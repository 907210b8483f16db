import { readFileSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SseSplitter } from '../../shared/http/sse.js';
import { DEMO_KEY, putRoute, putSimDeployment, startTestGateway, today, type TestGateway } from './harness.js';

// The Responses API through the official client, translated to chat completions for chat-only upstreams: the
// simulator for text, and a scripted OpenAI-compatible upstream (loopback HTTP) for tool calls and JSON output.

const specPath = fileURLToPath(new URL('../fixtures/openai-openapi-subset.json', import.meta.url));
const spec = JSON.parse(readFileSync(specPath, 'utf8'));
const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
ajv.addSchema({ $id: 'openai', components: spec.components });
const responseShape = ajv.compile({ $ref: 'openai#/components/schemas/Response' });
const eventShape = ajv.compile({ $ref: 'openai#/components/schemas/ResponseStreamEvent' });

function expectValid(validate: typeof responseShape, value: unknown): void {
  expect(validate(value), `${ajv.errorsText(validate.errors)}\n${JSON.stringify(value).slice(0, 600)}`).toBe(true);
}

// Tools → one deterministic call of the first tool; after a tool result → text naming it; a JSON format → JSON.
function scriptedAnswer(body: Record<string, any>): { message: Record<string, unknown>; finish: string } {
  const last = body.messages.at(-1);
  if (body.tools && last.role !== 'tool') {
    const name = body.tools[0].function.name;
    return {
      message: {
        role: 'assistant',
        content: null,
        tool_calls: [{ id: 'call_1', type: 'function', function: { name, arguments: '{"city":"Oslo"}' } }],
      },
      finish: 'tool_calls',
    };
  }
  if (last.role === 'tool') return { message: { role: 'assistant', content: `The tool said ${last.content}` }, finish: 'stop' };
  if (body.response_format?.type === 'json_schema')
    return { message: { role: 'assistant', content: '{"name":"Ada","age":36}' }, finish: 'stop' };
  return { message: { role: 'assistant', content: 'plain' }, finish: 'stop' };
}

// Chunked the way OpenAI chunks: role first, then content or a tool call whose arguments come in pieces.
function streamAnswer(res: ServerResponse, message: Record<string, any>, finish: string, usage: unknown, breakOff: boolean): void {
  const chunk = (delta: unknown, finish_reason: string | null = null, extra: Record<string, unknown> = {}) =>
    `data: ${JSON.stringify({ id: 'cc', object: 'chat.completion.chunk', created: 1, model: 'scripted', choices: delta ? [{ index: 0, delta, finish_reason }] : [], ...extra })}\n\n`;
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  res.write(chunk({ role: 'assistant', content: '' }));
  if (breakOff) {
    // Destroyed once the half answer is on the wire: the gateway has begun its stream and sees it break.
    res.write(chunk({ content: 'half an ans' }), () => res.socket?.destroy());
    return;
  }
  const call = message.tool_calls?.[0];
  if (call) {
    res.write(chunk({ tool_calls: [{ index: 0, id: call.id, type: 'function', function: { name: call.function.name, arguments: '' } }] }));
    for (const piece of ['{"city"', ':"Oslo"}']) res.write(chunk({ tool_calls: [{ index: 0, function: { arguments: piece } }] }));
  } else {
    res.write(chunk({ content: message.content }));
  }
  res.write(chunk({}, finish));
  res.end(`${chunk(null, null, { usage })}data: [DONE]\n\n`);
}

async function startScriptedUpstream(): Promise<{ url: string; requests: Record<string, any>[]; close: () => Promise<void> }> {
  const requests: Record<string, any>[] = [];
  const server: Server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => {
      raw += c;
    });
    req.on('end', () => {
      const body = JSON.parse(raw);
      requests.push(body);
      const { message, finish } = scriptedAnswer(body);
      const usage = { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 };
      if (body.stream) return streamAnswer(res, message, finish, usage, body.messages.at(-1).content === 'break');
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          id: 'cc',
          object: 'chat.completion',
          created: 1,
          model: 'scripted',
          choices: [{ index: 0, message, finish_reason: finish }],
          usage,
        }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

let gw: TestGateway;
let scripted: Awaited<ReturnType<typeof startScriptedUpstream>>;
beforeAll(async () => {
  scripted = await startScriptedUpstream();
  gw = await startTestGateway();
  expect((await putSimDeployment(gw, 'resp-sim')).status).toBe(201);
  expect((await putSimDeployment(gw, 'resp-scripted', { endpoint: `${scripted.url}/v1` })).status).toBe(201);
  await putRoute(gw, 'resp-text', ['resp-sim']);
  await putRoute(gw, 'resp-tools', ['resp-scripted']);
  await putRoute(gw, 'resp-mixed', ['sim-llama-managed', 'resp-scripted']);
});
afterAll(async () => {
  await gw?.close();
  await scripted?.close();
});

const weather = {
  type: 'function' as const,
  name: 'get_weather',
  description: 'Weather in a city',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false },
  strict: true,
};

describe('POST /v1/responses with the official client', () => {
  it('answers a string input as a Response with a message, usage and the deployment header', async () => {
    const { data, response } = await gw.openai.responses
      .create({ model: 'resp-text', input: 'Say hello', instructions: 'Be brief.', max_output_tokens: 6, store: false })
      .withResponse();
    expect(response.headers.get('x-switchyard-deployment')).toBe('resp-sim');
    expect(data).toMatchObject({ object: 'response', status: 'incomplete', model: 'resp-text', instructions: 'Be brief.' });
    expect(data.id).toMatch(/^resp_/);
    expect(data.output_text.length).toBeGreaterThan(0);
    expect(data.usage).toMatchObject({ output_tokens: 6, total_tokens: data.usage!.input_tokens + 6 });
    expectValid(responseShape, JSON.parse(JSON.stringify(data)));
  });

  it('turns function tools into a function_call, then answers the follow-up with its output', async () => {
    const first = await gw.openai.responses.create({ model: 'resp-tools', input: 'Weather in Oslo?', tools: [weather], store: false });
    expectValid(responseShape, JSON.parse(JSON.stringify(first)));
    const call = first.output[0]!;
    expect(call).toMatchObject({ type: 'function_call', name: 'get_weather', call_id: 'call_1', arguments: '{"city":"Oslo"}' });
    expect(scripted.requests.at(-1)!.tools).toEqual([
      {
        type: 'function',
        function: { name: 'get_weather', description: weather.description, parameters: weather.parameters, strict: true },
      },
    ]);
    const second = await gw.openai.responses.create({
      model: 'resp-tools',
      tools: [weather],
      store: false,
      input: [
        { role: 'user', content: 'Weather in Oslo?' },
        call as { type: 'function_call'; call_id: string; name: string; arguments: string },
        { type: 'function_call_output', call_id: 'call_1', output: 'sunny' },
      ],
    });
    expect(second.output_text).toBe('The tool said sunny');
    expect(scripted.requests.at(-1)!.messages.slice(1)).toEqual([
      {
        role: 'assistant',
        content: null,
        tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } }],
      },
      { role: 'tool', tool_call_id: 'call_1', content: 'sunny' },
    ]);
  });

  it('plans tools only onto a deployment that honours them, past a managed first target, and on the Azure v1 path', async () => {
    const plain = await gw.openai.responses.create({ model: 'resp-mixed', input: 'hi', store: false }).withResponse();
    expect(plain.response.headers.get('x-switchyard-deployment')).toBe('sim-llama-managed');
    const azure = new OpenAI({ baseURL: `${gw.url}/openai/v1`, apiKey: DEMO_KEY, maxRetries: 0 });
    const tooled = await azure.responses.create({ model: 'resp-mixed', input: 'Weather?', tools: [weather], store: false }).withResponse();
    expect(tooled.response.headers.get('x-switchyard-deployment')).toBe('resp-scripted');
    expect(tooled.data.output[0]).toMatchObject({ type: 'function_call', name: 'get_weather' });
  });

  it('asks for structured output with text.format json_schema', async () => {
    const schema = {
      type: 'object',
      properties: { name: { type: 'string' }, age: { type: 'integer' } },
      required: ['name', 'age'],
      additionalProperties: false,
    };
    const response = await gw.openai.responses.create({
      model: 'resp-tools',
      input: 'Who?',
      text: { format: { type: 'json_schema', name: 'person', schema, strict: true } },
      store: false,
    });
    expect(JSON.parse(response.output_text)).toEqual({ name: 'Ada', age: 36 });
    expect(scripted.requests.at(-1)!.response_format).toEqual({
      type: 'json_schema',
      json_schema: { name: 'person', schema, strict: true },
    });
  });

  it('refuses an input item it cannot translate with a 400 naming it', async () => {
    await expect(
      gw.openai.responses.create({ model: 'resp-text', input: [{ type: 'reasoning', id: 'rs_1', summary: [] }], store: false }),
    ).rejects.toMatchObject({ status: 400, type: 'invalid_request_error', param: 'input[0].type' });
  });

  it('meters a Response in the ledger like a chat completion', async () => {
    await gw.flushUsage();
    const rows = async () => (await (await gw.call(`/usage?from=${today()}&to=${today()}&groupBy=alias`)).json()).rows;
    const before = (await rows()).find((r: Record<string, unknown>) => r.alias === 'resp-tools');
    await gw.openai.responses.create({ model: 'resp-tools', input: 'plain please', store: false });
    await gw.flushUsage();
    const after = (await rows()).find((r: Record<string, unknown>) => r.alias === 'resp-tools');
    expect(after.requests - (before?.requests ?? 0)).toBe(1);
    expect(after.inputTokens - (before?.inputTokens ?? 0)).toBe(11);
    expect(after.outputTokens - (before?.outputTokens ?? 0)).toBe(7);
  });
});

describe('streamed Responses', () => {
  it('streams typed events in the published order and shapes, and finalResponse has the usage', async () => {
    const stream = gw.openai.responses.stream({ model: 'resp-text', input: 'Stream please', max_output_tokens: 8, store: false });
    const types: string[] = [];
    let text = '';
    stream.on('event', (event) => {
      expectValid(eventShape, JSON.parse(JSON.stringify(event)));
      types.push(event.type);
    });
    stream.on('response.output_text.delta', (event) => {
      text += event.delta;
    });
    const final = await stream.finalResponse();
    expect(types.slice(0, 4)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
    ]);
    expect(types.slice(-4)).toEqual([
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.incomplete',
    ]);
    expect(types.filter((t) => t === 'response.output_text.delta').length).toBeGreaterThan(1);
    expect(final.output_text).toBe(text);
    expect(final.usage).toMatchObject({ output_tokens: 8 });
  });

  it('streams a function call with its arguments in pieces', async () => {
    const events = await streamedEvents({ model: 'resp-tools', input: 'Weather?', tools: [weather], stream: true, store: false });
    for (const event of events) expectValid(eventShape, event);
    expect(events.map((e) => e.type)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.done',
      'response.output_item.done',
      'response.completed',
    ]);
    expect(events.at(-1)!.response.usage).toMatchObject({ input_tokens: 11, output_tokens: 7, total_tokens: 18 });
  });

  it('ends a stream cut mid-answer with an error event and response.failed, never a completion', async () => {
    const stream = gw.openai.responses.stream({ model: 'resp-tools', input: 'break', store: false });
    const types: string[] = [];
    stream.on('event', (event) => {
      types.push(event.type);
    });
    await expect(stream.finalResponse()).rejects.toThrow();
    expect(types).toContain('response.output_text.delta');
    expect(types).not.toContain('response.completed');

    const events = await streamedEvents({ model: 'resp-tools', input: 'break', stream: true, store: false });
    for (const event of events) expectValid(eventShape, event);
    expect(events.map((e) => e.type).slice(-2)).toEqual(['error', 'response.failed']);
    expect(events.at(-1)!.response).toMatchObject({ status: 'failed', error: { code: 'server_error' } });
  });
});

async function streamedEvents(body: Record<string, unknown>): Promise<Record<string, any>[]> {
  const response = await gw.call('/v1/responses', { key: DEMO_KEY, method: 'POST', body: JSON.stringify(body) });
  const splitter = new SseSplitter();
  const events: Record<string, any>[] = [];
  for await (const bytes of response.body as unknown as AsyncIterable<Uint8Array>) {
    for (const event of splitter.push(bytes)) events.push(JSON.parse(event.data));
  }
  return events;
}

describe('stored Responses', () => {
  let otherTeam: OpenAI;
  beforeAll(async () => {
    const team = await gw.call('/manage/teams/resp-other', {
      method: 'PUT',
      body: JSON.stringify({ name: 'Other', aliases: ['resp-text', 'resp-tools'] }),
    });
    expect(team.status).toBe(201);
    const { key } = await (await gw.call('/manage/teams/resp-other/keys', { method: 'POST', body: '{}' })).json();
    otherTeam = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: key, maxRetries: 0 });
  });

  it('keeps a Response by default, readable and deletable only by the team that created it', async () => {
    const created = await gw.openai.responses.create({ model: 'resp-text', input: 'Keep this', max_output_tokens: 4 });
    const retrieved = await gw.openai.responses.retrieve(created.id);
    expect(JSON.parse(JSON.stringify(retrieved))).toEqual(JSON.parse(JSON.stringify(created)));
    await expect(otherTeam.responses.retrieve(created.id)).rejects.toMatchObject({ status: 404 });
    await expect(otherTeam.responses.delete(created.id)).rejects.toMatchObject({ status: 404 });
    await gw.openai.responses.delete(created.id);
    await expect(gw.openai.responses.retrieve(created.id)).rejects.toMatchObject({ status: 404 });
    await expect(gw.openai.responses.delete(created.id)).rejects.toMatchObject({ status: 404 });
  });

  it('serves stored Responses on the Azure OpenAI v1 path too', async () => {
    const azure = new OpenAI({ baseURL: `${gw.url}/openai/v1`, apiKey: DEMO_KEY, maxRetries: 0 });
    const created = await azure.responses.create({ model: 'resp-text', input: 'Keep on v1', max_output_tokens: 3 });
    expect((await azure.responses.retrieve(created.id)).id).toBe(created.id);
    await azure.responses.delete(created.id);
    await expect(azure.responses.retrieve(created.id)).rejects.toMatchObject({ status: 404 });
  });

  it('keeps nothing with store: false, and a streamed Response once its stream has ended', async () => {
    const unstored = await gw.openai.responses.create({ model: 'resp-text', input: 'Forget this', max_output_tokens: 2, store: false });
    await expect(gw.openai.responses.retrieve(unstored.id)).rejects.toMatchObject({ status: 404 });
    const final = await gw.openai.responses.stream({ model: 'resp-text', input: 'Stream and keep', max_output_tokens: 5 }).finalResponse();
    expect((await gw.openai.responses.retrieve(final.id)).output_text).toBe(final.output_text);
  });

  it('continues a stored conversation with previous_response_id: its input and output come first', async () => {
    const first = await gw.openai.responses.create({ model: 'resp-tools', input: 'Weather in Oslo?', tools: [weather] });
    const call = first.output[0] as { call_id: string };
    const second = await gw.openai.responses.create({
      model: 'resp-tools',
      previous_response_id: first.id,
      tools: [weather],
      input: [{ type: 'function_call_output', call_id: call.call_id, output: 'sunny' }],
    });
    expect(second.previous_response_id).toBe(first.id);
    expect(second.output_text).toBe('The tool said sunny');
    expect(scripted.requests.at(-1)!.messages).toEqual([
      { role: 'user', content: 'Weather in Oslo?' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } }],
      },
      { role: 'tool', tool_call_id: 'call_1', content: 'sunny' },
    ]);
    const third = await gw.openai.responses.create({ model: 'resp-tools', previous_response_id: second.id, input: 'plain please' });
    expect(scripted.requests.at(-1)!.messages.map((m: { role: string }) => m.role)).toEqual([
      'user',
      'assistant',
      'tool',
      'assistant',
      'user',
    ]);
    expect(third.output_text).toBe('plain');
    await expect(
      otherTeam.responses.create({ model: 'resp-tools', previous_response_id: second.id, input: 'steal' }),
    ).rejects.toMatchObject({ status: 404 });
  });
});
