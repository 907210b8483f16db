import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { UsageRecord } from '../../shared/usage/usage-record.js';
import type { TestGateway } from './harness.js';

/** What one path of the hostile upstream does with a request. */
export type Behaviour = (req: IncomingMessage, res: ServerResponse) => void;

export interface HostileUpstream {
  /** Base URL; a deployment's endpoint is `${url}/${behaviour}`. */
  url: string;
  /** Requests received per behaviour. */
  requests(behaviour: string): number;
  /** Responses begun that neither finished nor lost their connection: what the gateway still holds open. */
  activeResponses(): number;
  /** Connections closed so far (by either side). */
  closedSockets(): number;
  close(): Promise<void>;
}

/**
 * A loopback upstream with hostile behaviours (trickling bodies, endless events, redirects…), one per path
 * prefix, counting what the gateway leaves open. Timers stop when a response closes, however it closes.
 */
export async function startHostileUpstream(behaviours: Record<string, Behaviour>): Promise<HostileUpstream> {
  const counts = new Map<string, number>();
  const sockets = new Set<Socket>();
  let closed = 0;
  let active = 0;
  const server: Server = createServer((req, res) => {
    const name = new URL(req.url ?? '/', 'http://x').pathname.split('/')[1] ?? '';
    counts.set(name, (counts.get(name) ?? 0) + 1);
    active += 1;
    res.once('close', () => {
      active -= 1;
    });
    req.resume();
    const behaviour = behaviours[name];
    if (!behaviour) {
      res.writeHead(404).end();
      return;
    }
    req.once('end', () => behaviour(req, res));
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => {
      sockets.delete(socket);
      closed += 1;
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests: (behaviour) => counts.get(behaviour) ?? 0,
    activeResponses: () => active,
    closedSockets: () => closed,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Writes `chunk` every `everyMs` until the response closes; never ends it. */
export function trickle(res: ServerResponse, chunk: string | (() => string), everyMs: number): void {
  const timer = setInterval(() => res.write(typeof chunk === 'string' ? chunk : chunk()), everyMs);
  res.once('close', () => clearInterval(timer));
}

export const sseHeaders = { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' };

/** An OpenAI chat.completion.chunk carrying `content`, framed as one SSE event. */
export function deltaEvent(content: string): string {
  return `data: ${JSON.stringify({ id: 'chatcmpl-h', object: 'chat.completion.chunk', created: 1767225600, model: 'hostile', choices: [{ index: 0, delta: { content }, finish_reason: null }] })}\n\n`;
}

/** A complete, valid non-streamed chat completion. */
export function completionJson(content = 'ok', padding = ''): string {
  return JSON.stringify({
    id: 'chatcmpl-h',
    object: 'chat.completion',
    created: 1767225600,
    model: 'hostile',
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop', logprobs: null }],
    usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 },
    ...(padding ? { padding } : {}),
  });
}

/** Registers a serverless `openai` deployment at `${upstream.url}/${behaviour}` (auth none: local mode, loopback). */
export async function putHostileDeployment(gw: TestGateway, upstream: HostileUpstream, id: string, behaviour: string): Promise<void> {
  const response = await gw.call(`/manage/deployments/${id}`, {
    method: 'PUT',
    body: JSON.stringify({
      kind: 'serverless',
      protocol: 'openai',
      endpoint: `${upstream.url}/${behaviour}`,
      upstreamModel: 'hostile',
      serves: ['chat', 'embeddings'],
      auth: { type: 'none' },
      pricing: { inputPerMillionUsd: 1, outputPerMillionUsd: 1 },
    }),
  });
  if (response.status >= 300) throw new Error(`deployment ${id}: ${response.status} ${await response.text()}`);
}

/** Every usage record the gateway hands its ledger from now on (the ledger still writes them). */
export function watchUsage(gw: TestGateway): UsageRecord[] {
  const seen: UsageRecord[] = [];
  const ledger = gw.services.deps.ledger;
  const record = ledger.record.bind(ledger);
  ledger.record = (entry: UsageRecord) => {
    seen.push(entry);
    return record(entry);
  };
  return seen;
}

/** The data of each SSE event in a body read whole. */
export function sseDataOf(body: string): string[] {
  return body
    .split(/\n\n/)
    .map((block) =>
      block
        .split('\n')
        .filter((line) => line.startsWith('data: '))
        .map((line) => line.slice(6))
        .join('\n'),
    )
    .filter((data) => data.length > 0);
}
