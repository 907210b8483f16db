import { errors } from '../errors.js';
import type { GatewayRequest, GatewayResponse } from './types.js';

export const DEFAULT_PAGE_LIMIT = 100;
export const MAX_PAGE_LIMIT = 1_000;
/** A token longer than this was not made by a listing (a store's own tokens are a few hundred characters). */
const MAX_TOKEN_LENGTH = 4_096;

/** What a caller asks of a listing: how many at most, and where the previous page left off. */
export interface PageRequest {
  limit: number;
  /** The opaque `next` token of the previous page; absent for the first page. */
  continuation?: string;
}

/** One page of a listing; `continuation` is absent on the last page. */
export interface Page<T> {
  data: T[];
  continuation?: string;
}

/** `limit` (1 to 1000, default 100) and `next` from a listing's query string; a bad one is 400 naming it. */
export function readPageRequest(query: URLSearchParams): PageRequest {
  const rawLimit = query.get('limit');
  let limit = DEFAULT_PAGE_LIMIT;
  if (rawLimit !== null) {
    limit = /^[0-9]{1,4}$/.test(rawLimit) ? Number(rawLimit) : Number.NaN;
    if (!(limit >= 1 && limit <= MAX_PAGE_LIMIT))
      throw errors.invalidRequest(`'limit' must be a whole number from 1 to ${MAX_PAGE_LIMIT}.`, 'limit');
  }
  const continuation = query.get('next');
  if (continuation === null) return { limit };
  if (continuation === '' || continuation.length > MAX_TOKEN_LENGTH || !/^[A-Za-z0-9_-]+$/.test(continuation)) throw badToken();
  return { limit, continuation };
}

export const badToken = () => errors.invalidRequest("'next' must be a token from the previous page of this listing.", 'next');

/** Wraps a store's own position (a Cosmos continuation token) so callers see one opaque URL-safe token. */
export function encodeToken(position: unknown): string {
  return Buffer.from(JSON.stringify(position)).toString('base64url');
}

/** The position a token holds, or 400 when it is not one a listing made. */
export function decodeToken(token: string): unknown {
  try {
    return JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw badToken();
  }
}

/**
 * A page as JSON: `{ data, next }` (`next` is null on the last page), and a `Link: <…>; rel="next"` header naming the
 * same request with the token, so a client can follow pages without building URLs.
 */
export function pageResponse<T>(request: GatewayRequest, page: Page<T>): GatewayResponse {
  const headers: Record<string, string> = { 'content-type': 'application/json', 'cache-control': 'no-store' };
  if (page.continuation !== undefined) {
    const url = new URL(request.url);
    url.searchParams.set('next', page.continuation);
    headers.link = `<${url.pathname}${url.search}>; rel="next"`;
  }
  return { status: 200, headers, jsonBody: { data: page.data, next: page.continuation ?? null } };
}
