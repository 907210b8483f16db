import { describe, expect, it } from 'vitest';
import { teamSchema } from '../../shared/catalog/schemas.js';
import { marksDue } from '../../shared/limits/budget-crossings.js';
import { formatResetDuration, minuteWindow, monthOf, msToNextMonth } from '../../shared/limits/quota-windows.js';
import { exceededLimit, rateLimitHeaders } from '../../shared/limits/rate-limit-headers.js';
import {
  costCeilMicroUsd,
  DEFAULT_OUTPUT_RESERVATION_TOKENS,
  reservedTokens,
  worstCaseCostMicroUsd,
} from '../../shared/limits/worst-case.js';

const serverless = (input: number, output: number) => ({ pricing: { inputPerMillionUsd: input, outputPerMillionUsd: output } });
const managed = { pricing: { hourlyUsd: 10, instances: 1 } };

describe('worst-case cost', () => {
  it('reserves the prompt plus the output cap per answer, or the default reservation when none is named', () => {
    expect(reservedTokens({ promptTokens: 10, maxOutputTokens: 100 })).toBe(110);
    expect(reservedTokens({ promptTokens: 10, maxOutputTokens: 100, choices: 3 })).toBe(310);
    expect(reservedTokens({ promptTokens: 10 })).toBe(10 + DEFAULT_OUTPUT_RESERVATION_TOKENS);
    expect(reservedTokens({ promptTokens: 10, maxOutputTokens: 0 })).toBe(10);
  });

  it('prices the reservation on the dearest candidate, managed compute at nothing, rounded up to the micro-dollar', () => {
    // 10 input at $1/M + 100 output at $2/M = 10 + 200 micro-dollars; at $3/$4: 30 + 400.
    expect(worstCaseCostMicroUsd([serverless(1, 2), serverless(3, 4), managed], { promptTokens: 10, maxOutputTokens: 100 })).toBe(430);
    expect(worstCaseCostMicroUsd([managed], { promptTokens: 10, maxOutputTokens: 100 })).toBe(0);
    // 1 token at $0.02/M is 0.02 micro-dollars: a budget counts it as 1, never as 0.
    expect(costCeilMicroUsd(serverless(0.02, 0.02), { inputTokens: 1, outputTokens: 0, cachedInputTokens: 0 })).toBe(1);
    expect(costCeilMicroUsd(serverless(0.71, 0.71), { inputTokens: 1_000_000, outputTokens: 0, cachedInputTokens: 0 })).toBe(710_000);
  });
});

describe('windows', () => {
  const at = Date.parse('2026-11-30T23:59:30.250Z');
  it('names the UTC month and the time to the next one', () => {
    expect(monthOf(at)).toBe('2026-11');
    expect(msToNextMonth(at)).toBe(29_750);
    expect(msToNextMonth(Date.parse('2026-12-31T00:00:00Z'))).toBe(86_400_000);
  });
  it('keys the minute and says when it ends', () => {
    expect(minuteWindow(at)).toEqual({ key: '202611302359', endsAtMs: Date.parse('2026-12-01T00:00:00Z') });
  });
  it("spells a wait as OpenAI's reset headers do", () => {
    expect(formatResetDuration(120)).toBe('120ms');
    expect(formatResetDuration(1000)).toBe('1s');
    expect(formatResetDuration(29_750)).toBe('30s');
    expect(formatResetDuration(360_000)).toBe('6m0s');
    expect(formatResetDuration(3_723_000)).toBe('1h2m3s');
  });
});

describe('rate-limit headers', () => {
  it('gives the limits the team has, what is left of them and when they reset', () => {
    expect(rateLimitHeaders({ rpm: 10, tpm: 1000 }, { requests: 3, tokens: 1200 }, 29_750)).toEqual({
      'x-ratelimit-limit-requests': '10',
      'x-ratelimit-remaining-requests': '7',
      'x-ratelimit-reset-requests': '30s',
      'x-ratelimit-limit-tokens': '1000',
      'x-ratelimit-remaining-tokens': '0',
      'x-ratelimit-reset-tokens': '30s',
    });
    expect(Object.keys(rateLimitHeaders({ rpm: 10 }, { requests: 0, tokens: 0 }, 1000))).toEqual([
      'x-ratelimit-limit-requests',
      'x-ratelimit-remaining-requests',
      'x-ratelimit-reset-requests',
    ]);
  });
  it('names the limit one more request would pass', () => {
    expect(exceededLimit({ rpm: 2, tpm: 100 }, { requests: 2, tokens: 0 }, 1)).toBe('requests');
    expect(exceededLimit({ rpm: 2, tpm: 100 }, { requests: 1, tokens: 90 }, 11)).toBe('tokens');
    expect(exceededLimit({ rpm: 2, tpm: 100 }, { requests: 1, tokens: 90 }, 10)).toBeUndefined();
  });
});

describe('budget marks', () => {
  const budget = { monthlyUsd: 10, enforce: 'soft' as const, alertAt: 0.8 };
  it('are due once reached and not yet recorded', () => {
    expect(marksDue(budget, 7_999_999, new Set())).toEqual([]);
    expect(marksDue(budget, 8_000_000, new Set())).toEqual(['alerted']);
    expect(marksDue(budget, 10_000_000, new Set())).toEqual(['alerted', 'exhausted']);
    expect(marksDue(budget, 12_000_000, new Set(['alerted']))).toEqual(['exhausted']);
    expect(marksDue(budget, 12_000_000, new Set(['alerted', 'exhausted']))).toEqual([]);
    expect(marksDue({ ...budget, monthlyUsd: 0 }, 0, new Set())).toEqual([]);
  });
});

describe('team schema', () => {
  const team = { id: 'search', name: 'Search', aliases: ['chat'] };
  it("accepts PRODUCT.md's budget and limits, alertAt defaulting to 0.8", () => {
    const parsed = teamSchema.parse({
      ...team,
      budget: { monthlyUsd: 500, enforce: 'hard', alertAt: 0.8 },
      limits: { rpm: 600, tpm: 200000 },
    });
    expect(parsed.budget).toEqual({ monthlyUsd: 500, enforce: 'hard', alertAt: 0.8 });
    expect(teamSchema.parse({ ...team, budget: { monthlyUsd: 5, enforce: 'soft' } }).budget?.alertAt).toBe(0.8);
    expect(teamSchema.parse({ ...team, limits: { rpm: 1 } }).limits).toEqual({ rpm: 1 });
  });
  it.each([
    [{ budget: { monthlyUsd: -1, enforce: 'hard' } }, 'monthlyUsd must not be negative'],
    [{ budget: { monthlyUsd: 5, enforce: 'strict' } }, "enforce must be 'hard' or 'soft'"],
    [{ budget: { monthlyUsd: 5, enforce: 'hard', alertAt: 1.5 } }, 'alertAt must be at most 1'],
    [{ budget: { enforce: 'hard' } }, 'monthlyUsd must be a number'],
    [{ limits: { rpm: 0 } }, 'rpm must be at least 1'],
    [{ limits: { tpm: 1.5 } }, 'tpm must be an integer'],
    [{ limits: {} }, 'limits must name rpm, tpm or both'],
  ])('refuses %j', (extra, message) => {
    const parsed = teamSchema.safeParse({ ...team, ...extra });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.message).toContain(message);
  });
});
