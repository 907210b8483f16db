import type { z } from 'zod';
import { blocklistDocumentSchema, type BlocklistDocument } from '../safety/safety-profile.js';
import {
  deploymentSchema,
  keyDocumentSchema,
  routeSchema,
  teamSchema,
  type Deployment,
  type Route,
  type StoredKey,
  type Team,
} from './schemas.js';

export interface DocTypes {
  deployment: Deployment;
  route: Route;
  team: Team;
  key: StoredKey;
  blocklist: BlocklistDocument;
}
export type DocType = keyof DocTypes;

/** The schema of each type of document: what a write must pass and what a read is parsed with. */
export const documentSchemas: { [T in DocType]: z.ZodType<DocTypes[T]> } = {
  deployment: deploymentSchema,
  route: routeSchema,
  team: teamSchema,
  key: keyDocumentSchema,
  blocklist: blocklistDocumentSchema,
};

export interface Versioned<T> {
  doc: T;
  etag: string;
}

/**
 * The condition a write is made under (RFC 9110 §13.1), checked by the store atomically with the write.
 * - `ifMatch: '<etag>'` replaces only the document with that ETag; 412 when it changed or does not exist.
 * - `ifMatch: '*'` replaces only an existing document; 412 when there is none.
 * - `ifNoneMatch: '*'` creates only; 412 when the document exists.
 * - neither: creates the document, or replaces it when it exists (`created` says which happened).
 */
export interface PutOptions {
  ifMatch?: string;
  ifNoneMatch?: '*';
}

export interface DeleteOptions {
  /** An ETag or '*'; 412 when the document changed. A document that does not exist is 404 whatever the condition. */
  ifMatch?: string;
}

/** The port through which configuration documents are read and written. */
export interface CatalogStore {
  get<T extends DocType>(type: T, id: string): Promise<Versioned<DocTypes[T]> | undefined>;
  list<T extends DocType>(type: T): Promise<Array<Versioned<DocTypes[T]>>>;
  /** Every configuration document, for the in-memory snapshot each instance keeps. */
  loadAll(): Promise<Array<{ type: DocType; doc: unknown }>>;
  put<T extends DocType>(type: T, doc: DocTypes[T], options?: PutOptions): Promise<Versioned<DocTypes[T]> & { created: boolean }>;
  delete(type: DocType, id: string, options?: DeleteOptions): Promise<void>;
  /** A token that changes whenever any document is written or deleted; undefined before the first write. */
  readVersion(): Promise<string | undefined>;
  /** Notes when a key was last used; kept apart from the key, so it neither moves the catalog version nor the key's ETag. */
  recordKeyUse(keyId: string, usedAt: string): Promise<void>;
  /** When each key was last used, by key id (keys never used are absent). */
  readKeyUses(): Promise<Map<string, string>>;
}
