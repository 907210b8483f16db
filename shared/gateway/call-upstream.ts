import type { Deployment } from '../catalog/schemas.js';
import { errors, isGatewayError, type GatewayError } from '../errors.js';
import { discardBody, readBody } from '../upstreams/read-body.js';
import { isFailoverStatus, readUpstreamError, retryAfterMs, type UpstreamErrorInfo } from '../upstreams/upstream-errors.js';
import {
  isUpstreamFailure,
  type SendOptions,
  type UpstreamAnswer,
  type UpstreamFailure,
  type UpstreamRequest,
} from '../upstreams/upstream-port.js';
import type { CallScope } from './call-scope.js';
import type { GatewayDeps } from './gateway-deps.js';

/** An upstream that answered 2xx, still holding its in-flight slot until `release` is called. */
export interface Answer {
  deployment: Deployment;
  response: UpstreamAnswer;
  /** Whether the upstream answers with an SSE stream, as the request asked. */
  streams: boolean;
  release: () => void;
  startedAtMs: number;
}

export type Attempted<T> =
  | { ok: true; result: T; deployment: Deployment; attempts: number }
  | { ok: false; clientError: GatewayError; deployment: Deployment; attempts: number };

/** How long a caller is told to wait when every deployment was full: an in-flight request's remaining time is unknown. */
const SATURATED_RETRY_MS = 1_000;

/** Why the last tried deployment failed; decides the status the caller sees when all fail. */
type Failure = { kind: 'timeout' } | { kind: 'throttled'; retryAfterMs?: number } | { kind: 'error' };

type Outcome<T> =
  | { kind: 'answered'; result: T }
  | { kind: 'saturated' }
  | { kind: 'failed'; failure: Failure }
  | { kind: 'refused'; clientError: GatewayError }
  | { kind: 'cancelled' };

/**
 * Tries the candidates in order until one answers 2xx and `accept` takes its answer. A failure another
 * deployment may not share (network, timeout, redirect, 429, 5xx, auth, a broken 2xx body) moves on; an
 * error that is the caller's (400, 422…) is returned at once. Every attempt runs under `scope`: the attempts
 * share one deadline, and a caller who leaves stops them. `accept` owns the answer: it releases it when done,
 * and leaves its body read, cancelled or unlocked.
 */
export async function callFirstAvailable<T>(
  candidates: Deployment[],
  build: (deployment: Deployment) => Promise<UpstreamRequest>,
  accept: (answer: Answer) => Promise<T>,
  deps: GatewayDeps,
  scope: CallScope,
): Promise<Attempted<T>> {
  let lastFailure: Failure = { kind: 'error' };
  let allThrottled = true;
  // When each tried deployment may be asked again: its cool-down, or later if the upstream said so (Retry-After).
  const availableAtMs: number[] = [];
  let attempts = 0;
  let saturated = 0;
  for (const deployment of candidates) {
    if (scope.stopped || scope.remainingMs() <= 0) break;
    const outcome = await attempt(deployment, build, accept, deps, scope);
    // Full (or its breaker's probe taken) since routing chose it: skipped, like a deployment routing found full.
    if (outcome.kind === 'saturated') {
      saturated += 1;
      availableAtMs.push(deps.now() + SATURATED_RETRY_MS);
      continue;
    }
    attempts += 1;
    if (outcome.kind === 'answered') return { ok: true, result: outcome.result, deployment, attempts };
    if (outcome.kind === 'refused') return { ok: false, clientError: outcome.clientError, deployment, attempts };
    if (outcome.kind === 'cancelled') break;
    lastFailure = outcome.failure;
    if (outcome.failure.kind !== 'throttled') allThrottled = false;
    const upstreamAtMs = outcome.failure.kind === 'throttled' ? deps.now() + (outcome.failure.retryAfterMs ?? 0) : 0;
    availableAtMs.push(Math.max(deps.health.coolingUntilMs(deployment.id), upstreamAtMs));
  }
  if (scope.stopped === 'caller') throw errors.requestCancelled();
  if (attempts > 0 && (scope.stopped === 'deadline' || scope.remainingMs() <= 0)) {
    throw scope.stopError(`The model did not answer (${attempts} deployment${attempts === 1 ? '' : 's'} tried)`);
  }
  const soonestMs = availableAtMs.length > 0 ? Math.min(...availableAtMs) - deps.now() : 0;
  const retryAfterSeconds = Math.max(1, Math.ceil(soonestMs / 1000));
  if (attempts === 0 && saturated > 0) {
    throw errors.capacityExceeded('Every deployment for this model is at capacity. Retry shortly.', retryAfterSeconds);
  }
  throw failureToError(allThrottled ? { kind: 'throttled' } : lastFailure, attempts, retryAfterSeconds);
}

