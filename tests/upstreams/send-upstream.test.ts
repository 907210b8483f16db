import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startOpenAICompatibleSim, type OpenAICompatibleSim } from '../../local/simulators/openai-compatible-sim.js';
import { readBody } from '../../shared/upstreams/read-body.js';
import { createSender, createUpstreamDispatcher } from '../../shared/upstreams/send-upstream.js';
import { retryAfterMs } from '../../shared/upstreams/upstream-errors.js';
import type { SendOptions, UpstreamFailure } from '../../shared/upstreams/upstream-port.js';

let sim: OpenAICompatibleSim;
beforeAll(async () => {
  sim = await startOpenAICompatibleSim();
});
afterAll(async () => {
  await sim?.close();
});

let server: Server | undefined;
let dispatcher: ReturnType<typeof createUpstreamDispatcher> | undefined;
afterEach(async () => {
  await dispatcher?.close();
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = dispatcher = undefined;
});

const request = (url: string) => ({
  url,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ messages: [{ role: 'user', content: 'x' }] }),
  streams: false,
});
const options = (overrides: Partial<SendOptions> = {}): SendOptions => ({
  signal: new AbortController().signal,
  deadlineMs: 10_000,
  headersTimeoutMs: 2_000,
  idleTimeoutMs: 2_000,
  ...overrides,
});

/** A loopback upstream that counts the connections closed since it started. */
async function upstream(handler: RequestListener): Promise<{ url: string; closed: () => number }> {
  let closed = 0;
  const seen = new Set<Socket>();
  server = createServer((req, res) => {
    if (!seen.has(req.socket)) {
      seen.add(req.socket);
      req.socket.once('close', () => (closed += 1));
    }
    req.resume();
    req.once('end', () => handler(req, res));
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, closed: () => closed };
}

function sender() {
  dispatcher ??= createUpstreamDispatcher({ allowLoopback: true });
  return createSender(dispatcher);
}

async function failureOf(promise: Promise<unknown>): Promise<UpstreamFailure> {
  const outcome = await promise.then(
    () => undefined,
    (error: unknown) => error as UpstreamFailure,
  );
  expect(outcome?.name).toBe('UpstreamFailure');
  return outcome!;
}

describe('the upstream sender', () => {
  it('refuses a host name that resolves to loopback outside local mode, as a connect failure', async () => {
    dispatcher = createUpstreamDispatcher({ allowLoopback: false });
    const port = new URL(sim.url).port;
    const failure = await failureOf(createSender(dispatcher)(request(`http://localhost:${port}/v1/chat/completions`), options()));
    expect(failure.kind).toBe('connect');
    expect(failure.cause).toMatchObject({ code: 'EREFUSEDADDRESS' });
  });

  it('reaches a loopback host name in local mode, the answer a web stream of bytes', async () => {
    const port = new URL(sim.url).port;
    const answer = await sender()(request(`http://localhost:${port}/v1/chat/completions`), options());
    expect(answer.status).toBe(200);
    expect(answer.body).toBeInstanceOf(ReadableStream);
    expect(JSON.parse(await readBody(answer.body, { maxBytes: 1024 * 1024 })).object).toBe('chat.completion');
  });

  it('names a refused connection connect', async () => {
    const up = await upstream((_req, res) => res.end());
    const url = up.url;
    await new Promise<void>((resolve) => server!.close(() => resolve()));
    server = undefined;
    expect((await failureOf(sender()(request(url), options()))).kind).toBe('connect');
  });

  it('names a status outside 2xx status, with its headers and the start of its error body', async () => {
    const up = await upstream((_req, res) =>
      res.writeHead(429, { 'retry-after': '3' }).end('{"error":{"code":"429","message":"slow down"}}'),
    );
    const failure = await failureOf(sender()(request(up.url), options()));
    expect(failure).toMatchObject({ kind: 'status', status: 429, errorBody: '{"error":{"code":"429","message":"slow down"}}' });
    expect(failure.headers['retry-after']).toBe('3');
  });

  it('never follows a redirect: the failure is named redirect', async () => {
    let requests = 0;
    const up = await upstream((_req, res) => {
      requests += 1;
      res.writeHead(307, { location: '/elsewhere' }).end();
    });
    expect(await failureOf(sender()(request(up.url), options()))).toMatchObject({ kind: 'redirect', status: 307 });
    expect(requests).toBe(1);
  });

  it('names a wait for headers past its timeout timeout', async () => {
    const up = await upstream(() => undefined);
    expect((await failureOf(sender()(request(up.url), options({ headersTimeoutMs: 50 })))).kind).toBe('timeout');
  });

  it('names a connection dropped before the answer reset', async () => {
    const up = await upstream((req) => req.socket.destroy());
    expect((await failureOf(sender()(request(up.url), options()))).kind).toBe('reset');
  });

  it('names a call its signal ended aborted', async () => {
    const up = await upstream(() => undefined);
    const controller = new AbortController();
    const sent = sender()(request(up.url), options({ signal: controller.signal }));
    setTimeout(() => controller.abort(), 20);
    expect((await failureOf(sent)).kind).toBe('aborted');
  });

  it('errors the body with a typed failure when the connection drops mid-answer', async () => {
    const up = await upstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"partial":');
      setTimeout(() => res.socket?.destroy(), 20);
    });
    const answer = await sender()(request(up.url), options());
    const failure = await failureOf(readBody(answer.body, { maxBytes: 1024 }));
    expect(failure.kind).toBe('reset');
  });

  it('errors the body with a timeout when it falls silent past the idle timeout', async () => {
    const up = await upstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{');
    });
    const answer = await sender()(request(up.url), options({ idleTimeoutMs: 50 }));
    expect((await failureOf(readBody(answer.body, { maxBytes: 1024 }))).kind).toBe('timeout');
  });

  it('closes the connection when an unfinished body is cancelled', async () => {
    const up = await upstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: {}\n\n');
    });
    const answer = await sender()(request(up.url), options());
    await answer.body.cancel();
    await expect.poll(() => up.closed()).toBe(1);
  });

  it('reads retry-after-ms first, then retry-after in seconds or as a date', () => {
    const now = Date.parse('2026-11-28T12:00:00Z');
    expect(retryAfterMs({ 'retry-after-ms': '1500', 'retry-after': '9' }, now)).toBe(1500);
    expect(retryAfterMs({ 'retry-after': '2' }, now)).toBe(2000);
    expect(retryAfterMs({ 'retry-after': 'Sat, 28 Nov 2026 12:00:05 GMT' }, now)).toBe(5000);
    expect(retryAfterMs({ 'retry-after': 'soon' }, now)).toBeUndefined();
    expect(retryAfterMs({}, now)).toBeUndefined();
  });
});
