import { describe, expect, it } from 'vitest';
import {
  deploymentSchema,
  routeSchema,
  teamSchema,
  type Capability,
  type Deployment,
  type Route,
  type Team,
} from '../../shared/catalog/schemas.js';
import { chatRequestFeatures } from '../../shared/routing/request-features.js';
import { DeploymentHealth, FIRST_TOKEN_HALF_LIFE_MS, type HealthView } from '../../shared/routing/deployment-health.js';
import { featuresOf, globMatches, selectTargets, type RoutingInput } from '../../shared/routing/select-targets.js';
import { seededRandom } from '../../shared/seeded-random.js';

function deployment(id: string, extra: Record<string, unknown> = {}): Deployment {
  return deploymentSchema.parse({
    id,
    kind: 'serverless',
    protocol: 'openai',
    endpoint: `https://${id}.openai.azure.com`,
    upstreamModel: 'gpt-4o-mini',
    auth: { type: 'key', secret: 'UPSTREAM_KEY' },
    pricing: { inputPerMillionUsd: 0.15, outputPerMillionUsd: 0.6 },
    ...extra,
  });
}

function managed(id: string, maxConcurrent: number): Deployment {
  return deploymentSchema.parse({
    id,
    kind: 'managed',
    protocol: 'aml-score',
    endpoint: `https://${id}.eastus2.inference.ml.azure.com`,
    upstreamModel: 'llama70b-blue',
    auth: { type: 'entra', scope: 'https://ml.azure.com/.default' },
    pricing: { hourlyUsd: 3.673, instances: 2 },
    capacity: { maxConcurrent },
  });
}

const catalog = (...list: Deployment[]) => new Map(list.map((d) => [d.id, d]));
const route = (doc: Record<string, unknown>): Route => routeSchema.parse({ alias: 'chat', ...doc });
const team = (doc: Record<string, unknown> = {}): Team => teamSchema.parse({ id: 'search', name: 'Search', ...doc });
const spillover = (...ids: string[]) => route({ targets: ids.map((deployment) => ({ deployment })) });
const weighted = (targets: Array<[string, number]>) =>
  route({ strategy: 'weighted', targets: targets.map(([deployment, weight]) => ({ deployment, weight })) });
const idle: HealthView = { inFlight: () => 0, coolingUntilMs: () => 0 };

function select(overrides: Partial<RoutingInput> & Pick<RoutingInput, 'route' | 'deployments'>) {
  return selectTargets({
    team: team(),
    capability: 'chat' as Capability,
    health: idle,
    nowMs: 1_000_000,
    random: () => 0,
    ...overrides,
  });
}
const ids = (list: Deployment[]) => list.map((d) => d.id);

