import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startTestGateway } from './harness.js';

// Its own file: the gateways it starts and stops one after the other each become the process's services.
describe('the configured admin key', () => {
  it('is replaced when SWITCHYARD_ADMIN_KEY changes: restarted on the same store with key B, key A answers 401', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'sy-admin-key-'));
    const keyA = 'sya-configured-key-a-0123456789abcdef';
    const keyB = 'sya-configured-key-b-0123456789abcdef';
    try {
      const first = await startTestGateway({ ephemeralStore: false, env: { SWITCHYARD_DATA_DIR: dataDir, SWITCHYARD_ADMIN_KEY: keyA } });
      const ops = await (await first.call('/manage/keys', { method: 'POST', key: keyA, body: JSON.stringify({ role: 'ops' }) })).json();
      expect((await first.call('/manage/keys', { key: keyA })).status).toBe(200);
      await first.close();

      const second = await startTestGateway({ ephemeralStore: false, env: { SWITCHYARD_DATA_DIR: dataDir, SWITCHYARD_ADMIN_KEY: keyB } });
      try {
        expect((await second.call('/manage/keys', { key: keyA })).status).toBe(401);
        const listed = await second.call('/manage/keys', { key: keyB });
        expect(listed.status).toBe(200);
        const admins = (await listed.json()).data.filter((k: { configuredBy: string | null }) => k.configuredBy === 'SWITCHYARD_ADMIN_KEY');
        expect(admins).toHaveLength(1);
        // Keys issued through the API are not touched by the change.
        expect((await second.call('/manage/routes', { key: ops.key })).status).toBe(200);
      } finally {
        await second.close();
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
