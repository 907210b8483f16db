import { describe, expect, it } from 'vitest';
import { isGatewayError } from '../../shared/errors.js';
import { SseSplitter } from '../../shared/http/sse.js';
import { responsesRequestSchema, toChatBody } from '../../shared/gateway/responses-request.js';
import { completionAsResponseEvents, responsesFailureEvents, responsesStreamReader } from '../../shared/gateway/responses-stream.js';
import { completionAsChunk, ResponseTranslator, type ResponseObject } from '../../shared/gateway/responses-translation.js';
import { errors } from '../../shared/errors.js';
import { readChatStream } from '../../shared/upstreams/protocols/openai.js';

const request = (body: Record<string, unknown>) => responsesRequestSchema.parse({ model: 'chat', ...body });
const weatherTool = { type: 'function', name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } };

describe('a Responses request as a chat request', () => {
  it.each([
    ['a string input', { input: 'hi' }, { messages: [{ role: 'user', content: 'hi' }] }],
    [
      'instructions and message items with input_text parts',
      { instructions: 'Be brief.', input: [{ role: 'user', content: [{ type: 'input_text', text: 'a' }] }] },
      {
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: [{ type: 'text', text: 'a' }] },
        ],
      },
    ],
    [
      'an assistant turn given as output_text',
      { input: [{ type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'x', annotations: [] }] }] },
      { messages: [{ role: 'assistant', content: 'x' }] },
    ],
    [
      'parallel function calls and their outputs',
      {
        input: [
          { type: 'function_call', call_id: 'c1', name: 'f', arguments: '{}' },
          { type: 'function_call', call_id: 'c2', name: 'g', arguments: '{"a":1}' },
          { type: 'function_call_output', call_id: 'c1', output: 'one' },
          { type: 'function_call_output', call_id: 'c2', output: 'two' },
        ],
      },
      {
        messages: [
          {
            role: 'assistant',
            content: null,
            tool_calls: [
              { id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' } },
              { id: 'c2', type: 'function', function: { name: 'g', arguments: '{"a":1}' } },
            ],
          },
          { role: 'tool', tool_call_id: 'c1', content: 'one' },
          { role: 'tool', tool_call_id: 'c2', content: 'two' },
        ],
      },
    ],
    [
      'function tools, tool_choice and max_output_tokens',
      { input: 'w', tools: [weatherTool], tool_choice: { type: 'function', name: 'get_weather' }, max_output_tokens: 9 },
      {
        messages: [{ role: 'user', content: 'w' }],
        tools: [{ type: 'function', function: { name: 'get_weather', parameters: weatherTool.parameters } }],
        tool_choice: { type: 'function', function: { name: 'get_weather' } },
        max_tokens: 9,
      },
    ],
    [
      'text.format json_schema',
      { input: 'j', text: { format: { type: 'json_schema', name: 'P', schema: { type: 'object' }, strict: true } } },
      {
        messages: [{ role: 'user', content: 'j' }],
        response_format: { type: 'json_schema', json_schema: { name: 'P', schema: { type: 'object' }, strict: true } },
      },
    ],
    [
      'text.format json_object',
      { input: 'j', text: { format: { type: 'json_object' } } },
      { messages: [{ role: 'user', content: 'j' }], response_format: { type: 'json_object' } },
    ],
  ])('translates %s', (_name, body, expected) => {
    expect(toChatBody(request(body))).toEqual(expected);
  });

  it('puts the stored conversation before the new input', () => {
    const history = [
      { type: 'message', role: 'user', content: 'first' },
      { id: 'msg_1', type: 'message', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: 'reply' }] },
    ];
    expect(toChatBody(request({ input: 'second' }), history).messages).toEqual([
      { role: 'user', content: 'first' },
      { role: 'assistant', content: 'reply' },
      { role: 'user', content: 'second' },
    ]);
  });

  it.each([
    ['an unsupported item type', { input: [{ type: 'reasoning', summary: [] }] }, 'input[0].type', "'reasoning'"],
    [
      'an unsupported content part',
      { input: [{ role: 'user', content: [{ type: 'input_file', file_id: 'f' }] }] },
      'input[0].content[0].type',
      "'input_file'",
    ],
    ['a built-in tool', { input: 'x', tools: [{ type: 'web_search' }] }, 'tools[0].type', "'web_search'"],
    ['a text format of an unknown type', { input: 'x', text: { format: { type: 'grammar' } } }, 'text.format.type', "'grammar'"],
    ['background mode', { input: 'x', background: true }, 'background', "'background'"],
    ['a function_call without arguments', { input: [{ type: 'function_call', call_id: 'c', name: 'f' }] }, 'input[0]', 'function_call'],
  ])('refuses %s with a 400 naming it', (_name, body, param, named) => {
    try {
      toChatBody(request(body));
      expect.unreachable();
    } catch (error) {
      expect(isGatewayError(error) && { status: error.status, type: error.type, param: error.param }).toEqual({
        status: 400,
        type: 'invalid_request_error',
        param,
      });
      expect((error as Error).message).toContain(named);
    }
  });
});

