import { describe, expect, it } from 'vitest';
import { GatewayError, isGatewayError } from '../../shared/errors.js';
import {
  buildUsageReport,
  parseUsageQuery,
  usageReportCsv,
  type RollupRow,
  type UsageQuery,
  type UsageReport,
} from '../../shared/usage/usage-report.js';

const parse = (query: string) => parseUsageQuery(new URLSearchParams(query));

function rejection(query: string): GatewayError {
  try {
    parse(query);
  } catch (error) {
    if (isGatewayError(error)) return error;
    throw error;
  }
  throw new Error(`expected ${query} to be refused`);
}

function expectBadParam(query: string, param: string): void {
  const error = rejection(query);
  expect(error).toBeInstanceOf(GatewayError);
  expect({ status: error.status, code: error.code, type: error.type, param: error.param }).toEqual({
    status: 400,
    code: 'invalid_request_error',
    type: 'invalid_request_error',
    param,
  });
}

describe('parseUsageQuery', () => {
  it('reads every parameter', () => {
    expect(parse('from=2026-01-01&to=2026-01-31&team=search&groupBy=team,alias,deployment,kind,day&format=csv')).toEqual({
      from: '2026-01-01',
      to: '2026-01-31',
      team: 'search',
      groupBy: ['team', 'alias', 'deployment', 'kind', 'day'],
      format: 'csv',
    });
  });

  it('defaults to groupBy=team, format=json and no team', () => {
    expect(parse('from=2026-03-01&to=2026-03-01')).toEqual({
      from: '2026-03-01',
      to: '2026-03-01',
      team: undefined,
      groupBy: ['team'],
      format: 'json',
    });
  });

  it('treats an empty team as no team', () => {
    expect(parse('from=2026-03-01&to=2026-03-02&team=').team).toBeUndefined();
  });

  it('keeps the groupBy order given, trimming spaces and empty items', () => {
    expect(parse('from=2026-03-01&to=2026-03-02&groupBy=day, alias ,,team').groupBy).toEqual(['day', 'alias', 'team']);
  });

  it('collapses duplicate groupBy fields to their first occurrence', () => {
    expect(parse('from=2026-03-01&to=2026-03-02&groupBy=team,day,team,day').groupBy).toEqual(['team', 'day']);
  });

  it('accepts a leap day in a leap year', () => {
    expect(parse('from=2024-02-29&to=2024-03-01').from).toBe('2024-02-29');
  });

  it.each([
    ['from=2026-02-30&to=2026-03-01', 'from'],
    ['from=2025-02-29&to=2025-03-01', 'from'],
    ['from=2026-13-01&to=2026-12-31', 'from'],
    ['from=2026-00-10&to=2026-12-31', 'from'],
    ['from=2026-01-32&to=2026-02-01', 'from'],
    ['from=26-1-1&to=2026-01-02', 'from'],
    ['from=2026-1-01&to=2026-01-02', 'from'],
    ['from=2026-01-01T00:00:00Z&to=2026-01-02', 'from'],
    ['from=%202026-01-01&to=2026-01-02', 'from'],
    ['from=2026/01/01&to=2026-01-02', 'from'],
    ['from=&to=2026-01-02', 'from'],
    ['to=2026-01-02', 'from'],
    ['from=2026-01-01', 'to'],
    ['from=2026-01-01&to=2026-04-31', 'to'],
    ['from=2026-01-01&to=yesterday', 'to'],
    ['from=２０２６-01-01&to=2026-01-02', 'from'],
  ])('refuses a bad or missing date (%s) naming %s', (query, param) => {
    expectBadParam(query, param);
  });

  it('says a date that is not real is not real', () => {
    expect(rejection('from=2026-02-30&to=2026-03-01').message).toBe("'from' is not a real date: 2026-02-30.");
    expect(rejection('from=26-1-1&to=2026-03-01').message).toBe("'from' must be a UTC date as YYYY-MM-DD.");
  });

  it('refuses from after to', () => {
    expectBadParam('from=2026-02-02&to=2026-02-01', 'from');
  });

  it('allows a range of exactly 366 days, both ends included', () => {
    expect(parse('from=2024-01-01&to=2024-12-31').to).toBe('2024-12-31');
    expect(parse('from=2025-01-01&to=2026-01-01').to).toBe('2026-01-01');
  });

  it('refuses a range over 366 days', () => {
    expectBadParam('from=2025-01-01&to=2026-01-02', 'to');
    expectBadParam('from=2020-01-01&to=2026-01-01', 'to');
  });

  it.each(['teams', 'Team', 'user', 'team,month', 'day;team', '__proto__'])('refuses an unknown groupBy field (%s)', (groupBy) => {
    expectBadParam(`from=2026-01-01&to=2026-01-02&groupBy=${encodeURIComponent(groupBy)}`, 'groupBy');
  });

  it('names the unknown groupBy field in the message', () => {
    expect(rejection('from=2026-01-01&to=2026-01-02&groupBy=team,month').message).toBe(
      "Unknown groupBy field 'month'. Use any of: team, alias, deployment, kind, day.",
    );
  });

  it.each(['xml', 'CSV', 'Json', ''])('refuses format=%j', (format) => {
    expectBadParam(`from=2026-01-01&to=2026-01-02&format=${format}`, 'format');
  });

  it('accepts format=csv and format=json', () => {
    expect(parse('from=2026-01-01&to=2026-01-02&format=csv').format).toBe('csv');
    expect(parse('from=2026-01-01&to=2026-01-02&format=json').format).toBe('json');
  });
});

