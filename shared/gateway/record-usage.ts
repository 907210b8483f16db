import { priceAt } from '../catalog/price-book.js';
import type { Deployment } from '../catalog/schemas.js';
import { safetyRecord } from '../safety/safety-record.js';
import type { SafetyVerdict } from '../safety/screen.js';
import { requestCost } from '../usage/pricing.js';
import type { UsageRecord, UsageStatus } from '../usage/usage-record.js';
import type { Admission } from './admission.js';
import type { GatewayDeps } from './gateway-deps.js';

export interface UsageFacts {
  requestId: string;
  team: string;
  alias: string;
  operation: UsageRecord['operation'];
  stream: boolean;
  startedAtMs: number;
  /** Told of the outcome as it is metered, once per request (a shadow copy starts from it). */
  onMetered?: (outcome: UsageOutcome, facts: UsageFacts) => void;
  /** The request's hold on its team's budget and rate limits, settled here with what it really used. */
  admission?: Admission;
  /**
   * The request's screening so far (team safety profile): its prompt's verdict and each answer's or window's, and
   * whether a call stopped for a blocked prompt is billed (profile billAborted).
   */
  safety?: { prompt?: SafetyVerdict; answers: SafetyVerdict[]; billAborted: boolean };
  /** The prompt as Switchyard counts it: what a call stopped before its answer came is recorded as having used. */
  promptTokens?: () => number;
}

export interface UsageOutcome {
  deployment?: Deployment;
  status: UsageStatus;
  httpStatus: number;
  inputTokens: number;
  outputTokens: number;
  cachedInputTokens: number;
  reasoningTokens: number;
  estimated: boolean;
  ttfbMs: number;
  attempts: number;
}

/**
 * Prices the outcome at the deployment's price in force when the request started (from the catalog in memory,
 * no store read; the record names that price's effectiveFrom) and hands the record to the ledger. Resolves once
 * the record is durable (or at once while the store is unreachable): await it before the answer's last byte.
 */
export function recordUsage(deps: GatewayDeps, facts: UsageFacts, outcome: UsageOutcome): Promise<void> {
  const nowMs = deps.now();
  const deployment = outcome.deployment;
  const price = deployment ? priceAt(deployment, facts.startedAtMs) : undefined;
  const cost = price ? requestCost({ pricing: price }, outcome) : { costMicroUsd: 0, costRemainderPicoUsd: 0 };
  // A call that reached a deployment though its prompt was blocked is one parallel mode stopped: the team's choice.
  const unbilled = price !== undefined && facts.safety?.prompt?.action === 'block' && !facts.safety.billAborted;
  // Every admitted request is recorded exactly once, whatever its end (answer, failure, cancel, stream cut): settled
  // here; an unbilled call settles its tokens (rate limits) but no cost against the budget.
  facts.admission?.settle(unbilled ? undefined : deployment, outcome);
  facts.onMetered?.(outcome, facts);
  const ts = new Date(facts.startedAtMs).toISOString();
  const safety = facts.safety ? safetyRecord(facts.safety.prompt, facts.safety.answers, unbilled ? cost : undefined) : undefined;
  return deps.ledger.record({
    id: deps.newId(),
    requestId: facts.requestId,
    team: facts.team,
    day: ts.slice(0, 10),
    ts,
    alias: facts.alias,
    deployment: deployment?.id ?? '',
    kind: deployment?.kind ?? 'none',
    operation: facts.operation,
    status: outcome.status,
    httpStatus: outcome.httpStatus,
    inputTokens: outcome.inputTokens,
    outputTokens: outcome.outputTokens,
    cachedInputTokens: outcome.cachedInputTokens,
    reasoningTokens: outcome.reasoningTokens,
    estimated: outcome.estimated,
    ...(unbilled ? { costMicroUsd: 0, costRemainderPicoUsd: 0 } : cost),
    ...(price?.effectiveFrom === undefined ? {} : { priceEffectiveFrom: price.effectiveFrom }),
    stream: facts.stream,
    latencyMs: nowMs - facts.startedAtMs,
    ttfbMs: outcome.ttfbMs,
    attempts: outcome.attempts,
    ...(safety ? { safety } : {}),
  });
}
