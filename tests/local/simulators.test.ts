import OpenAI, { AzureOpenAI } from 'openai';
import type { ChatCompletionChunk, ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { startAmlScoreSim, type AmlScoreSim } from '../../local/simulators/aml-score-sim.js';
import { startOpenAICompatibleSim, type OpenAICompatibleSim } from '../../local/simulators/openai-compatible-sim.js';
import { REPLY_WORDS, replyText, replyTokens } from '../../local/simulators/sim-content.js';
import { MAX_EMBEDDING_VALUES, MAX_GENERATED_TOKENS, SLICE_SIZE } from '../../local/simulators/sim-server.js';
import { countChatPromptTokens, countTextTokens } from '../../shared/usage/count-tokens.js';

const KEY = 'sim-key';
const ENTRA_TOKEN = 'entra-token-for-tests';
const MESSAGES: ChatCompletionMessageParam[] = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'Name some colours, please.' },
];

async function waitFor(condition: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function postJson(url: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json };
}

async function collect(stream: AsyncIterable<ChatCompletionChunk>): Promise<ChatCompletionChunk[]> {
  const chunks: ChatCompletionChunk[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

function streamedText(chunks: ChatCompletionChunk[]): string {
  return chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('');
}

describe('sim-content', () => {
  it('draws replies from words that are each one token, with and without a leading space', () => {
    for (const word of REPLY_WORDS) {
      expect(countTextTokens(` ${word}`)).toBe(1);
      expect(countTextTokens(word.charAt(0).toUpperCase() + word.slice(1))).toBe(1);
    }
  });

  it('builds replies that tokenize to exactly the requested count, deterministically', () => {
    for (const prompt of ['', 'hello', 'Name some colours, please.', 'ünïcode ✓']) {
      for (const count of [1, 2, 7, 33, 128]) {
        const tokens = [...replyTokens(prompt, count)];
        expect(tokens).toHaveLength(count);
        expect(countTextTokens(tokens.join(''))).toBe(count);
      }
      expect([...replyTokens(prompt, 9)]).toEqual([...replyTokens(prompt, 9)]);
    }
    expect([...replyTokens('a', 12)]).not.toEqual([...replyTokens('b', 12)]);
  });

  it('builds a long reply a slice per event-loop turn', async () => {
    let turns = 0;
    let counting = true;
    const tick = () => {
      turns += 1;
      if (counting) setImmediate(tick);
    };
    setImmediate(tick);
    const text = await replyText('hello', MAX_GENERATED_TOKENS);
    counting = false;
    expect(text).toBe([...replyTokens('hello', MAX_GENERATED_TOKENS)].join(''));
    expect(turns).toBeGreaterThanOrEqual(MAX_GENERATED_TOKENS / SLICE_SIZE - 1);
  });
});

describe('OpenAI-compatible simulator', () => {
  let sim: OpenAICompatibleSim;
  let client: OpenAI;
  let azure: AzureOpenAI;

  beforeAll(async () => {
    sim = await startOpenAICompatibleSim({ apiKey: KEY, acceptBearerTokens: [ENTRA_TOKEN], modelName: 'sim-gpt' });
    client = new OpenAI({ baseURL: `${sim.url}/v1`, apiKey: KEY, maxRetries: 0 });
    azure = new AzureOpenAI({ endpoint: sim.url, apiKey: KEY, apiVersion: '2024-10-21', deployment: 'gpt-4o-dep', maxRetries: 0 });
  });
  afterAll(async () => {
    await sim.close();
  });
  beforeEach(() => sim.resetStats());

  it('answers chat with exact, reported usage and a token-exact reply', async () => {
    const completion = await client.chat.completions.create({ model: 'phi-4', messages: MESSAGES, max_tokens: 5 });
    expect(completion.id).toMatch(/^chatcmpl-/);
    expect(completion.object).toBe('chat.completion');
    expect(completion.model).toBe('phi-4');
    const [choice] = completion.choices;
    expect(choice?.message.role).toBe('assistant');
    expect(choice?.finish_reason).toBe('length');
    expect(countTextTokens(choice?.message.content ?? '')).toBe(5);
    const promptTokens = countChatPromptTokens(MESSAGES);
    expect(completion.usage).toEqual({ prompt_tokens: promptTokens, completion_tokens: 5, total_tokens: promptTokens + 5 });
    expect(completion).not.toHaveProperty('prompt_filter_results');

    const again = await client.chat.completions.create({ model: 'phi-4', messages: MESSAGES, max_completion_tokens: 5 });
    expect(again.choices[0]?.message.content).toBe(choice?.message.content);

    const stats = sim.stats();
    expect(stats).toMatchObject({ requests: 2, succeeded: 2, promptTokens: 2 * promptTokens, completionTokens: 10, cancelled: 0 });
    expect(stats.lastRequest?.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(stats.lastRequest?.path).toBe('/v1/chat/completions');
  });

  it('uses the default completion length with finish_reason stop, and the configured model name', async () => {
    const { status, json } = await postJson(`${sim.url}/chat/completions`, { messages: MESSAGES }, { 'api-key': KEY });
    expect(status).toBe(200);
    expect(json.model).toBe('sim-gpt');
    expect(json.usage.completion_tokens).toBe(16);
    expect(countTextTokens(json.choices[0].message.content)).toBe(16);
    expect(json.choices[0].finish_reason).toBe('stop');
  });

  it('serves chat and embeddings on every path form', async () => {
    const plain = ['/v1', '', '/openai/v1', '/models'];
    for (const prefix of plain) {
      expect(
        (await postJson(`${sim.url}${prefix}/chat/completions`, { messages: MESSAGES, max_tokens: 1 }, { 'api-key': KEY })).status,
      ).toBe(200);
      expect((await postJson(`${sim.url}${prefix}/embeddings`, { input: 'hi' }, { 'api-key': KEY })).status).toBe(200);
    }
    const dated = `${sim.url}/openai/deployments/emb-dep/embeddings?api-version=2024-10-21`;
    const embedded = await postJson(dated, { input: 'hi' }, { 'api-key': KEY });
    expect(embedded.status).toBe(200);
    expect(embedded.json.model).toBe('emb-dep');
    expect((await postJson(`${sim.url}/v2/chat/completions`, { messages: MESSAGES }, { 'api-key': KEY })).status).toBe(404);
  });

  it('requires api-version on the dated Azure form', async () => {
    const missing = await postJson(`${sim.url}/openai/deployments/d/chat/completions`, { messages: MESSAGES }, { 'api-key': KEY });
    expect(missing.status).toBe(400);
    expect(missing.json.error.code).toBe('BadRequest');
    expect(missing.json.error.message).toMatch(/api-version/);
  });

  it('annotates dated Azure responses with content-filter results (AzureOpenAI client)', async () => {
    const completion = await azure.chat.completions.create({ model: 'ignored', messages: MESSAGES, max_tokens: 3 });
    expect(completion.model).toBe('gpt-4o-dep');
    expect((completion as any).prompt_filter_results[0].content_filter_results.hate).toEqual({ filtered: false, severity: 'safe' });
    expect((completion.choices[0] as any).content_filter_results.violence.severity).toBe('safe');
    const last = sim.stats().lastRequest;
    expect(last?.path).toBe('/openai/deployments/gpt-4o-dep/chat/completions');
    expect(last?.query['api-version']).toBe('2024-10-21');
    expect(last?.headers['api-key']).toBe(KEY);
  });

  it('streams one chunk per token, with a usage chunk only when asked', async () => {
    const plain = await collect(await client.chat.completions.create({ model: 'm', messages: MESSAGES, max_tokens: 4, stream: true }));
    expect(plain).toHaveLength(5);
    expect(plain[0]?.object).toBe('chat.completion.chunk');
    expect(plain[0]?.choices[0]?.delta.role).toBe('assistant');
    expect(plain.slice(0, 4).every((c) => c.choices[0]?.finish_reason === null)).toBe(true);
    expect(plain[4]?.choices[0]?.finish_reason).toBe('length');
    expect(plain.some((c) => c.usage)).toBe(false);
    expect(countTextTokens(streamedText(plain))).toBe(4);

    const withUsage = await collect(
      await client.chat.completions.create({
        model: 'm',
        messages: MESSAGES,
        max_tokens: 4,
        stream: true,
        stream_options: { include_usage: true },
      }),
    );
    expect(withUsage).toHaveLength(6);
    const usageChunk = withUsage[5]!;
    expect(usageChunk.choices).toEqual([]);
    const promptTokens = countChatPromptTokens(MESSAGES);
    expect(usageChunk.usage).toEqual({ prompt_tokens: promptTokens, completion_tokens: 4, total_tokens: promptTokens + 4 });
    expect(streamedText(withUsage)).toBe(streamedText(plain));

    // The stream that did not show its usage still counts what it generated.
    expect(sim.stats()).toMatchObject({ succeeded: 2, promptTokens: 2 * promptTokens, completionTokens: 8 });
  });

  it('streams the Azure pre-flight prompt-filter chunk first on the dated form', async () => {
    const chunks = await collect(
      await azure.chat.completions.create({
        model: 'x',
        messages: MESSAGES,
        max_tokens: 2,
        stream: true,
        stream_options: { include_usage: true },
      }),
    );
    const first = chunks[0] as any;
    expect(first.choices).toEqual([]);
    expect(first.id).toBe('');
    expect(first.prompt_filter_results[0].prompt_index).toBe(0);
    expect(chunks).toHaveLength(1 + 2 + 1 + 1);
    expect(chunks.at(-1)?.usage?.completion_tokens).toBe(2);
    expect(countTextTokens(streamedText(chunks))).toBe(2);
  });

  it('can put usage on the finish chunk (Mistral, §1.7) or never stream it', async () => {
    const local = await startOpenAICompatibleSim({ usageOnFinalChunkWithoutStreamOptions: true, tokensPerSecond: 2000 });
    try {
      const open = new OpenAI({ baseURL: `${local.url}/v1`, apiKey: 'unused', maxRetries: 0 });
      const chunks = await collect(
        await open.chat.completions.create({ model: 'mistral', messages: MESSAGES, max_tokens: 3, stream: true }),
      );
      expect(chunks).toHaveLength(4);
      expect(chunks[3]?.choices[0]?.finish_reason).toBe('length');
      expect(chunks[3]?.usage?.completion_tokens).toBe(3);

      local.setOptions({ usageOnFinalChunkWithoutStreamOptions: false, streamUsage: false });
      const silent = await collect(
        await open.chat.completions.create({
          model: 'm',
          messages: MESSAGES,
          max_tokens: 3,
          stream: true,
          stream_options: { include_usage: true },
        }),
      );
      expect(silent).toHaveLength(4);
      expect(silent.some((c) => c.usage)).toBe(false);
      expect(local.stats()).toMatchObject({ succeeded: 2, completionTokens: 6 });
    } finally {
      await local.close();
    }
  });

  it('returns deterministic unit embeddings as floats or base64, with exact usage', async () => {
    const inputs = ['first text', 'second, longer text'];
    const floats = await postJson(
      `${sim.url}/v1/embeddings`,
      { input: inputs, model: 'emb', encoding_format: 'float', dimensions: 6 },
      { 'api-key': KEY },
    );
    expect(floats.json.object).toBe('list');
    expect(floats.json.data).toHaveLength(2);
    const vector: number[] = floats.json.data[1].embedding;
    expect(vector).toHaveLength(6);
    expect(Math.hypot(...vector)).toBeCloseTo(1, 5);
    const tokens = countTextTokens(inputs[0]!) + countTextTokens(inputs[1]!);
    expect(floats.json.usage).toEqual({ prompt_tokens: tokens, total_tokens: tokens });

    const base64 = await postJson(
      `${sim.url}/v1/embeddings`,
      { input: inputs, encoding_format: 'base64', dimensions: 6 },
      { 'api-key': KEY },
    );
    const bytes = Buffer.from(base64.json.data[1].embedding, 'base64');
    const decoded = Array.from({ length: bytes.length / 4 }, (_, i) => bytes.readFloatLE(i * 4));
    expect(decoded).toEqual(vector);

    // The openai client asks for base64 by default and decodes it itself.
    const viaClient = await client.embeddings.create({ model: 'emb', input: inputs, dimensions: 6 });
    expect(viaClient.data[1]?.embedding).toEqual(vector);
    expect(viaClient.usage.prompt_tokens).toBe(tokens);

    const tokenArrays = await client.embeddings.create({
      model: 'emb',
      input: [
        [1, 2, 3],
        [4, 5],
      ],
      encoding_format: 'float',
    });
    expect(tokenArrays.data[0]?.embedding).toHaveLength(8);
    expect(tokenArrays.usage.prompt_tokens).toBe(5);
    expect(sim.stats().embeddingTokens).toBe(3 * tokens + 5);

    const bad = await postJson(`${sim.url}/v1/embeddings`, { input: [] }, { 'api-key': KEY });
    expect(bad.status).toBe(400);
    expect(bad.json.error.param).toBe('input');
  });

  it('rejects chat without messages in the OpenAI error shape', async () => {
    const { status, json } = await postJson(`${sim.url}/v1/chat/completions`, { model: 'm', messages: [] }, { 'api-key': KEY });
    expect(status).toBe(400);
    expect(json.error).toMatchObject({ type: 'invalid_request_error', param: 'messages' });
  });

  it('accepts the key as api-key or bearer, and configured Entra tokens; refuses the rest', async () => {
    expect((await postJson(`${sim.url}/v1/embeddings`, { input: 'x' }, { authorization: `Bearer ${ENTRA_TOKEN}` })).status).toBe(200);
    const entra = new AzureOpenAI({
      endpoint: sim.url,
      azureADTokenProvider: async () => ENTRA_TOKEN,
      apiVersion: '2024-10-21',
      maxRetries: 0,
    });
    await expect(entra.embeddings.create({ model: 'emb-dep', input: 'x' })).resolves.toBeDefined();

    const denied = await postJson(`${sim.url}/v1/embeddings`, { input: 'x' }, { 'api-key': 'wrong' });
    expect(denied.status).toBe(401);
    expect(denied.json.error.code).toBe('401');
    expect(denied.json.error.message).toMatch(/^Access denied due to invalid subscription key or wrong API endpoint/);
    const wrong = new OpenAI({ baseURL: `${sim.url}/v1`, apiKey: 'wrong', maxRetries: 0 });
    await expect(wrong.chat.completions.create({ model: 'm', messages: MESSAGES })).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
  });

  describe('faults', () => {
    it('answers 429 with retry-after and retry-after-ms (§2.7)', async () => {
      sim.injectFaults([{ kind: 'status', status: 429, retryAfterMs: 1500 }]);
      const error = await client.chat.completions.create({ model: 'm', messages: MESSAGES }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OpenAI.RateLimitError);
      const rateLimited = error as InstanceType<typeof OpenAI.RateLimitError>;
      expect(rateLimited.headers?.get('retry-after')).toBe('2');
      expect(rateLimited.headers?.get('retry-after-ms')).toBe('1500');
      expect((rateLimited.error as any).code).toBe('429');
    });

    it('answers 5xx in the §1.8 shape with x-ms-error-code, consuming queued faults in order', async () => {
      sim.injectFaults([
        { kind: 'status', status: 503 },
        { kind: 'status', status: 500 },
      ]);
      const first = await postJson(`${sim.url}/v1/chat/completions`, { messages: MESSAGES }, { 'api-key': KEY });
      expect(first.status).toBe(503);
      expect(first.headers.get('x-ms-error-code')).toBe('ServiceUnavailable');
      expect(first.json.error.code).toBe('ServiceUnavailable');
      const second = await client.chat.completions.create({ model: 'm', messages: MESSAGES }).catch((e: unknown) => e);
      expect(second).toBeInstanceOf(OpenAI.InternalServerError);
      await expect(client.chat.completions.create({ model: 'm', messages: MESSAGES })).resolves.toBeDefined();
      expect(sim.stats()).toMatchObject({ requests: 3, succeeded: 1 });
    });

    it('blocks a prompt with the §2.5 content_filter 400', async () => {
      sim.injectFaults([{ kind: 'content_filter' }]);
      const error = await azure.chat.completions.create({ model: 'x', messages: MESSAGES }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OpenAI.BadRequestError);
      const blocked = error as InstanceType<typeof OpenAI.BadRequestError>;
      expect(blocked.code).toBe('content_filter');
      expect((blocked.error as any).innererror.content_filter_result.self_harm.filtered).toBe(true);
    });

    it('hangs on timeout until the client gives up, which counts as cancelled', async () => {
      sim.injectFaults([{ kind: 'timeout' }]);
      const error = await client.chat.completions.create({ model: 'm', messages: MESSAGES }, { timeout: 150 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OpenAI.APIConnectionTimeoutError);
      await waitFor(() => sim.stats().cancelled === 1);
      expect(sim.stats()).toMatchObject({ succeeded: 0, inFlight: 0 });
    });

    it('resets the connection without a response', async () => {
      sim.injectFaults([{ kind: 'reset' }]);
      const error = await client.chat.completions.create({ model: 'm', messages: MESSAGES }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OpenAI.APIConnectionError);
      expect(sim.stats()).toMatchObject({ succeeded: 0, cancelled: 0 });
    });

    it('cuts a stream after n chunks, and a non-stream halfway through its JSON', async () => {
      sim.injectFaults([{ kind: 'half-stream', afterChunks: 2 }]);
      const received: ChatCompletionChunk[] = [];
      const stream = await client.chat.completions.create({ model: 'm', messages: MESSAGES, max_tokens: 6, stream: true });
      await expect(
        (async () => {
          for await (const chunk of stream) received.push(chunk);
        })(),
      ).rejects.toThrow();
      expect(received).toHaveLength(2);

      // Even when n exceeds the events, the stream is cut before [DONE], never completed cleanly.
      sim.injectFaults([{ kind: 'half-stream', afterChunks: 100 }]);
      const long = await client.chat.completions.create({ model: 'm', messages: MESSAGES, max_tokens: 2, stream: true });
      await expect(collect(long)).rejects.toThrow();

      sim.injectFaults([{ kind: 'half-stream', afterChunks: 0 }]);
      const raw = await fetch(`${sim.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'api-key': KEY },
        body: JSON.stringify({ messages: MESSAGES }),
      });
      expect(raw.status).toBe(200);
      await expect(raw.text()).rejects.toThrow();
      expect(sim.stats()).toMatchObject({ succeeded: 0, cancelled: 0 });
    });

    it('sends a 200 that is not JSON, for plain and streamed requests', async () => {
      sim.injectFaults([{ kind: 'malformed' }, { kind: 'malformed' }]);
      // The client logs unparseable SSE data before throwing; the throw is what this test is about.
      const quiet = new OpenAI({ baseURL: `${sim.url}/v1`, apiKey: KEY, maxRetries: 0, logLevel: 'off' });
      await expect(quiet.chat.completions.create({ model: 'm', messages: MESSAGES })).rejects.toThrow();
      const stream = await quiet.chat.completions.create({ model: 'm', messages: MESSAGES, stream: true });
      await expect(collect(stream)).rejects.toThrow();
    });

    it('injects faults at a rate with an injected random source', async () => {
      const rolls = [0.1, 0.9];
      const local = await startOpenAICompatibleSim({
        faultRate: { fault: { kind: 'status', status: 502 }, probability: 0.5, random: () => rolls.shift() ?? 1 },
      });
      try {
        expect((await postJson(`${local.url}/v1/embeddings`, { input: 'x' })).status).toBe(502);
        expect((await postJson(`${local.url}/v1/embeddings`, { input: 'x' })).status).toBe(200);
      } finally {
        await local.close();
      }
    });
  });

  describe('bounds: local mode shares its process with the gateway', () => {
    it(`generates at most ${MAX_GENERATED_TOKENS} tokens per request across its choices, and smaller limits exactly`, async () => {
      const huge = await client.chat.completions.create({ model: 'm', messages: MESSAGES, max_tokens: 100_000_000 });
      expect(huge.choices).toHaveLength(1);
      expect(huge.choices[0]?.finish_reason).toBe('length');
      expect(huge.usage?.completion_tokens).toBe(MAX_GENERATED_TOKENS);
      expect(countTextTokens(huge.choices[0]?.message.content ?? '')).toBe(MAX_GENERATED_TOKENS);

      const many = await client.chat.completions.create({ model: 'm', messages: MESSAGES, n: 128, max_tokens: 100_000_000 });
      expect(many.choices.map((c) => c.index)).toEqual([...Array(128).keys()]);
      expect(
        many.choices.every((c) => countTextTokens(c.message.content ?? '') === MAX_GENERATED_TOKENS / 128 && c.finish_reason === 'length'),
      ).toBe(true);
      expect(many.usage?.completion_tokens).toBe(MAX_GENERATED_TOKENS);

      const exact = await client.chat.completions.create({ model: 'm', messages: MESSAGES, n: 3, max_tokens: 5 });
      expect(exact.choices.map((c) => countTextTokens(c.message.content ?? ''))).toEqual([5, 5, 5]);
      expect(exact.choices[0]?.message.content).toBe(
        (await client.chat.completions.create({ model: 'm', messages: MESSAGES, max_tokens: 5 })).choices[0]?.message.content,
      );
      expect(new Set(exact.choices.map((c) => c.message.content)).size).toBe(3);
      expect(exact.usage?.completion_tokens).toBe(15);

      const defaults = await client.chat.completions.create({ model: 'm', messages: MESSAGES, n: 2 });
      expect(defaults.choices.map((c) => c.finish_reason)).toEqual(['stop', 'stop']);
      expect(defaults.usage?.completion_tokens).toBe(32);
      expect(sim.stats().completionTokens).toBe(2 * MAX_GENERATED_TOKENS + 15 + 5 + 32);
    });

    it('streams each choice under its index, the cap shared across them', async () => {
      const chunks = await collect(
        await client.chat.completions.create({
          model: 'm',
          messages: MESSAGES,
          n: 2,
          max_tokens: 3,
          stream: true,
          stream_options: { include_usage: true },
        }),
      );
      const textOf = (index: number) =>
        chunks.flatMap((c) => c.choices.filter((choice) => choice.index === index).map((choice) => choice.delta.content ?? '')).join('');
      expect(countTextTokens(textOf(0))).toBe(3);
      expect(countTextTokens(textOf(1))).toBe(3);
      expect(chunks.flatMap((c) => c.choices.filter((choice) => choice.finish_reason === 'length').map((choice) => choice.index))).toEqual([
        0, 1,
      ]);
      expect(chunks.at(-1)?.usage?.completion_tokens).toBe(6);

      const capped = await collect(
        await client.chat.completions.create({
          model: 'm',
          messages: MESSAGES,
          n: 128,
          max_tokens: 1_000_000,
          stream: true,
          stream_options: { include_usage: true },
        }),
      );
      expect(capped.at(-1)?.usage?.completion_tokens).toBe(MAX_GENERATED_TOKENS);
      expect(capped.filter((c) => c.choices[0]?.delta.content).length).toBe(MAX_GENERATED_TOKENS);
    });

    it('refuses n outside 1..128 in the OpenAI error shape', async () => {
      for (const n of [0, 129, 1.5, 'two']) {
        const { status, json } = await postJson(`${sim.url}/v1/chat/completions`, { messages: MESSAGES, n }, { 'api-key': KEY });
        expect(status).toBe(400);
        expect(json.error).toMatchObject({ type: 'invalid_request_error', param: 'n' });
      }
    });

    it(`refuses embeddings of more than ${MAX_EMBEDDING_VALUES} values in one answer`, async () => {
      const inputs = Array.from({ length: 64 }, (_, i) => `text ${i}`);
      const tooMany = await postJson(
        `${sim.url}/v1/embeddings`,
        { input: inputs, dimensions: MAX_EMBEDDING_VALUES / 32 },
        { 'api-key': KEY },
      );
      expect(tooMany.status).toBe(400);
      expect(tooMany.json.error).toMatchObject({ type: 'invalid_request_error', param: 'dimensions' });
      const fits = await postJson(
        `${sim.url}/v1/embeddings`,
        { input: inputs, dimensions: MAX_EMBEDDING_VALUES / 64, encoding_format: 'base64' },
        { 'api-key': KEY },
      );
      expect(fits.status).toBe(200);
      expect(fits.json.data).toHaveLength(64);
    });

    it('keeps counters and the last request only, however many requests it serves', async () => {
      for (let i = 0; i < 40; i++)
        await postJson(
          `${sim.url}/v1/chat/completions`,
          { messages: [{ role: 'user', content: `request ${i} ${'x'.repeat(1000)}` }], max_tokens: 1 },
          { 'api-key': KEY },
        );
      const stats = sim.stats();
      expect(Object.keys(stats).sort()).toEqual([
        'cancelled',
        'completionTokens',
        'embeddingTokens',
        'inFlight',
        'lastRequest',
        'promptTokens',
        'requests',
        'succeeded',
      ]);
      expect(stats.requests).toBe(40);
      expect(JSON.stringify(stats.lastRequest)).toContain('request 39');
      expect(JSON.stringify(stats).length).toBeLessThan(3_000);
    });
  });

  it('stops generating when the client disconnects mid-stream, and applies timing changes', async () => {
    const local = await startOpenAICompatibleSim({ tokensPerSecond: 100 });
    try {
      const open = new OpenAI({ baseURL: `${local.url}/v1`, apiKey: 'unused', maxRetries: 0 });
      const stream = await open.chat.completions.create({ model: 'm', messages: MESSAGES, max_tokens: 200, stream: true });
      let seen = 0;
      for await (const _chunk of stream) {
        if (++seen === 2) break;
      }
      await waitFor(() => local.stats().cancelled === 1);
      expect(local.stats()).toMatchObject({ succeeded: 0, completionTokens: 0, inFlight: 0 });

      local.setOptions({ latencyMs: 120, tokensPerSecond: 0 });
      const timers = vi.spyOn(globalThis, 'setTimeout');
      try {
        await open.chat.completions.create({ model: 'm', messages: MESSAGES, max_tokens: 2 });
        // The new latency is what the simulator waited for (the timer itself, not the clock, is asserted).
        expect(timers.mock.calls.map(([, ms]) => ms)).toContain(120);
      } finally {
        timers.mockRestore();
      }
    } finally {
      await local.close();
    }
  });
});

describe('AML score simulator', () => {
  let aml: AmlScoreSim;
  const input = (maxNewTokens?: number) => ({
    input_data: {
      input_string: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Tell me about rivers.' },
      ],
      parameters: { temperature: 0.6, top_p: 0.9, do_sample: true, ...(maxNewTokens ? { max_new_tokens: maxNewTokens } : {}) },
    },
  });
  const auth = { authorization: `Bearer ${KEY}` };

  beforeAll(async () => {
    aml = await startAmlScoreSim({ apiKey: KEY, deployments: ['blue', 'green'], tokensPerSecond: 1000 });
  });
  afterAll(async () => {
    await aml.close();
  });
  beforeEach(() => aml.resetStats());

  it('scores chat input with an output and no token counts', async () => {
    const { status, json, headers } = await postJson(`${aml.url}/score`, input(7), auth);
    expect(status).toBe(200);
    expect(Object.keys(json)).toEqual(['output']);
    expect(countTextTokens(json.output)).toBe(7);
    expect(headers.get('azureml-model-deployment')).toBe('blue');
    const promptTokens = countChatPromptTokens(input().input_data.input_string);
    expect(aml.stats()).toMatchObject({ succeeded: 1, promptTokens, completionTokens: 7, byDeployment: { blue: 1 } });

    const defaulted = await postJson(`${aml.url}/score`, input(), auth);
    expect(countTextTokens(defaulted.json.output)).toBe(16);
  });

  it('needs the bearer key', async () => {
    expect((await postJson(`${aml.url}/score`, input(1), { 'api-key': KEY })).status).toBe(401);
    expect((await postJson(`${aml.url}/score`, input(1), { authorization: 'Bearer nope' })).status).toBe(401);
  });

  it('pins a deployment by header, and 404s an unknown one', async () => {
    const pinned = await postJson(`${aml.url}/score`, input(1), { ...auth, 'azureml-model-deployment': 'green' });
    expect(pinned.status).toBe(200);
    expect(pinned.headers.get('azureml-model-deployment')).toBe('green');
    const unknown = await postJson(`${aml.url}/score`, input(1), { ...auth, 'azureml-model-deployment': 'purple' });
    expect(unknown.status).toBe(404);
    expect(unknown.json.message).toMatch(/No valid deployments to route to/);
    expect(aml.stats().byDeployment).toEqual({ green: 1 });
  });

  it('wraps bad input in a 424 model error', async () => {
    const bad = await postJson(`${aml.url}/score`, { input_data: ['just a prompt'] }, auth);
    expect(bad.status).toBe(424);
    expect(bad.headers.get('ms-azureml-model-error-statuscode')).toBe('400');
    expect(bad.headers.get('ms-azureml-model-error-reason')).toBe('model_error');
    expect(bad.json.error).toMatch(/^Expected input format: \n\{"input_data": \{"input_string": \[/);
  });

  it('answers 429 beyond 2 × max_concurrent_requests_per_instance × instance_count in flight', async () => {
    aml.setOptions({ tokensPerSecond: 100 });
    try {
      const slow = [postJson(`${aml.url}/score`, input(20), auth), postJson(`${aml.url}/score`, input(20), auth)];
      await waitFor(() => aml.stats().inFlight === 2);
      const rejected = await postJson(`${aml.url}/score`, input(1), auth);
      expect(rejected.status).toBe(429);
      // Another deployment has its own instances.
      expect((await postJson(`${aml.url}/score`, input(1), { ...auth, 'azureml-model-deployment': 'green' })).status).toBe(200);
      expect((await Promise.all(slow)).map((r) => r.status)).toEqual([200, 200]);
      expect((await postJson(`${aml.url}/score`, input(1), auth)).status).toBe(200);
    } finally {
      aml.setOptions({ tokensPerSecond: 1000 });
    }
  });

  it('answers 408 when generation would outlast request_timeout_ms', async () => {
    aml.setOptions({ requestTimeoutMs: 100, tokensPerSecond: 50 });
    try {
      const timers = vi.spyOn(globalThis, 'setTimeout');
      try {
        const late = await postJson(`${aml.url}/score`, input(20), auth);
        expect(late.status).toBe(408);
        // It waited out request_timeout_ms before answering, as the endpoint does, rather than refusing at once.
        expect(timers.mock.calls.map(([, ms]) => ms)).toContain(100);
      } finally {
        timers.mockRestore();
      }
      expect((await postJson(`${aml.url}/score`, input(2), auth)).status).toBe(200);
    } finally {
      aml.setOptions({ requestTimeoutMs: undefined, tokensPerSecond: 1000 });
    }
  });

  it(`generates at most ${MAX_GENERATED_TOKENS} tokens per request, and smaller limits exactly`, async () => {
    aml.setOptions({ tokensPerSecond: 0 });
    try {
      const huge = await postJson(`${aml.url}/score`, input(100_000_000), auth);
      expect(huge.status).toBe(200);
      expect(countTextTokens(huge.json.output)).toBe(MAX_GENERATED_TOKENS);
      const exact = await postJson(`${aml.url}/score`, input(9), auth);
      expect(countTextTokens(exact.json.output)).toBe(9);
      expect(aml.stats()).toMatchObject({ succeeded: 2, completionTokens: MAX_GENERATED_TOKENS + 9, byDeployment: { blue: 2 } });
    } finally {
      aml.setOptions({ tokensPerSecond: 1000 });
    }
  });

  it('injects status, reset, half-JSON and malformed faults', async () => {
    aml.injectFaults([{ kind: 'status', status: 503 }, { kind: 'reset' }, { kind: 'half-stream', afterChunks: 0 }, { kind: 'malformed' }]);
    expect((await postJson(`${aml.url}/score`, input(1), auth)).status).toBe(503);
    await expect(postJson(`${aml.url}/score`, input(1), auth)).rejects.toThrow();
    await expect(postJson(`${aml.url}/score`, input(1), auth)).rejects.toThrow();
    const malformed = await postJson(`${aml.url}/score`, input(1), auth);
    expect(malformed.status).toBe(200);
    expect(malformed.json).toBeUndefined();
    expect(aml.stats()).toMatchObject({ requests: 4, succeeded: 0, cancelled: 0 });
  });
});
