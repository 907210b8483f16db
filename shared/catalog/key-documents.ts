import { createHash } from 'node:crypto';
import { generateKeyId, generateSecret, hashKey, type StoredKey } from '../auth/api-keys.js';
import { isGatewayError } from '../errors.js';
import type { Role } from './schemas.js';
import type { CatalogStore } from './catalog-store.js';

export type KeyOwner = { team: string } | { role: Role };

export interface NewKeyOptions {
  id?: string;
  /** ISO 8601; the key answers 401 from then on. */
  expiresAt?: string;
  /** The setting the key came from (SWITCHYARD_ADMIN_KEY…). */
  configuredBy?: string;
}

/** A new key document for a secret: only the secret's hash is kept. */
export function newStoredKey(owner: KeyOwner, secret: string, nowMs: number, options: NewKeyOptions = {}): StoredKey {
  const { id = generateKeyId(), expiresAt, configuredBy } = options;
  return {
    id,
    hash: hashKey(secret),
    createdAt: new Date(nowMs).toISOString(),
    ...owner,
    ...(expiresAt === undefined ? {} : { expiresAt }),
    ...(configuredBy === undefined ? {} : { configuredBy }),
  };
}

export function newSecret(owner: KeyOwner): string {
  return generateSecret('team' in owner ? 'sy' : 'sya');
}

// The same on every instance, so instances starting together with a new setting store one document, not two.
function configuredKeyId(setting: string, hash: string): string {
  return `key_${createHash('sha256').update(`${setting}:${hash}`).digest('base64url').slice(0, 16)}`;
}

// Another instance got there first (created, revoked or marked the same key): nothing left to do.
function ignoreLostRace(error: unknown): void {
  if (isGatewayError(error) && (error.status === 404 || error.status === 412)) return;
  throw error;
}

/**
 * Stores the key a setting holds (SWITCHYARD_ADMIN_KEY…) and revokes the key the same setting held
 * before, so changing the setting replaces the key. Safe to run on several instances at once.
 */
export async function ensureConfiguredKey(store: CatalogStore, owner: KeyOwner, setting: string, secret: string, nowMs: number): Promise<void> {
  const hash = hashKey(secret);
  const keys = await store.list('key');
  for (const replaced of keys.filter((k) => k.doc.configuredBy === setting && k.doc.hash !== hash)) {
    await store.delete('key', replaced.doc.id, { ifMatch: replaced.etag }).catch(ignoreLostRace);
  }
  const current = keys.find((k) => k.doc.hash === hash);
  if (current) {
    // A key stored before keys were marked with their setting is marked now, so its replacement revokes it.
    if (current.doc.configuredBy !== setting) await store.put('key', { ...current.doc, configuredBy: setting }, { ifMatch: current.etag }).catch(ignoreLostRace);
    return;
  }
  const stored = newStoredKey(owner, secret, nowMs, { id: configuredKeyId(setting, hash), configuredBy: setting });
  await store.put('key', stored, { ifNoneMatch: '*' }).catch(ignoreLostRace);
}

/** Generates a key for an owner that has none yet; returns the secret, to be shown once. */
export async function generateKeyIfNone(store: CatalogStore, owner: KeyOwner, nowMs: number): Promise<string | undefined> {
  const keys = await store.list('key');
  const owned = keys.some((k) => ('team' in owner ? k.doc.team === owner.team : k.doc.role === owner.role));
  if (owned) return undefined;
  const secret = newSecret(owner);
  await store.put('key', newStoredKey(owner, secret, nowMs), { ifNoneMatch: '*' });
  return secret;
}