function rollup(team: string, day: string, alias: string, deployment: string, kind: string, n: Partial<RollupRow> = {}): RollupRow {
  return {
    team,
    day,
    alias,
    deployment,
    kind,
    requests: 0,
    inputTokens: 0,
    outputTokens: 0,
    cachedInputTokens: 0,
    reasoningTokens: 0,
    costMicroUsd: 0,
    estimatedRequests: 0,
    failedRequests: 0,
    ...n,
  };
}

const ROLLUPS: RollupRow[] = [
  rollup('search', '2026-01-02', 'chat', 'llama-serverless', 'serverless', {
    requests: 3,
    inputTokens: 300,
    outputTokens: 90,
    cachedInputTokens: 120,
    reasoningTokens: 30,
    costMicroUsd: 100_000,
    estimatedRequests: 1,
  }),
  rollup('ads', '2026-01-01', 'chat', 'llama-managed', 'managed', {
    requests: 10,
    inputTokens: 1_000,
    outputTokens: 500,
    cachedInputTokens: 400,
    costMicroUsd: 0,
    failedRequests: 2,
  }),
  rollup('search', '2026-01-01', 'chat', 'llama-managed', 'managed', { requests: 5, inputTokens: 500, outputTokens: 250, costMicroUsd: 0 }),
  rollup('search', '2026-01-01', 'embed', 'ada', 'serverless', {
    requests: 7,
    inputTokens: 7_000,
    outputTokens: 0,
    costMicroUsd: 200_000,
    failedRequests: 1,
  }),
  rollup('ads', '2026-01-02', 'chat', 'llama-serverless', 'serverless', {
    requests: 1,
    inputTokens: 11,
    outputTokens: 13,
    cachedInputTokens: 5,
    reasoningTokens: 7,
    costMicroUsd: 1,
    estimatedRequests: 1,
  }),
];

const query = (groupBy: UsageQuery['groupBy']): UsageQuery => ({ from: '2026-01-01', to: '2026-01-31', groupBy, format: 'json' });

const metricNames = [
  'requests',
  'inputTokens',
  'outputTokens',
  'cachedInputTokens',
  'reasoningTokens',
  'costMicroUsd',
  'estimatedRequests',
  'failedRequests',
] as const;