describe('selectTargets: spillover', () => {
  const deployments = catalog(deployment('a'), deployment('b'), deployment('c'));

  it('keeps the route order', () => {
    const decision = select({ route: spillover('b', 'c', 'a'), deployments });
    expect(ids(decision.candidates)).toEqual(['b', 'c', 'a']);
    expect(decision.considered).toEqual([
      { deployment: 'b', taken: true, reason: 'first available in order' },
      { deployment: 'c', taken: true, reason: 'fallback in order' },
      { deployment: 'a', taken: true, reason: 'fallback in order' },
    ]);
    expect(decision.refusedByRule).toBe(false);
  });

  it('does not consult random for spillover', () => {
    const decision = select({
      route: spillover('a', 'b'),
      deployments,
      random: () => {
        throw new Error('random must not be called');
      },
    });
    expect(ids(decision.candidates)).toEqual(['a', 'b']);
  });

  it('skips missing, disabled and wrong-capability deployments, saying why', () => {
    const list = catalog(
      deployment('off', { enabled: false }),
      deployment('embed-only', { serves: ['embeddings'] }),
      deployment('both', { serves: ['chat', 'embeddings'] }),
      deployment('chat-only'),
    );
    const decision = select({ route: spillover('ghost', 'off', 'embed-only', 'chat-only', 'both'), deployments: list });
    expect(ids(decision.candidates)).toEqual(['chat-only', 'both']);
    expect(decision.considered).toEqual([
      { deployment: 'ghost', taken: false, reason: 'not in the catalog' },
      { deployment: 'off', taken: false, reason: 'disabled' },
      { deployment: 'embed-only', taken: false, reason: 'does not serve chat' },
      { deployment: 'chat-only', taken: true, reason: 'first available in order' },
      { deployment: 'both', taken: true, reason: 'fallback in order' },
    ]);

    const embeddings = select({ route: spillover('chat-only', 'embed-only', 'both'), deployments: list, capability: 'embeddings' });
    expect(ids(embeddings.candidates)).toEqual(['embed-only', 'both']);
    expect(embeddings.considered[0]).toEqual({ deployment: 'chat-only', taken: false, reason: 'does not serve embeddings' });
  });

  it('gives no candidates (and no rule refusal) when nothing can serve', () => {
    const decision = select({ route: spillover('ghost'), deployments: catalog() });
    expect(decision).toEqual({
      candidates: [],
      considered: [{ deployment: 'ghost', taken: false, reason: 'not in the catalog' }],
      refusedByRule: false,
      saturated: [],
    });
  });

  it('skips a saturated deployment (in flight at maxConcurrent) and spills over', () => {
    const health = new DeploymentHealth(() => 0);
    const list = catalog(managed('m', 2), deployment('s'));
    const r = spillover('m', 's');

    const end1 = health.tryBegin(list.get('m')!)!;
    expect(ids(select({ route: r, deployments: list, health }).candidates)).toEqual(['m', 's']);

    const end2 = health.tryBegin(list.get('m')!)!;
    const saturated = select({ route: r, deployments: list, health });
    expect(ids(saturated.candidates)).toEqual(['s']);
    expect(saturated.considered[0]).toEqual({ deployment: 'm', taken: false, reason: 'saturated: 2 of 2 in flight' });
    expect(saturated.saturated).toEqual(['m']);

    // Admission checks and counts in one step: a third attempt finds no slot.
    expect(health.tryBegin(list.get('m')!)).toBeUndefined();
    expect(health.inFlight('m')).toBe(2);

    end1();
    end1(); // idempotent
    expect(ids(select({ route: r, deployments: list, health }).candidates)).toEqual(['m', 's']); // 1 of 2
    end2();
    expect(health.inFlight('m')).toBe(0);
  });

  it('frees a saturated deployment when a request ends', () => {
    const health = new DeploymentHealth(() => 0);
    const list = catalog(managed('m', 1), deployment('s'));
    const end = health.tryBegin(list.get('m')!)!;
    expect(ids(select({ route: spillover('m', 's'), deployments: list, health }).candidates)).toEqual(['s']);
    end();
    expect(ids(select({ route: spillover('m', 's'), deployments: list, health }).candidates)).toEqual(['m', 's']);
  });

  it('never treats a deployment without capacity as saturated', () => {
    const busy: HealthView = { inFlight: () => 1_000_000, coolingUntilMs: () => 0 };
    expect(ids(select({ route: spillover('a', 'b'), deployments, health: busy }).candidates)).toEqual(['a', 'b']);
  });

  it('moves cooling deployments last, keeping their relative order', () => {
    let now = 10_000;
    const health = new DeploymentHealth(() => now);
    health.failed('a'); // cooling until 11_000
    now = 10_200;
    health.failed('b'); // cooling until 11_200
    const decision = select({ route: spillover('a', 'b', 'c'), deployments, health, nowMs: 10_500 });
    expect(ids(decision.candidates)).toEqual(['c', 'a', 'b']);
    expect(decision.considered).toEqual([
      { deployment: 'a', taken: true, reason: 'cooling down for 500 ms after failures; tried last' },
      { deployment: 'b', taken: true, reason: 'cooling down for 700 ms after failures; tried last' },
      { deployment: 'c', taken: true, reason: 'first available in order' },
    ]);
  });

  it('stops treating a deployment as cooling once nowMs reaches the end of its cool-down', () => {
    const health = new DeploymentHealth(() => 10_000);
    health.failed('a');
    expect(ids(select({ route: spillover('a', 'b'), deployments, health, nowMs: 10_999 }).candidates)).toEqual(['b', 'a']);
    expect(ids(select({ route: spillover('a', 'b'), deployments, health, nowMs: 11_000 }).candidates)).toEqual(['a', 'b']);
  });

  it('reports saturation before cooling', () => {
    const health: HealthView = { inFlight: (id) => (id === 'm' ? 1 : 0), coolingUntilMs: (id) => (id === 'm' ? 2_000_000 : 0) };
    const decision = select({ route: spillover('m', 'a'), deployments: catalog(managed('m', 1), deployment('a')), health });
    expect(ids(decision.candidates)).toEqual(['a']);
    expect(decision.considered[0]).toEqual({ deployment: 'm', taken: false, reason: 'saturated: 1 of 1 in flight' });
  });
});

describe('selectTargets: rules', () => {
  const deployments = catalog(deployment('private'), deployment('public'), deployment('other'));
  const withRules = (rules: unknown[]) =>
    route({ targets: [{ deployment: 'public' }, { deployment: 'private' }, { deployment: 'other' }], rules });

  it('restricts targets for a team named by a rule', () => {
    const r = withRules([{ when: { teams: ['search'] }, only: ['private', 'other'] }]);
    const decision = select({ route: r, deployments, team: team({ id: 'search' }) });
    expect(ids(decision.candidates)).toEqual(['private', 'other']);
    expect(decision.considered[0]).toEqual({ deployment: 'public', taken: false, reason: 'excluded by a rule for this team' });
    expect(decision.refusedByRule).toBe(false);

    const others = select({ route: r, deployments, team: team({ id: 'marketing' }) });
    expect(ids(others.candidates)).toEqual(['public', 'private', 'other']);
  });

  it('restricts targets for a team carrying a tag a rule names', () => {
    const r = withRules([{ when: { teamTags: ['confidential', 'pii'] }, only: ['private'] }]);
    expect(ids(select({ route: r, deployments, team: team({ tags: ['pii'] }) }).candidates)).toEqual(['private']);
    expect(ids(select({ route: r, deployments, team: team({ tags: ['confidential', 'eu'] }) }).candidates)).toEqual(['private']);
    expect(ids(select({ route: r, deployments, team: team({ tags: ['eu'] }) }).candidates)).toEqual(['public', 'private', 'other']);
    expect(ids(select({ route: r, deployments, team: team({ tags: [] }) }).candidates)).toEqual(['public', 'private', 'other']);
  });

  it('applies the first rule that matches', () => {
    const r = withRules([
      { when: { teams: ['search'] }, only: ['other'] },
      { when: { teamTags: ['confidential'] }, only: ['private'] },
    ]);
    expect(ids(select({ route: r, deployments, team: team({ id: 'search', tags: ['confidential'] }) }).candidates)).toEqual(['other']);
    expect(ids(select({ route: r, deployments, team: team({ id: 'finance', tags: ['confidential'] }) }).candidates)).toEqual(['private']);
  });

  it('refuses by rule when the matching rule allows no target', () => {
    const r = withRules([{ when: { teamTags: ['embargoed'] }, only: [] }]);
    const decision = select({ route: r, deployments, team: team({ tags: ['embargoed'] }) });
    expect(decision.candidates).toEqual([]);
    expect(decision.refusedByRule).toBe(true);
    expect(decision.considered).toEqual(
      ['public', 'private', 'other'].map((d) => ({ deployment: d, taken: false, reason: 'excluded by a rule for this team' })),
    );
    expect(select({ route: r, deployments, team: team() }).refusedByRule).toBe(false);
  });

  it('gives no candidates, without a rule refusal, when the rule only allows deployments the route does not list', () => {
    const r = withRules([{ when: { teams: ['search'] }, only: ['elsewhere'] }]);
    const decision = select({ route: r, deployments });
    expect(decision.candidates).toEqual([]);
    expect(decision.refusedByRule).toBe(false);
  });

  it('still skips a rule-allowed deployment that is disabled', () => {
    const list = catalog(deployment('private', { enabled: false }), deployment('public'));
    const r = route({
      targets: [{ deployment: 'public' }, { deployment: 'private' }],
      rules: [{ when: { teams: ['search'] }, only: ['private'] }],
    });
    const decision = select({ route: r, deployments: list });
    expect(decision.candidates).toEqual([]);
    expect(decision.considered.map((c) => c.reason)).toEqual(['excluded by a rule for this team', 'disabled']);
  });
});

