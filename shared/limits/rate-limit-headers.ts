import type { TeamLimits } from '../catalog/schemas.js';
import { formatResetDuration } from './quota-windows.js';

/** What a team has used of its current window, this request included. */
export interface WindowUse {
  requests: number;
  tokens: number;
}

/** The `x-ratelimit-*` headers OpenAI sends, for the limits the team has; the window resets at its end. */
export function rateLimitHeaders(limits: TeamLimits, used: WindowUse, resetInMs: number): Record<string, string> {
  const headers: Record<string, string> = {};
  const reset = formatResetDuration(resetInMs);
  if (limits.rpm !== undefined) {
    headers['x-ratelimit-limit-requests'] = String(limits.rpm);
    headers['x-ratelimit-remaining-requests'] = String(Math.max(0, limits.rpm - used.requests));
    headers['x-ratelimit-reset-requests'] = reset;
  }
  if (limits.tpm !== undefined) {
    headers['x-ratelimit-limit-tokens'] = String(limits.tpm);
    headers['x-ratelimit-remaining-tokens'] = String(Math.max(0, limits.tpm - used.tokens));
    headers['x-ratelimit-reset-tokens'] = reset;
  }
  return headers;
}

/** Which of the team's limits one more request of `tokens` would pass, given what its window has used; undefined when none. */
export function exceededLimit(limits: TeamLimits, used: WindowUse, tokens: number): 'requests' | 'tokens' | undefined {
  if (limits.rpm !== undefined && used.requests + 1 > limits.rpm) return 'requests';
  if (limits.tpm !== undefined && used.tokens + tokens > limits.tpm) return 'tokens';
  return undefined;
}
