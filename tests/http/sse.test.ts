import { describe, expect, it } from 'vitest';
import { MAX_SSE_EVENT_BYTES, SSE_DONE, SseSplitter, sseData, type SseEvent } from '../../shared/http/sse.js';
import { seededRandom } from '../../shared/seeded-random.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const bytes = (text: string) => encoder.encode(text);
const text = (data: Uint8Array) => decoder.decode(data);

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

function cutAt(input: Uint8Array, offsets: readonly number[]): Uint8Array[] {
  const sorted = [...new Set(offsets)].sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let start = 0;
  for (const offset of sorted) {
    chunks.push(input.slice(start, offset));
    start = offset;
  }
  chunks.push(input.slice(start));
  return chunks;
}

function feed(chunks: readonly Uint8Array[]): { events: SseEvent[]; splitter: SseSplitter } {
  const splitter = new SseSplitter();
  const events: SseEvent[] = [];
  for (const chunk of chunks) events.push(...splitter.push(chunk));
  return { events, splitter };
}

// A realistic Azure OpenAI chat stream: the prompt-filter chunk, content deltas (with emoji, CJK and an
// escaped newline), the finish chunk, the usage chunk Switchyard asks for, then [DONE].
const chunkJson = [
  '{"choices":[],"created":0,"id":"","model":"","object":"","prompt_filter_results":[{"prompt_index":0,"content_filter_results":{"hate":{"filtered":false,"severity":"safe"}}}]}',
  '{"id":"chatcmpl-A1","object":"chat.completion.chunk","created":1767225600,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}],"usage":null}',
  '{"id":"chatcmpl-A1","object":"chat.completion.chunk","created":1767225600,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"Hello 👋🏽 "},"finish_reason":null}],"usage":null}',
  '{"id":"chatcmpl-A1","object":"chat.completion.chunk","created":1767225600,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"世界, café"},"finish_reason":null}],"usage":null}',
  '{"id":"chatcmpl-A1","object":"chat.completion.chunk","created":1767225600,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"\\nbye"},"finish_reason":null}],"usage":null}',
  '{"id":"chatcmpl-A1","object":"chat.completion.chunk","created":1767225600,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}',
  '{"id":"chatcmpl-A1","object":"chat.completion.chunk","created":1767225600,"model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":7,"total_tokens":19}}',
];
const expectedData = [...chunkJson, '[DONE]'];

function streamText(lineEnd: string): string {
  return expectedData.map((data) => `data: ${data}${lineEnd}${lineEnd}`).join('');
}

const LF_STREAM = bytes(streamText('\n'));
const CRLF_STREAM = bytes(streamText('\r\n'));

const EXPECTED_JOINED = expectedData.join('\u0000');

// Cheap check for the split loops (thousands of runs); returns what went wrong, or undefined.
function wholeStreamProblem(events: SseEvent[], splitter: SseSplitter, input: Uint8Array): string | undefined {
  if (events.map((e) => e.data).join('\u0000') !== EXPECTED_JOINED) return `data: ${JSON.stringify(events.map((e) => e.data))}`;
  if (!events.every((e) => e.event === undefined)) return 'an event field appeared';
  if (!Buffer.from(concat(events.map((e) => e.raw))).equals(Buffer.from(input))) return 'raw bytes differ from the input';
  if (splitter.leftover.byteLength !== 0) return `leftover: ${text(splitter.leftover)}`;
  return undefined;
}

function expectWholeStream(events: SseEvent[], splitter: SseSplitter, input: Uint8Array): void {
  expect(events.map((e) => e.data)).toEqual(expectedData);
  expect(wholeStreamProblem(events, splitter, input)).toBeUndefined();
}

