import type { Deployment } from '../catalog/schemas.js';
import type { Logger } from '../log.js';
import { CircuitBreaker, DEFAULT_BREAKER_SETTINGS, type BreakerSettings, type BreakerStatus } from './circuit-breaker.js';
import { addSample, histogramQuantile, mergeHistograms, type LatencyHistogram, type LiveEntry, type RemoteEntry } from './live-state.js';

/** What routing reads of each deployment right now: in flight (every instance), cool-downs, breaker, latency. */
export interface HealthView {
  /** Requests in flight on every instance (this one only, when the state is not shared). */
  inFlight(deploymentId: string): number;
  coolingUntilMs(deploymentId: string): number;
  /** The decaying average of streamed answers' time to first token, in ms; undefined until one is measured (or absent). */
  timeToFirstTokenMs?(deploymentId: string): number | undefined;
  /** Whether this instance may start one more attempt on a deployment of this capacity (absent: inFlight below it). */
  hasRoom?(deploymentId: string, maxConcurrent: number): boolean;
  /** The deployment's breaker, on this instance or as another instance published it. */
  breaker?(deploymentId: string): BreakerStatus;
}

/** Why a deployment cools down, as the health view shows it. */
export interface Cooldown {
  reason: string;
  /** What the upstream asked for (Retry-After), when it did. */
  askedMs?: number;
  appliedMs: number;
}

/** A deployment's capacity lease on this instance, when capacity is shared across instances. */
interface Lease {
  slots: number;
  /** When the lease was last renewed in the store, on this instance's clock. */
  renewedAtMs: number;
  /** The most attempts wanted at once since the last sync, and whether one found no slot. */
  peakDemand: number;
  ranOut: boolean;
}

interface Window {
  startMs: number;
  requests: number;
  errors: number;
  ttft: LatencyHistogram;
}

interface Entry {
  inFlight: number;
  coolingUntilMs: number;
  cooldown?: Cooldown;
  consecutiveFailures: number;
  firstToken?: { averageMs: number; atMs: number; samples: number };
  breaker: CircuitBreaker;
  /** Which probe holds the half-open breaker, so a late release of an earlier one cannot end it. */
  probe: number;
  current: Window;
  previous?: Window;
  lease?: Lease;
  remote: RemoteEntry[];
  /** Other instances' breaker openings already taken on here (`instance#episode`). */
  adoptedEpisodes: Set<string>;
}

/** After this long without a sample, an average counts half as much against a new one. */
export const FIRST_TOKEN_HALF_LIFE_MS = 60_000;
/** The least a new sample counts for, so that a burst of requests still moves the average. */
export const FIRST_TOKEN_MIN_WEIGHT = 0.2;
/** Requests, errors and latencies are published over the last one to two of these. */
export const STATS_WINDOW_MS = 60_000;

const BASE_COOLDOWN_MS = 1_000;
const MAX_BACKOFF_MS = 30_000;
/** The longest cool-down an upstream's Retry-After may impose (SWITCHYARD_MAX_COOLDOWN_MS). */
export const DEFAULT_MAX_COOLDOWN_MS = 300_000;

export interface DeploymentHealthOptions {
  /** Cap on a cool-down an upstream asks for (Retry-After), so a day's wait sidelines a deployment for minutes. */
  maxCooldownMs?: number;
  breaker?: BreakerSettings;
  /**
   * Capacity shared across instances: admission needs a slot of this instance's lease (kept by LiveSync), and a
   * lease not renewed for half this long admits nothing. Absent, each instance admits up to maxConcurrent itself.
   */
  leaseTtlMs?: number;
  log?: Logger;
}

