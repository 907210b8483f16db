import { describe, expect, it } from 'vitest';
import { sseData, SSE_DONE, SseSplitter } from '../../shared/http/sse.js';
import {
  chatAnswerParts,
  filteredChatAnswer,
  type ScreenedChoice,
  filteredResponse,
  promptFilterResults,
  responseAnswerTexts,
} from '../../shared/safety/answer-filter.js';
import { ChatStreamSafety } from '../../shared/safety/chat-stream-safety.js';
import { contentFilterResult } from '../../shared/safety/content-filter-result.js';
import { chatPromptTexts, embeddingsInputTexts, responsesPromptTexts, withTexts } from '../../shared/safety/prompt-texts.js';
import { BlocklistMatchers, RequestSafety } from '../../shared/safety/request-safety.js';
import { safetyProfileSchema } from '../../shared/safety/safety-profile.js';
import type { SafetyVerdict } from '../../shared/safety/screen.js';

const lists = new Map([['acme', { name: 'acme', items: ['Project Falcon'] }]]);
const safety = (fields: Record<string, unknown> = {}) =>
  new RequestSafety({
    profile: safetyProfileSchema.parse({ blocklists: ['acme'], pii: 'mask', windowChars: 64, ...fields }),
    blocklists: lists,
    matchers: new BlocklistMatchers(),
    remote: undefined,
    now: () => 0,
  });

describe('the texts of a request', () => {
  it('takes every chat message text by whose words it is, and puts masked texts back in place', async () => {
    const body = {
      model: 'chat',
      messages: [
        { role: 'system', content: 'be brief' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'mail a@b.io' },
            { type: 'image_url', image_url: { url: 'x' } },
          ],
        },
        { role: 'tool', tool_call_id: 't', content: 'result for a@b.io' },
      ],
    };
    const texts = chatPromptTexts(body);
    expect(texts.segments).toEqual([
      { role: 'system', text: 'be brief' },
      { role: 'user', text: 'mail a@b.io' },
      { role: 'document', text: 'result for a@b.io' },
    ]);
    const result = await safety().screenPrompt(texts);
    expect(result.verdict.action).toBe('mask');
    const masked = withTexts(body, texts.paths, result.segments);
    expect(masked.messages[1]!.content).toEqual([
      { type: 'text', text: 'mail [EMAIL_1]' },
      { type: 'image_url', image_url: { url: 'x' } },
    ]);
    expect(masked.messages[2]!.content).toBe('result for [EMAIL_1]');
    expect(body.messages[2]!.content).toBe('result for a@b.io');
  });

  it('takes a Responses request’s instructions, messages and tool outputs, and an embeddings input', () => {
    const texts = responsesPromptTexts({
      instructions: 'sys',
      input: [
        { role: 'user', content: [{ type: 'input_text', text: 'hi' }] },
        { type: 'function_call_output', call_id: 'c', output: 'tool says' },
        { type: 'function_call', name: 'f', arguments: '{}' },
      ],
    });
    expect(texts.segments).toEqual([
      { role: 'system', text: 'sys' },
      { role: 'user', text: 'hi' },
      { role: 'document', text: 'tool says' },
    ]);
    expect(responsesPromptTexts({ input: 'plain' }).paths).toEqual([['input']]);
    expect(embeddingsInputTexts({ input: ['a', 'b'] }).segments.map((s) => s.text)).toEqual(['a', 'b']);
    expect(embeddingsInputTexts({ input: [1, 2, 3] }).segments).toEqual([]);
  });
});

describe('a non-streamed answer', () => {
  it('withholds a blocked choice with finish_reason content_filter, masks another, and says why per choice', async () => {
    const answer = {
      id: 'c1',
      choices: [
        { index: 0, message: { role: 'assistant', content: 'about Project Falcon' }, finish_reason: 'stop' },
        { index: 1, message: { role: 'assistant', content: 'write to a@b.io' }, finish_reason: 'stop' },
        { index: 2, message: { role: 'assistant', content: 'fine' }, finish_reason: 'stop' },
      ],
    };
    const request = safety();
    const screened = new Map<number, ScreenedChoice>();
    for (const { index, parts } of chatAnswerParts(answer)) {
      const result = await request.screenAnswer(parts.map((p) => p.text));
      screened.set(index, { verdict: result.verdict, parts: parts.map((p, i) => ({ ...p, text: result.segments[i]! })) });
    }
    const filtered = filteredChatAnswer(answer, screened) as { choices: Array<Record<string, unknown>> };
    expect(filtered.choices[0]).toEqual({
      index: 0,
      message: { role: 'assistant', content: null, tool_calls: undefined },
      finish_reason: 'content_filter',
      content_filter_results: { custom_blocklists: { filtered: true, details: [{ filtered: true, id: 'acme' }] } },
    });
    expect(filtered.choices[1]!.message).toEqual({ role: 'assistant', content: 'write to [EMAIL_1]' });
    expect(filtered.choices[2]).toMatchObject({ finish_reason: 'stop', content_filter_results: {} });
    expect(JSON.stringify(filtered)).not.toMatch(/Falcon|a@b\.io/);
    expect(promptFilterResults(screened.get(2)!.verdict)).toEqual([{ prompt_index: 0, content_filter_results: {} }]);
  });
});

