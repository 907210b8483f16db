import { describe, expect, it } from 'vitest';
import {
  buildStatement,
  escapeHtml,
  monthDays,
  parseStatementQuery,
  statementCsv,
  statementHtml,
} from '../../shared/statements/statement.js';
import { buildUsageReport, type RollupRow } from '../../shared/usage/usage-report.js';

const base = {
  team: 'search',
  day: '2026-02-03',
  requests: 0,
  inputTokens: 0,
  outputTokens: 0,
  cachedInputTokens: 0,
  reasoningTokens: 0,
  estimatedRequests: 0,
  failedRequests: 0,
  costMicroUsd: 0,
  costRemainderPicoUsd: 0,
};
const rows: RollupRow[] = [
  {
    ...base,
    alias: 'chat',
    deployment: 'llama-serverless',
    kind: 'serverless',
    requests: 3,
    inputTokens: 30,
    outputTokens: 60,
    costMicroUsd: 63,
    costRemainderPicoUsd: 900_000,
  },
  {
    ...base,
    alias: 'chat',
    deployment: 'llama-serverless',
    kind: 'serverless',
    day: '2026-02-04',
    requests: 1,
    costMicroUsd: 1,
    costRemainderPicoUsd: 100_000,
  },
  { ...base, alias: 'chat', deployment: 'llama-managed', kind: 'managed', requests: 5, inputTokens: 50, outputTokens: 50 },
  {
    ...base,
    alias: 'chat',
    deployment: 'llama-managed',
    kind: 'managed',
    costMicroUsd: 1_234_567,
    costRemainderPicoUsd: 1,
    managedAllocated: true,
  },
  { ...base, alias: '<b>"x"</b>', deployment: 'llama-managed', kind: 'managed', costMicroUsd: 2, managedAllocated: true },
];

describe('team statements', () => {
  it('month bounds and query', () => {
    expect(monthDays('2028-02')).toEqual({ from: '2028-02-01', to: '2028-02-29' });
    expect(parseStatementQuery(new URLSearchParams(''), '2026-03')).toEqual({ month: '2026-03', format: 'json' });
    expect(() => parseStatementQuery(new URLSearchParams('month=2026-13'), '2026-03')).toThrow(/YYYY-MM/);
    expect(() => parseStatementQuery(new URLSearchParams('format=pdf'), '2026-03')).toThrow(/json, csv or html/);
  });

  it('has a line per alias, deployment and kind whose totals equal /usage for the team and month', () => {
    const statement = buildStatement({
      team: { id: 'search', name: 'Search', budget: { monthlyUsd: 10, enforce: 'hard', alertAt: 0.8 } },
      month: '2026-02',
      rows,
      budgetState: {
        team: 'search',
        month: '2026-02',
        spentMicroUsd: 8_500_000,
        reservedMicroUsd: 0,
        sweptMicroUsd: 0,
        marks: { alerted: '2026-02-10T08:00:00.000Z' },
      },
      daysElapsed: 10,
      safetyPicoUsdPerTextRecord: 380_000_000,
    });
    const usage = buildUsageReport({ from: '2026-02-01', to: '2026-02-28', team: 'search', groupBy: ['team'], format: 'json' }, rows);
    expect(statement.totals).toEqual(usage.totals);
    expect(
      statement.lines.map((line) => [
        line.alias,
        line.deployment,
        line.kind,
        line.requests,
        line.serverlessCostUsd,
        line.managedAllocatedUsd,
        line.costUsd,
      ]),
    ).toEqual([
      ['<b>"x"</b>', 'llama-managed', 'managed', 0, 0, 0.000002, 0.000002],
      ['chat', 'llama-managed', 'managed', 5, 0, 1.234567, 1.234567],
      ['chat', 'llama-serverless', 'serverless', 4, 0.000065, 0, 0.000065],
    ]);
    expect(statement.totals.costUsdExact).toBe('1.234634000001');
    expect(statement.budget).toEqual({
      monthlyUsd: 10,
      enforce: 'hard',
      alertAt: 0.8,
      spentUsd: 8.5,
      burn: 0.85,
      remainingUsd: 1.5,
      dailyUsd: 0.85,
      projectedMonthUsd: 23.8,
    });
    expect(statement.alerts).toEqual({ alertedAt: '2026-02-10T08:00:00.000Z' });

    const csv = statementCsv(statement).trim().split('\r\n');
    expect(csv[0]!.startsWith('alias,deployment,kind,requests,')).toBe(true);
    expect(csv).toHaveLength(5);
    expect(csv[4]!.startsWith('total,,,9,')).toBe(true);
    expect(csv[4]!.endsWith(',1.234634000001,,,,')).toBe(true);
  });

  it('prints a page with every value escaped and nothing to load or run', () => {
    const statement = buildStatement({
      team: { id: 'search', name: '<script>alert("hi")</script>' },
      month: '2026-02',
      rows,
      budgetState: undefined,
      daysElapsed: 28,
      safetyPicoUsdPerTextRecord: 380_000_000,
    });
    const html = statementHtml(statement);
    expect(html).not.toContain('<script');
    expect(html).not.toContain('<b>');
    expect(html).toContain('&lt;script&gt;alert(&quot;hi&quot;)&lt;/script&gt;');
    expect(html).toContain('&lt;b&gt;&quot;x&quot;&lt;/b&gt;');
    expect(html).not.toMatch(/\b(src|href)=/);
    expect(html).toContain('No budget is set for this team.');
    expect(escapeHtml(`'&`)).toBe('&#39;&amp;');
    expect(html).not.toContain('Content safety');
  });

  it('shows what content safety cost the team, per line and in total, apart from the model charges', () => {
    const screened: RollupRow = { ...rows[0]!, day: '2026-02-05', requests: 2, safetyBlockedRequests: 1, safetyTextRecords: 5 };
    const statement = buildStatement({
      team: { id: 'search' },
      month: '2026-02',
      rows: [...rows, screened],
      budgetState: undefined,
      daysElapsed: 28,
      safetyPicoUsdPerTextRecord: 380_000_000,
    });
    const line = statement.lines.find((l) => l.deployment === 'llama-serverless')!;
    expect(line).toMatchObject({ safetyTextRecords: 5, safetyBlockedRequests: 1, safetyCostUsd: 0.0019 });
    expect(statement.lines.find((l) => l.deployment === 'llama-managed')!.safetyCostUsd).toBeUndefined();
    expect(statement.totals).toMatchObject({ safetyTextRecords: 5, safetyCostUsd: 0.0019 });
    expect(statement.totals.costUsdExact).toBe('1.234697900001');
    expect(statementCsv(statement).trim().split('\r\n').at(-1)!.endsWith(',1,5,0.0019,0')).toBe(true);
    expect(statementHtml(statement)).toContain('5 text records screened by Azure AI Content Safety, $0.0019 at its list price');
  });
});
