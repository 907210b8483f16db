import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { putRoute, putSimDeployment, startTestGateway, today, type TestGateway } from './harness.js';

// Deployments that declare `responses` get the Responses request as it came (the stored conversation spelled out
// in `input`, storage kept by Switchyard), over OpenAI's `/v1/responses` and Azure OpenAI's `/openai/v1/responses`,
// from a loopback upstream that speaks the Responses API.

interface Seen {
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: Record<string, any>;
}

let counter = 0;
function nativeAnswer(body: Record<string, any>) {
  counter += 1;
  const text = `native ${counter} saw ${body.input.length} items`;
  return {
    id: `resp_native${counter}`,
    object: 'response',
    created_at: 1,
    status: 'completed',
    model: body.model,
    output: [
      {
        id: `msg_${counter}`,
        type: 'message',
        role: 'assistant',
        status: 'completed',
        content: [{ type: 'output_text', text, annotations: [] }],
      },
    ],
    usage: {
      input_tokens: 21,
      input_tokens_details: { cached_tokens: 4 },
      output_tokens: 5,
      output_tokens_details: { reasoning_tokens: 2 },
      total_tokens: 26,
    },
  };
}

function streamNative(res: ServerResponse, response: ReturnType<typeof nativeAnswer>): void {
  const message = response.output[0]!;
  const text = message.content[0]!.text;
  const events = [
    { type: 'response.created', response: { ...response, status: 'in_progress', output: [], usage: null } },
    { type: 'response.output_item.added', output_index: 0, item: { ...message, status: 'in_progress', content: [] } },
    {
      type: 'response.content_part.added',
      item_id: message.id,
      output_index: 0,
      content_index: 0,
      part: { type: 'output_text', text: '', annotations: [] },
    },
    { type: 'response.output_text.delta', item_id: response.output[0]!.id, output_index: 0, content_index: 0, delta: text.slice(0, 6) },
    { type: 'response.output_text.delta', item_id: response.output[0]!.id, output_index: 0, content_index: 0, delta: text.slice(6) },
    { type: 'response.output_text.done', item_id: message.id, output_index: 0, content_index: 0, text },
    { type: 'response.content_part.done', item_id: message.id, output_index: 0, content_index: 0, part: message.content[0] },
    { type: 'response.output_item.done', output_index: 0, item: message },
    { type: 'response.completed', response },
  ];
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  res.end(events.map((e, i) => `event: ${e.type}\ndata: ${JSON.stringify({ ...e, sequence_number: i })}\n\n`).join(''));
}

async function startNativeUpstream() {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => {
      raw += c;
    });
    req.on('end', () => {
      const body = JSON.parse(raw);
      seen.push({ path: req.url ?? '', headers: req.headers, body });
      const response = nativeAnswer(body);
      if (body.stream) return streamNative(res, response);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(response));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

let gw: TestGateway;
let upstream: Awaited<ReturnType<typeof startNativeUpstream>>;
beforeAll(async () => {
  upstream = await startNativeUpstream();
  gw = await startTestGateway();
  const features = ['responses', 'tools', 'structured-output'];
  expect(
    (await putSimDeployment(gw, 'native-openai', { endpoint: `${upstream.url}/v1`, upstreamModel: 'gpt-native', features })).status,
  ).toBe(201);
  expect(
    (await putSimDeployment(gw, 'native-azure', { protocol: 'azure-openai', endpoint: upstream.url, upstreamModel: 'my-gpt', features }))
      .status,
  ).toBe(201);
  await putRoute(gw, 'native', ['native-openai']);
  await putRoute(gw, 'native-azure', ['native-azure']);
});
afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});

