/**
 * A loopback simulator of an Azure ML managed online endpoint serving a Foundry catalog chat model
 * on the MIR container, following AZURE.md §3: `POST /score` with `Authorization: Bearer` (§3.2),
 * deployment pinning by `azureml-model-deployment` (§3.1), the `input_data` / `output` shapes with
 * no token counts (§3.3), and the 404 / 408 / 424 / 429 statuses of §3.4, including the
 * "too many pending requests" cap of 2 × max_concurrent_requests_per_instance × instance_count.
 * Of the §3.3 `parameters` (`temperature`, `top_p`, `do_sample`, `max_new_tokens`) it honours
 * `max_new_tokens` and accepts the rest, which do not change its deterministic reply. `stop` is not a
 * documented parameter of this payload, so there is none to honour; nor are tools, response formats,
 * logprobs, `n` or `seed`, which this contract cannot express (deployments on it declare no features).
 * What one request may generate is bounded (sim-server.ts, "Bounds").
 */
import { contentText, countChatPromptTokens } from '../../shared/usage/count-tokens.js';
import { replyText } from './sim-content.js';
import { FaultPlan, retryAfterHeaders, type SimFault, type SimFaultRate } from './sim-faults.js';
import {
  generationMs,
  isAuthorized,
  isPositiveInteger,
  MAX_GENERATED_TOKENS,
  queryRecord,
  SimStatsRecorder,
  startSimServer,
  type SimAuthOptions,
  type SimExchange,
  type SimServerOptions,
  type SimStats,
  type SimTimingOptions,
} from './sim-server.js';

/** The faults an AML endpoint can show; it has no content filter of its own. */
export type AmlSimFault = Exclude<SimFault, { kind: 'content_filter' }>;

export interface AmlScoreSimBehaviour extends SimAuthOptions, SimTimingOptions {
  /** Deployments behind the endpoint; unpinned requests go to the first (default ['blue']). */
  deployments?: string[];
  /** Completion tokens when the request sets no `max_new_tokens` (default 16). */
  defaultCompletionTokens?: number;
  /** `request_settings.max_concurrent_requests_per_instance` (default 1). */
  maxConcurrentRequestsPerInstance?: number;
  /** Instances of each deployment (default 1). */
  instanceCount?: number;
  /** `request_settings.request_timeout_ms` (default 5000): slower generations end in 408. */
  requestTimeoutMs?: number;
  faultRate?: SimFaultRate<AmlSimFault>;
}

export interface AmlScoreSimOptions extends SimServerOptions, AmlScoreSimBehaviour {}

export interface AmlScoreSimStats extends SimStats {
  /** Successful requests per deployment, to check pinning and traffic. */
  byDeployment: Record<string, number>;
}

export interface AmlScoreSim {
  url: string;
  port: number;
  stats(): AmlScoreSimStats;
  resetStats(): void;
  /** Queues faults for the next requests that pass routing and auth, one per request in order. */
  injectFaults(faults: AmlSimFault[]): void;
  /** Changes behaviour (timing, capacity, deployments, faults, auth) for requests from now on. */
  setOptions(options: Partial<AmlScoreSimBehaviour>): void;
  close(): Promise<void>;
}

// The MIR container's own complaint (§3.3), which the endpoint wraps in a 424.
const EXPECTED_INPUT_FORMAT =
  'Expected input format: \n{"input_data": {"input_string": [{"role":"user", "content": "str1"}, ...], "parameters": {"k1":"v1", "k2":"v2"}}}';

const ARM_DEPLOYMENT =
  /^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.MachineLearningServices\/workspaces\/[^/]+\/onlineEndpoints\/([^/]+)\/deployments\/([^/]+)$/i;

const NO_DEPLOYMENT =
  'No valid deployments to route to. Please check that the endpoint has at least one deployment with positive weight values or use a deployment specific header to route.';

interface ScoreRequest {
  messages: { role: string; content: string }[];
  maxNewTokens: number | undefined;
}

function parseScoreRequest(body: unknown): { request: ScoreRequest } | { problem: string } {
  const inputData = (body as { input_data?: unknown } | null)?.input_data;
  if (inputData === null || typeof inputData !== 'object' || Array.isArray(inputData)) return { problem: "'input_data' must be an object" };
  const { input_string: inputString, parameters } = inputData as { input_string?: unknown; parameters?: unknown };
  const isMessage = (m: unknown): m is { role: string; content: string } =>
    m !== null &&
    typeof m === 'object' &&
    typeof (m as { role?: unknown }).role === 'string' &&
    typeof (m as { content?: unknown }).content === 'string';
  if (!Array.isArray(inputString) || inputString.length === 0 || !inputString.every(isMessage)) {
    return { problem: "'input_string' must be a non-empty list of {role, content} messages" };
  }
  if (parameters !== undefined && (parameters === null || typeof parameters !== 'object' || Array.isArray(parameters))) {
    return { problem: "'parameters' must be an object" };
  }
  const maxNewTokens = (parameters as { max_new_tokens?: unknown } | undefined)?.max_new_tokens;
  if (maxNewTokens !== undefined && !isPositiveInteger(maxNewTokens)) return { problem: "'max_new_tokens' must be a positive integer" };
  return { request: { messages: inputString, maxNewTokens } };
}