describe('selectTargets: weighted', () => {
  const deployments = catalog(deployment('a'), deployment('b'), deployment('c'), deployment('z'));

  it('follows the injected random for the first pick, the rest as fallbacks', () => {
    const r = weighted([
      ['a', 3],
      ['b', 1],
    ]);
    expect(ids(select({ route: r, deployments, random: () => 0 }).candidates)).toEqual(['a', 'b']);
    expect(ids(select({ route: r, deployments, random: () => 0.5 }).candidates)).toEqual(['a', 'b']);
    expect(ids(select({ route: r, deployments, random: () => 0.7499 }).candidates)).toEqual(['a', 'b']);
    expect(ids(select({ route: r, deployments, random: () => 0.75 }).candidates)).toEqual(['b', 'a']);
    expect(ids(select({ route: r, deployments, random: () => 0.99 }).candidates)).toEqual(['b', 'a']);
  });

  it('draws the fallbacks from the remaining weights', () => {
    const r = weighted([
      ['a', 1],
      ['b', 1],
      ['c', 2],
    ]);
    // First draw 0.6 * 4 = 2.4 → c; then 0.6 * 2 = 1.2 → b; then a.
    expect(ids(select({ route: r, deployments, random: () => 0.6 }).candidates)).toEqual(['c', 'b', 'a']);
    // 0.1 * 4 = 0.4 → a; 0.1 * 3 = 0.3 → b; then c.
    expect(ids(select({ route: r, deployments, random: () => 0.1 }).candidates)).toEqual(['a', 'b', 'c']);
    const draws = [0.3, 0.9];
    expect(ids(select({ route: r, deployments, random: () => draws.shift() ?? 0 }).candidates)).toEqual(['b', 'c', 'a']);
  });

  it('puts zero-weight targets last, in route order, and never first', () => {
    const r = weighted([
      ['z', 0],
      ['a', 1],
      ['c', 0],
      ['b', 1],
    ]);
    const random = seededRandom(7);
    for (let i = 0; i < 200; i++) {
      const order = ids(select({ route: r, deployments, random }).candidates);
      expect(order.slice(2)).toEqual(['z', 'c']);
      expect(order.slice(0, 2).sort()).toEqual(['a', 'b']);
    }
  });

  it('says in each reason that the order came from a weight draw, and which weight', () => {
    const r = weighted([
      ['a', 3],
      ['b', 1],
      ['z', 0],
    ]);
    expect(select({ route: r, deployments, random: () => 0.8 }).considered).toEqual([
      { deployment: 'b', taken: true, reason: 'first by weight draw (weight 1 of 4)' },
      { deployment: 'a', taken: true, reason: 'fallback by weight draw (weight 3 of 4)' },
      { deployment: 'z', taken: true, reason: 'fallback by weight draw (weight 0 of 4)' },
    ]);
  });

  it('treats an out-of-range random as the last target rather than failing', () => {
    const r = weighted([
      ['a', 1],
      ['b', 1],
    ]);
    expect(ids(select({ route: r, deployments, random: () => 1 }).candidates)).toEqual(['b', 'a']);
  });

  it('matches 3:1 weights over 20 000 seeded draws', () => {
    const r = weighted([
      ['a', 3],
      ['b', 1],
    ]);
    const random = seededRandom(12345);
    let a = 0;
    const draws = 20_000;
    for (let i = 0; i < draws; i++) if (select({ route: r, deployments, random }).candidates[0]!.id === 'a') a++;
    expect(a / draws).toBeGreaterThan(0.735);
    expect(a / draws).toBeLessThan(0.765);
  });

  it('matches 5:3:2 weights over 20 000 seeded draws', () => {
    const r = weighted([
      ['a', 5],
      ['b', 3],
      ['c', 2],
    ]);
    const random = seededRandom(99);
    const counts: Record<string, number> = { a: 0, b: 0, c: 0 };
    const draws = 20_000;
    for (let i = 0; i < draws; i++) counts[select({ route: r, deployments, random }).candidates[0]!.id]! += 1;
    expect(Math.abs(counts.a! / draws - 0.5)).toBeLessThan(0.02);
    expect(Math.abs(counts.b! / draws - 0.3)).toBeLessThan(0.02);
    expect(Math.abs(counts.c! / draws - 0.2)).toBeLessThan(0.02);
  });

  it('is sticky per user: the same user always gets the same order, whatever random says', () => {
    const r = weighted([
      ['a', 1],
      ['b', 1],
      ['c', 1],
    ]);
    for (const user of ['alice', 'bob', 'user-42', '', '日本語']) {
      const first = ids(select({ route: r, deployments, user, random: () => 0 }).candidates);
      for (const value of [0.2, 0.5, 0.99]) {
        expect(ids(select({ route: r, deployments, user, random: () => value }).candidates)).toEqual(first);
      }
    }
  });

  it('still follows the weights across many users', () => {
    const r = weighted([
      ['a', 3],
      ['b', 1],
    ]);
    let a = 0;
    const users = 20_000;
    for (let i = 0; i < users; i++) if (select({ route: r, deployments, user: `user-${i}` }).candidates[0]!.id === 'a') a++;
    expect(a / users).toBeGreaterThan(0.73);
    expect(a / users).toBeLessThan(0.77);
  });

  it('spreads different users over every target', () => {
    const r = weighted([
      ['a', 1],
      ['b', 1],
      ['c', 1],
    ]);
    const firsts = new Set<string>();
    for (let i = 0; i < 50; i++) firsts.add(select({ route: r, deployments, user: `u${i}` }).candidates[0]!.id);
    expect([...firsts].sort()).toEqual(['a', 'b', 'c']);
  });

  it('falls back to the next weighted pick when the first is unavailable', () => {
    const list = catalog(deployment('a', { enabled: false }), deployment('b'));
    const r = weighted([
      ['a', 3],
      ['b', 1],
    ]);
    const decision = select({ route: r, deployments: list, random: () => 0 });
    expect(ids(decision.candidates)).toEqual(['b']);
    expect(decision.considered).toEqual([
      { deployment: 'a', taken: false, reason: 'disabled' },
      { deployment: 'b', taken: true, reason: 'first by weight draw (weight 1 of 4)' },
    ]);
  });
});

