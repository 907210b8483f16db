import type { Container } from '@azure/cosmos';
import { z } from 'zod';
import { roles } from '../catalog/schemas.js';
import { errors } from '../errors.js';
import { auditKinds, type AuditEntry, type AuditLog, type AuditQuery } from '../gateway/audit-log.js';

const entrySchema = z.object({
  at: z.string(),
  actor: z.object({ keyId: z.string(), role: z.enum(roles) }),
  kind: z.enum(auditKinds),
  target: z.string(),
  action: z.enum(['put', 'patch', 'delete', 'create', 'rollback', 'shift', 'abort-shift', 'selftest']),
  before: z.record(z.string(), z.unknown()).nullable(),
  after: z.record(z.string(), z.unknown()).nullable(),
});

/** The UTC months (YYYY-MM) a range of days touches, in order. */
export function monthsOf(from: string, to: string): string[] {
  const months: string[] = [];
  let [year, month] = from.slice(0, 7).split('-').map(Number) as [number, number];
  const last = to.slice(0, 7);
  for (;;) {
    const current = `${year}-${String(month).padStart(2, '0')}`;
    months.push(current);
    if (current >= last) return months;
    month = month === 12 ? 1 : month + 1;
    if (month === 1) year++;
  }
}

/**
 * Audit entries in the `audit` container, partitioned by UTC month: a read of a date range is one
 * single-partition query per month it touches (a year is 13), never a fan-out over every partition.
 */
export class CosmosAuditLog implements AuditLog {
  readonly #container: Container;
  readonly #newId: () => string;

  constructor(container: Container, newId: () => string) {
    this.#container = container;
    this.#newId = newId;
  }

  async append(entry: AuditEntry): Promise<void> {
    const { id: target, ...rest } = entry;
    // Fresh ids, so a plain create; `day` is what a range query filters on within the month.
    await this.#container.items.create({ id: this.#newId(), month: entry.at.slice(0, 7), day: entry.at.slice(0, 10), target, ...rest });
  }

  async read(query: AuditQuery): Promise<AuditEntry[]> {
    const filters = ['c.day >= @from', 'c.day <= @to'];
    const parameters = [
      { name: '@from', value: query.from },
      { name: '@to', value: query.to },
    ];
    if (query.actor !== undefined) {
      filters.push('c.actor.keyId = @actor');
      parameters.push({ name: '@actor', value: query.actor });
    }
    if (query.kind !== undefined) {
      filters.push('c.kind = @kind');
      parameters.push({ name: '@kind', value: query.kind });
    }
    try {
      const perMonth = await Promise.all(
        monthsOf(query.from, query.to).map(
          async (month) =>
            (
              await this.#container.items
                // The month is in the filter too: the partition key scopes the query in Cosmos, the filter keeps
                // the answer exact where a store serves the query from every partition.
                .query(
                  {
                    query: `SELECT * FROM c WHERE c.month = @month AND ${filters.join(' AND ')}`,
                    parameters: [...parameters, { name: '@month', value: month }],
                  },
                  { partitionKey: month },
                )
                .fetchAll()
            ).resources,
        ),
      );
      return perMonth
        .flat()
        .flatMap((resource) => {
          const parsed = entrySchema.safeParse(resource);
          if (!parsed.success) return [];
          const { target, ...rest } = parsed.data;
          return [{ ...rest, id: target }];
        })
        .sort((a, b) => b.at.localeCompare(a.at));
    } catch (error) {
      throw errors.storeUnavailable(error);
    }
  }
}
