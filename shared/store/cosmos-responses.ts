import type { Container, ItemDefinition } from '@azure/cosmos';
import { z } from 'zod';
import { errors } from '../errors.js';
import { RESPONSE_ID, type ResponseStore, type StoredResponse } from '../gateway/responses-store.js';
import { cosmosStatus } from './containers.js';

const storedSchema = z.object({
  id: z.string(),
  team: z.string(),
  input: z.array(z.looseObject({})),
  response: z.looseObject({ id: z.string(), status: z.string(), output: z.array(z.looseObject({})) }),
});

/** Stored Responses in the `responses` container, partitioned by team: a read names the caller's team, so it cannot reach another's. */
export class CosmosResponseStore implements ResponseStore {
  readonly #container: Container;

  constructor(container: Container) {
    this.#container = container;
  }

  async put(stored: StoredResponse): Promise<void> {
    // Ids are fresh per Response, so a plain create; the container's default TTL expires it.
    await guard(() => this.#container.items.create(stored));
  }

  async get(team: string, id: string): Promise<StoredResponse | undefined> {
    if (!RESPONSE_ID.test(id)) return undefined;
    // A point read in the team's partition: 1 RU, and no way to see another team's document.
    const resource = await guard(async () => (await this.#container.item(id, team).read<ItemDefinition>()).resource);
    if (!resource) return undefined;
    const parsed = storedSchema.safeParse(resource);
    return parsed.success ? (parsed.data as StoredResponse) : undefined;
  }

  async delete(team: string, id: string): Promise<boolean> {
    if (!RESPONSE_ID.test(id)) return false;
    return guard(async () => {
      await this.#container.item(id, team).delete();
      return true;
    }, false);
  }
}

// A missing document is an answer (absent); any other failure is the store being unavailable.
async function guard<T>(call: () => Promise<T>, absent?: T): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (cosmosStatus(error) === 404) return absent as T;
    throw errors.storeUnavailable(error);
  }
}
