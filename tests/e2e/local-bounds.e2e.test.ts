import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_GENERATED_TOKENS, SLICE_SIZE } from '../../local/simulators/sim-server.js';
import { DEMO_KEY, putRoute, startTestGateway, type TestGateway } from './harness.js';

// The gateway, its store and both simulators share this process and its event loop, as in `npm start`.
let gw: TestGateway;

beforeAll(async () => {
  gw = await startTestGateway();
  // An alias served by the OpenAI-compatible simulator alone, which honours n.
  await putRoute(gw, 'chat-serverless', ['sim-llama-serverless']);
});
afterAll(async () => {
  await gw?.close();
});

interface Observed {
  status: number;
  body: string;
  /** /health answers received while the big request was in flight. */
  healthAnswers: number;
  /** Turns of the event loop while the big request was in flight. */
  turns: number;
}

/** Sends one request and, until it has been answered in full, counts event-loop turns and polls /health. */
async function whileInFlight(body: Record<string, unknown>): Promise<Observed> {
  let inFlight = true;
  let turns = 0;
  const tick = () => {
    turns += 1;
    if (inFlight) setImmediate(tick);
  };
  setImmediate(tick);
  const big = gw
    .call('/v1/chat/completions', {
      method: 'POST',
      key: DEMO_KEY,
      body: JSON.stringify({ messages: [{ role: 'user', content: 'Tell me everything.' }], ...body }),
    })
    .then(async (response) => ({ status: response.status, body: await response.text() }))
    .finally(() => {
      inFlight = false;
    });
  let healthAnswers = 0;
  const poll = (async () => {
    while (inFlight) {
      const health = await gw.call('/health', { key: null });
      await health.arrayBuffer();
      if (health.status === 200 && inFlight) healthAnswers += 1;
    }
  })();
  const answer = await big;
  await poll;
  return { ...answer, healthAnswers, turns };
}

describe('one request cannot exhaust local mode', () => {
  it('answers n=128, max_tokens=1,000,000 from the managed simulator while /health keeps answering', async () => {
    const observed = await whileInFlight({ model: 'chat', n: 128, max_tokens: 1_000_000 });
    expect(observed.status).toBe(200);
    const answer = JSON.parse(observed.body);
    expect(answer.usage.completion_tokens).toBe(MAX_GENERATED_TOKENS);
    expect(observed.healthAnswers).toBeGreaterThanOrEqual(3);
    expect(observed.turns).toBeGreaterThanOrEqual(MAX_GENERATED_TOKENS / SLICE_SIZE);
  });

  it('answers n=128, max_tokens=1,000,000 with 128 choices sharing the cap, streamed or not, while /health keeps answering', async () => {
    const whole = await whileInFlight({ model: 'chat-serverless', n: 128, max_tokens: 1_000_000 });
    expect(whole.status).toBe(200);
    const answer = JSON.parse(whole.body);
    expect(answer.choices).toHaveLength(128);
    expect(answer.usage.completion_tokens).toBe(MAX_GENERATED_TOKENS);
    expect(whole.healthAnswers).toBeGreaterThanOrEqual(3);
    expect(whole.turns).toBeGreaterThanOrEqual(MAX_GENERATED_TOKENS / SLICE_SIZE);

    const streamed = await whileInFlight({
      model: 'chat-serverless',
      n: 128,
      max_tokens: 1_000_000,
      stream: true,
      stream_options: { include_usage: true },
    });
    expect(streamed.status).toBe(200);
    const events = streamed.body.split('\n\n').filter((event) => event.startsWith('data: ') && event !== 'data: [DONE]');
    expect(streamed.body.trimEnd().endsWith('data: [DONE]')).toBe(true);
    expect(JSON.parse(events.at(-1)!.slice(6)).usage.completion_tokens).toBe(MAX_GENERATED_TOKENS);
    expect(streamed.healthAnswers).toBeGreaterThanOrEqual(3);
    expect(streamed.turns).toBeGreaterThanOrEqual(MAX_GENERATED_TOKENS / SLICE_SIZE);
  });

  it('refuses n=128, max_tokens=100,000,000 with a clean 400 and stays healthy', async () => {
    const observed = await whileInFlight({ model: 'chat', n: 128, max_tokens: 100_000_000 });
    expect(observed.status).toBe(400);
    expect(JSON.parse(observed.body).error).toMatchObject({ type: 'invalid_request_error', param: 'max_tokens' });
    expect((await gw.call('/health', { key: null })).status).toBe(200);
  });

  it('writes every usage record and holds none once they are written', async () => {
    await gw.flushUsage();
    expect(gw.services.deps.ledger.stats).toMatchObject({ bufferedRecords: 0, pendingRollups: 0, droppedRecords: 0 });
  });
});
