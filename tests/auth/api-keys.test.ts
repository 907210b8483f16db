import { describe, expect, it } from 'vitest';
import {
  generateKeyId,
  generateSecret,
  hashKey,
  isKeyExpired,
  matchKey,
  presentedKey,
  principalOf,
  type StoredKey,
} from '../../shared/auth/api-keys.js';

const headers = (init: Record<string, string>) => new Headers(init);

describe('presentedKey', () => {
  it.each([
    [{ authorization: 'Bearer sy-abc123' }, 'sy-abc123'],
    [{ Authorization: 'bearer sy-abc123' }, 'sy-abc123'],
    [{ authorization: 'BEARER sy-abc123' }, 'sy-abc123'],
    [{ authorization: 'Bearer    sy-abc123   ' }, 'sy-abc123'],
    [{ authorization: 'Bearer\tsy-abc123' }, 'sy-abc123'],
    [{ 'api-key': 'sy-abc123' }, 'sy-abc123'],
    [{ 'API-Key': '  sy-abc123  ' }, 'sy-abc123'],
  ])('reads %j', (init, key) => {
    expect(presentedKey(headers(init))).toBe(key);
  });

  it.each([
    [{}],
    [{ authorization: 'Basic dXNlcjpwYXNz' }],
    [{ authorization: 'Bearer' }],
    [{ authorization: 'Bearer ' }],
    [{ authorization: 'Bearer a b' }],
    [{ authorization: 'Bearersy-abc123' }],
    [{ authorization: 'Token sy-abc123' }],
    [{ authorization: 'sy-abc123' }],
    [{ authorization: 'Bearer sy-abc123, Bearer sy-other' }],
    [{ 'x-api-key': 'sy-abc123' }],
    [{ 'api-key': '' }],
  ])('finds no key in %j', (init) => {
    expect(presentedKey(headers(init))).toBeUndefined();
  });

  it('prefers api-key over Authorization', () => {
    expect(presentedKey(headers({ 'api-key': 'from-api-key', authorization: 'Bearer from-bearer' }))).toBe('from-api-key');
  });

  it('falls back to Authorization when api-key is blank', () => {
    expect(presentedKey(headers({ 'api-key': '   ', authorization: 'Bearer from-bearer' }))).toBe('from-bearer');
  });

  it('keeps the key exactly, including base64url characters', () => {
    const secret = 'sy-AZaz09_-AZaz09_-AZaz09_-AZaz09_-AZaz09_-AZ';
    expect(presentedKey(headers({ authorization: `Bearer ${secret}` }))).toBe(secret);
  });
});

