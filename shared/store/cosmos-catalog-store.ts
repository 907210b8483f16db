import type { Container, ItemDefinition } from '@azure/cosmos';
import {
  documentSchemas,
  type CatalogStore,
  type DeleteOptions,
  type DocType,
  type DocTypes,
  type PutOptions,
  type Versioned,
} from '../catalog/catalog-store.js';
import { errors } from '../errors.js';
import { cosmosStatus } from './containers.js';

const SYSTEM_FIELDS = ['_rid', '_self', '_etag', '_ts', '_attachments', '_lsn'];

function strip(resource: ItemDefinition): Record<string, unknown> {
  const copy: Record<string, unknown> = { ...resource };
  for (const field of SYSTEM_FIELDS) delete copy[field];
  // A route's id is its alias, a blocklist's its name; the document users see has those only.
  if (copy.type === 'route' || copy.type === 'blocklist') delete copy.id;
  delete copy.type;
  return copy;
}

/** The Cosmos id of a configuration document. */
export function documentId(type: DocType, doc: { id?: string; alias?: string; name?: string }): string {
  if (type === 'route') return doc.alias ?? '';
  if (type === 'blocklist') return doc.name ?? '';
  return doc.id ?? '';
}

function translate(error: unknown, when: { absent: 'not_found' | 'precondition'; exists: 'conflict' | 'precondition' }): never {
  const status = cosmosStatus(error);
  if (status === 412) throw errors.preconditionFailed();
  if (status === 409)
    throw when.exists === 'precondition'
      ? errors.preconditionFailed('A document with that id already exists (If-None-Match: *).')
      : errors.conflict('A document with that id already exists.');
  if (status === 404)
    throw when.absent === 'precondition'
      ? errors.preconditionFailed('There is no such document to replace (If-Match).')
      : errors.notFound('The document');
  throw errors.storeUnavailable(error);
}

const READ = { absent: 'not_found', exists: 'conflict' } as const;

// The SDK puts ids into resource paths: '.', '..', '/', '\\', '#', '?', spaces or controls would address another
// resource (the container, a sibling) or fail as an outage. The use cases validate ids first; this is the backstop.
const SAFE_ID = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,254}$/;

function refuseUnsafeId(id: string, use: 'read' | 'write'): void {
  if (SAFE_ID.test(id)) return;
  throw use === 'read'
    ? errors.notFound('The document')
    : errors.invalidRequest('A document id is 1-255 characters of A-Z, a-z, 0-9, ".", "_" or "-", not starting with ".".', 'id');
}

const VERSION_ID = 'catalog-version';
const VERSION_TYPE = 'meta';
/** The partition of last-used times, one small document per key, kept out of the configuration. */
const KEY_USE_TYPE = 'key-use';
const CONFIGURATION_TYPES: readonly DocType[] = ['deployment', 'route', 'team', 'key', 'blocklist'];

/**
 * Configuration documents in one small Cosmos container partitioned by document type. Every write also
 * replaces a version document, whose ETag lets each instance learn of a change with a 1 RU point read.
 */
export class CosmosCatalogStore implements CatalogStore {
  constructor(
    private readonly container: Container,
    private readonly log: (message: string) => void = () => undefined,
  ) {}

  async readVersion(): Promise<string | undefined> {
    try {
      const { resource } = await this.container.item(VERSION_ID, VERSION_TYPE).read<ItemDefinition>();
      return resource?._etag;
    } catch (error) {
      if (cosmosStatus(error) === 404) return undefined;
      throw error;
    }
  }

  // After the write, never before: an instance that sees the new version must also see the new document.
  private async bumpVersion(): Promise<void> {
    try {
      await this.container.items.upsert({ id: VERSION_ID, type: VERSION_TYPE, changedAt: new Date().toISOString() });
    } catch (error) {
      // The change is written; other instances pick it up at their next full reload instead.
      this.log(`catalog: could not move the catalog version: ${(error as Error).message}`);
    }
  }

  // A document written around Switchyard (or before a rule it now breaks) is logged and treated as absent, as
  // the snapshot treats it: nothing downstream reads a document that its schema refuses.
  private parse<T extends DocType>(type: T, resource: ItemDefinition): Versioned<DocTypes[T]> | undefined {
    const parsed = documentSchemas[type].safeParse(strip(resource));
    if (parsed.success) return { doc: parsed.data, etag: resource._etag! };
    this.log(`catalog: skipped invalid ${type} ${String(resource.id)}: ${parsed.error.message}`);
    return undefined;
  }

