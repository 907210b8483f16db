import { HOUR_MS } from '../allocation/allocate-hour.js';
import { type AllocateHoursResult, allocateManagedCompute, hourStart } from '../allocation/close-hours.js';
import type { GatewayDeps } from './gateway-deps.js';

/**
 * The hourly timer's work: (re)allocates the managed deployments' closed hours of the lookback window, so usage
 * recorded late (a sweep after a crash, a slow instance) re-opens its hour. Any instance may run it, any number of times.
 */
export function closeManagedHours(deps: GatewayDeps): Promise<AllocateHoursResult> {
  const nowMs = deps.now();
  const toMs = hourStart(nowMs);
  return allocateManagedCompute(deps.allocations, deps.catalog.current().deployments.values(), {
    basis: deps.allocation.basis,
    fromMs: toMs - deps.allocation.lookbackHours * HOUR_MS,
    toMs,
    nowMs,
    instancesNow: async (deployment) => {
      if (!deps.instanceCount) return undefined;
      try {
        return await deps.instanceCount(deployment);
      } catch (error) {
        // The configured count is charged instead; the next run asks again for its own hour.
        deps.log.log('warn', 'could not read the instance count from Azure ML', { deployment: deployment.id, error: String(error) });
        return undefined;
      }
    },
    firstVersionAtMs: async (deployment) => {
      const versions = await deps.versions.list('deployment', deployment);
      const first = versions.at(-1);
      return first ? Date.parse(first.at) : undefined;
    },
  });
}
