import type { Container, JSONObject, OperationInput } from '@azure/cosmos';
import { z } from 'zod';
import type { AllocationRecord, AllocationStore } from '../allocation/allocation-store.js';
import type { HourDocument } from '../allocation/hour-document.js';
import type { UsageRecord } from '../usage/usage-record.js';
import { cosmosStatus } from './containers.js';

const firstHourSchema = z.object({ hour: z.string() });

/**
 * Hourly allocations in their own container, partitioned by UTC month: a month's statement or reconcile reads one
 * partition. Each hour is one document, upserted whole, so recomputing an hour after late usage is idempotent.
 */
export class CosmosAllocationStore implements AllocationStore {
  constructor(
    private readonly usage: Container,
    private readonly allocations: Container,
  ) {}

  async readDeploymentRecords(deployment: string, fromIso: string, toIso: string): Promise<AllocationRecord[]> {
    // Cross-partition (records are partitioned by team and day); the day bounds let the store skip other days'
    // partitions, and only the fields allocation needs are read. Runs hourly from the timer, never on a request.
    const { resources } = await this.usage.items
      .query<AllocationRecord>({
        query:
          'SELECT c.team, c.alias, c.deployment, c.ts, c.inputTokens, c.outputTokens, c.latencyMs FROM c ' +
          'WHERE c.type = "request" AND c.deployment = @deployment AND c.day >= @fromDay AND c.day <= @toDay AND c.ts >= @from AND c.ts < @to',
        parameters: [
          { name: '@deployment', value: deployment },
          { name: '@fromDay', value: fromIso.slice(0, 10) },
          { name: '@toDay', value: toIso.slice(0, 10) },
          { name: '@from', value: fromIso },
          { name: '@to', value: toIso },
        ],
      })
      .fetchAll();
    return resources;
  }

  async *readRecordPages(fromDay: string, toDay: string): AsyncIterable<UsageRecord[]> {
    // Cross-partition and a page at a time: a month of records is summed as it streams, never held whole.
    const query = this.usage.items.query<UsageRecord>(
      {
        query: 'SELECT * FROM c WHERE c.type = "request" AND c.day >= @from AND c.day <= @to',
        parameters: [
          { name: '@from', value: fromDay },
          { name: '@to', value: toDay },
        ],
      },
      { maxItemCount: 1000 },
    );
    for await (const page of query.getAsyncIterator()) yield page.resources;
  }

  async readHours(range: { fromIso: string; toIso: string; deployment?: string }): Promise<HourDocument[]> {
    const parameters = [
      { name: '@from', value: range.fromIso },
      { name: '@to', value: range.toIso },
    ];
    let query = 'SELECT * FROM c WHERE c.type = "hour" AND c.hour >= @from AND c.hour < @to';
    if (range.deployment !== undefined) {
      query += ' AND c.deployment = @deployment';
      parameters.push({ name: '@deployment', value: range.deployment });
    }
    const { resources } = await this.allocations.items.query<HourDocument>({ query, parameters }).fetchAll();
    return resources;
  }

  async writeHours(docs: HourDocument[]): Promise<void> {
    const computedAt = new Date().toISOString();
    // Bulk upserts, 100 a call: a month of a deployment's hours (reconcile, a first run) is 8 calls, not 744.
    for (let i = 0; i < docs.length; i += 100) {
      const operations: OperationInput[] = docs.slice(i, i + 100).map((doc) => ({
        operationType: 'Upsert',
        partitionKey: doc.month,
        resourceBody: { ...doc, computedAt } as unknown as JSONObject,
      }));
      const results = await this.allocations.items.bulk(operations);
      const failed = results.find((result) => result.statusCode >= 400);
      if (failed) throw Object.assign(new Error(`allocation write failed with status ${failed.statusCode}`), { code: failed.statusCode });
    }
  }

  async firstHour(deployment: string, hourIso: string): Promise<string> {
    // One small document per deployment in the `first-hours` partition; a lost race just rewrites the same hour.
    const item = this.allocations.item(`first|${deployment}`, 'first-hours');
    try {
      const { resource } = await item.read();
      if (resource) {
        const held = firstHourSchema.parse(resource).hour;
        if (held <= hourIso) return held;
      }
    } catch (error) {
      if (cosmosStatus(error) !== 404) throw error;
    }
    await this.allocations.items.upsert({ id: `first|${deployment}`, month: 'first-hours', type: 'first-hour', deployment, hour: hourIso });
    return hourIso;
  }
}
