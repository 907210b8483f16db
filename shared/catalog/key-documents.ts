import { createHash } from 'node:crypto';
import { isGatewayError } from '../errors.js';
import type { CatalogStore } from './catalog-store.js';
import { keyDocumentSchema, type Role, type StoredKey } from './schemas.js';

export type KeyOwner = { team: string } | { role: Role };

/** Cryptographically strong random bytes (node:crypto's randomBytes, passed in by composition/). */
export type RandomBytes = (size: number) => Uint8Array;

// Keys are 256 random bits, so a fast hash is enough: there is nothing to brute-force.
/** The SHA-256 of a key's secret, as lowercase hex: all a key document keeps of it. */
export function hashKey(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** A new key id: `key_` and 72 random bits. */
export function newKeyId(randomBytes: RandomBytes): string {
  return `key_${Buffer.from(randomBytes(9)).toString('base64url')}`;
}

/** A new secret: 256 random bits, `sy-` for a team key and `sya-` for a role key. */
export function newSecret(owner: KeyOwner, randomBytes: RandomBytes): string {
  return `${'team' in owner ? 'sy' : 'sya'}-${Buffer.from(randomBytes(32)).toString('base64url')}`;
}

export interface KeyDocumentOptions {
  id: string;
  createdAtMs: number;
  /** ISO 8601; the key answers 401 from then on. */
  expiresAt?: string;
  /** The setting the key came from (SWITCHYARD_ADMIN_KEY…). */
  configuredBy?: string;
}

/** The key document for a secret, validated like every document: only the secret's hash is kept. */
export function keyDocument(owner: KeyOwner, secret: string, options: KeyDocumentOptions): StoredKey {
  const { id, createdAtMs, expiresAt, configuredBy } = options;
  return keyDocumentSchema.parse({
    id,
    hash: hashKey(secret),
    createdAt: new Date(createdAtMs).toISOString(),
    ...owner,
    ...(expiresAt === undefined ? {} : { expiresAt }),
    ...(configuredBy === undefined ? {} : { configuredBy }),
  });
}

export interface MintKeyOptions {
  nowMs: number;
  randomBytes: RandomBytes;
  expiresAt?: string;
}

/** A new key: its secret, to be shown once, and the document to store. */
export function mintKey(owner: KeyOwner, options: MintKeyOptions): { secret: string; stored: StoredKey } {
  const secret = newSecret(owner, options.randomBytes);
  const stored = keyDocument(owner, secret, {
    id: newKeyId(options.randomBytes),
    createdAtMs: options.nowMs,
    expiresAt: options.expiresAt,
  });
  return { secret, stored };
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
export async function ensureConfiguredKey(
  store: CatalogStore,
  owner: KeyOwner,
  setting: string,
  secret: string,
  nowMs: number,
): Promise<void> {
  const hash = hashKey(secret);
  const keys = await store.list('key');
  for (const replaced of keys.filter((k) => k.doc.configuredBy === setting && k.doc.hash !== hash)) {
    await store.delete('key', replaced.doc.id, { ifMatch: replaced.etag }).catch(ignoreLostRace);
  }
  const current = keys.find((k) => k.doc.hash === hash);
  if (current) {
    // A key stored before keys were marked with their setting is marked now, so its replacement revokes it.
    if (current.doc.configuredBy !== setting)
      await store.put('key', { ...current.doc, configuredBy: setting }, { ifMatch: current.etag }).catch(ignoreLostRace);
    return;
  }
  const stored = keyDocument(owner, secret, { id: configuredKeyId(setting, hash), createdAtMs: nowMs, configuredBy: setting });
  await store.put('key', stored, { ifNoneMatch: '*' }).catch(ignoreLostRace);
}

/** Generates a key for an owner that has none yet; returns the secret, to be shown once. */
export async function generateKeyIfNone(store: CatalogStore, owner: KeyOwner, options: MintKeyOptions): Promise<string | undefined> {
  const keys = await store.list('key');
  const owned = keys.some((k) => ('team' in owner ? k.doc.team === owner.team : k.doc.role === owner.role));
  if (owned) return undefined;
  const { secret, stored } = mintKey(owner, options);
  await store.put('key', stored, { ifNoneMatch: '*' });
  return secret;
}