describe('selectTargets: cheapest', () => {
  // Per request of 1,000 prompt + 500 answer tokens: pricey $0.0025 + $0.005, cheap $0.00015 + $0.0003.
  const pricey = deployment('pricey', { pricing: { inputPerMillionUsd: 2.5, outputPerMillionUsd: 10 } });
  const cheap = deployment('cheap', { pricing: { inputPerMillionUsd: 0.15, outputPerMillionUsd: 0.6 } });
  const cheapToo = deployment('cheap-too', { pricing: { inputPerMillionUsd: 0.15, outputPerMillionUsd: 0.6 } });
  const deployments = catalog(pricey, cheap, cheapToo, managed('m', 2));
  const cheapest = (...ids: string[]) => route({ strategy: 'cheapest', targets: ids.map((deployment) => ({ deployment })) });

  it('puts the serverless deployment with the lowest list price for this request first, saying what each is expected to cost', () => {
    const decision = select({ route: cheapest('pricey', 'cheap'), deployments, estimate: { promptTokens: 1_000 } });
    expect(ids(decision.candidates)).toEqual(['cheap', 'pricey']);
    expect(decision.considered).toEqual([
      { deployment: 'cheap', taken: true, reason: 'cheapest: expected cost $0.000450 (list price for ~1000 prompt + 500 answer tokens)' },
      { deployment: 'pricey', taken: true, reason: 'fallback: expected cost $0.007500 (list price for ~1000 prompt + 500 answer tokens)' },
    ]);
  });

  it('prices each deployment at the price in force now, not at a change scheduled for later', () => {
    // nowMs is 1,000,000 (1970-01-01T00:16:40Z): 'raising' costs 0.15/0.6 until 1970-01-02, then 25/100.
    const raising = deployment('raising', {
      pricing: { inputPerMillionUsd: 25, outputPerMillionUsd: 100, effectiveFrom: '1970-01-02T00:00:00.000Z' },
      priceHistory: [{ inputPerMillionUsd: 0.15, outputPerMillionUsd: 0.6 }],
    });
    const now = select({ route: cheapest('pricey', 'raising'), deployments: catalog(pricey, raising), estimate: { promptTokens: 1_000 } });
    expect(ids(now.candidates)).toEqual(['raising', 'pricey']);
    const later = select({
      route: cheapest('pricey', 'raising'),
      deployments: catalog(pricey, raising),
      estimate: { promptTokens: 1_000 },
      nowMs: Date.parse('1970-01-02T00:00:00.000Z'),
    });
    expect(ids(later.candidates)).toEqual(['pricey', 'raising']);
  });

  it("prices the answer at the request's max tokens when it sets one", () => {
    // Input 0 vs 5/M, output 20/M vs 0.1/M: a short answer favours 'long', a long one 'short'.
    const short = deployment('short', { pricing: { inputPerMillionUsd: 5, outputPerMillionUsd: 0.1 } });
    const long = deployment('long', { pricing: { inputPerMillionUsd: 0, outputPerMillionUsd: 20 } });
    const list = catalog(short, long);
    const r = cheapest('short', 'long');
    expect(ids(select({ route: r, deployments: list, estimate: { promptTokens: 1_000, maxOutputTokens: 10 } }).candidates)).toEqual([
      'long',
      'short',
    ]);
    expect(ids(select({ route: r, deployments: list, estimate: { promptTokens: 1_000, maxOutputTokens: 4_000 } }).candidates)).toEqual([
      'short',
      'long',
    ]);
  });

  it('assumes no answer tokens for embeddings', () => {
    const inputHeavy = deployment('in', { serves: ['embeddings'], pricing: { inputPerMillionUsd: 0.2, outputPerMillionUsd: 0 } });
    const outputHeavy = deployment('out', { serves: ['embeddings'], pricing: { inputPerMillionUsd: 0.1, outputPerMillionUsd: 100 } });
    const decision = select({
      route: cheapest('in', 'out'),
      deployments: catalog(inputHeavy, outputHeavy),
      capability: 'embeddings',
      estimate: { promptTokens: 100 },
    });
    expect(ids(decision.candidates)).toEqual(['out', 'in']);
  });

  it('puts a managed deployment under capacity first: its hours are paid anyway', () => {
    const decision = select({ route: cheapest('cheap', 'm'), deployments, estimate: { promptTokens: 10 } });
    expect(ids(decision.candidates)).toEqual(['m', 'cheap']);
    expect(decision.considered.find((c) => c.deployment === 'm')!.reason).toBe(
      'cheapest: expected cost $0 (managed: hours already paid, under capacity)',
    );
  });

  it('skips a saturated managed deployment as spillover does, and the request goes to the cheapest serverless one', () => {
    const health = new DeploymentHealth(() => 0);
    health.tryBegin(deployments.get('m')!);
    health.tryBegin(deployments.get('m')!);
    const decision = select({ route: cheapest('pricey', 'm', 'cheap'), deployments, health, estimate: { promptTokens: 10 } });
    expect(ids(decision.candidates)).toEqual(['cheap', 'pricey']);
    expect(decision.saturated).toEqual(['m']);
    expect(decision.considered.find((c) => c.deployment === 'm')).toEqual({
      deployment: 'm',
      taken: false,
      reason: 'saturated: 2 of 2 in flight',
    });
  });

  it('keeps route order between deployments that cost the same', () => {
    expect(ids(select({ route: cheapest('cheap-too', 'pricey', 'cheap'), deployments }).candidates)).toEqual([
      'cheap-too',
      'cheap',
      'pricey',
    ]);
    expect(ids(select({ route: cheapest('cheap', 'pricey', 'cheap-too'), deployments }).candidates)).toEqual([
      'cheap',
      'cheap-too',
      'pricey',
    ]);
  });

  it('still tries a cooling deployment last, however cheap', () => {
    const health: HealthView = { inFlight: () => 0, coolingUntilMs: (id) => (id === 'cheap' ? 2_000_000 : 0) };
    const decision = select({ route: cheapest('pricey', 'cheap'), deployments, health, estimate: { promptTokens: 10 } });
    expect(ids(decision.candidates)).toEqual(['pricey', 'cheap']);
  });

  it('does not consult random', () => {
    let calls = 0;
    select({
      route: cheapest('pricey', 'cheap'),
      deployments,
      random: () => {
        calls += 1;
        return 0;
      },
    });
    expect(calls).toBe(0);
  });
});