/** The health view of one deployment, as GET /manage/deployments/{id}/health shows it. */
export interface DeploymentHealthReport {
  deployment: string;
  state: 'ok' | 'cooling' | 'open' | 'half-open' | 'draining' | 'disabled';
  inFlight: number;
  capacity: number | null;
  /** Capacity slots held by each instance (this one as `self`), when capacity is shared. */
  slots: Record<string, number>;
  instances: number;
  ttftMs: { p50: number | null; p95: number | null };
  errorRate: number | null;
  requests: number;
  breaker: { state: BreakerStatus['state']; reason: string; remainingMs: number };
  cooldown: { remainingMs: number; reason: string; askedMs: number | null; appliedMs: number } | null;
}

/**
 * Deployment health: this instance's attempts, cool-downs, breakers and latencies, merged with what other
 * instances published (LiveSync). Mutated by the gateway as attempts start and end.
 */
export class DeploymentHealth implements HealthView {
  private readonly entries = new Map<string, Entry>();

  private readonly maxCooldownMs: number;
  private readonly breakerSettings: BreakerSettings;
  private readonly leaseTtlMs: number | undefined;
  private readonly log: Logger | undefined;
  private staleLeaseLogged = false;

  constructor(
    private readonly now: () => number,
    options: DeploymentHealthOptions = {},
  ) {
    this.maxCooldownMs = options.maxCooldownMs ?? DEFAULT_MAX_COOLDOWN_MS;
    this.breakerSettings = options.breaker ?? { ...DEFAULT_BREAKER_SETTINGS, maxOpenMs: this.maxCooldownMs };
    this.leaseTtlMs = options.leaseTtlMs;
    this.log = options.log;
  }

  private entry(id: string): Entry {
    let entry = this.entries.get(id);
    if (!entry) {
      entry = {
        inFlight: 0,
        coolingUntilMs: 0,
        consecutiveFailures: 0,
        breaker: new CircuitBreaker(this.breakerSettings),
        probe: 0,
        current: emptyWindow(this.now()),
        remote: [],
        adoptedEpisodes: new Set(),
      };
      this.entries.set(id, entry);
    }
    return entry;
  }

  inFlight(id: string): number {
    const entry = this.entries.get(id);
    if (!entry) return 0;
    return entry.inFlight + entry.remote.reduce((sum, r) => sum + r.entry.inFlight, 0);
  }

  /** Attempts in flight on this instance only. */
  localInFlight(id: string): number {
    return this.entries.get(id)?.inFlight ?? 0;
  }

  coolingUntilMs(id: string): number {
    const entry = this.entries.get(id);
    if (!entry) return 0;
    return Math.max(entry.coolingUntilMs, ...entry.remote.map((r) => (r.entry.cooling ? r.seenAtMs + r.entry.cooling.remainingMs : 0)));
  }

  timeToFirstTokenMs(id: string): number | undefined {
    const entry = this.entries.get(id);
    if (!entry) return undefined;
    // Each instance's average, weighted by how many answers it measured.
    let weighted = 0;
    let samples = 0;
    if (entry.firstToken) {
      weighted += entry.firstToken.averageMs * entry.firstToken.samples;
      samples += entry.firstToken.samples;
    }
    for (const { entry: remote } of entry.remote) {
      const count = Object.values(remote.ttft).reduce((sum, n) => sum + n, 0);
      if (remote.ttftAvgMs === undefined || count === 0) continue;
      weighted += remote.ttftAvgMs * count;
      samples += count;
    }
    return samples === 0 ? undefined : weighted / samples;
  }

  hasRoom(id: string, maxConcurrent: number): boolean {
    const local = this.localInFlight(id);
    if (this.leaseTtlMs === undefined) return local < maxConcurrent;
    const lease = this.entries.get(id)?.lease;
    if (!lease) return false;
    // A lease this instance could not renew may already be counted as free by the others: admit nothing on it.
    if (this.now() - lease.renewedAtMs > this.leaseTtlMs / 2) {
      if (!this.staleLeaseLogged)
        this.log?.log('warn', 'capacity lease not renewed: spilling until the live state syncs', { deployment: id });
      this.staleLeaseLogged = true;
      return false;
    }
    return local < Math.min(lease.slots, maxConcurrent);
  }

