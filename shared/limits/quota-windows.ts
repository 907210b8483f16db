/** The UTC month an instant falls in, as `YYYY-MM`: the period of a team's budget. */
export function monthOf(nowMs: number): string {
  return new Date(nowMs).toISOString().slice(0, 7);
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
  const key = new Date(startMs).toISOString().slice(0, 16).replace(/[-:T]/g, '');
  return { key, endsAtMs: startMs + MINUTE_MS };
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