let ids = 0;
const translator = (body: Record<string, unknown> = { input: 'x' }) =>
  new ResponseTranslator({ id: 'resp_1', createdAtS: 100, model: 'chat', request: request(body), newId: () => `id-${++ids}` });
const usage = { inputTokens: 5, outputTokens: 3, cachedInputTokens: 0, reasoningTokens: 0, estimated: false };

describe('a chat completion as a Response', () => {
  it('gives a message item with output_text and the metered usage with its details', () => {
    const t = translator();
    t.push(
      completionAsChunk({
        model: 'm',
        choices: [{ index: 0, message: { role: 'assistant', content: 'Hello' }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 5, completion_tokens: 3, prompt_tokens_details: { cached_tokens: 2 } },
      }),
    );
    t.finish(usage, 101);
    const response = t.response as ResponseObject;
    expect(response).toMatchObject({ id: 'resp_1', object: 'response', status: 'completed', completed_at: 101, model: 'chat' });
    expect(response.output).toEqual([
      {
        id: expect.stringMatching(/^msg_/),
        type: 'message',
        role: 'assistant',
        status: 'completed',
        content: [{ type: 'output_text', text: 'Hello', annotations: [], logprobs: [] }],
      },
    ]);
    expect(response.usage).toEqual({
      input_tokens: 5,
      input_tokens_details: { cached_tokens: 2, cache_write_tokens: 0 },
      output_tokens: 3,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: 8,
    });
  });

  it('gives function_call items for tool calls, and incomplete for a length stop', () => {
    const t = translator();
    t.push(
      completionAsChunk({
        choices: [
          {
            message: { content: null, tool_calls: [{ id: 'call_9', type: 'function', function: { name: 'f', arguments: '{"a":1}' } }] },
            finish_reason: 'tool_calls',
          },
        ],
      }),
    );
    t.finish(usage, 101);
    expect(t.response!.output).toEqual([
      { id: expect.stringMatching(/^fc_/), type: 'function_call', call_id: 'call_9', name: 'f', arguments: '{"a":1}', status: 'completed' },
    ]);
    const cut = translator();
    cut.push(completionAsChunk({ choices: [{ message: { content: 'abc' }, finish_reason: 'length' }] }));
    cut.finish(usage, 101);
    expect(cut.response).toMatchObject({ status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' } });
  });
});

const chunk = (delta: Record<string, unknown>, finish: string | null = null) =>
  `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
const chatSse = [
  chunk({ role: 'assistant', content: '' }),
  chunk({ content: 'Hel' }),
  chunk({ content: 'lo ✓' }),
  chunk({ tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'f', arguments: '' } }] }),
  chunk({ tool_calls: [{ index: 0, function: { arguments: '{"x":' } }] }),
  chunk({ tool_calls: [{ index: 0, function: { arguments: '1}' } }] }),
  chunk({ tool_calls: [{ index: 1, id: 'call_b', type: 'function', function: { name: 'g', arguments: '{}' } }] }),
  chunk({}, 'tool_calls'),
  `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [], usage: { prompt_tokens: 4, completion_tokens: 6 } })}\n\n`,
  'data: [DONE]\n\n',
].join('');

const byteAt = (text: string) => new TextEncoder().encode(chatSse.slice(0, chatSse.indexOf(text))).byteLength;

function eventsOf(bytes: Uint8Array[]): Record<string, unknown>[] {
  const splitter = new SseSplitter();
  return bytes.flatMap((b) => splitter.push(b)).map((e) => ({ event: e.event, ...JSON.parse(e.data) }));
}

function translateStream(cuts: number[]) {
  const raw = new TextEncoder().encode(chatSse);
  const t = translator({ input: 'x', stream: true });
  const completed: ResponseObject[] = [];
  const chatBody = { messages: [{ role: 'user', content: 'x' }], stream: true, stream_options: { include_usage: true } };
  const reader = responsesStreamReader(
    readChatStream({ target: { endpoint: 'http://x', upstreamModel: 'm' }, request: chatBody, now: () => 0, newId: () => 'n' }),
    t,
    () => 7,
    (r) => completed.push(r),
  );
  const out: Uint8Array[] = [];
  let from = 0;
  for (const to of [...cuts, raw.byteLength]) {
    out.push(...reader.push(raw.slice(from, to)));
    from = to;
  }
  return { events: eventsOf(out), complete: reader.complete, completed };
}

describe('a chat stream as Responses events', () => {
  const expectedTypes = [
    'response.created',
    'response.in_progress',
    'response.output_item.added',
    'response.content_part.added',
    'response.output_text.delta',
    'response.output_text.delta',
    'response.output_text.done',
    'response.content_part.done',
    'response.output_item.done',
    'response.output_item.added',
    'response.function_call_arguments.delta',
    'response.function_call_arguments.delta',
    'response.function_call_arguments.done',
    'response.output_item.done',
    'response.output_item.added',
    'response.function_call_arguments.delta',
    'response.function_call_arguments.done',
    'response.output_item.done',
    'response.completed',
  ];

  it.each([
    ['whole', []],
    ['cut inside a data line', [7]],
    ['cut between the two line feeds that end an event, and inside the check mark', [byteAt('\n\n') + 1, byteAt('✓') + 1]],
    ['cut every 5 bytes', Array.from({ length: Math.floor(chatSse.length / 5) }, (_, i) => (i + 1) * 5)],
  ])('tells the same events in order, %s', (_name, cuts) => {
    const { events, complete, completed } = translateStream(cuts as number[]);
    expect(complete).toBe(true);
    expect(events.map((e) => e.type)).toEqual(expectedTypes);
    expect(events.map((e) => e.event)).toEqual(expectedTypes);
    expect(events.map((e) => e.sequence_number)).toEqual(expectedTypes.map((_, i) => i));
    expect(events.find((e) => e.type === 'response.output_text.done')).toMatchObject({ text: 'Hello ✓', output_index: 0 });
    expect(events.filter((e) => e.type === 'response.function_call_arguments.done')).toMatchObject([
      { name: 'f', arguments: '{"x":1}', output_index: 1 },
      { name: 'g', arguments: '{}', output_index: 2 },
    ]);
    const final = events.at(-1)!.response as ResponseObject;
    expect(final.output.map((item) => item.type)).toEqual(['message', 'function_call', 'function_call']);
    expect(final.usage).toMatchObject({ input_tokens: 4, output_tokens: 6, total_tokens: 10 });
    expect(completed).toEqual([final]);
  });

  it('ends a broken stream with an error event and response.failed, never a completion', () => {
    const t = translator({ input: 'x', stream: true });
    t.start();
    const failed = eventsOf(responsesFailureEvents(t, errors.upstreamError('The model stream broke off.')));
    expect(failed.map((e) => e.type)).toEqual(['error', 'response.failed']);
    expect(failed[1]!.response).toMatchObject({ status: 'failed', error: { code: 'server_error' } });
    expect(failed.map((e) => e.sequence_number)).toEqual([2, 3]);
  });

  it('tells a refusal as a refusal part with its own events, never as an empty message', () => {
    const t = translator({ input: 'x', stream: true });
    const events = [
      ...t.start(),
      ...t.push({ choices: [{ index: 0, delta: { role: 'assistant', refusal: '' } }] }),
      ...t.push({ choices: [{ index: 0, delta: { refusal: "I can't" } }] }),
      ...t.push({ choices: [{ index: 0, delta: { refusal: ' help.' }, finish_reason: 'stop' }] }),
      ...t.finish(usage, 9),
    ];
    expect(events.map((e) => e.type)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.refusal.delta',
      'response.refusal.delta',
      'response.refusal.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
    expect(events.find((e) => e.type === 'response.refusal.done')).toMatchObject({ refusal: "I can't help.", content_index: 0 });
    expect(t.response!.output).toMatchObject([{ type: 'message', content: [{ type: 'refusal', refusal: "I can't help." }] }]);
    const whole = translator();
    whole.push(completionAsChunk({ choices: [{ message: { content: null, refusal: 'No.' }, finish_reason: 'stop' }] }));
    whole.finish(usage, 9);
    expect(whole.response!.output).toMatchObject([{ type: 'message', content: [{ type: 'refusal', refusal: 'No.' }] }]);
  });

  it('tells a whole completion as the full event sequence', () => {
    const events = completionAsResponseEvents(
      JSON.stringify({ choices: [{ message: { content: 'ok' }, finish_reason: 'stop' }] }),
      usage,
      translator({ input: 'x', stream: true }),
      9,
    );
    expect(events.map((e) => e.type)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
  });
});
