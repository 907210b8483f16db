/**
 * Personal data and secrets found by pattern, with checksums where the format has one, so that a number
 * that only looks like a card or an IBAN is left alone. Every pattern has bounded repetitions and is anchored
 * by a look-behind, so a scan does a bounded amount of work per character whatever the text: no input can
 * make it backtrack catastrophically.
 */

export const piiTypes = [
  'private_key',
  'connection_string',
  'jwt',
  'api_key',
  'card',
  'iban',
  'us_ssn',
  'uk_nino',
  'es_dni',
  'email',
  'phone',
] as const;
export type PiiType = (typeof piiTypes)[number];

/** One finding, at its place in the text (UTF-16 offsets, end exclusive). */
export interface PiiFinding {
  type: PiiType;
  start: number;
  end: number;
  /** A private key whose END line has not come (yet): everything after its BEGIN line is part of it. */
  open?: boolean;
}

interface Detector {
  type: PiiType;
  pattern: RegExp;
  /** What any match must contain: a text without it is skipped at the cost of one quick search, not a pattern run. */
  needs: RegExp;
  /** Where the finding really ends, or undefined when the candidate is not one (a failed checksum). */
  accept?: (match: RegExpExecArray, text: string) => number | undefined;
}

function luhnValid(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let digit = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
  }
  return sum % 10 === 0;
}

/** IBAN length per country (SWIFT IBAN registry). */
// biome-ignore format: a table
const IBAN_LENGTHS: Readonly<Record<string, number>> = {
  AD: 24, AE: 23, AL: 28, AT: 20, AZ: 28, BA: 20, BE: 16, BG: 22, BH: 22, BI: 27, BR: 29, BY: 28, CH: 21, CR: 22, CY: 28,
  CZ: 24, DE: 22, DJ: 27, DK: 18, DO: 28, EE: 20, EG: 29, ES: 24, FI: 18, FK: 18, FO: 18, FR: 27, GB: 22, GE: 22, GI: 23,
  GL: 18, GR: 27, GT: 28, HN: 28, HR: 21, HU: 28, IE: 22, IL: 23, IQ: 23, IS: 26, IT: 27, JO: 30, KW: 30, KZ: 20, LB: 28,
  LC: 32, LI: 21, LT: 20, LU: 20, LV: 21, LY: 25, MC: 27, MD: 24, ME: 22, MK: 19, MN: 20, MR: 27, MT: 31, MU: 30, NI: 28,
  NL: 18, NO: 15, OM: 23, PK: 24, PL: 28, PS: 29, PT: 25, QA: 29, RO: 24, RS: 22, RU: 33, SA: 24, SC: 31, SD: 18, SE: 24,
  SI: 19, SK: 24, SM: 27, SO: 23, ST: 25, SV: 28, TL: 23, TN: 24, TR: 26, UA: 29, VA: 22, VG: 24, XK: 20, YE: 30,
};

function mod97(alphanumeric: string): number {
  let remainder = 0;
  for (const ch of alphanumeric) {
    const value = ch >= 'A' ? ch.charCodeAt(0) - 55 : ch.charCodeAt(0) - 48;
    remainder = value > 9 ? (remainder * 100 + value) % 97 : (remainder * 10 + value) % 97;
  }
  return remainder;
}

// The candidate may run on into following words (the pattern cannot know the country's length): take exactly
// the country's length of characters, which must end the word, and check the mod-97 digits.
function acceptIban(match: RegExpExecArray, text: string): number | undefined {
  const length = IBAN_LENGTHS[match[0].slice(0, 2)];
  if (length === undefined) return undefined;
  let taken = '';
  let end = match.index;
  while (end < match.index + match[0].length && taken.length < length) {
    const ch = text[end]!;
    if (ch !== ' ') taken += ch.toUpperCase();
    end += 1;
  }
  if (taken.length !== length || /[A-Za-z0-9]/.test(text[end] ?? '')) return undefined;
  return mod97(taken.slice(4) + taken.slice(0, 4)) === 1 ? end : undefined;
}

function acceptCard(match: RegExpExecArray): number | undefined {
  const digits = match[0].replace(/[ -]/g, '');
  return luhnValid(digits) ? match.index + match[0].length : undefined;
}

// Never issued: area 000, 666 or 900-999, group 00, serial 0000, and the two numbers printed in advertisements.
function acceptSsn(match: RegExpExecArray): number | undefined {
  const [, area, group, serial] = match;
  if (area === '000' || area === '666' || area![0] === '9' || group === '00' || serial === '0000') return undefined;
  if (`${area}${group}${serial}` === '078051120' || `${area}${group}${serial}` === '219099999') return undefined;
  return match.index + match[0].length;
}

const NINO_NEVER_ISSUED = new Set(['BG', 'GB', 'KN', 'NK', 'NT', 'TN', 'ZZ']);
function acceptNino(match: RegExpExecArray): number | undefined {
  return NINO_NEVER_ISSUED.has(match[1]!) ? undefined : match.index + match[0].length;
}

const DNI_LETTERS = 'TRWAGMYFPDXBNJZSQVHLCKE';
function acceptDni(match: RegExpExecArray): number | undefined {
  return DNI_LETTERS[Number(match[1]) % 23] === match[2] ? match.index + match[0].length : undefined;
}

