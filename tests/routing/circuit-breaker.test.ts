import { describe, expect, it } from 'vitest';
import { CircuitBreaker, DEFAULT_BREAKER_SETTINGS } from '../../shared/routing/circuit-breaker.js';
import { DeploymentHealth } from '../../shared/routing/deployment-health.js';
import { selectTargets } from '../../shared/routing/select-targets.js';
import { deploymentSchema, routeSchema, teamSchema } from '../../shared/catalog/schemas.js';

const settings = { ...DEFAULT_BREAKER_SETTINGS, openMs: 30_000, maxOpenMs: 100_000 };

describe('CircuitBreaker', () => {
  it('opens after 5 consecutive failures, half-opens after the open period, and a successful probe closes it', () => {
    const breaker = new CircuitBreaker(settings);
    for (let i = 0; i < 4; i++) breaker.failed(1_000);
    expect(breaker.status(1_000).state).toBe('closed');
    breaker.failed(1_000);
    expect(breaker.status(1_000)).toEqual({
      state: 'open',
      remainingMs: 30_000,
      reason: '5 consecutive failures',
      probing: false,
      episode: 1,
      adopted: false,
    });
    expect(breaker.admit(30_999)).toBeUndefined();
    expect(breaker.status(31_000).state).toBe('half-open');
    // Exactly one probe at a time.
    expect(breaker.admit(31_000)).toBe('probe');
    expect(breaker.admit(31_000)).toBeUndefined();
    expect(breaker.status(31_000).probing).toBe(true);
    breaker.succeeded(31_500);
    expect(breaker.status(31_500).state).toBe('closed');
    expect(breaker.admit(31_500)).toBe('closed');
  });

  it('reopens for twice as long when the probe fails, up to the cap', () => {
    const breaker = new CircuitBreaker(settings);
    for (let i = 0; i < 5; i++) breaker.failed(0);
    let now = 30_000;
    const periods: number[] = [];
    for (let round = 0; round < 4; round++) {
      expect(breaker.admit(now)).toBe('probe');
      breaker.failed(now);
      expect(breaker.status(now).reason).toBe('half-open probe failed');
      periods.push(breaker.status(now).remainingMs);
      now += breaker.status(now).remainingMs;
    }
    expect(periods).toEqual([60_000, 100_000, 100_000, 100_000]);
  });

  it('a probe that ends without a verdict frees the probe for the next request', () => {
    const breaker = new CircuitBreaker(settings);
    for (let i = 0; i < 5; i++) breaker.failed(0);
    expect(breaker.admit(30_000)).toBe('probe');
    breaker.endProbe();
    expect(breaker.admit(30_000)).toBe('probe');
  });

  it('opens on an error rate of at least 50 % over at least 20 attempts in the window, without 5 in a row', () => {
    const breaker = new CircuitBreaker(settings);
    // Alternating failures and successes: never 5 in a row.
    for (let i = 0; i < 19; i++) {
      if (i % 2 === 0) breaker.failed(i * 100);
      else breaker.succeeded(i * 100);
    }
    expect(breaker.status(1_900).state).toBe('closed');
    breaker.succeeded(1_900); // 20 attempts, 10 failures, but a success cannot open it
    breaker.failed(2_000); // 21 attempts, 11 failures
    expect(breaker.status(2_000)).toMatchObject({ state: 'open', reason: '11 of 21 attempts failed in 60 s' });
  });

  it('forgets attempts older than the window', () => {
    const breaker = new CircuitBreaker(settings);
    for (let i = 0; i < 19; i++) {
      if (i % 2 === 0) breaker.failed(0);
      else breaker.succeeded(0);
    }
    breaker.failed(120_000);
    expect(breaker.status(120_000).state).toBe('closed');
  });
});

