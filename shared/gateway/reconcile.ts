import { HOUR_MS } from '../allocation/allocate-hour.js';
import { deploymentHours, hourStart } from '../allocation/close-hours.js';
import { errors } from '../errors.js';
import type { GatewayRequest, GatewayResponse } from '../http/types.js';
import { monthOf } from '../limits/quota-windows.js';
import {
  type HourDifference,
  hourDifferences,
  RollupRecount,
  type RollupDifference,
  rollupDifferences,
} from '../reconcile/ledger-differences.js';
import { monthDays } from '../statements/statement.js';
import { authenticate } from './authenticate.js';
import type { GatewayDeps } from './gateway-deps.js';

export interface LedgerReconcileReport {
  month: string;
  /** Σ differences found: 0 is the normal state. */
  differences: number;
  rollups: { records: number; keys: number; differences: RollupDifference[] };
  /** `repaired`: the differing hours rewritten from the records (with repair=allocations). */
  allocations: { deployments: number; hours: number; differences: HourDifference[]; repaired: number };
}

/**
 * Recomputes a month's rollups and managed-compute allocations from the raw usage records and reports every
 * difference from what is stored. It changes nothing, unless asked to rewrite the differing allocation hours (as the
 * hourly timer does within its lookback); rollups are only reported. Records the ledger has not rolled up yet (a
 * writer's open seq, one the sweep has still to complete) show as differences.
 */
export async function reconcileMonth(
  deps: GatewayDeps,
  month: string,
  options: { repairAllocations?: boolean } = {},
): Promise<LedgerReconcileReport> {
  const { from, to } = monthDays(month);
  const recount = new RollupRecount();
  for await (const page of deps.allocations.readRecordPages(from, to)) recount.add(page);
  const stored = await deps.readRollups({ from, to });
  const rollups = rollupDifferences(stored, recount);

  const nowMs = deps.now();
  const fromMs = Date.parse(`${from}T00:00:00.000Z`);
  const toMs = Math.min(Date.parse(`${to}T00:00:00.000Z`) + 24 * HOUR_MS, hourStart(nowMs));
  const allocations: LedgerReconcileReport['allocations'] = { deployments: 0, hours: 0, differences: [], repaired: 0 };
  if (toMs > fromMs) {
    for (const deployment of deps.catalog.current().deployments.values()) {
      if (deployment.kind !== 'managed') continue;
      const { computed, stored: storedHours } = await deploymentHours(deps.allocations, deployment, {
        basis: deps.allocation.basis,
        fromMs,
        toMs,
        nowMs,
        firstVersionAtMs: async (id) => {
          const first = (await deps.versions.list('deployment', id)).at(-1);
          return first ? Date.parse(first.at) : undefined;
        },
      });
      allocations.deployments += 1;
      allocations.hours += computed.length;
      const differences = hourDifferences(computed, storedHours);
      allocations.differences.push(...differences);
      if (options.repairAllocations && differences.length > 0) {
        const differing = new Set(differences.map((d) => d.hour));
        const rewrite = computed.filter((doc) => differing.has(doc.hour));
        await deps.allocations.writeHours(rewrite);
        allocations.repaired += rewrite.length;
      }
    }
  }
  return {
    month,
    differences: rollups.length + allocations.differences.length,
    rollups: { records: recount.records, keys: recount.sums.size, differences: rollups },
    allocations,
  };
}

/** POST /usage/reconcile?month=YYYY-MM[&repair=allocations] (finance, admin): the month's ledger against its raw records. */
export async function reconcileLedger(request: GatewayRequest, deps: GatewayDeps): Promise<GatewayResponse> {
  const principal = authenticate(request.headers, deps);
  if (principal.kind === 'team' || principal.role === 'ops') throw errors.forbidden('Reconcile needs a finance or admin key.');
  const month = request.query.get('month') ?? monthOf(deps.now());
  if (!/^\d{4}-(0[1-9]|1[0-2])$/.test(month)) throw errors.invalidRequest(`'month' must be a UTC month as YYYY-MM.`, 'month');
  const repair = request.query.get('repair');
  if (repair !== null && repair !== 'allocations') throw errors.invalidRequest(`'repair' can only be 'allocations'.`, 'repair');
  const report = await reconcileMonth(deps, month, { repairAllocations: repair === 'allocations' }).catch((error: unknown) => {
    throw errors.storeUnavailable(error);
  });
  return { status: 200, headers: { 'content-type': 'application/json' }, jsonBody: report };
}
