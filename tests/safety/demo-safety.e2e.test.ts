import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_KEY, startTestGateway, type TestGateway } from '../e2e/harness.js';

// npm start screens team demo: the seeded profile and blocklist, over HTTP.

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway({ demoSafety: true });
});
afterAll(async () => {
  await gw?.close();
});

async function chat(content: string): Promise<Response> {
  return gw.call('/v1/chat/completions', {
    method: 'POST',
    key: DEMO_KEY,
    body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content }], max_tokens: 8 }),
  });
}

describe('the demo team of local mode', () => {
  it('is screened by every layer of its seeded profile', async () => {
    const team = await (await gw.call('/manage/teams/demo')).json();
    expect(team.safety).toMatchObject({ blocklists: ['demo-blocklist'], pii: 'mask', promptShield: true, onOutage: 'closed' });
    expect((await chat('hello there')).status).toBe(200);
    for (const blocked of ['about project nightjar', 'SIM_VIOLENCE_6 here', 'SIM_ATTACK now']) {
      const response = await chat(blocked);
      expect(response.status, blocked).toBe(400);
      expect((await response.json()).error.code).toBe('content_filter');
    }
    const masked = await chat('write to jane@example.com');
    expect(masked.status).toBe(200);
    expect(JSON.stringify(gw.sims!.managed.stats().lastRequest?.body ?? gw.sims!.serverless.stats().lastRequest?.body)).toContain(
      '[EMAIL_1]',
    );
  });
});