describe('buildUsageReport', () => {
  it('groups by team, sorted, with exact integer sums', () => {
    const report = buildUsageReport(query(['team']), ROLLUPS);
    expect(report).toEqual({
      from: '2026-01-01',
      to: '2026-01-31',
      groupBy: ['team'],
      rows: [
        {
          team: 'ads',
          requests: 11,
          inputTokens: 1_011,
          outputTokens: 513,
          cachedInputTokens: 405,
          reasoningTokens: 7,
          costMicroUsd: 1,
          costUsd: 0.000001,
          costUsdExact: '0.000001000000',
          serverlessCostUsd: 0.000001,
          managedAllocatedUsd: 0,
          estimatedRequests: 1,
          failedRequests: 2,
        },
        {
          team: 'search',
          requests: 15,
          inputTokens: 7_800,
          outputTokens: 340,
          cachedInputTokens: 120,
          reasoningTokens: 30,
          costMicroUsd: 300_000,
          costUsd: 0.3,
          costUsdExact: '0.300000000000',
          serverlessCostUsd: 0.3,
          managedAllocatedUsd: 0,
          estimatedRequests: 1,
          failedRequests: 1,
        },
      ],
      totals: {
        requests: 26,
        inputTokens: 8_811,
        outputTokens: 853,
        cachedInputTokens: 525,
        reasoningTokens: 37,
        costMicroUsd: 300_001,
        costUsd: 0.300001,
        costUsdExact: '0.300001000000',
        serverlessCostUsd: 0.300001,
        managedAllocatedUsd: 0,
        estimatedRequests: 2,
        failedRequests: 3,
      },
    });
  });

  it('gives costUsd from summed micro-dollars (0.3, not 0.1 + 0.2)', () => {
    const report = buildUsageReport(query(['team']), [
      rollup('t', '2026-01-01', 'chat', 'd', 'serverless', { costMicroUsd: 100_000 }),
      rollup('t', '2026-01-02', 'chat', 'd', 'serverless', { costMicroUsd: 200_000 }),
    ]);
    expect(report.rows[0]!.costUsd).toBe(0.3);
    expect(report.totals.costUsd).toBe(0.3);
  });

  it('groups by several fields, sorted field by field', () => {
    const report = buildUsageReport(query(['day', 'kind']), ROLLUPS);
    expect(report.rows.map((r) => [r.day, r.kind, r.requests, r.inputTokens, r.costMicroUsd])).toEqual([
      ['2026-01-01', 'managed', 15, 1_500, 0],
      ['2026-01-01', 'serverless', 7, 7_000, 200_000],
      ['2026-01-02', 'serverless', 4, 311, 100_001],
    ]);
    expect(Object.keys(report.rows[0]!).sort()).toEqual([
      'cachedInputTokens',
      'costMicroUsd',
      'costUsd',
      'costUsdExact',
      'day',
      'estimatedRequests',
      'failedRequests',
      'inputTokens',
      'kind',
      'managedAllocatedUsd',
      'outputTokens',
      'reasoningTokens',
      'requests',
      'serverlessCostUsd',
    ]);
  });

  it('groups by every field, one row per rollup', () => {
    const report = buildUsageReport(query(['team', 'day', 'alias', 'deployment', 'kind']), ROLLUPS);
    expect(report.rows).toHaveLength(5);
    expect(report.rows.map((r) => `${r.team}|${r.day}|${r.alias}`)).toEqual([
      'ads|2026-01-01|chat',
      'ads|2026-01-02|chat',
      'search|2026-01-01|chat',
      'search|2026-01-01|embed',
      'search|2026-01-02|chat',
    ]);
  });

  it('gives one row of totals when grouping by nothing', () => {
    const report = buildUsageReport(query([]), ROLLUPS);
    expect(report.rows).toEqual([report.totals]);
  });

  it('gives no rows and zero totals for no rollups', () => {
    expect(buildUsageReport(query(['team']), [])).toEqual({
      from: '2026-01-01',
      to: '2026-01-31',
      groupBy: ['team'],
      rows: [],
      totals: {
        requests: 0,
        inputTokens: 0,
        outputTokens: 0,
        cachedInputTokens: 0,
        reasoningTokens: 0,
        costUsd: 0,
        costMicroUsd: 0,
        costUsdExact: '0.000000000000',
        serverlessCostUsd: 0,
        managedAllocatedUsd: 0,
        estimatedRequests: 0,
        failedRequests: 0,
      },
    });
  });

  it('sums a rollup written before cached and reasoning tokens were counted as 0 of each', () => {
    const {
      cachedInputTokens: _cached,
      reasoningTokens: _reasoning,
      ...old
    } = rollup('t', '2026-01-01', 'chat', 'd', 'serverless', {
      requests: 2,
      inputTokens: 20,
      outputTokens: 6,
    });
    const report = buildUsageReport(query(['alias']), [
      old as RollupRow,
      rollup('t', '2026-01-02', 'chat', 'd', 'serverless', {
        requests: 1,
        inputTokens: 10,
        outputTokens: 3,
        cachedInputTokens: 4,
        reasoningTokens: 2,
      }),
    ]);
    expect(report.rows).toEqual([
      expect.objectContaining({ alias: 'chat', requests: 3, inputTokens: 30, cachedInputTokens: 4, reasoningTokens: 2 }),
    ]);
    expect(usageReportCsv(report).split('\r\n')[1]).toBe('chat,3,30,9,4,2,0,0,0,0,0,0.000000000000,,,,');
  });

  it('keeps groups apart even when joined values would collide', () => {
    const report = buildUsageReport(query(['team', 'alias']), [
      rollup('a', 'd', 'bc', 'x', 'serverless', { requests: 1 }),
      rollup('ab', 'd', 'c', 'x', 'serverless', { requests: 2 }),
    ]);
    expect(report.rows.map((r) => [r.team, r.alias, r.requests])).toEqual([
      ['a', 'bc', 1],
      ['ab', 'c', 2],
    ]);
  });

  it('has totals equal to the sum of the rows for every grouping, on many seeded rollups', () => {
    let seed = 42;
    const next = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    const rollups: RollupRow[] = [];
    for (let i = 0; i < 2_000; i++) {
      rollups.push(
        rollup(
          `team-${next(7)}`,
          `2026-01-${String(1 + next(28)).padStart(2, '0')}`,
          ['chat', 'embed'][next(2)]!,
          `dep-${next(5)}`,
          ['managed', 'serverless'][next(2)]!,
          {
            requests: 1 + next(50),
            inputTokens: next(1_000_000),
            outputTokens: next(100_000),
            cachedInputTokens: next(1_000),
            reasoningTokens: next(1_000),
            costMicroUsd: next(10_000_000),
            estimatedRequests: next(3),
            failedRequests: next(2),
          },
        ),
      );
    }
    const expectedTotals = Object.fromEntries(metricNames.map((m) => [m, rollups.reduce((s, r) => s + r[m], 0)]));
    for (const groupBy of [['team'], ['day'], ['alias', 'kind'], ['team', 'day', 'deployment']] as UsageQuery['groupBy'][]) {
      const report = buildUsageReport(query(groupBy), rollups);
      for (const m of metricNames) {
        expect(report.totals[m]).toBe(expectedTotals[m]);
        expect(report.rows.reduce((s, r) => s + r[m], 0)).toBe(expectedTotals[m]);
      }
      expect(report.totals.costUsd).toBe(expectedTotals.costMicroUsd! / 1_000_000);
      for (const row of report.rows) {
        expect(Number.isInteger(row.costMicroUsd)).toBe(true);
        expect(row.costUsd).toBe(row.costMicroUsd / 1_000_000);
      }
      const keys = report.rows.map((r) => groupBy.map((f) => r[f]).join('|'));
      expect(new Set(keys).size).toBe(keys.length);
    }
  });
});

