import { describe, expect, it } from 'vitest';
import { decodeToken, encodeToken, pageResponse, readPageRequest } from '../../shared/http/paging.js';
import type { GatewayRequest } from '../../shared/http/types.js';

const query = (text: string) => new URLSearchParams(text);

describe('readPageRequest', () => {
  it('reads limit (default 100, 1 to 1000) and next', () => {
    expect(readPageRequest(query(''))).toEqual({ limit: 100 });
    expect(readPageRequest(query('limit=1'))).toEqual({ limit: 1 });
    expect(readPageRequest(query('limit=1000&next=abc_-9'))).toEqual({ limit: 1000, continuation: 'abc_-9' });
  });

  it('refuses a limit that is not a whole number from 1 to 1000, naming limit', () => {
    for (const limit of ['0', '1001', '-1', '1.5', '1e2', ' 5', 'ten', '', '00000'])
      expect(() => readPageRequest(query(`limit=${encodeURIComponent(limit)}`)), limit).toThrow(
        expect.objectContaining({ status: 400, param: 'limit' }),
      );
  });

  it('refuses an empty, oversized or non-URL-safe token, naming next', () => {
    for (const next of ['', 'a b', 'a+b', 'x'.repeat(4097)])
      expect(() => readPageRequest(query(`next=${encodeURIComponent(next)}`))).toThrow(
        expect.objectContaining({ status: 400, param: 'next' }),
      );
  });
});

describe('tokens', () => {
  it('round-trip a position and refuse what is not JSON', () => {
    const position = { m: '2026-05', c: '{"token":"+RID:x#RT:1","range":{"min":"","max":"FF"}}' };
    const token = encodeToken(position);
    expect(token).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(readPageRequest(query(`next=${token}`)).continuation).toBe(token);
    expect(decodeToken(token)).toEqual(position);
    expect(() => decodeToken('bm9wZQ')).toThrow(expect.objectContaining({ status: 400, param: 'next' }));
  });
});

describe('pageResponse', () => {
  const request = { url: 'http://127.0.0.1:7071/manage/audit?from=2026-05-01&to=2026-05-31&limit=2' } as GatewayRequest;

  it('answers data and next, and a Link to the same request with the token', () => {
    const page = pageResponse(request, { data: [1, 2], continuation: 'tok' });
    expect(page.jsonBody).toEqual({ data: [1, 2], next: 'tok' });
    expect(page.headers.link).toBe('</manage/audit?from=2026-05-01&to=2026-05-31&limit=2&next=tok>; rel="next"');
  });

  it('answers next null and no Link on the last page', () => {
    const page = pageResponse({ ...request, url: `${request.url}&next=old` }, { data: [3] });
    expect(page.jsonBody).toEqual({ data: [3], next: null });
    expect(page.headers.link).toBeUndefined();
  });
});