describe('selectTargets: fastest', () => {
  const deployments = catalog(deployment('a'), deployment('b'), deployment('c'), managed('m', 1));
  const fastest = (...ids: string[]) => route({ strategy: 'fastest', targets: ids.map((deployment) => ({ deployment })) });
  const latencies = (known: Record<string, number>, inFlight: Record<string, number> = {}): HealthView => ({
    inFlight: (id) => inFlight[id] ?? 0,
    coolingUntilMs: () => 0,
    timeToFirstTokenMs: (id) => known[id],
  });

  it('orders by time to first token, lowest first, saying each average', () => {
    const decision = select({ route: fastest('a', 'b', 'c'), deployments, health: latencies({ a: 900, b: 120.4, c: 450 }) });
    expect(ids(decision.candidates)).toEqual(['b', 'c', 'a']);
    expect(decision.considered).toEqual([
      { deployment: 'b', taken: true, reason: 'fastest: time to first token ~120 ms (decaying average)' },
      { deployment: 'c', taken: true, reason: 'fallback: time to first token ~450 ms (decaying average)' },
      { deployment: 'a', taken: true, reason: 'fallback: time to first token ~900 ms (decaying average)' },
    ]);
  });

  it('ranks deployments never measured after measured ones, in route order', () => {
    const decision = select({ route: fastest('c', 'a', 'm', 'b'), deployments, health: latencies({ b: 300 }) });
    expect(ids(decision.candidates)).toEqual(['b', 'c', 'a', 'm']);
    expect(decision.considered[1]).toEqual({
      deployment: 'c',
      taken: true,
      reason: 'fallback: no time to first token measured yet (after measured ones, in route order)',
    });
    expect(ids(select({ route: fastest('c', 'a'), deployments }).candidates)).toEqual(['c', 'a']);
  });

  it('keeps route order between equal latencies, and still skips a saturated fastest deployment', () => {
    expect(ids(select({ route: fastest('c', 'a'), deployments, health: latencies({ a: 100, c: 100 }) }).candidates)).toEqual(['c', 'a']);
    const decision = select({ route: fastest('a', 'm'), deployments, health: latencies({ a: 500, m: 50 }, { m: 1 }) });
    expect(ids(decision.candidates)).toEqual(['a']);
    expect(decision.saturated).toEqual(['m']);
  });

  it('follows what DeploymentHealth measured with its injected clock', () => {
    let nowMs = 0;
    const health = new DeploymentHealth(() => nowMs);
    health.recordFirstToken('a', 800);
    health.recordFirstToken('b', 200);
    expect(ids(select({ route: fastest('a', 'b'), deployments, health }).candidates)).toEqual(['b', 'a']);
    // Long after, b turns slow: one fresh sample outweighs the stale average.
    nowMs = 10 * 60_000;
    health.recordFirstToken('b', 2_000);
    expect(ids(select({ route: fastest('a', 'b'), deployments, health }).candidates)).toEqual(['a', 'b']);
  });
});

