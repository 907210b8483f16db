/**
 * The one error type of Switchyard. Every failure a caller can see is a GatewayError with a stable
 * `code`; shared/http/error-response.ts is the only place that turns it into a response or an SSE error event.
 */
export type ErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'rate_limit_error'
  | 'insufficient_quota'
  | 'server_error'
  | 'upstream_error';

export interface GatewayErrorOptions {
  param?: string | null;
  /** Seconds the caller should wait before retrying (becomes `Retry-After`). */
  retryAfterSeconds?: number;
  /** Extra fields merged into the `error` object (e.g. Azure's `innererror`). */
  extra?: Record<string, unknown>;
  /** Response headers that belong to the failure (e.g. `x-switchyard-deployment` of the deployment that refused). */
  headers?: Record<string, string>;
  cause?: unknown;
}

export class GatewayError extends Error {
  override readonly name = 'GatewayError';
  readonly status: number;
  readonly code: string;
  readonly type: ErrorType;
  readonly param: string | null;
  readonly retryAfterSeconds: number | undefined;
  readonly extra: Record<string, unknown> | undefined;
  readonly headers: Readonly<Record<string, string>>;

  constructor(status: number, type: ErrorType, code: string, message: string, options: GatewayErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.status = status;
    this.type = type;
    this.code = code;
    this.param = options.param ?? null;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.extra = options.extra;
    this.headers = options.headers ?? {};
  }
}

export function isGatewayError(value: unknown): value is GatewayError {
  return value instanceof Error && value.name === 'GatewayError';
}

