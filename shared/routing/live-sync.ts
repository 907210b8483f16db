import type { Deployment } from '../catalog/schemas.js';
import type { Logger } from '../log.js';
import type { DeploymentHealth } from './deployment-health.js';
import { allocateSlots, nextSlots, type SlotClaim } from './live-allocation.js';
import type { LiveDoc, LiveEntry, LiveStore, RemoteEntry } from './live-state.js';

export interface LiveSyncOptions {
  /** This instance's id in the live documents. */
  instance: string;
  syncMs: number;
  /** An entry whose renewal counter stands still this long (on the reader's clock) has expired. */
  leaseTtlMs: number;
  now: () => number;
  log: Logger;
}

/** The longest a shutdown waits to give this instance's slots back. */
const STOP_TIMEOUT_MS = 2_000;

interface Published {
  key: string;
  atMs: number;
}

/**
 * Shares deployment health across instances through the store, off the hot path. Every `syncMs` it reads every
 * live document (one query) and rewrites a deployment's document only when this instance's entry changed or its
 * heartbeat is due, under If-Match on the ETag read (a lost race is retried on the next tick, from the fresher
 * document). Capacity is shared as leases (live-allocation.ts): admission stays a local count against this
 * instance's slots, and the slots of all instances never add up to more than the capacity.
 */
export class LiveSync {
  readonly #store: LiveStore;
  readonly #health: DeploymentHealth;
  readonly #deployments: () => Iterable<Deployment>;
  readonly #options: LiveSyncOptions;
  /** When each other instance's renewal counter was first seen, per deployment: expiry without comparing clocks. */
  readonly #seen = new Map<string, { renewal: number; atMs: number }>();
  readonly #published = new Map<string, Published>();
  #renewal = 0;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> = Promise.resolve();
  #failing = false;
  #stopped = false;

  constructor(store: LiveStore, health: DeploymentHealth, deployments: () => Iterable<Deployment>, options: LiveSyncOptions) {
    this.#store = store;
    this.#health = health;
    this.#deployments = deployments;
    this.#options = options;
  }

