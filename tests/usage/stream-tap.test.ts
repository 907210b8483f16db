import { describe, expect, it } from 'vitest';
import { countTextTokens } from '../../shared/usage/count-tokens.js';
import { COUNT_BATCH_CHARS, StreamTap } from '../../shared/usage/stream-tap.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const bytes = (text: string) => encoder.encode(text);

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

const event = (value: unknown) => `data: ${typeof value === 'string' ? value : JSON.stringify(value)}\n\n`;
const base = { id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1767225600, model: 'gpt-4o-mini' };
const delta = (content: string | undefined, extra: Record<string, unknown> = {}) =>
  event({ ...base, choices: [{ index: 0, delta: content === undefined ? {} : { content }, finish_reason: null }], usage: null, ...extra });

const AZURE_PROMPT_FILTER = event({
  choices: [],
  created: 0,
  id: '',
  model: '',
  object: '',
  prompt_filter_results: [{ prompt_index: 0, content_filter_results: { hate: { filtered: false, severity: 'safe' } } }],
});
const ROLE = event({ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }], usage: null });
const HELLO = delta('Hello, ');
const WORLD = delta('世界 👋');
const ASYNC_FILTER = event({
  ...base,
  choices: [
    {
      index: 0,
      finish_reason: null,
      content_filter_offsets: { check_offset: 0, start_offset: 0, end_offset: 9 },
      content_filter_results: { hate: { filtered: false, severity: 'safe' } },
    },
  ],
});
const FINISH = event({ ...base, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }], usage: null });
const USAGE_ONLY = event({ ...base, choices: [], usage: { prompt_tokens: 21, completion_tokens: 4, total_tokens: 25 } });
const DONE = 'data: [DONE]\n\n';

const HELLO_WORLD_TOKENS = countTextTokens('Hello, 世界 👋');
const STREAM = [AZURE_PROMPT_FILTER, ROLE, HELLO, ASYNC_FILTER, WORLD, FINISH, USAGE_ONLY, DONE];
const STREAM_BYTES = bytes(STREAM.join(''));
const WITHOUT_USAGE_BYTES = bytes(STREAM.filter((e) => e !== USAGE_ONLY).join(''));

function run(chunks: readonly Uint8Array[], callerWantsUsage: boolean) {
  const tap = new StreamTap({ callerWantsUsage });
  const forwarded: Uint8Array[] = [];
  for (const chunk of chunks) forwarded.push(...tap.push(chunk));
  return { tap, forwarded, out: Buffer.from(concat(forwarded)) };
}

