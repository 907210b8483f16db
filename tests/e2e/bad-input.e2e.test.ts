import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_KEY, startTestGateway, type TestGateway } from './harness.js';

let gw: TestGateway;

beforeAll(async () => {
  gw = await startTestGateway({ env: { SWITCHYARD_MAX_BODY_BYTES: String(10 * 1024 * 1024) } });
});
afterAll(async () => {
  await gw?.close();
});

const chat = (body: BodyInit, headers: Record<string, string> = {}, key: string | null = DEMO_KEY) =>
  gw.call('/v1/chat/completions', { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers }, key });

async function expectError(response: Response, status: number, code: string): Promise<Record<string, unknown>> {
  expect(response.status).toBe(status);
  expect(response.headers.get('x-request-id')).toBeTruthy();
  const body = await response.json();
  expect(Object.keys(body)).toEqual(['error']);
  expect(body.error).toMatchObject({ code, type: expect.any(String), message: expect.any(String) });
  expect('param' in body.error).toBe(true);
  expect(JSON.stringify(body)).not.toMatch(/node_modules|\.ts:\d+|at async/);
  return body.error;
}

describe('bad input gets a clear 4xx in the OpenAI error shape and the process stays healthy', () => {
  it('refuses a missing key, a wrong key and a malformed Authorization header with 401', async () => {
    await expectError(await chat('{}', {}, null), 401, 'invalid_api_key');
    await expectError(await chat('{}', {}, 'sy-not-a-real-key-0000000000000000'), 401, 'invalid_api_key');
    await expectError(await chat('{}', { authorization: 'Basic abc' }, null), 401, 'invalid_api_key');
  });

  it('refuses malformed JSON, a non-object body and wrong types with 400 naming the field', async () => {
    await expectError(await chat('{"model": "chat", '), 400, 'invalid_json');
    await expectError(await chat('[1,2,3]'), 400, 'invalid_request_error');
    const wrongType = await expectError(await chat(JSON.stringify({ model: 'chat', messages: 'hello' })), 400, 'invalid_request_error');
    expect(wrongType.param).toBe('messages');
    const empty = await expectError(await chat(JSON.stringify({ model: 'chat', messages: [] })), 400, 'invalid_request_error');
    expect(empty.message).toMatch(/at least one message/);
    const badStream = await expectError(
      await chat(JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'x' }], stream: 'yes' })),
      400,
      'invalid_request_error',
    );
    expect(badStream.param).toBe('stream');
    const noModel = await expectError(
      await chat(JSON.stringify({ messages: [{ role: 'user', content: 'x' }] })),
      400,
      'invalid_request_error',
    );
    expect(noModel.param).toBe('model');
  });

  it('refuses n outside 1..128 and token limits above 1,000,000 with 400 naming the field', async () => {
    const ask = (fields: Record<string, unknown>) =>
      chat(JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'x' }], ...fields }));
    for (const [fields, param, message] of [
      [{ n: 129 }, 'n', /at most 128/],
      [{ n: 0 }, 'n', /at least 1/],
      [{ n: 1.5 }, 'n', /integer/],
      [{ max_tokens: 100_000_000 }, 'max_tokens', /at most 1000000/],
      [{ max_tokens: 1_000_001 }, 'max_tokens', /at most 1000000/],
      [{ max_completion_tokens: 100_000_000 }, 'max_completion_tokens', /at most 1000000/],
      [{ max_tokens: 0 }, 'max_tokens', /at least 1/],
      [{ max_tokens: -5 }, 'max_tokens', /at least 1/],
      [{ n: 128, max_tokens: 100_000_000 }, 'max_tokens', /at most 1000000/],
    ] as const) {
      const error = await expectError(await ask(fields), 400, 'invalid_request_error');
      expect(error.param).toBe(param);
      expect(error.message).toMatch(message);
    }
  });

  it('answers 404 model_not_found for an unknown alias and 403 model_not_allowed for one the team may not use', async () => {
    await expectError(await chat(JSON.stringify({ model: 'nope', messages: [{ role: 'user', content: 'x' }] })), 404, 'model_not_found');
    const put = await gw.call('/manage/routes/secret-alias', {
      method: 'PUT',
      body: JSON.stringify({ targets: [{ deployment: 'sim-llama-serverless' }] }),
    });
    expect(put.status).toBe(201);
    await expectError(
      await chat(JSON.stringify({ model: 'secret-alias', messages: [{ role: 'user', content: 'x' }] })),
      403,
      'model_not_allowed',
    );
  });

  it('refuses __proto__ keys, invalid UTF-8 and hostile nesting', async () => {
    await expectError(
      await chat('{"model":"chat","messages":[{"role":"user","content":"x"}],"__proto__":{"admin":true}}'),
      400,
      'invalid_request_error',
    );
    const invalidUtf8 = new Uint8Array([
      ...Buffer.from('{"model":"chat","messages":[{"role":"user","content":"'),
      0xff,
      0xfe,
      ...Buffer.from('"}]}'),
    ]);
    await expectError(await chat(invalidUtf8), 400, 'invalid_json');
    await expectError(await chat('['.repeat(100_000) + ']'.repeat(100_000)), 400, 'invalid_json');
  });

  it('refuses a 12 MB body with 413, whether it declares its length or streams it', async () => {
    const big = JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'x'.repeat(12 * 1024 * 1024) }] });
    await expectError(await chat(big), 413, 'request_too_large');
    const chunks = Buffer.from(big);
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < chunks.length; i += 1 << 20) controller.enqueue(chunks.subarray(i, i + (1 << 20)));
        controller.close();
      },
    });
    const response = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      body: stream,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${DEMO_KEY}` },
      duplex: 'half',
    } as RequestInit);
    await expectError(response, 413, 'request_too_large');
  });

  it('refuses a body that is not JSON with 415', async () => {
    await expectError(await chat('model=chat', { 'content-type': 'application/x-www-form-urlencoded' }), 415, 'unsupported_media_type');
  });

  it('requires api-version on the Azure OpenAI path', async () => {
    const response = await gw.call('/openai/deployments/chat/chat/completions', {
      method: 'POST',
      key: DEMO_KEY,
      body: JSON.stringify({ messages: [{ role: 'user', content: 'x' }] }),
    });
    await expectError(response, 400, 'invalid_request_error');
  });

  it('answers unknown paths with an OpenAI-shaped 404', async () => {
    await expectError(await gw.call('/v1/nothing-here', { key: DEMO_KEY }), 404, 'not_found');
  });

  it('keeps answering after all of that', async () => {
    expect((await gw.call('/health', { key: null })).status).toBe(200);
    const ready = await gw.call('/health/ready', { key: null });
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ready', checks: { store: 'ok', config: 'loaded' } });
    const { data } = await gw.openai.chat.completions
      .create({ model: 'chat', messages: [{ role: 'user', content: 'still there?' }], max_tokens: 3 })
      .withResponse();
    expect(data.usage!.completion_tokens).toBe(3);
  });
});
