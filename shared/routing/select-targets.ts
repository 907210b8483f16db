import { priceAt } from '../catalog/price-book.js';
import type { Capability, Deployment, Route, RuleWhen, Team } from '../catalog/schemas.js';
import { hashText, seededRandom } from '../seeded-random.js';
import { expectedCostMicroUsd } from '../usage/pricing.js';
import type { Feature } from '../upstreams/protocols/features.js';
import { defaultFeatures } from '../upstreams/protocols/index.js';
import type { HealthView } from './deployment-health.js';
import type { RequestFeature } from './request-features.js';
import { shiftedOrder } from './route-shift.js';

export interface RoutingInput {
  route: Route;
  team: Team;
  capability: Capability;
  /** The features the request uses (chatRequestFeatures); a deployment must honour every one. */
  features?: readonly RequestFeature[];
  /** The request's `user`, which makes weighted routing sticky and which a rule's userPattern matches. */
  user?: string;
  /** Whether the request asks for a stream (a rule's `stream`). */
  stream?: boolean;
  deployments: ReadonlyMap<string, Deployment>;
  health: HealthView;
  nowMs: number;
  /** A number in [0, 1): injected so weighted routing is deterministic under test. */
  random: () => number;
  /**
   * The request's size, which `cheapest` prices and a rule's minPromptTokens reads; absent, it is priced as an
   * empty prompt and the default answer, and no minPromptTokens rule applies.
   */
  estimate?: RequestEstimate;
}

/** How many tokens a request is expected to use: its prompt as counted, and the cap on its answer if it set one. */
export interface RequestEstimate {
  promptTokens: number;
  maxOutputTokens?: number;
}

/** The answer length `cheapest` assumes for a chat request that sets no max_tokens. */
export const DEFAULT_OUTPUT_TOKENS_ESTIMATE = 500;

export interface Consideration {
  deployment: string;
  taken: boolean;
  reason: string;
}

export interface RoutingDecision {
  /** Deployments to try, in order. Empty when none may serve the request. */
  candidates: Deployment[];
  considered: Consideration[];
  /** Set when a rule matched but allows no target. */
  refusedByRule: boolean;
  /**
   * Set when no enabled deployment the team may use honours every feature the request uses: the first such
   * feature that none honours (else the first the first of them lacks), with the field that uses it.
   */
  unsupported?: RequestFeature;
  /** Deployments skipped only because they are saturated: the request may succeed later. */
  saturated: string[];
}

/** What a deployment honours beyond plain chat: what its document declares, else its protocol's default. */
export function featuresOf(deployment: Deployment): readonly Feature[] {
  return deployment.features ?? defaultFeatures(deployment.protocol);
}

