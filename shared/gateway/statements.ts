import { readAllocationRows } from '../allocation/hour-document.js';
import { errors } from '../errors.js';
import type { GatewayRequest, GatewayResponse } from '../http/types.js';
import { monthOf } from '../limits/quota-windows.js';
import { buildStatement, monthDays, parseStatementQuery, statementCsv, statementHtml } from '../statements/statement.js';
import { authenticate } from './authenticate.js';
import type { GatewayDeps } from './gateway-deps.js';

/** GET /usage/statements/{team}?month&format: finance and admin, or the team's own key. */
export async function teamStatement(request: GatewayRequest, deps: GatewayDeps): Promise<GatewayResponse> {
  const principal = authenticate(request.headers, deps);
  const teamId = request.params.team ?? '';
  if (principal.kind === 'team') {
    if (principal.teamId !== teamId) throw errors.forbidden("A team key can read its own team's statement only.");
  } else if (principal.role === 'ops') {
    throw errors.forbidden('Statements need a finance or admin key, or a team key for its own team.');
  }
  const nowMs = deps.now();
  const query = parseStatementQuery(request.query, monthOf(nowMs));
  const team = deps.catalog.current().teams.get(teamId);
  if (!team) throw errors.notFound(`The team '${teamId}'`);
  const { from, to } = monthDays(query.month);
  const range = { from, to, team: team.id };
  // This instance's settled budget spend is written first (as GET /usage/budgets does), so the statement shows it.
  await deps.quotaLeases.flush();
  const [rollups, managed, budgetState] = await Promise.all([
    deps.readRollups(range),
    readAllocationRows(deps.allocations, range),
    deps.quotas.read(team.id, query.month),
  ]).catch((error: unknown) => {
    throw errors.storeUnavailable(error);
  });
  const today = new Date(nowMs).toISOString().slice(0, 10);
  const daysElapsed = today > to ? Number(to.slice(8)) : today < from ? 1 : Number(today.slice(8));
  const statement = buildStatement({
    team,
    month: query.month,
    rows: [...rollups, ...managed],
    budgetState,
    daysElapsed,
    safetyPicoUsdPerTextRecord: deps.safetyPicoUsdPerTextRecord,
  });
  const filename = `statement-${team.id}-${query.month}`;
  if (query.format === 'csv') {
    return {
      status: 200,
      headers: { 'content-type': 'text/csv; charset=utf-8', 'content-disposition': `attachment; filename="${filename}.csv"` },
      body: statementCsv(statement),
    };
  }
  if (query.format === 'html') {
    return {
      status: 200,
      // A page of the team's own figures: nothing may be loaded or run from it.
      headers: { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'" },
      body: statementHtml(statement),
    };
  }
  return { status: 200, headers: { 'content-type': 'application/json' }, jsonBody: statement };
}
