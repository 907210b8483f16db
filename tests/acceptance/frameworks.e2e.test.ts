/**
 * The frameworks applications are written with, each with its default options (retries off so a failure is
 * fast), against the real local gateway on its default aliases: `chat` (managed compute first, serverless
 * behind it) and `embed`. Every call goes over loopback HTTP through the local Functions host.
 */
import { createAzure } from '@ai-sdk/azure';
import { createOpenAI } from '@ai-sdk/openai';
import { AzureChatOpenAI, AzureOpenAIEmbeddings, ChatOpenAI, OpenAIEmbeddings } from '@langchain/openai';
import { embedMany, generateObject, generateText, streamText, tool } from 'ai';
import OpenAI, { AzureOpenAI } from 'openai';
import { zodResponseFormat } from 'openai/helpers/zod';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_KEY, putRoute, startTestGateway, type TestGateway } from '../e2e/harness.js';

let gw: TestGateway;

beforeAll(async () => {
  gw = await startTestGateway();
  // An alias served by managed compute alone, which honours no feature beyond plain chat.
  await putRoute(gw, 'managed-only', ['sim-llama-managed']);
});
afterAll(async () => {
  await gw?.close();
});

const question = 'Say something short.';
/** The simulators' embedding width. */
const EMBEDDING_WIDTH = 8;

const weather = z.object({ city: z.string(), days: z.number().int() });
const weatherTool = {
  type: 'function' as const,
  function: {
    name: 'get_weather',
    description: 'The forecast for a city',
    parameters: {
      type: 'object',
      properties: { city: { type: 'string' }, days: { type: 'integer' } },
      required: ['city', 'days'],
      additionalProperties: false,
    },
  },
};