describe('StreamTap', () => {
  it('forwards every event byte-identically when the caller asked for usage', () => {
    const { tap, forwarded, out } = run([STREAM_BYTES], true);
    expect(out.equals(Buffer.from(STREAM_BYTES))).toBe(true);
    expect(forwarded.map((b) => decoder.decode(b))).toEqual(STREAM);
    expect(tap.summary).toEqual({
      usage: { inputTokens: 21, outputTokens: 4, cachedInputTokens: 0, reasoningTokens: 0 },
      sawDone: true,
      events: 8,
    });
    expect(tap.completionTokens()).toBe(HELLO_WORLD_TOKENS);
  });

  it('removes the usage-only chunk when the caller did not ask for usage, and still reads usage', () => {
    const { tap, forwarded, out } = run([STREAM_BYTES], false);
    expect(out.equals(Buffer.from(WITHOUT_USAGE_BYTES))).toBe(true);
    expect(forwarded.map((b) => decoder.decode(b))).toEqual([AZURE_PROMPT_FILTER, ROLE, HELLO, ASYNC_FILTER, WORLD, FINISH, DONE]);
    expect(tap.summary).toEqual({
      usage: { inputTokens: 21, outputTokens: 4, cachedInputTokens: 0, reasoningTokens: 0 },
      sawDone: true,
      events: 8,
    });
    expect(tap.completionTokens()).toBe(HELLO_WORLD_TOKENS);
  });

  it.each([true, false])('gives the same bytes and summary split at every byte offset (callerWantsUsage=%s)', (wants) => {
    const expected = wants ? STREAM_BYTES : WITHOUT_USAGE_BYTES;
    const problems: number[] = [];
    for (let offset = 0; offset <= STREAM_BYTES.byteLength; offset++) {
      const { tap, out } = run([STREAM_BYTES.slice(0, offset), STREAM_BYTES.slice(offset)], wants);
      const s = tap.summary;
      const ok =
        out.equals(Buffer.from(expected)) &&
        tap.completionTokens() === HELLO_WORLD_TOKENS &&
        s.sawDone &&
        s.events === 8 &&
        s.usage?.inputTokens === 21 &&
        s.usage?.outputTokens === 4;
      if (!ok) problems.push(offset);
    }
    expect(problems).toEqual([]);
  });

  it('gives the same bytes fed one byte at a time', () => {
    const { tap, out } = run(
      Array.from(STREAM_BYTES, (b) => Uint8Array.of(b)),
      false,
    );
    expect(out.equals(Buffer.from(WITHOUT_USAGE_BYTES))).toBe(true);
    expect(tap.completionTokens()).toBe(HELLO_WORLD_TOKENS);
  });

  it('forwards only whole events: a partial event waits for its end', () => {
    const tap = new StreamTap({ callerWantsUsage: false });
    const hello = bytes(HELLO);
    expect(tap.push(hello.slice(0, 10))).toEqual([]);
    expect(tap.summary.events).toBe(0);
    const out = tap.push(hello.slice(10));
    expect(out.map((b) => decoder.decode(b))).toEqual([HELLO]);
    expect(tap.completionTokens()).toBe(countTextTokens('Hello, '));
  });

  it('passes an Azure-style first chunk with choices: [] and no usage through, even when usage was not asked for', () => {
    const { tap, out } = run([bytes(AZURE_PROMPT_FILTER)], false);
    expect(out.toString('utf8')).toBe(AZURE_PROMPT_FILTER);
    expect(tap.summary.usage).toBeUndefined();
  });

  it('does not count usage: null as usage', () => {
    const { tap, out } = run([bytes(ROLE + HELLO + FINISH)], false);
    expect(out.toString('utf8')).toBe(ROLE + HELLO + FINISH);
    expect(tap.summary.usage).toBeUndefined();
    expect(tap.completionTokens()).toBe(countTextTokens('Hello, '));
  });

  it('keeps a chunk that carries both choices and usage, and reads its usage', () => {
    const both = delta('!', { usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 } });
    const { tap, out } = run([bytes(both + DONE)], false);
    expect(out.toString('utf8')).toBe(both + DONE);
    expect(tap.summary.usage).toEqual({ inputTokens: 3, outputTokens: 1, cachedInputTokens: 0, reasoningTokens: 0 });
    expect(tap.completionTokens()).toBe(1);
  });

  it('keeps the last usage seen', () => {
    const first = event({ ...base, choices: [], usage: { prompt_tokens: 1, completion_tokens: 1 } });
    const second = event({ ...base, choices: [], usage: { prompt_tokens: 9, completion_tokens: 8 } });
    const { tap, out } = run([bytes(first + second)], false);
    expect(out.byteLength).toBe(0);
    expect(tap.summary.usage).toEqual({ inputTokens: 9, outputTokens: 8, cachedInputTokens: 0, reasoningTokens: 0 });
  });

  it('accumulates content of every choice in order', () => {
    const multi = event({
      ...base,
      choices: [
        { index: 0, delta: { content: 'a' } },
        { index: 1, delta: { content: 'b' } },
      ],
    });
    const { tap } = run([bytes(multi + delta('c'))], true);
    expect(tap.completionTokens()).toBe(countTextTokens('abc'));
  });

  it('survives chunks with no delta, null choices, non-string content and missing choices', () => {
    const odd = [
      ASYNC_FILTER,
      event({ ...base, choices: [null] }),
      event({ ...base, choices: [{ index: 0, delta: null }] }),
      event({ ...base, choices: [{ index: 0, delta: { content: null, tool_calls: [{ index: 0, function: { arguments: '{}' } }] } }] }),
      event({ ...base, choices: [{ index: 0, delta: { content: 42 } }] }),
      event({ ...base, choices: 'nope' }),
      event({ ...base }),
      delta('ok'),
    ].join('');
    const { tap, out } = run([bytes(odd)], false);
    expect(out.toString('utf8')).toBe(odd);
    expect(tap.summary).toEqual({ sawDone: false, events: 8 });
    expect(tap.completionTokens()).toBe(countTextTokens('ok'));
  });

  it('passes non-JSON and non-object data through untouched', () => {
    const weird = [
      'data: not json at all\n\n',
      'data: {"truncated":\n\n',
      'data: 42\n\n',
      'data: null\n\n',
      'data: "text"\n\n',
      'data: []\n\n',
    ].join('');
    const { tap, out } = run([bytes(weird)], false);
    expect(out.toString('utf8')).toBe(weird);
    expect(tap.summary).toEqual({ sawDone: false, events: 6 });
    expect(tap.completionTokens()).toBe(0);
  });

  it('passes an error event through', () => {
    const error = 'event: error\ndata: {"error":{"message":"overloaded","type":"server_error"}}\n\n';
    const { tap, out } = run([bytes(HELLO + error)], false);
    expect(out.toString('utf8')).toBe(HELLO + error);
    expect(tap.summary.sawDone).toBe(false);
    expect(tap.summary.events).toBe(2);
  });

  it('sets sawDone only once [DONE] arrives', () => {
    const tap = new StreamTap({ callerWantsUsage: true });
    tap.push(bytes(HELLO + FINISH));
    expect(tap.summary.sawDone).toBe(false);
    tap.push(bytes('data: [DONE]\n'));
    expect(tap.summary.sawDone).toBe(false);
    const out = tap.push(bytes('\n'));
    expect(out.map((b) => decoder.decode(b))).toEqual([DONE]);
    expect(tap.summary.sawDone).toBe(true);
  });

  it('does not take [DONE] inside a JSON string or with extra text for the end', () => {
    const { tap } = run([bytes(`${delta('[DONE]')}data: [DONE] \n\n`)], true);
    expect(tap.summary.sawDone).toBe(false);
    expect(tap.completionTokens()).toBe(countTextTokens('[DONE]'));
  });

  it('keeps the usage-only chunk with CRLF line endings for a caller that asked, and drops it for one that did not', () => {
    const crlf = STREAM.map((e) => e.replace(/\n/g, '\r\n')).join('');
    expect(run([bytes(crlf)], true).out.toString('utf8')).toBe(crlf);
    const without = STREAM.filter((e) => e !== USAGE_ONLY)
      .map((e) => e.replace(/\n/g, '\r\n'))
      .join('');
    const dropped = run([bytes(crlf)], false);
    expect(dropped.out.toString('utf8')).toBe(without);
    expect(dropped.tap.summary.usage).toEqual({ inputTokens: 21, outputTokens: 4, cachedInputTokens: 0, reasoningTokens: 0 });
  });

  it('counts completion tokens as the text arrives, holding at most a batch of it', () => {
    const words = Array.from({ length: 20_000 }, (_, i) => (i % 7 === 0 ? ' the' : i % 3 === 0 ? ' gateway' : ' streams'));
    const tap = new StreamTap({ callerWantsUsage: false });
    let mostHeld = 0;
    for (const word of words) {
      tap.push(bytes(delta(word)));
      mostHeld = Math.max(mostHeld, tap.heldTextChars);
    }
    expect(mostHeld).toBeLessThan(COUNT_BATCH_CHARS + 16);
    // Counting in batches may cut a token at a batch edge: an estimate, within a few tokens of the whole text's count.
    const whole = countTextTokens(words.join(''));
    expect(Math.abs(tap.completionTokens() - whole)).toBeLessThanOrEqual(Math.ceil(words.join('').length / COUNT_BATCH_CHARS));
  });
});
