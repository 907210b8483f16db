import type { TeamBudget } from '../catalog/schemas.js';
import { errors } from '../errors.js';
import type { BudgetState } from '../limits/quota-store.js';
import { buildUsageReport, type RollupRow, type UsageReport, type UsageRow, usageReportCsv } from '../usage/usage-report.js';

export type StatementFormat = 'json' | 'csv' | 'html';

export interface StatementQuery {
  month: string;
  format: StatementFormat;
}

/** The first and last UTC day of a month (YYYY-MM). */
export function monthDays(month: string): { from: string; to: string } {
  const [year, monthNumber] = month.split('-').map(Number) as [number, number];
  const last = new Date(Date.UTC(year, monthNumber, 0)).getUTCDate();
  return { from: `${month}-01`, to: `${month}-${String(last).padStart(2, '0')}` };
}

/** Reads `month` (YYYY-MM, default the current UTC month) and `format` (json, csv or html). */
export function parseStatementQuery(params: URLSearchParams, currentMonth: string): StatementQuery {
  const month = params.get('month') ?? currentMonth;
  if (!/^\d{4}-(0[1-9]|1[0-2])$/.test(month)) throw errors.invalidRequest(`'month' must be a UTC month as YYYY-MM.`, 'month');
  const format = params.get('format') ?? 'json';
  if (format !== 'json' && format !== 'csv' && format !== 'html')
    throw errors.invalidRequest(`'format' must be json, csv or html.`, 'format');
  return { month, format };
}

export interface StatementBudget {
  monthlyUsd: number;
  enforce: 'hard' | 'soft';
  alertAt: number;
  /** What the budget has counted as spent this month (token charges as admitted and settled). */
  spentUsd: number;
  /** spentUsd ÷ monthlyUsd. */
  burn: number;
  remainingUsd: number;
  /** Spent per day so far, and where that pace ends the month. */
  dailyUsd: number;
  projectedMonthUsd: number;
}

export interface Statement {
  team: string;
  teamName: string;
  month: string;
  from: string;
  to: string;
  /** Per alias, deployment and kind: requests, tokens, serverless token charges, the managed compute share, total. */
  lines: UsageRow[];
  /** Equal, to the micro-dollar, to /usage for the same team and days. */
  totals: UsageReport['totals'];
  budget: StatementBudget | null;
  /** When each budget mark was crossed this month (ISO). */
  alerts: { alertedAt?: string; exhaustedAt?: string };
}

export interface StatementInput {
  team: { id: string; name?: string; budget?: TeamBudget };
  month: string;
  /** The team's rollups and managed-compute allocation rows for the month's days. */
  rows: RollupRow[];
  budgetState: BudgetState | undefined;
  /** Days of the month that have begun (1 to its length): the budget's daily pace is spent ÷ this. */
  daysElapsed: number;
  /** What a Content Safety text record costs: each line's safetyCostUsd, so finance sees what safety costs the team. */
  safetyPicoUsdPerTextRecord: number;
}

/** A team's monthly statement from the same rows, and with the same sums, as /usage. */
export function buildStatement(input: StatementInput): Statement {
  const { from, to } = monthDays(input.month);
  const report = buildUsageReport({ from, to, team: input.team.id, groupBy: ['alias', 'deployment', 'kind'], format: 'json' }, input.rows, {
    safetyPicoUsdPerTextRecord: input.safetyPicoUsdPerTextRecord,
  });
  const alerts: Statement['alerts'] = {};
  if (input.budgetState?.marks.alerted) alerts.alertedAt = input.budgetState.marks.alerted;
  if (input.budgetState?.marks.exhausted) alerts.exhaustedAt = input.budgetState.marks.exhausted;
  let budget: StatementBudget | null = null;
  if (input.team.budget) {
    const limitMicro = Math.round(input.team.budget.monthlyUsd * 1_000_000);
    const spentMicro = input.budgetState?.spentMicroUsd ?? 0;
    const daysInMonth = Number(to.slice(8));
    const dailyMicro = spentMicro / Math.max(1, input.daysElapsed);
    budget = {
      monthlyUsd: input.team.budget.monthlyUsd,
      enforce: input.team.budget.enforce,
      alertAt: input.team.budget.alertAt,
      spentUsd: spentMicro / 1_000_000,
      burn: limitMicro === 0 ? 0 : Math.round((spentMicro / limitMicro) * 10_000) / 10_000,
      remainingUsd: Math.max(0, limitMicro - spentMicro) / 1_000_000,
      dailyUsd: Math.round(dailyMicro) / 1_000_000,
      projectedMonthUsd: Math.round(dailyMicro * daysInMonth) / 1_000_000,
    };
  }
  return {
    team: input.team.id,
    teamName: input.team.name ?? input.team.id,
    month: input.month,
    from,
    to,
    lines: report.rows,
    totals: report.totals,
    budget,
    alerts,
  };
}

