import { hourCostPicoUsd } from '../allocation/allocate-hour.js';
import { allocationRows, type HourDocument } from '../allocation/hour-document.js';
import type { Deployment, Route } from '../catalog/schemas.js';
import { costPicoUsd, picoToUsd } from '../usage/pricing.js';
import { buildUsageReport, type RollupRow, type UsageRow } from '../usage/usage-report.js';

/** Below this utilisation a managed deployment whose traffic costs less serverless is better moved there. */
export const LOW_UTILISATION = 0.3;
/** From this share of its routes' requests landing on serverless, a managed deployment is short of capacity. */
export const HIGH_SPILL = 0.2;

export interface DeploymentAdvice {
  deployment: string;
  hours: number;
  /** Σ busy time ÷ Σ capacity over its hours. */
  utilisation: number;
  requests: number;
  inputTokens: number;
  outputTokens: number;
  tokensServed: number;
  tokensPerHour: number;
  /** What its hours cost (hourly price × instances), allocated to teams or unallocated. */
  costUsd: number;
  allocatedToTeamsUsd: number;
  unallocatedUsd: number;
  /** costUsd ÷ tokens served, per million tokens; null without tokens. */
  effectivePerMillionUsd: number | null;
  /** The first serverless deployment sharing one of its routes (and the routes they share), at list price; null when none does. */
  serverlessTwin: { deployment: string; routes: string[]; inputPerMillionUsd: number; outputPerMillionUsd: number } | null;
  /** The same tokens at the twin's list price. */
  serverlessEquivalentUsd: number | null;
  /** Tokens per hour (with this traffic's input/output mix) at which the twin costs as much as an hour here. */
  breakEvenTokensPerHour: number | null;
  /** Of its routes' requests, the share answered by serverless deployments. */
  spillShare: number;
  routes: string[];
  recommendation: string;
}

export interface AdviceInput {
  deployments: Iterable<Deployment>;
  routes: Iterable<Route>;
  /** Allocation hours of the period (every deployment). */
  hours: HourDocument[];
  /** Rollups of the period (every team). */
  rollups: RollupRow[];
}

const round = (value: number, digits: number) => Math.round(value * 10 ** digits) / 10 ** digits;
const percent = (share: number) => `${Math.round(share * 100)}%`;

/**
 * What each alias's traffic cost on each kind of deployment over the period: serverless token charges and its share
 * of managed compute, with the /usage builder (idle managed capacity belongs to no alias and is left out).
 */
export function aliasCosts(period: { from: string; to: string }, rollups: RollupRow[], hours: HourDocument[]): UsageRow[] {
  const report = buildUsageReport({ ...period, groupBy: ['alias', 'kind'], format: 'json' }, [...rollups, ...allocationRows(hours)]);
  return report.rows.filter((row) => row.alias !== '');
}

