import { priceAt } from '../catalog/price-book.js';
import type { Deployment } from '../catalog/schemas.js';
import { type AllocationBasis, HOUR_MS, hourUses } from './allocate-hour.js';
import type { AllocationRecord, AllocationStore } from './allocation-store.js';
import { type HourDocument, hourDocument, sameAllocation } from './hour-document.js';

/** A managed deployment as allocation reads it. */
export type ManagedDeployment = Pick<Deployment, 'id' | 'pricing' | 'priceHistory' | 'capacity' | 'billing'>;

export interface AllocateHoursOptions {
  basis: AllocationBasis;
  /** Hours starting in [fromMs, toMs) are (re)computed; both on hour boundaries. */
  fromMs: number;
  toMs: number;
  /** The clock: the deployment is known to exist in the hour that holds it. */
  nowMs: number;
  /** When the deployment's first version was written, if the version log has it. */
  firstVersionAtMs?: (deployment: string) => Promise<number | undefined>;
  /** The instances the deployment runs now (Azure ML sku.capacity), charged for the last hour of the range if not yet allocated. */
  instancesNow?: (deployment: ManagedDeployment) => Promise<number | undefined>;
}

export interface AllocateHoursResult {
  deployments: number;
  hoursWritten: number;
  hoursUnchanged: number;
}

export function hourStart(ms: number): number {
  return Math.floor(ms / HOUR_MS) * HOUR_MS;
}

/**
 * A deployment's hours in the range as they should be stored: its records grouped by the hour their request
 * started, each hour priced by the price book at the hour's start (a price change takes effect from the next
 * whole hour) and split on the capacity and basis it was first allocated with. Hours before the deployment is known to exist
 * are not charged.
 */
export function computeHours(
  deployment: ManagedDeployment,
  records: AllocationRecord[],
  stored: ReadonlyMap<string, HourDocument>,
  options: { basis: AllocationBasis; fromMs: number; toMs: number; firstHourMs: number; instancesNow?: number },
): HourDocument[] {
  const byHour = new Map<number, AllocationRecord[]>();
  for (const record of records) {
    const hour = hourStart(Date.parse(record.ts));
    const list = byHour.get(hour);
    if (list) list.push(record);
    else byHour.set(hour, [record]);
  }
  const docs: HourDocument[] = [];
  for (let hour = Math.max(options.fromMs, hourStart(options.firstHourMs)); hour < options.toMs; hour += HOUR_MS) {
    const pricing = priceAt(deployment, hour);
    if (!('hourlyUsd' in pricing)) continue;
    // A change of capacity or of SWITCHYARD_ALLOCATION_BASIS applies to hours not yet allocated: a closed hour keeps
    // the capacity its utilisation was measured against and the basis it was split on.
    const before = stored.get(new Date(hour).toISOString());
    const slots = before?.slots ?? deployment.capacity?.maxConcurrent ?? pricing.instances;
    const basis = before?.basis ?? options.basis;
    // The instances that ran: as first charged, else as observed now for the hour just closed, else as configured.
    const observed = hour === options.toMs - HOUR_MS ? options.instancesNow : undefined;
    const instances = before?.instances ?? observed ?? pricing.instances;
    const uses = hourUses(byHour.get(hour) ?? []);
    docs.push(hourDocument(deployment.id, hour, { hourlyUsd: pricing.hourlyUsd, instances, slots }, uses, basis));
  }
  return docs;
}

/** The earliest hour a deployment is known to exist: first seen by the allocator, first version, or first record in range. */
async function firstHourMs(
  store: AllocationStore,
  deployment: string,
  records: AllocationRecord[],
  options: AllocateHoursOptions,
): Promise<number> {
  let earliest = hourStart(options.nowMs);
  const versionAt = await options.firstVersionAtMs?.(deployment);
  if (versionAt !== undefined) earliest = Math.min(earliest, hourStart(versionAt));
  for (const record of records) earliest = Math.min(earliest, hourStart(Date.parse(record.ts)));
  return Date.parse(await store.firstHour(deployment, new Date(earliest).toISOString()));
}

/** Reads what one deployment's hours in the range should be and what is stored: for the timer and for reconcile. */
export async function deploymentHours(
  store: AllocationStore,
  deployment: ManagedDeployment,
  options: AllocateHoursOptions,
): Promise<{ computed: HourDocument[]; stored: Map<string, HourDocument> }> {
  const fromIso = new Date(options.fromMs).toISOString();
  const toIso = new Date(options.toMs).toISOString();
  const [records, storedHours] = await Promise.all([
    store.readDeploymentRecords(deployment.id, fromIso, toIso),
    store.readHours({ fromIso, toIso, deployment: deployment.id }),
  ]);
  const stored = new Map(storedHours.map((doc) => [doc.hour, doc]));
  const first = await firstHourMs(store, deployment.id, records, options);
  const instancesNow = await options.instancesNow?.(deployment);
  return { computed: computeHours(deployment, records, stored, { ...options, firstHourMs: first, instancesNow }), stored };
}

/**
 * Closes the managed deployments' hours in the range: each hour whose allocation differs from what is stored
 * (new, or re-opened by late usage) is written whole; the rest are left alone. Safe to run again and on any instance.
 */
export async function allocateManagedCompute(
  store: AllocationStore,
  deployments: Iterable<ManagedDeployment & Pick<Deployment, 'kind'>>,
  options: AllocateHoursOptions,
): Promise<AllocateHoursResult> {
  const result: AllocateHoursResult = { deployments: 0, hoursWritten: 0, hoursUnchanged: 0 };
  for (const deployment of deployments) {
    if (deployment.kind !== 'managed') continue;
    result.deployments += 1;
    const { computed, stored } = await deploymentHours(store, deployment, options);
    const changed = computed.filter((doc) => {
      const before = stored.get(doc.hour);
      return !before || !sameAllocation(before, doc);
    });
    if (changed.length > 0) await store.writeHours(changed);
    result.hoursWritten += changed.length;
    result.hoursUnchanged += computed.length - changed.length;
  }
  return result;
}
