import { describe, expect, it } from 'vitest';
import { errors } from '../../shared/errors.js';
import { SseSplitter } from '../../shared/http/sse.js';
import { nativeStreamReader, readNativeResponse } from '../../shared/gateway/responses-native.js';
import type { ResponseObject } from '../../shared/gateway/responses-translation.js';

const estimate = (text: string) => ({
  inputTokens: 3,
  outputTokens: text.length,
  cachedInputTokens: 0,
  reasoningTokens: 0,
  estimated: true,
});
const base = { id: 'resp_up1', object: 'response', created_at: 1, model: 'gpt-x', output: [] };
const done = {
  ...base,
  status: 'completed',
  output: [
    {
      id: 'msg_1',
      type: 'message',
      role: 'assistant',
      status: 'completed',
      content: [{ type: 'output_text', text: 'Hé!', annotations: [] }],
    },
  ],
  usage: { input_tokens: 9, output_tokens: 2, total_tokens: 11 },
};
const frame = (event: Record<string, unknown>) => `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
const wire = [
  frame({ type: 'response.created', response: { ...base, status: 'in_progress' }, sequence_number: 0 }),
  ': keep-alive\n\n',
  frame({ type: 'response.output_text.delta', item_id: 'msg_1', output_index: 0, content_index: 0, delta: 'Hé', sequence_number: 1 }),
  frame({ type: 'response.output_text.delta', item_id: 'msg_1', output_index: 0, content_index: 0, delta: '!', sequence_number: 2 }),
  frame({ type: 'response.completed', response: done, sequence_number: 3 }),
].join('');
const bytes = new TextEncoder().encode(wire);

function relay(cuts: number[]) {
  const completed: ResponseObject[] = [];
  const reader = nativeStreamReader(estimate, (r) => completed.push(r));
  const out: Uint8Array[] = [];
  let from = 0;
  for (const to of [...cuts, bytes.byteLength]) {
    out.push(...reader.push(bytes.slice(from, to)));
    from = to;
  }
  return { reader, out, completed };
}

describe('native Responses answers', () => {
  it('meters the cached input and reasoning tokens a Response reports', () => {
    const usage = {
      input_tokens: 40,
      input_tokens_details: { cached_tokens: 16 },
      output_tokens: 9,
      output_tokens_details: { reasoning_tokens: 6 },
      total_tokens: 49,
    };
    expect(readNativeResponse(JSON.stringify({ ...done, usage }), estimate).usage).toEqual({
      inputTokens: 40,
      outputTokens: 9,
      cachedInputTokens: 16,
      reasoningTokens: 6,
      estimated: false,
    });
  });

  it('reads a whole Response: its bytes as they came, usage as reported, else estimated from its text', () => {
    expect(readNativeResponse(JSON.stringify(done), estimate)).toMatchObject({
      json: JSON.stringify(done),
      response: { id: 'resp_up1' },
      usage: { inputTokens: 9, outputTokens: 2, cachedInputTokens: 0, reasoningTokens: 0, estimated: false },
    });
    const { usage: _usage, ...unreported } = done;
    expect(readNativeResponse(JSON.stringify(unreported), estimate).usage).toEqual({
      inputTokens: 3,
      outputTokens: 3,
      cachedInputTokens: 0,
      reasoningTokens: 0,
      estimated: true,
    });
    expect(() => readNativeResponse('{"choices":[]}', estimate)).toThrow();
  });

  it.each([
    ['whole', []],
    ['cut inside the é and inside an event name', [wire.indexOf('é') + 1, 3]],
    ['cut every 7 bytes', Array.from({ length: Math.floor(bytes.byteLength / 7) }, (_, i) => (i + 1) * 7)],
  ])('relays a stream byte for byte and completes at response.completed, %s', (_name, cuts) => {
    const { reader, out, completed } = relay([...(cuts as number[])].sort((a, b) => a - b));
    expect(Buffer.concat(out).toString()).toBe(wire);
    expect(reader.complete).toBe(true);
    expect(reader.usage()).toEqual({ inputTokens: 9, outputTokens: 2, cachedInputTokens: 0, reasoningTokens: 0, estimated: false });
    expect(completed.map((r) => r.id)).toEqual(['resp_up1']);
  });

  it('ends a broken stream with error and response.failed numbered after the last event passed on', () => {
    const reader = nativeStreamReader(estimate, () => undefined);
    reader.push(bytes.slice(0, wire.indexOf('data: {"type":"response.completed"')));
    expect(reader.complete).toBe(false);
    expect(reader.usage()).toEqual({ inputTokens: 3, outputTokens: 3, cachedInputTokens: 0, reasoningTokens: 0, estimated: true });
    const splitter = new SseSplitter();
    const events = reader
      .failureEvents(errors.upstreamError('broke'))
      .flatMap((b) => splitter.push(b))
      .map((e) => JSON.parse(e.data));
    expect(events).toMatchObject([
      { type: 'error', sequence_number: 3 },
      { type: 'response.failed', sequence_number: 4, response: { id: 'resp_up1', status: 'failed', error: { code: 'server_error' } } },
    ]);
  });
});