describe('a streamed chat answer', () => {
  const base = { id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'm' };
  const contentEvents = (index: number, text: string, size: number) =>
    Array.from({ length: Math.ceil(text.length / size) }, (_, i) =>
      sseData({ ...base, choices: [{ index, delta: { content: text.slice(i * size, (i + 1) * size) }, finish_reason: null }] }),
    );

  async function relay(events: Uint8Array[], request = safety()) {
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
    const content = (index: number) =>
      chunks
        .flatMap((c) =>
          c.choices
            .filter((ch: { index: number }) => ch.index === index)
            .map((ch: { delta: { content?: string } }) => ch.delta.content ?? ''),
        )
        .join('');
    return { bytes: Buffer.concat(out), datas, chunks, content, stream };
  }

  const text = `${'the plan is fine and the weather is mild today. '.repeat(4)}Project Falcon launches at dawn. ${'more words follow here. '.repeat(4)}`;

  it('passes a clean answer whole, with its finish, usage and [DONE] in order', async () => {
    const clean = text.replace('Project Falcon', 'the rocket');
    const events = [
      sseData({ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] }),
      ...contentEvents(0, clean, 7),
      sseData({ ...base, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] }),
      sseData({ ...base, choices: [], usage: { prompt_tokens: 3, completion_tokens: 9, total_tokens: 12 } }),
      SSE_DONE,
    ];
    const { content, chunks, datas } = await relay(events);
    expect(content(0)).toBe(clean);
    expect(chunks[0].choices[0].delta.role).toBe('assistant');
    expect(chunks.at(-2).choices[0].finish_reason).toBe('stop');
    expect(chunks.at(-1)).toMatchObject({ choices: [], usage: { total_tokens: 12 } });
    expect(datas.at(-1)).toBe('[DONE]');
    expect(chunks.every((c) => c.id === 'chatcmpl-1' && c.model === 'm')).toBe(true);
  });

  it('never sends a flagged term, whatever the chunking, and ends with a content_filter finish and [DONE]', async () => {
    for (const size of [1, 3, 5, 13, 64, 500]) {
      const events = [
        ...contentEvents(0, text, size),
        sseData({ ...base, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] }),
        SSE_DONE,
      ];
      const { bytes, chunks, datas, stream } = await relay(events);
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

  it('cuts only the flagged choice of several', async () => {
    const clean = text.replace('Project Falcon', 'the rocket');
    const a = contentEvents(0, clean, 9);
    const b = contentEvents(1, text, 9);
    const interleaved = Array.from({ length: Math.max(a.length, b.length) }, (_, i) => [a[i], b[i]])
      .flat()
      .filter((e) => e !== undefined);
    const events = [
      ...interleaved,
      sseData({
        ...base,
        choices: [
          { index: 0, delta: {}, finish_reason: 'stop' },
          { index: 1, delta: {}, finish_reason: 'stop' },
        ],
      }),
      SSE_DONE,
    ];
    const { content, bytes, stream } = await relay(events);
    expect(content(0)).toBe(clean);
    expect(bytes.includes(Buffer.from('Falcon'))).toBe(false);
    expect(stream.allBlocked).toBe(false);
  });
});

describe('a non-streamed Responses answer', () => {
  const response = (text: string) => ({
    id: 'resp_1',
    object: 'response',
    status: 'completed',
    incomplete_details: null,
    output: [
      { type: 'function_call', id: 'fc_1', name: 'f', arguments: '{}' },
      { type: 'message', id: 'msg_1', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text, annotations: [] }] },
    ],
    output_text: text,
  });

  async function filter(text: string) {
    const answer = response(text);
    const request = safety();
    const screened = await Promise.all(
      responseAnswerTexts(answer).map(async (part) => {
        const result = await request.screenAnswer([part.text]);
        return { ...part, verdict: result.verdict, text: result.segments[0]! };
      }),
    );
    return filteredResponse(answer, screened) as ReturnType<typeof response> & { incomplete_details: unknown };
  }

  it('is incomplete for content_filter with its text withheld when a part is blocked', async () => {
    const filtered = await filter('the Project Falcon plan');
    expect(filtered).toMatchObject({ status: 'incomplete', incomplete_details: { reason: 'content_filter' }, output_text: '' });
    expect(filtered.output[1]).toMatchObject({ status: 'incomplete', content: [] });
    expect(filtered.output[0]).toMatchObject({ type: 'function_call' });
    expect(JSON.stringify(filtered)).not.toContain('Falcon');
  });

  it('carries masked text, and is left as it was when clean', async () => {
    const masked = await filter('write to a@b.io');
    expect(masked).toMatchObject({ status: 'completed', output_text: 'write to [EMAIL_1]' });
    expect(masked.output[1]!.content).toEqual([{ type: 'output_text', text: 'write to [EMAIL_1]', annotations: [] }]);
    expect(await filter('all fine')).toEqual(response('all fine'));
  });
});
