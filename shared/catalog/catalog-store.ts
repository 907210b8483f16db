import type { StoredKey } from '../auth/api-keys.js';
import type { Deployment, Route, Team } from './schemas.js';

export interface DocTypes {
  deployment: Deployment;
  route: Route;
  team: Team;
  key: StoredKey;
}
export type DocType = keyof DocTypes;

export interface Versioned<T> {
  doc: T;
  etag: string;
}

export interface PutOptions {
  /** Replace only if the stored document still has this ETag (412 otherwise). */
  ifMatch?: string;
  /** Create only; 409 if the document exists. */
  createOnly?: boolean;
}

/** The port through which configuration documents are read and written. */
export interface CatalogStore {
  get<T extends DocType>(type: T, id: string): Promise<Versioned<DocTypes[T]> | undefined>;
  list<T extends DocType>(type: T): Promise<Array<Versioned<DocTypes[T]>>>;
  /** Every configuration document, for the in-memory snapshot each instance keeps. */
  loadAll(): Promise<Array<{ type: DocType; doc: unknown }>>;
  put<T extends DocType>(type: T, doc: DocTypes[T], options?: PutOptions): Promise<Versioned<DocTypes[T]>>;
  delete(type: DocType, id: string, options?: { ifMatch?: string }): Promise<void>;
  /** A token that changes whenever any document is written or deleted; undefined before the first write. */
  readVersion(): Promise<string | undefined>;
}