describe('SseSplitter on a realistic OpenAI stream', () => {
  it('the fixture really contains multi-byte characters (so the split tests cut through them)', () => {
    expect(LF_STREAM.byteLength).toBeGreaterThan(streamText('\n').length);
  });

  it('splits the stream fed whole into its events, raw bytes intact', () => {
    const { events, splitter } = feed([LF_STREAM]);
    expectWholeStream(events, splitter, LF_STREAM);
    expect(text(events[0]!.raw)).toBe(`data: ${chunkJson[0]}\n\n`);
    expect(text(events.at(-1)!.raw)).toBe('data: [DONE]\n\n');
    expect(JSON.parse(events[2]!.data).choices[0].delta.content).toBe('Hello 👋🏽 ');
    expect(JSON.parse(events[4]!.data).choices[0].delta.content).toBe('\nbye');
  });

  it('gives the same events fed byte by byte', () => {
    const chunks = Array.from(LF_STREAM, (b) => Uint8Array.of(b));
    const { events, splitter } = feed(chunks);
    expectWholeStream(events, splitter, LF_STREAM);
  });

  it('gives each event exactly once, at the push that completes it', () => {
    const splitter = new SseSplitter();
    const first = bytes(`data: ${chunkJson[1]}\n\n`);
    expect(splitter.push(first.slice(0, first.byteLength - 1))).toEqual([]);
    const done = splitter.push(first.slice(first.byteLength - 1));
    expect(done.map((e) => e.data)).toEqual([chunkJson[1]]);
    expect(splitter.push(new Uint8Array(0))).toEqual([]);
    expect(splitter.leftover.byteLength).toBe(0);
  });

  it.each([
    ['LF', LF_STREAM],
    ['CRLF', CRLF_STREAM],
  ])('gives the same events when split at every single offset (%s)', (_name, input) => {
    const problems: string[] = [];
    for (let offset = 0; offset <= input.byteLength; offset++) {
      const { events, splitter } = feed(cutAt(input, [offset]));
      const problem = wholeStreamProblem(events, splitter, input);
      if (problem) problems.push(`offset ${offset}: ${problem}`);
    }
    expect(problems).toEqual([]);
  });

  it.each([
    ['LF', LF_STREAM, 1],
    ['CRLF', CRLF_STREAM, 2],
  ])('gives the same events when split at seeded random multi-offsets (%s)', (_name, input, seed) => {
    const random = seededRandom(seed);
    const problems: string[] = [];
    for (let round = 0; round < 200; round++) {
      const cuts = Array.from({ length: 1 + Math.floor(random() * 40) }, () => Math.floor(random() * (input.byteLength + 1)));
      const { events, splitter } = feed(cutAt(input, cuts));
      const problem = wholeStreamProblem(events, splitter, input);
      if (problem) problems.push(`cuts ${JSON.stringify(cuts)}: ${problem}`);
    }
    expect(problems).toEqual([]);
  });

  it('gives the same events when split into chunks of every size from 1 to 64 bytes', () => {
    const problems: string[] = [];
    for (let size = 1; size <= 64; size++) {
      const chunks: Uint8Array[] = [];
      for (let i = 0; i < LF_STREAM.byteLength; i += size) chunks.push(LF_STREAM.slice(i, i + size));
      const { events, splitter } = feed(chunks);
      const problem = wholeStreamProblem(events, splitter, LF_STREAM);
      if (problem) problems.push(`size ${size}: ${problem}`);
    }
    expect(problems).toEqual([]);
  });
});