  /** Syncs once before serving, so a lone instance holds its slots when the first request comes, then every syncMs. */
  async start(): Promise<void> {
    await this.syncNow();
    this.#timer = setInterval(() => {
      this.syncNow().catch(() => undefined);
    }, this.#options.syncMs);
    this.#timer.unref();
  }

  /**
   * Gives this instance's entries up, so the others may take its slots at once rather than after the lease TTL.
   * Best effort and bounded: a shutdown never waits long on an unreachable store (the entries then expire).
   */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#stopped = true;
    let timer: NodeJS.Timeout | undefined;
    const bounded = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, STOP_TIMEOUT_MS);
    });
    await Promise.race([this.#giveUpEntries(), bounded]);
    clearTimeout(timer);
  }

  async #giveUpEntries(): Promise<void> {
    await this.#running;
    const docs = await this.#store.readAll().catch(() => []);
    await Promise.all(
      docs
        .filter((doc) => doc.entries[this.#options.instance])
        .map((doc) => {
          const { [this.#options.instance]: _, ...entries } = doc.entries;
          return this.#store.write({ id: doc.id, entries }, doc.etag).catch(() => undefined);
        }),
    );
  }

  /** One sync, after any that is running (a management write calls it so its change holds at once here). */
  syncNow(): Promise<void> {
    // Once stopped, an entry given up must not be written back.
    if (this.#stopped) return this.#running;
    this.#running = this.#running.then(() => this.#syncOnce());
    return this.#running;
  }

  async #syncOnce(): Promise<void> {
    try {
      const docs = new Map((await this.#store.readAll()).map((doc) => [doc.id, doc]));
      await Promise.all([...this.#deployments()].map((deployment) => this.#syncDeployment(deployment, docs.get(deployment.id))));
      if (this.#failing) this.#options.log.log('info', 'live state sync recovered');
      this.#failing = false;
    } catch (error) {
      // Logged once per outage; leases not renewed stop admitting on their own (DeploymentHealth.hasRoom).
      if (!this.#failing) this.#options.log.log('warn', 'live state sync failed', { error: (error as Error).message });
      this.#failing = true;
    }
  }

  async #syncDeployment(deployment: Deployment, doc: LiveDoc | undefined): Promise<void> {
    const { instance, leaseTtlMs } = this.#options;
    const nowMs = this.#options.now();
    const id = deployment.id;
    const remote: RemoteEntry[] = [];
    let expired = false;
    for (const [other, entry] of Object.entries(doc?.entries ?? {})) {
      if (other === instance) continue;
      const key = `${id}\u0000${other}`;
      let seen = this.#seen.get(key);
      if (seen?.renewal !== entry.renewal) {
        seen = { renewal: entry.renewal, atMs: nowMs };
        this.#seen.set(key, seen);
      }
      if (nowMs - seen.atMs >= leaseTtlMs) expired = true;
      else remote.push({ instance: other, entry, seenAtMs: seen.atMs });
    }
    this.#health.setRemote(id, remote);

    const own = this.#health.ownEntry(id);
    let slots = 0;
    let want = 0;
    if (deployment.capacity) {
      const max = deployment.capacity.maxConcurrent;
      want = this.#health.takeWant(id, max);
      // What the store holds for this instance: absent when another instance dropped it as expired.
      const held = doc?.entries[instance]?.slots ?? 0;
      const claims: SlotClaim[] = [
        ...remote.map((r) => ({ instance: r.instance, slots: r.entry.slots, want: r.entry.want })),
        { instance, slots: held, want },
      ];
      const target = allocateSlots(max, claims).get(instance) ?? 0;
      slots = nextSlots({ instance, slots: held, inFlight: this.#health.localInFlight(id) }, target, max, claims);
      // Giving slots back holds at once; taking more waits for the write that claims them.
      this.#health.setSlots(id, slots, false);
    }
    const idle = !deployment.capacity && own.inFlight === 0 && !own.cooling && !own.breaker && own.requests === 0;
    const mine = doc?.entries[instance];
    if (idle && !mine) return;

    const key = changeKey(own, slots, want, nowMs);
    const published = this.#published.get(id);
    const heartbeatDue = !published || nowMs - published.atMs >= leaseTtlMs / 4;
    if (mine && published?.key === key && !heartbeatDue) return;
    const entries: Record<string, LiveEntry> = {};
    for (const [other, entry] of Object.entries(doc?.entries ?? {})) {
      // An expired entry is dropped by whoever writes next.
      if (other !== instance && (!expired || remote.some((r) => r.instance === other))) entries[other] = entry;
    }
    if (!idle) entries[instance] = { ...own, renewal: ++this.#renewal, slots, want };
    const etag = await this.#store.write({ id, entries }, doc?.etag);
    if (etag === undefined) return;
    this.#published.set(id, { key, atMs: nowMs });
    if (deployment.capacity) this.#health.setSlots(id, slots, true);
  }
}

// What makes an entry worth rewriting before its heartbeat: what others decide on (slots and demand, cool-downs,
// breakers) and whether anything is in flight (a drain's end). Counts, latencies and the exact number in flight
// only inform the health view, so they ride on the heartbeat.
function changeKey(own: ReturnType<DeploymentHealth['ownEntry']>, slots: number, want: number, nowMs: number): string {
  const until = (remainingMs: number | undefined) => (remainingMs === undefined ? 0 : Math.round((nowMs + remainingMs) / 250));
  return JSON.stringify([
    slots,
    want,
    own.inFlight > 0,
    own.cooling?.reason,
    until(own.cooling?.remainingMs),
    own.breaker?.state,
    own.breaker?.episode,
    until(own.breaker?.remainingMs),
  ]);
}