  breaker(id: string): BreakerStatus {
    return this.entry(id).breaker.status(this.now());
  }

  /**
   * Folds in one answer's time to first token. The average decays with time: a sample after a long quiet
   * replaces most of a stale average, while samples in quick succession each count FIRST_TOKEN_MIN_WEIGHT.
   */
  recordFirstToken(id: string, elapsedMs: number): void {
    const entry = this.entry(id);
    const nowMs = this.now();
    addSample(this.window(entry).ttft, elapsedMs);
    const previous = entry.firstToken;
    if (!previous) {
      entry.firstToken = { averageMs: elapsedMs, atMs: nowMs, samples: 1 };
      return;
    }
    const sinceMs = Math.max(0, nowMs - previous.atMs);
    const weight = Math.max(FIRST_TOKEN_MIN_WEIGHT, 1 - 2 ** (-sinceMs / FIRST_TOKEN_HALF_LIFE_MS));
    entry.firstToken = {
      averageMs: previous.averageMs + weight * (elapsedMs - previous.averageMs),
      atMs: nowMs,
      samples: previous.samples + 1,
    };
  }

  /**
   * Starts an attempt if the deployment may take one now: its breaker admits it (half-open: as the one probe)
   * and, with a capacity, this instance has a free slot. Check and count are one step, so concurrent requests
   * cannot all pass the check. Returns the function that ends the attempt (idempotent), or undefined.
   */
  tryBegin(deployment: Pick<Deployment, 'id' | 'capacity'>): (() => void) | undefined {
    const entry = this.entry(deployment.id);
    if (deployment.capacity) {
      if (entry.lease) entry.lease.peakDemand = Math.max(entry.lease.peakDemand, entry.inFlight + 1);
      if (!this.hasRoom(deployment.id, deployment.capacity.maxConcurrent)) {
        if (entry.lease) entry.lease.ranOut = true;
        return undefined;
      }
    }
    const admitted = entry.breaker.admit(this.now());
    if (!admitted) return undefined;
    const probe = admitted === 'probe' ? ++entry.probe : undefined;
    entry.inFlight += 1;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      entry.inFlight -= 1;
      if (probe !== undefined && probe === entry.probe) entry.breaker.endProbe();
    };
  }

  succeeded(id: string): void {
    const entry = this.entry(id);
    entry.consecutiveFailures = 0;
    entry.coolingUntilMs = 0;
    entry.cooldown = undefined;
    entry.breaker.succeeded(this.now());
    this.window(entry).requests += 1;
  }

  /**
   * A failure cools the deployment down: as long as it asked (Retry-After) up to the cap, else backing off
   * exponentially. It counts against the breaker unless `throttled` (a 429 is the model's capacity, which the
   * cool-down handles, not a fault). Returns the cool-down applied, in ms.
   */
  failed(id: string, retryAfterMs?: number, options: { throttled?: boolean } = {}): number {
    const entry = this.entry(id);
    const nowMs = this.now();
    entry.consecutiveFailures += 1;
    const backoff = Math.min(MAX_BACKOFF_MS, BASE_COOLDOWN_MS * 2 ** (entry.consecutiveFailures - 1));
    const appliedMs = retryAfterMs === undefined ? backoff : Math.min(this.maxCooldownMs, retryAfterMs);
    // Never silently: an upstream asking for longer than the cap is worth an operator's look.
    if (retryAfterMs !== undefined && retryAfterMs > appliedMs) {
      this.log?.log('warn', 'upstream Retry-After capped', { deployment: id, askedMs: retryAfterMs, appliedMs });
    }
    entry.coolingUntilMs = nowMs + appliedMs;
    entry.cooldown =
      retryAfterMs === undefined
        ? { reason: `backoff after ${entry.consecutiveFailures} failure${entry.consecutiveFailures === 1 ? '' : 's'}`, appliedMs }
        : { reason: options.throttled ? 'throttled: Retry-After' : 'Retry-After', askedMs: retryAfterMs, appliedMs };
    if (!options.throttled) entry.breaker.failed(nowMs);
    const window = this.window(entry);
    window.requests += 1;
    window.errors += 1;
    return appliedMs;
  }

  /** What this instance publishes about a deployment now (LiveSync adds the renewal counter and the slots). */
  ownEntry(id: string): Omit<LiveEntry, 'renewal' | 'slots' | 'want'> {
    const entry = this.entry(id);
    const nowMs = this.now();
    const window = this.window(entry);
    const stats = entry.previous ? mergeWindows(entry.previous, window) : window;
    const published: Omit<LiveEntry, 'renewal' | 'slots' | 'want'> = {
      inFlight: entry.inFlight,
      ttft: stats.ttft,
      requests: stats.requests,
      errors: stats.errors,
    };
    if (entry.coolingUntilMs > nowMs && entry.cooldown)
      published.cooling = { ...entry.cooldown, remainingMs: entry.coolingUntilMs - nowMs };
    const breaker = entry.breaker.status(nowMs);
    if (breaker.state !== 'closed' && !breaker.adopted) {
      published.breaker = { state: breaker.state, remainingMs: breaker.remainingMs, reason: breaker.reason, episode: breaker.episode };
    }
    if (entry.firstToken) published.ttftAvgMs = Math.round(entry.firstToken.averageMs);
    return published;
  }

  /** The instance's lease on a deployment, as LiveSync last set it; undefined before its first sync. */
  lease(id: string): { slots: number; renewedAtMs: number } | undefined {
    const lease = this.entries.get(id)?.lease;
    return lease && { slots: lease.slots, renewedAtMs: lease.renewedAtMs };
  }

  /**
   * How many slots this instance could use: its peak in flight since the last sync, or all of the capacity
   * when a request found no slot. Reading it starts the next period.
   */
  takeWant(id: string, maxConcurrent: number): number {
    const entry = this.entry(id);
    const lease = leaseOf(entry);
    const want = lease.ranOut ? maxConcurrent : Math.max(lease.peakDemand, entry.inFlight);
    lease.peakDemand = entry.inFlight;
    lease.ranOut = false;
    return Math.min(want, maxConcurrent);
  }

  /** A request found the deployment full here: with shared capacity, this instance asks for more slots at its next sync. */
  noteSaturated(id: string): void {
    const lease = this.entries.get(id)?.lease;
    if (lease) lease.ranOut = true;
  }

  /** Sets the lease: `renewed` when the store holds these slots now; a lowered lease applies at once either way. */
  setSlots(id: string, slots: number, renewed: boolean): void {
    const entry = this.entry(id);
    const lease = leaseOf(entry);
    if (renewed) {
      lease.slots = slots;
      lease.renewedAtMs = this.now();
      this.staleLeaseLogged = false;
    } else lease.slots = Math.min(lease.slots, slots);
  }

  /**
   * What the other live instances last published about a deployment. An opening another instance found is
   * adopted once (each instance's episode): open here for what remains of it, then half-open with this
   * instance's own single probe, so no instance sends full traffic to a deployment another just found failing.
   */
  setRemote(id: string, remote: RemoteEntry[]): void {
    const entry = this.entry(id);
    entry.remote = remote;
    const seen = new Set<string>();
    for (const { instance, entry: other, seenAtMs } of remote) {
      if (!other.breaker) continue;
      const episode = `${instance}#${other.breaker.episode}`;
      seen.add(episode);
      if (entry.adoptedEpisodes.has(episode)) continue;
      entry.adoptedEpisodes.add(episode);
      entry.breaker.adopt(seenAtMs + other.breaker.remainingMs, `${other.breaker.reason} on another instance`);
    }
    // Episodes no longer published are over: forgetting them keeps the set small.
    for (const episode of entry.adoptedEpisodes) if (!seen.has(episode)) entry.adoptedEpisodes.delete(episode);
  }

  /** The deployment's health across instances, for the management view. */
  report(deployment: Deployment): DeploymentHealthReport {
    const entry = this.entry(deployment.id);
    const nowMs = this.now();
    const own = this.ownEntry(deployment.id);
    const remote = entry.remote.map((r) => r.entry);
    const ttft = mergeHistograms(own.ttft, ...remote.map((r) => r.ttft));
    const requests = own.requests + remote.reduce((sum, r) => sum + r.requests, 0);
    const errorCount = own.errors + remote.reduce((sum, r) => sum + r.errors, 0);
    const inFlight = this.inFlight(deployment.id);
    const breaker = this.breaker(deployment.id);
    const coolingUntilMs = this.coolingUntilMs(deployment.id);
    const slots: Record<string, number> = {};
    if (entry.lease) slots.self = entry.lease.slots;
    for (const r of entry.remote) if (deployment.capacity) slots[r.instance] = r.entry.slots;
    return {
      deployment: deployment.id,
      state: !deployment.enabled
        ? inFlight > 0
          ? 'draining'
          : 'disabled'
        : breaker.state !== 'closed'
          ? breaker.state
          : coolingUntilMs > nowMs
            ? 'cooling'
            : 'ok',
      inFlight,
      capacity: deployment.capacity?.maxConcurrent ?? null,
      slots,
      instances: 1 + entry.remote.length,
      ttftMs: { p50: histogramQuantile(ttft, 0.5) ?? null, p95: histogramQuantile(ttft, 0.95) ?? null },
      errorRate: requests === 0 ? null : errorCount / requests,
      requests,
      breaker: { state: breaker.state, reason: breaker.reason, remainingMs: breaker.remainingMs },
      cooldown: coolingUntilMs > nowMs ? { remainingMs: coolingUntilMs - nowMs, ...this.cooldownOf(entry, coolingUntilMs) } : null,
    };
  }

  // The reason of whichever cool-down lasts longest: this instance's or one another published.
  private cooldownOf(entry: Entry, untilMs: number): { reason: string; askedMs: number | null; appliedMs: number } {
    if (entry.coolingUntilMs === untilMs && entry.cooldown) {
      return { reason: entry.cooldown.reason, askedMs: entry.cooldown.askedMs ?? null, appliedMs: entry.cooldown.appliedMs };
    }
    const remote = entry.remote.find((r) => r.entry.cooling && r.seenAtMs + r.entry.cooling.remainingMs === untilMs)?.entry.cooling;
    return remote
      ? { reason: `${remote.reason} on another instance`, askedMs: remote.askedMs ?? null, appliedMs: remote.appliedMs }
      : { reason: 'unknown', askedMs: null, appliedMs: 0 };
  }

  // The current statistics window, turned over when STATS_WINDOW_MS has passed.
  private window(entry: Entry): Window {
    const nowMs = this.now();
    if (nowMs - entry.current.startMs >= STATS_WINDOW_MS) {
      entry.previous = nowMs - entry.current.startMs < 2 * STATS_WINDOW_MS ? entry.current : undefined;
      entry.current = emptyWindow(nowMs);
    }
    return entry.current;
  }
}

function leaseOf(entry: Entry): Lease {
  entry.lease ??= { slots: 0, renewedAtMs: Number.NEGATIVE_INFINITY, peakDemand: 0, ranOut: false };
  return entry.lease;
}

function emptyWindow(startMs: number): Window {
  return { startMs, requests: 0, errors: 0, ttft: {} };
}

function mergeWindows(a: Window, b: Window): Window {
  return { startMs: a.startMs, requests: a.requests + b.requests, errors: a.errors + b.errors, ttft: mergeHistograms(a.ttft, b.ttft) };
}
