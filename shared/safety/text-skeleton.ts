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

// ASCII, most of any text, folded once up front to one unit each (or -1 for a separator): the per-character cost
// is then a table read.
const ASCII_UNITS = Int32Array.from({ length: 128 }, (_, code) => {
  const folded = fold(String.fromCharCode(code));
  if (folded === null) return -1;
  if (folded.length !== 1) throw new Error(`ASCII ${code} folds to ${folded.length} units`);
  return folded.charCodeAt(0);
});

const UTF16 = new TextDecoder('utf-16le');

/** Typed columns, one entry per skeleton unit; sized for the text, grown only when folds expand it (ß → ss). */
class Columns {
  size = 0;
  units: Uint16Array;
  starts: Int32Array;
  ends: Int32Array;
  boundaryBefore: Uint8Array;
  breakBefore: Uint8Array;

  constructor(capacity: number) {
    this.units = new Uint16Array(capacity);
    this.starts = new Int32Array(capacity);
    this.ends = new Int32Array(capacity);
    this.boundaryBefore = new Uint8Array(capacity);
    this.breakBefore = new Uint8Array(capacity);
  }

  push(unit: number, start: number, end: number, boundary: boolean, broke: boolean): void {
    if (this.size === this.units.length) this.grow();
    const at = this.size++;
    this.units[at] = unit;
    this.starts[at] = start;
    this.ends[at] = end;
    this.boundaryBefore[at] = boundary ? 1 : 0;
    this.breakBefore[at] = broke ? 1 : 0;
  }

  private grow(): void {
    const capacity = this.units.length * 2;
    const grown = <T extends Uint16Array | Int32Array | Uint8Array>(array: T, make: (n: number) => T): T => {
      const next = make(capacity);
      next.set(array);
      return next;
    };
    this.units = grown(this.units, (n) => new Uint16Array(n));
    this.starts = grown(this.starts, (n) => new Int32Array(n));
    this.ends = grown(this.ends, (n) => new Int32Array(n));
    this.boundaryBefore = grown(this.boundaryBefore, (n) => new Uint8Array(n));
    this.breakBefore = grown(this.breakBefore, (n) => new Uint8Array(n));
  }

  text(): string {
    return UTF16.decode(this.units.subarray(0, this.size));
  }
}

/** The skeleton of `text`: NFKC, case folded, diacritics and separators dropped, look-alikes merged. Linear time. */
export function skeletonOf(text: string): Skeleton {
  const columns = new Columns(text.length + 8);
  let separators = 1;
  let brokeSinceLast = true;
  for (let index = 0; index < text.length; ) {
    const start = index;
    const code = text.charCodeAt(index);
    if (code < 128) {
      index += 1;
      const unit = ASCII_UNITS[code]!;
      if (unit < 0) {
        separators += 1;
        if (separators > MAX_SEPARATOR_RUN) brokeSinceLast = true;
        continue;
      }
      columns.push(unit, start, index, separators > 0, brokeSinceLast);
      separators = 0;
      brokeSinceLast = false;
      continue;
    }
    const width = code >= 0xd800 && code <= 0xdbff && index + 1 < text.length ? 2 : 1;
    const folded = fold(text.slice(index, index + width));
    index += width;
    if (folded === null) {
      separators += 1;
      if (separators > MAX_SEPARATOR_RUN) brokeSinceLast = true;
      continue;
    }
    if (folded === '') {
      // A mark belongs to the letter before it: a match ending on that letter covers it too.
      if (columns.size > 0 && separators === 0) columns.ends[columns.size - 1] = index;
      continue;
    }
    for (let k = 0; k < folded.length; k++) {
      columns.push(folded.charCodeAt(k), start, index, k === 0 && separators > 0, k === 0 && brokeSinceLast);
    }
    separators = 0;
    brokeSinceLast = false;
  }
  return {
    text: columns.text(),
    starts: columns.starts.subarray(0, columns.size),
    ends: columns.ends.subarray(0, columns.size),
    boundaryBefore: columns.boundaryBefore.subarray(0, columns.size),
    breakBefore: columns.breakBefore.subarray(0, columns.size),
    endsWithBoundary: separators > 0,
  };
}