describe('DeploymentHealth', () => {
  it('knows no time to first token until one is recorded, then takes the first sample as it is', () => {
    const health = new DeploymentHealth(() => 0);
    expect(health.timeToFirstTokenMs('a')).toBeUndefined();
    health.recordFirstToken('a', 250);
    expect(health.timeToFirstTokenMs('a')).toBe(250);
    expect(health.timeToFirstTokenMs('b')).toBeUndefined();
  });

  it('counts a sample in quick succession for a fifth, and one a half-life later for half', () => {
    let nowMs = 1_000;
    const health = new DeploymentHealth(() => nowMs);
    health.recordFirstToken('a', 100);
    health.recordFirstToken('a', 600);
    expect(health.timeToFirstTokenMs('a')).toBeCloseTo(100 + 0.2 * 500, 9);
    nowMs += FIRST_TOKEN_HALF_LIFE_MS;
    health.recordFirstToken('a', 1_200);
    expect(health.timeToFirstTokenMs('a')).toBeCloseTo(200 + 0.5 * 1_000, 9);
  });

  it('lets a fresh sample replace almost all of an average many half-lives old', () => {
    let nowMs = 0;
    const health = new DeploymentHealth(() => nowMs);
    health.recordFirstToken('a', 100);
    nowMs = 20 * FIRST_TOKEN_HALF_LIFE_MS;
    health.recordFirstToken('a', 900);
    expect(health.timeToFirstTokenMs('a')).toBeGreaterThan(899.99);
    expect(health.inFlight('a')).toBe(0);
    expect(health.coolingUntilMs('a')).toBe(0);
  });

  it('starts at zero for an unknown deployment', () => {
    const health = new DeploymentHealth(() => 0);
    expect(health.inFlight('x')).toBe(0);
    expect(health.coolingUntilMs('x')).toBe(0);
  });

  it('counts attempts in flight per deployment; ending is idempotent', () => {
    const health = new DeploymentHealth(() => 0);
    const end1 = health.tryBegin({ id: 'a' })!;
    const end2 = health.tryBegin({ id: 'a' })!;
    health.tryBegin({ id: 'b' });
    expect([health.inFlight('a'), health.inFlight('b')]).toEqual([2, 1]);
    end1();
    end1();
    end1();
    expect(health.inFlight('a')).toBe(1);
    end2();
    expect(health.inFlight('a')).toBe(0);
    end2();
    expect(health.inFlight('a')).toBe(0);
    expect(health.inFlight('b')).toBe(1);
  });

  it('backs off exponentially from 1 s to a 30 s ceiling with the injected clock', () => {
    let now = 100_000;
    const health = new DeploymentHealth(() => now);
    const cooldowns: number[] = [];
    for (let i = 0; i < 8; i++) {
      health.failed('a');
      cooldowns.push(health.coolingUntilMs('a') - now);
      now += 50;
    }
    expect(cooldowns).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000]);
  });

  it('cools down for as long as Retry-After asks, up to the cap (5 min by default)', () => {
    const health = new DeploymentHealth(() => 5_000);
    health.failed('a', 7_500);
    expect(health.coolingUntilMs('a')).toBe(12_500);
    health.failed('b', 120_000);
    expect(health.coolingUntilMs('b')).toBe(125_000);
    health.failed('c', 0);
    expect(health.coolingUntilMs('c')).toBe(5_000);
  });

  it('cools a deployment down for the cap, not a day, when Retry-After asks for a day, and logs both', () => {
    let now = 1_000_000;
    const logged: Array<{ level: string; message: string; fields?: Record<string, unknown> }> = [];
    const health = new DeploymentHealth(() => now, { log: { log: (level, message, fields) => logged.push({ level, message, fields }) } });
    const day = 86_400_000;
    expect(health.failed('a', day)).toBe(300_000);
    expect(health.coolingUntilMs('a')).toBe(1_300_000);
    expect(logged).toEqual([
      { level: 'warn', message: 'upstream Retry-After capped', fields: { deployment: 'a', askedMs: day, appliedMs: 300_000 } },
    ]);
    now += 300_000;
    expect(health.coolingUntilMs('a')).toBeLessThanOrEqual(now);
    // A Retry-After within the cap is honoured as asked and logs nothing.
    expect(health.failed('b', 299_000)).toBe(299_000);
    expect(logged).toHaveLength(1);
  });

  it('takes the cap from its options', () => {
    const health = new DeploymentHealth(() => 0, { maxCooldownMs: 250 });
    expect(health.failed('a', 86_400_000)).toBe(250);
    expect(health.coolingUntilMs('a')).toBe(250);
  });

  it('counts a Retry-After failure towards the backoff of the next one', () => {
    const health = new DeploymentHealth(() => 0);
    health.failed('a', 100);
    health.failed('a');
    expect(health.coolingUntilMs('a')).toBe(2_000);
  });

  it('clears the cool-down and the failure count on success', () => {
    const health = new DeploymentHealth(() => 1_000);
    health.failed('a');
    health.failed('a');
    health.failed('a');
    expect(health.coolingUntilMs('a')).toBe(5_000);
    health.succeeded('a');
    expect(health.coolingUntilMs('a')).toBe(0);
    health.failed('a');
    expect(health.coolingUntilMs('a')).toBe(2_000);
  });

  it('keeps deployments independent', () => {
    const health = new DeploymentHealth(() => 0);
    health.failed('a');
    health.failed('a');
    health.failed('b');
    health.succeeded('c');
    expect([health.coolingUntilMs('a'), health.coolingUntilMs('b'), health.coolingUntilMs('c')]).toEqual([2_000, 1_000, 0]);
  });

  it('does not disturb the in-flight count when failing or succeeding', () => {
    const health = new DeploymentHealth(() => 0);
    const end = health.tryBegin({ id: 'a' })!;
    health.failed('a');
    health.succeeded('a');
    expect(health.inFlight('a')).toBe(1);
    end();
    expect(health.inFlight('a')).toBe(0);
  });
});

