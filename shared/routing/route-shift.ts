import type { Route, RouteShift } from '../catalog/schemas.js';
import { hashText, seededRandom } from '../seeded-random.js';

const UNIT_MS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A duration as ops write it (`30s`, `10m`, `2h`, `7d`) in ms; undefined when it is not one. */
export function parseDurationMs(text: string): number | undefined {
  const match = /^([1-9][0-9]{0,6})([smhd])$/.exec(text);
  return match ? Number(match[1]) * UNIT_MS[match[2]!]! : undefined;
}

function stepsDone(shift: RouteShift, nowMs: number): number {
  const startMs = Date.parse(shift.startedAt);
  // An aborted shift stays at the step it had reached when it was aborted.
  const atMs = shift.abortedAt === undefined ? nowMs : Math.min(nowMs, Date.parse(shift.abortedAt));
  const elapsedMs = Math.max(0, atMs - startMs);
  return Math.min(shift.steps, Math.floor((shift.steps * elapsedMs) / shift.overMs));
}

/** The share of requests that put `to` first at `nowMs`: floor(steps × elapsed / over) / steps, frozen once aborted. */
export function shiftShare(shift: RouteShift, nowMs: number): number {
  return stepsDone(shift, nowMs) / shift.steps;
}

/** When the share next grows; undefined once the shift is complete or aborted. */
export function nextStepAtMs(shift: RouteShift, nowMs: number): number | undefined {
  const done = stepsDone(shift, nowMs);
  if (shift.abortedAt !== undefined || done >= shift.steps) return undefined;
  return Date.parse(shift.startedAt) + Math.ceil(((done + 1) * shift.overMs) / shift.steps);
}

/** What a GET shows of a shift besides its document: the share now and when it next grows (null when it will not). */
export function shiftProgress(shift: RouteShift, nowMs: number): { share: number; nextStepAt: string | null } {
  const next = nextStepAtMs(shift, nowMs);
  return { share: shiftShare(shift, nowMs), nextStepAt: next === undefined ? null : new Date(next).toISOString() };
}

export interface ShiftDrawInput {
  user?: string | undefined;
  nowMs: number;
  /** A number in [0, 1), used when the request names no user. */
  random: () => number;
}

export interface ShiftedOrder {
  order: string[];
  /** Why the shift's target sits where it does; absent when the route has no shift. */
  note?: string;
}

/**
 * Applies a route's shift to the order its strategy chose: a share of requests put `to` first, the others keep
 * that order with `to` moved last, so it stays a fallback and its share of first tries is exactly the share.
 * A request naming a `user` draws from a hash of it, so a user moves to `to` once and stays there.
 */
export function shiftedOrder(route: Route, ordered: readonly string[], input: ShiftDrawInput): ShiftedOrder {
  const shift = route.shift;
  if (!shift) return { order: [...ordered] };
  const share = shiftShare(shift, input.nowMs);
  const point = input.user === undefined ? input.random() : seededRandom(hashText(`${route.alias}\u0000shift\u0000${input.user}`))();
  const others = ordered.filter((id) => id !== shift.to);
  const first = point < share;
  const progress = `${Math.round(share * 100)}% of requests at step ${stepsDone(shift, input.nowMs)} of ${shift.steps}${shift.abortedAt === undefined ? '' : ', aborted'}`;
  return first
    ? { order: [shift.to, ...others], note: `first by shift draw (shift to ${shift.to}: ${progress})` }
    : { order: [...others, shift.to], note: `last by shift draw (shift to ${shift.to}: ${progress})` };
}

/** A route as a GET shows it: its shift carries the share now and when it next grows (dropped again when written back). */
export function withShiftProgress(route: Route, nowMs: number): Route {
  return route.shift ? { ...route, shift: { ...route.shift, ...shiftProgress(route.shift, nowMs) } } : route;
}
