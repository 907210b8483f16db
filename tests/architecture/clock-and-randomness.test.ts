import { describe, expect, it } from 'vitest';
import { sharedSources } from './source-files.js';

/**
 * Where shared/ may read the clock or a random source itself: the composition root, which passes them to
 * everything else, and the adapters that stamp what they write (the Cosmos store, the undici sender, the
 * stdout logger's line time). Everywhere else they are parameters, so decisions repeat in tests.
 */
const ALLOWED = [/^composition\//, /^store\//, /^upstreams\/send-upstream\.ts$/, /^log\.ts$/];

/**
 * Files not yet converted, each with the call it still makes; the last test below fails as soon as an entry
 * is no longer needed, so this list only shrinks. (The last one, the aml-score answer's id and `created`, now
 * comes from the clock and id source its protocol room is given.)
 */
const PENDING: Record<string, string[]> = {};

const CALLS: Array<[RegExp, string]> = [
  [/\bDate\.now\b/, 'Date.now'],
  [/\bnew\s+Date\s*\(\s*\)/, 'new Date()'],
  [/\bMath\.random\b/, 'Math.random'],
  [/\bcrypto\.(?:randomUUID|getRandomValues|randomBytes|randomInt)\b/, 'global crypto randomness'],
  [/\bperformance\.now\b/, 'performance.now'],
];
const RANDOM_IMPORT = /\bimport\s*\{([^}]*)\}\s*from\s*['"](?:node:)?crypto['"]/g;
const RANDOM_NAMES = /\b(randomUUID|randomBytes|randomInt|randomFill|randomFillSync|getRandomValues|webcrypto)\b/g;

// Comments may name what they avoid ("Math.random is not sticky"); strings never hold calls here.
function withoutComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
}

function clockAndRandomUses(text: string): string[] {
  const code = withoutComments(text);
  const uses: string[] = [];
  for (const [pattern, name] of CALLS) if (pattern.test(code)) uses.push(name);
  for (const [, names] of code.matchAll(RANDOM_IMPORT)) {
    for (const [name] of names!.matchAll(RANDOM_NAMES)) uses.push(`${name} imported from node:crypto`);
  }
  return uses.sort();
}

describe('the clock and randomness in shared/', () => {
  const offenders = Object.fromEntries(
    sharedSources()
      .filter((file) => !ALLOWED.some((allowed) => allowed.test(file.path)))
      .map((file) => [file.path, clockAndRandomUses(file.text)] as const)
      .filter(([, uses]) => uses.length > 0),
  );

  it('are read only by the composition root and the adapters; everything else takes them as parameters', () => {
    const unexpected = Object.fromEntries(Object.entries(offenders).filter(([path]) => !(path in PENDING)));
    expect(unexpected).toEqual({});
  });

  it('list no pending file that has been converted already', () => {
    const pending = Object.fromEntries(Object.keys(PENDING).map((path) => [path, offenders[path] ?? []]));
    expect(pending).toEqual(Object.fromEntries(Object.entries(PENDING).map(([path, uses]) => [path, [...uses].sort()])));
  });

  it('recognises every form it forbids, and not a parameter that happens to share a name', () => {
    const sample = [
      "import { randomUUID, createHash } from 'node:crypto';",
      'const a = Date.now(); const b = new Date(); const c = Math.random(); const d = crypto.getRandomValues(x);',
      'const e = performance.now();',
    ].join('\n');
    expect(clockAndRandomUses(sample)).toEqual(
      [
        'Date.now',
        'Math.random',
        'global crypto randomness',
        'new Date()',
        'performance.now',
        'randomUUID imported from node:crypto',
      ].sort(),
    );
    const injected =
      'function f(randomBytes: RandomBytes, now: () => number) { return [randomBytes(9), new Date(now())]; } // Date.now is not used';
    expect(clockAndRandomUses(injected)).toEqual([]);
  });
});
