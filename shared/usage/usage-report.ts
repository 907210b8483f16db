import { errors } from '../errors.js';
import type { RollupCounters } from './ledger.js';
import { costPicoUsd, picoToUsd, picoToUsdExact, roundToMicroUsd } from './pricing.js';

export const groupByFields = ['team', 'alias', 'deployment', 'kind', 'day'] as const;
export type GroupByField = (typeof groupByFields)[number];

export interface UsageQuery {
  from: string;
  to: string;
  team?: string;
  groupBy: GroupByField[];
  format: 'json' | 'csv';
}

/** A stored rollup; ones written before exact cost carry costMicroUsd only, read as exact micro-dollars. */
export type RollupRow = Omit<RollupCounters, 'costRemainderPicoUsd'> & { costRemainderPicoUsd?: number } & Record<GroupByField, string> & {
    /** A row of managed compute allocated by the hour (shared/allocation), not of token charges. */
    managedAllocated?: boolean;
  };

export interface UsageRow extends Partial<Record<GroupByField, string>> {
  requests: number;
  inputTokens: number;
  outputTokens: number;
  cachedInputTokens: number;
  reasoningTokens: number;
  /** serverlessCostUsd + managedAllocatedUsd, rounded once from the exact sum, half to even, to the micro-dollar. */
  costUsd: number;
  /** costUsd in whole micro-dollars (the same single rounding). */
  costMicroUsd: number;
  /** The exact cost as a decimal string with 12 decimals: rows' exact costs add up to the totals' exactly. */
  costUsdExact: string;
  /** Token charges of serverless deployments, rounded like costUsd. */
  serverlessCostUsd: number;
  /** The share of managed compute allocated to this group by the hour (team `unallocated` holds idle capacity), rounded like costUsd. */
  managedAllocatedUsd: number;
  estimatedRequests: number;
  failedRequests: number;
  /** Requests content safety blocked; only on groups with screened requests (JSON only). */
  safetyBlockedRequests?: number;
  /** Content Safety text records billed for screening (Azure bills per 1,000); like safetyBlockedRequests. */
  safetyTextRecords?: number;
  /** safetyTextRecords at SWITCHYARD_SAFETY_USD_PER_1000_RECORDS, rounded like costUsd; apart from costUsd (Azure bills it apart). */
  safetyCostUsd?: number;
  /** What stopped calls cost that the team is not billed for (safety.billAborted false), rounded like costUsd; like safetyCostUsd. */
  unbilledCostUsd?: number;
}

export interface UsageReportOptions {
  /** What Azure bills per Content Safety text record, in whole pico-dollars (config contentSafety.picoUsdPerTextRecord). */
  safetyPicoUsdPerTextRecord: number;
}

export interface UsageReport {
  from: string;
  to: string;
  groupBy: GroupByField[];
  rows: UsageRow[];
  totals: Omit<UsageRow, GroupByField>;
}

const MAX_RANGE_DAYS = 366;

/** A UTC day as YYYY-MM-DD from a query parameter; 400 naming the parameter otherwise. */
export function parseDay(value: string | null, name: string): string {
  if (value === null || !/^\d{4}-\d{2}-\d{2}$/.test(value)) {
    throw errors.invalidRequest(`'${name}' must be a UTC date as YYYY-MM-DD.`, name);
  }
  const date = new Date(`${value}T00:00:00Z`);
  if (Number.isNaN(date.getTime()) || date.toISOString().slice(0, 10) !== value) {
    throw errors.invalidRequest(`'${name}' is not a real date: ${value}.`, name);
  }
  return value;
}

