import { requestCostPicoUsd, type ChargedTokens, type Priced } from '../usage/pricing.js';

/** How big a request can get: its counted prompt and the output cap it names, if any. */
export interface RequestDemand {
  promptTokens: number;
  maxOutputTokens?: number;
  /** Answers asked for (`n`), each up to the output cap. */
  choices?: number;
}

/**
 * A request's demand two ways: `atMost` costs nothing to work out and is never below the count (prompts bounded by
 * their UTF-8 length), `counted` runs the tokenizer. A lease of a large budget or window can take the bound; a
 * reservation made request by request near a limit takes the count, so it refuses nothing that fits.
 */
export interface DemandEstimates {
  atMost(): RequestDemand;
  counted(): RequestDemand;
}

/**
 * Output tokens reserved for a request that names no cap (`max_tokens`, `max_completion_tokens`, `max_output_tokens`).
 * Deployments declare no output window, so this is Switchyard's: long enough for a full chat answer; an answer
 * that runs past it is settled at its real cost, and only such an answer can take a hard budget past its limit.
 */
export const DEFAULT_OUTPUT_RESERVATION_TOKENS = 4096;

/** The tokens a request is held to at admission: its prompt plus its output cap (or the default reservation) per answer. */
export function reservedTokens(demand: RequestDemand): number {
  return demand.promptTokens + (demand.maxOutputTokens ?? DEFAULT_OUTPUT_RESERVATION_TOKENS) * (demand.choices ?? 1);
}

/**
 * What a request cost in micro-dollars rounded up, so a budget never counts less than the ledger's exact cost of the
 * same tokens. Managed compute is paid by the hour, so a request on it costs nothing here.
 */
export function costCeilMicroUsd(deployment: Priced, tokens: ChargedTokens): number {
  return Number((requestCostPicoUsd(deployment, tokens) + PICO_PER_MICRO - 1n) / PICO_PER_MICRO);
}

const PICO_PER_MICRO = 1_000_000n;

/** The most a request can cost: its reserved tokens priced on the dearest deployment it may be sent to. */
export function worstCaseCostMicroUsd(candidates: readonly Priced[], demand: RequestDemand): number {
  // No input is assumed cached: the full input price is the most it can be charged.
  const tokens = { inputTokens: demand.promptTokens, outputTokens: reservedTokens(demand) - demand.promptTokens, cachedInputTokens: 0 };
  let worst = 0;
  for (const candidate of candidates) worst = Math.max(worst, costCeilMicroUsd(candidate, tokens));
  return worst;
}