describe('a breaker opening shared across instances', () => {
  const flaky = { id: 'flaky' };
  /** What `from` publishes, as `to` reads it at `seenAtMs` on its own clock. */
  const share = (from: DeploymentHealth, to: DeploymentHealth, seenAtMs: number) =>
    to.setRemote('flaky', [{ instance: 'a', seenAtMs, entry: { ...from.ownEntry('flaky'), renewal: 1, slots: 0, want: 0 } }]);

  it('is adopted once by another instance: open for what remained, then its own single probe, and not passed back', () => {
    let aNow = 0;
    let bNow = 5_000_000; // clocks need not agree
    const a = new DeploymentHealth(() => aNow, { breaker: settings });
    const b = new DeploymentHealth(() => bNow, { breaker: settings });
    for (let i = 0; i < 5; i++) a.failed('flaky');
    aNow = 10_000;
    share(a, b, bNow);
    expect(b.breaker('flaky')).toMatchObject({ state: 'open', remainingMs: 20_000, reason: '5 consecutive failures on another instance' });
    expect(b.tryBegin(flaky)).toBeUndefined();
    // An adopted opening is not published again, so a cannot adopt it back from b.
    expect(b.ownEntry('flaky').breaker).toBeUndefined();

    bNow += 20_000;
    expect(b.breaker('flaky').state).toBe('half-open');
    const probe = b.tryBegin(flaky);
    expect(probe).toBeDefined();
    expect(b.tryBegin(flaky)).toBeUndefined(); // one probe at a time
    b.succeeded('flaky');
    probe!();
    expect(b.breaker('flaky').state).toBe('closed');
    // a still publishes the same opening (it has had no probe yet): b does not take it on again.
    share(a, b, bNow);
    expect(b.breaker('flaky').state).toBe('closed');

    // a's probe fails: a new opening, which b adopts.
    aNow = 30_000;
    expect(a.tryBegin(flaky)).toBeDefined();
    a.failed('flaky');
    share(a, b, bNow);
    expect(b.breaker('flaky')).toMatchObject({ state: 'open', remainingMs: 60_000, reason: 'half-open probe failed on another instance' });
  });
});

describe('DeploymentHealth: breaker and atomic admission', () => {
  const deployment = deploymentSchema.parse({
    id: 'flaky',
    kind: 'serverless',
    protocol: 'openai',
    endpoint: 'https://x.openai.azure.com',
    upstreamModel: 'm',
    auth: { type: 'none' },
    pricing: { inputPerMillionUsd: 1, outputPerMillionUsd: 1 },
  });
  const other = deploymentSchema.parse({ ...deployment, id: 'steady' });
  const route = routeSchema.parse({ alias: 'chat', targets: [{ deployment: 'flaky' }, { deployment: 'steady' }] });
  const team = teamSchema.parse({ id: 't', name: 'T', aliases: ['chat'] });
  const decide = (health: DeploymentHealth, nowMs: number) =>
    selectTargets({
      route,
      team,
      capability: 'chat',
      deployments: new Map([
        ['flaky', deployment],
        ['steady', other],
      ]),
      health,
      nowMs,
      random: () => 0,
    });

  it('takes an open deployment out of routing, explains it, and half-opens it for one probe', () => {
    let now = 0;
    const health = new DeploymentHealth(() => now, { breaker: settings });
    for (let i = 0; i < 5; i++) health.failed('flaky');
    now = 10_000;
    const open = decide(health, now);
    expect(open.candidates.map((d) => d.id)).toEqual(['steady']);
    expect(open.considered[0]).toEqual({ deployment: 'flaky', taken: false, reason: 'breaker open for 20000 ms (5 consecutive failures)' });
    expect(health.tryBegin(deployment)).toBeUndefined();

    now = 30_000;
    const halfOpen = decide(health, now);
    expect(halfOpen.considered[0]).toEqual({ deployment: 'flaky', taken: true, reason: 'breaker half-open: probe' });
    const probe = health.tryBegin(deployment);
    expect(probe).toBeDefined();
    expect(health.tryBegin(deployment)).toBeUndefined();
    expect(decide(health, now).considered[0]).toEqual({ deployment: 'flaky', taken: false, reason: 'breaker half-open: probe in flight' });
    health.succeeded('flaky');
    probe!();
    expect(health.breaker('flaky').state).toBe('closed');
    expect(decide(health, now).candidates.map((d) => d.id)).toEqual(['flaky', 'steady']);
  });

  it('a throttle (429) cools the deployment down but does not count against the breaker', () => {
    const health = new DeploymentHealth(() => 0, { breaker: settings });
    for (let i = 0; i < 10; i++) health.failed('flaky', 1_000, { throttled: true });
    expect(health.breaker('flaky').state).toBe('closed');
    expect(health.coolingUntilMs('flaky')).toBe(1_000);
    expect(health.report(deployment)).toMatchObject({
      state: 'cooling',
      cooldown: { remainingMs: 1_000, reason: 'throttled: Retry-After', askedMs: 1_000, appliedMs: 1_000 },
      requests: 10,
      errorRate: 1,
    });
  });

  it('holds capacity exactly under concurrent admission', async () => {
    const managed = { id: 'm', capacity: { maxConcurrent: 3 } };
    const health = new DeploymentHealth(() => 0);
    let admitted = 0;
    let peak = 0;
    await Promise.all(
      Array.from({ length: 20 }, async () => {
        const release = health.tryBegin(managed);
        if (!release) return;
        admitted += 1;
        peak = Math.max(peak, health.inFlight('m'));
        await new Promise((resolve) => setImmediate(resolve));
        release();
      }),
    );
    expect(peak).toBe(3);
    expect(admitted).toBe(3);
    expect(health.inFlight('m')).toBe(0);
  });
});
