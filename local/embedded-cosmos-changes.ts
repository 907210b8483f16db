import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';

/**
 * Every change the embedded Cosmos-compatible server makes to its data, observed where all of them pass:
 * `@vercel/cosmosdb-server` 1.0.x keeps databases, containers, user-defined functions and items in `Items`
 * collections whose `_set` (create, replace, upsert, patch, batch, bulk) and `delete` are the only writers.
 * Watching those two methods catches every write whatever request shape caused it.
 */

export type Resource = Record<string, unknown>;

/** Where a changed resource lives: ids, not the server's resource ids, which are minted anew on replay. */
export type ChangeLocation =
  | { kind: 'database' }
  | { kind: 'container'; db: string }
  | { kind: 'udf'; db: string; container: string }
  | { kind: 'item'; db: string; container: string };

export type StoreChange = ChangeLocation & ({ op: 'put'; data: Resource } | { op: 'delete'; id: string; partition: unknown });

// The parts of the server's internals this module relies on.
export interface StoredResource {
  read(): Resource | null | undefined;
}
export interface StoredItems<T extends StoredResource = StoredResource> {
  _data: Map<string, T>;
  _set(data: Resource): Resource;
  create(data: Resource): Resource;
  delete(id: string, partition: unknown): void;
  _item(keyPath: string, value: unknown, partition: unknown): T;
  _getPartition(data: Resource): unknown;
  _ridCount: number;
  _rid(count: number): string;
  _self(rid: string): string;
}
export interface StoredContainer extends StoredResource {
  documents: StoredItems;
  userDefinedFunctions: StoredItems;
}
export interface StoredDatabase extends StoredResource {
  collections: StoredItems<StoredContainer>;
}
export interface StoredAccount {
  databases: StoredItems<StoredDatabase>;
}

const requireServerModule = createRequire(import.meta.url);
const { default: Items } = requireServerModule('@vercel/cosmosdb-server/lib/account/items') as { default: { prototype: StoredItems } };

type ChangeListener = (change: StoreChange) => void;

/** Accounts whose changes are reported, and to whom. Several stores may run in one process (tests). */
const listeners = new Map<StoredAccount, ChangeListener>();
const located = new WeakMap<StoredItems, { account: StoredAccount; location: ChangeLocation }>();
let installed = false;

/** Reports every change made to `account` to `listener` until the returned function is called. */
export function watchChanges(account: StoredAccount, listener: ChangeListener): () => void {
  installHooks();
  listeners.set(account, listener);
  return () => listeners.delete(account);
}

function installHooks(): void {
  if (installed) return;
  installed = true;
  const prototype = Items.prototype;
  const originalSet = prototype._set;
  const originalDelete = prototype.delete;
  prototype._set = function (this: StoredItems, data: Resource): Resource {
    const stored = originalSet.call(this, data);
    report(this, (location) => ({ ...location, op: 'put', data: durableFields(stored) }));
    return stored;
  };
  prototype.delete = function (this: StoredItems, id: string, partition: unknown): void {
    const existing = this._item('/id', id, partition).read();
    originalDelete.call(this, id, partition);
    if (existing)
      report(this, (location) => ({ ...location, op: 'delete', id: String(existing.id), partition: this._getPartition(existing) }));
  };
}

function report(items: StoredItems, change: (location: ChangeLocation) => StoreChange): void {
  const found = locate(items);
  if (!found) return; // partition key ranges, which the server derives from its container
  listeners.get(found.account)?.(change(found.location));
}

function locate(items: StoredItems): { account: StoredAccount; location: ChangeLocation } | undefined {
  const known = located.get(items);
  if (known) return known;
  for (const account of listeners.keys()) {
    const location = locateIn(account, items);
    if (location) {
      const found = { account, location };
      located.set(items, found);
      return found;
    }
  }
  return undefined;
}

