import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Role, StoredKey } from '../catalog/schemas.js';

export type { StoredKey } from '../catalog/schemas.js';

/** Who a key speaks for: a team (inference, its own usage) or a role (management, finance). */
export type Principal = { kind: 'team'; teamId: string; keyId: string } | { kind: 'role'; role: Role; keyId: string };

// Keys are 256 random bits, so a fast hash is enough: there is nothing to brute-force.
export function hashKey(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

export function generateKeyId(): string {
  return `key_${randomBytes(9).toString('base64url')}`;
}

export function generateSecret(prefix: 'sy' | 'sya' = 'sy'): string {
  return `${prefix}-${randomBytes(32).toString('base64url')}`;
}

/** The key a request presents: `Authorization: Bearer <key>` or `api-key: <key>`. */
export function presentedKey(headers: Headers): string | undefined {
  const apiKey = headers.get('api-key');
  if (apiKey) return apiKey.trim() || undefined;
  const authorization = headers.get('authorization');
  if (!authorization) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  return match?.[1];
}

// The same few keys arrive on every request: their hashes are kept (in this process only) to spare a SHA-256 each time.
const presentedHashes = new Map<string, string>();
const MAX_REMEMBERED_KEYS = 4096;

function hashPresented(secret: string): string {
  let hash = presentedHashes.get(secret);
  if (hash === undefined) {
    hash = hashKey(secret);
    if (presentedHashes.size >= MAX_REMEMBERED_KEYS) presentedHashes.clear();
    presentedHashes.set(secret, hash);
  }
  return hash;
}

/** Finds the stored key a secret matches; the final comparison is constant-time. */
export function matchKey(secret: string, keysByHash: ReadonlyMap<string, StoredKey>): StoredKey | undefined {
  const hash = hashPresented(secret);
  const stored = keysByHash.get(hash);
  if (!stored) return undefined;
  const a = Buffer.from(hash, 'hex');
  const b = Buffer.from(stored.hash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b) ? stored : undefined;
}

/** True once a key's expiry has passed. */
export function isKeyExpired(key: StoredKey, nowMs: number): boolean {
  return key.expiresAt !== undefined && Date.parse(key.expiresAt) <= nowMs;
}

export function principalOf(key: StoredKey): Principal | undefined {
  if (key.team) return { kind: 'team', teamId: key.team, keyId: key.id };
  if (key.role) return { kind: 'role', role: key.role, keyId: key.id };
  return undefined;
}
