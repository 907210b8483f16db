import type { TeamBudget } from '../catalog/schemas.js';

/** The two marks of a month's budget, each recorded once: `alertAt` of it spent, and all of it. */
export type BudgetMark = 'alerted' | 'exhausted';

/** A budget's monthly limit in micro-dollars. */
export function budgetLimitMicroUsd(budget: TeamBudget): number {
  return Math.round(budget.monthlyUsd * 1_000_000);
}

/**
 * The marks a month's spend has reached and that are not yet recorded. Asked after every settlement, so a mark whose
 * write was lost is recorded at the next one; nothing is due before anything is spent.
 */
export function marksDue(budget: TeamBudget, spentMicroUsd: number, recorded: ReadonlySet<BudgetMark>): BudgetMark[] {
  if (spentMicroUsd <= 0) return [];
  const limit = budgetLimitMicroUsd(budget);
  const due: BudgetMark[] = [];
  if (spentMicroUsd >= Math.ceil(limit * budget.alertAt) && !recorded.has('alerted')) due.push('alerted');
  if (spentMicroUsd >= limit && !recorded.has('exhausted')) due.push('exhausted');
  return due;
}
