/** The UTC month an instant falls in, as `YYYY-MM`: the period of a team's budget. */
export function monthOf(nowMs: number): string {
  const key = minuteKey(nowMs);
  return `${key.slice(0, 4)}-${key.slice(4, 6)}`;
}

/** Milliseconds from an instant to the start of the next UTC month, when a budget starts afresh. */
export function msToNextMonth(nowMs: number): number {
  const now = new Date(nowMs);
  return Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1) - nowMs;
}

const MINUTE_MS = 60_000;

/** The rate-limit window (a UTC minute) an instant falls in: its key (`YYYYMMDDHHMM`) and when it ends. */
export function minuteWindow(nowMs: number): { key: string; endsAtMs: number } {
  const startMs = Math.floor(nowMs / MINUTE_MS) * MINUTE_MS;
  return { key: minuteKey(nowMs), endsAtMs: startMs + MINUTE_MS };
}

// Every request asks for its minute (and month) twice or more: the key is formatted once per minute.
let cachedMinute = { startMs: Number.NaN, key: '' };

function minuteKey(nowMs: number): string {
  const startMs = Math.floor(nowMs / MINUTE_MS) * MINUTE_MS;
  if (cachedMinute.startMs !== startMs) {
    cachedMinute = { startMs, key: new Date(startMs).toISOString().slice(0, 16).replace(/[-:T]/g, '') };
  }
  return cachedMinute.key;
}

/** A wait as OpenAI's `x-ratelimit-reset-*` headers spell it: `120ms`, `1s`, `6m0s`, `1h2m3s` (whole seconds rounded up past 1 s). */
export function formatResetDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.ceil(ms))}ms`;
  const total = Math.ceil(ms / 1000);
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = total % 60;
  if (hours > 0) return `${hours}h${minutes}m${seconds}s`;
  if (minutes > 0) return `${minutes}m${seconds}s`;
  return `${seconds}s`;
}
