import { describe, expect, it } from 'vitest';
import { SseSplitter } from '../../shared/http/sse.js';
import { BlocklistMatchers, RequestSafety } from '../../shared/safety/request-safety.js';
import { ResponsesStreamSafety } from '../../shared/safety/responses-stream-safety.js';
import { safetyProfileSchema } from '../../shared/safety/safety-profile.js';

const encoder = new TextEncoder();
const frame = (event: Record<string, unknown>) => encoder.encode(`event: ${String(event.type)}\ndata: ${JSON.stringify(event)}\n\n`);

/** A native Responses stream as OpenAI sends it, the text cut into deltas of `size` characters. */
function nativeStream(text: string, size: number): Uint8Array[] {
  const response = { id: 'resp_1', object: 'response', status: 'in_progress', output: [] };
  const item = { id: 'msg_1', type: 'message', role: 'assistant', status: 'in_progress', content: [] };
  const at = { item_id: 'msg_1', output_index: 0, content_index: 0 };
  const done = { ...item, status: 'completed', content: [{ type: 'output_text', text, annotations: [] }] };
  const events: Array<Record<string, unknown>> = [
    { type: 'response.created', response },
    { type: 'response.in_progress', response },
    { type: 'response.output_item.added', output_index: 0, item },
    { type: 'response.content_part.added', ...at, part: { type: 'output_text', text: '', annotations: [] } },
    ...Array.from({ length: Math.ceil(text.length / size) }, (_, i) => ({
      type: 'response.output_text.delta',
      ...at,
      delta: text.slice(i * size, (i + 1) * size),
    })),
    { type: 'response.output_text.done', ...at, text },
    { type: 'response.content_part.done', ...at, part: { type: 'output_text', text, annotations: [] } },
    { type: 'response.output_item.done', output_index: 0, item: done },
    { type: 'response.completed', response: { ...response, status: 'completed', output: [done] } },
  ];
  return events.map((e, i) => frame({ ...e, sequence_number: i }));
}

async function relay(events: Uint8Array[], fields: Record<string, unknown> = {}) {
  const request = new RequestSafety({
    profile: safetyProfileSchema.parse({ blocklists: ['acme'], windowChars: 64, ...fields }),
    blocklists: new Map([['acme', { name: 'acme', items: ['Project Falcon'] }]]),
    matchers: new BlocklistMatchers(),
    remote: undefined,
    now: () => 0,
  });
  const stream = new ResponsesStreamSafety(() => request.answerHoldBack(() => undefined));
  const out: Uint8Array[] = [];
  for (const event of events) out.push(...(await stream.push([event])));
  const splitter = new SseSplitter();
  const parsed = out.flatMap((bytes) => splitter.push(bytes)).map((e) => JSON.parse(e.data));
  return { bytes: Buffer.concat(out), events: parsed, stream };
}

const text = `${'a calm and ordinary answer about the weather. '.repeat(4)}Project Falcon is ready. ${'and some more words. '.repeat(4)}`;

describe('a native Responses stream', () => {
  it('passes a clean answer with its whole-text events intact and numbered in order', async () => {
    const clean = text.replace('Project Falcon', 'the rocket');
    for (const size of [1, 7, 200]) {
      const { events } = await relay(nativeStream(clean, size));
      const deltas = events
        .filter((e) => e.type === 'response.output_text.delta')
        .map((e) => e.delta)
        .join('');
      expect(deltas).toBe(clean);
      expect(events.find((e) => e.type === 'response.output_text.done').text).toBe(clean);
      expect(events.find((e) => e.type === 'response.content_part.done').part.text).toBe(clean);
      expect(events.at(-1)).toMatchObject({ type: 'response.completed', response: { output: [{ content: [{ text: clean }] }] } });
      expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
    }
  });

  it('never sends a flagged term in a delta or a whole-text event, and ends incomplete for content_filter', async () => {
    for (const size of [1, 5, 13, 64, 500]) {
      const { bytes, events, stream } = await relay(nativeStream(text, size));
      expect(bytes.includes(Buffer.from('Falcon'))).toBe(false);
      expect(events.at(-1)).toMatchObject({
        type: 'response.incomplete',
        response: { status: 'incomplete', incomplete_details: { reason: 'content_filter' } },
      });
      expect(events.some((e) => e.type === 'response.completed')).toBe(false);
      expect(stream.blocked).toBe(true);
    }
  });

  it('masks personal data in deltas and in the whole-text events alike', async () => {
    const withEmail = text.replace('Project Falcon', 'jane@example.com');
    const { bytes, events } = await relay(nativeStream(withEmail, 6), { pii: 'mask' });
    expect(bytes.includes(Buffer.from('jane@example.com'))).toBe(false);
    const masked = withEmail.replace('jane@example.com', '[EMAIL_1]');
    expect(
      events
        .filter((e) => e.type === 'response.output_text.delta')
        .map((e) => e.delta)
        .join(''),
    ).toBe(masked);
    expect(events.at(-1).response.output[0].content[0].text).toBe(masked);
  });
});
