import { errors, GatewayError } from '../errors.js';
import type { Deployment } from '../catalog/schemas.js';
import type { UpstreamRequest } from '../upstreams/protocols.js';
import { retryAfterMs, type UpstreamResponse } from '../upstreams/send-upstream.js';
import { isFailoverStatus, readUpstreamError } from '../upstreams/upstream-errors.js';
import type { GatewayDeps } from './gateway-deps.js';

/** An upstream that answered 2xx, still holding its in-flight slot until `release` is called. */
export interface Answer {
  deployment: Deployment;
  response: UpstreamResponse;
  release: () => void;
  startedAtMs: number;
}

export type Attempted<T> =
  | { ok: true; result: T; deployment: Deployment; attempts: number }
  | { ok: false; clientError: GatewayError; deployment: Deployment; attempts: number };

/** Why the last tried deployment failed; decides the status the caller sees when all fail. */
type Failure = { kind: 'timeout' } | { kind: 'throttled'; retryAfterMs?: number } | { kind: 'error' };

const MAX_ERROR_BODY_BYTES = 64 * 1024;

/**
 * Tries the candidates in order until one answers 2xx and `accept` takes its answer. A failure another
 * deployment may not share (network, timeout, 429, 5xx, auth, a broken 2xx body) moves on; an error that
 * is the caller's (400, 422…) is returned at once. `accept` owns the answer: it releases it when done.
 */
export async function callFirstAvailable<T>(
  candidates: Deployment[],
  build: (deployment: Deployment) => Promise<UpstreamRequest>,
  accept: (answer: Answer) => Promise<T>,
  deps: GatewayDeps,
): Promise<Attempted<T>> {
  let lastFailure: Failure = { kind: 'error' };
  let attempts = 0;
  for (const deployment of candidates) {
    attempts += 1;
    const release = deps.health.begin(deployment.id);
    const startedAtMs = deps.now();
    let response: UpstreamResponse;
    try {
      const upstream = await build(deployment);
      // A non-streaming answer's headers come only once the whole answer is generated.
      response = await deps.send(upstream, {
        headersTimeoutMs: upstream.streams ? deps.limits.firstByteTimeoutMs : deps.limits.upstreamTimeoutMs,
        bodyTimeoutMs: deps.limits.firstByteTimeoutMs,
      });
    } catch (error) {
      release();
      deps.health.failed(deployment.id);
      lastFailure = isTimeout(error) ? { kind: 'timeout' } : { kind: 'error' };
      deps.log.log('warn', 'upstream attempt failed', { deployment: deployment.id, error: describe(error) });
      continue;
    }
    if (response.status >= 200 && response.status < 300) {
      try {
        const result = await accept({ deployment, response, release, startedAtMs });
        deps.health.succeeded(deployment.id);
        return { ok: true, result, deployment, attempts };
      } catch (error) {
        response.body.destroy();
        release();
        deps.health.failed(deployment.id);
        lastFailure = isTimeout(error) ? { kind: 'timeout' } : { kind: 'error' };
        deps.log.log('warn', 'upstream answer unusable', { deployment: deployment.id, error: describe(error) });
        continue;
      }
    }
    const text = await readText(response).catch(() => '');
    release();
    const info = readUpstreamError(text);
    if (isFailoverStatus(response.status)) {
      const waitMs = retryAfterMs(response.headers, deps.now());
      deps.health.failed(deployment.id, waitMs);
      lastFailure = response.status === 429 ? { kind: 'throttled', retryAfterMs: waitMs } : response.status === 408 ? { kind: 'timeout' } : { kind: 'error' };
      deps.log.log('warn', 'upstream refused', { deployment: deployment.id, status: response.status, code: info.code });
      continue;
    }
    return { ok: false, clientError: clientErrorFrom(response.status, info), deployment, attempts };
  }
  throw failureToError(lastFailure, attempts);
}

function clientErrorFrom(status: number, info: ReturnType<typeof readUpstreamError>): GatewayError {
  if (info.code === 'content_filter') {
    return new GatewayError(400, 'invalid_request_error', 'content_filter', info.message ?? 'The request was filtered by the upstream content policy.', {
      param: info.param ?? 'prompt',
      extra: info.contentFilterResult ? { innererror: { code: 'ResponsibleAIPolicyViolation', content_filter_result: info.contentFilterResult } } : undefined,
    });
  }
  const code = status === 413 ? 'request_too_large' : 'invalid_request_error';
  return new GatewayError(status === 413 ? 413 : 400, 'invalid_request_error', code, `The model rejected the request: ${info.message ?? `status ${status}`}`, {
    param: info.param ?? null,
  });
}

function failureToError(failure: Failure, attempts: number): GatewayError {
  const tried = `${attempts} deployment${attempts === 1 ? '' : 's'} tried`;
  if (attempts === 0) return errors.noDeploymentAvailable('No deployment can serve this model right now: all are disabled, saturated or excluded.', 1);
  switch (failure.kind) {
    case 'timeout':
      return errors.upstreamTimeout(`The model did not answer in time (${tried}).`);
    case 'throttled':
      return errors.noDeploymentAvailable(`Every deployment for this model is at capacity (${tried}). Retry later.`, Math.ceil((failure.retryAfterMs ?? 1000) / 1000));
    case 'error':
      return errors.upstreamError(`The model's deployments failed to answer (${tried}).`);
  }
}

/** Reads a (small) upstream body whole, refusing more than the cap. */
export async function readText(response: UpstreamResponse, maxBytes = MAX_ERROR_BODY_BYTES): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response.body) {
    size += (chunk as Buffer).byteLength;
    if (size > maxBytes) {
      response.body.destroy();
      throw new Error(`upstream body larger than ${maxBytes} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export function isTimeout(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT' || (error as Error)?.name === 'TimeoutError';
}

export function describe(error: unknown): string {
  const e = error as { code?: unknown; message?: unknown } | null;
  return [e?.code, e?.message].filter((x) => typeof x === 'string').join(': ') || 'unknown error';
}
