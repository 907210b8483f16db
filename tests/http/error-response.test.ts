import { describe, expect, it } from 'vitest';
import { errors, GatewayError } from '../../shared/errors.js';
import { errorEvent, errorResponse, toGatewayError } from '../../shared/http/error-response.js';
import { handle } from '../../shared/http/handle.js';
import { SseSplitter } from '../../shared/http/sse.js';
import type { GatewayRequest } from '../../shared/http/types.js';
import type { LogLevel } from '../../shared/log.js';

describe('errorResponse', () => {
  it('is the OpenAI error envelope with the status of the error', () => {
    const response = errorResponse(errors.modelNotFound('gpt-9'));
    expect(response.status).toBe(404);
    expect(response.headers).toEqual({ 'content-type': 'application/json' });
    expect(response.jsonBody).toEqual({
      error: { message: "The model 'gpt-9' does not exist.", type: 'invalid_request_error', param: 'model', code: 'model_not_found' },
    });
  });

  it('says when to retry in whole seconds, at least one', () => {
    expect(errorResponse(errors.noDeploymentAvailable('busy', 2.2)).headers['retry-after']).toBe('3');
    expect(errorResponse(errors.noDeploymentAvailable('busy', 0)).headers['retry-after']).toBe('1');
    expect(errorResponse(errors.storeUnavailable()).headers['retry-after']).toBe('1');
    expect(errorResponse(errors.internal()).headers).not.toHaveProperty('retry-after');
  });

  it("carries the error's own headers and the caller's, but never lets either change the content type", () => {
    const error = new GatewayError(400, 'invalid_request_error', 'content_filter', 'filtered', {
      headers: { 'x-switchyard-deployment': 'gpt4o', 'content-type': 'text/plain' },
      extra: { innererror: { code: 'ResponsibleAIPolicyViolation' } },
    });
    const response = errorResponse(error, { 'x-extra': '1' });
    expect(response.headers).toEqual({ 'x-extra': '1', 'x-switchyard-deployment': 'gpt4o', 'content-type': 'application/json' });
    expect(response.jsonBody).toEqual({
      error: {
        message: 'filtered',
        type: 'invalid_request_error',
        param: null,
        code: 'content_filter',
        innererror: { code: 'ResponsibleAIPolicyViolation' },
      },
    });
  });
});

describe('errorEvent', () => {
  it('is one SSE data event holding the same envelope as the JSON response', () => {
    const error = errors.upstreamTimeout('The model stream did not finish in time.');
    const events = new SseSplitter().push(errorEvent(error));
    expect(events).toHaveLength(1);
    expect(JSON.parse(events[0]!.data)).toEqual(errorResponse(error).jsonBody);
  });
});

describe('toGatewayError', () => {
  it('keeps a GatewayError and turns anything else into 500 internal_error with it as the cause', () => {
    const known = errors.conflict('taken');
    expect(toGatewayError(known)).toBe(known);
    const bug = new TypeError('x is undefined');
    expect(toGatewayError(bug)).toMatchObject({ status: 500, code: 'internal_error', cause: bug });
  });
});

describe('handle', () => {
  const request = (headers: Record<string, string> = {}): GatewayRequest => ({
    method: 'GET',
    url: 'http://gateway.test/x',
    headers: new Headers(headers),
    body: null,
    params: {},
    query: new URLSearchParams(),
  });
  const logged: Array<{ level: LogLevel; message: string; fields?: Record<string, unknown> }> = [];
  const options = {
    log: { log: (level: LogLevel, message: string, fields?: Record<string, unknown>) => logged.push({ level, message, fields }) },
    newRequestId: () => 'generated-1',
    now: () => 0,
  };

  it("keeps the caller's sane request id and makes one from the source it is given otherwise", async () => {
    const ok = () => ({ status: 204, headers: {} });
    expect((await handle(request({ 'x-request-id': 'trace-1' }), ok, options)).headers['x-request-id']).toBe('trace-1');
    expect((await handle(request({ 'x-request-id': 'a b\tc' }), ok, options)).headers['x-request-id']).toBe('generated-1');
    expect((await handle(request(), ok, options)).headers['x-request-id']).toBe('generated-1');
  });

  it('maps a thrown bug to 500 internal_error and logs its name and message, not the rest of it', async () => {
    logged.length = 0;
    const response = await handle(
      request(),
      () => {
        throw Object.assign(new RangeError('bad offset'), { requestOptions: { headers: { authorization: 'Bearer sy-secret' } } });
      },
      options,
    );
    expect(response.status).toBe(500);
    expect((response.jsonBody as { error: { code: string } }).error.code).toBe('internal_error');
    expect(logged).toEqual([
      {
        level: 'error',
        message: expect.any(String),
        fields: { requestId: 'generated-1', code: 'internal_error', cause: 'RangeError: bad offset' },
      },
    ]);
    expect(JSON.stringify(logged)).not.toContain('sy-secret');
  });

  it("does not log a failure that is the caller's", async () => {
    logged.length = 0;
    const response = await handle(request(), () => Promise.reject(errors.invalidApiKey()), options);
    expect(response.status).toBe(401);
    expect(logged).toEqual([]);
  });
});
