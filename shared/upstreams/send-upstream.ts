import type { Readable } from 'node:stream';
import { Agent, request, type Dispatcher } from 'undici';
import { guardedLookup } from './guarded-lookup.js';
import type { UpstreamRequest } from './protocols.js';

export interface UpstreamResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Readable & { text(): Promise<string> };
}

export interface SendOptions {
  /** Aborts the call; once the answer has begun, destroying its body does the same. */
  signal?: AbortSignal;
  /** Longest wait for the upstream's response headers. */
  headersTimeoutMs: number;
  /** Longest silence between two body chunks. */
  bodyTimeoutMs: number;
}

/** The one way Switchyard calls an upstream. */
export type SendUpstream = (upstream: UpstreamRequest, options: SendOptions) => Promise<UpstreamResponse>;

/** A pooled keep-alive HTTP client for upstream calls, connecting only to addresses the policy allows. */
export function createUpstreamDispatcher(options: { allowLoopback: boolean; connections?: number }): Agent {
  return new Agent({
    keepAliveTimeout: 30_000,
    keepAliveMaxTimeout: 120_000,
    connections: options.connections ?? 256,
    pipelining: 1,
    connect: { lookup: guardedLookup({ allowLoopback: options.allowLoopback }) },
  });
}

export function createSender(dispatcher: Dispatcher): SendUpstream {
  return async (upstream, options) => {
    const response = await request(upstream.url, {
      method: 'POST',
      dispatcher,
      headers: upstream.headers,
      body: upstream.body,
      signal: options.signal,
      headersTimeout: options.headersTimeoutMs,
      bodyTimeout: options.bodyTimeoutMs,
    });
    return { status: response.statusCode, headers: response.headers, body: response.body };
  };
}

/** How long an upstream asked us to wait: `retry-after-ms` first, then `retry-after` (seconds or a date). */
export function retryAfterMs(headers: UpstreamResponse['headers'], nowMs: number): number | undefined {
  const ms = first(headers['retry-after-ms']);
  if (ms !== undefined && Number.isFinite(Number(ms))) return Math.max(0, Number(ms));
  const after = first(headers['retry-after']);
  if (after === undefined) return undefined;
  if (/^\d+(\.\d+)?$/.test(after.trim())) return Number(after) * 1000;
  const date = Date.parse(after);
  return Number.isNaN(date) ? undefined : Math.max(0, date - nowMs);
}

export function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
