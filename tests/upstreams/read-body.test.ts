import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { readBody } from '../../shared/upstreams/read-body.js';
import { createSender, createUpstreamDispatcher } from '../../shared/upstreams/send-upstream.js';

let server: Server | undefined;
let dispatcher: ReturnType<typeof createUpstreamDispatcher> | undefined;
afterEach(async () => {
  await dispatcher?.close();
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = dispatcher = undefined;
});

/** A loopback upstream counting the connections that carried a request: how many, and how many closed since. */
async function upstream(handler: RequestListener): Promise<{ url: string; used: () => number; closed: () => number }> {
  const used = new Set<Socket>();
  let closed = 0;
  server = createServer((req, res) => {
    if (!used.has(req.socket)) {
      used.add(req.socket);
      req.socket.once('close', () => (closed += 1));
    }
    req.resume();
    req.once('end', () => handler(req, res));
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, used: () => used.size, closed: () => closed };
}

async function send(url: string) {
  dispatcher ??= createUpstreamDispatcher({ allowLoopback: true });
  return createSender(dispatcher)(
    { url, headers: {}, body: '{}', streams: false },
    { signal: new AbortController().signal, deadlineMs: 10_000, headersTimeoutMs: 5_000, idleTimeoutMs: 5_000 },
  );
}

/** Reads an answer's body as the use cases do: its declared size checked first, each chunk reserved. */
async function readText(url: string, maxBytes: number, reserve?: (bytes: number) => void): Promise<string> {
  const answer = await send(url);
  return readBody(answer.body, { maxBytes, headers: answer.headers, reserve });
}

const MiB = 1024 * 1024;

describe('readBody over a real upstream answer', () => {
  it('reads a body whole, tells reserve of every byte, and keeps the connection open for reuse', async () => {
    const body = 'x'.repeat(3 * MiB);
    const up = await upstream((_req, res) => res.end(body));
    let reserved = 0;
    expect(await readText(up.url, 4 * MiB, (bytes) => (reserved += bytes))).toBe(body);
    expect(reserved).toBe(body.length);
    expect(up.used()).toBe(1);
    expect(up.closed()).toBe(0);
  });

  it('refuses a chunked body past its cap and closes the connection', async () => {
    const up = await upstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('y'.repeat(2 * MiB)); // and never ends
    });
    await expect(readText(up.url, MiB)).rejects.toThrow(/larger than/);
    await expect.poll(() => up.closed()).toBe(1);
  });

  it('refuses a body that declares a size past the cap before reading it, and closes the connection', async () => {
    const up = await upstream((_req, res) => {
      res.writeHead(200, { 'content-length': String(64 * MiB) });
      res.write('z');
    });
    let reserved = 0;
    await expect(readText(up.url, MiB, (bytes) => (reserved += bytes))).rejects.toThrow(/larger than/);
    expect(reserved).toBe(0);
    await expect.poll(() => up.closed()).toBe(1);
  });

  it("stops when reserve refuses a chunk, with reserve's error, and closes the connection", async () => {
    const up = await upstream((_req, res) => {
      res.write('a'.repeat(256 * 1024));
      setTimeout(() => res.end('a'.repeat(256 * 1024)), 50);
    });
    const refusal = new Error('no room');
    await expect(
      readText(up.url, MiB, () => {
        throw refusal;
      }),
    ).rejects.toBe(refusal);
    await expect.poll(() => up.closed()).toBe(1);
  });
});
