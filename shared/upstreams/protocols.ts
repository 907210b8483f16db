import type { Deployment } from '../catalog/schemas.js';
import { contentText } from '../usage/count-tokens.js';

/** A credential ready for the wire: an API key or a bearer token (Entra). */
export type UpstreamCredential = { kind: 'key'; value: string } | { kind: 'bearer'; value: string };

export interface UpstreamRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
  /** Whether the upstream will answer with an SSE stream. */
  streams: boolean;
}

export type ChatBody = Record<string, unknown> & { messages: unknown[]; stream?: boolean };
export type EmbeddingsBody = Record<string, unknown> & { input: unknown };

const DEFAULT_AZURE_OPENAI_API_VERSION = '2024-10-21';

// Deployments change rarely and requests are many: each upstream URL is built once.
const urls = new Map<string, string>();
const MAX_CACHED_URLS = 10_000;

function joinUrl(endpoint: string, path: string, query?: Record<string, string>): string {
  const cacheKey = `${endpoint}\u0000${path}\u0000${query ? JSON.stringify(query) : ''}`;
  let built = urls.get(cacheKey);
  if (built === undefined) {
    const url = new URL(endpoint.replace(/\/+$/, '') + path);
    for (const [k, v] of Object.entries(query ?? {})) url.searchParams.set(k, v);
    built = url.toString();
    if (urls.size >= MAX_CACHED_URLS) urls.clear();
    urls.set(cacheKey, built);
  }
  return built;
}

function withStreamUsage(body: ChatBody): ChatBody {
  if (body.stream !== true) return body;
  const callerOptions = typeof body.stream_options === 'object' && body.stream_options !== null ? body.stream_options : {};
  return { ...body, stream_options: { ...callerOptions, include_usage: true } };
}

/** One table per protocol: where a request goes, how it is shaped and how credentials travel. */
interface ProtocolTable {
  chat(deployment: Deployment, body: ChatBody): { url: string; body: unknown; streams: boolean; headers?: Record<string, string> };
  embeddings(deployment: Deployment, body: EmbeddingsBody): { url: string; body: unknown };
  authHeaders(credential: UpstreamCredential): Record<string, string>;
}

const openai: ProtocolTable = {
  chat: (d, body) => ({
    url: joinUrl(d.endpoint, '/chat/completions', d.apiVersion ? { 'api-version': d.apiVersion } : undefined),
    body: { ...withStreamUsage(body), model: d.upstreamModel },
    streams: body.stream === true,
  }),
  embeddings: (d, body) => ({
    url: joinUrl(d.endpoint, '/embeddings', d.apiVersion ? { 'api-version': d.apiVersion } : undefined),
    body: { ...body, model: d.upstreamModel },
  }),
  // Serverless (MaaS) endpoints read the key from either header; sending both is what Azure's SDK does.
  authHeaders: (c): Record<string, string> =>
    c.kind === 'key' ? { 'api-key': c.value, authorization: `Bearer ${c.value}` } : { authorization: `Bearer ${c.value}` },
};

const azureOpenai: ProtocolTable = {
  chat: (d, body) => {
    const { model: _model, ...rest } = withStreamUsage(body);
    return {
      url: joinUrl(d.endpoint, `/openai/deployments/${encodeURIComponent(d.upstreamModel)}/chat/completions`, {
        'api-version': d.apiVersion ?? DEFAULT_AZURE_OPENAI_API_VERSION,
      }),
      body: rest,
      streams: body.stream === true,
    };
  },
  embeddings: (d, body) => {
    const { model: _model, ...rest } = body;
    return {
      url: joinUrl(d.endpoint, `/openai/deployments/${encodeURIComponent(d.upstreamModel)}/embeddings`, {
        'api-version': d.apiVersion ?? DEFAULT_AZURE_OPENAI_API_VERSION,
      }),
      body: rest,
    };
  },
  authHeaders: (c): Record<string, string> => (c.kind === 'key' ? { 'api-key': c.value } : { authorization: `Bearer ${c.value}` }),
};

const amlScore: ProtocolTable = {
  // The catalog chat payload has no streaming: the gateway streams the finished answer itself.
  chat: (d, body) => ({
    url: joinUrl(d.endpoint, '/score'),
    body: { input_data: { input_string: toAmlMessages(body.messages), parameters: toAmlParameters(body) } },
    streams: false,
    headers: { 'azureml-model-deployment': d.upstreamModel },
  }),
  embeddings: () => {
    throw new Error('aml-score serves chat only');
  },
  authHeaders: (c) => ({ authorization: `Bearer ${c.value}` }),
};

const tables: Record<Deployment['protocol'], ProtocolTable> = { openai, 'azure-openai': azureOpenai, 'aml-score': amlScore };

function finish(table: ProtocolTable, built: { url: string; body: unknown; headers?: Record<string, string> }, credential: UpstreamCredential | undefined, streams: boolean): UpstreamRequest {
  return {
    url: built.url,
    headers: {
      'content-type': 'application/json',
      accept: streams ? 'text/event-stream' : 'application/json',
      ...built.headers,
      ...(credential ? table.authHeaders(credential) : {}),
    },
    body: JSON.stringify(built.body),
    streams,
  };
}

export function buildChatRequest(deployment: Deployment, body: ChatBody, credential: UpstreamCredential | undefined): UpstreamRequest {
  const table = tables[deployment.protocol];
  const built = table.chat(deployment, body);
  return finish(table, built, credential, built.streams);
}

export function buildEmbeddingsRequest(deployment: Deployment, body: EmbeddingsBody, credential: UpstreamCredential | undefined): UpstreamRequest {
  const table = tables[deployment.protocol];
  return finish(table, table.embeddings(deployment, body), credential, false);
}

function toAmlMessages(messages: unknown[]): Array<{ role: string; content: string }> {
  return messages.map((m) => {
    const message = m as { role?: unknown; content?: unknown };
    return { role: typeof message.role === 'string' ? message.role : 'user', content: contentText(message.content) };
  });
}

function toAmlParameters(body: ChatBody): Record<string, unknown> {
  const parameters: Record<string, unknown> = {};
  const maxTokens = body.max_completion_tokens ?? body.max_tokens;
  if (typeof maxTokens === 'number') parameters.max_new_tokens = maxTokens;
  if (typeof body.temperature === 'number') {
    parameters.temperature = body.temperature;
    parameters.do_sample = body.temperature > 0;
  }
  if (typeof body.top_p === 'number') parameters.top_p = body.top_p;
  return parameters;
}
