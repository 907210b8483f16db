import type { TeamBudget, TeamLimits } from '../catalog/schemas.js';
import type { Logger } from '../log.js';
import { budgetLimitMicroUsd, marksDue, type BudgetMark } from './budget-crossings.js';
import type { BudgetState, QuotaStore } from './quota-store.js';
import type { WindowUse } from './rate-limit-headers.js';

/** 1 %: a crash costs a team at most that much of a month's budget, and a minute's limit is sliced into a hundred leases. */
export const QUOTA_SLICE_FRACTION = 0.01;
/** Spend settled on a slice reaches the store (and GET /usage/budgets on other instances) within this. */
export const QUOTA_FLUSH_MS = 1_000;
/** A point write takes milliseconds; a store this slow is treated as down (fail closed) for the requests waiting. */
export const QUOTA_STORE_WAIT_MS = 5_000;

export interface QuotaLeaseOptions {
  /**
   * Share of a month's budget, and of a minute's rpm and tpm, one instance may lease at a time. It bounds what a lease
   * can cost: a crashed instance's unspent slice is swept into spent, and leases idle on other instances can refuse a
   * request at most this share per instance early. A limit too small to slice (under two requests' worth) is held
   * request by request in the store, exactly.
   */
  sliceFraction: number;
  /** How often settled spend is written to the store and slices idle since the last tick are given back. */
  flushMs: number;
  /** A hold is written at least this often while held, so no sweep takes a live instance's slice as orphaned. */
  touchMs: number;
  /**
   * Longest a request waits for the store to grant a lease or a reservation; past it the request fails (the caller
   * gets 503), while the store call itself goes on and its outcome is kept (or given back), so nothing leaks.
   */
  storeWaitMs: number;
  now: () => number;
  log: Logger;
}

/**
 * How much a request needs, two ways: `atMost`, cheap and never below the truth, which a lease hands out; and the
 * exact amount, worked out (once) only when the request is held in the store by itself, near a limit.
 */
export interface Need {
  readonly atMost: number;
  exactly(): number;
}

/** A request's worst case held against its team's month; settled once, at what it really cost. */
export interface BudgetHold {
  settle(costMicroUsd: number): void;
}

/** A request counted in its team's rate window: what the window has used as this instance knows it, and how it ends. */
export interface RateHold {
  readonly used: WindowUse;
  /** Corrects the tokens taken at admission to what the request used. */
  settle(usedTokens: number): void;
  /** Gives the request and its tokens back (it was refused by another check). */
  giveBack(): void;
}

interface BudgetSlice {
  readonly team: string;
  readonly month: string;
  /** The latest budget seen for the team: its marks are checked against it. */
  budget: TeamBudget;
  /** Reserved in the store for this instance's slice. */
  held: number;
  /** Worst cases of requests admitted on the slice and not yet settled. */
  inFlight: number;
  /** Cost of requests settled on the slice and not yet moved to spent in the store. */
  settledOnSlice: number;
  /** Cost of requests that held nothing (a soft budget), not yet added to spent. */
  unheldSpend: number;
  /** The limit at which the store refused a slice: from then on this month is reserved request by request. */
  tightAtLimit?: number;
  growing?: Promise<void>;
  lastAdmitMs: number;
  lastWriteMs: number;
}

interface RateLease {
  readonly team: string;
  readonly window: string;
  /** What the store reported the window had used after this instance's latest take. */
  usedInStore: WindowUse;
  /** Requests and tokens leased to this instance and not yet handed to a request (Infinity when the team has no such limit). */
  leftRequests: number;
  leftTokens: number;
  /** The store refused a lease in this window: the rest of it is taken request by request. */
  tight: boolean;
  growing?: Promise<void>;
}

/**
 * Budgets and rate limits without a store round trip per request. Each instance leases a slice of a team's month and
 * of its minute's window from the store (one atomic, conditioned patch, so the slices of all instances together never
 * pass the limit) and admits requests against it locally; settled spend is written every `flushMs`, a slice idle for a
 * tick is given back, and a window's lease ends with its minute. Near a limit, or for limits too small to slice, every
 * request is reserved and settled in the store as it comes, so what is admitted stays exact there.
 */
export class QuotaLeases {
  readonly #slices = new Map<string, BudgetSlice>();
  readonly #leases = new Map<string, RateLease>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #flushing: Promise<void> | undefined;