async function attempt<T>(
  deployment: Deployment,
  build: (deployment: Deployment) => Promise<UpstreamRequest>,
  accept: (answer: Answer) => Promise<T>,
  deps: GatewayDeps,
  scope: CallScope,
): Promise<Outcome<T>> {
  const release = deps.health.tryBegin(deployment);
  if (!release) return { kind: 'saturated' };
  scope.attempting = deployment;
  const startedAtMs = deps.now();
  let answer: Answer;
  try {
    const upstream = await build(deployment);
    const response = await scope.upstreamWork(() => deps.send(upstream, sendOptions(upstream, deps, scope)));
    answer = { deployment, response, streams: upstream.streams, release, startedAtMs };
  } catch (error) {
    release();
    if (scope.stopped === 'caller') return { kind: 'cancelled' };
    if (isUpstreamFailure(error) && error.status !== undefined) return refused(error, error.status, deployment, deps);
    return failed(error, 'upstream attempt failed', deployment, deps, scope);
  }
  try {
    const result = await accept(answer);
    deps.health.succeeded(deployment.id);
    return { kind: 'answered', result };
  } catch (error) {
    discardBody(answer.response.body);
    release();
    if (scope.stopped === 'caller') return { kind: 'cancelled' };
    // Switchyard's own refusal (overloaded): no other deployment would change it.
    if (isGatewayError(error)) throw error;
    return failed(error, 'upstream answer unusable', deployment, deps, scope);
  }
}

function sendOptions(upstream: UpstreamRequest, deps: GatewayDeps, scope: CallScope): SendOptions {
  return {
    signal: scope.signal,
    deadlineMs: scope.remainingMs(),
    // A non-streaming answer's headers come only once the whole answer is generated.
    headersTimeoutMs: upstream.streams ? deps.limits.firstByteTimeoutMs : deps.limits.upstreamTimeoutMs,
    idleTimeoutMs: deps.limits.firstByteTimeoutMs,
  };
}

function failed(error: unknown, what: string, deployment: Deployment, deps: GatewayDeps, scope: CallScope): Outcome<never> {
  deps.health.failed(deployment.id);
  deps.log.log('warn', what, { deployment: deployment.id, error: describe(error) });
  const timedOut = scope.stopped !== undefined || (isUpstreamFailure(error) && error.kind === 'timeout');
  return { kind: 'failed', failure: timedOut ? { kind: 'timeout' } : { kind: 'error' } };
}

/** An upstream that answered a status: the caller's fault (returned at once) or this target's (fail over). */
function refused(failure: UpstreamFailure, status: number, deployment: Deployment, deps: GatewayDeps): Outcome<never> {
  const info = readUpstreamError(failure.errorBody);
  if (!isFailoverStatus(status)) return { kind: 'refused', clientError: clientErrorFrom(status, info) };
  const askedMs = retryAfterMs(failure.headers, deps.now());
  // The caller is told the capped wait too: the deployment is back in rotation then, whatever the upstream asked.
  const appliedMs = deps.health.failed(deployment.id, askedMs, { throttled: status === 429 });
  deps.log.log('warn', 'upstream refused', { deployment: deployment.id, status, code: info.code });
  if (status === 429)
    return { kind: 'failed', failure: { kind: 'throttled', retryAfterMs: askedMs === undefined ? undefined : appliedMs } };
  return { kind: 'failed', failure: status === 408 ? { kind: 'timeout' } : { kind: 'error' } };
}

function clientErrorFrom(status: number, info: UpstreamErrorInfo): GatewayError {
  if (info.code === 'content_filter') return errors.contentFilter(info.message, info.param, info.contentFilterResult);
  return errors.upstreamRejected(status, info.message ?? `status ${status}`, info.param ?? null);
}

/**
 * What the caller sees when no deployment answered: 429 when every one tried was throttled (the model's capacity,
 * not a failure), 504 when the last timed out, else 502. `retryAfterSeconds` is when the soonest is available again.
 */
function failureToError(failure: Failure, attempts: number, retryAfterSeconds: number): GatewayError {
  const tried = `${attempts} deployment${attempts === 1 ? '' : 's'} tried`;
  if (attempts === 0)
    return errors.noDeploymentAvailable('No deployment can serve this model right now: all are disabled, saturated or excluded.', 1);
  switch (failure.kind) {
    case 'timeout':
      return errors.upstreamTimeout(`The model did not answer in time (${tried}).`);
    case 'throttled':
      return errors.capacityExceeded(
        `Every deployment for this model is throttled or at capacity (${tried}). Retry later.`,
        retryAfterSeconds,
      );
    case 'error':
      return errors.upstreamError(`The model's deployments failed to answer (${tried}).`, undefined, retryAfterSeconds);
  }
}

/**
 * Reads a non-streamed answer whole (at most `maxBytes`), its bytes counted against the process-wide cap. An answer
 * that cannot be read whole is dropped, and its bytes go back to the cap at once: the request may still spend a while
 * recording its usage, and holding them meanwhile would refuse other requests for bytes no one holds.
 */
export async function readWhole(answer: Answer, maxBytes: number, scope: CallScope): Promise<string> {
  let reserved = 0;
  const reserve = (bytes: number) => {
    scope.reserve(bytes);
    reserved += bytes;
  };
  try {
    return await scope.upstreamWork(() => readBody(answer.response.body, { maxBytes, headers: answer.response.headers, reserve }));
  } catch (error) {
    scope.release(reserved);
    throw error;
  }
}

export function describe(error: unknown): string {
  if (isUpstreamFailure(error)) return `${error.kind}: ${error.message}`;
  const e = error as { code?: unknown; message?: unknown } | null;
  return [e?.code, e?.message].filter((x) => typeof x === 'string').join(': ') || 'unknown error';
}
