import { describe, expect, it } from 'vitest';
import { AZURE_OPENAI_API_VERSIONS, checkV1ApiVersion, datedApiVersion } from '../../shared/gateway/azure-api-version.js';
import type { GatewayRequest } from '../../shared/http/types.js';

const withQuery = (query: string) => ({ query: new URLSearchParams(query) }) as GatewayRequest;
const refusal = { name: 'GatewayError', status: 400, code: 'invalid_request_error', param: 'api-version' };

describe('the api-version of the dated Azure OpenAI paths', () => {
  it('takes the latest GA version and the documented previews', () => {
    for (const version of ['2024-10-21', '2024-06-01', '2024-09-01-preview', '2025-04-01-preview']) {
      expect(AZURE_OPENAI_API_VERSIONS.has(version)).toBe(true);
      expect(datedApiVersion(withQuery(`api-version=${version}`), { required: true })).toBe(version);
    }
  });

  it('refuses an unknown version, and a missing one where it would be forwarded', () => {
    for (const query of ['api-version=2024-10-22', 'api-version=v1', 'api-version=2024-10-21%20', 'api-version=']) {
      expect(() => datedApiVersion(withQuery(query), { required: false })).toThrow(expect.objectContaining(refusal));
    }
    expect(() => datedApiVersion(withQuery(''), { required: true })).toThrow(expect.objectContaining(refusal));
    expect(datedApiVersion(withQuery(''), { required: false })).toBeUndefined();
  });

  it('never echoes more than 64 characters of what the caller sent', () => {
    const sent = 'x'.repeat(10_000);
    expect(() => datedApiVersion(withQuery(`api-version=${sent}`), { required: true })).toThrow(
      expect.objectContaining({ message: expect.not.stringContaining('x'.repeat(65)) }),
    );
  });
});

describe('the api-version of the v1 surface', () => {
  it("takes none, 'v1' and 'preview', and refuses a dated one", () => {
    for (const query of ['', 'api-version=v1', 'api-version=preview']) expect(() => checkV1ApiVersion(withQuery(query))).not.toThrow();
    for (const query of ['api-version=2024-10-21', 'api-version=V1', 'api-version=']) {
      expect(() => checkV1ApiVersion(withQuery(query))).toThrow(expect.objectContaining(refusal));
    }
  });
});
