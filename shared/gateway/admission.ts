import { priceAt } from '../catalog/price-book.js';
import type { Deployment, Team } from '../catalog/schemas.js';
import { errors } from '../errors.js';
import { minuteWindow, monthOf, msToNextMonth } from '../limits/quota-windows.js';
import { exceededLimit, rateLimitHeaders } from '../limits/rate-limit-headers.js';
import type { Need } from '../limits/quota-leases.js';
import { costCeilMicroUsd, type DemandEstimates, reservedTokens, worstCaseCostMicroUsd } from '../limits/worst-case.js';
import type { ChargedTokens } from '../usage/pricing.js';
import type { GatewayDeps } from './gateway-deps.js';

/** A request let in under its team's budget and rate limits: the headers its answer carries, and how it ends. */
export interface Admission {
  /** The team's `x-ratelimit-*` headers as of this request (none when the team has no limits). */
  readonly headers: Readonly<Record<string, string>>;
  /** Settles the request at what it really used (nothing when no deployment answered); only the first call counts. */
  settle(deployment: Deployment | undefined, tokens: ChargedTokens): void;
}

const UNLIMITED: Admission = { headers: {}, settle: () => undefined };

/**
 * Admits a request under its team's hard budget and rate limits, or refuses it with 429: its worst-case cost (`demand`
 * priced on the dearest candidate) is held against the month's budget and its worst-case tokens taken from the minute's
 * window, both leased from the store so that no number of concurrent requests or instances can pass either (see
 * QuotaLeases). When the store cannot be asked the request is refused (503): a budget or limit that cannot be checked
 * fails closed.
 */
export async function admitRequest(
  team: Team,
  candidates: readonly Deployment[],
  demand: DemandEstimates,
  deps: GatewayDeps,
): Promise<Admission> {
  const { budget, limits } = team;
  if (!budget && !limits) return UNLIMITED;
  const nowMs = deps.now();
  const month = monthOf(nowMs);
  const window = minuteWindow(nowMs);
  // Priced as the ledger will charge it: at the prices in force when the request started.
  const pricedNow = (deployment: Deployment) => ({ pricing: priceAt(deployment, nowMs) });
  const priced = candidates.map(pricedNow);
  const bound = demand.atMost();
  const counted = once(demand.counted);
  const cost: Need = { atMost: worstCaseCostMicroUsd(priced, bound), exactly: once(() => worstCaseCostMicroUsd(priced, counted())) };
  const tokens: Need = { atMost: reservedTokens(bound), exactly: once(() => reservedTokens(counted())) };

  const [reservation, rate] = await Promise.allSettled([
    budget?.enforce === 'hard' && cost.atMost > 0 ? deps.quotaLeases.reserve(team.id, month, budget, cost) : Promise.resolve(null),
    limits ? deps.quotaLeases.take(team.id, window.key, tokens, limits) : Promise.resolve(null),
  ]);
  const hold = reservation.status === 'fulfilled' ? reservation.value : undefined;
  const rateHold = rate.status === 'fulfilled' && rate.value?.taken ? rate.value.hold : undefined;
  // What one check took is given back when the other refuses, so a refused request holds nothing.
  const giveBack = () => {
    hold?.settle(0);
    rateHold?.giveBack();
  };
  if (reservation.status === 'rejected' || rate.status === 'rejected') {
    giveBack();
    const cause = reservation.status === 'rejected' ? reservation.reason : (rate as PromiseRejectedResult).reason;
    deps.log.log('error', 'budget or rate-limit check failed', { team: team.id, error: String(cause) });
    throw errors.storeUnavailable(cause);
  }
  if (reservation.value === undefined) {
    giveBack();
    throw errors.budgetExceeded(team.id, month, Math.ceil(msToNextMonth(nowMs) / 1000));
  }
  const resetInMs = window.endsAtMs - nowMs;
  if (limits && rate.value && !rate.value.taken) {
    giveBack();
    const used = rate.value.used;
    const which = exceededLimit(limits, used, tokens.exactly()) ?? 'requests';
    const message =
      which === 'requests'
        ? `Rate limit reached for team '${team.id}': ${limits.rpm} requests per minute. Retry after the window resets.`
        : `Rate limit reached for team '${team.id}': ${limits.tpm} tokens per minute, and this request may use up to ${tokens.exactly()}. Retry after the window resets.`;
    throw errors.rateLimitExceeded(message, Math.ceil(resetInMs / 1000), rateLimitHeaders(limits, used, resetInMs));
  }

  let settled = false;
  return {
    headers: limits && rateHold ? rateLimitHeaders(limits, rateHold.used, resetInMs) : {},
    settle(deployment, used) {
      if (settled) return;
      settled = true;
      const spent = deployment ? costCeilMicroUsd(pricedNow(deployment), used) : 0;
      if (hold) hold.settle(spent);
      else if (budget) deps.quotaLeases.spend(team.id, month, budget, spent);
      rateHold?.settle(used.inputTokens + used.outputTokens);
    },
  };
}

function once<T>(work: () => T): () => T {
  let done: { value: T } | undefined;
  return () => {
    done ??= { value: work() };
    return done.value;
  };
}
