import type { z } from 'zod';
import { documentSchemas, type CatalogStore, type DocType } from './catalog-store.js';
import type { BlocklistDocument } from '../safety/safety-profile.js';
import type { Deployment, Route, StoredKey, Team } from './schemas.js';

/** One consistent view of the configuration, replaced whole on every refresh. */
export interface CatalogSnapshot {
  deployments: ReadonlyMap<string, Deployment>;
  routes: ReadonlyMap<string, Route>;
  teams: ReadonlyMap<string, Team>;
  keysByHash: ReadonlyMap<string, StoredKey>;
  /** Blocklists by name, for the teams whose safety profile names them. */
  blocklists: ReadonlyMap<string, BlocklistDocument>;
  loadedAtMs: number;
}

export const emptySnapshot: CatalogSnapshot = {
  deployments: new Map(),
  routes: new Map(),
  teams: new Map(),
  keysByHash: new Map(),
  blocklists: new Map(),
  loadedAtMs: 0,
};

/** Builds a snapshot from raw documents; a document that no longer validates is skipped and reported. */
export function buildSnapshot(
  docs: Array<{ type: DocType; doc: unknown }>,
  nowMs: number,
  onInvalid: (type: DocType, id: unknown, message: string) => void,
): CatalogSnapshot {
  const deployments = new Map<string, Deployment>();
  const routes = new Map<string, Route>();
  const teams = new Map<string, Team>();
  const keysByHash = new Map<string, StoredKey>();
  const blocklists = new Map<string, BlocklistDocument>();
  const keep = <T>(type: DocType, doc: unknown, schema: z.ZodType<T>, into: Map<string, T>, keyOf: (value: T) => string) => {
    const parsed = schema.safeParse(doc);
    if (parsed.success) into.set(keyOf(parsed.data), parsed.data);
    else onInvalid(type, (doc as { id?: unknown }).id, parsed.error.message);
  };
  for (const { type, doc } of docs) {
    if (type === 'deployment') keep(type, doc, documentSchemas.deployment, deployments, (d) => d.id);
    else if (type === 'route') keep(type, doc, documentSchemas.route, routes, (r) => r.alias);
    else if (type === 'team') keep(type, doc, documentSchemas.team, teams, (t) => t.id);
    else if (type === 'key') keep(type, doc, documentSchemas.key, keysByHash, (k) => k.hash);
    else if (type === 'blocklist') keep(type, doc, documentSchemas.blocklist, blocklists, (b) => b.name);
  }
  return { deployments, routes, teams, keysByHash, blocklists, loadedAtMs: nowMs };
}

export interface CatalogCacheOptions {
  /** How often to ask whether the configuration changed. */
  refreshMs: number;
  /** How often to reload whatever the version says (a change written outside Switchyard). */
  fullReloadMs?: number;
  now: () => number;
  log?: (message: string) => void;
  /** Told after the first load and each load whose version moved, e.g. so capacity is leased for a deployment just added. */
  onChanged?: (snapshot: CatalogSnapshot) => void;
}

const DEFAULT_FULL_RELOAD_MS = 30_000;

/**
 * Keeps this instance's snapshot fresh, so a change made on any instance is in force everywhere within one
 * refresh interval. Each interval costs one point read of the catalog version; the whole configuration is
 * loaded only when that version moved (and, as a safety net, every fullReloadMs).
 */
export class CatalogCache {
  private snapshot: CatalogSnapshot = emptySnapshot;
  private loadedVersion: string | undefined;
  private checkedAtMs = 0;
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<CatalogSnapshot> | undefined;
  private lastError: unknown;
  private readonly now: () => number;

  constructor(
    private readonly store: CatalogStore,
    private readonly options: CatalogCacheOptions,
  ) {
    this.now = options.now;
  }

  current(): CatalogSnapshot {
    return this.snapshot;
  }

  /** True once a snapshot loaded and the store confirmed it current within the last three intervals. */
  isFresh(): boolean {
    return this.snapshot.loadedAtMs > 0 && this.now() - this.checkedAtMs <= this.options.refreshMs * 3;
  }

  get error(): unknown {
    return this.lastError;
  }

  /** Reloads the whole configuration now; concurrent callers share one load. */
  refresh(): Promise<CatalogSnapshot> {
    this.inFlight ??= this.load().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  /** Reloads only if the catalog version moved since the last load, or the safety-net interval passed. */
  async refreshIfChanged(): Promise<CatalogSnapshot> {
    if (this.inFlight) return this.inFlight;
    const fullReloadMs = this.options.fullReloadMs ?? DEFAULT_FULL_RELOAD_MS;
    try {
      const version = await this.store.readVersion();
      if (version === this.loadedVersion && this.now() - this.snapshot.loadedAtMs < fullReloadMs) {
        this.checkedAtMs = this.now();
        this.lastError = undefined;
        return this.snapshot;
      }
    } catch (error) {
      this.lastError = error;
      throw error;
    }
    return this.refresh();
  }

  private async load(): Promise<CatalogSnapshot> {
    try {
      // The version is read first: a change landing during the load moves it again, so it is never missed.
      const version = await this.store.readVersion();
      const docs = await this.store.loadAll();
      const changed = this.snapshot === emptySnapshot || version !== this.loadedVersion;
      this.snapshot = buildSnapshot(docs, this.now(), (type, id, message) =>
        this.options.log?.(`catalog: skipped invalid ${type} ${String(id)}: ${message}`),
      );
      this.loadedVersion = version;
      if (changed) this.options.onChanged?.(this.snapshot);
      this.checkedAtMs = this.snapshot.loadedAtMs;
      this.lastError = undefined;
      return this.snapshot;
    } catch (error) {
      this.lastError = error;
      throw error;
    }
  }

  async start(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => {
      this.refreshIfChanged().catch((error: unknown) => this.options.log?.(`catalog: refresh failed: ${(error as Error).message}`));
    }, this.options.refreshMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
