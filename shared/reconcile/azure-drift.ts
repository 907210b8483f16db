import type { HourDocument } from '../allocation/hour-document.js';
import type { Deployment } from '../catalog/schemas.js';
import { costPicoUsd, picoToUsd, picoToUsdExact } from '../usage/pricing.js';
import type { RollupRow } from '../usage/usage-report.js';
import type { CostLine } from './cost-export.js';

export type BilledDeployment = Pick<Deployment, 'id' | 'kind' | 'endpoint' | 'billing'>;

export interface DriftRow {
  deployment: string;
  kind: string;
  day: string;
  billedUsd: number;
  ledgerUsd: number;
  /** billed − ledger, rounded once to the micro-dollar; driftUsdExact to the pico-dollar. */
  driftUsd: number;
  driftUsdExact: string;
  /** drift ÷ ledger; null when the ledger holds nothing for the day. */
  driftShare: number | null;
}

export interface AzureDriftReport {
  from: string;
  to: string;
  /** Per deployment and day with a charge on either side, in deployment then day order. */
  rows: DriftRow[];
  /** Export charges no deployment is billed to, per resource. */
  unmatched: Array<{ resourceId: string; billedUsd: number }>;
  totals: { billedUsd: number; ledgerUsd: number; driftUsd: number; unmatchedUsd: number };
}

/**
 * The deployment a charge belongs to: the one whose `billing.resourceId` is the charge's resource or a parent of
 * it; else the one whose endpoint host starts with the resource's name (`<name>.openai.azure.com`,
 * `<endpoint>.<region>.inference.ml.azure.com`), the first in id order when several do.
 */
export function deploymentForResource(resourceId: string, deployments: readonly BilledDeployment[]): BilledDeployment | undefined {
  const id = resourceId.toLowerCase();
  const byId = deployments.find((d) => {
    const billed = d.billing?.resourceId.toLowerCase();
    return billed !== undefined && (id === billed || id.startsWith(`${billed}/`));
  });
  if (byId) return byId;
  const name = id.split('/').filter(Boolean).at(-1);
  if (!name) return undefined;
  return [...deployments]
    .sort((a, b) => (a.id < b.id ? -1 : 1))
    .find((d) => d.billing === undefined && hostOf(d.endpoint)?.split('.')[0] === name);
}

function hostOf(endpoint: string): string | undefined {
  try {
    return new URL(endpoint).hostname.toLowerCase();
  } catch {
    return undefined;
  }
}

// picoToUsd rounds half to even on magnitudes; a drift may be negative.
const signedUsd = (pico: bigint) => (pico < 0n ? -picoToUsd(-pico) : picoToUsd(pico));

/** What the ledger holds per deployment and day: serverless token charges from rollups, managed compute from its hours. */
export function ledgerByDeploymentDay(rollups: RollupRow[], hours: HourDocument[]): Map<string, bigint> {
  const ledger = new Map<string, bigint>();
  const add = (deployment: string, day: string, pico: bigint) => {
    const key = `${deployment}\u0000${day}`;
    ledger.set(key, (ledger.get(key) ?? 0n) + pico);
  };
  for (const row of rollups) if (!row.managedAllocated && row.kind === 'serverless') add(row.deployment, row.day, costPicoUsd(row));
  for (const hour of hours) add(hour.deployment, hour.day, costPicoUsd(hour));
  return ledger;
}

/** Billed against ledger per deployment and day over the export's days; charges of unknown resources listed apart. */
export function azureDrift(
  lines: CostLine[],
  deployments: readonly BilledDeployment[],
  ledger: ReadonlyMap<string, bigint>,
): AzureDriftReport {
  const days = lines.map((line) => line.day).sort();
  const from = days[0] ?? '';
  const to = days.at(-1) ?? '';
  const billed = new Map<string, bigint>();
  const unmatched = new Map<string, bigint>();
  for (const line of lines) {
    const deployment = deploymentForResource(line.resourceId, deployments);
    if (!deployment) {
      unmatched.set(line.resourceId, (unmatched.get(line.resourceId) ?? 0n) + line.costPico);
      continue;
    }
    const key = `${deployment.id}\u0000${line.day}`;
    billed.set(key, (billed.get(key) ?? 0n) + line.costPico);
  }
  const kinds = new Map(deployments.map((d) => [d.id, d.kind]));
  const keys = new Set([
    ...billed.keys(),
    ...[...ledger.keys()].filter((key) => key.split('\u0000')[1]! >= from && key.split('\u0000')[1]! <= to),
  ]);
  const rows: DriftRow[] = [];
  let billedTotal = 0n;
  let ledgerTotal = 0n;
  for (const key of [...keys].sort()) {
    const [deployment, day] = key.split('\u0000') as [string, string];
    const billedPico = billed.get(key) ?? 0n;
    const ledgerPico = ledger.get(key) ?? 0n;
    if (billedPico === 0n && ledgerPico === 0n) continue;
    billedTotal += billedPico;
    ledgerTotal += ledgerPico;
    const drift = billedPico - ledgerPico;
    rows.push({
      deployment,
      kind: kinds.get(deployment) ?? 'unknown',
      day,
      billedUsd: picoToUsd(billedPico),
      ledgerUsd: picoToUsd(ledgerPico),
      driftUsd: signedUsd(drift),
      driftUsdExact: picoToUsdExact(drift),
      driftShare: ledgerPico === 0n ? null : Math.round((Number(drift) / Number(ledgerPico)) * 1e6) / 1e6,
    });
  }
  let unmatchedTotal = 0n;
  for (const pico of unmatched.values()) unmatchedTotal += pico;
  return {
    from,
    to,
    rows,
    unmatched: [...unmatched.entries()]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([resourceId, pico]) => ({ resourceId, billedUsd: picoToUsd(pico) })),
    totals: {
      billedUsd: picoToUsd(billedTotal),
      ledgerUsd: picoToUsd(ledgerTotal),
      driftUsd: signedUsd(billedTotal - ledgerTotal),
      unmatchedUsd: picoToUsd(unmatchedTotal),
    },
  };
}
