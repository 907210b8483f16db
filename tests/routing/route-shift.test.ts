import { describe, expect, it } from 'vitest';
import { deploymentSchema, routeSchema, teamSchema, type Deployment, type Route } from '../../shared/catalog/schemas.js';
import { nextStepAtMs, parseDurationMs, shiftedOrder, shiftProgress, shiftShare } from '../../shared/routing/route-shift.js';
import { selectTargets } from '../../shared/routing/select-targets.js';
import { seededRandom } from '../../shared/seeded-random.js';

const START = Date.parse('2026-01-01T00:00:00.000Z');
const MINUTE = 60_000;

function shifted(shift: Record<string, unknown>, extra: Record<string, unknown> = {}): Route {
  return routeSchema.parse({
    alias: 'chat',
    targets: [{ deployment: 'old' }, { deployment: 'spare' }, { deployment: 'new' }],
    shift: { to: 'new', startedAt: new Date(START).toISOString(), overMs: 10 * MINUTE, steps: 10, ...shift },
    ...extra,
  });
}

function deployment(id: string): Deployment {
  return deploymentSchema.parse({
    id,
    kind: 'serverless',
    protocol: 'openai',
    endpoint: `https://${id}.openai.azure.com`,
    upstreamModel: 'gpt-4o-mini',
    auth: { type: 'key', secret: 'UPSTREAM_KEY' },
    pricing: { inputPerMillionUsd: 0.15, outputPerMillionUsd: 0.6 },
  });
}

describe('parseDurationMs', () => {
  it('reads seconds, minutes, hours and days', () => {
    expect(parseDurationMs('30s')).toBe(30_000);
    expect(parseDurationMs('10m')).toBe(600_000);
    expect(parseDurationMs('2h')).toBe(7_200_000);
    expect(parseDurationMs('7d')).toBe(604_800_000);
  });
  it('refuses anything else', () => {
    for (const text of ['', '10', 'm', '0s', '1.5h', '-1m', '10 m', '10M', '1w', '01m']) expect(parseDurationMs(text)).toBeUndefined();
  });
});

describe('shiftShare', () => {
  const route = shifted({});
  it('grows in whole steps: floor(steps × elapsed / over) / steps', () => {
    expect(shiftShare(route.shift!, START - MINUTE)).toBe(0);
    expect(shiftShare(route.shift!, START)).toBe(0);
    expect(shiftShare(route.shift!, START + MINUTE - 1)).toBe(0);
    expect(shiftShare(route.shift!, START + MINUTE)).toBe(0.1);
    expect(shiftShare(route.shift!, START + 3.5 * MINUTE)).toBe(0.3);
    expect(shiftShare(route.shift!, START + 10 * MINUTE - 1)).toBe(0.9);
    expect(shiftShare(route.shift!, START + 10 * MINUTE)).toBe(1);
    expect(shiftShare(route.shift!, START + 1000 * MINUTE)).toBe(1);
  });

  it('names the next step, and none once complete', () => {
    expect(nextStepAtMs(route.shift!, START + 3.5 * MINUTE)).toBe(START + 4 * MINUTE);
    expect(nextStepAtMs(route.shift!, START + 4 * MINUTE)).toBe(START + 5 * MINUTE);
    expect(shiftProgress(route.shift!, START + 10 * MINUTE)).toEqual({ share: 1, nextStepAt: null });
    expect(shiftProgress(route.shift!, START + 0.5 * MINUTE)).toEqual({
      share: 0,
      nextStepAt: new Date(START + MINUTE).toISOString(),
    });
  });

  it('a step boundary that is not a whole ms is reached, never skipped', () => {
    const odd = shifted({ overMs: 10_001, steps: 3 }).shift!;
    const next = nextStepAtMs(odd, START)!;
    expect(shiftShare(odd, next - 1)).toBe(0);
    expect(shiftShare(odd, next)).toBeCloseTo(1 / 3);
  });

  it('stays at the share reached when it was aborted', () => {
    const aborted = shifted({ abortedAt: new Date(START + 3.5 * MINUTE).toISOString() }).shift!;
    expect(shiftShare(aborted, START + 2 * MINUTE)).toBe(0.2);
    expect(shiftShare(aborted, START + 9 * MINUTE)).toBe(0.3);
    expect(shiftShare(aborted, START + 100 * MINUTE)).toBe(0.3);
    expect(shiftProgress(aborted, START + 9 * MINUTE)).toEqual({ share: 0.3, nextStepAt: null });
  });
});

