/** When a deployment's breaker opens and how long it stays open. */
export interface BreakerSettings {
  /** Opens after this many failures in a row. */
  consecutiveFailures: number;
  /** Opens when at least this share of the attempts in the window failed… */
  errorRate: number;
  /** …and the window holds at least this many attempts. */
  minAttempts: number;
  windowMs: number;
  /** The first open period; each reopening without a close in between doubles it, up to maxOpenMs. */
  openMs: number;
  maxOpenMs: number;
}

export const DEFAULT_BREAKER_SETTINGS: BreakerSettings = {
  consecutiveFailures: 5,
  errorRate: 0.5,
  minAttempts: 20,
  windowMs: 60_000,
  openMs: 30_000,
  maxOpenMs: 300_000,
};

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface BreakerStatus {
  state: BreakerState;
  /** Until the open period ends (0 unless open). */
  remainingMs: number;
  /** Why it opened, e.g. "5 consecutive failures"; empty while closed. */
  reason: string;
  /** Half-open: whether the one probe allowed at a time is running. */
  probing: boolean;
  /** Counts this breaker's own openings, so another instance adopts each one once. */
  episode: number;
  /** Whether the opening was another instance's, adopted here (never adopted again from here). */
  adopted: boolean;
}

/** The window is kept as a few buckets, so counting it never walks one entry per attempt. */
const WINDOW_BUCKETS = 6;

interface Bucket {
  index: number;
  attempts: number;
  failures: number;
}

/**
 * One deployment's circuit breaker, on an injected clock. Closed, it counts outcomes; open, it admits nothing
 * until its period ends; then half-open, it admits one probe at a time: a success closes it, a failure reopens
 * it for longer. Unlike a cool-down (the wait an upstream asked for, or a short backoff), an open breaker takes
 * the deployment out of routing altogether.
 */
export class CircuitBreaker {
  readonly #settings: BreakerSettings;
  #openUntilMs: number | undefined;
  #opens = 0;
  #consecutive = 0;
  #reason = '';
  #probing = false;
  #buckets: Bucket[] = [];
  #episode = 0;
  #adopted = false;

  constructor(settings: BreakerSettings) {
    this.#settings = settings;
  }

  status(nowMs: number): BreakerStatus {
    const episode = { episode: this.#episode, adopted: this.#adopted };
    if (this.#openUntilMs === undefined) return { state: 'closed', remainingMs: 0, reason: '', probing: false, ...episode };
    const remainingMs = Math.max(0, this.#openUntilMs - nowMs);
    if (remainingMs > 0) return { state: 'open', remainingMs, reason: this.#reason, probing: false, ...episode };
    return { state: 'half-open', remainingMs: 0, reason: this.#reason, probing: this.#probing, ...episode };
  }

  /**
   * Takes on an opening another instance found, while this breaker is closed: open until `untilMs` (this
   * instance's clock), then half-open with its own single probe, as if it had opened here.
   */
  adopt(untilMs: number, reason: string): void {
    if (this.#openUntilMs !== undefined) return;
    this.#openUntilMs = untilMs;
    this.#reason = reason;
    this.#probing = false;
    this.#adopted = true;
    this.#consecutive = 0;
    this.#buckets = [];
  }

  /** Whether an attempt may start now: 'closed', 'probe' (the half-open probe, now claimed) or undefined. */
  admit(nowMs: number): 'closed' | 'probe' | undefined {
    const { state, probing } = this.status(nowMs);
    if (state === 'closed') return 'closed';
    if (state === 'open' || probing) return undefined;
    this.#probing = true;
    return 'probe';
  }

  /** A probe that ended without a verdict (the caller left, or the request was the caller's to fix). */
  endProbe(): void {
    this.#probing = false;
  }

  succeeded(nowMs: number): void {
    this.#count(nowMs, false);
    this.#consecutive = 0;
    if (this.#openUntilMs !== undefined && this.status(nowMs).state === 'half-open') {
      this.#openUntilMs = undefined;
      this.#opens = 0;
      this.#reason = '';
      this.#probing = false;
      this.#adopted = false;
      this.#buckets = [];
    }
  }

  failed(nowMs: number): void {
    const { state } = this.status(nowMs);
    if (state === 'half-open') {
      this.#open(nowMs, 'half-open probe failed');
      return;
    }
    // An attempt that was admitted before the breaker opened changes nothing once it is open.
    if (state === 'open') return;
    this.#count(nowMs, true);
    this.#consecutive += 1;
    const { attempts, failures } = this.#window(nowMs);
    const { consecutiveFailures, errorRate, minAttempts, windowMs } = this.#settings;
    if (this.#consecutive >= consecutiveFailures) this.#open(nowMs, `${this.#consecutive} consecutive failures`);
    else if (attempts >= minAttempts && failures >= errorRate * attempts) {
      this.#open(nowMs, `${failures} of ${attempts} attempts failed in ${Math.round(windowMs / 1000)} s`);
    }
  }

  #open(nowMs: number, reason: string): void {
    const { openMs, maxOpenMs } = this.#settings;
    this.#openUntilMs = nowMs + Math.min(maxOpenMs, openMs * 2 ** this.#opens);
    this.#opens += 1;
    this.#episode += 1;
    this.#adopted = false;
    this.#reason = reason;
    this.#probing = false;
    this.#consecutive = 0;
    this.#buckets = [];
  }

  #count(nowMs: number, failure: boolean): void {
    const index = Math.floor(nowMs / (this.#settings.windowMs / WINDOW_BUCKETS));
    let bucket = this.#buckets.at(-1);
    if (bucket?.index !== index) {
      bucket = { index, attempts: 0, failures: 0 };
      this.#buckets.push(bucket);
    }
    bucket.attempts += 1;
    if (failure) bucket.failures += 1;
  }

  #window(nowMs: number): { attempts: number; failures: number } {
    const oldest = Math.floor(nowMs / (this.#settings.windowMs / WINDOW_BUCKETS)) - WINDOW_BUCKETS + 1;
    this.#buckets = this.#buckets.filter((b) => b.index >= oldest);
    return this.#buckets.reduce((sum, b) => ({ attempts: sum.attempts + b.attempts, failures: sum.failures + b.failures }), {
      attempts: 0,
      failures: 0,
    });
  }
}
