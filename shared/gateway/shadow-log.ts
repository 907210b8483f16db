import type { ShadowRecord } from '../usage/shadow-record.js';

/** Where shadow records are kept, apart from the usage ledger. */
export interface ShadowLog {
  append(record: ShadowRecord): Promise<void>;
  /** The alias's records whose `ts` is in [fromTs, toTs] (ISO instants), at most `limit`, and whether more were left out. */
  read(alias: string, range: { fromTs: string; toTs: string; limit: number }): Promise<{ records: ShadowRecord[]; truncated: boolean }>;
}
