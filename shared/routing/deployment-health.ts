/** What this instance knows of each deployment right now: requests in flight and cool-downs after failures. */
export interface HealthView {
  inFlight(deploymentId: string): number;
  coolingUntilMs(deploymentId: string): number;
}

interface Entry {
  inFlight: number;
  coolingUntilMs: number;
  consecutiveFailures: number;
}

const BASE_COOLDOWN_MS = 1_000;
const MAX_COOLDOWN_MS = 30_000;

/** Per-instance deployment health; mutated by the gateway as attempts start and end. */
export class DeploymentHealth implements HealthView {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly now: () => number) {}

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

  /** A failure cools the deployment down: as long as it asked (Retry-After), else backing off exponentially. */
  failed(id: string, retryAfterMs?: number): void {
    const entry = this.entry(id);
    entry.consecutiveFailures += 1;
    const backoff = Math.min(MAX_COOLDOWN_MS, BASE_COOLDOWN_MS * 2 ** (entry.consecutiveFailures - 1));
    entry.coolingUntilMs = this.now() + Math.min(MAX_COOLDOWN_MS, retryAfterMs ?? backoff);
  }
}
