import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { Agent, request } from 'undici';
import { exitWithParent } from './child-lifecycle.js';

// The floor any proxy pays: read nothing, parse nothing, swap the key, pipe both bodies through a pooled
// keep-alive client (whole answers and streams alike), keeping the path so the upstream's stream shapes reach it.
// Same Agent settings as the gateway's upstream dispatcher.
const upstreamUrl = process.env.BENCH_UPSTREAM_URL;
const upstreamKey = process.env.BENCH_UPSTREAM_KEY;
if (!upstreamUrl || !upstreamKey) throw new Error('BENCH_UPSTREAM_URL and BENCH_UPSTREAM_KEY must be set');
const dispatcher = new Agent({ keepAliveTimeout: 30_000, keepAliveMaxTimeout: 120_000, connections: 256, pipelining: 1 });

const server = createServer((req, res) => {
  if (req.method !== 'POST' || !req.url?.endsWith('/v1/chat/completions')) {
    res.writeHead(404).end();
    return;
  }
  const headers: Record<string, string> = {
    authorization: `Bearer ${upstreamKey}`,
    'content-type': req.headers['content-type'] ?? 'application/json',
  };
  if (req.headers['content-length']) headers['content-length'] = req.headers['content-length'];
  request(upstreamUrl + req.url, { method: 'POST', dispatcher, headers, body: req })
    .then(async (upstream) => {
      const out: Record<string, string | string[]> = {};
      for (const name of ['content-type', 'content-length', 'cache-control', 'x-request-id']) {
        const value = upstream.headers[name];
        if (value !== undefined) out[name] = value;
      }
      res.writeHead(upstream.statusCode, out);
      await pipeline(upstream.body, res);
    })
    .catch(() => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' }).end('{"error":{"code":"bad_gateway"}}');
      else res.destroy();
    });
});

await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
exitWithParent(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await dispatcher.close();
});
process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })}\n`);