describe('SseSplitter line endings', () => {
  it('accepts CRLF, keeping every CR and LF in raw', () => {
    const { events, splitter } = feed([CRLF_STREAM]);
    expectWholeStream(events, splitter, CRLF_STREAM);
    expect(text(events[7]!.raw)).toBe('data: [DONE]\r\n\r\n');
  });

  it('accepts lone CR line endings', () => {
    const input = bytes('data: one\r\rdata: two\rdata: three\r\r');
    const splitter = new SseSplitter();
    // The final CR could still be the first half of a CRLF, so the second event waits for one more byte.
    const events = splitter.push(input);
    expect(events.map((e) => e.data)).toEqual(['one']);
    expect(text(events[0]!.raw)).toBe('data: one\r\r');
    expect(text(splitter.leftover)).toBe('data: two\rdata: three\r\r');
    const more = splitter.push(bytes('data: four\r\r'));
    expect(more.map((e) => e.data)).toEqual(['two\nthree']);
    expect(text(more[0]!.raw)).toBe('data: two\rdata: three\r\r');
    expect(text(splitter.leftover)).toBe('data: four\r\r');
  });

  it('accepts a mix of LF, CR and CRLF within one stream', () => {
    const input = 'data: a\r\ndata: b\rdata: c\n\r\ndata: d\n\rdata: e\r\n\n';
    const { events, splitter } = feed([bytes(input)]);
    expect(events.map((e) => e.data)).toEqual(['a\nb\nc', 'd', 'e']);
    expect(events.map((e) => text(e.raw))).toEqual(['data: a\r\ndata: b\rdata: c\n\r\n', 'data: d\n\r', 'data: e\r\n\n']);
    expect(splitter.leftover.byteLength).toBe(0);
  });

  it('waits when a CRLF is split between its CR and LF (blank-line CRLF)', () => {
    const splitter = new SseSplitter();
    expect(splitter.push(bytes('data: x\r\n\r'))).toEqual([]);
    const events = splitter.push(bytes('\ndata: y\r\n\r\n'));
    expect(events.map((e) => e.data)).toEqual(['x', 'y']);
    // The LF belongs to the first event, not the start of the second.
    expect(events.map((e) => text(e.raw))).toEqual(['data: x\r\n\r\n', 'data: y\r\n\r\n']);
    expect(splitter.leftover.byteLength).toBe(0);
  });

  it('waits when a CRLF is split between its CR and LF (field-ending CRLF)', () => {
    const splitter = new SseSplitter();
    expect(splitter.push(bytes('data: x\r'))).toEqual([]);
    expect(splitter.push(bytes('\n'))).toEqual([]);
    expect(text(splitter.leftover)).toBe('data: x\r\n');
    const events = splitter.push(bytes('\r\n'));
    expect(events.map((e) => text(e.raw))).toEqual(['data: x\r\n\r\n']);
    expect(events[0]!.data).toBe('x');
  });

  it('treats CR CR as the end of an event once the byte after shows it is not CRLF', () => {
    const splitter = new SseSplitter();
    expect(splitter.push(bytes('data: x\r\r'))).toEqual([]);
    const events = splitter.push(bytes('d'));
    expect(events.map((e) => text(e.raw))).toEqual(['data: x\r\r']);
    expect(text(splitter.leftover)).toBe('d');
  });

  it('splits every byte offset of a CR-only and a mixed stream the same way', () => {
    for (const input of ['data: a\rdata: b\r\rdata: c\r\r:\r\r', 'data: a\r\n\r\ndata: b\n\ndata: c\r\rdata: d\r\n\n']) {
      const whole = feed([bytes(input)]);
      for (let offset = 0; offset <= bytes(input).byteLength; offset++) {
        const split = feed(cutAt(bytes(input), [offset]));
        expect(split.events.map((e) => e.data)).toEqual(whole.events.map((e) => e.data));
        expect(split.events.map((e) => text(e.raw))).toEqual(whole.events.map((e) => text(e.raw)));
        expect(text(split.splitter.leftover)).toBe(text(whole.splitter.leftover));
      }
    }
  });
});

