import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { capabilities, deploymentSchema, routeSchema, routeStrategies, teamSchema, type Deployment } from '../../shared/catalog/schemas.js';
import type { HealthView } from '../../shared/routing/deployment-health.js';
import type { RequestFeature } from '../../shared/routing/request-features.js';
import { DEFAULT_OUTPUT_TOKENS_ESTIMATE, selectTargets } from '../../shared/routing/select-targets.js';
import { expectedCostMicroUsd } from '../../shared/usage/pricing.js';
import { seededRandom } from '../../shared/seeded-random.js';
import { featureNames } from '../../shared/upstreams/protocols/features.js';

const NOW_MS = 1_000_000;

function deployment(id: string, enabled: boolean, serves: string[], features: string[], managedCapacity: number | undefined): Deployment {
  const common = { id, enabled, serves, features, upstreamModel: 'm', endpoint: `https://${id}.example.com` };
  return managedCapacity === undefined
    ? deploymentSchema.parse({
        ...common,
        kind: 'serverless',
        protocol: 'openai',
        auth: { type: 'key', secret: 'UPSTREAM_KEY' },
        pricing: { inputPerMillionUsd: 0.15, outputPerMillionUsd: 0.6 },
      })
    : deploymentSchema.parse({
        ...common,
        kind: 'managed',
        protocol: 'openai',
        auth: { type: 'entra', scope: 'https://ml.azure.com/.default' },
        pricing: { hourlyUsd: 3, instances: 1 },
        capacity: { maxConcurrent: managedCapacity },
      });
}

/** A route over up to six deployments of random shape and health, a rule for the team, and a request. */
const scenario = fc
  .record({
    size: fc.integer({ min: 1, max: 6 }),
    strategy: fc.constantFrom(...routeStrategies),
    seed: fc.integer(),
    user: fc.option(fc.string({ maxLength: 8 }), { nil: undefined }),
    capability: fc.constantFrom(...capabilities),
    wanted: fc.subarray([...featureNames], { maxLength: 3 }),
  })
  .chain((base) =>
    fc.record({
      base: fc.constant(base),
      shapes: fc.array(
        fc.record({
          enabled: fc.boolean(),
          serves: fc.subarray([...capabilities], { minLength: 1 }),
          features: fc.subarray([...featureNames]),
          capacity: fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }),
          weight: fc.integer({ min: 0, max: 10 }),
          inFlight: fc.integer({ min: 0, max: 5 }),
          coolingForMs: fc.constantFrom(0, 0, 5_000),
          inCatalog: fc.constantFrom(true, true, true, false),
          latencyMs: fc.option(fc.integer({ min: 1, max: 5_000 }), { nil: undefined }),
        }),
        { minLength: base.size, maxLength: base.size },
      ),
      only: fc.subarray(Array.from({ length: base.size }, (_, i) => `d${i}`)),
      ruleMatches: fc.boolean(),
      facts: fc.record({
        stream: fc.boolean(),
        promptTokens: fc.option(fc.integer({ min: 0, max: 2_000 }), { nil: undefined }),
        whenStream: fc.option(fc.boolean(), { nil: undefined }),
        whenMinPromptTokens: fc.option(fc.integer({ min: 0, max: 2_000 }), { nil: undefined }),
        whenUserPattern: fc.option(fc.constantFrom('*', 'a*', 'b'), { nil: undefined }),
      }),
    }),
  )
  .map(({ base, shapes, only, ruleMatches: teamMatches, facts }) => {
    const deployments = new Map(
      shapes.flatMap((s, i) => (s.inCatalog ? [[`d${i}`, deployment(`d${i}`, s.enabled, s.serves, s.features, s.capacity)] as const] : [])),
    );
    const route = routeSchema.parse({
      alias: 'chat',
      strategy: base.strategy,
      targets: shapes.map((s, i) => ({ deployment: `d${i}`, weight: s.weight })),
      rules: [
        {
          when: {
            teamTags: ['confidential'],
            stream: facts.whenStream,
            minPromptTokens: facts.whenMinPromptTokens,
            userPattern: facts.whenUserPattern,
          },
          only,
        },
      ],
    });
    const health: HealthView = {
      inFlight: (id) => shapes[Number(id.slice(1))]?.inFlight ?? 0,
      coolingUntilMs: (id) => NOW_MS + (shapes[Number(id.slice(1))]?.coolingForMs ?? 0),
      timeToFirstTokenMs: (id) => shapes[Number(id.slice(1))]?.latencyMs,
    };
    const features: RequestFeature[] = base.wanted.map((feature) => ({ feature, param: feature }));
    const team = teamSchema.parse({ id: 'search', name: 'Search', tags: teamMatches ? ['confidential'] : [] });
    // Whether the rule applies, worked out apart from the code under test.
    const user = base.user;
    const userMatches =
      facts.whenUserPattern === undefined ||
      (user !== undefined && (facts.whenUserPattern === '*' || (facts.whenUserPattern === 'a*' ? user.startsWith('a') : user === 'b')));
    const ruleMatches =
      teamMatches &&
      (facts.whenStream === undefined || facts.whenStream === facts.stream) &&
      (facts.whenMinPromptTokens === undefined || (facts.promptTokens ?? -1) >= facts.whenMinPromptTokens) &&
      userMatches;
    const estimate = facts.promptTokens === undefined ? {} : { estimate: { promptTokens: facts.promptTokens } };
    const request = { stream: facts.stream, ...estimate };
    return { route, deployments, health, features, team, only, ruleMatches, base, request };
  });