describe('openai (Node)', () => {
  const client = () => new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: DEMO_KEY, maxRetries: 0 });

  it('chats and streams on chat', async () => {
    const completion = await client().chat.completions.create({
      model: 'chat',
      messages: [{ role: 'user', content: question }],
      max_tokens: 5,
    });
    expect(completion.choices[0]!.message.content!.length).toBeGreaterThan(0);
    expect(completion.usage!.completion_tokens).toBe(5);

    const stream = await client().chat.completions.create({
      model: 'chat',
      messages: [{ role: 'user', content: question }],
      max_tokens: 4,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let completionTokens = 0;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? '';
      completionTokens += chunk.usage?.completion_tokens ?? 0;
    }
    expect(text.length).toBeGreaterThan(0);
    expect(completionTokens).toBe(4);
  });

  it('embeds on embed, as floats and as base64 (the default), to the same vectors', async () => {
    const floats = await client().embeddings.create({ model: 'embed', input: ['one', 'two'], encoding_format: 'float' });
    expect(floats.data.map((item) => item.embedding.length)).toEqual([EMBEDDING_WIDTH, EMBEDDING_WIDTH]);
    const decoded = await client().embeddings.create({ model: 'embed', input: ['one', 'two'] });
    expect(decoded.data.map((item) => item.embedding)).toEqual(floats.data.map((item) => item.embedding));
  });

  it('calls a tool on chat (whole and streamed) and parses structured output with a zod schema', async () => {
    const messages = [{ role: 'user' as const, content: 'Weather in Paris for 3 days?' }];
    // chat's first target is the managed /score deployment, which honours no tools: the serverless one answers.
    const { data: called, response } = await client()
      .chat.completions.create({ model: 'chat', messages, tools: [weatherTool] })
      .withResponse();
    expect(response.headers.get('x-switchyard-deployment')).toBe('sim-llama-serverless');
    expect(called.choices[0]!.finish_reason).toBe('tool_calls');
    const call = called.choices[0]!.message.tool_calls![0]!;
    expect(call.type === 'function' && call.function.name).toBe('get_weather');
    expect(weather.safeParse(JSON.parse(call.type === 'function' ? call.function.arguments : '')).success).toBe(true);

    const stream = await client().chat.completions.create({ model: 'chat', messages, tools: [weatherTool], stream: true });
    let name = '';
    let args = '';
    let pieces = 0;
    for await (const chunk of stream) {
      for (const delta of chunk.choices[0]?.delta?.tool_calls ?? []) {
        name += delta.function?.name ?? '';
        args += delta.function?.arguments ?? '';
        pieces += 1;
      }
    }
    expect(name).toBe('get_weather');
    expect(pieces).toBeGreaterThan(1);
    expect(weather.safeParse(JSON.parse(args)).success).toBe(true);

    const parsed = await client().chat.completions.parse({
      model: 'chat',
      messages,
      response_format: zodResponseFormat(weather, 'weather'),
    });
    expect(weather.safeParse(parsed.choices[0]!.message.parsed).success).toBe(true);
  });

  it('creates and streams a response (responses.create, responses.stream) on chat', async () => {
    const response = await client().responses.create({ model: 'chat', input: question });
    expect(response.status).toBe('completed');
    expect(response.output_text.length).toBeGreaterThan(0);
    const cut = await client().responses.create({ model: 'chat', input: question, max_output_tokens: 16 });
    expect(cut).toMatchObject({ status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' } });
    expect(cut.usage!.output_tokens).toBe(16);

    const stream = client().responses.stream({ model: 'chat', input: question, max_output_tokens: 16 });
    let deltas = '';
    for await (const event of stream) if (event.type === 'response.output_text.delta') deltas += event.delta;
    const final = await stream.finalResponse();
    expect(deltas).toBe(final.output_text);
    expect(final.usage!.output_tokens).toBeGreaterThan(0);
  });

  it('AzureOpenAI: chats, streams, embeds and lists models with the alias as deployment', async () => {
    const azure = (deployment?: string) =>
      new AzureOpenAI({ endpoint: gw.url, apiKey: DEMO_KEY, apiVersion: '2024-10-21', deployment, maxRetries: 0 });
    const completion = await azure('chat').chat.completions.create({
      model: '',
      messages: [{ role: 'user', content: question }],
      max_tokens: 3,
    });
    expect(completion.usage!.completion_tokens).toBe(3);
    const stream = await azure('chat').chat.completions.create({
      model: '',
      messages: [{ role: 'user', content: question }],
      max_tokens: 3,
      stream: true,
    });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    expect(text.length).toBeGreaterThan(0);
    const embeddings = await azure('embed').embeddings.create({ model: '', input: 'one' });
    expect(embeddings.data[0]!.embedding).toHaveLength(EMBEDDING_WIDTH);
    expect((await azure().models.list()).data.map((model) => model.id)).toEqual(['chat', 'embed', 'managed-only']);
  });
});

describe('LangChain (@langchain/openai)', () => {
  const chatModel = (maxTokens: number) =>
    new ChatOpenAI({ model: 'chat', apiKey: DEMO_KEY, configuration: { baseURL: `${gw.url}/v1` }, maxTokens, maxRetries: 0 });

  it('ChatOpenAI: invoke, stream and batch', async () => {
    const answer = await chatModel(4).invoke(question);
    expect(typeof answer.content === 'string' && answer.content.length > 0).toBe(true);
    expect(answer.usage_metadata?.output_tokens).toBe(4);

    let text = '';
    let chunks = 0;
    for await (const chunk of await chatModel(6).stream(question)) {
      text += typeof chunk.content === 'string' ? chunk.content : '';
      chunks += 1;
    }
    expect(text.length).toBeGreaterThan(0);
    expect(chunks).toBeGreaterThan(1);

    const batch = await chatModel(2).batch(['one', 'two', 'three']);
    expect(batch).toHaveLength(3);
    expect(batch.map((message) => message.usage_metadata?.output_tokens)).toEqual([2, 2, 2]);
  });

  it('ChatOpenAI: bindTools and withStructuredOutput', async () => {
    const model = new ChatOpenAI({ model: 'chat', apiKey: DEMO_KEY, configuration: { baseURL: `${gw.url}/v1` }, maxRetries: 0 });
    const withTools = model.bindTools([weatherTool]);
    const answer = await withTools.invoke('Weather in Paris for 3 days?');
    expect(answer.tool_calls?.[0]?.name).toBe('get_weather');
    expect(weather.safeParse(answer.tool_calls?.[0]?.args).success).toBe(true);

    const structured = await model.withStructuredOutput(weather, { name: 'weather' }).invoke('Weather in Paris for 3 days?');
    expect(weather.safeParse(structured).success).toBe(true);
  });

  it('AzureChatOpenAI: invoke and stream with the alias as deployment', async () => {
    const azure = new AzureChatOpenAI({
      azureOpenAIApiKey: DEMO_KEY,
      azureOpenAIEndpoint: gw.url,
      azureOpenAIApiDeploymentName: 'chat',
      azureOpenAIApiVersion: '2024-10-21',
      maxTokens: 3,
      maxRetries: 0,
    });
    const answer = await azure.invoke(question);
    expect(answer.usage_metadata?.output_tokens).toBe(3);
    let text = '';
    for await (const chunk of await azure.stream(question)) text += typeof chunk.content === 'string' ? chunk.content : '';
    expect(text.length).toBeGreaterThan(0);
  });

  it('OpenAIEmbeddings: embedQuery and embedDocuments', async () => {
    const embeddings = new OpenAIEmbeddings({
      model: 'embed',
      apiKey: DEMO_KEY,
      configuration: { baseURL: `${gw.url}/v1` },
      maxRetries: 0,
    });
    const query = await embeddings.embedQuery('one');
    expect(query).toHaveLength(EMBEDDING_WIDTH);
    const documents = await embeddings.embedDocuments(['one', 'two', 'three']);
    expect(documents).toHaveLength(3);
    expect(documents[0]).toEqual(query);
  });
  it('AzureOpenAIEmbeddings: embedDocuments with the alias as deployment', async () => {
    const embeddings = new AzureOpenAIEmbeddings({
      azureOpenAIApiKey: DEMO_KEY,
      // Unlike AzureChatOpenAI, LangChain's Azure embeddings read no endpoint option, only the base path.
      azureOpenAIBasePath: `${gw.url}/openai/deployments`,
      azureOpenAIApiDeploymentName: 'embed',
      azureOpenAIApiVersion: '2024-10-21',
      maxRetries: 0,
    });
    const documents = await embeddings.embedDocuments(['one', 'two']);
    expect(documents.map((vector) => vector.length)).toEqual([EMBEDDING_WIDTH, EMBEDDING_WIDTH]);
  });
});

describe('AI SDK (ai + @ai-sdk/openai, @ai-sdk/azure)', () => {
  const openai = () => createOpenAI({ baseURL: `${gw.url}/v1`, apiKey: DEMO_KEY });

  it('generateText and streamText through createOpenAI(...).chat(alias)', async () => {
    const generated = await generateText({ model: openai().chat('chat'), prompt: question, maxOutputTokens: 4, maxRetries: 0 });
    expect(generated.text.length).toBeGreaterThan(0);
    expect(generated.usage.outputTokens).toBe(4);
    expect(generated.response.headers?.['x-switchyard-deployment']).toBeTruthy();

    const streamed = streamText({ model: openai().chat('chat'), prompt: question, maxOutputTokens: 5, maxRetries: 0 });
    let text = '';
    for await (const delta of streamed.textStream) text += delta;
    expect(text.length).toBeGreaterThan(0);
    expect((await streamed.usage).outputTokens).toBe(5);
  });

  it('generateText with a tool, streamText with a tool, and generateObject through createOpenAI(...).chat(alias)', async () => {
    const tools = { get_weather: tool({ description: 'The forecast for a city', inputSchema: weather }) };
    const generated = await generateText({ model: openai().chat('chat'), prompt: 'Weather in Paris for 3 days?', tools, maxRetries: 0 });
    expect(generated.finishReason).toBe('tool-calls');
    expect(generated.toolCalls[0]?.toolName).toBe('get_weather');
    expect(weather.safeParse(generated.toolCalls[0]?.input).success).toBe(true);

    const streamed = streamText({ model: openai().chat('chat'), prompt: 'Weather in Paris for 3 days?', tools, maxRetries: 0 });
    const calls = await streamed.toolCalls;
    expect(calls.map((call) => call.toolName)).toEqual(['get_weather']);
    expect(weather.safeParse(calls[0]?.input).success).toBe(true);

    const object = await generateObject({
      model: openai().chat('chat'),
      schema: weather,
      prompt: 'Weather in Paris for 3 days?',
      maxRetries: 0,
    });
    expect(weather.safeParse(object.object).success).toBe(true);
  });

  it('generateText and streamText through the default openai(alias), which speaks the Responses API', async () => {
    const generated = await generateText({ model: openai()('chat'), prompt: question, maxOutputTokens: 16, maxRetries: 0 });
    expect(generated.text.length).toBeGreaterThan(0);
    expect(generated.usage.outputTokens).toBeGreaterThan(0);
    const streamed = streamText({ model: openai()('chat'), prompt: question, maxOutputTokens: 16, maxRetries: 0 });
    let text = '';
    for await (const delta of streamed.textStream) text += delta;
    expect(text.length).toBeGreaterThan(0);
  });

  it('embedMany through createOpenAI(...).embedding(alias)', async () => {
    const { embeddings, usage } = await embedMany({ model: openai().embedding('embed'), values: ['one', 'two', 'three'], maxRetries: 0 });
    expect(embeddings.map((vector) => vector.length)).toEqual([EMBEDDING_WIDTH, EMBEDDING_WIDTH, EMBEDDING_WIDTH]);
    expect(usage.tokens).toBeGreaterThan(0);
  });

  it('@ai-sdk/azure with its defaults on /openai/v1: generateText, streamText and embedMany, on chat completions and on responses', async () => {
    const paths: string[] = [];
    // Only watches where the provider sends each call; the request goes out unchanged.
    const watched: typeof fetch = (input, init) => {
      paths.push(new URL(input instanceof Request ? input.url : input).pathname);
      return fetch(input, init);
    };
    const azure = createAzure({ baseURL: `${gw.url}/openai/v1`, apiKey: DEMO_KEY, fetch: watched });
    const generated = await generateText({ model: azure.chat('chat'), prompt: question, maxOutputTokens: 3, maxRetries: 0 });
    expect(generated.usage.outputTokens).toBe(3);
    const streamed = streamText({ model: azure.chat('chat'), prompt: question, maxOutputTokens: 3, maxRetries: 0 });
    let text = '';
    for await (const delta of streamed.textStream) text += delta;
    expect(text.length).toBeGreaterThan(0);
    const { embeddings } = await embedMany({ model: azure.embedding('embed'), values: ['one', 'two'], maxRetries: 0 });
    expect(embeddings).toHaveLength(2);
    // azure(alias), the provider's default, speaks the Responses API.
    const answered = await generateText({ model: azure('chat'), prompt: question, maxOutputTokens: 16, maxRetries: 0 });
    expect(answered.text.length).toBeGreaterThan(0);
    const told = streamText({ model: azure('chat'), prompt: question, maxOutputTokens: 16, maxRetries: 0 });
    let toldText = '';
    for await (const delta of told.textStream) toldText += delta;
    expect(toldText.length).toBeGreaterThan(0);
    expect(paths).toEqual([
      '/openai/v1/chat/completions',
      '/openai/v1/chat/completions',
      '/openai/v1/embeddings',
      '/openai/v1/responses',
      '/openai/v1/responses',
    ]);
  });
});

describe('a feature no deployment of the alias honours is refused, never dropped', () => {
  const prompt = 'Weather in Paris for 3 days?';

  it('openai: 400 unsupported_feature naming tools / response_format', async () => {
    const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: DEMO_KEY, maxRetries: 0 });
    const managedCalls = gw.sims!.managed.stats().requests;
    await expect(
      client.chat.completions.create({ model: 'managed-only', messages: [{ role: 'user', content: prompt }], tools: [weatherTool] }),
    ).rejects.toMatchObject({
      status: 400,
      code: 'unsupported_feature',
      param: 'tools',
    });
    await expect(
      client.chat.completions.parse({
        model: 'managed-only',
        messages: [{ role: 'user', content: prompt }],
        response_format: zodResponseFormat(weather, 'weather'),
      }),
    ).rejects.toMatchObject({ status: 400, code: 'unsupported_feature', param: 'response_format' });
    expect(gw.sims!.managed.stats().requests).toBe(managedCalls);
    const plain = await client.chat.completions.create({
      model: 'managed-only',
      messages: [{ role: 'user', content: prompt }],
      max_tokens: 2,
    });
    expect(plain.usage!.completion_tokens).toBe(2);
  });

  it('LangChain bindTools and the AI SDK generateText with a tool: the 400 reaches the caller as an error', async () => {
    const model = new ChatOpenAI({ model: 'managed-only', apiKey: DEMO_KEY, configuration: { baseURL: `${gw.url}/v1` }, maxRetries: 0 });
    await expect(model.bindTools([weatherTool]).invoke(prompt)).rejects.toMatchObject({ status: 400, code: 'unsupported_feature' });

    const provider = createOpenAI({ baseURL: `${gw.url}/v1`, apiKey: DEMO_KEY });
    const tools = { get_weather: tool({ description: 'The forecast for a city', inputSchema: weather }) };
    await expect(generateText({ model: provider.chat('managed-only'), prompt, tools, maxRetries: 0 })).rejects.toMatchObject({
      statusCode: 400,
      responseBody: expect.stringContaining('unsupported_feature'),
    });
  });
});
