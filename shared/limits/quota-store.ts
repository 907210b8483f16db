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

/** A request's share of a rate-limit window, as admitted. */
export interface RateTake {
  team: string;
  window: string;
  tokens: number;
}

/** The port through which budgets and rate limits are held across instances; every change is atomic in the store. */
export interface QuotaStore {
  /**
   * Reserves `amountMicroUsd` of the month's budget for this instance when spent + reserved + amount stays within
   * `limitMicroUsd`; undefined when it would not (refused).
   */
  reserve(team: string, month: string, amountMicroUsd: number, limitMicroUsd: number, nowMs: number): Promise<BudgetState | undefined>;
  /** Ends a reservation (0 for a soft budget's unreserved request): its hold released and its real cost added to spent. */
  settle(team: string, month: string, reservedMicroUsd: number, costMicroUsd: number, nowMs: number): Promise<BudgetState>;
  /** Records a mark once per month; false when it was recorded before. */
  mark(team: string, month: string, mark: BudgetMark, atIso: string): Promise<boolean>;
  /** The month's budget as held, or undefined when nothing was reserved or spent in it. */
  read(team: string, month: string): Promise<BudgetState | undefined>;
  /** Like `read`, after moving the holds of instances silent for longer than any request lasts into spent (see the adapter). */
  sweep(team: string, month: string, nowMs: number): Promise<BudgetState | undefined>;
  /** Counts one request of `tokens` in the team's window when it stays within the limits: what the window has used, and whether it was taken. */
  take(take: RateTake, limits: TeamLimits): Promise<{ taken: boolean; used: WindowUse }>;
  /** Corrects a taken request's tokens by `tokens` (negative gives back) or, with `requests`, gives back a request. */
  adjust(take: RateTake, change: { requests: number; tokens: number }): Promise<void>;
}
