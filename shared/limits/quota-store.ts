import type { TeamLimits } from '../catalog/schemas.js';
import type { BudgetMark } from './budget-crossings.js';
import type { WindowUse } from './rate-limit-headers.js';

/** One team's budget for one UTC month, as the store holds it; money in micro-dollars. */
export interface BudgetState {
  team: string;
  month: string;
  /** Settled cost of the month's requests (and holds swept from instances that vanished, counted at their worst case). */
  spentMicroUsd: number;
  /** Worst-case cost of requests admitted and not yet settled, on every instance. */
  reservedMicroUsd: number;
  /** Of `spentMicroUsd`, what was swept from instances that vanished holding it. */
  sweptMicroUsd: number;
  /** When each mark was first reached (ISO). */
  marks: Partial<Record<BudgetMark, string>>;
}

/** A team's rate-limit window: one UTC minute (see minuteWindow). */
export interface RateWindow {
  team: string;
  window: string;
}

/** Requests and tokens taken from a window at once: one request's worst case, or an instance's lease of several. */
export interface RateTake extends RateWindow {
  requests: number;
  tokens: number;
}

/** The port through which budgets and rate limits are held across instances; every change is atomic in the store. */
export interface QuotaStore {
  /**
   * Reserves `amountMicroUsd` of the month's budget for this instance when spent + reserved + amount stays within
   * `limitMicroUsd`; undefined when it would not (refused).
   */
  reserve(team: string, month: string, amountMicroUsd: number, limitMicroUsd: number, nowMs: number): Promise<BudgetState | undefined>;
  /** Releases `reservedMicroUsd` of this instance's hold and adds `costMicroUsd` to spent; either may be 0 (then it only marks the instance alive). */
  settle(team: string, month: string, reservedMicroUsd: number, costMicroUsd: number, nowMs: number): Promise<BudgetState>;
  /** Records a mark once per month; false when it was recorded before. */
  mark(team: string, month: string, mark: BudgetMark, atIso: string): Promise<boolean>;
  /** The month's budget as held, or undefined when nothing was reserved or spent in it. */
  read(team: string, month: string): Promise<BudgetState | undefined>;
  /** Like `read`, after moving the holds of instances silent for longer than any request lasts into spent (see the adapter). */
  sweep(team: string, month: string, nowMs: number): Promise<BudgetState | undefined>;
  /** Counts `requests` and `tokens` in the team's window when it stays within the limits: what the window has used, and whether it was taken. */
  take(take: RateTake, limits: TeamLimits): Promise<{ taken: boolean; used: WindowUse }>;
  /** Corrects what a window counts by `tokens` and `requests` (negative gives back). */
  adjust(window: RateWindow, change: { requests: number; tokens: number }): Promise<void>;
}