const MAX_PRIVATE_KEY_CHARS = 16_384;
const PEM_END = /-----END (?:[A-Z0-9]{1,16} ){0,3}PRIVATE KEY-----/g;

// A key without its END line (yet) is open: it runs to the end of what was seen.
function acceptPrivateKey(match: RegExpExecArray, text: string): number {
  PEM_END.lastIndex = match.index + match[0].length;
  const limit = match.index + MAX_PRIVATE_KEY_CHARS;
  const end = PEM_END.exec(text.length > limit ? text.slice(0, limit) : text);
  return end ? end.index + end[0].length : -1;
}

const DIGIT = /\d/;

const detectors: readonly Detector[] = [
  { type: 'private_key', needs: /PRIVATE KEY/, pattern: /-----BEGIN (?:[A-Z0-9]{1,16} ){0,3}PRIVATE KEY-----/g, accept: acceptPrivateKey },
  {
    type: 'connection_string',
    needs: /Key=/,
    pattern: /(?<![A-Za-z0-9])(?:AccountKey|SharedAccessKey)=[A-Za-z0-9+/]{20,128}={0,2}/g,
  },
  {
    type: 'jwt',
    needs: /eyJ/,
    pattern: /(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{5,4096}\.eyJ[A-Za-z0-9_-]{2,8192}\.[A-Za-z0-9_-]{10,2048}(?![A-Za-z0-9_-])/g,
  },
  {
    type: 'api_key',
    needs: /sk-|AKIA|ASIA|gh[pousr]_|github_pat_|xox[baprs]-/,
    pattern:
      /(?<![A-Za-z0-9_-])(?:sk-(?:proj-|svcacct-|admin-|ant-)?[A-Za-z0-9_-]{20,200}|(?:AKIA|ASIA)[A-Z0-9]{16}|gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255}|xox[baprs]-[A-Za-z0-9-]{10,200})(?![A-Za-z0-9_-])/g,
  },
  { type: 'card', needs: DIGIT, pattern: /(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d])/g, accept: acceptCard },
  { type: 'iban', needs: DIGIT, pattern: /(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Za-z0-9]){11,30}/g, accept: acceptIban },
  { type: 'us_ssn', needs: DIGIT, pattern: /(?<![\d-])(\d{3})[- ](\d{2})[- ](\d{4})(?![\d-])/g, accept: acceptSsn },
  {
    type: 'uk_nino',
    needs: DIGIT,
    pattern: /(?<![A-Za-z0-9])([A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]) ?\d{2} ?\d{2} ?\d{2} ?[A-D](?![A-Za-z0-9])/g,
    accept: acceptNino,
  },
  { type: 'es_dni', needs: DIGIT, pattern: /(?<![A-Za-z0-9])(\d{8})-?([A-Z])(?![A-Za-z0-9])/g, accept: acceptDni },
  {
    type: 'email',
    needs: /@/,
    pattern: /(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}@(?:[A-Za-z0-9-]{1,63}\.){1,8}[A-Za-z]{2,24}(?![A-Za-z0-9-])/g,
  },
  {
    // E.164 (+ and 7-15 digits, single separators allowed), or a national number written with its separators:
    // a bare run of digits is never taken for a phone number, nor a few groups out of a longer run of groups.
    type: 'phone',
    needs: DIGIT,
    pattern:
      /(?<![\w+]|\d[ .-])(?:\+[1-9](?:[ .-]?\d){6,14}|(?:\(\d{3}\) ?|\d{3}[-. ])\d{3}[-. ]\d{4}|0\d{2,4}[ -]\d{3,4}[ -]?\d{3,4})(?!\w|[ .-]\d)/g,
  },
];

/** Every finding of the given types in `text`; where two overlap, the one earlier in `piiTypes` wins. */
export function detectPii(text: string, types: readonly PiiType[] = piiTypes): PiiFinding[] {
  const wanted = new Set(types);
  const accepted: PiiFinding[] = [];
  // Which characters a finding already covers: checking a span costs its length, never the number of findings.
  const covered = new Uint8Array(text.length);
  const overlaps = (start: number, end: number) => {
    for (let i = start; i < end; i++) if (covered[i]) return true;
    return false;
  };
  for (const detector of detectors) {
    if (!wanted.has(detector.type) || !detector.needs.test(text)) continue;
    // The module's own pattern, its position reset: detection is synchronous, so no other call can be using it.
    const pattern = detector.pattern;
    pattern.lastIndex = 0;
    for (let match = pattern.exec(text); match !== null; match = pattern.exec(text)) {
      const end = detector.accept ? detector.accept(match, text) : match.index + match[0].length;
      if (end === undefined) {
        pattern.lastIndex = match.index + 1;
        continue;
      }
      const finding: PiiFinding =
        end === -1
          ? { type: detector.type, start: match.index, end: text.length, open: true }
          : { type: detector.type, start: match.index, end };
      if (!overlaps(finding.start, finding.end)) {
        accepted.push(finding);
        covered.fill(1, finding.start, finding.end);
      }
      pattern.lastIndex = Math.max(finding.end, match.index + 1);
    }
  }
  return accepted.sort((a, b) => a.start - b.start);
}