describe('selectTargets properties', () => {
  it("never offers a deployment a matching rule's `only` excludes, whatever the health, features, request facts and strategy", () => {
    fc.assert(
      fc.property(scenario, ({ route, deployments, health, features, team, only, ruleMatches, base, request }) => {
        const decision = selectTargets({
          ...request,
          route,
          team,
          capability: base.capability,
          features,
          user: base.user,
          deployments,
          health,
          nowMs: NOW_MS,
          random: seededRandom(base.seed),
        });
        if (!ruleMatches) {
          expect(decision.refusedByRule).toBe(false);
          return;
        }
        for (const candidate of decision.candidates) expect(only).toContain(candidate.id);
        expect(decision.refusedByRule).toBe(only.length === 0);
        if (only.length === 0) expect(decision.candidates).toEqual([]);
      }),
      { numRuns: 500 },
    );
  });

  it('never offers a disabled deployment, one not serving the capability, or one lacking a feature the request uses', () => {
    fc.assert(
      fc.property(scenario, ({ route, deployments, health, features, team, base, request }) => {
        const decision = selectTargets({
          ...request,
          route,
          team,
          capability: base.capability,
          features,
          user: base.user,
          deployments,
          health,
          nowMs: NOW_MS,
          random: seededRandom(base.seed),
        });
        for (const candidate of decision.candidates) {
          expect(candidate.enabled).toBe(true);
          expect(candidate.serves).toContain(base.capability);
          for (const f of features) expect(candidate.features).toContain(f.feature);
        }
        // Every target is accounted for exactly once in `considered`.
        expect(decision.considered.map((c) => c.deployment).sort()).toEqual(route.targets.map((t) => t.deployment).sort());
      }),
      { numRuns: 500 },
    );
  });

  it('weighted first picks converge to the weights: every share within 5 standard errors of its weight after n draws', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 20 }), { minLength: 2, maxLength: 5 }), fc.integer(), (weights, seed) => {
        const deployments = new Map(weights.map((_, i) => [`d${i}`, deployment(`d${i}`, true, ['chat'], [], undefined)] as const));
        const route = routeSchema.parse({
          alias: 'chat',
          strategy: 'weighted',
          targets: weights.map((weight, i) => ({ deployment: `d${i}`, weight })),
        });
        const team = teamSchema.parse({ id: 'search', name: 'Search' });
        const random = seededRandom(seed);
        const health: HealthView = { inFlight: () => 0, coolingUntilMs: () => 0 };
        const draws = 4_000;
        const firsts = new Map<string, number>();
        for (let i = 0; i < draws; i++) {
          const first = selectTargets({ route, team, capability: 'chat', deployments, health, nowMs: NOW_MS, random }).candidates[0]!.id;
          firsts.set(first, (firsts.get(first) ?? 0) + 1);
        }
        const total = weights.reduce((a, b) => a + b, 0);
        weights.forEach((weight, i) => {
          const p = weight / total;
          // The binomial standard error of a share after `draws` picks: 5 of them is a ~1 in 3.5 million miss.
          const tolerance = 5 * Math.sqrt((p * (1 - p)) / draws);
          expect(Math.abs((firsts.get(`d${i}`) ?? 0) / draws - p)).toBeLessThanOrEqual(tolerance);
        });
      }),
      { numRuns: 30 },
    );
  });

  it('cheapest: no candidate is more expensive than one after it (cool-downs aside), nor than a skipped saturated one', () => {
    const priced = fc.record({
      managedCapacity: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
      input: fc.integer({ min: 0, max: 40 }).map((n) => n / 4),
      output: fc.integer({ min: 0, max: 80 }).map((n) => n / 4),
      inFlight: fc.integer({ min: 0, max: 4 }),
    });
    fc.assert(
      fc.property(
        fc.array(priced, { minLength: 1, maxLength: 6 }),
        fc.integer({ min: 0, max: 200_000 }),
        fc.option(fc.integer({ min: 1, max: 8_000 }), { nil: undefined }),
        (shapes, promptTokens, maxOutputTokens) => {
          const deployments = new Map(
            shapes.map((s, i) => {
              const d = deployment(`d${i}`, true, ['chat'], [], s.managedCapacity);
              return [
                `d${i}`,
                s.managedCapacity === undefined ? { ...d, pricing: { inputPerMillionUsd: s.input, outputPerMillionUsd: s.output } } : d,
              ] as const;
            }),
          );
          const route = routeSchema.parse({
            alias: 'chat',
            strategy: 'cheapest',
            targets: shapes.map((_, i) => ({ deployment: `d${i}` })),
          });
          const health: HealthView = { inFlight: (id) => shapes[Number(id.slice(1))]!.inFlight, coolingUntilMs: () => 0 };
          const decision = selectTargets({
            route,
            team: teamSchema.parse({ id: 'search', name: 'Search' }),
            capability: 'chat',
            deployments,
            health,
            nowMs: NOW_MS,
            random: () => 0,
            estimate: maxOutputTokens === undefined ? { promptTokens } : { promptTokens, maxOutputTokens },
          });
          const cost = (d: Deployment) => expectedCostMicroUsd(d, promptTokens, maxOutputTokens ?? DEFAULT_OUTPUT_TOKENS_ESTIMATE);
          const costs = decision.candidates.map(cost);
          for (let i = 1; i < costs.length; i++) expect(costs[i - 1]!).toBeLessThanOrEqual(costs[i]!);
          // Exactly the managed deployments at capacity are skipped; every other deployment is a candidate.
          const full = shapes.flatMap((s, i) => (s.managedCapacity !== undefined && s.inFlight >= s.managedCapacity ? [`d${i}`] : []));
          expect(decision.saturated).toEqual(full);
          expect(decision.candidates.length).toBe(shapes.length - full.length);
        },
      ),
      { numRuns: 500 },
    );
  });
});
