/**
 * The README's quick start as a newcomer runs it: `npm start` in its own process (embedded store on disk,
 * simulators, the local Functions host), then one call from each framework with its default options, on the
 * default alias `chat` whose first target is managed compute. frameworks.e2e.test.ts covers each framework
 * in depth against the same gateway started in-process.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAzure } from '@ai-sdk/azure';
import { createOpenAI } from '@ai-sdk/openai';
import { ChatOpenAI } from '@langchain/openai';
import { generateText, tool } from 'ai';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { exitWithin, type GatewayProcess, gatewayEnv, portRefuses, startGatewayProcess } from '../local/gateway-process.js';

const DEMO_KEY = 'sy-npm-start-demo-key-0123456789abcdef';
const weather = z.object({ city: z.string(), days: z.number().int() });

let dataDir: string;
let gateway: GatewayProcess;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'sy-npm-start-'));
  gateway = await startGatewayProcess('npm', ['start'], gatewayEnv(dataDir, { SWITCHYARD_DEMO_KEY: DEMO_KEY }));
}, 60_000);
afterAll(async () => {
  if (gateway) {
    gateway.child.kill('SIGTERM');
    await exitWithin(gateway.exited, 20_000);
    expect(await portRefuses(gateway.port)).toBe(true);
  }
  await rm(dataDir, { recursive: true, force: true });
}, 30_000);

describe('npm start, called by the frameworks applications use', () => {
  it('openai: a tool call on chat, and a streamed Response', async () => {
    const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: DEMO_KEY, maxRetries: 0 });
    const completion = await client.chat.completions.create({
      model: 'chat',
      messages: [{ role: 'user', content: 'Weather in Oslo?' }],
      tools: [{ type: 'function', function: { name: 'get_weather', parameters: z.toJSONSchema(weather) as Record<string, unknown> } }],
    });
    expect(completion.choices[0]!.finish_reason).toBe('tool_calls');
    expect(
      weather.safeParse(
        JSON.parse(
          completion.choices[0]!.message.tool_calls![0]!.type === 'function'
            ? completion.choices[0]!.message.tool_calls![0]!.function.arguments
            : '',
        ),
      ).success,
    ).toBe(true);

    const stream = client.responses.stream({ model: 'chat', input: 'Say something short.', max_output_tokens: 4 });
    let deltas = '';
    for await (const event of stream) if (event.type === 'response.output_text.delta') deltas += event.delta;
    const final = await stream.finalResponse();
    expect(final.output_text).toBe(deltas);
    expect(final.usage!.output_tokens).toBe(4);
  });

  it('AI SDK: the default openai(model), which speaks the Responses API, with a tool', async () => {
    const openai = createOpenAI({ baseURL: `${gateway.url}/v1`, apiKey: DEMO_KEY });
    const result = await generateText({
      model: openai('chat'),
      prompt: 'Weather in Oslo for 2 days?',
      tools: { get_weather: tool({ description: 'The forecast', inputSchema: weather }) },
      maxRetries: 0,
    });
    expect(result.toolCalls[0]?.toolName).toBe('get_weather');
    expect(weather.safeParse(result.toolCalls[0]?.input).success).toBe(true);
  });

  it('@ai-sdk/azure with its defaults, and LangChain structured output', async () => {
    const azure = createAzure({ baseURL: `${gateway.url}/openai/v1`, apiKey: DEMO_KEY });
    const generated = await generateText({ model: azure('chat'), prompt: 'Say something short.', maxOutputTokens: 3, maxRetries: 0 });
    expect(generated.usage.outputTokens).toBe(3);

    const model = new ChatOpenAI({ model: 'chat', apiKey: DEMO_KEY, configuration: { baseURL: `${gateway.url}/v1` }, maxRetries: 0 });
    const structured = await model.withStructuredOutput(weather, { name: 'weather' }).invoke('Weather in Oslo for 2 days?');
    expect(weather.safeParse(structured).success).toBe(true);
  });
});