describe('selectTargets: rules by request facts', () => {
  const deployments = catalog(deployment('private'), deployment('public'), deployment('other'));
  const withRule = (when: Record<string, unknown>, only = ['private']) =>
    route({ targets: [{ deployment: 'public' }, { deployment: 'private' }, { deployment: 'other' }], rules: [{ when, only }] });
  const first = (decision: ReturnType<typeof select>) => ids(decision.candidates);
  const uses = (fields: Record<string, unknown>) => chatRequestFeatures({ messages: [{ role: 'user', content: 'hi' }], ...fields });

  it('applies a stream rule only to requests that stream (or only to those that do not)', () => {
    const r = withRule({ stream: true });
    expect(first(select({ route: r, deployments, stream: true }))).toEqual(['private']);
    expect(first(select({ route: r, deployments, stream: false }))).toEqual(['public', 'private', 'other']);
    expect(first(select({ route: r, deployments }))).toEqual(['public', 'private', 'other']);
    expect(first(select({ route: withRule({ stream: false }), deployments }))).toEqual(['private']);
  });

  it('applies minPromptTokens at and above the estimate, never without one', () => {
    const r = withRule({ minPromptTokens: 1_000 });
    expect(first(select({ route: r, deployments, estimate: { promptTokens: 1_000 } }))).toEqual(['private']);
    expect(first(select({ route: r, deployments, estimate: { promptTokens: 999 } }))).toEqual(['public', 'private', 'other']);
    expect(first(select({ route: r, deployments }))).toEqual(['public', 'private', 'other']);
  });

  it('applies a features rule when the request uses any feature it names', () => {
    const r = withRule({ features: ['vision', 'tools'] });
    expect(first(select({ route: r, deployments, features: uses({ tools: [{}] }) }))).toEqual(['private']);
    expect(first(select({ route: r, deployments, features: uses({ logprobs: true }) }))).toEqual(['public', 'private', 'other']);
    expect(first(select({ route: r, deployments }))).toEqual(['public', 'private', 'other']);
  });

  it('matches userPattern as a glob over the whole user, and never a request without one', () => {
    const r = withRule({ userPattern: 'batch-*-eu' });
    expect(first(select({ route: r, deployments, user: 'batch-nightly-eu' }))).toEqual(['private']);
    expect(first(select({ route: r, deployments, user: 'batch--eu' }))).toEqual(['private']);
    expect(first(select({ route: r, deployments, user: 'batch-nightly-eu2' }))).toEqual(['public', 'private', 'other']);
    expect(first(select({ route: r, deployments, user: 'xbatch-nightly-eu' }))).toEqual(['public', 'private', 'other']);
    expect(first(select({ route: r, deployments }))).toEqual(['public', 'private', 'other']);
  });

  it('needs every condition it names: team and facts together', () => {
    const r = withRule({ teamTags: ['confidential'], stream: true, minPromptTokens: 10 });
    const confidential = team({ tags: ['confidential'] });
    const big = { promptTokens: 50 };
    expect(first(select({ route: r, deployments, team: confidential, stream: true, estimate: big }))).toEqual(['private']);
    expect(first(select({ route: r, deployments, team: team(), stream: true, estimate: big }))).toHaveLength(3);
    expect(first(select({ route: r, deployments, team: confidential, stream: false, estimate: big }))).toHaveLength(3);
    expect(first(select({ route: r, deployments, team: confidential, stream: true, estimate: { promptTokens: 9 } }))).toHaveLength(3);
  });

  it('refuses by rule when the matching fact rule allows no target', () => {
    const decision = select({ route: withRule({ stream: true }, []), deployments, stream: true });
    expect(decision.refusedByRule).toBe(true);
    expect(decision.candidates).toEqual([]);
  });
});

describe('globMatches', () => {
  it.each([
    ['*', '', true],
    ['a*', 'a', true],
    ['*b', 'ab', true],
    ['a*b*c', 'aXbYbZc', true],
    ['a*b*c', 'aXbYbZ', false],
    ['abc', 'abc', true],
    ['abc', 'abcd', false],
    ['a.c', 'abc', false],
    ['**x', 'yyx', true],
  ] as const)('%s against %s is %s', (pattern, text, expected) => {
    expect(globMatches(pattern, text)).toBe(expected);
  });

  it('stays fast on a pattern that would make a backtracking regular expression explode', () => {
    // Work done, not time: a bounded pattern × text walk finishes; a naive regex /^(a*)*b$/ would not.
    expect(globMatches(`${'a*'.repeat(60)}b`, 'a'.repeat(128))).toBe(false);
  });
});

