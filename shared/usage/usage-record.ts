export type UsageStatus = 'ok' | 'upstream_error' | 'client_error' | 'cancelled' | 'partial';

/** One request's entry in the ledger. */
export interface UsageRecord {
  /** Unique per record (the caller's x-request-id may repeat across its retries). */
  id: string;
  requestId: string;
  team: string;
  /** UTC day, YYYY-MM-DD, of the request's start. */
  day: string;
  ts: string;
  alias: string;
  /** The deployment that answered (or the last one tried). Empty when none was tried. */
  deployment: string;
  kind: 'serverless' | 'managed' | 'none';
  operation: 'chat' | 'embeddings';
  status: UsageStatus;
  httpStatus: number;
  inputTokens: number;
  outputTokens: number;
  /** Input tokens the upstream served from its cache (part of inputTokens); 0 when estimated or not reported. */
  cachedInputTokens: number;
  /** Output tokens spent reasoning (part of outputTokens); 0 when estimated or not reported. */
  reasoningTokens: number;
  /** Tokens counted by Switchyard's tokenizer because the upstream reported none. */
  estimated: boolean;
  /** Whole micro-dollars of the exact cost; the pico-dollars below them are in costRemainderPicoUsd. */
  costMicroUsd: number;
  /** 0 to 999 999 pico-dollars beyond costMicroUsd: with it the cost is exact (absent on records written before). */
  costRemainderPicoUsd: number;
  /** When the price it was charged took effect (absent: the deployment's first, undated price). */
  priceEffectiveFrom?: string;
  stream: boolean;
  latencyMs: number;
  ttfbMs: number;
  attempts: number;
  /** What content safety decided and cost for this request; absent for a team without a safety profile. */
  safety?: SafetyRecord;
  /** The ledger writer (one per process) that stored it, and the rollup seq it is summed in: set by the ledger. */
  writer?: string;
  rollupSeq?: number;
}

/**
 * What a request's screening comes to, for its usage record (built by shared/safety/safety-record.ts): counted
 * per team so ops see what was blocked and finance what safety cost. Never a text, a placeholder's value or a
 * blocklist item. Spelled out here rather than imported, since the safety room already builds on this one.
 */
// A type, not an interface: it is stored as a JSON document, which wants an index signature.
export type SafetyRecord = {
  mode: 'enforce' | 'audit';
  /** The strongest action taken on the prompt or any part of the answer. */
  action: 'allow' | 'mask' | 'block';
  /** The strongest finding, whatever the mode (audit mode records what would have been blocked). */
  finding: 'clean' | 'mask' | 'block';
  /** Which side was flagged first, by which layer. */
  flagged?: { on: 'prompt' | 'answer'; layer: 'blocklist' | 'pii' | 'analyze' | 'shield' | 'outage' };
  /** The highest severity seen per category. */
  severities: Partial<Record<'hate' | 'sexual' | 'violence' | 'selfHarm', number>>;
  /** False when any remote screening could not be made (onOutage decided). */
  reachable?: boolean;
  /** Content Safety text records billed for this request, prompt and answer windows together. */
  billableRecords: number;
  /** Time spent screening, local and remote, summed over the prompt and every answer window. */
  safetyMs: number;
  /**
   * What a call stopped because its prompt was blocked (parallel mode) really cost, when the team's profile does not
   * bill it (`billAborted: false`): the record's own cost is then 0, its tokens as used.
   */
  unbilledCost?: { costMicroUsd: number; costRemainderPicoUsd: number };
};

export function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}
