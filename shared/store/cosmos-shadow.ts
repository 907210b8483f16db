import type { Container } from '@azure/cosmos';
import { z } from 'zod';
import { errors } from '../errors.js';
import type { ShadowLog } from '../gateway/shadow-log.js';
import type { ShadowRecord } from '../usage/shadow-record.js';

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
 * Records are created once and never updated; the container's default TTL (30 days) expires them.
 */
export class CosmosShadowLog implements ShadowLog {
  readonly #container: Container;

  constructor(container: Container) {
    this.#container = container;
  }

  async append(record: ShadowRecord): Promise<void> {
    await this.#container.items.create(record);
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