describe('selectTargets: features', () => {
  // The local shape: a managed /score deployment first, an OpenAI-compatible serverless one behind it.
  const deployments = catalog(managed('m', 4), deployment('s'));
  const uses = (fields: Record<string, unknown>) => chatRequestFeatures({ messages: [{ role: 'user', content: 'hi' }], ...fields });

  it.each([
    ['tools', { tools: [{ type: 'function', function: { name: 'f' } }] }, 'tools (tools)'],
    ['structured output', { response_format: { type: 'json_object' } }, 'structured-output (response_format)'],
    ['several choices', { n: 2 }, 'multiple-choices (n)'],
    ['logprobs', { logprobs: true }, 'logprobs (logprobs)'],
    ['stop', { stop: ['END'] }, 'stop (stop)'],
    ['seed', { seed: 1 }, 'seed (seed)'],
    [
      'an image',
      { messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }] },
      'vision (messages.0.content)',
    ],
  ])('plans a request using %s past an aml-score deployment, saying why', (_name, fields, missing) => {
    const decision = select({ route: spillover('m', 's'), deployments, features: uses(fields) });
    expect(ids(decision.candidates)).toEqual(['s']);
    expect(decision.considered).toEqual([
      { deployment: 'm', taken: false, reason: `does not honour ${missing}` },
      { deployment: 's', taken: true, reason: 'first available in order' },
    ]);
    expect(decision.unsupported).toBeUndefined();
  });

  it('keeps every target for a plain request', () => {
    expect(ids(select({ route: spillover('m', 's'), deployments, features: uses({ temperature: 0 }) }).candidates)).toEqual(['m', 's']);
  });

  it.each([
    ['reasoning_effort', { reasoning_effort: 'high' }, 'reasoning'],
    ['tools', { tools: [{ type: 'function', function: { name: 'f' } }] }, 'tools'],
  ])('names the field when no deployment honours it (%s)', (param, fields, feature) => {
    const decision = select({ route: spillover('m'), deployments, features: uses(fields) });
    expect(decision.candidates).toEqual([]);
    expect(decision.unsupported).toEqual({ feature, param });
  });

  it('refuses reasoning on the protocol default and takes a deployment that declares it', () => {
    const list = catalog(deployment('plain'), deployment('thinker', { features: ['reasoning'] }));
    const features = uses({ reasoning_effort: 'low' });
    expect(select({ route: spillover('plain'), deployments: list, features }).unsupported).toEqual({
      feature: 'reasoning',
      param: 'reasoning_effort',
    });
    expect(ids(select({ route: spillover('plain', 'thinker'), deployments: list, features }).candidates)).toEqual(['thinker']);
  });

  it('honours what a managed deployment speaking openai (vLLM) declares, and only that', () => {
    const vllm = deploymentSchema.parse({
      id: 'vllm',
      kind: 'managed',
      protocol: 'openai',
      endpoint: 'https://vllm.eastus2.inference.ml.azure.com/v1',
      upstreamModel: 'llama',
      auth: { type: 'entra', scope: 'https://ml.azure.com/.default' },
      pricing: { hourlyUsd: 3.673, instances: 1 },
      features: ['tools', 'structured-output'],
    });
    const list = catalog(vllm, deployment('s'));
    expect(ids(select({ route: spillover('vllm', 's'), deployments: list, features: uses({ tools: [{}] }) }).candidates)).toEqual([
      'vllm',
      's',
    ]);
    expect(ids(select({ route: spillover('vllm', 's'), deployments: list, features: uses({ n: 2 }) }).candidates)).toEqual(['s']);
  });

  it('lets an aml-score deployment that declares a feature take it', () => {
    const list = catalog(deployment('s'), managed('m', 4));
    const declared = new Map([...list, ['m', { ...list.get('m')!, features: ['stop' as const] }]]);
    expect(ids(select({ route: spillover('m', 's'), deployments: declared, features: uses({ stop: 'x' }) }).candidates)).toEqual([
      'm',
      's',
    ]);
  });

  it('names the first feature no deployment honours, else the first the first deployment lacks', () => {
    const list = catalog(deployment('t', { features: ['tools'] }), deployment('v', { features: ['vision'] }));
    const both = uses({ tools: [{}], messages: [{ role: 'user', content: [{ type: 'image_url' }] }] });
    expect(select({ route: spillover('t', 'v'), deployments: list, features: both }).unsupported).toEqual({
      feature: 'vision',
      param: 'messages.0.content',
    });
    const unknown = uses({ tools: [{}], n: 2 });
    expect(select({ route: spillover('t', 'v'), deployments: list, features: unknown }).unsupported).toEqual({
      feature: 'multiple-choices',
      param: 'n',
    });
    const split = uses({ tools: [{}], messages: [{ role: 'user', content: [{ type: 'image_url' }] }] });
    const both2 = catalog(deployment('t', { features: ['tools'] }), deployment('v', { features: ['vision', 'tools'] }));
    expect(ids(select({ route: spillover('t', 'v'), deployments: both2, features: split }).candidates)).toEqual(['v']);
  });

  it('does not call a feature unsupported when a deployment that honours it is only saturated, disabled ones aside', () => {
    const health: HealthView = { inFlight: (id) => (id === 'busy' ? 1 : 0), coolingUntilMs: () => 0 };
    const list = catalog(managed('m', 4), deployment('busy', { capacity: { maxConcurrent: 1 } }), deployment('off', { enabled: false }));
    const decision = select({ route: spillover('m', 'off', 'busy'), deployments: list, health, features: uses({ tools: [{}] }) });
    expect(decision.candidates).toEqual([]);
    expect(decision.unsupported).toBeUndefined();
    expect(decision.saturated).toEqual(['busy']);

    const onlyDisabled = select({ route: spillover('m', 'off'), deployments: list, features: uses({ tools: [{}] }) });
    expect(onlyDisabled.unsupported).toEqual({ feature: 'tools', param: 'tools' });
  });

  it('checks a rule before features: a deployment the team may not use never makes a request unsupported', () => {
    const r = route({ targets: [{ deployment: 'm' }, { deployment: 's' }], rules: [{ when: { teams: ['search'] }, only: ['m'] }] });
    const decision = select({ route: r, deployments, features: uses({ tools: [{}] }) });
    expect(decision.considered[1]).toEqual({ deployment: 's', taken: false, reason: 'excluded by a rule for this team' });
    expect(decision.unsupported).toEqual({ feature: 'tools', param: 'tools' });
  });
});

describe('featuresOf', () => {
  it.each([
    ['openai', ['tools', 'structured-output', 'vision', 'logprobs', 'multiple-choices', 'stop', 'seed']],
    ['azure-openai', ['tools', 'structured-output', 'vision', 'logprobs', 'multiple-choices', 'stop', 'seed']],
    ['aml-score', []],
  ] as const)('defaults a %s deployment to its protocol room', (protocol, expected) => {
    expect(featuresOf({ ...deployment('d'), protocol })).toEqual(expected);
  });

  it('takes the declared list instead of the default, even an empty one', () => {
    expect(featuresOf(deployment('d', { features: ['reasoning', 'responses'] }))).toEqual(['reasoning', 'responses']);
    expect(featuresOf(deployment('d', { features: [] }))).toEqual([]);
  });
});
