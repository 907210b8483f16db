import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { buildSnapshot } from '../../shared/catalog/catalog-snapshot.js';
import { hashKey, keyDocument, mintKey, newKeyId, newSecret, type RandomBytes } from '../../shared/catalog/key-documents.js';

/** A byte source that hands out 0, 1, 2… so generated ids and secrets are known in advance. */
function countingBytes(): RandomBytes & { requested: number[] } {
  let next = 0;
  const requested: number[] = [];
  const source = (size: number) => {
    requested.push(size);
    return Uint8Array.from({ length: size }, () => next++ % 256);
  };
  return Object.assign(source, { requested });
}

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

describe('generated secrets and ids', () => {
  it('takes 72 bits for an id and 256 for a secret from the byte source it is given', () => {
    const bytes = countingBytes();
    expect(newKeyId(bytes)).toBe(`key_${Buffer.from([0, 1, 2, 3, 4, 5, 6, 7, 8]).toString('base64url')}`);
    const secret = newSecret({ role: 'ops' }, bytes);
    expect(secret).toBe(`sya-${Buffer.from(Array.from({ length: 32 }, (_, i) => 9 + i)).toString('base64url')}`);
    expect(bytes.requested).toEqual([9, 32]);
  });

  it('makes secrets with the prefix and 256 random bits in base64url', () => {
    expect(newSecret({ team: 'demo' }, randomBytes)).toMatch(/^sy-[A-Za-z0-9_-]{43}$/);
    expect(newSecret({ role: 'admin' }, randomBytes)).toMatch(/^sya-[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(newSecret({ team: 'demo' }, randomBytes).slice(3), 'base64url').byteLength).toBe(32);
  });

  it('never repeats a secret or an id from a strong source', () => {
    const secrets = new Set(Array.from({ length: 2_000 }, () => newSecret({ team: 'demo' }, randomBytes)));
    expect(secrets.size).toBe(2_000);
    const ids = new Set(Array.from({ length: 2_000 }, () => newKeyId(randomBytes)));
    expect(ids.size).toBe(2_000);
  });

  it('makes key ids of 72 random bits that the key document schema accepts', () => {
    const id = newKeyId(randomBytes);
    expect(id).toMatch(/^key_[A-Za-z0-9_-]{12}$/);
    expect(Buffer.from(id.slice(4), 'base64url').byteLength).toBe(9);
    expect(() => keyDocument({ team: 'demo' }, 'sy-x', { id, createdAtMs: 0 })).not.toThrow();
  });
});

describe('keyDocument and mintKey', () => {
  it('keeps only the hash of the secret, with the creation time it is given', () => {
    const doc = keyDocument({ team: 'demo' }, 'sy-secret', { id: 'key_abc', createdAtMs: Date.UTC(2026, 0, 2, 3, 4, 5) });
    expect(doc).toEqual({ id: 'key_abc', hash: hashKey('sy-secret'), team: 'demo', createdAt: '2026-01-02T03:04:05.000Z' });
    expect(JSON.stringify(doc)).not.toContain('sy-secret');
  });

  it('refuses to build a document the schema would refuse', () => {
    expect(() => keyDocument({ team: 'demo' }, 'sy-x', { id: 'not-a-key-id', createdAtMs: 0 })).toThrow();
    expect(() => keyDocument({ role: 'admin' }, 'sy-x', { id: 'key_a', createdAtMs: 0, configuredBy: 'lower-case' })).toThrow();
  });

  it('mints a key from the clock and byte source it is given: the same inputs, the same key', () => {
    const first = mintKey({ role: 'finance' }, { nowMs: 1_000, randomBytes: countingBytes(), expiresAt: '2030-01-01T00:00:00.000Z' });
    const second = mintKey({ role: 'finance' }, { nowMs: 1_000, randomBytes: countingBytes(), expiresAt: '2030-01-01T00:00:00.000Z' });
    expect(second).toEqual(first);
    expect(first.stored).toMatchObject({
      role: 'finance',
      createdAt: '1970-01-01T00:00:01.000Z',
      expiresAt: '2030-01-01T00:00:00.000Z',
      hash: hashKey(first.secret),
    });
  });
});

describe('key documents in the snapshot', () => {
  it('are validated like every document: an invalid one is skipped and reported, a valid one is kept by hash', () => {
    const valid = keyDocument({ team: 'demo' }, 'sy-valid', { id: 'key_valid', createdAtMs: 0 });
    const invalid = [
      { ...valid, id: 'key_extra', colour: 'red' },
      { ...valid, id: 'key_both', role: 'admin' },
      { ...valid, id: 'key_badhash', hash: 'sy-plaintext' },
      { id: 'key_nothing' },
    ];
    const reported: unknown[] = [];
    const snapshot = buildSnapshot(
      [valid, ...invalid].map((doc) => ({ type: 'key' as const, doc })),
      5,
      (_type, id) => reported.push(id),
    );
    expect([...snapshot.keysByHash.values()]).toEqual([valid]);
    expect(reported).toEqual(['key_extra', 'key_both', 'key_badhash', 'key_nothing']);
  });
});
