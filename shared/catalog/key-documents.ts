import { generateKeyId, generateSecret, hashKey, type StoredKey } from '../auth/api-keys.js';
import type { Role } from './schemas.js';
import type { CatalogStore } from './catalog-store.js';

export type KeyOwner = { team: string } | { role: Role };

/** A new key document for a secret: only the secret's hash is kept. */
export function newStoredKey(owner: KeyOwner, secret: string, nowMs: number): StoredKey {
  return { id: generateKeyId(), type: 'key', hash: hashKey(secret), createdAt: new Date(nowMs).toISOString(), ...owner };
}

export function newSecret(owner: KeyOwner): string {
  return generateSecret('team' in owner ? 'sy' : 'sya');
}

/** Stores a key that configuration names (SWITCHYARD_ADMIN_KEY…), unless its hash is already there. */
export async function ensureConfiguredKey(store: CatalogStore, owner: KeyOwner, secret: string, nowMs: number): Promise<void> {
  const hash = hashKey(secret);
  const keys = await store.list('key');
  if (keys.some((k) => k.doc.hash === hash)) return;
  await store.put('key', newStoredKey(owner, secret, nowMs), { createOnly: true });
}

/** Generates a key for an owner that has none yet; returns the secret, to be shown once. */
export async function generateKeyIfNone(store: CatalogStore, owner: KeyOwner, nowMs: number): Promise<string | undefined> {
  const keys = await store.list('key');
  const owned = keys.some((k) => ('team' in owner ? k.doc.team === owner.team : k.doc.role === owner.role));
  if (owned) return undefined;
  const secret = newSecret(owner);
  await store.put('key', newStoredKey(owner, secret, nowMs), { createOnly: true });
  return secret;
}
