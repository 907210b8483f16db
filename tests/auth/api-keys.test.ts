import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { isKeyExpired, matchKey, presentedKey, principalOf } from '../../shared/auth/api-keys.js';
import { hashKey, keyDocument, newKeyId, newSecret } from '../../shared/catalog/key-documents.js';
import type { StoredKey } from '../../shared/catalog/schemas.js';

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

  it.each(['', 'sy-team-secret-valu', 'sy-team-secret-value ', 'SY-TEAM-SECRET-VALUE', teamKey.hash])(
    'refuses the wrong key %j',
    (secret) => {
      expect(matchKey(secret, keys)).toBeUndefined();
    },
  );

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

describe('presented secrets', () => {
  it('makes secrets that round-trip through presentedKey and matchKey', () => {
    const secret = newSecret({ team: 'demo' }, randomBytes);
    const stored = keyDocument({ team: 'demo' }, secret, { id: newKeyId(randomBytes), createdAtMs: 0 });
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