function report(groupBy: UsageQuery['groupBy'], rows: Array<Record<string, unknown>>): UsageReport {
  return {
    from: '2026-01-01',
    to: '2026-01-31',
    groupBy,
    rows: rows.map((r) => ({
      requests: 1,
      inputTokens: 2,
      outputTokens: 3,
      cachedInputTokens: 1,
      reasoningTokens: 2,
      costUsd: 0.5,
      costMicroUsd: 500_000,
      costUsdExact: '0.500000000000',
      serverlessCostUsd: 0.5,
      managedAllocatedUsd: 0,
      estimatedRequests: 0,
      failedRequests: 0,
      ...r,
    })),
    totals: {
      requests: 0,
      inputTokens: 0,
      outputTokens: 0,
      cachedInputTokens: 0,
      reasoningTokens: 0,
      costUsd: 0,
      costMicroUsd: 0,
      costUsdExact: '0.000000000000',
      serverlessCostUsd: 0,
      managedAllocatedUsd: 0,
      estimatedRequests: 0,
      failedRequests: 0,
    },
  };
}

describe('usageReportCsv', () => {
  it('writes the header and rows with CRLF line ends', () => {
    const csv = usageReportCsv(buildUsageReport(query(['team', 'day']), ROLLUPS.slice(0, 2)));
    expect(csv).toBe(
      'team,day,requests,inputTokens,outputTokens,cachedInputTokens,reasoningTokens,costUsd,estimatedRequests,failedRequests,serverlessCostUsd,managedAllocatedUsd,costUsdExact,safetyBlockedRequests,safetyTextRecords,safetyCostUsd,unbilledCostUsd\r\n' +
        'ads,2026-01-01,10,1000,500,400,0,0,0,2,0,0,0.000000000000,,,,\r\n' +
        'search,2026-01-02,3,300,90,120,30,0.1,1,0,0.1,0,0.100000000000,,,,\r\n',
    );
  });

  it('writes only the header for an empty report', () => {
    expect(usageReportCsv(report(['alias'], []))).toBe(
      'alias,requests,inputTokens,outputTokens,cachedInputTokens,reasoningTokens,costUsd,estimatedRequests,failedRequests,serverlessCostUsd,managedAllocatedUsd,costUsdExact,safetyBlockedRequests,safetyTextRecords,safetyCostUsd,unbilledCostUsd\r\n',
    );
  });

  it('writes small costs without exponent notation loss', () => {
    const csv = usageReportCsv(report([], [{ costUsd: 0.000001 }]));
    expect(csv.split('\r\n')[1]).toBe('1,2,3,1,2,0.000001,0,0,0.5,0,0.500000000000,,,,');
  });

  it('quotes values with commas, quotes and line breaks', () => {
    const csv = usageReportCsv(
      report(
        ['team', 'alias'],
        [
          { team: 'a,b', alias: 'say "hi"' },
          { team: 'line\nbreak', alias: 'cr\rhere' },
        ],
      ),
    );
    expect(csv.split('\r\n').slice(1, 3)).toEqual([
      '"a,b","say ""hi""",1,2,3,1,2,0.5,0,0,0.5,0,0.500000000000,,,,',
      '"line\nbreak","cr\rhere",1,2,3,1,2,0.5,0,0,0.5,0,0.500000000000,,,,',
    ]);
  });

  it.each([
    ['=HYPERLINK("http://x")', `"'=HYPERLINK(""http://x"")"`],
    ['+1+1', "'+1+1"],
    ['-2+3', "'-2+3"],
    ['@SUM(A1)', "'@SUM(A1)"],
    ['\tTAB', "'\tTAB"],
    ['=1,2', `"'=1,2"`],
  ])('guards against formula injection (%j)', (value, cell) => {
    const csv = usageReportCsv(report(['deployment'], [{ deployment: value }]));
    expect(csv).toBe(
      `deployment,requests,inputTokens,outputTokens,cachedInputTokens,reasoningTokens,costUsd,estimatedRequests,failedRequests,serverlessCostUsd,managedAllocatedUsd,costUsdExact,safetyBlockedRequests,safetyTextRecords,safetyCostUsd,unbilledCostUsd\r\n${cell},1,2,3,1,2,0.5,0,0,0.5,0,0.500000000000,,,,\r\n`,
    );
  });

  it('does not alter safe values or numbers', () => {
    const csv = usageReportCsv(report(['deployment'], [{ deployment: 'gpt-4o=mini+x', requests: 0 }]));
    expect(csv.split('\r\n')[1]).toBe('gpt-4o=mini+x,0,2,3,1,2,0.5,0,0,0.5,0,0.500000000000,,,,');
  });
});

