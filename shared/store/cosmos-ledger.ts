import type { Container, OperationInput, PatchOperation } from '@azure/cosmos';
import { z } from 'zod';
import { rollupId, SAFETY_COUNTERS, type LedgerSink, type RollupCounters, type RollupDelta, type RollupKey } from '../usage/ledger.js';
import type { SweepSource, WriterProgress } from '../usage/rollup-sweep.js';
import type { UsageRecord } from '../usage/usage-record.js';
import { cosmosStatus } from './containers.js';

const COUNTERS: Array<keyof RollupCounters> = [
  'requests',
  'inputTokens',
  'outputTokens',
  'cachedInputTokens',
  'reasoningTokens',
  'costMicroUsd',
  'costRemainderPicoUsd',
  'estimatedRequests',
  'failedRequests',
  ...SAFETY_COUNTERS,
];
const BULK_LIMIT = 100;
const rollupSeqs = z.object({ seq: z.record(z.string(), z.number()).optional() });
const writerProgress = z.object({ writer: z.string(), applied: z.number(), seen: z.number(), _etag: z.string() });
const writerId = (writer: string) => `writer|${writer}`;
/** Writers' progress documents live beside the rollups, in a partition no team can have (ids start with a letter or digit). */
const WRITERS_PARTITION: [string, string] = ['_ledger', 'writers'];

/**
 * The ledger in Cosmos: one document per request (id unique, so a retried write is a harmless 409) and
 * one rollup per (team, day, alias, deployment, kind), increased with a patch
 * whose condition records each writer's last sequence number, so a retried delta is never added twice.
 */
export class CosmosLedgerSink implements LedgerSink, SweepSource {
  constructor(
    private readonly records: Container,
    private readonly rollups: Container,
  ) {}

  async writeRecords(records: UsageRecord[]): Promise<void> {
    // Requests wait for this write (group commit), so the bulk calls of a large batch run side by side.
    const slices: UsageRecord[][] = [];
    for (let i = 0; i < records.length; i += BULK_LIMIT) slices.push(records.slice(i, i + BULK_LIMIT));
    const outcomes = await Promise.all(
      slices.map((slice) =>
        this.records.items.bulk(
          slice.map(
            (r): OperationInput => ({ operationType: 'Create', partitionKey: [r.team, r.day], resourceBody: { ...r, type: 'request' } }),
          ),
          { continueOnError: true },
        ),
      ),
    );
    const failed = outcomes.flat().find((r) => r.statusCode >= 400 && r.statusCode !== 409);
    if (failed) throw Object.assign(new Error(`usage record write failed with status ${failed.statusCode}`), { code: failed.statusCode });
  }

  async readWriters(): Promise<WriterProgress[]> {
    // One small partition: one document per process that wrote usage within about the sweep's lookback.
    const { resources } = await this.rollups.items
      .query<unknown>(
        { query: 'SELECT c.writer, c.applied, c.seen, c._etag FROM c WHERE c.type = "writer"' },
        { partitionKey: WRITERS_PARTITION },
      )
      .fetchAll();
    return resources.map((r) => {
      const { writer, applied, seen, _etag } = writerProgress.parse(r);
      return { writer, appliedThrough: applied, seenAtMs: seen, version: _etag };
    });
  }

  async forgetWriter(writer: WriterProgress): Promise<void> {
    try {
      // Only as read: a writer that registered again since keeps its document.
      await this.rollups
        .item(writerId(writer.writer), WRITERS_PARTITION)
        .delete({ accessCondition: { type: 'IfMatch', condition: writer.version } });
    } catch (error) {
      const status = cosmosStatus(error);
      if (status !== 404 && status !== 412) throw error;
    }
  }

  async readStampedRecords(writer: string, afterSeq: number, sinceIso: string): Promise<UsageRecord[]> {
    // Cross-partition, but only the writer's records it has not yet rolled up: few unless it stopped with many.
    const { resources } = await this.records.items
      .query<UsageRecord>({
        query: 'SELECT * FROM c WHERE c.type = "request" AND c.writer = @writer AND c.rollupSeq > @after AND c.ts >= @since',
        parameters: [
          { name: '@writer', value: writer },
          { name: '@after', value: afterSeq },
          { name: '@since', value: sinceIso },
        ],
      })
      .fetchAll();
    return resources;
  }

