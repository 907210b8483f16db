import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestSafetyFor } from '../../shared/gateway/request-safety-for.js';
import { chatPromptTexts } from '../../shared/safety/prompt-texts.js';
import { startTestGateway, type TestGateway } from '../e2e/harness.js';

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(async () => {
  await gw?.close();
});

describe("a request's screening from its team", () => {
  it("screens nothing for a team without a profile, and through the local gateway's layers for one with", async () => {
    const deps = gw.services.deps;
    expect(requestSafetyFor(deps.catalog.current().teams.get('demo')!, deps)).toBeUndefined();

    expect((await gw.call('/manage/blocklists/codes', { method: 'PUT', body: JSON.stringify({ items: ['Project Falcon'] }) })).status).toBe(
      201,
    );
    const put = await gw.call('/manage/teams/screened', {
      method: 'PUT',
      body: JSON.stringify({ name: 'Screened', safety: { blocklists: ['codes'], pii: 'mask', categories: { violence: 4 } } }),
    });
    expect(put.status).toBe(201);
    const team = deps.catalog.current().teams.get('screened')!;
    const safety = requestSafetyFor(team, deps)!;
    const texts = (content: string) => chatPromptTexts({ messages: [{ role: 'user', content }] });
    expect((await safety.screenPrompt(texts('the project falcon plan'))).verdict).toMatchObject({ action: 'block', layer: 'blocklist' });
    expect((await safety.screenPrompt(texts('a@b.io and SIM_VIOLENCE_6'))).verdict).toMatchObject({
      action: 'block',
      layer: 'analyze',
      pii: { email: 1 },
    });
    const masked = await safety.screenPrompt(texts('a@b.io only'));
    expect(masked.segments).toEqual(['[EMAIL_1] only']);
    // The same lists in the same snapshot: one matcher, built once.
    expect(deps.safetyMatchers.for(['codes'], deps.catalog.current().blocklists)).toBe(
      deps.safetyMatchers.for(['codes'], deps.catalog.current().blocklists),
    );
  });
});
