/** What a request's price is read from: a deployment's pricing (usage/ reads no catalog types, so catalog/ may use protocols that meter). */
export interface Priced {
  pricing: { inputPerMillionUsd: number; outputPerMillionUsd: number } | { hourlyUsd: number; instances: number };
}

/**
 * What a request cost, in integer micro-dollars. A price of $X per million tokens is X micro-dollars
 * per token; prices are held as integer micro-dollars per million tokens so the arithmetic is exact
 * until the single rounding of each request's total.
 */
export function requestCostMicroUsd(deployment: Priced, inputTokens: number, outputTokens: number): number {
  const pricing = deployment.pricing;
  // Managed compute is paid per instance-hour whatever the traffic; its share is allocated later, not per request.
  if (!('inputPerMillionUsd' in pricing)) return 0;
  const inputMicroPerMillion = Math.round(pricing.inputPerMillionUsd * 1_000_000);
  const outputMicroPerMillion = Math.round(pricing.outputPerMillionUsd * 1_000_000);
  return Math.round((inputTokens * inputMicroPerMillion + outputTokens * outputMicroPerMillion) / 1_000_000);
}

/** What a request is expected to cost at list price, in unrounded micro-dollars (for comparing deployments); managed compute is 0. */
export function expectedCostMicroUsd(deployment: Priced, inputTokens: number, outputTokens: number): number {
  const pricing = deployment.pricing;
  if (!('inputPerMillionUsd' in pricing)) return 0;
  return inputTokens * pricing.inputPerMillionUsd + outputTokens * pricing.outputPerMillionUsd;
}

/** Micro-dollars as a decimal USD amount for display. */
export function microToUsd(micro: number): number {
  return micro / 1_000_000;
}
