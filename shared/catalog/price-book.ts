import { errors } from '../errors.js';
import type { Deployment, DeploymentPricing } from './schemas.js';

/** Every price of a deployment, oldest first: its history, then its latest price (which may not be in force yet). */
export function priceBook(deployment: Pick<Deployment, 'pricing' | 'priceHistory'>): DeploymentPricing[] {
  return [...(deployment.priceHistory ?? []), deployment.pricing];
}

/**
 * The price in force at an instant: the latest whose effectiveFrom is not after it (one without effectiveFrom has
 * been in force since the deployment was created). Before every dated price, the oldest one.
 */
export function priceAt(deployment: Pick<Deployment, 'pricing' | 'priceHistory'>, atMs: number): DeploymentPricing {
  const book = priceBook(deployment);
  const at = new Date(atMs).toISOString();
  for (let i = book.length - 1; i >= 0; i--) {
    const from = book[i]!.effectiveFrom;
    if (from === undefined || from <= at) return book[i]!;
  }
  return book[0]!;
}

function samePrices(a: DeploymentPricing, b: DeploymentPricing): boolean {
  const { effectiveFrom: _a, ...pricesA } = a;
  const { effectiveFrom: _b, ...pricesB } = b;
  const keys = new Set([...Object.keys(pricesA), ...Object.keys(pricesB)]);
  return [...keys].every((key) => (pricesA as Record<string, unknown>)[key] === (pricesB as Record<string, unknown>)[key]);
}

export interface PriceChangeOptions {
  nowMs: number;
  /** A rollback brings back an earlier document: its prices take effect now, not at the date they once had. */
  rollback?: boolean;
}

/**
 * The deployment to store when `next` replaces `stored`: a changed price is dated (effectiveFrom, default now) and
 * the stored prices are kept in priceHistory, so past usage keeps the price it was charged. A price dated before
 * the latest stored change is refused (400); one dated like it replaces it while it is still in the future, and
 * otherwise takes effect now (the caller sent back the date it read).
 */
export function withPriceHistory(next: Deployment, stored: Deployment | undefined, options: PriceChangeOptions): Deployment {
  const { priceHistory: _ignored, ...rest } = next;
  const nowIso = new Date(options.nowMs).toISOString();
  const asked = options.rollback ? { ...next.pricing, effectiveFrom: undefined } : next.pricing;
  if (!stored) return { ...rest, pricing: asked };
  const history = stored.priceHistory ?? [];
  const latest = stored.pricing;
  const unchanged = samePrices(asked, latest) && (asked.effectiveFrom === undefined || asked.effectiveFrom === latest.effectiveFrom);
  if (unchanged) return withHistory(rest, latest, history);
  let from = asked.effectiveFrom ?? nowIso;
  if (latest.effectiveFrom !== undefined && from === latest.effectiveFrom) {
    if (latest.effectiveFrom > nowIso) return withHistory(rest, { ...asked, effectiveFrom: from }, history);
    from = nowIso;
  }
  if (latest.effectiveFrom !== undefined && from < latest.effectiveFrom) {
    throw errors.invalidRequest(
      `pricing.effectiveFrom (${from}) is before the deployment's latest price change (${latest.effectiveFrom}); past usage keeps the price it was charged.`,
      'pricing.effectiveFrom',
    );
  }
  return withHistory(rest, { ...asked, effectiveFrom: from }, [...history, latest]);
}

function withHistory(rest: Omit<Deployment, 'priceHistory'>, pricing: DeploymentPricing, history: DeploymentPricing[]): Deployment {
  return history.length > 0 ? { ...rest, pricing, priceHistory: history } : { ...rest, pricing };
}