describe('safety cost', () => {
  const screened = (team: string, records: number, blocked: number): RollupRow => ({
    team,
    day: '2026-01-05',
    alias: 'chat',
    deployment: 'llama',
    kind: 'serverless',
    requests: 2,
    inputTokens: 10,
    outputTokens: 10,
    cachedInputTokens: 0,
    reasoningTokens: 0,
    costMicroUsd: 7,
    costRemainderPicoUsd: 0,
    estimatedRequests: 0,
    failedRequests: 0,
    safetyBlockedRequests: blocked,
    safetyTextRecords: records,
  });
  // $0.38 per 1,000 records: 380,000,000 pico-dollars (380 micro-dollars) a record.
  const options = { safetyPicoUsdPerTextRecord: 380_000_000 };

  it("prices each team's text records apart from the model cost, exactly, and sums them in the totals", () => {
    const unscreened = { ...screened('ads', 0, 0), safetyBlockedRequests: undefined, safetyTextRecords: undefined };
    const report = buildUsageReport(
      query(['team']),
      [screened('search', 3, 1), screened('search', 1000, 0), screened('web', 7, 0), unscreened],
      options,
    );
    const byTeam = Object.fromEntries(report.rows.map((row) => [row.team, row]));
    expect(byTeam.search).toMatchObject({ safetyTextRecords: 1003, safetyBlockedRequests: 1, safetyCostUsd: 0.38114, costUsd: 0.000014 });
    expect(byTeam.web).toMatchObject({ safetyTextRecords: 7, safetyCostUsd: 0.00266 });
    expect(byTeam.ads!.safetyCostUsd).toBeUndefined();
    expect(report.totals).toMatchObject({ safetyTextRecords: 1010, safetyCostUsd: 0.3838, costUsd: 0.000028 });
  });

  it('keeps sub-micro-dollar prices exact until the one rounding', () => {
    // $0.000001 per 1,000 records is 1,000 pico-dollars a record: a million records are exactly one dollar.
    const report = buildUsageReport(query(['team']), [screened('search', 999_999, 0), screened('search', 1, 0)], {
      safetyPicoUsdPerTextRecord: 1_000,
    });
    expect(report.rows[0]!.safetyCostUsd).toBe(0.001);
  });

  it('sums stopped calls not billed (safety.billAborted false) exactly, apart from costUsd', () => {
    const unbilled = (micro: number, pico: number) => ({
      ...screened('search', 1, 1),
      unbilledCostMicroUsd: micro,
      unbilledCostRemainderPicoUsd: pico,
    });
    const report = buildUsageReport(query(['team']), [unbilled(1, 600_000), unbilled(2, 400_000), screened('web', 1, 0)], options);
    expect(report.rows.map((row) => [row.team, row.unbilledCostUsd, row.costUsd])).toEqual([
      ['search', 0.000004, 0.000014],
      ['web', 0, 0.000007],
    ]);
    expect(report.totals.unbilledCostUsd).toBe(0.000004);
  });

  it('appends the safety columns to the CSV, empty where nothing was screened', () => {
    const unscreened = { ...screened('ads', 0, 0), safetyBlockedRequests: undefined, safetyTextRecords: undefined };
    const csv = usageReportCsv(buildUsageReport(query(['team']), [screened('search', 3, 1), unscreened], options)).split('\r\n');
    expect(csv[0]!.endsWith(',costUsdExact,safetyBlockedRequests,safetyTextRecords,safetyCostUsd,unbilledCostUsd')).toBe(true);
    expect(csv[1]!.endsWith(',0.000007000000,,,,')).toBe(true);
    expect(csv[2]!.endsWith(',0.000007000000,1,3,0.00114,0')).toBe(true);
  });
});