/** Starts the simulator on loopback; `close()` it when done. */
export async function startAmlScoreSim(options: AmlScoreSimOptions = {}): Promise<AmlScoreSim> {
  const { host, port, ...initial } = options;
  let behaviour: AmlScoreSimBehaviour = { ...initial };
  const stats = new SimStatsRecorder();
  const faults = new FaultPlan<AmlSimFault>();
  let byDeployment: Record<string, number> = {};
  // Admitted requests per deployment: the pending-request cap is a property of each deployment.
  const pending = new Map<string, number>();

  async function handle(exchange: SimExchange): Promise<void> {
    const config = behaviour;
    const { raw, json } = await exchange.readBody();
    const { req, url } = exchange;
    stats.received({ method: req.method ?? '', path: url.pathname, query: queryRecord(url), headers: req.headers, body: json ?? raw });

    const armDeployment = ARM_DEPLOYMENT.exec(url.pathname);
    if (armDeployment && req.method === 'GET') {
      // The management plane's read of an online deployment (GET …/onlineEndpoints/{ep}/deployments/{name}): its sku.capacity is the instance count.
      if (!isAuthorized(req.headers, config, false))
        return exchange.sendJson(401, { error: { code: 'AuthenticationFailed', message: 'Bearer token missing or invalid.' } });
      if (!url.searchParams.get('api-version'))
        return exchange.sendJson(400, {
          error: {
            code: 'MissingApiVersionParameter',
            message: 'The api-version query parameter (?api-version=) is required for all requests.',
          },
        });
      const name = armDeployment[2]!;
      if (!(config.deployments ?? ['blue']).includes(name)) {
        return exchange.sendJson(404, { error: { code: 'ResourceNotFound', message: `The online deployment '${name}' was not found.` } });
      }
      return exchange.sendJson(200, {
        id: url.pathname,
        name,
        type: 'Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments',
        sku: { name: 'Default', tier: 'Standard', capacity: config.instanceCount ?? 1 },
        properties: { provisioningState: 'Succeeded', endpointComputeType: 'Managed' },
      });
    }
    if (url.pathname !== '/score') return exchange.sendJson(404, { message: `No route for ${url.pathname}; the scoring route is /score.` });
    if (req.method !== 'POST') return exchange.sendJson(405, { message: `${req.method} is not supported on /score.` });
    if (!isAuthorized(req.headers, config, false)) {
      return exchange.sendJson(401, { message: 'Unauthorized: the key or token is missing, invalid or expired.' });
    }

    const deployments = config.deployments ?? ['blue'];
    const pinned = req.headers['azureml-model-deployment'];
    const deployment = typeof pinned === 'string' ? pinned : deployments[0];
    if (deployment === undefined || !deployments.includes(deployment)) return exchange.sendJson(404, { message: NO_DEPLOYMENT });
    const headers = { 'azureml-model-deployment': deployment };

    const cap = 2 * (config.maxConcurrentRequestsPerInstance ?? 1) * (config.instanceCount ?? 1);
    const admitted = pending.get(deployment) ?? 0;
    if (admitted >= cap) {
      return exchange.sendJson(
        429,
        { message: `Too many pending requests: more than ${cap} in flight for deployment '${deployment}'.` },
        headers,
      );
    }
    pending.set(deployment, admitted + 1);
    exchange.res.once('close', () => pending.set(deployment, (pending.get(deployment) ?? 1) - 1));

    const fault = faults.next(config.faultRate);
    switch (fault?.kind) {
      case 'status':
        return exchange.sendJson(
          fault.status,
          { message: `The simulator answered ${fault.status} as instructed.` },
          { ...headers, ...retryAfterHeaders(fault) },
        );
      case 'timeout':
        return exchange.hang();
      case 'reset':
        return exchange.reset();
    }

    const parsed = parseScoreRequest(json);
    if ('problem' in parsed) {
      const body = { error: EXPECTED_INPUT_FORMAT, exception: `ValueError: ${parsed.problem}` };
      return exchange.sendJson(424, body, {
        ...headers,
        'ms-azureml-model-error-statuscode': '400',
        'ms-azureml-model-error-reason': 'model_error',
      });
    }
    const { messages, maxNewTokens } = parsed.request;
    const completionTokens = Math.min(maxNewTokens ?? config.defaultCompletionTokens ?? 16, MAX_GENERATED_TOKENS);
    const timeoutMs = config.requestTimeoutMs ?? 5000;
    const durationMs = (config.latencyMs ?? 0) + generationMs(config, completionTokens);
    if (durationMs > timeoutMs) {
      if (!(await exchange.wait(timeoutMs))) return;
      return exchange.sendJson(408, { message: `Request timed out after ${timeoutMs} ms (request_settings.request_timeout_ms).` }, headers);
    }
    if (!(await exchange.wait(durationMs))) return;

    const lastUser = [...messages].reverse().find((m) => m.role === 'user');
    const response = { output: await replyText(contentText(lastUser?.content), completionTokens) };
    if (exchange.signal.aborted) return;
    if (fault?.kind === 'half-stream') return exchange.sendHalfJson(200, response, headers);
    if (fault?.kind === 'malformed') return exchange.sendMalformedJson();
    exchange.sendJson(200, response, headers);
    stats.succeeded({ prompt: countChatPromptTokens(messages), completion: completionTokens });
    byDeployment[deployment] = (byDeployment[deployment] ?? 0) + 1;
  }

  const server = await startSimServer({ host, port }, stats, handle);
  return {
    url: server.url,
    port: server.port,
    stats: () => ({ ...stats.snapshot(), byDeployment: { ...byDeployment } }),
    resetStats: () => {
      stats.reset();
      byDeployment = {};
    },
    injectFaults: (list) => faults.inject(list),
    setOptions: (changes) => {
      behaviour = { ...behaviour, ...changes };
    },
    close: () => server.close(),
  };
}
