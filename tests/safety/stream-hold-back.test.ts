import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startContentSafetySim, type ContentSafetySim } from '../../local/simulators/content-safety-sim.js';
import { BlocklistMatcher } from '../../shared/safety/blocklist-matcher.js';
import { ContentSafetyClient } from '../../shared/safety/content-safety-client.js';
import { PiiMasker } from '../../shared/safety/mask-text.js';
import { safetyProfileSchema } from '../../shared/safety/safety-profile.js';
import { answerWindowScreen, type SafetyVerdict, type ScreenDeps } from '../../shared/safety/screen.js';
import { StreamHoldBack } from '../../shared/safety/stream-hold-back.js';
import { createSender, createUpstreamDispatcher } from '../../shared/upstreams/send-upstream.js';

const WINDOW = 64;
const words = (n: number, seed: number) =>
  Array.from({ length: n }, (_, i) => ['alpha', 'beta', 'gamma', 'delta', 'omega'][(i * 7 + seed) % 5]).join(' ');

function localDeps(): ScreenDeps {
  return {
    blocklists: new BlocklistMatcher([{ name: 'acme', items: ['Project Falcon'] }]),
    remote: undefined,
    masker: new PiiMasker(),
    now: () => 0,
  };
}

async function run(chunks: string[], profileFields: Record<string, unknown> = {}, deps = localDeps()) {
  const profile = safetyProfileSchema.parse({ windowChars: WINDOW, ...profileFields });
  const verdicts: SafetyVerdict[] = [];
  const holdBack = new StreamHoldBack(
    answerWindowScreen(profile, deps, (v) => verdicts.push(v)),
    { windowChars: WINDOW },
  );
  let released = '';
  let blocked = false;
  let mostHeld = 0;
  for (const chunk of chunks) {
    const step = await holdBack.push(chunk);
    released += step.text;
    blocked ||= step.blocked;
    mostHeld = Math.max(mostHeld, holdBack.heldChars);
  }
  const last = await holdBack.end();
  released += last.text;
  blocked ||= last.blocked;
  return { released, blocked, verdicts, mostHeld };
}

function splitAt(text: string, ...cuts: number[]): string[] {
  const points = [0, ...cuts, text.length];
  return points.slice(1).map((end, i) => text.slice(points[i], end));
}

/** What reached the caller must be the answer's own bytes, stopping before the flagged term. */
function expectNothingOf(term: string, released: string, original: string) {
  const bytes = Buffer.from(released, 'utf8');
  expect(Buffer.from(original, 'utf8').subarray(0, bytes.length).equals(bytes)).toBe(true);
  expect(bytes.length).toBeLessThanOrEqual(Buffer.byteLength(original.slice(0, original.indexOf(term)), 'utf8'));
}

describe('stream hold-back', () => {
  const term = 'Project Falcon';
  const answer = `${words(60, 1)} the ${term} plan ${words(40, 2)}`;

  it('never releases a flagged term split at any one chunk boundary', async () => {
    for (let cut = 0; cut <= answer.length; cut++) {
      const { released, blocked } = await run(splitAt(answer, cut));
      expect(blocked).toBe(true);
      expectNothingOf(term, released, answer);
    }
  });

  it('never releases it whatever the chunk size, nor obfuscated', async () => {
    const obfuscated = answer.replace(term, 'P r o j e c t  F 4 l c 0 n');
    for (const text of [answer, obfuscated]) {
      const flagged = text === answer ? term : 'P r o j e c t';
      for (let size = 1; size <= 3 * WINDOW; size++) {
        const chunks = Array.from({ length: Math.ceil(text.length / size) }, (_, i) => text.slice(i * size, (i + 1) * size));
        const { released, blocked } = await run(chunks);
        expect(blocked).toBe(true);
        expectNothingOf(flagged, released, text);
      }
    }
  });

  it('releases a clean answer whole, holding back at most two windows, a word and a chunk', async () => {
    const clean = `${words(300, 3)}.`;
    for (const size of [1, 7, 64, 500]) {
      const chunks = Array.from({ length: Math.ceil(clean.length / size) }, (_, i) => clean.slice(i * size, (i + 1) * size));
      const { released, blocked, mostHeld } = await run(chunks);
      expect(blocked).toBe(false);
      expect(released).toBe(clean);
      expect(mostHeld).toBeLessThanOrEqual(2 * WINDOW + 'omega '.length + size);
    }
  });

  it('does not block a word that only starts like an item ("Project Falconry")', async () => {
    const text = `${words(30, 4)} Project Falconry ${words(30, 5)}`;
    for (let cut = 0; cut <= text.length; cut += 3) {
      const { released, blocked } = await run(splitAt(text, cut));
      expect(blocked).toBe(false);
      expect(released).toBe(text);
    }
  });

  it('masks personal data split across chunks, never releasing any of it', async () => {
    const text = `${words(30, 6)} write to jane.doe@example.com or call +44 20 7946 0958 ${words(30, 7)}`;
    for (let cut = 0; cut <= text.length; cut++) {
      const { released, blocked } = await run(splitAt(text, cut), { pii: 'mask' });
      expect(blocked).toBe(false);
      expect(released).toBe(text.replace('jane.doe@example.com', '[EMAIL_1]').replace('+44 20 7946 0958', '[PHONE_1]'));
    }
  });
});

describe('stream hold-back with Content Safety', () => {
  const dispatcher = createUpstreamDispatcher({ allowLoopback: true });
  let sim: ContentSafetySim;
  beforeAll(async () => {
    sim = await startContentSafetySim();
  });
  afterAll(async () => {
    await sim.close();
    await dispatcher.close();
  });

  it('screens each window remotely and withholds the flagged one and all after it', async () => {
    const remote = new ContentSafetyClient({
      endpoint: sim.url,
      send: createSender(dispatcher),
      credential: async () => ({ kind: 'key', value: 'k' }),
      now: () => 0,
      timeoutMs: 1_000,
    });
    const text = `${words(50, 8)} SIM_VIOLENCE_6 ${words(50, 9)}`;
    const chunks = Array.from({ length: Math.ceil(text.length / 5) }, (_, i) => text.slice(i * 5, (i + 1) * 5));
    const { released, blocked, verdicts } = await run(chunks, { categories: { violence: 4 } }, { ...localDeps(), remote });
    expect(blocked).toBe(true);
    expectNothingOf('SIM_VIOLENCE_6', released, text);
    expect(verdicts.at(-1)).toMatchObject({ action: 'block', layer: 'analyze' });
    expect(verdicts.reduce((sum, v) => sum + v.billableRecords, 0)).toBe(sim.stats().textRecords);
    expect(sim.stats().analyzeCalls).toBe(verdicts.length);
  });
});