/** Decides, without I/O, which deployments may serve a request and in which order to try them. */
export function selectTargets(input: RoutingInput): RoutingDecision {
  const { route, capability, deployments, health, nowMs } = input;
  const wanted = input.features ?? [];
  const considered: Consideration[] = [];
  const rule = route.rules.find((r) => ruleApplies(r.when, input));
  const allowed = rule ? new Set(rule.only) : undefined;

  const costs = route.strategy === 'cheapest' ? expectedCosts(input) : undefined;
  const strategyOrder =
    route.strategy === 'weighted'
      ? weightedOrder(route, input)
      : costs
        ? cheapestOrder(route, costs)
        : route.strategy === 'fastest'
          ? fastestOrder(route, health)
          : route.targets.map((t) => t.deployment);
  const shifted = shiftedOrder(route, strategyOrder, input);
  const ordered = shifted.order;
  const ready: Deployment[] = [];
  const cooling: Deployment[] = [];
  const saturated: string[] = [];
  // Enabled deployments the team may use that lack a feature: if none remains, the request is refused for it.
  const lacking: Deployment[] = [];
  let capable = 0;
  for (const id of ordered) {
    const deployment = deployments.get(id);
    const skip = (reason: string) => considered.push({ deployment: id, taken: false, reason });
    if (!deployment) skip('not in the catalog');
    else if (!deployment.enabled) skip('disabled');
    else if (!deployment.serves.includes(capability)) skip(`does not serve ${capability}`);
    else if (allowed && !allowed.has(id)) skip('excluded by a rule for this team');
    else {
      const missing = missingFeatures(deployment, wanted);
      if (missing.length > 0) {
        lacking.push(deployment);
        skip(`does not honour ${missing.map((m) => `${m.feature} (${m.param})`).join(', ')}`);
        continue;
      }
      capable += 1;
      const breaker = health.breaker?.(id);
      const max = deployment.capacity?.maxConcurrent;
      if (breaker?.state === 'open') skip(`breaker open for ${breaker.remainingMs} ms (${breaker.reason})`);
      else if (breaker?.state === 'half-open' && breaker.probing) skip('breaker half-open: probe in flight');
      else if (max !== undefined && !(health.hasRoom?.(id, max) ?? health.inFlight(id) < max)) {
        saturated.push(id);
        const leaseFull = health.inFlight(id) < max ? " (this instance's share of the slots is in use)" : '';
        skip(`saturated: ${health.inFlight(id)} of ${max} in flight${leaseFull}`);
      } else if (breaker?.state === 'half-open') {
        ready.push(deployment);
        considered.push({ deployment: id, taken: true, reason: 'breaker half-open: probe' });
      } else if (health.coolingUntilMs(id) > nowMs) {
        cooling.push(deployment);
        considered.push({
          deployment: id,
          taken: true,
          reason: `cooling down for ${health.coolingUntilMs(id) - nowMs} ms after failures; tried last`,
        });
      } else {
        ready.push(deployment);
        const reason = id === route.shift?.to && shifted.note ? shifted.note : orderReason(route, id, ready.length === 1, costs, health);
        considered.push({ deployment: id, taken: true, reason });
      }
    }
  }
  const decision: RoutingDecision = {
    candidates: [...ready, ...cooling],
    considered,
    refusedByRule: allowed !== undefined && allowed.size === 0,
    saturated,
  };
  if (capable === 0 && lacking.length > 0) decision.unsupported = unsupportedFeature(lacking, wanted);
  return decision;
}

/** Why a ready deployment sits where it does: the route's order, the weight draw (with its share), the expected cost or the latency. */
function orderReason(
  route: Route,
  id: string,
  first: boolean,
  costs: ReadonlyMap<string, ExpectedCost> | undefined,
  health: HealthView,
): string {
  const cost = costs?.get(id);
  if (cost) return `${first ? 'cheapest' : 'fallback'}: ${cost.reason}`;
  if (route.strategy === 'fastest') {
    const latencyMs = health.timeToFirstTokenMs?.(id);
    return latencyMs === undefined
      ? `${first ? 'first' : 'fallback'}: no time to first token measured yet (after measured ones, in route order)`
      : `${first ? 'fastest' : 'fallback'}: time to first token ~${Math.round(latencyMs)} ms (decaying average)`;
  }
  if (route.strategy !== 'weighted') return first ? 'first available in order' : 'fallback in order';
  const total = route.targets.reduce((sum, t) => sum + (t.weight ?? 0), 0);
  const weight = route.targets.find((t) => t.deployment === id)?.weight ?? 0;
  return `${first ? 'first' : 'fallback'} by weight draw (weight ${weight} of ${total})`;
}

/** Whether every condition a rule names holds for this request (team and team tags count as one). */
function ruleApplies(when: RuleWhen, input: RoutingInput): boolean {
  const { team } = input;
  if (when.teams !== undefined || when.teamTags !== undefined) {
    const named = (when.teams?.includes(team.id) ?? false) || (when.teamTags?.some((t) => team.tags.includes(t)) ?? false);
    if (!named) return false;
  }
  if (when.stream !== undefined && (input.stream ?? false) !== when.stream) return false;
  if (when.minPromptTokens !== undefined && (input.estimate?.promptTokens ?? -1) < when.minPromptTokens) return false;
  if (when.features !== undefined && !when.features.some((f) => input.features?.some((w) => w.feature === f))) return false;
  if (when.userPattern !== undefined && (input.user === undefined || !globMatches(when.userPattern, input.user))) return false;
  return true;
}

/** Whether text matches a glob whose `*` stands for any run of characters; O(pattern × text) at worst, never exponential. */
export function globMatches(pattern: string, text: string): boolean {
  let p = 0;
  let t = 0;
  let starAt = -1;
  let resumeAt = 0;
  while (t < text.length) {
    if (p < pattern.length && pattern[p] === '*') {
      starAt = p++;
      resumeAt = t;
    } else if (p < pattern.length && pattern[p] === text[t]) {
      p++;
      t++;
    } else if (starAt !== -1) {
      p = starAt + 1;
      t = ++resumeAt;
    } else return false;
  }
  while (p < pattern.length && pattern[p] === '*') p++;
  return p === pattern.length;
}

