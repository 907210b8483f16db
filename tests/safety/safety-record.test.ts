import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startContentSafetySim, type ContentSafetySim } from '../../local/simulators/content-safety-sim.js';
import { ContentSafetyClient } from '../../shared/safety/content-safety-client.js';
import { chatPromptTexts } from '../../shared/safety/prompt-texts.js';
import { BlocklistMatchers, RequestSafety } from '../../shared/safety/request-safety.js';
import { safetyProfileSchema } from '../../shared/safety/safety-profile.js';
import { safetyRecord } from '../../shared/safety/safety-record.js';
import type { SafetyVerdict } from '../../shared/safety/screen.js';
import { createSender, createUpstreamDispatcher } from '../../shared/upstreams/send-upstream.js';

const dispatcher = createUpstreamDispatcher({ allowLoopback: true });
let sim: ContentSafetySim;
let clock = 0;
beforeAll(async () => {
  sim = await startContentSafetySim();
});
afterAll(async () => {
  await sim.close();
  await dispatcher.close();
});

const request = (fields: Record<string, unknown>) =>
  new RequestSafety({
    profile: safetyProfileSchema.parse({ pii: 'mask', categories: { hate: 2, violence: 4 }, windowChars: 64, ...fields }),
    blocklists: new Map(),
    matchers: new BlocklistMatchers(),
    remote: new ContentSafetyClient({
      endpoint: sim.url,
      send: createSender(dispatcher),
      credential: async () => ({ kind: 'key', value: 'k' }),
      now: () => clock,
      timeoutMs: 1_000,
    }),
    now: () => (clock += 3),
  });

describe('the safety record of a request', () => {
  it('sums billing and time over the prompt and every answer window, keeping the worst of each', async () => {
    const safety = request({});
    const prompt = await safety.screenPrompt(
      chatPromptTexts({ messages: [{ role: 'user', content: 'mail a@b.io about SIM_VIOLENCE_2' }] }),
    );
    const windows: SafetyVerdict[] = [];
    const holdBack = safety.answerHoldBack((v) => windows.push(v));
    for (const chunk of ['a calm answer '.repeat(10), 'then SIM_HATE_6 appears ', 'and more text '.repeat(10)]) await holdBack.push(chunk);
    await holdBack.end();
    const record = safetyRecord(prompt.verdict, windows)!;
    expect(record).toMatchObject({
      mode: 'enforce',
      action: 'block',
      finding: 'block',
      flagged: { on: 'answer', layer: 'analyze' },
      severities: { hate: 6, violence: 2 },
      reachable: true,
    });
    expect(record.billableRecords).toBe(sim.stats().textRecords);
    expect(record.billableRecords).toBe(1 + windows.length);
    expect(record.safetyMs).toBeGreaterThan(0);
    expect(JSON.stringify(record)).not.toMatch(/a@b\.io|EMAIL/);
  });

  it('records an outage and what audit mode would have blocked', async () => {
    sim.setOptions({ down: true });
    try {
      const { verdict } = await request({ mode: 'audit' }).screenPrompt(chatPromptTexts({ messages: [{ role: 'user', content: 'hi' }] }));
      expect(safetyRecord(verdict, [])).toMatchObject({
        mode: 'audit',
        action: 'allow',
        finding: 'block',
        flagged: { on: 'prompt', layer: 'outage' },
        reachable: false,
      });
    } finally {
      sim.setOptions({ down: false });
    }
    expect(safetyRecord(undefined, [])).toBeUndefined();
  });
});