  async recordProgress(writer: string, appliedThrough: number, atMs: number): Promise<void> {
    const item = this.rollups.item(writerId(writer), WRITERS_PARTITION);
    const patch = async (condition: string | undefined, operations: PatchOperation[]): Promise<'done' | 'behind' | 'missing'> => {
      try {
        await item.patch(condition === undefined ? operations : { condition, operations });
        return 'done';
      } catch (error) {
        const status = cosmosStatus(error);
        if (status === 412) return 'behind';
        if (status === 404) return 'missing';
        throw error;
      }
    };
    const seen: PatchOperation = { op: 'set', path: '/seen', value: atMs };
    // A lower-case field in the condition: the local store lower-cases a patch condition before it runs it.
    const raise = () => patch(`from c where c.applied < ${appliedThrough}`, [{ op: 'set', path: '/applied', value: appliedThrough }, seen]);
    let outcome = await raise();
    if (outcome === 'missing') {
      try {
        const document = { id: writerId(writer), type: 'writer', writer, applied: appliedThrough, seen: atMs };
        await this.rollups.items.create({ ...document, team: WRITERS_PARTITION[0], day: WRITERS_PARTITION[1] });
        return;
      } catch (error) {
        if (cosmosStatus(error) !== 409) throw error;
      }
      outcome = await raise();
    }
    // Already at or past it: only say the writer was seen, so the sweep does not forget it.
    if (outcome === 'behind') await patch(undefined, [seen]);
  }

  async appliedSeq(key: RollupKey, writer: string): Promise<number> {
    try {
      const { resource } = await this.rollups.item(rollupId(key), [key.team, key.day]).read();
      return rollupSeqs.parse(resource ?? {}).seq?.[writer] ?? 0;
    } catch (error) {
      if (cosmosStatus(error) === 404) return 0;
      throw error;
    }
  }

  async applyRollup(writerId: string, delta: RollupDelta): Promise<void> {
    const { key, counters, seq } = delta;
    const id = rollupId(key);
    const item = this.rollups.item(id, [key.team, key.day]);
    const operations: PatchOperation[] = [
      ...COUNTERS.flatMap((c): PatchOperation[] => {
        const value = counters[c];
        return value === undefined || value === 0 ? [] : [{ op: 'incr', path: `/${c}`, value }];
      }),
      { op: 'set', path: `/seq/${writerId}`, value: seq },
      { op: 'set', path: '/updatedAt', value: new Date().toISOString() },
    ];
    const condition = `from c where NOT IS_DEFINED(c.seq["${writerId}"]) OR c.seq["${writerId}"] < ${seq}`;
    const patch = async (): Promise<boolean> => {
      try {
        await item.patch({ condition, operations });
        return true;
      } catch (error) {
        const status = cosmosStatus(error);
        if (status === 412) return true; // this writer's seq is already in: the delta was applied before
        if (status === 404) return false;
        throw error;
      }
    };
    if (await patch()) return;
    try {
      await this.rollups.items.create({
        id,
        type: 'rollup',
        ...key,
        ...counters,
        seq: { [writerId]: seq },
        updatedAt: new Date().toISOString(),
      });
      return;
    } catch (error) {
      if (cosmosStatus(error) !== 409) throw error;
    }
    if (!(await patch())) throw new Error(`rollup ${id} vanished while being written`);
  }
}

export interface RollupDocument extends RollupCounters {
  team: string;
  day: string;
  alias: string;
  deployment: string;
  kind: string;
}

/** Rollups for a range of UTC days (both ends included), optionally for one team. */
export async function readRollups(container: Container, range: { from: string; to: string; team?: string }): Promise<RollupDocument[]> {
  const parameters = [
    { name: '@from', value: range.from },
    { name: '@to', value: range.to },
  ];
  let query = 'SELECT * FROM c WHERE c.type = "rollup" AND c.day >= @from AND c.day <= @to';
  if (range.team !== undefined) {
    query += ' AND c.team = @team';
    parameters.push({ name: '@team', value: range.team });
  }
  const { resources } = await container.items.query<RollupDocument>({ query, parameters }).fetchAll();
  return resources;
}