describe('SseSplitter fields', () => {
  it('skips comment lines in data but keeps them in raw', () => {
    const input = ': ping\ndata: {"a":1}\n: another comment\n\n';
    const { events } = feed([bytes(input)]);
    expect(events).toHaveLength(1);
    expect(events[0]!.data).toBe('{"a":1}');
    expect(text(events[0]!.raw)).toBe(input);
  });

  it('gives a comment-only block (a keep-alive) back as an event with empty data, so a relay passes it on', () => {
    const splitter = new SseSplitter();
    const events = splitter.push(bytes(': ping\n\n'));
    expect(events.map((e) => [text(e.raw), e.data, e.event])).toEqual([[': ping\n\n', '', undefined]]);
    expect(splitter.leftover.byteLength).toBe(0);
    const more = splitter.push(bytes(': keep-alive\r\n\r\ndata: x\n\n'));
    expect(more.map((e) => [e.data, text(e.raw)])).toEqual([
      ['', ': keep-alive\r\n\r\n'],
      ['x', 'data: x\n\n'],
    ]);
  });

  it('reads the event field', () => {
    const input = 'event: error\ndata: {"error":{"message":"boom"}}\n\n';
    const { events } = feed([bytes(input)]);
    expect(events).toEqual([{ raw: bytes(input), event: 'error', data: '{"error":{"message":"boom"}}' }]);
  });

  it('gives an event that has an event field and no data, with empty data', () => {
    const { events } = feed([bytes('event: ping\n\n')]);
    expect(events.map((e) => [e.event, e.data])).toEqual([['ping', '']]);
  });

  it('joins multi-line data with \\n, without a trailing newline', () => {
    const { events } = feed([bytes('data: first\ndata: second\ndata:\ndata: fourth\n\n')]);
    expect(events[0]!.data).toBe('first\nsecond\n\nfourth');
  });

  it('removes exactly one space after the colon', () => {
    const { events } = feed([bytes('data:nospace\n\ndata:  two spaces\n\ndata\n\ndata: \n\n')]);
    expect(events.map((e) => e.data)).toEqual(['nospace', ' two spaces', '', '']);
  });

  it('keeps colons after the first one in the value', () => {
    const { events } = feed([bytes('data: {"url":"https://x:1/a"}\n\n')]);
    expect(events[0]!.data).toBe('{"url":"https://x:1/a"}');
  });

  it('ignores id, retry and unknown fields in data but keeps them in raw', () => {
    const input = 'id: 7\nretry: 1000\nfoo: bar\ndata: x\n\n';
    const { events } = feed([bytes(input)]);
    expect(events.map((e) => [e.event, e.data, text(e.raw)])).toEqual([[undefined, 'x', input]]);
  });

  it('does not treat a field that merely starts with "data" as data', () => {
    const { events } = feed([bytes('dataX: nope\ndata: yes\n\n')]);
    expect(events[0]!.data).toBe('yes');
  });
});

describe('SseSplitter with multi-byte UTF-8', () => {
  const input = bytes('data: 😀 漢字 ✓\n\ndata: 🇫🇷\n\n');

  it('decodes characters cut at every byte offset', () => {
    const seen = new Set<string>();
    for (let offset = 0; offset <= input.byteLength; offset++) {
      const { events, splitter } = feed(cutAt(input, [offset]));
      const rawIntact = Buffer.from(concat(events.map((e) => e.raw))).equals(Buffer.from(input));
      seen.add(JSON.stringify([events.map((e) => e.data), rawIntact, splitter.leftover.byteLength]));
    }
    expect([...seen]).toEqual([JSON.stringify([['😀 漢字 ✓', '🇫🇷'], true, 0])]);
  });

  it('decodes characters fed one byte at a time', () => {
    const { events } = feed(Array.from(input, (b) => Uint8Array.of(b)));
    expect(events.map((e) => e.data)).toEqual(['😀 漢字 ✓', '🇫🇷']);
  });

  it('does not treat bytes inside a multi-byte character as line breaks', () => {
    // U+0A0A and U+0D0D encode with continuation bytes, never raw 0x0a/0x0d, but check the text survives.
    const { events } = feed([bytes('data: \u0a0a\u0d0d\u2028\n\n')]);
    expect(events.map((e) => e.data)).toEqual(['\u0a0a\u0d0d\u2028']);
  });
});

describe('SseSplitter bounds', () => {
  it('refuses an event that grows past the limit without ending', () => {
    const splitter = new SseSplitter();
    const chunk = bytes(`data: ${'x'.repeat(1024 * 1024)}`);
    expect(() => {
      for (let i = 0; i < 17; i++) splitter.push(chunk);
    }).toThrow(/without ending/);
  });

  it('scans each byte once and copies it at most twice however small the chunks of a large event', () => {
    const splitter = new SseSplitter();
    const event = `data: ${'y'.repeat(200_000)}\n\n`;
    let events: ReturnType<SseSplitter['push']> = [];
    for (let i = 0; i < event.length; i += 64) events = events.concat(splitter.push(bytes(event.slice(i, i + 64))));
    expect(events).toHaveLength(1);
    expect(events[0]!.data.length).toBe(200_006 - 6);
    // Re-joining the pending bytes on every push would copy ~n²/128 bytes (over 300 MB here).
    expect(splitter.work.bytesScanned).toBe(event.length);
    expect(splitter.work.bytesCopied).toBeLessThanOrEqual(2 * event.length);
  });

  it('refuses an event that never ends after copying each byte once (no quadratic re-joins up to the limit)', () => {
    const splitter = new SseSplitter();
    const chunk = bytes('x'.repeat(64 * 1024));
    let pushed = 0;
    expect(() => {
      for (;;) {
        splitter.push(chunk);
        pushed += chunk.byteLength;
      }
    }).toThrow(/without ending/);
    pushed += chunk.byteLength;
    expect(pushed).toBeGreaterThan(MAX_SSE_EVENT_BYTES);
    expect(splitter.work.bytesScanned).toBe(pushed);
    expect(splitter.work.bytesCopied).toBeLessThanOrEqual(pushed);
  });

  it('copies each byte at most twice over a realistic stream cut into small chunks', () => {
    const input = concat(Array.from({ length: 50 }, () => LF_STREAM));
    const chunks = cutAt(
      input,
      Array.from({ length: input.byteLength / 7 }, (_, i) => i * 7),
    );
    const { events, splitter } = feed(chunks);
    expect(events).toHaveLength(50 * expectedData.length);
    expect(splitter.work.bytesScanned).toBe(input.byteLength);
    expect(splitter.work.bytesCopied).toBeLessThanOrEqual(2 * input.byteLength);
  });
});

