import type { Container, OperationInput } from '@azure/cosmos';
import { z } from 'zod';
import { errors } from '../errors.js';
import type { ShadowStore } from '../gateway/shadow-log.js';
import type { ShadowRecord } from '../usage/shadow-record.js';

/** Operations in one bulk request, as Cosmos allows. */
const BULK_LIMIT = 100;

const sideSchema = z.object({
  deployment: z.string(),
  latencyMs: z.number(),
  ttftMs: z.number().optional(),
  inputTokens: z.number(),
  outputTokens: z.number(),
  costMicroUsd: z.number(),
  costRemainderPicoUsd: z.number(),
  ok: z.boolean(),
  error: z.string().optional(),
  answer: z.string().optional(),
});

const recordSchema = z.object({
  id: z.string(),
  alias: z.string(),
  team: z.string(),
  operation: z.enum(['chat', 'embeddings']),
  day: z.string(),
  ts: z.string(),
  primary: sideSchema,
  shadow: sideSchema,
});

/**
 * Shadow records in the `shadow` container, partitioned by alias: a route's summary is one single-partition query.
 * Records are created once, in bulk, and never updated; the container's default TTL (30 days) expires them.
 */
export class CosmosShadowStore implements ShadowStore {
  readonly #container: Container;

  constructor(container: Container) {
    this.#container = container;
  }

  async appendMany(records: readonly ShadowRecord[]): Promise<void> {
    for (let i = 0; i < records.length; i += BULK_LIMIT) {
      const operations: OperationInput[] = records
        .slice(i, i + BULK_LIMIT)
        .map((record) => ({ operationType: 'Create', partitionKey: record.alias, resourceBody: { ...record } }));
      const results = await this.#container.items.bulk(operations, { continueOnError: true });
      // A 409 is a record an earlier attempt already wrote.
      const failed = results.find((r) => r.statusCode >= 400 && r.statusCode !== 409);
      if (failed)
        throw Object.assign(new Error(`shadow record write failed with status ${failed.statusCode}`), { code: failed.statusCode });
    }
  }

  async read(
    alias: string,
    range: { fromTs: string; toTs: string; limit: number },
  ): Promise<{ records: ShadowRecord[]; truncated: boolean }> {
    try {
      // One more than asked, to know whether the range held more.
      const { resources } = await this.#container.items
        .query(
          {
            query: 'SELECT TOP @top * FROM c WHERE c.alias = @alias AND c.ts >= @from AND c.ts <= @to',
            parameters: [
              { name: '@top', value: range.limit + 1 },
              { name: '@alias', value: alias },
              { name: '@from', value: range.fromTs },
              { name: '@to', value: range.toTs },
            ],
          },
          { partitionKey: alias },
        )
        .fetchAll();
      const records = resources.flatMap((resource) => {
        const parsed = recordSchema.safeParse(resource);
        return parsed.success ? [parsed.data as ShadowRecord] : [];
      });
      return { records: records.slice(0, range.limit), truncated: records.length > range.limit };
    } catch (error) {
      throw errors.storeUnavailable(error);
    }
  }
}
