/** One instance's claim on a deployment's capacity, as published in the shared live state. */
export interface SlotClaim {
  instance: string;
  /** Slots it holds now (its lease). */
  slots: number;
  /** How many it could use: its recent peak in flight, or the whole capacity when it ran out of slots. */
  want: number;
}

/**
 * The share of `maxConcurrent` each live instance should hold: water-filled over their wants (nobody gets more
 * than it wants while another wants more), then what nobody wants spread evenly as standby, so a lone instance
 * holds every slot and an idle one still has a slot for the next request. Deterministic (by instance id), so
 * every instance computes the same answer from the same claims. The shares sum to maxConcurrent exactly.
 */
export function allocateSlots(maxConcurrent: number, claims: readonly SlotClaim[]): Map<string, number> {
  const instances = [...claims].sort((a, b) => (a.instance < b.instance ? -1 : a.instance > b.instance ? 1 : 0));
  const shares = new Map(instances.map((c) => [c.instance, 0]));
  if (instances.length === 0) return shares;
  let left = maxConcurrent;
  let hungry = instances.filter((c) => c.want > 0);
  while (left > 0 && hungry.length > 0) {
    const each = Math.floor(left / hungry.length);
    if (each === 0) {
      // Fewer slots than hungry instances: one each, by id, until none is left.
      for (const c of hungry.slice(0, left)) shares.set(c.instance, shares.get(c.instance)! + 1);
      left = 0;
      break;
    }
    for (const c of hungry) {
      const given = Math.min(each, c.want - shares.get(c.instance)!);
      shares.set(c.instance, shares.get(c.instance)! + given);
      left -= given;
    }
    hungry = hungry.filter((c) => shares.get(c.instance)! < c.want);
  }
  const standby = Math.floor(left / instances.length);
  instances.forEach((c, i) => {
    shares.set(c.instance, shares.get(c.instance)! + standby + (i < left % instances.length ? 1 : 0));
  });
  return shares;
}

/**
 * The slots an instance publishes next. It gives slots back at once (never below what it has in flight) but
 * takes more only from the free pool (capacity less every slot published by the live instances, itself
 * included), so that however the instances' views differ, the slots published never add up to more than the
 * capacity. Expired claims are not in `claims`: their owner has stopped admitting on them.
 */
export function nextSlots(
  own: { instance: string; slots: number; inFlight: number },
  target: number,
  maxConcurrent: number,
  claims: readonly SlotClaim[],
): number {
  if (target <= own.slots) return Math.max(own.inFlight, target);
  const published = claims.reduce((sum, c) => sum + (c.instance === own.instance ? 0 : c.slots), 0) + own.slots;
  const free = Math.max(0, maxConcurrent - published);
  return own.slots + Math.min(target - own.slots, free);
}