/** The catalogue of failures, so that each code is spelled, typed and given its status once. */
export const errors = {
  invalidRequest: (message: string, param: string | null = null) =>
    new GatewayError(400, 'invalid_request_error', 'invalid_request_error', message, { param }),
  invalidJson: (detail: string) =>
    new GatewayError(400, 'invalid_request_error', 'invalid_json', `We could not parse the JSON body of your request: ${detail}`),
  invalidApiKey: (message = 'Incorrect or missing API key. Send it as "Authorization: Bearer <key>" or "api-key: <key>".') =>
    new GatewayError(401, 'authentication_error', 'invalid_api_key', message),
  forbidden: (message: string) => new GatewayError(403, 'permission_error', 'forbidden', message),
  modelNotAllowed: (alias: string) =>
    new GatewayError(403, 'permission_error', 'model_not_allowed', `Your team may not use the model '${alias}'.`, { param: 'model' }),
  modelNotFound: (alias: string) =>
    new GatewayError(404, 'invalid_request_error', 'model_not_found', `The model '${alias}' does not exist.`, { param: 'model' }),
  notFound: (what: string) => new GatewayError(404, 'not_found_error', 'not_found', `${what} was not found.`),
  conflict: (message: string) => new GatewayError(409, 'invalid_request_error', 'conflict', message),
  preconditionFailed: (message = 'The document changed since you read it (If-Match does not match its ETag). Read it again and retry.') =>
    new GatewayError(412, 'invalid_request_error', 'precondition_failed', message),
  requestTooLarge: (limitBytes: number) =>
    new GatewayError(
      413,
      'invalid_request_error',
      'request_too_large',
      `The request body is larger than the limit of ${limitBytes} bytes.`,
    ),
  unsupportedMediaType: () =>
    new GatewayError(415, 'invalid_request_error', 'unsupported_media_type', 'Send the request body as application/json.'),
  upstreamError: (message: string, cause?: unknown, retryAfterSeconds?: number) =>
    new GatewayError(502, 'upstream_error', 'upstream_error', message, { cause, retryAfterSeconds }),
  /** Every deployment that could take the request is throttled, cooling down or saturated: the model's, not the team's, limit. */
  capacityExceeded: (message: string, retryAfterSeconds: number) =>
    new GatewayError(429, 'rate_limit_error', 'capacity_exceeded', message, { retryAfterSeconds }),
  /** No deployment of the alias honours a feature the request uses; `param` names the field that uses it. */
  unsupportedFeature: (alias: string, feature: string, param: string) =>
    new GatewayError(
      400,
      'invalid_request_error',
      'unsupported_feature',
      `No deployment of the model '${alias}' supports ${feature}, which '${param}' asks for. Remove it or use a model that supports it.`,
      { param },
    ),
  /** A hard budget that this request's worst-case cost would pass; OpenAI answers an exhausted quota with the same type. */
  budgetExceeded: (team: string, month: string, retryAfterSeconds: number) =>
    new GatewayError(
      429,
      'insufficient_quota',
      'budget_exceeded',
      `Team '${team}' has reached its hard budget for ${month}: this request's worst-case cost does not fit in what is left. It resets at the start of next month (UTC).`,
      // OpenAI's clients retry a 429 unless told not to: a retry cannot help before the month ends.
      { retryAfterSeconds, headers: { 'x-should-retry': 'false' } },
    ),
  /** The team's own requests or tokens per minute, across every instance; the headers tell what is left and when it resets. */
  rateLimitExceeded: (message: string, retryAfterSeconds: number, headers: Record<string, string>) =>
    new GatewayError(429, 'rate_limit_error', 'rate_limit_exceeded', message, { retryAfterSeconds, headers }),
  noDeploymentAvailable: (message: string, retryAfterSeconds?: number) =>
    new GatewayError(503, 'upstream_error', 'no_deployment_available', message, { retryAfterSeconds }),
  upstreamTimeout: (message: string) => new GatewayError(504, 'upstream_error', 'upstream_timeout', message),
  /** The upstream's content policy refused the request; Azure OpenAI's shape, with its filter results when it gave them. */
  contentFilter: (message = 'The request was filtered by the upstream content policy.', param = 'prompt', filterResult?: unknown) =>
    new GatewayError(400, 'invalid_request_error', 'content_filter', message, {
      param,
      extra: filterResult ? { innererror: { code: 'ResponsibleAIPolicyViolation', content_filter_result: filterResult } } : undefined,
    }),
  /** Content Safety could not screen the request and the team's profile fails closed (`onOutage: closed`). */
  safetyUnavailable: (retryAfterSeconds = 5) =>
    new GatewayError(
      503,
      'server_error',
      'safety_unavailable',
      "Content safety screening is not available right now, and your team's policy does not let requests through unscreened. Retry shortly.",
      { retryAfterSeconds },
    ),
  /** The upstream refused the request as the caller's to fix (400, 413, 422…): no other deployment would take it. */
  upstreamRejected: (status: number, detail: string, param: string | null = null) =>
    status === 413
      ? new GatewayError(413, 'invalid_request_error', 'request_too_large', `The model rejected the request: ${detail}`, { param })
      : new GatewayError(400, 'invalid_request_error', 'invalid_request_error', `The model rejected the request: ${detail}`, { param }),
  overloaded: (retryAfterSeconds = 1) =>
    new GatewayError(
      503,
      'server_error',
      'overloaded',
      'Switchyard is holding as many answers in memory as it may right now. Retry shortly.',
      { retryAfterSeconds },
    ),
  /** The caller left before the answer; nobody reads this response, it names the outcome in logs and usage. */
  requestCancelled: () =>
    new GatewayError(499, 'invalid_request_error', 'request_cancelled', 'The caller closed the request before it was answered.'),
  storeUnavailable: (cause?: unknown) =>
    new GatewayError(503, 'server_error', 'store_unavailable', 'The configuration store is not reachable right now. Retry shortly.', {
      cause,
      retryAfterSeconds: 1,
    }),
  /** Start-up found the settings invalid; the message never repeats a value, the log names the settings. */
  configurationError: (cause?: unknown) =>
    new GatewayError(
      500,
      'server_error',
      'configuration_error',
      "Switchyard's configuration is invalid, so it cannot serve requests. Its operator must fix the app settings named in its log.",
      { cause },
    ),
  /** Switchyard could not obtain or use its own identity (managed identity, store key) to reach its store. */
  credentialsUnavailable: (cause?: unknown) =>
    new GatewayError(
      503,
      'server_error',
      'credentials_unavailable',
      'Switchyard could not authenticate to its configuration store. Retry shortly.',
      { cause, retryAfterSeconds: 5 },
    ),
  internal: (cause?: unknown) =>
    new GatewayError(
      500,
      'server_error',
      'internal_error',
      'Switchyard hit an internal error. The request id in x-request-id helps us find it.',
      { cause },
    ),
} as const;
