import { headerValue } from './read-body.js';
import type { UpstreamHeaders } from './upstream-port.js';

/** What an upstream error body says, read from either Azure shape: `{error:{code,message}}` or flat `{code,message}`. */
export interface UpstreamErrorInfo {
  code?: string;
  message?: string;
  param?: string;
  contentFilterResult?: unknown;
}

export function readUpstreamError(text: string): UpstreamErrorInfo {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return {};
  }
  if (!body || typeof body !== 'object') return {};
  const outer = body as Record<string, unknown>;
  const inner = (outer.error && typeof outer.error === 'object' ? outer.error : outer) as Record<string, unknown>;
  const innererror = inner.innererror as Record<string, unknown> | undefined;
  return {
    code: typeof inner.code === 'string' ? inner.code : typeof inner.code === 'number' ? String(inner.code) : undefined,
    message: typeof inner.message === 'string' ? inner.message : typeof outer.message === 'string' ? outer.message : undefined,
    param: typeof inner.param === 'string' ? inner.param : undefined,
    contentFilterResult: innererror?.content_filter_result ?? innererror?.content_filter_results,
  };
}

/**
 * Statuses after which another deployment may well succeed: the request itself was fine, this target
 * was not (throttled, broken, misconfigured, moved or gone). A redirect is never followed: the address
 * policy vetted the endpoint, not where it points next. 400/413/422 are the caller's to fix and are not retried.
 */
export function isFailoverStatus(status: number): boolean {
  return (
    (status >= 300 && status < 400) ||
    status === 401 ||
    status === 403 ||
    status === 404 ||
    status === 408 ||
    status === 424 ||
    status === 429 ||
    status >= 500
  );
}

/** How long an upstream asked us to wait: `retry-after-ms` first, then `retry-after` (seconds or a date). */
export function retryAfterMs(headers: UpstreamHeaders, nowMs: number): number | undefined {
  const ms = headerValue(headers['retry-after-ms']);
  if (ms !== undefined && Number.isFinite(Number(ms))) return Math.max(0, Number(ms));
  const after = headerValue(headers['retry-after']);
  if (after === undefined) return undefined;
  if (/^\d+(\.\d+)?$/.test(after.trim())) return Number(after) * 1000;
  const date = Date.parse(after);
  return Number.isNaN(date) ? undefined : Math.max(0, date - nowMs);
}
