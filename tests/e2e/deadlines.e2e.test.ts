import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chatCompletions } from '../../shared/gateway/chat-completions.js';
import type { GatewayRequest, RequestBody } from '../../shared/http/types.js';
import type { UsageRecord } from '../../shared/usage/usage-record.js';
import { DEMO_KEY, putRoute, startTestGateway, type TestGateway } from './harness.js';
import {
  completionJson,
  deltaEvent,
  putHostileDeployment,
  sseDataOf,
  sseHeaders,
  startHostileUpstream,
  trickle,
  watchUsage,
  type HostileUpstream,
} from './hostile-upstream.js';

// Small enough to run quickly. The hostile upstreams trickle every 100 ms, so the silence (first-byte) timeout
// never ends them: only the whole-request deadline can. A first-byte timeout equal to the deadline means
// one hanging attempt alone spends the deadline, whichever way undici's coarse timers round it.
const FIRST_BYTE_TIMEOUT_MS = 1000;
const DEADLINE_MS = 1000;

const json = { 'content-type': 'application/json' };

let gw: TestGateway;
let upstream: HostileUpstream;
let usage: UsageRecord[];
let n = 0;

beforeAll(async () => {
  upstream = await startHostileUpstream({
    ok: (_req, res) => res.writeHead(200, json).end(completionJson()),
    hang: () => undefined,
    'trickle-json': (_req, res) => {
      res.writeHead(200, json);
      res.write('{');
      trickle(res, ' ', 100);
    },
    'trickle-sse': (_req, res) => {
      res.writeHead(200, sseHeaders);
      res.write(deltaEvent('x'));
      trickle(res, () => deltaEvent('x'), 100);
    },
    'redirect-302': (_req, res) => res.writeHead(302, { location: `${upstream.url}/redirected/chat/completions` }).end(),
    'redirect-307': (_req, res) => res.writeHead(307, { location: `${upstream.url}/redirected/chat/completions` }).end(),
    redirected: (_req, res) => res.writeHead(200, json).end(completionJson()),
    'error-500': (_req, res) => res.writeHead(500, json).end('{"error":{"code":"InternalServerError","message":"boom"}}'),
    'error-500-endless': (_req, res) => {
      res.writeHead(500, json);
      res.write('{"error":');
      trickle(res, ' ', 100);
    },
    'error-500-huge': (_req, res) => {
      res.writeHead(500, json);
      res.write(`{"error":{"message":"${'e'.repeat(1024 * 1024)}`);
    },
    'html-200': (_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html><body>login</body></html>'),
    'non-object-200': (_req, res) => res.writeHead(200, json).end('42'),
    // Declares its size, so it is refused before it is read (the chunked case is in tests/upstreams/read-body.test.ts).
    'huge-200': (_req, res) => {
      res.writeHead(200, { ...json, 'content-length': String(33 * 1024 * 1024) });
      res.write(`{"padding":"${'h'.repeat(1024 * 1024)}`);
    },
  });
  gw = await startTestGateway({
    env: {
      SWITCHYARD_FIRST_BYTE_TIMEOUT_MS: String(FIRST_BYTE_TIMEOUT_MS),
      SWITCHYARD_UPSTREAM_TIMEOUT_MS: String(DEADLINE_MS),
      SWITCHYARD_STREAM_DEADLINE_MS: String(DEADLINE_MS),
    },
  });
  usage = watchUsage(gw);
});
afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});

/** A fresh route over fresh deployments (one per behaviour, in order), so no cool-down leaks between cases. */
async function route(...behaviours: string[]): Promise<{ alias: string; ids: string[] }> {
  n += 1;
  const ids = behaviours.map((b, i) => `dl-${n}-${i}-${b}`.slice(0, 63));
  for (const [i, b] of behaviours.entries()) await putHostileDeployment(gw, upstream, ids[i]!, b);
  const alias = `dl-${n}`;
  await putRoute(gw, alias, ids);
  return { alias, ids };
}

function chat(alias: string, requestId: string, extra: Record<string, unknown> = {}, init: RequestInit = {}): Promise<Response> {
  return gw.call('/v1/chat/completions', {
    key: DEMO_KEY,
    method: 'POST',
    headers: { 'x-request-id': requestId },
    body: JSON.stringify({ model: alias, messages: [{ role: 'user', content: 'hello' }], ...extra }),
    ...init,
  });
}

const recordOf = (requestId: string) => usage.find((r) => r.requestId === requestId);

/** The gateway holds no upstream response it will not finish, and no buffered answer bytes. */
async function expectNothingHeld(): Promise<void> {
  await expect.poll(() => upstream.activeResponses(), { timeout: 5_000 }).toBe(0);
  await expect.poll(() => gw.services.deps.bufferedAnswers.reservedBytes, { timeout: 5_000 }).toBe(0);
}

