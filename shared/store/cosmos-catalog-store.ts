import type { Container, ItemDefinition } from '@azure/cosmos';
import type { CatalogStore, DocType, DocTypes, PutOptions, Versioned } from '../catalog/catalog-store.js';
import { errors } from '../errors.js';
import { cosmosStatus } from './containers.js';

const SYSTEM_FIELDS = ['_rid', '_self', '_etag', '_ts', '_attachments', '_lsn'];

function strip<T>(resource: ItemDefinition): T {
  const copy: Record<string, unknown> = { ...resource };
  for (const field of SYSTEM_FIELDS) delete copy[field];
  // A route's id is its alias; the document users see has the alias only.
  if (copy.type === 'route') delete copy.id;
  delete copy.type;
  return copy as T;
}

/** The Cosmos id of a configuration document. */
export function documentId(type: DocType, doc: { id?: string; alias?: string }): string {
  return (type === 'route' ? doc.alias : doc.id) ?? '';
}

function translate(error: unknown): never {
  const status = cosmosStatus(error);
  if (status === 412) throw errors.preconditionFailed();
  if (status === 409) throw errors.conflict('A document with that id already exists.');
  if (status === 404) throw errors.notFound('The document');
  throw errors.storeUnavailable(error);
}

const VERSION_ID = 'catalog-version';
const VERSION_TYPE = 'meta';

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

  async get<T extends DocType>(type: T, id: string): Promise<Versioned<DocTypes[T]> | undefined> {
    try {
      const { resource } = await this.container.item(id, type).read<ItemDefinition>();
      return resource ? { doc: strip<DocTypes[T]>(resource), etag: resource._etag! } : undefined;
    } catch (error) {
      if (cosmosStatus(error) === 404) return undefined;
      return translate(error);
    }
  }

  async list<T extends DocType>(type: T): Promise<Array<Versioned<DocTypes[T]>>> {
    try {
      const { resources } = await this.container.items
        .query<ItemDefinition>({ query: 'SELECT * FROM c WHERE c.type = @type', parameters: [{ name: '@type', value: type }] }, { partitionKey: type })
        .fetchAll();
      return resources
        .map((r) => ({ doc: strip<DocTypes[T]>(r), etag: r._etag! }))
        .sort((a, b) => String((a.doc as { id: string }).id).localeCompare(String((b.doc as { id: string }).id)));
    } catch (error) {
      return translate(error);
    }
  }

  async loadAll(): Promise<Array<{ type: DocType; doc: unknown }>> {
    const { resources } = await this.container.items.query<ItemDefinition>('SELECT * FROM c').fetchAll();
    return resources.filter((r) => r.type !== VERSION_TYPE).map((r) => ({ type: r.type as DocType, doc: strip(r) }));
  }

  async put<T extends DocType>(type: T, doc: DocTypes[T], options: PutOptions = {}): Promise<Versioned<DocTypes[T]>> {
    const id = documentId(type, doc as { id?: string; alias?: string });
    const body = { ...doc, id, type };
    try {
      const response = options.createOnly
        ? await this.container.items.create(body)
        : options.ifMatch
          ? await this.container.item(id, type).replace(body, { accessCondition: { type: 'IfMatch', condition: options.ifMatch } })
          : await this.container.items.upsert(body);
      await this.bumpVersion();
      return { doc: strip<DocTypes[T]>(response.resource!), etag: response.resource!._etag! };
    } catch (error) {
      return translate(error);
    }
  }

  async delete(type: DocType, id: string, options: { ifMatch?: string } = {}): Promise<void> {
    try {
      await this.container.item(id, type).delete(options.ifMatch ? { accessCondition: { type: 'IfMatch', condition: options.ifMatch } } : undefined);
      await this.bumpVersion();
    } catch (error) {
      translate(error);
    }
  }
}
