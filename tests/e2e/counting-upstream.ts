import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestGateway } from './harness.js';
import { completionJson } from './hostile-upstream.js';

/** A loopback upstream per path: counts requests and the most it held at once; `held` paths wait for release(). */
export interface CountingUpstream {
  url: string;
  requests: Map<string, number>;
  maxInFlight: Map<string, number>;
  failing: Set<string>;
  /** Paths that answer 429 asking to wait a day (Retry-After: 86400). */
  throttled: Set<string>;
  held: Set<string>;
  waiting(path: string): number;
  release(path: string, count?: number): void;
  close(): Promise<void>;
}

export async function startCountingUpstream(): Promise<CountingUpstream> {
  const requests = new Map<string, number>();
  const inFlight = new Map<string, number>();
  const maxInFlight = new Map<string, number>();
  const failing = new Set<string>();
  const throttled = new Set<string>();
  const held = new Set<string>();
  const queues = new Map<string, Array<() => void>>();
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname.split('/')[1] ?? '';
    requests.set(path, (requests.get(path) ?? 0) + 1);
    inFlight.set(path, (inFlight.get(path) ?? 0) + 1);
    maxInFlight.set(path, Math.max(maxInFlight.get(path) ?? 0, inFlight.get(path)!));
    const answer = (reply: (res: ServerResponse) => void) => {
      inFlight.set(path, inFlight.get(path)! - 1);
      reply(res);
    };
    req.resume();
    req.once('end', () => {
      if (failing.has(path))
        return answer((r) => r.writeHead(500, { 'content-type': 'application/json' }).end('{"error":{"message":"down"}}'));
      if (throttled.has(path)) {
        return answer((r) =>
          r.writeHead(429, { 'content-type': 'application/json', 'retry-after': '86400' }).end('{"error":{"message":"tomorrow"}}'),
        );
      }
      const ok = () => answer((r) => r.writeHead(200, { 'content-type': 'application/json' }).end(completionJson(path)));
      if (!held.has(path)) return ok();
      const queue = queues.get(path) ?? [];
      queue.push(ok);
      queues.set(path, queue);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    maxInFlight,
    failing,
    throttled,
    held,
    waiting: (path) => queues.get(path)?.length ?? 0,
    release(path, count = Number.POSITIVE_INFINITY) {
      const queue = queues.get(path) ?? [];
      for (const ok of queue.splice(0, count)) ok();
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Registers an `openai` deployment at `${upstream.url}/${path}`: managed when it names a capacity, else serverless. */
export async function putLoopbackDeployment(
  gw: TestGateway,
  upstream: CountingUpstream,
  id: string,
  path: string,
  extra: Record<string, unknown> = {},
): Promise<void> {
  const managed = extra.capacity !== undefined;
  const response = await gw.call(`/manage/deployments/${id}`, {
    method: 'PUT',
    body: JSON.stringify({
      kind: managed ? 'managed' : 'serverless',
      protocol: 'openai',
      endpoint: `${upstream.url}/${path}`,
      upstreamModel: 'loopback',
      auth: { type: 'none' },
      pricing: managed ? { hourlyUsd: 1, instances: 1 } : { inputPerMillionUsd: 1, outputPerMillionUsd: 1 },
      ...extra,
    }),
  });
  if (response.status >= 300) throw new Error(`deployment ${id}: ${response.status} ${await response.text()}`);
}
