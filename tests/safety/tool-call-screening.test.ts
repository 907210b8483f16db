import { describe, expect, it } from 'vitest';
import { SSE_DONE, SseSplitter, sseData } from '../../shared/http/sse.js';
import {
  chatAnswerParts,
  filteredChatAnswer,
  filteredResponse,
  responseAnswerTexts,
  type ScreenedChoice,
} from '../../shared/safety/answer-filter.js';
import { ChatStreamSafety } from '../../shared/safety/chat-stream-safety.js';
import { contentFilterResult } from '../../shared/safety/content-filter-result.js';
import { BlocklistMatchers, RequestSafety } from '../../shared/safety/request-safety.js';
import { ResponsesStreamSafety } from '../../shared/safety/responses-stream-safety.js';
import { safetyProfileSchema } from '../../shared/safety/safety-profile.js';
import type { SafetyVerdict } from '../../shared/safety/screen.js';

// Tool-call arguments are the model's words too: screened like its text, whole or streamed.
const lists = new Map([['acme', { name: 'acme', items: ['Project Falcon'] }]]);
const safety = () =>
  new RequestSafety({
    profile: safetyProfileSchema.parse({ blocklists: ['acme'], pii: 'mask', windowChars: 64 }),
    blocklists: lists,
    matchers: new BlocklistMatchers(),
    remote: undefined,
    now: () => 0,
  });

async function screenWhole(answer: Record<string, unknown>) {
  const request = safety();
  const screened = new Map<number, ScreenedChoice>();
  for (const { index, parts } of chatAnswerParts(answer)) {
    const result = await request.screenAnswer(parts.map((p) => p.text));
    screened.set(index, { verdict: result.verdict, parts: parts.map((p, i) => ({ ...p, text: result.segments[i]! })) });
  }
  return filteredChatAnswer(answer, screened) as { choices: Array<Record<string, unknown> & { message: Record<string, unknown> }> };
}

const toolCall = (id: string, args: string) => ({ id, type: 'function', function: { name: 'launch', arguments: args } });

describe('the tool calls of a whole answer', () => {
  it('withhold a choice whose arguments carry a flagged term, with finish_reason content_filter', async () => {
    const filtered = await screenWhole({
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: null, tool_calls: [toolCall('a', '{"mission":"Project Falcon"}')] },
          finish_reason: 'tool_calls',
        },
        {
          index: 1,
          message: { role: 'assistant', content: 'ok', tool_calls: [toolCall('b', '{"mission":"Apollo"}')] },
          finish_reason: 'tool_calls',
        },
      ],
    });
    expect(filtered.choices[0]).toMatchObject({
      finish_reason: 'content_filter',
      message: { content: null },
      content_filter_results: { custom_blocklists: { filtered: true } },
    });
    expect(filtered.choices[0]!.message.tool_calls).toBeUndefined();
    expect(filtered.choices[1]).toMatchObject({
      finish_reason: 'tool_calls',
      message: { content: 'ok', tool_calls: [toolCall('b', '{"mission":"Apollo"}')] },
    });
    expect(JSON.stringify(filtered)).not.toContain('Falcon');
  });

  it('mask personal data inside the arguments, leaving the JSON whole', async () => {
    const filtered = await screenWhole({
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: 'mail a@b.io', tool_calls: [toolCall('a', '{"to":"a@b.io"}'), toolCall('b', '{"n":1}')] },
          finish_reason: 'tool_calls',
        },
      ],
    });
    const message = filtered.choices[0]!.message as { content: string; tool_calls: Array<ReturnType<typeof toolCall>> };
    expect(message.content).toBe('mail [EMAIL_1]');
    expect(message.tool_calls.map((c) => JSON.parse(c.function.arguments))).toEqual([{ to: '[EMAIL_1]' }, { n: 1 }]);
    expect(message.tool_calls[0]).toMatchObject({ id: 'a', type: 'function', function: { name: 'launch' } });
  });
});

