import { describe, expect, it } from 'vitest';
import { detectPii, type PiiType } from '../../shared/safety/pii-detector.js';
import { PiiMasker } from '../../shared/safety/mask-text.js';

const found = (text: string, types?: PiiType[]) => detectPii(text, types).map((f) => [f.type, text.slice(f.start, f.end)]);

describe('PII detection: true positives', () => {
  it.each([
    ['mail jane.doe+news@example.co.uk today', 'email', 'jane.doe+news@example.co.uk'],
    ['call +44 20 7946 0958 now', 'phone', '+44 20 7946 0958'],
    ['call +14155552671.', 'phone', '+14155552671'],
    ['US office (415) 555-2671', 'phone', '(415) 555-2671'],
    ['or 415-555-2671', 'phone', '415-555-2671'],
    ['UK 020 7946 0958', 'phone', '020 7946 0958'],
    ['card 4111 1111 1111 1111 exp', 'card', '4111 1111 1111 1111'],
    ['card 4111-1111-1111-1111', 'card', '4111-1111-1111-1111'],
    ['amex 378282246310005', 'card', '378282246310005'],
    ['pay to DE89 3704 0044 0532 0130 00 please', 'iban', 'DE89 3704 0044 0532 0130 00'],
    ['pay to GB82WEST12345698765432', 'iban', 'GB82WEST12345698765432'],
    ['ssn 123-45-6789', 'us_ssn', '123-45-6789'],
    ['NINO AB 12 34 56 C', 'uk_nino', 'AB 12 34 56 C'],
    ['DNI 12345678Z', 'es_dni', '12345678Z'],
    ['key sk-proj-abcdefghijklmnopqrstuvwxyz012345', 'api_key', 'sk-proj-abcdefghijklmnopqrstuvwxyz012345'],
    ['aws AKIAIOSFODNN7EXAMPLE', 'api_key', 'AKIAIOSFODNN7EXAMPLE'],
    ['gh ghp_abcdefghijklmnopqrstuvwxyz0123456789', 'api_key', 'ghp_abcdefghijklmnopqrstuvwxyz0123456789'],
    ['slack xoxb-1234567890-abcdefghij', 'api_key', 'xoxb-1234567890-abcdefghij'],
    [
      'DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;',
      'connection_string',
      'AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==',
    ],
    [
      'token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U ok',
      'jwt',
      'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U',
    ],
  ])('%s → %s', (text, type, value) => {
    expect(found(text)).toEqual([[type, value]]);
  });

  it('finds a PEM private key to its END line, or to the end when it has none yet', () => {
    const key = '-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----';
    expect(found(`here: ${key} done`)).toEqual([['private_key', key]]);
    const open = detectPii('here: -----BEGIN PRIVATE KEY-----\nMIIEv');
    expect(open).toEqual([{ type: 'private_key', start: 6, end: 39, open: true }]);
  });
});

describe('PII detection: false positives', () => {
  it.each([
    ['a Luhn-failing card', 'card 4111 1111 1111 1112'],
    ['an IBAN with a wrong checksum', 'pay to DE88 3704 0044 0532 0130 00'],
    ['an IBAN of the wrong length', 'pay to DE89 3704 0044 0532 0130 0'],
    ['a plain number', 'order 4155552671 shipped, 12 items, total 1234567'],
    ['a never-issued SSN', 'ssn 666-12-3456 or 000-12-3456 or 900-12-3456 or 123-00-4567'],
    ['a never-issued NINO prefix', 'GB 12 34 56 C'],
    ['digit groups of an account number', 'account 3704 0044 0532 0130 00'],
    ['a DNI with the wrong letter', '12345678A'],
    ['a version string', 'version 1.2.3.4 on 2024-09-01'],
    ['prose', 'The quick brown fox jumps over the lazy dog at 10:30.'],
  ])('%s', (_, text) => {
    expect(found(text)).toEqual([]);
  });
});

describe('masking', () => {
  it('replaces findings with typed placeholders, the same value by the same one, and keeps the mapping', () => {
    const masker = new PiiMasker();
    const text = 'a@b.io and c@d.io wrote to a@b.io; card 4111 1111 1111 1111';
    const masked = masker.mask(text, detectPii(text));
    expect(masked.text).toBe('[EMAIL_1] and [EMAIL_2] wrote to [EMAIL_1]; card [CARD_1]');
    expect(Object.fromEntries(masker.mapping)).toEqual({ '[EMAIL_1]': 'a@b.io', '[EMAIL_2]': 'c@d.io', '[CARD_1]': '4111 1111 1111 1111' });
    expect(masker.mask('again c@d.io', detectPii('again c@d.io')).text).toBe('again [EMAIL_2]');
  });
});

describe('hostile input', () => {
  it.each([
    ['letters', 'a'.repeat(100_000)],
    ['an e-mail local part that never ends', `${'a.'.repeat(50_000)}@`],
    ['digits', '4'.repeat(100_000)],
    ['spaced digits', '1 '.repeat(50_000)],
    ['JWT-ish', `eyJ${'a'.repeat(100_000)}`],
    ['IBAN-ish', `DE89${' A'.repeat(50_000)}`],
    ['plus signs', '+1 '.repeat(33_000)],
    ['PEM headers', '-----BEGIN PRIVATE KEY-----'.repeat(4_000)],
  ])('completes on 100 KB of %s', (_, text) => {
    expect(Array.isArray(detectPii(text))).toBe(true);
  });
});
