import { describe, expect, it } from 'vitest';
import { chatProtocol, embeddingsProtocol, type ChatBody, type ChatContext } from '../../../shared/upstreams/protocols/index.js';
import { countChatPromptTokens, countTextTokens } from '../../../shared/usage/count-tokens.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const request: ChatBody = { messages: [{ role: 'user', content: 'say something' }] };
const context = (body: ChatBody = request): ChatContext => ({
  target: { endpoint: 'https://up.example.com', upstreamModel: 'llama-blue' },
  request: body,
  now: () => 1_700_000_000_999,
  newId: () => 'a1b2-c3d4',
});

describe('openai answers (azure-openai reads the same)', () => {
  const openai = chatProtocol('openai');

  it('passes a completion on as it came, with the usage it reports', () => {
    const json = JSON.stringify({
      choices: [{ message: { content: 'hi' } }],
      usage: { prompt_tokens: 7, completion_tokens: 2, total_tokens: 9 },
    });
    expect(openai.readAnswer(json, context())).toEqual({
      json,
      usage: { inputTokens: 7, outputTokens: 2, cachedInputTokens: 0, reasoningTokens: 0, estimated: false },
    });
    expect(chatProtocol('azure-openai').readAnswer).toBe(openai.readAnswer);
  });

  it('counts what a completion without usage carried, marked estimated', () => {
    const json = JSON.stringify({ choices: [{ message: { content: 'hello there' } }, { message: { content: ' again' } }] });
    expect(openai.readAnswer(json, context()).usage).toEqual({
      inputTokens: countChatPromptTokens(request.messages),
      outputTokens: countTextTokens('hello there again'),
      cachedInputTokens: 0,
      reasoningTokens: 0,
      estimated: true,
    });
  });

  it('refuses a body that is not a JSON object', () => {
    expect(() => openai.readAnswer('42', context())).toThrow(/non-object/);
    expect(() => openai.readAnswer('<html>', context())).toThrow();
  });

  it('meters the cached input and reasoning tokens a completion and a stream report', () => {
    const usage = {
      prompt_tokens: 50,
      completion_tokens: 20,
      total_tokens: 70,
      prompt_tokens_details: { cached_tokens: 32 },
      completion_tokens_details: { reasoning_tokens: 12 },
    };
    const json = JSON.stringify({ choices: [{ message: { content: 'hi' } }], usage });
    const metered = { inputTokens: 50, outputTokens: 20, cachedInputTokens: 32, reasoningTokens: 12, estimated: false };
    expect(openai.readAnswer(json, context()).usage).toEqual(metered);
    const reader = openai.streaming!.reader(context({ ...request, stream: true }));
    reader.push(encoder.encode(`data: {"choices":[],"usage":${JSON.stringify(usage)}}\n\ndata: [DONE]\n\n`));
    expect(reader.usage()).toEqual(metered);
  });

  it('reads a stream: events passed on whole, the usage chunk hidden unless asked, complete at [DONE]', () => {
    const events = [
      'data: {"choices":[{"index":0,"delta":{"content":"Hel"}}]}\n\n',
      'data: {"choices":[{"index":0,"delta":{"content":"lo"}}]}\n\n',
      'data: {"choices":[],"usage":{"prompt_tokens":4,"completion_tokens":2,"total_tokens":6}}\n\n',
      'data: [DONE]\n\n',
    ].join('');
    for (const callerWantsUsage of [false, true]) {
      const reader = openai.streaming!.reader(context({ ...request, stream: true, stream_options: { include_usage: callerWantsUsage } }));
      const bytes = encoder.encode(events);
      const passed = [...reader.push(bytes.subarray(0, 30)), ...reader.push(bytes.subarray(30))]
        .map((chunk) => decoder.decode(chunk))
        .join('');
      expect(passed.includes('"usage"')).toBe(callerWantsUsage);
      expect(passed.endsWith('data: [DONE]\n\n')).toBe(true);
      expect(reader.complete).toBe(true);
      expect(reader.usage()).toEqual({ inputTokens: 4, outputTokens: 2, cachedInputTokens: 0, reasoningTokens: 0, estimated: false });
    }
  });

  it('estimates a stream that reports no usage, and is not complete before [DONE]', () => {
    const reader = openai.streaming!.reader(context());
    reader.push(encoder.encode('data: {"choices":[{"index":0,"delta":{"content":"one two three"}}]}\n\n'));
    expect(reader.complete).toBe(false);
    expect(reader.usage()).toEqual({
      inputTokens: countChatPromptTokens(request.messages),
      outputTokens: countTextTokens('one two three'),
      cachedInputTokens: 0,
      reasoningTokens: 0,
      estimated: true,
    });
  });

  it('reads embeddings: input tokens as reported, else counted', () => {
    const embeddings = embeddingsProtocol('openai');
    expect(embeddings.readAnswer('{"data":[],"usage":{"prompt_tokens":5,"total_tokens":5}}', { input: 'x' }).usage).toEqual({
      inputTokens: 5,
      outputTokens: 0,
      cachedInputTokens: 0,
      reasoningTokens: 0,
      estimated: false,
    });
    expect(embeddings.readAnswer('{"data":[]}', { input: ['a b', 'c'] }).usage).toEqual({
      inputTokens: countTextTokens('a b') + countTextTokens('c'),
      outputTokens: 0,
      cachedInputTokens: 0,
      reasoningTokens: 0,
      estimated: true,
    });
    expect(embeddings.readAnswer('{"data":[]}', { input: [[1, 2, 3], [4]] }).usage.inputTokens).toBe(4);
  });
});

describe('aml-score answers', () => {
  const aml = chatProtocol('aml-score');

  it('builds a chat completion from { output }, its id and created from the ids and clock it is given, tokens counted', () => {
    const answered = aml.readAnswer('{"output":"Fine, thanks."}', context());
    const outputTokens = countTextTokens('Fine, thanks.');
    const inputTokens = countChatPromptTokens(request.messages);
    expect(JSON.parse(answered.json)).toEqual({
      id: 'chatcmpl-a1b2c3d4',
      object: 'chat.completion',
      created: 1_700_000_000,
      model: 'llama-blue',
      choices: [
        { index: 0, message: { role: 'assistant', content: 'Fine, thanks.', refusal: null }, finish_reason: 'stop', logprobs: null },
      ],
      usage: { prompt_tokens: inputTokens, completion_tokens: outputTokens, total_tokens: inputTokens + outputTokens },
    });
    expect(answered.usage).toEqual({ inputTokens, outputTokens, cachedInputTokens: 0, reasoningTokens: 0, estimated: true });
  });

  it('finishes with length when the output reached max_tokens', () => {
    const answered = aml.readAnswer('{"output":"one two three four"}', context({ ...request, max_tokens: 2 }));
    expect(JSON.parse(answered.json).choices[0].finish_reason).toBe('length');
  });

  it('refuses an answer without an output string', () => {
    expect(() => aml.readAnswer('{"result":"x"}', context())).toThrow(/output string/);
    expect(() => aml.readAnswer('{"output":3}', context())).toThrow(/output string/);
  });

  it('has no stream of its own and serves no embeddings', () => {
    expect(aml.streaming).toBeUndefined();
    expect(() => embeddingsProtocol('aml-score')).toThrow();
  });
});
