import type { UsageRecord } from '../usage/usage-record.js';
import type { HourDocument } from './hour-document.js';

/** The records one managed deployment's hours are allocated from. */
export type AllocationRecord = Pick<UsageRecord, 'team' | 'alias' | 'deployment' | 'ts' | 'inputTokens' | 'outputTokens' | 'latencyMs'>;

/** Where hourly allocations are read from and kept. */
export interface AllocationStore {
  /** A deployment's usage records whose request started in [fromIso, toIso). */
  readDeploymentRecords(deployment: string, fromIso: string, toIso: string): Promise<AllocationRecord[]>;
  /** Stored hours starting in [fromIso, toIso), of one deployment or of all. */
  readHours(range: { fromIso: string; toIso: string; deployment?: string }): Promise<HourDocument[]>;
  /** Stores hours, each replacing any earlier allocation of it whole. */
  writeHours(docs: HourDocument[]): Promise<void>;
  /** Every usage record of a range of UTC days (both ends included), a page at a time: for reconcile. */
  readRecordPages(fromDay: string, toDay: string): AsyncIterable<UsageRecord[]>;
  /** The earliest hour the deployment is known to have existed, after recording `hourIso` when it is earlier or none is held. */
  firstHour(deployment: string, hourIso: string): Promise<string>;
}
