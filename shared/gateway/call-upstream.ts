import { errors, GatewayError, isGatewayError } from '../errors.js';
import type { Deployment } from '../catalog/schemas.js';
import type { UpstreamRequest } from '../upstreams/protocols.js';
import { first, retryAfterMs, type UpstreamResponse } from '../upstreams/send-upstream.js';
import { isFailoverStatus, readUpstreamError } from '../upstreams/upstream-errors.js';
import type { CallScope } from './call-scope.js';
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
const COARSE_TIMER_SLACK_MS = 1_000;

/**
 * Tries the candidates in order until one answers 2xx and `accept` takes its answer. A failure another
 * deployment may not share (network, timeout, redirect, 429, 5xx, auth, a broken 2xx body) moves on; an
 * error that is the caller's (400, 422…) is returned at once. Every attempt runs under `scope`: the attempts
 * share one deadline, and a caller who leaves stops them. `accept` owns the answer: it releases it when done.
 */
export async function callFirstAvailable<T>(
  candidates: Deployment[],
  build: (deployment: Deployment) => Promise<UpstreamRequest>,
  accept: (answer: Answer) => Promise<T>,
  deps: GatewayDeps,
  scope: CallScope,
): Promise<Attempted<T>> {
  let lastFailure: Failure = { kind: 'error' };
  let attempts = 0;
  for (const deployment of candidates) {
    if (scope.stopped || scope.remainingMs() <= 0) break;
    attempts += 1;
    const release = deps.health.begin(deployment.id);
    const startedAtMs = deps.now();
    let response: UpstreamResponse;
    try {
      const upstream = await build(deployment);
      // A non-streaming answer's headers come only once the whole answer is generated.
      const attemptMs = upstream.streams ? deps.limits.firstByteTimeoutMs : deps.limits.upstreamTimeoutMs;
      // undici's timers are coarse (they may fire up to ~0.5 s early or late): when the deadline comes
      // first, its own timer ends the attempt, and undici's is set past it, only as a backstop.
      const leftMs = scope.remainingMs();
      response = await deps.send(upstream, {
        signal: scope.signal,
        headersTimeoutMs: attemptMs < leftMs ? attemptMs : Math.ceil(leftMs) + COARSE_TIMER_SLACK_MS,
        bodyTimeoutMs: deps.limits.firstByteTimeoutMs,
      });
    } catch (error) {
      release();
      if (scope.stopped === 'caller') break;
      deps.health.failed(deployment.id);
      lastFailure = isTimeout(error) || scope.stopped ? { kind: 'timeout' } : { kind: 'error' };
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
        if (scope.stopped === 'caller') break;
        // Switchyard's own refusal (overloaded): no other deployment would change it.
        if (isGatewayError(error)) throw error;
        deps.health.failed(deployment.id);
        lastFailure = isTimeout(error) || scope.stopped ? { kind: 'timeout' } : { kind: 'error' };
        deps.log.log('warn', 'upstream answer unusable', { deployment: deployment.id, error: describe(error) });
        continue;
      }
    }
    const text = await readText(response).catch(() => '');
    release();
    if (scope.stopped === 'caller') break;
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
  if (scope.stopped === 'caller') throw errors.requestCancelled();
  if (attempts > 0 && (scope.stopped === 'deadline' || scope.remainingMs() <= 0)) {
    throw scope.stopError(`The model did not answer (${attempts} deployment${attempts === 1 ? '' : 's'} tried)`);
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

/**
 * Reads an upstream body whole, refusing more than `maxBytes`; `reserve` is told of each chunk before it is
 * kept (and may refuse it by throwing). On any failure the body is destroyed, so its connection is not held.
 */
export async function readText(response: UpstreamResponse, maxBytes = MAX_ERROR_BODY_BYTES, reserve?: (bytes: number) => void): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    const declared = Number(first(response.headers['content-length']));
    if (declared > maxBytes) throw new Error(`upstream body of ${declared} bytes is larger than ${maxBytes} bytes`);
    for await (const chunk of response.body) {
      size += (chunk as Buffer).byteLength;
      if (size > maxBytes) throw new Error(`upstream body larger than ${maxBytes} bytes`);
      reserve?.((chunk as Buffer).byteLength);
      chunks.push(chunk as Buffer);
    }
  } catch (error) {
    response.body.destroy();
    throw error;
  }
  return Buffer.concat(chunks, size).toString('utf8');
}

export function isTimeout(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT' || (error as Error)?.name === 'TimeoutError';
}

export function describe(error: unknown): string {
  const e = error as { code?: unknown; message?: unknown } | null;
  return [e?.code, e?.message].filter((x) => typeof x === 'string').join(': ') || 'unknown error';
}
