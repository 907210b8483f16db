import { countTokens } from 'gpt-tokenizer';
import { describe, expect, it } from 'vitest';
import { countTextTokens } from '../../shared/usage/count-tokens.js';

describe('countTextTokens', () => {
  it('counts text as the o200k tokenizer does when no run of non-space characters is long', () => {
    for (const text of [
      'hello world',
      'the quick brown fox\n\n  jumps',
      `${'word '.repeat(2_000)}end`,
      `https://example.com/${'a'.repeat(400)}`,
      '👩‍👩‍👧‍👦 ok',
    ]) {
      expect(countTextTokens(text)).toBe(countTokens(text));
    }
  });

  it('counts a long run without spaces piece by piece, so a hostile prompt costs linear work (fuzzing found one that took minutes)', () => {
    const run = 'ab1c'.repeat(300);
    const text = `before ${run} after`;
    const pieces = ['before ', run.slice(0, 512), run.slice(512, 1024), run.slice(1024), ' after'];
    expect(countTextTokens(text)).toBe(pieces.reduce((sum, piece) => sum + countTokens(piece), 0));
    // Each of these took the tokenizer minutes whole (its merges are quadratic in a pre-token's length).
    expect(countTextTokens('👩‍👩‍👧‍👦'.repeat(20_000))).toBeGreaterThan(20_000);
    const letters = Array.from({ length: 200_000 }, (_, i) => String.fromCharCode(97 + ((i * 7_919) % 26))).join('');
    expect(countTextTokens(letters)).toBeGreaterThan(200_000 / 512);
  });

  it('never cuts a surrogate pair in two', () => {
    const run = `${'x'.repeat(511)}😀${'y'.repeat(600)}`;
    expect(countTextTokens(run)).toBe(countTokens(`${'x'.repeat(511)}😀`) + countTokens('y'.repeat(512)) + countTokens('y'.repeat(88)));
  });
});