describe('the tool calls of a streamed answer', () => {
  const base = { id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'm' };
  const toolEvents = (choice: number, tool: number, args: string, size: number) => [
    sseData({
      ...base,
      choices: [
        {
          index: choice,
          delta: {
            role: 'assistant',
            tool_calls: [{ index: tool, id: `call_${tool}`, type: 'function', function: { name: 'launch', arguments: '' } }],
          },
          finish_reason: null,
        },
      ],
    }),
    ...Array.from({ length: Math.ceil(args.length / size) }, (_, i) =>
      sseData({
        ...base,
        choices: [
          {
            index: choice,
            delta: { tool_calls: [{ index: tool, function: { arguments: args.slice(i * size, (i + 1) * size) } }] },
            finish_reason: null,
          },
        ],
      }),
    ),
  ];
  const finish = (choice: number) => sseData({ ...base, choices: [{ index: choice, delta: {}, finish_reason: 'tool_calls' }] });

  async function relay(events: Uint8Array[]) {
    const request = safety();
    const verdicts: SafetyVerdict[] = [];
    const stream = new ChatStreamSafety(
      () => request.answerHoldBack((v) => verdicts.push(v)),
      () => contentFilterResult(verdicts.at(-1)!),
    );
    const out: Uint8Array[] = [];
    for (const event of events) out.push(...(await stream.push([event])));
    out.push(...(await stream.end()));
    const splitter = new SseSplitter();
    const datas = out.flatMap((bytes) => splitter.push(bytes)).map((e) => e.data);
    const chunks = datas.filter((d) => d !== '[DONE]').map((d) => JSON.parse(d));
    const args = (choice: number, tool: number) =>
      chunks
        .flatMap((c) => c.choices.filter((ch: { index: number }) => ch.index === choice))
        .flatMap((ch: { delta: { tool_calls?: Array<{ index: number; function?: { arguments?: string } }> } }) => ch.delta.tool_calls ?? [])
        .filter((call: { index: number }) => call.index === tool)
        .map((call: { function?: { arguments?: string } }) => call.function?.arguments ?? '')
        .join('');
    return { bytes: Buffer.concat(out), datas, chunks, args, stream };
  }

  const flagged = `{"plan":"${'go up and come back down. '.repeat(5)}Project Falcon launches at dawn","after":"${'more words. '.repeat(5)}"}`;

  it('never send a flagged term split across chunks and windows; the choice ends with content_filter and [DONE]', async () => {
    for (const size of [1, 2, 7, 13, 64, 1000]) {
      const { bytes, chunks, datas, stream } = await relay([...toolEvents(0, 0, flagged, size), finish(0), SSE_DONE]);
      expect(bytes.includes(Buffer.from('Falcon'))).toBe(false);
      expect(bytes.includes(Buffer.from('launches'))).toBe(false);
      expect(chunks.at(-1).choices[0]).toMatchObject({
        finish_reason: 'content_filter',
        content_filter_results: { custom_blocklists: { filtered: true } },
      });
      expect(chunks.filter((c) => c.choices.some((ch: { finish_reason: string | null }) => ch.finish_reason !== null))).toHaveLength(1);
      expect(datas.at(-1)).toBe('[DONE]');
      expect(stream.allBlocked).toBe(true);
    }
  });

  it('pass clean arguments whole, each call with its id and name first, and the finish after them', async () => {
    const clean = flagged.replace('Project Falcon', 'the rocket');
    const second = '{"n":1}';
    for (const size of [1, 5, 1000]) {
      const { args, chunks, datas } = await relay([
        ...toolEvents(0, 0, clean, size),
        ...toolEvents(0, 1, second, size),
        finish(0),
        SSE_DONE,
      ]);
      expect(args(0, 0)).toBe(clean);
      expect(args(0, 1)).toBe(second);
      const calls = chunks.flatMap((c) => c.choices.flatMap((ch: { delta: { tool_calls?: unknown[] } }) => ch.delta.tool_calls ?? []));
      expect(
        calls
          .filter((call: { id?: string }) => call.id !== undefined)
          .map((call: { id: string; function: { name: string } }) => [call.id, call.function.name]),
      ).toEqual([
        ['call_0', 'launch'],
        ['call_1', 'launch'],
      ]);
      expect(chunks.at(-1).choices[0].finish_reason).toBe('tool_calls');
      expect(datas.at(-1)).toBe('[DONE]');
    }
  });

  it('send one piece per call in a delta, even when the finish releases the rest of several calls at once', async () => {
    const header = (tool: number, args: string) => ({
      index: tool,
      id: `call_${tool}`,
      type: 'function',
      function: { name: 'launch', arguments: args },
    });
    // Both calls whole in one chunk with the finish: everything held is released in that chunk.
    const { chunks, args } = await relay([
      sseData({
        ...base,
        choices: [{ index: 0, delta: { tool_calls: [header(0, '{"a":1}'), header(1, '{"b":2}')] }, finish_reason: 'tool_calls' }],
      }),
      SSE_DONE,
    ]);
    const pieces = chunks.flatMap((c) =>
      c.choices.flatMap((ch: { delta: { tool_calls?: Array<{ index: number }> } }) => ch.delta.tool_calls ?? []),
    );
    expect(pieces.map((p: { index: number }) => p.index)).toEqual([0, 1]);
    expect([args(0, 0), args(0, 1)]).toEqual(['{"a":1}', '{"b":2}']);
    expect(chunks.at(-1).choices[0].finish_reason).toBe('tool_calls');
  });

  it('mask personal data in streamed arguments', async () => {
    const { args } = await relay([...toolEvents(0, 0, '{"to":"a@b.io","cc":"x"}', 3), finish(0), SSE_DONE]);
    expect(JSON.parse(args(0, 0))).toEqual({ to: '[EMAIL_1]', cc: 'x' });
  });
});

