/**
 * The form in which blocklist items and screened text are compared: look-alikes collapse to one letter, and
 * every letter remembers where it came from, so a match can be reported (and masked, or held back in a
 * stream) at its place in the original text.
 */

// Digits and symbols written for letters ("b0mb", "$ecret", "h@ck").
const LOOK_ALIKES: Readonly<Record<string, string>> = {
  '0': 'o',
  '1': 'i',
  '3': 'e',
  '4': 'a',
  '5': 's',
  '7': 't',
  '8': 'b',
  '9': 'g',
  '@': 'a',
  $: 's',
  // One letter for l and i, which '1' stands for alike.
  l: 'i',
};

// Folds toLowerCase leaves alone.
const CASE_FOLDS: Readonly<Record<string, string>> = { ß: 'ss', ς: 'σ', ı: 'i' };

const MARK = /\p{M}/u;
// Whitespace, zero-width and other format characters, punctuation and symbols: what obfuscation puts between letters.
const SEPARATOR = /[\s\p{Cf}\p{P}\p{S}\p{Cc}]/u;

/**
 * More separators than this in a row end a word for matching: "b o m b" and "b-o-m-b" are one word, a
 * paragraph break is not. It also bounds how far one match can stretch in the original text.
 */
export const MAX_SEPARATOR_RUN = 3;

export interface Skeleton {
  /** The folded letters and digits, separators removed. */
  text: string;
  /** For each unit of `text`: where in the original its code point starts, and where it ends. */
  starts: Int32Array;
  ends: Int32Array;
  /** For each unit of `text`: whether a word boundary (start, or separators) comes right before it. */
  boundaryBefore: Uint8Array;
  /** For each unit: whether more than MAX_SEPARATOR_RUN separators come right before it (no match spans that). */
  breakBefore: Uint8Array;
  /** Whether a boundary follows the last unit (the text ends in separators). */
  endsWithBoundary: boolean;
}

const foldCache = new Map<string, string | null>();

/** What one code point becomes: '' for a separator or a mark, else one or more folded units. */
function fold(codePoint: string): string | null {
  const cached = foldCache.get(codePoint);
  if (cached !== undefined) return cached;
  // (null is cached too: a separator)
  let folded: string | null;
  const compatible = codePoint.normalize('NFKC');
  if (compatible.length === 1 && LOOK_ALIKES[compatible] !== undefined) folded = LOOK_ALIKES[compatible]!;
  else if (MARK.test(codePoint)) folded = '';
  else if (SEPARATOR.test(compatible)) folded = null;
  else {
    let out = '';
    for (const unit of compatible.normalize('NFD')) {
      if (MARK.test(unit)) continue;
      const lower = CASE_FOLDS[unit] ?? unit.toLowerCase().normalize('NFD').replace(/\p{M}/gu, '');
      for (const letter of lower) out += LOOK_ALIKES[letter] ?? letter;
    }
    folded = out;
  }
  if (foldCache.size < 4096) foldCache.set(codePoint, folded);
  return folded;
}

/** The skeleton of `text`: NFKC, case folded, diacritics and separators dropped, look-alikes merged. Linear time. */
export function skeletonOf(text: string): Skeleton {
  const units: string[] = [];
  const starts: number[] = [];
  const ends: number[] = [];
  const boundaryBefore: number[] = [];
  const breakBefore: number[] = [];
  let separators = 1;
  let brokeSinceLast = true;
  let index = 0;
  for (const codePoint of text) {
    const start = index;
    index += codePoint.length;
    const folded = fold(codePoint);
    if (folded === null) {
      separators += 1;
      if (separators > MAX_SEPARATOR_RUN) brokeSinceLast = true;
      continue;
    }
    if (folded === '') {
      // A mark belongs to the letter before it: a match ending on that letter covers it too.
      if (ends.length > 0 && separators === 0) ends[ends.length - 1] = index;
      continue;
    }
    for (let k = 0; k < folded.length; k++) {
      units.push(folded[k]!);
      starts.push(start);
      ends.push(index);
      boundaryBefore.push(k === 0 && separators > 0 ? 1 : 0);
      breakBefore.push(k === 0 && brokeSinceLast ? 1 : 0);
    }
    separators = 0;
    brokeSinceLast = false;
  }
  return {
    text: units.join(''),
    starts: Int32Array.from(starts),
    ends: Int32Array.from(ends),
    boundaryBefore: Uint8Array.from(boundaryBefore),
    breakBefore: Uint8Array.from(breakBefore),
    endsWithBoundary: separators > 0,
  };
}