describe('hashKey', () => {
  it('is SHA-256 as lowercase hex', () => {
    expect(hashKey('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(hashKey('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });

  it('hashes the UTF-8 bytes of the secret', () => {
    // SHA-256 of the two bytes c3 a9 ("é" in UTF-8; checked with sha256sum), not of the Latin-1 byte e9 (de2e331d…).
    expect(hashKey('é')).toBe('4a99557e4033c3539de2eb65472017cad5f9557f7a0625a09f1c3f6e2ba69c4c');
  });

  it('gives different hashes for different secrets', () => {
    expect(hashKey('sy-a')).not.toBe(hashKey('sy-b'));
    expect(hashKey('sy-a')).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('matchKey', () => {
  const teamSecret = 'sy-team-secret-value';
  const adminSecret = 'sya-admin-secret-value';
  const teamKey: StoredKey = { id: 'key_team', hash: hashKey(teamSecret), team: 'search', createdAt: '2026-01-01T00:00:00Z' };
  const adminKey: StoredKey = { id: 'key_admin', hash: hashKey(adminSecret), role: 'admin', createdAt: '2026-01-01T00:00:00Z' };
  const keys = new Map([teamKey, adminKey].map((k) => [k.hash, k]));

  it('finds a key by the hash of its secret', () => {
    expect(matchKey(teamSecret, keys)).toBe(teamKey);
    expect(matchKey(adminSecret, keys)).toBe(adminKey);
  });

  it.each(['', 'sy-team-secret-valu', 'sy-team-secret-value ', 'SY-TEAM-SECRET-VALUE', teamKey.hash])('refuses the wrong key %j', (secret) => {
    expect(matchKey(secret, keys)).toBeUndefined();
  });

  it('refuses when the stored hash does not match the index it was filed under', () => {
    const misfiled = new Map([[hashKey(teamSecret), { ...teamKey, hash: hashKey('something else') }]]);
    expect(matchKey(teamSecret, misfiled)).toBeUndefined();
    const malformed = new Map([[hashKey(teamSecret), { ...teamKey, hash: 'abcd' }]]);
    expect(matchKey(teamSecret, malformed)).toBeUndefined();
  });

  it('finds nothing in an empty map', () => {
    expect(matchKey(teamSecret, new Map())).toBeUndefined();
  });
});

describe('generated secrets and ids', () => {
  it('makes secrets with the prefix and 256 random bits in base64url', () => {
    expect(generateSecret()).toMatch(/^sy-[A-Za-z0-9_-]{43}$/);
    expect(generateSecret('sy')).toMatch(/^sy-[A-Za-z0-9_-]{43}$/);
    expect(generateSecret('sya')).toMatch(/^sya-[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(generateSecret().slice(3), 'base64url').byteLength).toBe(32);
  });

  it('never repeats a secret or an id', () => {
    const secrets = new Set(Array.from({ length: 2_000 }, () => generateSecret()));
    expect(secrets.size).toBe(2_000);
    const ids = new Set(Array.from({ length: 2_000 }, () => generateKeyId()));
    expect(ids.size).toBe(2_000);
  });

  it('spreads secret characters over the whole alphabet', () => {
    const chars = new Set(Array.from({ length: 200 }, () => generateSecret().slice(3)).join(''));
    expect(chars.size).toBe(64);
  });

  it('makes key ids of 72 random bits', () => {
    const id = generateKeyId();
    expect(id).toMatch(/^key_[A-Za-z0-9_-]{12}$/);
    expect(Buffer.from(id.slice(4), 'base64url').byteLength).toBe(9);
  });

  it('makes secrets that round-trip through presentedKey and matchKey', () => {
    const secret = generateSecret();
    const stored: StoredKey = { id: generateKeyId(), hash: hashKey(secret), team: 'demo', createdAt: '2026-01-01T00:00:00Z' };
    const found = matchKey(presentedKey(headers({ authorization: `Bearer ${secret}` }))!, new Map([[stored.hash, stored]]));
    expect(found).toBe(stored);
  });
});

describe('principalOf', () => {
  const base = { id: 'key_1', hash: 'h', createdAt: '2026-01-01T00:00:00Z' };

  it('speaks for a team', () => {
    expect(principalOf({ ...base, team: 'search' })).toEqual({ kind: 'team', teamId: 'search', keyId: 'key_1' });
  });

  it('speaks for a role', () => {
    expect(principalOf({ ...base, role: 'finance' })).toEqual({ kind: 'role', role: 'finance', keyId: 'key_1' });
  });

  it('speaks for nobody without team or role', () => {
    expect(principalOf(base)).toBeUndefined();
    expect(principalOf({ ...base, team: '' })).toBeUndefined();
  });
});

describe('isKeyExpired', () => {
  const base = { id: 'key_1', hash: 'h', role: 'ops' as const, createdAt: '2026-01-01T00:00:00Z' };

  it('never expires a key without an expiry', () => {
    expect(isKeyExpired(base, Date.parse('2100-01-01T00:00:00Z'))).toBe(false);
  });

  it('expires a key at its expiry instant, whatever the offset it was written with', () => {
    const key = { ...base, expiresAt: '2026-06-01T02:00:00+02:00' };
    expect(isKeyExpired(key, Date.parse('2026-05-31T23:59:59.999Z'))).toBe(false);
    expect(isKeyExpired(key, Date.parse('2026-06-01T00:00:00Z'))).toBe(true);
  });
});
