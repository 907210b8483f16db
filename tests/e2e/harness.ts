import OpenAI, { AzureOpenAI } from 'openai';
import { silentLogger } from '../../shared/log.js';
import { startLocalGateway, type LocalGateway, type LocalGatewayOptions } from '../../local/local-gateway.js';

export const DEMO_KEY = 'sy-test-demo-key-0123456789abcdef';
export const ADMIN_KEY = 'sya-test-admin-key-0123456789abcdef';

export interface TestGateway extends LocalGateway {
  openai: OpenAI;
  azure: (deployment?: string) => AzureOpenAI;
  /** fetch against the gateway with a key (admin by default). */
  call: (path: string, init?: RequestInit & { key?: string | null }) => Promise<Response>;
  /** Waits until buffered usage is in the store. */
  flushUsage: () => Promise<void>;
}

/** The real local gateway in this process: embedded store (in memory), simulators, local Functions host on a free port. */
export async function startTestGateway(options: LocalGatewayOptions & { env?: Record<string, string> } = {}): Promise<TestGateway> {
  const gateway = await startLocalGateway({
    ephemeralStore: true,
    log: silentLogger,
    ...options,
    env: {
      PORT: '0',
      SWITCHYARD_DEMO_KEY: DEMO_KEY,
      SWITCHYARD_ADMIN_KEY: ADMIN_KEY,
      SWITCHYARD_LEDGER_FLUSH_MS: '50',
      SWITCHYARD_CATALOG_REFRESH_MS: '1000',
      SWITCHYARD_FIRST_BYTE_TIMEOUT_MS: '2000',
      // The hourly allocation would add managed compute to a test's sums when it runs past five past the hour.
      SWITCHYARD_TIMERS: 'off',
      PATH: process.env.PATH ?? '',
      ...options.env,
    },
  });
  const call: TestGateway['call'] = (path, init = {}) => {
    const { key = ADMIN_KEY, headers, ...rest } = init;
    const merged = new Headers(headers);
    if (key !== null && !merged.has('authorization') && !merged.has('api-key')) merged.set('authorization', `Bearer ${key}`);
    if (rest.body !== undefined && !merged.has('content-type')) merged.set('content-type', 'application/json');
    return fetch(gateway.url + path, { ...rest, headers: merged });
  };
  return {
    ...gateway,
    openai: new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: DEMO_KEY, maxRetries: 0 }),
    azure: (deployment) =>
      new AzureOpenAI({ endpoint: gateway.url, apiKey: DEMO_KEY, apiVersion: '2024-10-21', deployment, maxRetries: 0 }),
    call,
    flushUsage: () => gateway.services.deps.ledger.flush(),
  };
}

export function today(): string {
  return new Date().toISOString().slice(0, 10);
}

/** Registers a serverless deployment on the OpenAI-compatible simulator through the management API. */
export async function putSimDeployment(gw: TestGateway, id: string, extra: Record<string, unknown> = {}): Promise<Response> {
  return gw.call(`/manage/deployments/${id}`, {
    method: 'PUT',
    body: JSON.stringify({
      kind: 'serverless',
      protocol: 'openai',
      endpoint: `${gw.sims!.serverless.url}/v1`,
      upstreamModel: 'Llama-3.3-70B-Instruct',
      serves: ['chat', 'embeddings'],
      auth: { type: 'key', secret: 'UPSTREAM_SIM_KEY' },
      pricing: { inputPerMillionUsd: 0.71, outputPerMillionUsd: 0.71 },
      ...extra,
    }),
  });
}

/** Creates a route and lets team demo use it. */
export async function putRoute(gw: TestGateway, alias: string, targets: string[], extra: Record<string, unknown> = {}): Promise<void> {
  const route = await gw.call(`/manage/routes/${alias}`, {
    method: 'PUT',
    body: JSON.stringify({ targets: targets.map((deployment) => ({ deployment })), ...extra }),
  });
  if (route.status >= 300) throw new Error(`route ${alias}: ${route.status} ${await route.text()}`);
  const team = await (await gw.call('/manage/teams/demo')).json();
  if (!team.aliases.includes(alias)) {
    const patched = await gw.call('/manage/teams/demo', { method: 'PATCH', body: JSON.stringify({ aliases: [...team.aliases, alias] }) });
    if (patched.status !== 200) throw new Error(`team patch: ${patched.status} ${await patched.text()}`);
  }
}
