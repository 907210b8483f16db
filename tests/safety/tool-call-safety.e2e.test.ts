import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_KEY, putRoute, putSimDeployment, startTestGateway, type TestGateway } from '../e2e/harness.js';

// Tool-call arguments are model output: through the local gateway, the upstream simulator calls a tool whose
// arguments (a `const` in its schema) carry a blocklisted term, one token per streamed chunk.

let gw: TestGateway;

const plan = (term: string) => `go up and come back down, then go up again and wait there. ${term} launches at dawn, weather permitting.`;
const tools = (term: string) => [
  {
    type: 'function',
    function: {
      name: 'launch',
      parameters: { type: 'object', properties: { plan: { const: plan(term) } }, required: ['plan'], additionalProperties: false },
    },
  },
];

beforeAll(async () => {
  gw = await startTestGateway();
  expect((await putSimDeployment(gw, 'tools-sim')).status).toBe(201);
  await putRoute(gw, 'tools', ['tools-sim']);
  expect(
    (await gw.call('/manage/blocklists/missions', { method: 'PUT', body: JSON.stringify({ items: ['Project Falcon'] }) })).status,
  ).toBe(201);
  const patched = await gw.call('/manage/teams/demo', {
    method: 'PATCH',
    body: JSON.stringify({ safety: { blocklists: ['missions'], windowChars: 64 } }),
  });
  expect(patched.status, await patched.text()).toBe(200);
});
afterAll(async () => {
  await gw?.close();
});

async function callTool(term: string, stream: boolean): Promise<Response> {
  return gw.call('/v1/chat/completions', {
    method: 'POST',
    key: DEMO_KEY,
    body: JSON.stringify({
      model: 'tools',
      messages: [{ role: 'user', content: 'plan the launch' }],
      tools: tools(term),
      tool_choice: 'required',
      stream,
    }),
  });
}

function chunksOf(
  text: string,
): Array<{ choices: Array<{ delta: { tool_calls?: Array<{ function?: { arguments?: string } }> }; finish_reason: string | null }> }> {
  return text
    .split('\n\n')
    .map((event) => event.replace(/^data: /, '').trim())
    .filter((data) => data !== '' && data !== '[DONE]')
    .map((data) => JSON.parse(data));
}

describe('tool-call arguments screened like text', () => {
  it('a streamed call whose arguments carry a flagged term never sends it; the choice ends with content_filter and [DONE]', async () => {
    const response = await callTool('Project Falcon', true);
    expect(response.status).toBe(200);
    const bytes = Buffer.from(await response.arrayBuffer());
    expect(bytes.includes(Buffer.from('Falcon'))).toBe(false);
    expect(bytes.includes(Buffer.from('launches'))).toBe(false);
    const text = bytes.toString('utf8');
    expect(text.trimEnd().endsWith('data: [DONE]')).toBe(true);
    const chunks = chunksOf(text);
    expect(chunks.at(-1)!.choices[0]!.finish_reason).toBe('content_filter');
  });

  it('a whole answer whose arguments carry it is withheld, with finish_reason content_filter', async () => {
    const response = await callTool('Project Falcon', false);
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(text).not.toContain('Falcon');
    const answer = JSON.parse(text);
    expect(answer.choices[0]).toMatchObject({ finish_reason: 'content_filter', message: { content: null } });
    expect(answer.choices[0].message.tool_calls).toBeUndefined();
  });

  it('the Responses API (translated from chat) withholds them too, streamed and whole', async () => {
    const responsesTools = tools('Project Falcon').map((tool) => ({ type: 'function', ...tool.function }));
    const ask = (stream: boolean) =>
      gw.call('/v1/responses', {
        method: 'POST',
        key: DEMO_KEY,
        body: JSON.stringify({ model: 'tools', input: 'plan the launch', tools: responsesTools, tool_choice: 'required', stream }),
      });
    // A Response echoes the request's tools (whose schema holds the term): look at what the model said.
    const events = (await (await ask(true)).text())
      .split('\n\n')
      .flatMap((event) => event.split('\n').filter((line) => line.startsWith('data: ')))
      .map((line) => JSON.parse(line.slice(6)));
    const said = events.map((e) => JSON.stringify({ ...e, response: e.response ? { ...e.response, tools: undefined } : undefined }));
    expect(said.some((e) => e.includes('function_call'))).toBe(true);
    expect(said.join('\n')).not.toContain('Falcon');
    expect(events.at(-1)).toMatchObject({ type: 'response.incomplete', response: { incomplete_details: { reason: 'content_filter' } } });
    const whole = await (await ask(false)).json();
    expect(JSON.stringify(whole.output)).not.toContain('Falcon');
    expect(whole).toMatchObject({ status: 'incomplete', incomplete_details: { reason: 'content_filter' } });
  });

  it('clean arguments reach the caller whole, streamed and not', async () => {
    const streamed = await (await callTool('the rocket', true)).text();
    const chunks = chunksOf(streamed);
    const args = chunks
      .flatMap((c) => c.choices.flatMap((ch) => ch.delta.tool_calls ?? []))
      .map((call) => call.function?.arguments ?? '')
      .join('');
    expect(JSON.parse(args)).toEqual({ plan: plan('the rocket') });
    expect(chunks.flatMap((c) => c.choices.map((ch) => ch.finish_reason)).filter((f) => f !== null)).toEqual(['tool_calls']);
    // The official client assembles the screened stream's pieces into the same call.
    const assembled = await gw.openai.chat.completions
      .stream({
        model: 'tools',
        messages: [{ role: 'user', content: 'plan the launch' }],
        tools: tools('the rocket') as never,
        tool_choice: 'required',
      })
      .finalChatCompletion();
    expect(assembled.choices[0]!.finish_reason).toBe('tool_calls');
    const call = assembled.choices[0]!.message.tool_calls![0]!;
    expect(call.type === 'function' && JSON.parse(call.function.arguments)).toEqual({ plan: plan('the rocket') });
    const whole = await (await callTool('the rocket', false)).json();
    expect(whole.choices[0].finish_reason).toBe('tool_calls');
    expect(JSON.parse(whole.choices[0].message.tool_calls[0].function.arguments)).toEqual({ plan: plan('the rocket') });
  });
});
