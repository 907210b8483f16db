import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_KEY, putRoute, putSimDeployment, startTestGateway, type TestGateway } from './harness.js';

// Server-Timing over real HTTP: every inference answer, whole and streamed, and an error after routing, carries
// gateway and upstream parts that add up to the total the server measured. Durations are checked for shape and
// sign only; their size is the bench's business.

let gw: TestGateway;

beforeAll(async () => {
  gw = await startTestGateway();
  expect((await putSimDeployment(gw, 'timing-serverless')).status).toBe(201);
  await putRoute(gw, 'timing', ['timing-serverless']);
});
afterAll(async () => {
  await gw?.close();
});

/** Parses `name;dur=ms, …` per the W3C Server Timing syntax into name → duration. */
function serverTiming(header: string | null): Record<string, number> {
  expect(header).not.toBeNull();
  const entries: Record<string, number> = {};
  for (const entry of header!.split(',')) {
    const match = /^\s*([!#$%&'*+\-.^_`|~0-9A-Za-z]+);dur=(\d+(?:\.\d)?)\s*$/.exec(entry);
    expect(match, `entry ${JSON.stringify(entry)}`).not.toBeNull();
    entries[match![1]!] = Number(match![2]);
  }
  return entries;
}

function expectParts(header: string | null, names = ['gateway', 'upstream', 'total']): Record<string, number> {
  const timing = serverTiming(header);
  expect(Object.keys(timing)).toEqual(names);
  for (const dur of Object.values(timing)) expect(dur).toBeGreaterThanOrEqual(0);
  // Each part is rounded to 0.1 ms on its own.
  expect(Math.abs(timing.gateway! + timing.upstream! - timing.total!)).toBeLessThanOrEqual(0.1);
  return timing;
}

describe('Server-Timing on inference answers', () => {
  it('is on a whole chat answer', async () => {
    const { response } = await gw.openai.chat.completions
      .create({ model: 'timing', messages: [{ role: 'user', content: 'hi' }], max_tokens: 3 })
      .withResponse();
    expectParts(response.headers.get('server-timing'));
  });

  it('is on a streamed chat answer, whose headers carry what is known when they go out', async () => {
    const { data: stream, response } = await gw.openai.chat.completions
      .create({ model: 'timing', messages: [{ role: 'user', content: 'hi' }], max_tokens: 3, stream: true })
      .withResponse();
    expectParts(response.headers.get('server-timing'));
    let chunks = 0;
    for await (const _chunk of stream) chunks += 1;
    expect(chunks).toBeGreaterThan(0);
  });

  it('is on embeddings', async () => {
    const { response } = await gw.openai.embeddings.create({ model: 'timing', input: 'hi' }).withResponse();
    expectParts(response.headers.get('server-timing'));
  });

  it('is on a whole and a streamed Responses answer', async () => {
    const whole = await gw.openai.responses.create({ model: 'timing', input: 'hi', max_output_tokens: 16 }).withResponse();
    expectParts(whole.response.headers.get('server-timing'));
    const streamed = await gw.openai.responses.create({ model: 'timing', input: 'hi', max_output_tokens: 16, stream: true }).withResponse();
    expectParts(streamed.response.headers.get('server-timing'));
    for await (const _event of streamed.data);
  });

  it('is on an error answered after routing, as one header', async () => {
    gw.sims!.serverless.injectFaults([{ kind: 'status', status: 500 }]);
    const response = await gw.call('/v1/chat/completions', {
      key: DEMO_KEY,
      method: 'POST',
      body: JSON.stringify({ model: 'timing', messages: [{ role: 'user', content: 'hi' }], max_tokens: 3 }),
    });
    expect(response.status).toBe(502);
    expect((await response.json()) as unknown).toMatchObject({ error: { code: 'upstream_error' } });
    expectParts(response.headers.get('server-timing'));
  });

  it('is not on an answer refused before routing', async () => {
    const response = await gw.call('/v1/chat/completions', {
      key: DEMO_KEY,
      method: 'POST',
      body: JSON.stringify({ model: 'no-such-alias', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(response.status).toBe(404);
    expect(response.headers.get('server-timing')).toBeNull();
  });
});
