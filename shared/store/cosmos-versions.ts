import type { Container, ItemDefinition } from '@azure/cosmos';
import { z } from 'zod';
import { roles } from '../catalog/schemas.js';
import { errors } from '../errors.js';
import type { DocumentVersion, VersionedKind, VersionLog } from '../gateway/version-log.js';
import { badToken, decodeToken, encodeToken, type Page, type PageRequest } from '../http/paging.js';
import { cosmosStatus } from './containers.js';

const versionSchema = z.object({
  version: z.number().int().positive(),
  at: z.string(),
  actor: z.object({ keyId: z.string(), role: z.enum(roles) }),
  action: z.enum(['put', 'patch', 'delete', 'rollback', 'shift', 'abort-shift']),
  document: z.record(z.string(), z.unknown()).nullable(),
});

/** Attempts at the next number when other writers take it first. */
const APPEND_ATTEMPTS = 5;

function parsed(resource: ItemDefinition): DocumentVersion | undefined {
  const result = versionSchema.safeParse(resource);
  return result.success ? result.data : undefined;
}

/**
 * Versions in the `versions` container, partitioned by document (`deployment/<id>`, `route/<alias>`, `team/<id>`): listing a
 * document's history is a single-partition query and reading one version a 1 RU point read. The version number is
 * the Cosmos id, unique in its partition, so two writers cannot both take a number: the loser's create is a 409
 * and it takes the next one.
 */
export class CosmosVersionLog implements VersionLog {
  readonly #container: Container;

  constructor(container: Container) {
    this.#container = container;
  }

  async append(kind: VersionedKind, id: string, entry: Omit<DocumentVersion, 'version'>): Promise<number> {
    const doc = `${kind}/${id}`;
    let next = (await this.#latest(doc)) + 1;
    for (let attempt = 1; ; attempt++, next++) {
      try {
        await this.#container.items.create({ id: String(next), doc, version: next, ...entry });
        return next;
      } catch (error) {
        if (cosmosStatus(error) !== 409 || attempt >= APPEND_ATTEMPTS) throw errors.storeUnavailable(error);
      }
    }
  }

  async list(kind: VersionedKind, id: string): Promise<DocumentVersion[]> {
    const doc = `${kind}/${id}`;
    try {
      const { resources } = await this.#container.items
        .query<ItemDefinition>(
          { query: 'SELECT * FROM c WHERE c.doc = @doc', parameters: [{ name: '@doc', value: doc }] },
          { partitionKey: doc },
        )
        .fetchAll();
      return resources.flatMap((r) => parsed(r) ?? []).sort((a, b) => b.version - a.version);
    } catch (error) {
      throw errors.storeUnavailable(error);
    }
  }

  async page(kind: VersionedKind, id: string, page: PageRequest): Promise<Page<DocumentVersion>> {
    const doc = `${kind}/${id}`;
    const continuationToken = page.continuation === undefined ? undefined : positionOf(page.continuation);
    try {
      // Paged by the store's own continuation token: the embedded store has no OFFSET/LIMIT.
      const response = await this.#container.items
        .query<ItemDefinition>(
          { query: 'SELECT * FROM c WHERE c.doc = @doc ORDER BY c.version DESC', parameters: [{ name: '@doc', value: doc }] },
          { partitionKey: doc, maxItemCount: page.limit, continuationToken },
        )
        .fetchNext();
      const data = response.resources.flatMap((r) => parsed(r) ?? []);
      return response.continuationToken === undefined ? { data } : { data, continuation: encodeToken(response.continuationToken) };
    } catch (error) {
      // A token the store cannot read back (made up, or of another query) is the caller's.
      if (cosmosStatus(error) === 400 && continuationToken !== undefined) throw badToken();
      throw errors.storeUnavailable(error);
    }
  }

  async get(kind: VersionedKind, id: string, version: number): Promise<DocumentVersion | undefined> {
    try {
      const { resource } = await this.#container.item(String(version), `${kind}/${id}`).read<ItemDefinition>();
      return resource ? parsed(resource) : undefined;
    } catch (error) {
      if (cosmosStatus(error) === 404) return undefined;
      throw errors.storeUnavailable(error);
    }
  }

  async #latest(doc: string): Promise<number> {
    try {
      const { resources } = await this.#container.items
        .query<number>(
          { query: 'SELECT VALUE MAX(c.version) FROM c WHERE c.doc = @doc', parameters: [{ name: '@doc', value: doc }] },
          { partitionKey: doc },
        )
        .fetchAll();
      return typeof resources[0] === 'number' ? resources[0] : 0;
    } catch (error) {
      throw errors.storeUnavailable(error);
    }
  }
}

function positionOf(token: string): string {
  const position = decodeToken(token);
  if (typeof position !== 'string') throw badToken();
  return position;
}
