import { timingSafeEqual } from 'node:crypto';
import { hashKey } from '../catalog/key-documents.js';
import type { Role, StoredKey } from '../catalog/schemas.js';

/** Who a key speaks for: a team (inference, its own usage) or a role (management, finance). */
export type Principal = { kind: 'team'; teamId: string; keyId: string } | { kind: 'role'; role: Role; keyId: string };

/** The key a request presents: `Authorization: Bearer <key>` or `api-key: <key>`. */
export function presentedKey(headers: Headers): string | undefined {
  const apiKey = headers.get('api-key');
  if (apiKey) return apiKey.trim() || undefined;
  const authorization = headers.get('authorization');
  if (!authorization) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  return match?.[1];
}

/** Finds the stored key a secret matches; the final comparison is constant-time. */
export function matchKey(secret: string, keysByHash: ReadonlyMap<string, StoredKey>): StoredKey | undefined {
  // Hashed on every request, never cached: a cache would keep presented secrets in memory, to save ~1 µs.
  const hash = hashKey(secret);
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
