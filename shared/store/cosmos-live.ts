import type { Container, ItemDefinition } from '@azure/cosmos';
import { liveDocSchema, type LiveDoc, type LiveStore } from '../routing/live-state.js';
import { cosmosStatus } from './containers.js';

/** Every live document sits in this one logical partition, so reading them all is one single-partition query. */
const SCOPE = 'deployments';

/**
 * The shared live state in the `live` container: one small document per deployment with an entry per instance.
 * Reads are one query for all of them per sync; writes replace one document under If-Match (or create it when
 * absent), so two instances claiming capacity slots at once cannot both succeed on the same version.
 */
export class CosmosLiveStore implements LiveStore {
  readonly #container: Container;

  constructor(container: Container) {
    this.#container = container;
  }

  async readAll(): Promise<LiveDoc[]> {
    const { resources } = await this.#container.items
      .query<ItemDefinition>({ query: 'SELECT * FROM c' }, { partitionKey: SCOPE })
      .fetchAll();
    // A document another version of Switchyard wrote differently is skipped, not trusted.
    return resources.flatMap((resource) => {
      const parsed = liveDocSchema.safeParse(resource);
      return parsed.success ? [{ ...parsed.data, etag: resource._etag }] : [];
    });
  }

  async write(doc: LiveDoc, etag: string | undefined): Promise<string | undefined> {
    const body = { id: doc.id, scope: SCOPE, entries: doc.entries };
    try {
      const { resource } =
        etag === undefined
          ? await this.#container.items.create(body)
          : await this.#container.item(doc.id, SCOPE).replace(body, { accessCondition: { type: 'IfMatch', condition: etag } });
      return resource?._etag;
    } catch (error) {
      // Another instance wrote first (or created it first, or deleted it): the next sync starts from its version.
      const status = cosmosStatus(error);
      if (status === 412 || status === 409 || status === 404) return undefined;
      throw error;
    }
  }
}
