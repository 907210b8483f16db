/** Where an answer's upstream time is counted: every attempt's wait for headers, and a whole answer's body read. */
export interface UpstreamTime {
  readonly upstreamMs: number;
}

/** Where an answer's screening time is counted, when the team screens. */
export interface SafetyTime {
  readonly safetyMs: number;
}

export interface ServerTimingEntry {
  name: string;
  durMs: number;
}

/**
 * One request's `Server-Timing`: total from the request's arrival to its answer's headers, split so the parts
 * add up — `gateway` is total − `upstream`. `safety` is part of `gateway` when the prompt is screened before
 * the call, and overlaps `upstream` when screening runs beside it, so it is a breakdown, not a third addend.
 * Only requests that reached routing carry it (`track`); the header is read when the answer's headers go out,
 * so a stream's `upstream` is its wait for the upstream's headers.
 */
export class ServerTiming {
  readonly #now: () => number;
  readonly #startedAtMs: number;
  #upstream: UpstreamTime | undefined;
  #safety: SafetyTime | undefined;

  constructor(now: () => number) {
    this.#now = now;
    this.#startedAtMs = now();
  }

  /** Says where this request's upstream and screening time are counted; the answer carries the header from then on. */
  track(upstream: UpstreamTime, safety?: SafetyTime): void {
    this.#upstream = upstream;
    this.#safety = safety;
  }

  /** The entries so far, or none for a request that never reached routing. */
  entries(): ServerTimingEntry[] {
    if (!this.#upstream) return [];
    const totalMs = Math.max(0, this.#now() - this.#startedAtMs);
    const upstreamMs = Math.min(totalMs, Math.max(0, this.#upstream.upstreamMs));
    const entries = [
      { name: 'gateway', durMs: totalMs - upstreamMs },
      { name: 'upstream', durMs: upstreamMs },
    ];
    if (this.#safety) entries.push({ name: 'safety', durMs: Math.max(0, this.#safety.safetyMs) });
    entries.push({ name: 'total', durMs: totalMs });
    return entries;
  }

  /** The `server-timing` header, or no header. */
  header(): Record<string, string> {
    const entries = this.entries();
    return entries.length > 0 ? { 'server-timing': formatServerTiming(entries) } : {};
  }
}

/** W3C Server Timing syntax: `name;dur=ms` joined by commas, milliseconds with at most one decimal. */
export function formatServerTiming(entries: ServerTimingEntry[]): string {
  return entries.map(({ name, durMs }) => `${name};dur=${Math.round(durMs * 10) / 10}`).join(', ');
}