/** Reads and checks /usage query parameters. */
export function parseUsageQuery(params: URLSearchParams): UsageQuery {
  const from = parseDay(params.get('from'), 'from');
  const to = parseDay(params.get('to'), 'to');
  if (from > to) throw errors.invalidRequest(`'from' (${from}) is after 'to' (${to}).`, 'from');
  const days = (Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / 86_400_000 + 1;
  if (days > MAX_RANGE_DAYS) throw errors.invalidRequest(`A usage query spans at most ${MAX_RANGE_DAYS} days.`, 'to');
  const groupByParam = params.get('groupBy') ?? 'team';
  const groupBy: GroupByField[] = [];
  for (const field of groupByParam
    .split(',')
    .map((f) => f.trim())
    .filter((f) => f !== '')) {
    if (!(groupByFields as readonly string[]).includes(field)) {
      throw errors.invalidRequest(`Unknown groupBy field '${field}'. Use any of: ${groupByFields.join(', ')}.`, 'groupBy');
    }
    if (!groupBy.includes(field as GroupByField)) groupBy.push(field as GroupByField);
  }
  const format = params.get('format') ?? 'json';
  if (format !== 'json' && format !== 'csv') throw errors.invalidRequest(`'format' must be json or csv.`, 'format');
  const team = params.get('team') ?? undefined;
  return { from, to, team: team === '' ? undefined : team, groupBy, format };
}

function emptyTotals(): Omit<UsageRow, GroupByField> {
  return {
    requests: 0,
    inputTokens: 0,
    outputTokens: 0,
    cachedInputTokens: 0,
    reasoningTokens: 0,
    costUsd: 0,
    costMicroUsd: 0,
    costUsdExact: picoToUsdExact(0n),
    serverlessCostUsd: 0,
    managedAllocatedUsd: 0,
    estimatedRequests: 0,
    failedRequests: 0,
  };
}

/** Exact pico-dollar sums beside a row; its displayed money figures are derived from them once. */
interface ExactCost {
  totalPico: bigint;
  serverlessPico: bigint;
  managedPico: bigint;
  unbilledPico: bigint;
}

const SHOWN_SAFETY_COUNTS = ['safetyBlockedRequests', 'safetyTextRecords'] as const;

function accumulate(target: Omit<UsageRow, GroupByField>, exact: ExactCost, row: RollupRow, options: UsageReportOptions): void {
  target.requests += row.requests ?? 0;
  target.inputTokens += row.inputTokens ?? 0;
  target.outputTokens += row.outputTokens ?? 0;
  // Rollups written before these counters existed lack them.
  target.cachedInputTokens += row.cachedInputTokens ?? 0;
  target.reasoningTokens += row.reasoningTokens ?? 0;
  target.estimatedRequests += row.estimatedRequests ?? 0;
  target.failedRequests += row.failedRequests ?? 0;
  for (const name of SHOWN_SAFETY_COUNTS) {
    const value = row[name];
    if (value !== undefined) target[name] = (target[name] ?? 0) + value;
  }
  exact.unbilledPico += costPicoUsd({ costMicroUsd: row.unbilledCostMicroUsd, costRemainderPicoUsd: row.unbilledCostRemainderPicoUsd });
  if (target.safetyTextRecords !== undefined) {
    target.safetyCostUsd = picoToUsd(BigInt(target.safetyTextRecords) * BigInt(options.safetyPicoUsdPerTextRecord));
    target.unbilledCostUsd = picoToUsd(exact.unbilledPico);
  }
  const pico = costPicoUsd(row);
  exact.totalPico += pico;
  if (row.kind === 'serverless') exact.serverlessPico += pico;
  if (row.managedAllocated) exact.managedPico += pico;
  target.costMicroUsd = Number(roundToMicroUsd(exact.totalPico));
  target.costUsd = picoToUsd(exact.totalPico);
  target.costUsdExact = picoToUsdExact(exact.totalPico);
  target.serverlessCostUsd = picoToUsd(exact.serverlessPico);
  target.managedAllocatedUsd = picoToUsd(exact.managedPico);
}

/**
 * Sums rollups into the rows a groupBy asks for; money is summed exactly (BigInt pico-dollars) and rounded once per
 * figure. Safety's cost is its text records at the price configured now (Azure's list price is per record, flat).
 */
export function buildUsageReport(
  query: UsageQuery,
  rollups: RollupRow[],
  options: UsageReportOptions = { safetyPicoUsdPerTextRecord: 0 },
): UsageReport {
  const groups = new Map<string, { row: UsageRow; exact: ExactCost }>();
  const totals = emptyTotals();
  const totalsExact: ExactCost = { totalPico: 0n, serverlessPico: 0n, managedPico: 0n, unbilledPico: 0n };
  for (const rollup of rollups) {
    const key = query.groupBy.map((f) => rollup[f]).join('\u0000');
    let group = groups.get(key);
    if (!group) {
      group = {
        row: { ...Object.fromEntries(query.groupBy.map((f) => [f, rollup[f]])), ...emptyTotals() },
        exact: { totalPico: 0n, serverlessPico: 0n, managedPico: 0n, unbilledPico: 0n },
      };
      groups.set(key, group);
    }
    accumulate(group.row, group.exact, rollup, options);
    accumulate(totals, totalsExact, rollup, options);
  }
  const rows = [...groups.values()].map((group) => group.row);
  rows.sort((a, b) => {
    for (const f of query.groupBy) {
      const order = String(a[f]).localeCompare(String(b[f]));
      if (order !== 0) return order;
    }
    return 0;
  });
  return { from: query.from, to: query.to, groupBy: query.groupBy, rows, totals };
}

const metricColumns = [
  'requests',
  'inputTokens',
  'outputTokens',
  'cachedInputTokens',
  'reasoningTokens',
  'costUsd',
  'estimatedRequests',
  'failedRequests',
  // Added after the first eight, so a reader of the earlier columns by position keeps working.
  'serverlessCostUsd',
  'managedAllocatedUsd',
  'costUsdExact',
  // Empty on a row without screened requests.
  'safetyBlockedRequests',
  'safetyTextRecords',
  'safetyCostUsd',
  'unbilledCostUsd',
] as const;

/** The report as CSV: the groupBy columns, then the metrics, with a header row. */
export function usageReportCsv(report: UsageReport): string {
  const header = [...report.groupBy, ...metricColumns];
  const lines = [header.join(',')];
  for (const row of report.rows) {
    lines.push(header.map((column) => csvCell((row as unknown as Record<string, unknown>)[column])).join(','));
  }
  return `${lines.join('\r\n')}\r\n`;
}

function csvCell(value: unknown): string {
  let text = typeof value === 'number' ? String(value) : String(value ?? '');
  // A leading formula character would run as a formula when the file is opened in a spreadsheet.
  if (typeof value === 'string' && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}
