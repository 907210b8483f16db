import { errors } from '../errors.js';
import type { GatewayRequest, GatewayResponse } from '../http/types.js';
import { readTextBody } from '../http/read-text-body.js';
import { type AzureDriftReport, azureDrift, ledgerByDeploymentDay } from '../reconcile/azure-drift.js';
import { parseCostExport } from '../reconcile/cost-export.js';
import { authenticate } from './authenticate.js';
import type { GatewayDeps } from './gateway-deps.js';

/** A month of cost details for a few hundred resources is a few MB. */
const MAX_EXPORT_BYTES = 64 * 1024 * 1024;
const MAX_EXPORT_DAYS = 93;

/**
 * POST /usage/reconcile/azure (finance, admin), body: an Azure Cost Management cost-details export (CSV): per
 * deployment and day over the export's days, what Azure billed against what the ledger holds, and the drift.
 */
export async function reconcileAzure(request: GatewayRequest, deps: GatewayDeps): Promise<GatewayResponse> {
  const principal = authenticate(request.headers, deps);
  if (principal.kind === 'team' || principal.role === 'ops') throw errors.forbidden('Reconcile needs a finance or admin key.');
  const text = await readTextBody(request.body, { maxBytes: MAX_EXPORT_BYTES, contentLength: request.headers.get('content-length') });
  const report = await reconcileAzureExport(deps, text);
  return { status: 200, headers: { 'content-type': 'application/json' }, jsonBody: report };
}

/** An export's charges against the ledger (for the route and `npm run reconcile -- --azure`). */
export async function reconcileAzureExport(deps: GatewayDeps, text: string): Promise<AzureDriftReport> {
  const lines = parseCostExport(text);
  if (lines.length === 0) throw errors.invalidRequest('The cost export has a header but no charges.');
  const days = lines.map((line) => line.day).sort();
  const from = days[0]!;
  const to = days.at(-1)!;
  const spanDays = (Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / 86_400_000 + 1;
  if (spanDays > MAX_EXPORT_DAYS)
    throw errors.invalidRequest(`A cost export spans at most ${MAX_EXPORT_DAYS} days; this one spans ${spanDays}.`);
  const toExclusive = new Date(Date.parse(`${to}T00:00:00.000Z`) + 86_400_000).toISOString();
  const [rollups, hours] = await Promise.all([
    deps.readRollups({ from, to }),
    deps.allocations.readHours({ fromIso: `${from}T00:00:00.000Z`, toIso: toExclusive }),
  ]).catch((error: unknown) => {
    throw errors.storeUnavailable(error);
  });
  const deployments = [...deps.catalog.current().deployments.values()];
  return azureDrift(lines, deployments, ledgerByDeploymentDay(rollups, hours));
}
