import type { TokenCredential } from '@azure/identity';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startContentSafetySim, type ContentSafetySim } from '../../local/simulators/content-safety-sim.js';
import { createContentSafety } from '../../shared/composition/content-safety.js';
import { createSender, createUpstreamDispatcher } from '../../shared/upstreams/send-upstream.js';

const dispatcher = createUpstreamDispatcher({ allowLoopback: true });
const send = createSender(dispatcher);
let sim: ContentSafetySim;
const scopes: string[] = [];
/** A TokenCredential (the @azure/identity interface) that hands out one token and records the scopes asked. */
const credential: TokenCredential = {
  async getToken(scope) {
    scopes.push(...(Array.isArray(scope) ? scope : [scope]));
    return { token: 'entra-token', expiresOnTimestamp: Date.now() + 3_600_000 };
  },
};

beforeAll(async () => {
  sim = await startContentSafetySim({ apiKeys: ['the-key'], acceptBearerTokens: ['entra-token'] });
});
afterAll(async () => {
  await sim.close();
  await dispatcher.close();
});

describe('Content Safety from settings', () => {
  it('is not configured without an endpoint', () => {
    expect(
      createContentSafety(
        { endpoint: undefined, key: undefined, timeoutMs: 1000 },
        { send, tokenCredential: () => credential, now: Date.now },
      ),
    ).toBeUndefined();
  });

  it('uses Entra ID for cognitiveservices by default, one token for many calls', async () => {
    const port = createContentSafety(
      { endpoint: sim.url, key: undefined, timeoutMs: 1000 },
      { send, tokenCredential: () => credential, now: Date.now },
    )!;
    for (let i = 0; i < 3; i++) expect((await port.analyze({ text: 'hi', categories: ['Hate'] })).ok).toBe(true);
    expect(scopes).toEqual(['https://cognitiveservices.azure.com/.default']);
    expect(sim.stats().lastRequest!.headers.authorization).toBe('Bearer entra-token');
  });

  it('uses the key when one is set', async () => {
    const port = createContentSafety(
      { endpoint: sim.url, key: 'the-key', timeoutMs: 1000 },
      { send, tokenCredential: () => credential, now: Date.now },
    )!;
    expect((await port.shieldPrompt({ userPrompt: 'hi', documents: [] })).ok).toBe(true);
    expect(sim.stats().lastRequest!.headers['ocp-apim-subscription-key']).toBe('the-key');
    expect(sim.stats().lastRequest!.headers.authorization).toBeUndefined();
  });
});
