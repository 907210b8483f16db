import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOpenAICompatibleSim, type OpenAICompatibleSim } from '../../local/simulators/openai-compatible-sim.js';
import { createSender, createUpstreamDispatcher, retryAfterMs } from '../../shared/upstreams/send-upstream.js';

let sim: OpenAICompatibleSim;
beforeAll(async () => {
  sim = await startOpenAICompatibleSim();
});
afterAll(async () => {
  await sim?.close();
});

const request = (url: string) => ({ url, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ messages: [{ role: 'user', content: 'x' }] }), streams: false });
const options = () => ({ signal: new AbortController().signal, headersTimeoutMs: 2_000, bodyTimeoutMs: 2_000 });

describe('the upstream sender', () => {
  it('refuses a host name that resolves to loopback outside local mode', async () => {
    const dispatcher = createUpstreamDispatcher({ allowLoopback: false });
    const send = createSender(dispatcher);
    const port = new URL(sim.url).port;
    await expect(send(request(`http://localhost:${port}/v1/chat/completions`), options())).rejects.toMatchObject({ code: 'EREFUSEDADDRESS' });
    await dispatcher.close();
  });

  it('reaches a loopback host name in local mode', async () => {
    const dispatcher = createUpstreamDispatcher({ allowLoopback: true });
    const send = createSender(dispatcher);
    const port = new URL(sim.url).port;
    const response = await send(request(`http://localhost:${port}/v1/chat/completions`), options());
    expect(response.status).toBe(200);
    expect(JSON.parse(await response.body.text()).object).toBe('chat.completion');
    await dispatcher.close();
  });

  it('reads retry-after-ms first, then retry-after in seconds or as a date', () => {
    const now = Date.parse('2026-11-28T12:00:00Z');
    expect(retryAfterMs({ 'retry-after-ms': '1500', 'retry-after': '9' }, now)).toBe(1500);
    expect(retryAfterMs({ 'retry-after': '2' }, now)).toBe(2000);
    expect(retryAfterMs({ 'retry-after': 'Sat, 28 Nov 2026 12:00:05 GMT' }, now)).toBe(5000);
    expect(retryAfterMs({ 'retry-after': 'soon' }, now)).toBeUndefined();
    expect(retryAfterMs({}, now)).toBeUndefined();
  });
});
