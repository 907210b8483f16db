/**
 * How many of an open-loop run's requests are due `elapsedMs` after its start: request i is scheduled at
 * i × 1000 / rate ms, whatever happened to the ones before it (no coordinated omission).
 */
export function dueCount(elapsedMs: number, ratePerSecond: number, total: number): number {
  if (elapsedMs < 0) return 0;
  return Math.min(total, Math.floor((elapsedMs * ratePerSecond) / 1000) + 1);
}

/** When request `index` of the run is scheduled, in ms after its start. */
export function scheduledAtMs(index: number, ratePerSecond: number): number {
  return (index * 1000) / ratePerSecond;
}
