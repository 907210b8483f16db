import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UsageRecord } from '../../shared/usage/usage-record.js';
import { DEMO_KEY, putRoute, putSimDeployment, startTestGateway, type TestGateway } from './harness.js';

// The answer's end waits for its usage record to be durable: with the ledger's acknowledgement held back, a whole
// answer does not arrive and a stream delivers its content but not its last events until the record is in.
let gw: TestGateway;
const taken: UsageRecord[] = [];
let release: () => void = () => undefined;
let held: Promise<void> = Promise.resolve();

beforeAll(async () => {
  // Tokens paced by the simulator, so a stream's content comes in events of its own before its end.
  gw = await startTestGateway({ env: { SWITCHYARD_SIM_TOKENS_PER_SECOND: '200' } });
  // A deployment that streams (the simulator's OpenAI-compatible endpoint), behind its own alias.
  expect((await putSimDeployment(gw, 'durable-sim')).status).toBe(201);
  await putRoute(gw, 'durable-stream', ['durable-sim']);
  const ledger = gw.services.deps.ledger;
  const record = ledger.record.bind(ledger);
  ledger.record = async (entry: UsageRecord) => {
    taken.push(entry);
    await record(entry);
    await held;
  };
});
afterAll(async () => {
  release();
  await gw?.close();
});

function holdAcknowledgements(): void {
  held = new Promise<void>((resolve) => {
    release = resolve;
  });
}

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 10));
}

const chat = (stream: boolean, model = 'chat') =>
  fetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${DEMO_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hold on' }], max_tokens: 4, stream }),
  });

describe('an answer and its usage record', () => {
  it('sends a whole answer only once its record is acknowledged', async () => {
    holdAcknowledgements();
    const before = taken.length;
    let arrived = false;
    const answer = chat(false).then((response) => {
      arrived = true;
      return response;
    });
    await until(() => taken.length > before);
    // The record was taken; give a premature answer every chance to arrive.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(arrived).toBe(false);
    release();
    const response = await answer;
    expect(response.status).toBe(200);
    expect(((await response.json()) as { usage: { completion_tokens: number } }).usage.completion_tokens).toBe(4);
  });

  it("relays a stream's content at once but holds its end ([DONE]) until its record is acknowledged", async () => {
    holdAcknowledgements();
    const before = taken.length;
    const response = await chat(true, 'durable-stream');
    expect(response.status).toBe(200);
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    let ended = false;
    const reading = (async () => {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        text += decoder.decode(value, { stream: true });
      }
      ended = true;
    })();
    await until(() => taken.length > before && text.includes('"content"'));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(text).not.toContain('[DONE]');
    expect(ended).toBe(false);
    release();
    await reading;
    expect(text).toContain('data: [DONE]');
    expect(taken.at(-1)).toMatchObject({ status: 'ok', stream: true, outputTokens: 4 });
  });
});