/** The statement's lines as /usage CSV (alias, deployment, kind, then the same metrics), and a last `total` line. */
export function statementCsv(statement: Statement): string {
  const total: UsageRow = { alias: 'total', deployment: '', kind: '', ...statement.totals };
  return usageReportCsv({
    from: statement.from,
    to: statement.to,
    groupBy: ['alias', 'deployment', 'kind'],
    rows: [...statement.lines, total],
    totals: statement.totals,
  });
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text safe in HTML element content and quoted attributes. */
export function escapeHtml(value: unknown): string {
  return String(value ?? '').replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);
}

const usd = (value: number) => `$${value.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 6 })}`;
const count = (value: number) => value.toLocaleString('en-US');

/** A printable page: no script, no external asset, every value escaped. */
export function statementHtml(statement: Statement): string {
  const e = escapeHtml;
  const lineRows = statement.lines
    .map(
      (line) =>
        `<tr><td>${e(line.alias)}</td><td>${e(line.deployment)}</td><td>${e(line.kind)}</td><td class="n">${e(count(line.requests))}</td>` +
        `<td class="n">${e(count(line.inputTokens))}</td><td class="n">${e(count(line.outputTokens))}</td>` +
        `<td class="n">${e(usd(line.serverlessCostUsd))}</td><td class="n">${e(usd(line.managedAllocatedUsd))}</td><td class="n">${e(usd(line.costUsd))}</td></tr>`,
    )
    .join('\n');
  const t = statement.totals;
  const budget = statement.budget;
  const budgetSection = budget
    ? `<h2>Budget</h2><table><tbody>
<tr><th>Monthly budget</th><td class="n">${e(usd(budget.monthlyUsd))} (${e(budget.enforce)}, alert at ${e(Math.round(budget.alertAt * 100))}%)</td></tr>
<tr><th>Spent against the budget</th><td class="n">${e(usd(budget.spentUsd))} (${e((budget.burn * 100).toFixed(1))}%)</td></tr>
<tr><th>Remaining</th><td class="n">${e(usd(budget.remainingUsd))}</td></tr>
<tr><th>Daily pace / month projected</th><td class="n">${e(usd(budget.dailyUsd))} / ${e(usd(budget.projectedMonthUsd))}</td></tr>
</tbody></table>`
    : '<h2>Budget</h2><p>No budget is set for this team.</p>';
  const safetySection =
    t.safetyTextRecords === undefined
      ? ''
      : `<h2>Content safety</h2><p>${e(count(t.safetyTextRecords))} text records screened by Azure AI Content Safety, ${e(usd(t.safetyCostUsd ?? 0))} at its list price (billed by Azure apart from the total above); ${e(count(t.safetyBlockedRequests ?? 0))} requests blocked.</p>`;
  const alerts = [
    statement.alerts.alertedAt ? `<li>Alert threshold crossed at ${e(statement.alerts.alertedAt)}</li>` : '',
    statement.alerts.exhaustedAt ? `<li>Budget exhausted at ${e(statement.alerts.exhaustedAt)}</li>` : '',
  ].join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Statement ${e(statement.team)} ${e(statement.month)}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem;color:#111}table{border-collapse:collapse;width:100%;margin-bottom:1.5rem}
th,td{border-bottom:1px solid #ccc;padding:.3rem .5rem;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}
tfoot td{font-weight:bold;border-top:2px solid #111}@media print{body{margin:0}}
</style></head><body>
<h1>Usage statement: ${e(statement.teamName)} (${e(statement.team)})</h1>
<p>${e(statement.month)}, UTC days ${e(statement.from)} to ${e(statement.to)}. Amounts in USD, each rounded once to the micro-dollar; the exact total is ${e(t.costUsdExact)}.</p>
<table><thead><tr><th>Alias</th><th>Deployment</th><th>Kind</th><th>Requests</th><th>Input tokens</th><th>Output tokens</th><th>Serverless charges</th><th>Managed compute share</th><th>Total</th></tr></thead>
<tbody>
${lineRows}
</tbody>
<tfoot><tr><td colspan="3">Total</td><td class="n">${e(count(t.requests))}</td><td class="n">${e(count(t.inputTokens))}</td><td class="n">${e(count(t.outputTokens))}</td><td class="n">${e(usd(t.serverlessCostUsd))}</td><td class="n">${e(usd(t.managedAllocatedUsd))}</td><td class="n">${e(usd(t.costUsd))}</td></tr></tfoot>
</table>
${safetySection}
${budgetSection}
<h2>Alerts</h2>${alerts ? `<ul>${alerts}</ul>` : '<p>No budget alert this month.</p>'}
</body></html>
`;
}
