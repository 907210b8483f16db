import { ErrorResponse } from '@azure/cosmos';
import { AuthenticationError, CredentialUnavailableError } from '@azure/identity';
import { afterEach, describe, expect, it } from 'vitest';
import { gateway } from '../../shared/composition/gateway.js';
import { closeServices } from '../../shared/composition/services.js';
import { startupFailure } from '../../shared/composition/startup-failure.js';
import { ConfigError, loadConfig } from '../../shared/config/config.js';
import { errors } from '../../shared/errors.js';
import type { GatewayRequest } from '../../shared/http/types.js';

function thrownBy(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

/** Runs `run` with the default logger's lines (stdout) captured instead of printed. */
async function withStdout<T>(run: () => Promise<T>): Promise<{ response: T; lines: string[] }> {
  const lines: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string) => {
    lines.push(String(chunk));
    return true;
  }) as typeof process.stdout.write;
  try {
    return { response: await run(), lines };
  } finally {
    process.stdout.write = write;
  }
}

const cosmosAnswer = (status: number) => Object.assign(new ErrorResponse(`status ${status}`), { code: status });

describe('startupFailure', () => {
  it('reports bad settings as 500 configuration_error, never repeating a value', () => {
    const error = startupFailure(thrownBy(() => loadConfig({ SWITCHYARD_CATALOG_REFRESH_MS: 'secret-looking-value' })));
    expect(error).toMatchObject({ status: 500, code: 'configuration_error', type: 'server_error' });
    expect(error.message).not.toContain('secret-looking-value');
    expect(error.cause).toBeInstanceOf(ConfigError);
  });

  it.each([
    ['the credential library has no identity', new CredentialUnavailableError('ManagedIdentityCredential: no endpoint')],
    ['the identity provider refused', new AuthenticationError(400, { error: 'invalid_client', error_description: 'bad secret' })],
    ['the store refused the key or identity (401)', cosmosAnswer(401)],
    ['the identity lacks its data role (403)', cosmosAnswer(403)],
    ['a wrapped refusal', errors.storeUnavailable(cosmosAnswer(403))],
  ])('reports credentials when %s: 503 credentials_unavailable with Retry-After', (_case, thrown) => {
    const error = startupFailure(thrown);
    expect(error).toMatchObject({ status: 503, code: 'credentials_unavailable' });
    expect(error.retryAfterSeconds).toBeGreaterThan(0);
  });

  it.each([
    ['a network failure', Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:443'), { name: 'RestError', code: 'ECONNREFUSED' })],
    ['a store that answers 503', cosmosAnswer(503)],
    ['a request timeout', Object.assign(new Error('Timeout Error'), { name: 'TimeoutError', code: 'TimeoutError' })],
    ['the adapter already said so', errors.storeUnavailable(new Error('x'))],
  ])('reports the store unreachable on %s: 503 store_unavailable with Retry-After', (_case, thrown) => {
    const error = startupFailure(thrown);
    expect(error).toMatchObject({ status: 503, code: 'store_unavailable' });
    expect(error.retryAfterSeconds).toBe(1);
  });

  it('reports anything else as 500 internal_error, keeping the cause for the log', () => {
    const bug = new TypeError("Cannot read properties of undefined (reading 'container')");
    const error = startupFailure(bug);
    expect(error).toMatchObject({ status: 500, code: 'internal_error' });
    expect(error.cause).toBe(bug);
  });

  it("never passes on a caller's error: a 404 from the store while starting is Switchyard's own failure", () => {
    const missing = errors.notFound('The document');
    expect(startupFailure(missing)).toMatchObject({ status: 500, code: 'internal_error', cause: missing });
  });
});

describe('a request while the services cannot start', () => {
  const saved = { ...process.env };
  afterEach(async () => {
    process.env = { ...saved };
    await closeServices();
  });

  const request = (): GatewayRequest => ({
    method: 'GET',
    url: 'http://gateway.test/v1/models',
    headers: new Headers({ 'x-request-id': 'start-1' }),
    body: null,
    params: {},
    query: new URLSearchParams(),
  });

  it('answers 500 configuration_error in the OpenAI shape, and logs which setting is wrong', async () => {
    process.env.SWITCHYARD_MAX_BODY_BYTES = 'not-a-number';
    const { response, lines } = await withStdout(() => gateway.listModels(request()));
    expect(response.status).toBe(500);
    expect(response.headers['x-request-id']).toBe('start-1');
    expect(response.jsonBody).toEqual({
      error: { message: expect.stringContaining('configuration'), type: 'server_error', param: null, code: 'configuration_error' },
    });
    expect(JSON.stringify(response.jsonBody)).not.toContain('not-a-number');
    const logged = lines.map((line) => JSON.parse(line) as Record<string, unknown>).find((entry) => entry.code === 'configuration_error');
    expect(logged).toMatchObject({ level: 'error', requestId: 'start-1', cause: expect.stringContaining('SWITCHYARD_MAX_BODY_BYTES') });
  });

  it('answers 503 store_unavailable with Retry-After when the Cosmos account does not answer', async () => {
    // Port 1 on loopback: nothing listens, so the real SDK fails to connect at once.
    process.env.COSMOS_ENDPOINT = 'https://127.0.0.1:1';
    process.env.COSMOS_KEY = Buffer.alloc(64, 1).toString('base64');
    const { response } = await withStdout(() => gateway.listModels(request()));
    expect(response.status).toBe(503);
    expect(response.headers['retry-after']).toBe('1');
    expect((response.jsonBody as { error: { code: string } }).error.code).toBe('store_unavailable');
  });
});