describe('the function calls of a Responses answer', () => {
  const response = (args: string) => ({
    id: 'resp_1',
    object: 'response',
    status: 'completed',
    output: [{ type: 'function_call', id: 'fc_1', call_id: 'call_1', name: 'launch', arguments: args, status: 'completed' }],
  });
  async function filter(args: string) {
    const request = safety();
    const answer = response(args);
    const screened = await Promise.all(
      responseAnswerTexts(answer).map(async (part) => {
        const result = await request.screenAnswer([part.text]);
        return { ...part, verdict: result.verdict, text: result.segments[0]! };
      }),
    );
    return filteredResponse(answer, screened) as Record<string, unknown> & { output: Array<Record<string, unknown>> };
  }

  it('withholds flagged arguments: the Response is incomplete for content_filter', async () => {
    const filtered = await filter('{"mission":"Project Falcon"}');
    expect(filtered).toMatchObject({ status: 'incomplete', incomplete_details: { reason: 'content_filter' } });
    expect(filtered.output[0]).toMatchObject({ type: 'function_call', arguments: '', status: 'incomplete' });
    expect(JSON.stringify(filtered)).not.toContain('Falcon');
  });

  it('masks personal data in arguments and leaves clean ones as they were', async () => {
    expect(JSON.parse(String((await filter('{"to":"a@b.io"}')).output[0]!.arguments))).toEqual({ to: '[EMAIL_1]' });
    expect(await filter('{"n":1}')).toEqual(response('{"n":1}'));
  });

  const encoder = new TextEncoder();
  const frame = (event: Record<string, unknown>) => encoder.encode(`event: ${String(event.type)}\ndata: ${JSON.stringify(event)}\n\n`);
  function nativeCallStream(args: string, size: number): Uint8Array[] {
    const start = { id: 'resp_1', object: 'response', status: 'in_progress', output: [] };
    const item = { type: 'function_call', id: 'fc_1', call_id: 'call_1', name: 'launch', arguments: '', status: 'in_progress' };
    const done = { ...item, arguments: args, status: 'completed' };
    const at = { item_id: 'fc_1', output_index: 0 };
    const events: Array<Record<string, unknown>> = [
      { type: 'response.created', response: start },
      { type: 'response.output_item.added', output_index: 0, item },
      ...Array.from({ length: Math.ceil(args.length / size) }, (_, i) => ({
        type: 'response.function_call_arguments.delta',
        ...at,
        delta: args.slice(i * size, (i + 1) * size),
      })),
      { type: 'response.function_call_arguments.done', ...at, arguments: args },
      { type: 'response.output_item.done', output_index: 0, item: done },
      { type: 'response.completed', response: { ...start, status: 'completed', output: [done] } },
    ];
    return events.map((e, i) => frame({ ...e, sequence_number: i }));
  }
  async function relayNative(events: Uint8Array[]) {
    const request = safety();
    const stream = new ResponsesStreamSafety(() => request.answerHoldBack(() => undefined));
    const out: Uint8Array[] = [];
    for (const event of events) out.push(...(await stream.push([event])));
    const splitter = new SseSplitter();
    return { bytes: Buffer.concat(out), events: out.flatMap((b) => splitter.push(b)).map((e) => JSON.parse(e.data)), stream };
  }
  const flagged = `{"plan":"${'go up and come back down. '.repeat(5)}Project Falcon launches at dawn"}`;

  it('a native stream never sends flagged streamed arguments, whatever the chunking, and ends with response.incomplete', async () => {
    for (const size of [1, 3, 17, 1000]) {
      const { bytes, events, stream } = await relayNative(nativeCallStream(flagged, size));
      expect(bytes.includes(Buffer.from('Falcon'))).toBe(false);
      expect(events.at(-1)).toMatchObject({ type: 'response.incomplete', response: { incomplete_details: { reason: 'content_filter' } } });
      expect(stream.blocked).toBe(true);
    }
  });

  it('a native stream passes clean arguments whole, in the deltas, the done events and the final Response', async () => {
    const clean = flagged.replace('Project Falcon', 'the rocket');
    for (const size of [1, 17, 1000]) {
      const { events } = await relayNative(nativeCallStream(clean, size));
      const deltas = events
        .filter((e) => e.type === 'response.function_call_arguments.delta')
        .map((e) => e.delta)
        .join('');
      expect(deltas).toBe(clean);
      expect(events.find((e) => e.type === 'response.function_call_arguments.done').arguments).toBe(clean);
      expect(events.find((e) => e.type === 'response.output_item.done').item.arguments).toBe(clean);
      expect(events.at(-1)).toMatchObject({ type: 'response.completed', response: { output: [{ arguments: clean }] } });
    }
  });
});