function missingFeatures(deployment: Deployment, wanted: readonly RequestFeature[]): RequestFeature[] {
  if (wanted.length === 0) return [];
  const honoured = featuresOf(deployment);
  return wanted.filter((w) => !honoured.includes(w.feature));
}

function unsupportedFeature(lacking: Deployment[], wanted: readonly RequestFeature[]): RequestFeature {
  const honouredBySome = (w: RequestFeature) => lacking.some((d) => featuresOf(d).includes(w.feature));
  return wanted.find((w) => !honouredBySome(w)) ?? missingFeatures(lacking[0]!, wanted)[0]!;
}

// Weighted order without replacement: the first pick follows the weights, the rest follow as fallbacks.
// A request naming a `user` draws from a hash of it (stable across instances and restarts, which
// Math.random is not), so that user keeps landing on the same target.
function weightedOrder(route: Route, input: RoutingInput): string[] {
  const remaining = route.targets.filter((t) => (t.weight ?? 0) > 0).map((t) => ({ id: t.deployment, weight: t.weight ?? 0 }));
  const zeroWeight = route.targets.filter((t) => (t.weight ?? 0) === 0).map((t) => t.deployment);
  const draw = input.user !== undefined ? seededRandom(hashText(`${route.alias}\u0000${input.user}`)) : input.random;
  const order: string[] = [];
  while (remaining.length > 0) {
    const total = remaining.reduce((sum, t) => sum + t.weight, 0);
    const point = draw() * total;
    let below = 0;
    let index = remaining.findIndex((t) => {
      below += t.weight;
      return point < below;
    });
    if (index === -1) index = remaining.length - 1;
    order.push(remaining[index]!.id);
    remaining.splice(index, 1);
  }
  return [...order, ...zeroWeight];
}

interface ExpectedCost {
  microUsd: number;
  reason: string;
}

// What this request is expected to cost on each deployment now. A managed deployment's hours are paid whatever
// the traffic, so its marginal cost is zero while it has room; a full one is skipped as saturated, as in spillover.
function expectedCosts(input: RoutingInput): Map<string, ExpectedCost> {
  const promptTokens = input.estimate?.promptTokens ?? 0;
  // An embedding has no answer tokens; a chat answer is as long as its cap, else a typical length.
  const outputTokens = input.capability === 'embeddings' ? 0 : (input.estimate?.maxOutputTokens ?? DEFAULT_OUTPUT_TOKENS_ESTIMATE);
  const costs = new Map<string, ExpectedCost>();
  for (const { deployment: id } of input.route.targets) {
    const deployment = input.deployments.get(id);
    if (!deployment) continue;
    if ('hourlyUsd' in deployment.pricing) {
      costs.set(id, { microUsd: 0, reason: 'expected cost $0 (managed: hours already paid, under capacity)' });
    } else {
      const microUsd = expectedCostMicroUsd({ pricing: priceAt(deployment, input.nowMs) }, promptTokens, outputTokens);
      costs.set(id, {
        microUsd,
        reason: `expected cost $${(microUsd / 1_000_000).toFixed(6)} (list price for ~${promptTokens} prompt + ${outputTokens} answer tokens)`,
      });
    }
  }
  return costs;
}

// Cheapest first; Array.prototype.sort is stable, so equal costs keep the route's order.
function cheapestOrder(route: Route, costs: ReadonlyMap<string, ExpectedCost>): string[] {
  const costOf = (id: string) => costs.get(id)?.microUsd ?? Number.POSITIVE_INFINITY;
  return route.targets.map((t) => t.deployment).sort((a, b) => costOf(a) - costOf(b));
}

// Lowest time to first token first (stable, so equal ones keep route order); deployments never measured follow
// in route order, so a new deployment still gets traffic when those ahead of it are saturated or cooling.
function fastestOrder(route: Route, health: HealthView): string[] {
  const latencyOf = (id: string) => health.timeToFirstTokenMs?.(id) ?? Number.POSITIVE_INFINITY;
  return route.targets
    .map((t) => t.deployment)
    .sort((a, b) => {
      const [x, y] = [latencyOf(a), latencyOf(b)];
      return x === y ? 0 : x < y ? -1 : 1;
    });
}
