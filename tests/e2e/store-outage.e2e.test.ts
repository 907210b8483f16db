import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_KEY, startTestGateway, type TestGateway } from './harness.js';

let gw: TestGateway;

beforeAll(async () => {
  gw = await startTestGateway({ env: { SWITCHYARD_CATALOG_REFRESH_MS: '500', SWITCHYARD_SHUTDOWN_FLUSH_MS: '500' } });
  await gw.store!.stop();
});
afterAll(async () => {
  await gw?.close();
});

describe('with the Cosmos store down', () => {
  it('keeps serving models from the configuration it last loaded, holding usage until the store is back', async () => {
    const { data, response } = await gw.openai.chat.completions
      .create({ model: 'chat', messages: [{ role: 'user', content: 'still?' }], max_tokens: 3 })
      .withResponse();
    expect(response.status).toBe(200);
    expect(data.usage!.completion_tokens).toBe(3);
    await expect(gw.flushUsage()).rejects.toBeTruthy();
    expect(gw.services.deps.ledger.stats.bufferedRecords).toBeGreaterThanOrEqual(1);
  });

  it('says it is not ready, and answers management and usage calls with 503 store_unavailable and Retry-After', async () => {
    const ready = await gw.call('/health/ready', { key: null });
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ status: 'not_ready', checks: { store: 'unreachable' } });
    expect((await gw.call('/health', { key: null })).status).toBe(200);
    for (const response of [
      await gw.call('/manage/deployments'),
      await gw.call('/usage?from=2026-01-01&to=2026-01-02', { key: DEMO_KEY }),
    ]) {
      expect(response.status).toBe(503);
      expect(response.headers.get('retry-after')).toBe('1');
      expect((await response.json()).error.code).toBe('store_unavailable');
    }
  });
});