describe('one deadline for the whole request', () => {
  it('answers 504 upstream_timeout when a non-streamed answer trickles past the deadline, and drops the upstream connection', async () => {
    const { alias } = await route('trickle-json');
    const closedBefore = upstream.closedSockets();
    const response = await chat(alias, 'dl-trickle-json');
    expect(response.status).toBe(504);
    expect((await response.json()).error.code).toBe('upstream_timeout');
    await expectNothingHeld();
    expect(upstream.closedSockets()).toBeGreaterThan(closedBefore);
    expect(recordOf('dl-trickle-json')).toMatchObject({ status: 'upstream_error', httpStatus: 504 });
  });

  it('ends a stream that trickles past the deadline with an upstream_timeout error event, drops the upstream and meters it partial', async () => {
    const { alias } = await route('trickle-sse');
    const response = await chat(alias, 'dl-trickle-sse', { stream: true });
    expect(response.status).toBe(200);
    const events = sseDataOf(await response.text());
    expect(events.length).toBeGreaterThan(1);
    expect(events).not.toContain('[DONE]');
    expect(JSON.parse(events.at(-1)!).error.code).toBe('upstream_timeout');
    expect(JSON.parse(events[0]!).choices[0].delta.content).toBe('x');
    await expectNothingHeld();
    await expect.poll(() => recordOf('dl-trickle-sse')?.status).toBe('partial');
    expect(recordOf('dl-trickle-sse')!.outputTokens).toBeGreaterThan(0);
  });

  it('shares one deadline across failover attempts: a stream whose first two targets hang never reaches the third', async () => {
    // With a deadline per attempt instead, each hang would cost its own first-byte timeout and the third target would answer.
    const { alias } = await route('hang', 'hang', 'ok');
    const before = upstream.requests('ok');
    const response = await chat(alias, 'dl-share-stream', { stream: true });
    expect(response.status).toBe(504);
    expect((await response.json()).error.code).toBe('upstream_timeout');
    expect(upstream.requests('ok')).toBe(before);
    await expectNothingHeld();
  });

  it('shares one deadline across failover attempts: a non-streamed request whose first target uses it all is not retried', async () => {
    const { alias } = await route('hang', 'ok');
    const before = upstream.requests('ok');
    const response = await chat(alias, 'dl-share-json');
    expect(response.status).toBe(504);
    expect(upstream.requests('ok')).toBe(before);
    await expectNothingHeld();
  });
});

describe('a caller who leaves', () => {
  it('aborts a streamed upstream call: the upstream connection closes and the request is metered cancelled', async () => {
    const { alias } = await route('trickle-sse');
    const controller = new AbortController();
    const response = await chat(alias, 'dl-leave-stream', { stream: true }, { signal: controller.signal });
    const reader = response.body!.getReader();
    let received = '';
    while (sseDataOf(received).length < 2) received += new TextDecoder().decode((await reader.read()).value);
    controller.abort();
    await expectNothingHeld();
    await expect.poll(() => recordOf('dl-leave-stream')?.status).toBe('cancelled');
  });

  it('aborts a non-streamed upstream call when the caller disconnects from the local host', async () => {
    const { alias } = await route('hang');
    const controller = new AbortController();
    const before = upstream.requests('hang');
    const answered = chat(alias, 'dl-leave-host', {}, { signal: controller.signal }).catch((error: unknown) => error);
    await expect.poll(() => upstream.requests('hang')).toBe(before + 1);
    controller.abort();
    expect(await answered).toBeInstanceOf(Error);
    await expectNothingHeld();
    await expect.poll(() => recordOf('dl-leave-host')?.status).toBe('cancelled');
  });

  it('aborts a non-streamed upstream call when the request signal fires', async () => {
    const { alias } = await route('hang');
    const controller = new AbortController();
    const body = new Blob([JSON.stringify({ model: alias, messages: [{ role: 'user', content: 'hello' }] })]).stream() as RequestBody;
    const request: GatewayRequest = {
      method: 'POST',
      url: `${gw.url}/v1/chat/completions`,
      headers: new Headers({ authorization: `Bearer ${DEMO_KEY}`, 'content-type': 'application/json' }),
      body,
      params: {},
      query: new URLSearchParams(),
      signal: controller.signal,
    };
    const before = upstream.requests('hang');
    const answered = chatCompletions(request, gw.services.deps, { requestId: 'dl-leave-json' }).then(
      () => undefined,
      (error: unknown) => error,
    );
    await expect.poll(() => upstream.requests('hang')).toBe(before + 1);
    controller.abort();
    expect(await answered).toMatchObject({ code: 'request_cancelled' });
    await expectNothingHeld();
    expect(recordOf('dl-leave-json')).toMatchObject({ status: 'cancelled' });
  });
});

describe('an upstream redirect', () => {
  it('is a failure of that target: the next one answers, and the redirect is never followed', async () => {
    const { alias, ids } = await route('redirect-302', 'ok');
    const before = upstream.requests('redirected');
    const response = await chat(alias, 'dl-302');
    expect(response.status).toBe(200);
    expect(response.headers.get('x-switchyard-deployment')).toBe(ids[1]);
    expect(upstream.requests('redirected')).toBe(before);
  });

  it('answers 502 upstream_error when no target is left, never 400', async () => {
    const { alias } = await route('redirect-307');
    const response = await chat(alias, 'dl-307');
    expect(response.status).toBe(502);
    expect((await response.json()).error.code).toBe('upstream_error');
  });
});

describe('the upstream body on every exit path', () => {
  it.each([
    ['a complete error status', 'error-500', false, 502],
    ['an error body that never ends', 'error-500-endless', false, 504],
    ['an error body over its cap', 'error-500-huge', false, 502],
    ['a 2xx that is not JSON', 'html-200', false, 502],
    ['a 2xx that is not an object', 'non-object-200', false, 502],
    ['a 2xx answer over the 32 MiB cap', 'huge-200', false, 502],
    ['a redirect', 'redirect-307', false, 502],
  ] as const)('leaves no upstream connection held after %s', async (_name, behaviour, stream, status) => {
    const { alias } = await route(behaviour);
    const response = await chat(alias, `dl-exit-${behaviour}`, { stream });
    expect(response.status).toBe(status);
    await response.body?.cancel();
    await expectNothingHeld();
  });
});
