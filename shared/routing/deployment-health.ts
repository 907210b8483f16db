import type { Logger } from '../log.js';

/** What this instance knows of each deployment right now: requests in flight and cool-downs after failures. */
export interface HealthView {
  inFlight(deploymentId: string): number;
  coolingUntilMs(deploymentId: string): number;
  /** The decaying average of streamed answers' time to first token, in ms; undefined until one is measured (or absent). */
  timeToFirstTokenMs?(deploymentId: string): number | undefined;
}

interface Entry {
  inFlight: number;
  coolingUntilMs: number;
  consecutiveFailures: number;
  firstToken?: { averageMs: number; atMs: number };
}

/** After this long without a sample, an average counts half as much against a new one. */
export const FIRST_TOKEN_HALF_LIFE_MS = 60_000;
/** The least a new sample counts for, so that a burst of requests still moves the average. */
export const FIRST_TOKEN_MIN_WEIGHT = 0.2;

const BASE_COOLDOWN_MS = 1_000;
const MAX_BACKOFF_MS = 30_000;
/** The longest cool-down an upstream's Retry-After may impose (SWITCHYARD_MAX_COOLDOWN_MS). */
export const DEFAULT_MAX_COOLDOWN_MS = 300_000;

export interface DeploymentHealthOptions {
  /** Cap on a cool-down an upstream asks for (Retry-After), so a day's wait sidelines a deployment for minutes. */
  maxCooldownMs?: number;
  log?: Logger;
}

/** Per-instance deployment health; mutated by the gateway as attempts start and end. */
export class DeploymentHealth implements HealthView {
  private readonly entries = new Map<string, Entry>();

  private readonly maxCooldownMs: number;
  private readonly log: Logger | undefined;

  constructor(
    private readonly now: () => number,
    options: DeploymentHealthOptions = {},
  ) {
    this.maxCooldownMs = options.maxCooldownMs ?? DEFAULT_MAX_COOLDOWN_MS;
    this.log = options.log;
  }

  private entry(id: string): Entry {
    let entry = this.entries.get(id);
    if (!entry) {
      entry = { inFlight: 0, coolingUntilMs: 0, consecutiveFailures: 0 };
      this.entries.set(id, entry);
    }
    return entry;
  }

  inFlight(id: string): number {
    return this.entries.get(id)?.inFlight ?? 0;
  }

  coolingUntilMs(id: string): number {
    return this.entries.get(id)?.coolingUntilMs ?? 0;
  }

  timeToFirstTokenMs(id: string): number | undefined {
    return this.entries.get(id)?.firstToken?.averageMs;
  }

  /**
   * Folds in one answer's time to first token. The average decays with time: a sample after a long quiet
   * replaces most of a stale average, while samples in quick succession each count FIRST_TOKEN_MIN_WEIGHT.
   * Per instance for now: each instance averages the answers it relayed.
   */
  recordFirstToken(id: string, elapsedMs: number): void {
    const entry = this.entry(id);
    const nowMs = this.now();
    const previous = entry.firstToken;
    if (!previous) {
      entry.firstToken = { averageMs: elapsedMs, atMs: nowMs };
      return;
    }
    const sinceMs = Math.max(0, nowMs - previous.atMs);
    const weight = Math.max(FIRST_TOKEN_MIN_WEIGHT, 1 - 2 ** (-sinceMs / FIRST_TOKEN_HALF_LIFE_MS));
    entry.firstToken = { averageMs: previous.averageMs + weight * (elapsedMs - previous.averageMs), atMs: nowMs };
  }

  /** Counts an attempt in flight; the returned function ends it (idempotent). */
  begin(id: string): () => void {
    const entry = this.entry(id);
    entry.inFlight += 1;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      entry.inFlight -= 1;
    };
  }

  succeeded(id: string): void {
    const entry = this.entry(id);
    entry.consecutiveFailures = 0;
    entry.coolingUntilMs = 0;
  }

  /**
   * A failure cools the deployment down: as long as it asked (Retry-After) up to the cap, else backing off
   * exponentially. Returns the cool-down applied, in ms.
   */
  failed(id: string, retryAfterMs?: number): number {
    const entry = this.entry(id);
    entry.consecutiveFailures += 1;
    const backoff = Math.min(MAX_BACKOFF_MS, BASE_COOLDOWN_MS * 2 ** (entry.consecutiveFailures - 1));
    const appliedMs = retryAfterMs === undefined ? backoff : Math.min(this.maxCooldownMs, retryAfterMs);
    // Never silently: an upstream asking for longer than the cap is worth an operator's look.
    if (retryAfterMs !== undefined && retryAfterMs > appliedMs) {
      this.log?.log('warn', 'upstream Retry-After capped', { deployment: id, askedMs: retryAfterMs, appliedMs });
    }
    entry.coolingUntilMs = this.now() + appliedMs;
    return appliedMs;
  }
}