/** Per managed deployment: how used it was, what its tokens cost, what they would cost serverless, and what to do. */
export function buildAdvice(input: AdviceInput): DeploymentAdvice[] {
  const deployments = new Map([...input.deployments].map((d) => [d.id, d]));
  const routes = [...input.routes];
  const advice: DeploymentAdvice[] = [];
  for (const deployment of deployments.values()) {
    if (deployment.kind !== 'managed') continue;
    const hours = input.hours.filter((hour) => hour.deployment === deployment.id);
    const its = routes.filter((route) => route.targets.some((t) => t.deployment === deployment.id));
    const aliases = new Set(its.map((route) => route.alias));

    let costPico = 0n;
    let unallocatedPico = 0n;
    let busyShare = 0;
    let requests = 0;
    let inputTokens = 0;
    let outputTokens = 0;
    for (const hour of hours) {
      costPico += costPicoUsd(hour);
      unallocatedPico += costPicoUsd({ costMicroUsd: hour.unallocatedMicroUsd, costRemainderPicoUsd: hour.unallocatedRemainderPicoUsd });
      busyShare += hour.utilisation;
      requests += hour.requests;
      inputTokens += hour.inputTokens;
      outputTokens += hour.outputTokens;
    }
    const tokensServed = inputTokens + outputTokens;
    const costUsd = picoToUsd(costPico);
    const utilisation = hours.length === 0 ? 0 : busyShare / hours.length;

    const twin = serverlessTwin(deployment.id, its, deployments);
    let serverlessEquivalentUsd: number | null = null;
    let breakEvenTokensPerHour: number | null = null;
    if (twin) {
      serverlessEquivalentUsd = round((inputTokens * twin.inputPerMillionUsd + outputTokens * twin.outputPerMillionUsd) / 1e6, 6);
      // The traffic's own input/output mix (without traffic, half and half), in exact pico-dollars per token.
      const mixIn = tokensServed === 0 ? 1n : BigInt(inputTokens);
      const mixOut = tokensServed === 0 ? 1n : BigInt(outputTokens);
      const mixPico = mixIn * picoPerToken(twin.inputPerMillionUsd) + mixOut * picoPerToken(twin.outputPerMillionUsd);
      const hourPico = hours.length === 0 ? hourCostPicoUsd(deploymentPrice(deployment)) : costPico / BigInt(hours.length);
      breakEvenTokensPerHour = mixPico === 0n ? null : Number((hourPico * (mixIn + mixOut) + mixPico - 1n) / mixPico);
    }

    let aliasRequests = 0;
    let spilled = 0;
    for (const row of input.rollups) {
      if (row.managedAllocated || !aliases.has(row.alias)) continue;
      aliasRequests += row.requests;
      if (row.kind === 'serverless') spilled += row.requests;
    }
    const spillShare = aliasRequests === 0 ? 0 : spilled / aliasRequests;

    advice.push({
      deployment: deployment.id,
      hours: hours.length,
      utilisation: round(utilisation, 4),
      requests,
      inputTokens,
      outputTokens,
      tokensServed,
      tokensPerHour: hours.length === 0 ? 0 : Math.round(tokensServed / hours.length),
      costUsd,
      allocatedToTeamsUsd: picoToUsd(costPico - unallocatedPico),
      unallocatedUsd: picoToUsd(unallocatedPico),
      effectivePerMillionUsd: tokensServed === 0 ? null : round((costUsd / tokensServed) * 1e6, 6),
      serverlessTwin: twin,
      serverlessEquivalentUsd,
      breakEvenTokensPerHour,
      spillShare: round(spillShare, 4),
      routes: [...aliases].sort(),
      recommendation: recommend({ hours: hours.length, utilisation, spillShare, costUsd, serverlessEquivalentUsd, twin }),
    });
  }
  return advice.sort((a, b) => (a.deployment < b.deployment ? -1 : 1));
}

function deploymentPrice(deployment: Deployment): { hourlyUsd: number; instances: number } {
  return 'hourlyUsd' in deployment.pricing ? deployment.pricing : { hourlyUsd: 0, instances: 1 };
}

/** $/million as exact pico-dollars per token (prices have at most 6 decimals). */
function picoPerToken(perMillionUsd: number): bigint {
  return BigInt(Math.round(perMillionUsd * 1_000_000));
}

/** The first serverless target, in route order, of the routes that name the deployment. */
function serverlessTwin(id: string, routes: Route[], deployments: ReadonlyMap<string, Deployment>): DeploymentAdvice['serverlessTwin'] {
  for (const route of routes) {
    for (const target of route.targets) {
      const candidate = deployments.get(target.deployment);
      if (!candidate || candidate.id === id || !('inputPerMillionUsd' in candidate.pricing)) continue;
      const sharing = routes.filter((r) => r.targets.some((t) => t.deployment === candidate.id)).map((r) => r.alias);
      return {
        deployment: candidate.id,
        routes: sharing.sort(),
        inputPerMillionUsd: candidate.pricing.inputPerMillionUsd,
        outputPerMillionUsd: candidate.pricing.outputPerMillionUsd,
      };
    }
  }
  return null;
}

function recommend(facts: {
  hours: number;
  utilisation: number;
  spillShare: number;
  costUsd: number;
  serverlessEquivalentUsd: number | null;
  twin: DeploymentAdvice['serverlessTwin'];
}): string {
  if (facts.hours === 0) return 'no closed hours in this period yet';
  if (facts.spillShare >= HIGH_SPILL) return `add an instance: spilling ${percent(facts.spillShare)} to pay-as-you-go`;
  if (facts.utilisation < LOW_UTILISATION) {
    if (!facts.twin)
      return `move to serverless: ${percent(facts.utilisation)} utilised (no serverless deployment shares its routes to compare)`;
    if (facts.serverlessEquivalentUsd !== null && facts.serverlessEquivalentUsd < facts.costUsd) {
      return `move to serverless: ${percent(facts.utilisation)} utilised`;
    }
  }
  return 'keep';
}