describe('shiftedOrder', () => {
  const order = ['old', 'spare', 'new'];

  it('puts `to` first for a draw below the share, else last behind the strategy order', () => {
    const route = shifted({});
    const at = START + 3 * MINUTE;
    expect(shiftedOrder(route, order, { nowMs: at, random: () => 0.29 }).order).toEqual(['new', 'old', 'spare']);
    expect(shiftedOrder(route, order, { nowMs: at, random: () => 0.3 }).order).toEqual(['old', 'spare', 'new']);
    expect(shiftedOrder(route, order, { nowMs: at, random: () => 0.29 }).note).toBe(
      'first by shift draw (shift to new: 30% of requests at step 3 of 10)',
    );
  });

  it('at share 1 every request puts `to` first and keeps the others as fallbacks', () => {
    const route = shifted({});
    for (const point of [0, 0.5, 0.999999])
      expect(shiftedOrder(route, order, { nowMs: START + 10 * MINUTE, random: () => point }).order).toEqual(['new', 'old', 'spare']);
  });

  it('before the first step no request puts `to` first', () => {
    const route = shifted({});
    expect(shiftedOrder(route, order, { nowMs: START, random: () => 0 }).order).toEqual(['old', 'spare', 'new']);
  });

  it('leaves a route without a shift as its strategy ordered it', () => {
    const route = routeSchema.parse({ alias: 'chat', targets: [{ deployment: 'old' }] });
    expect(shiftedOrder(route, ['old'], { nowMs: START, random: () => 0 })).toEqual({ order: ['old'] });
  });

  it('is sticky per user: a user who moved stays moved as the share grows, and random is not consulted', () => {
    const route = shifted({});
    const users = Array.from({ length: 400 }, (_, i) => `user-${i}`);
    const noRandom = () => {
      throw new Error('random consulted');
    };
    const movedAt = (step: number) =>
      new Set(
        users.filter((user) => shiftedOrder(route, order, { user, nowMs: START + step * MINUTE, random: noRandom }).order[0] === 'new'),
      );
    let previous = movedAt(0);
    expect(previous.size).toBe(0);
    for (let step = 1; step <= 10; step++) {
      const moved = movedAt(step);
      for (const user of previous) expect(moved.has(user)).toBe(true);
      previous = moved;
    }
    expect(previous.size).toBe(users.length);
    // About 30% of users at step 3 (5 standard errors of a binomial share of 400).
    expect(Math.abs(movedAt(3).size / users.length - 0.3)).toBeLessThan(5 * Math.sqrt((0.3 * 0.7) / users.length));
  });

  it('the share of first picks converges to the share over many draws', () => {
    const route = shifted({});
    const random = seededRandom(7);
    const draws = 4000;
    let first = 0;
    for (let i = 0; i < draws; i++) if (shiftedOrder(route, order, { nowMs: START + 4 * MINUTE, random }).order[0] === 'new') first++;
    expect(Math.abs(first / draws - 0.4)).toBeLessThan(5 * Math.sqrt((0.4 * 0.6) / draws));
  });
});

describe('selectTargets with a shift', () => {
  const deployments = new Map(['old', 'spare', 'new'].map((id) => [id, deployment(id)]));
  const team = teamSchema.parse({ id: 'search', name: 'Search' });
  const select = (route: Route, nowMs: number, random: () => number) =>
    selectTargets({
      route,
      team,
      capability: 'chat',
      deployments,
      health: { inFlight: () => 0, coolingUntilMs: () => 0 },
      nowMs,
      random,
    });

  it('names the shift draw as the reason for `to`', () => {
    const decision = select(shifted({}), START + 5 * MINUTE, () => 0.1);
    expect(decision.candidates.map((d) => d.id)).toEqual(['new', 'old', 'spare']);
    expect(decision.considered).toEqual([
      { deployment: 'new', taken: true, reason: 'first by shift draw (shift to new: 50% of requests at step 5 of 10)' },
      { deployment: 'old', taken: true, reason: 'fallback in order' },
      { deployment: 'spare', taken: true, reason: 'fallback in order' },
    ]);
    const missed = select(shifted({}), START + 5 * MINUTE, () => 0.7);
    expect(missed.candidates.map((d) => d.id)).toEqual(['old', 'spare', 'new']);
    expect(missed.considered[2]).toEqual({
      deployment: 'new',
      taken: true,
      reason: 'last by shift draw (shift to new: 50% of requests at step 5 of 10)',
    });
  });

  it('draws the shift after a weighted route drew its own order', () => {
    const route = shifted(
      {},
      {
        strategy: 'weighted',
        targets: [
          { deployment: 'old', weight: 1 },
          { deployment: 'spare', weight: 1 },
          { deployment: 'new', weight: 0 },
        ],
      },
    );
    const draws =
      (...points: number[]) =>
      () =>
        points.shift() ?? Number.NaN;
    // 0.9 and 0.5 order the weighted targets (spare, old); the third draw is the shift's, against a 20% share.
    expect(select(route, START + 2 * MINUTE, draws(0.9, 0.5, 0.5)).candidates.map((d) => d.id)).toEqual(['spare', 'old', 'new']);
    expect(select(route, START + 2 * MINUTE, draws(0.9, 0.5, 0.1)).candidates.map((d) => d.id)).toEqual(['new', 'spare', 'old']);
  });
});

describe('route schema: shift', () => {
  it('refuses a shift whose `to` is not a target, and drops the progress a GET shows', () => {
    expect(() => shifted({ to: 'elsewhere' })).toThrow(/must be one of the route's targets/);
    const parsed = shifted({ share: 0.3, nextStepAt: '2026-01-01T00:04:00.000Z' });
    expect(parsed.shift).toEqual({ to: 'new', startedAt: new Date(START).toISOString(), overMs: 10 * MINUTE, steps: 10 });
  });
  it('bounds over and steps', () => {
    expect(() => shifted({ overMs: 9_999 })).toThrow();
    expect(() => shifted({ overMs: 7 * 86_400_000 + 1 })).toThrow();
    expect(() => shifted({ steps: 0 })).toThrow();
  });
});