  constructor(
    private readonly store: QuotaStore,
    private readonly options: QuotaLeaseOptions,
  ) {}

  start(): void {
    this.#timer = setInterval(() => void this.flush(), this.options.flushMs);
    this.#timer.unref();
  }

  /** Holds a request's worst-case cost (micro-dollars) in the team's month; undefined when the budget cannot fit it (refused). */
  async reserve(team: string, month: string, budget: TeamBudget, cost: Need): Promise<BudgetHold | undefined> {
    const limit = budgetLimitMicroUsd(budget);
    const slice = this.#slice(team, month, budget);
    const sliceSize = Math.floor(limit * this.options.sliceFraction);
    const amount = cost.atMost;
    for (;;) {
      if (slice.held - slice.inFlight - slice.settledOnSlice >= amount) {
        slice.inFlight += amount;
        slice.lastAdmitMs = this.options.now();
        return this.#sliceHold(slice, amount);
      }
      if (slice.growing) {
        await this.#waitForStore(slice.growing);
        continue;
      }
      if (sliceSize < 2 * amount || slice.tightAtLimit === limit) return this.#reserveExactly(slice, cost.exactly(), limit);
      slice.growing = this.#grow(slice, sliceSize, limit).finally(() => {
        slice.growing = undefined;
      });
    }
  }

  /** Adds a request's cost to a month it held nothing in (a soft budget): written with the next flush. */
  spend(team: string, month: string, budget: TeamBudget, costMicroUsd: number): void {
    if (costMicroUsd > 0) this.#slice(team, month, budget).unheldSpend += costMicroUsd;
  }

  /** Counts one request and its worst-case tokens in the team's window when they fit the limits; `taken: false` with the window's use when not. */
  async take(
    team: string,
    window: string,
    need: Need,
    limits: TeamLimits,
  ): Promise<{ taken: true; hold: RateHold } | { taken: false; used: WindowUse }> {
    const lease = this.#lease(team, window);
    const leaseRequests = limits.rpm === undefined ? 0 : Math.floor(limits.rpm * this.options.sliceFraction);
    const leaseTokens = limits.tpm === undefined ? 0 : Math.floor(limits.tpm * this.options.sliceFraction);
    const tokens = need.atMost;
    const sliceable = (limits.rpm === undefined || leaseRequests >= 2) && (limits.tpm === undefined || leaseTokens >= 2 * tokens);
    for (;;) {
      if (lease.leftRequests >= 1 && lease.leftTokens >= tokens) {
        lease.leftRequests -= 1;
        lease.leftTokens -= tokens;
        return { taken: true, hold: this.#leasedHold(lease, tokens) };
      }
      if (lease.growing) {
        await this.#waitForStore(lease.growing);
        continue;
      }
      if (!sliceable || lease.tight) return this.#takeExactly(lease, need.exactly(), limits);
      lease.growing = this.#lengthen(lease, leaseRequests, leaseTokens, limits).finally(() => {
        lease.growing = undefined;
      });
    }
  }

  /**
   * Writes settled spend, gives back slices idle since the last tick (all free slices with `giveBackAll`), touches the
   * holds that are due, and records the budget marks spend has reached. A failed write is kept for the next flush.
   */
  flush(giveBackAll = false): Promise<void> {
    const run = async () => {
      await this.#flushing;
      await Promise.all([...this.#slices.values()].map((slice) => this.#flushSlice(slice, giveBackAll)));
    };
    const flushing = run().finally(() => {
      if (this.#flushing === flushing) this.#flushing = undefined;
    });
    this.#flushing = flushing;
    return flushing;
  }

  /** Stops the timer, writes what is settled and gives every free slice back. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.flush(true);
  }

  #slice(team: string, month: string, budget: TeamBudget): BudgetSlice {
    const key = `${team}\u0000${month}`;
    let slice = this.#slices.get(key);
    if (!slice) {
      // A month that has ended keeps nothing: its slices were given back by the flushes since.
      for (const [k, s] of this.#slices) if (s.team === team && s.month !== month && isEmpty(s)) this.#slices.delete(k);
      slice = { team, month, budget, held: 0, inFlight: 0, settledOnSlice: 0, unheldSpend: 0, lastAdmitMs: 0, lastWriteMs: 0 };
      this.#slices.set(key, slice);
    }
    slice.budget = budget;
    return slice;
  }

  async #grow(slice: BudgetSlice, sliceSize: number, limit: number): Promise<void> {
    const now = this.options.now();
    const state = await this.store.reserve(slice.team, slice.month, sliceSize, limit, now);
    if (state) {
      slice.held += sliceSize;
      slice.lastWriteMs = now;
      return;
    }
    // Near the limit: what this instance leased and does not use goes back, so the requests that still fit are admitted.
    slice.tightAtLimit = limit;
    await this.#flushSlice(slice, true);
  }

  #sliceHold(slice: BudgetSlice, amount: number): BudgetHold {
    return {
      settle: endsOnce((cost: number) => {
        slice.inFlight -= amount;
        slice.settledOnSlice += cost;
      }),
    };
  }

  async #reserveExactly(slice: BudgetSlice, amount: number, limit: number): Promise<BudgetHold | undefined> {
    const reserving = this.store.reserve(slice.team, slice.month, amount, limit, this.options.now());
    // A reservation granted after its request gave up is released at once.
    const state = await this.#waitForStore(reserving, (late) => {
      if (late) void this.store.settle(slice.team, slice.month, amount, 0, this.options.now()).catch(() => undefined);
    });
    if (!state) return undefined;
    return {
      settle: endsOnce((cost: number) => {
        void this.store.settle(slice.team, slice.month, amount, cost, this.options.now()).then(
          (after) => this.#recordMarks(slice, after),
          // A settlement that fails leaves its hold in place: the budget stays safe, and the hold is swept once this
          // instance falls silent (see CosmosQuotaStore.sweep).
          (error: unknown) =>
            this.options.log.log('error', 'budget settlement failed', {
              team: slice.team,
              month: slice.month,
              reservedMicroUsd: amount,
              costMicroUsd: cost,
              error: String(error),
            }),
        );
      }),
    };
  }

  async #flushSlice(slice: BudgetSlice, giveBackFree: boolean): Promise<void> {
    const now = this.options.now();
    const settledOnSlice = slice.settledOnSlice;
    const unheldSpend = slice.unheldSpend;
    // A request that cost more than it reserved is spent in full; only what the slice holds beyond those in flight is released.
    const settledRelease = Math.min(settledOnSlice, slice.held - slice.inFlight);
    const free = slice.held - slice.inFlight - settledRelease;
    const idle = giveBackFree || (now - slice.lastAdmitMs >= this.options.flushMs && !slice.growing);
    const release = settledRelease + (idle && free > 0 ? free : 0);
    const touchDue = slice.held > 0 && now - slice.lastWriteMs >= this.options.touchMs;
    if (release === 0 && settledOnSlice === 0 && unheldSpend === 0 && !touchDue) return;
    slice.held -= release;
    slice.settledOnSlice -= settledOnSlice;
    slice.unheldSpend -= unheldSpend;
    try {
      const state = await this.store.settle(slice.team, slice.month, release, settledOnSlice + unheldSpend, now);
      slice.lastWriteMs = now;
      await this.#recordMarks(slice, state);
    } catch (error) {
      slice.held += release;
      slice.settledOnSlice += settledOnSlice;
      slice.unheldSpend += unheldSpend;
      this.options.log.log('warn', 'budget flush failed, will retry', { team: slice.team, month: slice.month, error: String(error) });
    }
  }

  async #recordMarks(slice: BudgetSlice, state: BudgetState): Promise<void> {
    for (const mark of marksDue(slice.budget, state.spentMicroUsd, new Set(Object.keys(state.marks) as BudgetMark[]))) {
      if (await this.store.mark(slice.team, slice.month, mark, new Date(this.options.now()).toISOString())) {
        this.options.log.log('warn', 'team budget mark reached', {
          team: slice.team,
          month: slice.month,
          mark,
          spentMicroUsd: state.spentMicroUsd,
        });
      }
    }
  }

  #lease(team: string, window: string): RateLease {
    let lease = this.#leases.get(team);
    // A new minute starts a new window: what was leased in the last one and not used ends with it.
    if (!lease || lease.window !== window) {
      lease = { team, window, usedInStore: { requests: 0, tokens: 0 }, leftRequests: 0, leftTokens: 0, tight: false };
      this.#leases.set(team, lease);
    }
    return lease;
  }

  async #lengthen(lease: RateLease, requests: number, tokens: number, limits: TeamLimits): Promise<void> {
    const taken = await this.store.take({ team: lease.team, window: lease.window, requests, tokens }, limits);
    if (taken.taken) {
      lease.usedInStore = taken.used;
      lease.leftRequests = limits.rpm === undefined ? Number.POSITIVE_INFINITY : lease.leftRequests + requests;
      lease.leftTokens = limits.tpm === undefined ? Number.POSITIVE_INFINITY : lease.leftTokens + tokens;
      return;
    }
    lease.tight = true;
    // The rest of this window goes request by request; what this instance leased and does not use is given back first.
    const giveBack = {
      requests: Number.isFinite(lease.leftRequests) ? -lease.leftRequests : 0,
      tokens: Number.isFinite(lease.leftTokens) ? -lease.leftTokens : 0,
    };
    lease.leftRequests = 0;
    lease.leftTokens = 0;
    if (giveBack.requests !== 0 || giveBack.tokens !== 0) await this.#adjust(lease, giveBack);
  }

  #leasedHold(lease: RateLease, tokens: number): RateHold {
    const finite = (left: number) => (Number.isFinite(left) ? left : 0);
    const used = {
      requests: lease.usedInStore.requests - finite(lease.leftRequests),
      tokens: lease.usedInStore.tokens - finite(lease.leftTokens),
    };
    const end = endsOnce((requests: number, unusedTokens: number) => {
      // A request that ends after its window has nothing to give back: the window is over.
      if (this.#leases.get(lease.team) !== lease) return;
      lease.leftRequests += requests;
      lease.leftTokens += unusedTokens;
    });
    return { used, settle: (usedTokens) => end(0, tokens - usedTokens), giveBack: () => end(1, tokens) };
  }

  async #takeExactly(
    lease: RateLease,
    tokens: number,
    limits: TeamLimits,
  ): Promise<{ taken: true; hold: RateHold } | { taken: false; used: WindowUse }> {
    const taking = this.store.take({ team: lease.team, window: lease.window, requests: 1, tokens }, limits);
    // A request counted after it gave up is given back at once.
    const outcome = await this.#waitForStore(taking, (late) => {
      if (late.taken) void this.#adjust(lease, { requests: -1, tokens: -tokens });
    });
    if (!outcome.taken) return { taken: false, used: outcome.used };
    const end = endsOnce((change: { requests: number; tokens: number }) => {
      if (change.requests !== 0 || change.tokens !== 0) void this.#adjust(lease, change);
    });
    return {
      taken: true,
      hold: {
        used: outcome.used,
        settle: (usedTokens) => end({ requests: 0, tokens: usedTokens - tokens }),
        giveBack: () => end({ requests: -1, tokens: -tokens }),
      },
    };
  }

  /** Waits for a store call at most storeWaitMs; `onLate` gets its outcome when it comes after the wait gave up. */
  #waitForStore<T>(call: Promise<T>, onLate?: (outcome: T) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let gaveUp = false;
      const timer = setTimeout(() => {
        gaveUp = true;
        reject(new Error(`the store did not answer a budget or rate-limit call within ${this.options.storeWaitMs} ms`));
      }, this.options.storeWaitMs);
      timer.unref();
      call.then(
        (outcome) => {
          clearTimeout(timer);
          if (gaveUp) onLate?.(outcome);
          else resolve(outcome);
        },
        (error: unknown) => {
          clearTimeout(timer);
          if (!gaveUp) reject(error);
        },
      );
    });
  }

  async #adjust(lease: RateLease, change: { requests: number; tokens: number }): Promise<void> {
    try {
      await this.store.adjust(lease, change);
    } catch (error) {
      this.options.log.log('warn', 'rate-limit correction failed', { team: lease.team, window: lease.window, error: String(error) });
    }
  }
}

/** A hold's ending, made to count once however often (and by whichever way) it is ended. */
function endsOnce<A extends unknown[]>(end: (...args: A) => void): (...args: A) => void {
  let ended = false;
  return (...args) => {
    if (ended) return;
    ended = true;
    end(...args);
  };
}

function isEmpty(slice: BudgetSlice): boolean {
  return slice.held === 0 && slice.inFlight === 0 && slice.settledOnSlice === 0 && slice.unheldSpend === 0;
}
