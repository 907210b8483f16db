import type { CatalogStore } from '../catalog/catalog-store.js';

export interface KeyUseRecorderOptions {
  /** How often, at most, this instance writes one key's last use. */
  intervalMs?: number;
  log?: (message: string) => void;
}

const DEFAULT_INTERVAL_MS = 60 * 60_000;
const MAX_TRACKED_KEYS = 10_000;

/**
 * Keeps "last used" of keys without a write per request: each instance writes a key's last use at most
 * once per interval, after the request's own work (never awaited by it), and a failed write is only logged.
 */
export class KeyUseRecorder {
  private readonly recordedAtMs = new Map<string, number>();
  private readonly pending = new Set<Promise<void>>();
  private readonly intervalMs: number;

  constructor(
    private readonly store: Pick<CatalogStore, 'recordKeyUse'>,
    private readonly options: KeyUseRecorderOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? DEFAULT_INTERVAL_MS;
  }

  /** Notes that a key was used at nowMs; returns at once. */
  noteUse(keyId: string, nowMs: number): void {
    const last = this.recordedAtMs.get(keyId);
    if (last !== undefined && nowMs - last < this.intervalMs) return;
    if (this.recordedAtMs.size >= MAX_TRACKED_KEYS) this.forgetOlderThan(nowMs - this.intervalMs);
    // Set before the write: concurrent requests with the same key start one write, and a failing store is
    // asked again only next interval.
    this.recordedAtMs.set(keyId, nowMs);
    const write = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.store.recordKeyUse(keyId, new Date(nowMs).toISOString()))
      .catch((error: unknown) => this.options.log?.(`keys: could not record the last use of ${keyId}: ${(error as Error).message}`))
      .finally(() => this.pending.delete(write));
    this.pending.add(write);
  }

  /** Waits for the writes already started (shutdown, tests). */
  async settle(): Promise<void> {
    await Promise.all([...this.pending]);
  }

  private forgetOlderThan(cutoffMs: number): void {
    for (const [keyId, atMs] of this.recordedAtMs) if (atMs < cutoffMs) this.recordedAtMs.delete(keyId);
    if (this.recordedAtMs.size >= MAX_TRACKED_KEYS) this.recordedAtMs.clear();
  }
}