describe('Responses passed through to upstreams that speak them', () => {
  it('passes a Response through as it came, metered from its usage, stored for the team', async () => {
    await gw.flushUsage();
    const rows = async () => (await (await gw.call(`/usage?from=${today()}&to=${today()}&groupBy=alias`)).json()).rows;
    const before = (await rows()).find((r: Record<string, unknown>) => r.alias === 'native');
    const { data, response } = await gw.openai.responses.create({ model: 'native', input: 'Hi', instructions: 'Be brief.' }).withResponse();
    expect(response.headers.get('x-switchyard-deployment')).toBe('native-openai');
    expect(data.output_text).toMatch(/^native \d+ saw 1 items$/);
    const sent = upstream.seen.at(-1)!;
    expect(sent.path).toBe('/v1/responses');
    expect(sent.body).toMatchObject({
      model: 'gpt-native',
      input: [{ type: 'message', role: 'user', content: 'Hi' }],
      instructions: 'Be brief.',
      store: false,
    });
    expect(sent.headers.authorization).toMatch(/^Bearer /);
    expect((await gw.openai.responses.retrieve(data.id)).output_text).toBe(data.output_text);
    await gw.flushUsage();
    const after = (await rows()).find((r: Record<string, unknown>) => r.alias === 'native');
    expect(after.inputTokens - (before?.inputTokens ?? 0)).toBe(21);
    expect(after.outputTokens - (before?.outputTokens ?? 0)).toBe(5);
    expect(after.estimatedRequests - (before?.estimatedRequests ?? 0)).toBe(0);
  });

  it('spells out a stored conversation for the upstream, which keeps nothing', async () => {
    const first = await gw.openai.responses.create({ model: 'native', input: 'One' });
    const second = await gw.openai.responses.create({ model: 'native', input: 'Two', previous_response_id: first.id });
    const sent = upstream.seen.at(-1)!.body;
    expect(sent.previous_response_id).toBeUndefined();
    expect(sent.input.map((item: { type: string; role?: string }) => `${item.type}:${item.role}`)).toEqual([
      'message:user',
      'message:assistant',
      'message:user',
    ]);
    expect(second.output_text).toMatch(/saw 3 items$/);
  });

  it('passes on what has no chat translation (a reasoning item, a built-in tool) only to a deployment that speaks Responses', async () => {
    const input = [
      { type: 'reasoning' as const, id: 'rs_1', summary: [] },
      { role: 'user' as const, content: 'Search' },
    ];
    const tools = [{ type: 'web_search' as const }];
    const passed = await gw.openai.responses.create({ model: 'native', input, tools, store: false });
    expect(passed.output_text).toMatch(/saw 2 items$/);
    expect(upstream.seen.at(-1)!.body).toMatchObject({ input: [{ type: 'reasoning', id: 'rs_1' }, { role: 'user' }], tools });
    await putRoute(gw, 'native-mixed', ['sim-llama-managed', 'native-openai']);
    const routed = await gw.openai.responses.create({ model: 'native-mixed', input, store: false }).withResponse();
    expect(routed.response.headers.get('x-switchyard-deployment')).toBe('native-openai');
    await expect(gw.openai.responses.create({ model: 'chat', input, store: false })).rejects.toMatchObject({
      status: 400,
      param: 'input[0].type',
      message: expect.stringContaining("'reasoning'"),
    });
  });

  it('relays a native stream from an Azure OpenAI deployment (its v1 path) untouched to the official client', async () => {
    const stream = gw.openai.responses.stream({ model: 'native-azure', input: 'Stream' });
    const types: string[] = [];
    stream.on('event', (event) => {
      types.push(event.type);
    });
    const final = await stream.finalResponse();
    expect(types).toEqual([
      'response.created',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
    expect(final.usage).toMatchObject({ input_tokens: 21, output_tokens: 5 });
    const sent = upstream.seen.at(-1)!;
    expect(sent.path).toBe('/openai/v1/responses');
    expect(sent.body).toMatchObject({ model: 'my-gpt', stream: true, store: false });
    expect(sent.headers['api-key']).toBeDefined();
    expect((await gw.openai.responses.retrieve(final.id)).output_text).toBe(final.output_text);
  });
});