  async get<T extends DocType>(type: T, id: string): Promise<Versioned<DocTypes[T]> | undefined> {
    refuseUnsafeId(id, 'read');
    try {
      const { resource } = await this.container.item(id, type).read<ItemDefinition>();
      return resource ? this.parse(type, resource) : undefined;
    } catch (error) {
      if (cosmosStatus(error) === 404) return undefined;
      return translate(error, READ);
    }
  }

  async list<T extends DocType>(type: T): Promise<Array<Versioned<DocTypes[T]>>> {
    try {
      const { resources } = await this.container.items
        .query<ItemDefinition>(
          { query: 'SELECT * FROM c WHERE c.type = @type', parameters: [{ name: '@type', value: type }] },
          { partitionKey: type },
        )
        .fetchAll();
      return resources.sort((a, b) => a.id!.localeCompare(b.id!)).flatMap((r) => this.parse(type, r) ?? []);
    } catch (error) {
      return translate(error, READ);
    }
  }

  async loadAll(): Promise<Array<{ type: DocType; doc: unknown }>> {
    const { resources } = await this.container.items
      .query<ItemDefinition>({
        query: 'SELECT * FROM c WHERE ARRAY_CONTAINS(@types, c.type)',
        parameters: [{ name: '@types', value: [...CONFIGURATION_TYPES] }],
      })
      .fetchAll();
    return resources.map((r) => ({ type: r.type as DocType, doc: strip(r) }));
  }

  async put<T extends DocType>(
    type: T,
    doc: DocTypes[T],
    options: PutOptions = {},
  ): Promise<Versioned<DocTypes[T]> & { created: boolean }> {
    const id = documentId(type, doc as { id?: string; alias?: string; name?: string });
    refuseUnsafeId(id, 'write');
    const body = { ...doc, id, type };
    let written: { resource: ItemDefinition; created: boolean };
    try {
      if (options.ifNoneMatch === '*') {
        written = { resource: (await this.container.items.create(body)).resource!, created: true };
      } else if (options.ifMatch !== undefined) {
        // Without an access condition a replace still fails when the document is absent: that is If-Match: *.
        const condition = options.ifMatch === '*' ? undefined : { accessCondition: { type: 'IfMatch', condition: options.ifMatch } };
        written = { resource: (await this.container.item(id, type).replace(body, condition)).resource!, created: false };
      } else {
        written = await this.createOrReplace(id, type, body);
      }
    } catch (error) {
      return translate(error, { absent: 'precondition', exists: 'precondition' });
    }
    await this.bumpVersion();
    return { doc, etag: written.resource._etag!, created: written.created };
  }

  // Create first, replace when it exists: of concurrent unconditional PUTs of a new id exactly one creates it,
  // which an upsert could not tell. A delete between the two steps sends it round again.
  private async createOrReplace(id: string, type: DocType, body: ItemDefinition): Promise<{ resource: ItemDefinition; created: boolean }> {
    for (let attempt = 0; ; attempt++) {
      try {
        return { resource: (await this.container.items.create(body)).resource!, created: true };
      } catch (error) {
        if (cosmosStatus(error) !== 409) throw error;
      }
      try {
        return { resource: (await this.container.item(id, type).replace(body)).resource!, created: false };
      } catch (error) {
        if (cosmosStatus(error) !== 404 || attempt >= 2) throw error;
      }
    }
  }

  async delete(type: DocType, id: string, options: DeleteOptions = {}): Promise<void> {
    refuseUnsafeId(id, 'read');
    try {
      const condition =
        options.ifMatch && options.ifMatch !== '*' ? { accessCondition: { type: 'IfMatch', condition: options.ifMatch } } : undefined;
      await this.container.item(id, type).delete(condition);
    } catch (error) {
      translate(error, READ);
    }
    await this.bumpVersion();
    if (type === 'key') {
      await this.container
        .item(id, KEY_USE_TYPE)
        .delete()
        .catch(() => undefined);
    }
  }

  // A blind upsert: the latest use wins, and a lost race between instances costs at most one interval.
  async recordKeyUse(keyId: string, usedAt: string): Promise<void> {
    refuseUnsafeId(keyId, 'write');
    try {
      await this.container.items.upsert({ id: keyId, type: KEY_USE_TYPE, usedAt });
    } catch (error) {
      translate(error, READ);
    }
  }

  async readKeyUses(): Promise<Map<string, string>> {
    try {
      const { resources } = await this.container.items
        .query<{ id: string; usedAt: string }>(
          { query: 'SELECT c.id, c.usedAt FROM c WHERE c.type = @type', parameters: [{ name: '@type', value: KEY_USE_TYPE }] },
          { partitionKey: KEY_USE_TYPE },
        )
        .fetchAll();
      return new Map(resources.map((r) => [r.id, r.usedAt]));
    } catch (error) {
      return translate(error, READ);
    }
  }
}
