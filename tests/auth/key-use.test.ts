import { describe, expect, it } from 'vitest';
import { KeyUseRecorder } from '../../shared/auth/key-use.js';

/** The store port's recordKeyUse, keeping what was written. */
function recordingPort(fail = false) {
  const writes: Array<[string, string]> = [];
  return {
    writes,
    async recordKeyUse(keyId: string, usedAt: string) {
      if (fail) throw new Error('store down');
      writes.push([keyId, usedAt]);
    },
  };
}

describe('KeyUseRecorder', () => {
  it('writes a key’s use at most once per interval, per key', async () => {
    const port = recordingPort();
    const recorder = new KeyUseRecorder(port, { intervalMs: 60_000 });
    for (let i = 0; i < 100; i++) recorder.noteUse('key_a', 1_000_000 + i * 100);
    recorder.noteUse('key_b', 1_000_000);
    expect(port.writes).toEqual([]);
    await recorder.settle();
    expect(port.writes).toEqual([
      ['key_a', new Date(1_000_000).toISOString()],
      ['key_b', new Date(1_000_000).toISOString()],
    ]);
    recorder.noteUse('key_a', 1_060_000);
    await recorder.settle();
    expect(port.writes).toHaveLength(3);
  });

  it('never writes on the caller’s turn, and a failing store only logs', async () => {
    const port = recordingPort(true);
    const logged: string[] = [];
    const recorder = new KeyUseRecorder(port, { log: (message) => logged.push(message) });
    expect(() => recorder.noteUse('key_a', 1)).not.toThrow();
    expect(logged).toEqual([]);
    await recorder.settle();
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatch(/key_a.*store down/);
  });
});
