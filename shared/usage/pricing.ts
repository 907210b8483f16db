/** What a request's price is read from: a deployment's pricing (usage/ reads no catalog types, so catalog/ may use protocols that meter). */
export interface Priced {
  pricing: ServerlessPrices | { hourlyUsd: number; instances: number };
}

export interface ServerlessPrices {
  inputPerMillionUsd: number;
  outputPerMillionUsd: number;
  /** Input tokens the upstream served from its cache; charged at the input price when absent. */
  cachedInputPerMillionUsd?: number;
}

/** The tokens a request is charged for; cached and reasoning tokens are parts of input and output, as OpenAI reports them. */
export interface ChargedTokens {
  inputTokens: number;
  outputTokens: number;
  cachedInputTokens: number;
}

/**
 * An exact amount of money as whole micro-dollars plus the pico-dollars below them (0 to 999 999 for one
 * request; sums of them may exceed that). Two integers instead of one pico-dollar count, so a month of rollups
 * stays below Number.MAX_SAFE_INTEGER in each part while the exact total is only ever formed as a BigInt.
 */
export interface Cost {
  costMicroUsd: number;
  costRemainderPicoUsd: number;
}

const PICO_PER_MICRO = 1_000_000n;
/** A price of $X per million tokens is X·10^6 pico-dollars per token: an integer for prices of up to 6 decimals. */
const PRICE_DECIMALS = 6;

/** Whether a $/million price is exact in pico-dollars per token (at most 6 decimals). */
export function isExactPrice(perMillionUsd: number): boolean {
  return Number(perMillionUsd.toFixed(PRICE_DECIMALS)) === perMillionUsd;
}

function picoPerToken(perMillionUsd: number): bigint {
  return BigInt(Math.round(perMillionUsd * 10 ** PRICE_DECIMALS));
}

/** What a request cost, exactly, in pico-dollars; managed compute is paid per instance-hour, so 0 per request. */
export function requestCostPicoUsd(deployment: Priced, tokens: ChargedTokens): bigint {
  const pricing = deployment.pricing;
  if (!('inputPerMillionUsd' in pricing)) return 0n;
  const cached = Math.min(tokens.cachedInputTokens, tokens.inputTokens);
  const cachedPrice = pricing.cachedInputPerMillionUsd ?? pricing.inputPerMillionUsd;
  return (
    BigInt(tokens.inputTokens - cached) * picoPerToken(pricing.inputPerMillionUsd) +
    BigInt(cached) * picoPerToken(cachedPrice) +
    BigInt(tokens.outputTokens) * picoPerToken(pricing.outputPerMillionUsd)
  );
}

/** What a request cost, exactly, split for storing. */
export function requestCost(deployment: Priced, tokens: ChargedTokens): Cost {
  return splitPico(requestCostPicoUsd(deployment, tokens));
}

export function splitPico(pico: bigint): Cost {
  return { costMicroUsd: Number(pico / PICO_PER_MICRO), costRemainderPicoUsd: Number(pico % PICO_PER_MICRO) };
}

/** The exact pico-dollars of a stored cost; documents written before the remainder existed hold exact micro-dollars. */
export function costPicoUsd(cost: Partial<Cost>): bigint {
  return BigInt(cost.costMicroUsd ?? 0) * PICO_PER_MICRO + BigInt(cost.costRemainderPicoUsd ?? 0);
}

/** Pico-dollars rounded once to whole micro-dollars, half to even. */
export function roundToMicroUsd(pico: bigint): bigint {
  const whole = pico / PICO_PER_MICRO;
  const rest = pico % PICO_PER_MICRO;
  const half = PICO_PER_MICRO / 2n;
  if (rest > half || (rest === half && whole % 2n === 1n)) return whole + 1n;
  return whole;
}

/** Pico-dollars as USD for display: rounded once, half to even, to the micro-dollar. */
export function picoToUsd(pico: bigint): number {
  return Number(roundToMicroUsd(pico)) / 1_000_000;
}

/** Pico-dollars as an exact decimal USD string with 12 decimals (sums of these equal the sum's string). */
export function picoToUsdExact(pico: bigint): string {
  const negative = pico < 0n;
  const digits = (negative ? -pico : pico).toString().padStart(13, '0');
  return `${negative ? '-' : ''}${digits.slice(0, -12)}.${digits.slice(-12)}`;
}

/** What a request is expected to cost at list price, in unrounded micro-dollars (for comparing deployments); managed compute is 0. */
export function expectedCostMicroUsd(deployment: Priced, inputTokens: number, outputTokens: number): number {
  const pricing = deployment.pricing;
  if (!('inputPerMillionUsd' in pricing)) return 0;
  return inputTokens * pricing.inputPerMillionUsd + outputTokens * pricing.outputPerMillionUsd;
}