function locateIn(account: StoredAccount, items: StoredItems): ChangeLocation | undefined {
  if (account.databases === items) return { kind: 'database' };
  for (const database of account.databases._data.values()) {
    const db = String(database.read()?.id);
    if (database.collections === items) return { kind: 'container', db };
    for (const container of database.collections._data.values()) {
      const id = String(container.read()?.id);
      if (container.documents === items) return { kind: 'item', db, container: id };
      if (container.userDefinedFunctions === items) return { kind: 'udf', db, container: id };
    }
  }
  return undefined;
}

const SYSTEM_FIELDS = ['_rid', '_self', '_etag', '_ts', '_attachments'];

/** A resource without the fields the server derives from where it stores it (minted anew on replay). */
function durableFields(data: Resource): Resource {
  const { _rid, _self, _attachments, ...kept } = data;
  return kept;
}

/**
 * Applies a recorded change to an account (a restore or a journal replay): a put replaces whatever has
 * that id and keeps the recorded ETag and timestamp, so an ETag a client read before a restart still matches.
 * The change is consumed: its document becomes the stored one.
 */
export function applyChange(account: StoredAccount, change: StoreChange): void {
  const items = itemsAt(account, change);
  if (!items) throw new Error(`journal names a ${change.kind} whose database or container does not exist`);
  if (change.op === 'delete') {
    if (items._item('/id', change.id, change.partition).read()) items.delete(change.id, change.partition);
    return;
  }
  const partition = items._getPartition(change.data);
  if (items._item('/id', change.data.id, partition).read()) items.delete(String(change.data.id), partition);
  if (change.kind === 'item') {
    // Items are most of a restore: set directly, as `create` would, without copying the parsed document.
    const data = change.data;
    items._ridCount += 1;
    data._rid = items._rid(items._ridCount);
    data._self = items._self(data._rid as string);
    data._etag ??= randomUUID();
    data._ts ??= Math.floor(Date.now() / 1000);
    items._set(data);
    return;
  }
  // Containers and user-defined functions are set up by `create` (indexing defaults, compiled functions).
  const fresh: Resource = {};
  for (const [name, value] of Object.entries(change.data)) if (!SYSTEM_FIELDS.includes(name)) fresh[name] = value;
  const stored = items.create(fresh);
  if (typeof change.data._etag === 'string') stored._etag = change.data._etag;
  if (typeof change.data._ts === 'number') stored._ts = change.data._ts;
}

function itemsAt(account: StoredAccount, location: ChangeLocation): StoredItems | undefined {
  if (location.kind === 'database') return account.databases;
  const database = account.databases._item('/id', location.db, location.db);
  if (!database.read()) return undefined;
  if (location.kind === 'container') return database.collections;
  const container = database.collections._item('/id', location.container, location.container);
  if (!container.read()) return undefined;
  return location.kind === 'item' ? container.documents : container.userDefinedFunctions;
}

/** The whole account as a list of puts, parents first: what a snapshot holds. Synchronous, so point-in-time. */
export function captureChanges(account: StoredAccount): StoreChange[] {
  const changes: StoreChange[] = [];
  for (const database of account.databases._data.values()) {
    const dbData = database.read();
    if (!dbData) continue;
    const db = String(dbData.id);
    changes.push({ kind: 'database', op: 'put', data: durableFields(dbData) });
    for (const container of database.collections._data.values()) {
      const containerData = container.read();
      if (!containerData) continue;
      const id = String(containerData.id);
      changes.push({ kind: 'container', db, op: 'put', data: durableFields(containerData) });
      for (const udf of container.userDefinedFunctions._data.values()) {
        const data = udf.read();
        if (data) changes.push({ kind: 'udf', db, container: id, op: 'put', data: durableFields(data) });
      }
      for (const item of container.documents._data.values()) {
        const data = item.read();
        if (data) changes.push({ kind: 'item', db, container: id, op: 'put', data: durableFields(data) });
      }
    }
  }
  return changes;
}