describe('SseSplitter leftover', () => {
  it('is empty before anything is pushed', () => {
    expect(new SseSplitter().leftover.byteLength).toBe(0);
  });

  it('holds the bytes of a stream that ends mid-event', () => {
    const splitter = new SseSplitter();
    const events = splitter.push(bytes('data: {"a":1}\n\ndata: {"b":'));
    expect(events.map((e) => e.data)).toEqual(['{"a":1}']);
    expect(text(splitter.leftover)).toBe('data: {"b":');
  });

  it('holds an event that has its field line ended but no blank line yet', () => {
    const splitter = new SseSplitter();
    expect(splitter.push(bytes('data: [DONE]\n'))).toEqual([]);
    expect(text(splitter.leftover)).toBe('data: [DONE]\n');
  });

  it('accumulates leftover across pushes', () => {
    const splitter = new SseSplitter();
    splitter.push(bytes('data: 1'));
    splitter.push(bytes('23'));
    expect(text(splitter.leftover)).toBe('data: 123');
  });

  it('is a copy that later pushes and chunk reuse do not alter', () => {
    const splitter = new SseSplitter();
    const chunk = bytes('data: x\n\ndata: y');
    splitter.push(chunk);
    chunk.fill(0x21);
    expect(text(splitter.leftover)).toBe('data: y');
  });
});

describe('sseData and SSE_DONE', () => {
  it('frames SSE_DONE exactly', () => {
    expect(text(SSE_DONE)).toBe('data: [DONE]\n\n');
  });

  it('frames a JSON value as one data event', () => {
    expect(text(sseData({ a: 1, b: [true, null] }))).toBe('data: {"a":1,"b":[true,null]}\n\n');
  });

  const hostile = [
    'line one\nline two',
    'carriage\rreturn',
    'crlf\r\n\r\ndata: [DONE]\r\n\r\n',
    '\n\n',
    'data: injected\n\nevent: error\n',
    'emoji 😀 and 漢字',
    'separators \u2028 \u2029',
    'nul \u0000 byte',
  ];

  it.each(hostile)('has no raw line break inside and parses back (%j)', (value) => {
    const payload = { choices: [{ delta: { content: value } }], [value]: value };
    const framed = sseData(payload);
    const framedText = text(framed);
    expect(framedText.startsWith('data: ')).toBe(true);
    expect(framedText.endsWith('\n\n')).toBe(true);
    const inner = framedText.slice('data: '.length, -2);
    expect(inner).not.toMatch(/[\r\n]/);
    expect(JSON.parse(inner)).toEqual(payload);

    const { events, splitter } = feed([framed, SSE_DONE]);
    expect(events).toHaveLength(2);
    expect(JSON.parse(events[0]!.data)).toEqual(payload);
    expect(events[1]!.data).toBe('[DONE]');
    expect(splitter.leftover.byteLength).toBe(0);
  });

  it('frames a bare string carrying CR and LF as one event', () => {
    const framed = sseData('a\r\nb');
    expect(text(framed)).toBe('data: "a\\r\\nb"\n\n');
    const { events } = feed([framed]);
    expect(JSON.parse(events[0]!.data)).toBe('a\r\nb');
  });
});
