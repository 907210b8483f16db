import { z } from 'zod';
import type { Team } from '../catalog/schemas.js';
import { errors } from '../errors.js';
import type { GatewayRequest, GatewayResponse } from '../http/types.js';
import { budgetLimitMicroUsd } from '../limits/budget-crossings.js';
import { monthOf } from '../limits/quota-windows.js';
import { authenticate } from './authenticate.js';
import type { GatewayDeps } from './gateway-deps.js';

const querySchema = z.strictObject({
  team: z.string().max(63).optional(),
  month: z
    .string()
    .regex(/^\d{4}-(0[1-9]|1[0-2])$/, 'month must be YYYY-MM')
    .optional(),
});

/** One team's budget for a month as finance reads it: the limit, what is spent and held, and the marks reached. */
export interface BudgetStatus {
  team: string;
  month: string;
  monthlyUsd: number;
  enforce: 'hard' | 'soft';
  alertAt: number;
  spentUsd: number;
  reservedUsd: number;
  /** Of spent: holds of instances that vanished mid-request, counted at their worst case. */
  sweptUsd: number;
  remainingUsd: number;
  alerts: { alertedAt?: string; exhaustedAt?: string };
}

/**
 * GET /usage/budgets?team&month: every budgeted team's month (the current UTC month by default) for finance and admin,
 * a team key's own team only. Reading sweeps the holds of vanished instances, so what it shows is what is really held.
 */
export async function budgetStatus(request: GatewayRequest, deps: GatewayDeps): Promise<GatewayResponse> {
  const principal = authenticate(request.headers, deps);
  const parsed = querySchema.safeParse(Object.fromEntries(request.query));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw errors.invalidRequest(issue.message, issue.path.map(String).join('.') || null);
  }
  const month = parsed.data.month ?? monthOf(deps.now());
  let teamId = parsed.data.team;
  if (principal.kind === 'team') {
    if (teamId !== undefined && teamId !== principal.teamId) throw errors.forbidden("A team key can read its own team's budget only.");
    teamId = principal.teamId;
  } else if (principal.role === 'ops') {
    throw errors.forbidden('Budgets need a finance or admin key, or a team key for its own team.');
  }
  const teams = [...deps.catalog.current().teams.values()].filter((t) => t.budget && (teamId === undefined || t.id === teamId));
  // This instance's settled spend is written first, so what a caller just spent here shows (other instances' within a flush).
  await deps.quotaLeases.flush();
  const budgets = await Promise.all(teams.map((team) => statusOf(team, month, deps))).catch((error: unknown) => {
    throw errors.storeUnavailable(error);
  });
  return { status: 200, headers: { 'content-type': 'application/json' }, jsonBody: { month, budgets } };
}

async function statusOf(team: Team, month: string, deps: GatewayDeps): Promise<BudgetStatus> {
  const budget = team.budget!;
  const state = await deps.quotas.sweep(team.id, month, deps.now());
  const spent = state?.spentMicroUsd ?? 0;
  const reserved = state?.reservedMicroUsd ?? 0;
  const alerts: BudgetStatus['alerts'] = {};
  if (state?.marks.alerted) alerts.alertedAt = state.marks.alerted;
  if (state?.marks.exhausted) alerts.exhaustedAt = state.marks.exhausted;
  return {
    team: team.id,
    month,
    monthlyUsd: budget.monthlyUsd,
    enforce: budget.enforce,
    alertAt: budget.alertAt,
    spentUsd: spent / 1_000_000,
    reservedUsd: reserved / 1_000_000,
    sweptUsd: (state?.sweptMicroUsd ?? 0) / 1_000_000,
    remainingUsd: Math.max(0, budgetLimitMicroUsd(budget) - spent - reserved) / 1_000_000,
    alerts,
  };
}
