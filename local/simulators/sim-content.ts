/**
 * Deterministic content for the Azure endpoint simulators: chat replies whose length in tokens is
 * exact, and unit embedding vectors. No contract prescribes the text itself; what the contracts
 * (AZURE.md §1.6, §2.4, §3.3) fix is that usage is counted in tokens, so the one property that
 * matters is that `countTextTokens(reply)` equals the completion tokens a simulator reports.
 */
import { hashText, seededRandom } from '../../shared/seeded-random.js';
import { SliceYielder } from './sim-server.js';

// Every entry is a single o200k_base token both as " word" and as "Word". Because the tokenizer's
// pre-split keeps each space-led word in its own piece, a reply built from them tokenizes to
// exactly one token per word (tests/local/simulators.test.ts re-checks the whole list).
const WORDS = [
  'alpha',
  'beta',
  'gamma',
  'delta',
  'river',
  'stone',
  'light',
  'green',
  'quiet',
  'north',
  'cloud',
  'paper',
  'garden',
  'silver',
  'window',
  'market',
  'bridge',
  'signal',
  'orange',
  'winter',
  'summer',
  'forest',
  'ocean',
  'copper',
  'amber',
  'island',
  'planet',
  'rocket',
  'engine',
  'yellow',
  'golden',
  'bright',
] as const;

/** The vocabulary replies are drawn from, exposed so tests can check each word is one token. */
export const REPLY_WORDS: readonly string[] = WORDS;

/**
 * The reply to a prompt, one string per token, so streams can send a chunk per token and the
 * joined text tokenizes to exactly `tokenCount` tokens. Lazy: a stream holds one token at a time.
 */
export function* replyTokens(prompt: string, tokenCount: number): Generator<string, void, undefined> {
  const next = seededRandom(hashText(prompt));
  for (let i = 0; i < tokenCount; i++) {
    const word = WORDS[Math.floor(next() * WORDS.length)] ?? WORDS[0];
    yield i === 0 ? word.charAt(0).toUpperCase() + word.slice(1) : ` ${word}`;
  }
}

/**
 * The whole reply as text, built a slice at a time with event-loop turns between slices; pass the
 * request's yielder when one request builds several replies.
 */
export async function replyText(prompt: string, tokenCount: number, slices = new SliceYielder()): Promise<string> {
  let text = '';
  for (const token of replyTokens(prompt, tokenCount)) {
    text += token;
    await slices.step();
  }
  return text;
}

/** The prompt that seeds choice `index` of a reply: choice 0 is the reply to the prompt itself. */
export function choiceSeed(prompt: string, index: number): string {
  return index === 0 ? prompt : `${prompt}\u0000choice ${index}`;
}

/**
 * A unit-length vector of `dimensions` floats determined by `input`. Values are rounded to float32,
 * as the real service's are, so the float and base64 encodings of one input decode identically.
 */
export function embeddingVector(input: string, dimensions: number): number[] {
  const next = seededRandom(hashText(input));
  const values = Array.from({ length: dimensions }, () => next() * 2 - 1);
  const norm = Math.sqrt(values.reduce((sum, v) => sum + v * v, 0)) || 1;
  return values.map((v) => Math.fround(v / norm));
}

/** Base64 of the vector as little-endian float32, the wire form of `encoding_format: "base64"`. */
export function embeddingToBase64(vector: readonly number[]): string {
  const bytes = Buffer.alloc(vector.length * 4);
  for (const [i, value] of vector.entries()) bytes.writeFloatLE(value, i * 4);
  return bytes.toString('base64');
}
