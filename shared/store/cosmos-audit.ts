import type { Container } from '@azure/cosmos';
import { z } from 'zod';
import { roles } from '../catalog/schemas.js';
import { errors } from '../errors.js';
import { auditKinds, type AuditEntry, type AuditLog, type AuditQuery } from '../gateway/audit-log.js';
import { badToken, decodeToken, encodeToken, type Page, type PageRequest } from '../http/paging.js';
import { cosmosStatus } from './containers.js';

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

  /**
   * One page, newest first: the months of the range are read newest first, each by one single-partition query
   * ordered by `at`, paged by the store's own continuation token (the embedded store has no OFFSET/LIMIT, and a
   * continuation costs no more RU than the page it returns). The page's token holds the month and that token.
   */
  async read(query: AuditQuery, page: PageRequest): Promise<Page<AuditEntry>> {
    const months = monthsOf(query.from, query.to).reverse();
    const start = page.continuation === undefined ? { m: months[0]!, c: null } : positionOf(page.continuation, months);
    let monthIndex = months.indexOf(start.m);
    let continuation = start.c ?? undefined;
    const resources: unknown[] = [];
    const { filters, parameters } = filtersOf(query);
    try {
      while (resources.length < page.limit && monthIndex < months.length) {
        const month = months[monthIndex]!;
        const response = await this.#container.items
          // The month is in the filter too: the partition key scopes the query in Cosmos, the filter keeps the
          // answer exact where a store serves the query from every partition.
          .query(
            {
              query: `SELECT * FROM c WHERE c.month = @month AND ${filters.join(' AND ')} ORDER BY c.at DESC`,
              parameters: [...parameters, { name: '@month', value: month }],
            },
            { partitionKey: month, maxItemCount: page.limit - resources.length, continuationToken: continuation },
          )
          .fetchNext();
        resources.push(...response.resources);
        continuation = response.continuationToken;
        if (continuation === undefined) monthIndex++;
      }
    } catch (error) {
      // A token the store cannot read back (made up, or of another query) is the caller's.
      if (cosmosStatus(error) === 400 && page.continuation !== undefined) throw badToken();
      throw errors.storeUnavailable(error);
    }
    const data = resources.flatMap((resource) => {
      const parsed = entrySchema.safeParse(resource);
      if (!parsed.success) return [];
      const { target, ...rest } = parsed.data;
      return [{ ...rest, id: target }];
    });
    return monthIndex < months.length ? { data, continuation: encodeToken({ m: months[monthIndex], c: continuation ?? null }) } : { data };
  }
}

function filtersOf(query: AuditQuery) {
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
  return { filters, parameters };
}

const positionSchema = z.strictObject({ m: z.string(), c: z.string().nullable() });

/** Where a page token says to read on; it must name a month of this range. */
function positionOf(token: string, months: readonly string[]): z.output<typeof positionSchema> {
  const position = positionSchema.safeParse(decodeToken(token));
  if (!position.success || !months.includes(position.data.m)) throw badToken();
  return position.data;
}
