import { request as httpRequest, type IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { HttpFunctionRegistration } from '../../local/functions-core.js';
import {
  parseRouteTemplate,
  startFunctionsHost,
  type FunctionsHost,
  type FunctionsHostLogLevel,
  type FunctionsHostOptions,
} from '../../local/functions-host.js';
import { compileRouteTable } from '../../local/route-table.js';

type FunctionsFixture = typeof import('./fixtures/functions-host/functions.js');

const fixtureRoot = (name: string) => fileURLToPath(new URL(`./fixtures/functions-host/${name}/`, import.meta.url));
const BODY_CAP = 64 * 1024;

let fixture: FunctionsFixture;
const logs: { level: FunctionsHostLogLevel; message: string }[] = [];
let startupLogs: typeof logs = [];

/** The clock the hosts' timers run on: time moves and timers fire only when a test says so. */
const timerClock = {
  nowMs: Date.parse('2026-03-01T10:03:00.000Z'),
  pending: [] as { callback: () => void; dueMs: number }[],
  now: () => timerClock.nowMs,
  schedule(callback: () => void, delayMs: number) {
    const entry = { callback, dueMs: timerClock.nowMs + delayMs };
    timerClock.pending.push(entry);
    return () => {
      timerClock.pending = timerClock.pending.filter((other) => other !== entry);
    };
  },
  /** Moves the clock to `iso` and fires what is due by then. */
  advanceTo(iso: string) {
    timerClock.nowMs = Date.parse(iso);
    const due = timerClock.pending.filter((entry) => entry.dueMs <= timerClock.nowMs);
    timerClock.pending = timerClock.pending.filter((entry) => entry.dueMs > timerClock.nowMs);
    for (const entry of due) entry.callback();
  },
};

function hostOptions(overrides: Partial<FunctionsHostOptions> = {}): FunctionsHostOptions {
  return {
    appRoot: fixtureRoot('root-prefix'),
    // Dynamic, so @azure/functions is first loaded after the functions-core stand-in is installed.
    loadFunctions: async () => {
      fixture = await import('./fixtures/functions-host/functions.js');
    },
    port: 0,
    maxRequestBodyBytes: BODY_CAP,
    log: (level, message) => logs.push({ level, message }),
    timerClock,
    ...overrides,
  };
}

async function waitFor(condition: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('Timed out waiting for a condition.');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A raw node:http exchange, for what fetch hides (chunked uploads that stop midway). */
function rawRequest(
  host: FunctionsHost,
  options: { method: string; path: string; headers?: Record<string, string>; chunks?: Buffer[] },
): Promise<{ status: number; body: string; response: IncomingMessage }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      `${host.url}${options.path}`,
      { method: options.method, headers: options.headers, agent: false },
      (response) => {
        const parts: Buffer[] = [];
        response.on('data', (part: Buffer) => parts.push(part));
        response.on('end', () => {
          resolve({ status: response.statusCode ?? 0, body: Buffer.concat(parts).toString('utf8'), response });
          request.destroy();
        });
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    for (const chunk of options.chunks ?? []) request.write(chunk);
    // Deliberately never ended: the host has to answer while the upload is still open.
  });
}

/** Sends part of a request over a raw socket, then nothing; resolves with all the host sent once it closes. */
function stallingExchange(port: number, partial: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' }, () => socket.write(partial));
    let received = '';
    socket.setEncoding('utf8');
    socket.on('data', (text: string) => (received += text));
    socket.on('error', reject);
    socket.on('close', () => resolve(received));
    // Bounded: a host without a request timeout would keep this open for minutes.
    socket.setTimeout(10_000, () => socket.destroy(new Error('the host kept a stalled request open')));
  });
}

describe('local Functions host', () => {
  let host: FunctionsHost;
  const get = (path: string, init?: RequestInit) => fetch(`${host.url}${path}`, init);
  const json = async (path: string) => {
    const response = await get(path);
    expect(response.status).toBe(200);
    return (await response.json()) as { by: string; params: Record<string, string> };
  };

  beforeAll(async () => {
    host = await startFunctionsHost(hostOptions());
    startupLogs = [...logs];
  });
  afterAll(async () => {
    fixture?.gates.releaseSlow();
    await host?.close();
  });
  beforeEach(() => {
    logs.length = 0;
  });

  it('serves the registrations @azure/functions hands to functions-core, appStart first', async () => {
    const names = host.registrations.map((registration) => registration.name);
    expect(names).toContain('hello');
    expect(names).not.toContain('tick');
    expect(host.registrations.find((registration) => registration.name === 'plain')).toMatchObject({
      route: 'plain',
      methods: ['GET'],
      authLevel: 'anonymous',
    });
    expect(fixture.probes.appStarts).toBe(1);
    // app.setup({ enableHttpStream: true }) reached the host (through the library's system log), so no warning.
    expect(startupLogs.filter((entry) => entry.level === 'warn')).toEqual([]);
    expect(startupLogs.some((entry) => entry.message.includes('"tick" (timerTrigger)'))).toBe(true);

    const response = await get('/hello?name=ada');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(await response.json()).toEqual({ hello: 'world', name: 'ada' });
  });

  it('runs timer functions on their NCRONTAB schedule, each with its Timer argument; a late run is past due', async () => {
    expect(startupLogs.some((entry) => entry.message.includes('"tick" (timerTrigger) runs on schedule "0 */5 * * * *"'))).toBe(true);
    expect(timerClock.pending.map((entry) => new Date(entry.dueMs).toISOString())).toEqual(['2026-03-01T10:05:00.000Z']);
    timerClock.advanceTo('2026-03-01T10:04:59.000Z');
    expect(fixture.probes.ticks).toEqual([]);
    timerClock.advanceTo('2026-03-01T10:05:00.000Z');
    await waitFor(() => fixture.probes.ticks.length === 1);
    expect(fixture.probes.ticks[0]).toMatchObject({
      functionName: 'tick',
      timer: { isPastDue: false, schedule: { adjustForDST: false }, scheduleStatus: { next: '2026-03-01T10:10:00.000Z' } },
    });
    expect(timerClock.pending.map((entry) => new Date(entry.dueMs).toISOString())).toEqual(['2026-03-01T10:10:00.000Z']);
    // The process slept through 10:10 and 10:15: one run, past due, then the next occurrence.
    timerClock.advanceTo('2026-03-01T10:21:30.000Z');
    await waitFor(() => fixture.probes.ticks.length === 2);
    expect(fixture.probes.ticks[1]).toMatchObject({ timer: { isPastDue: true } });
    expect(timerClock.pending.map((entry) => new Date(entry.dueMs).toISOString())).toEqual(['2026-03-01T10:25:00.000Z']);
  });

  it('with timers off, registers and reports timer functions but never schedules them', async () => {
    const pending = timerClock.pending.length;
    const quiet = await startFunctionsHost(hostOptions({ runTimers: false }));
    try {
      expect(timerClock.pending).toHaveLength(pending);
      expect(logs.some((entry) => entry.message.includes('"tick" (timerTrigger) is not run here (timers off)'))).toBe(true);
    } finally {
      await quiet.close();
    }
  });

  it('honours routePrefix "" and "api", and defaults to "api"', async () => {
    expect(host.routePrefix).toBe('');
    expect((await get('/api/hello')).status).toBe(404);

    const apiHost = await startFunctionsHost(hostOptions({ appRoot: fixtureRoot('api-prefix') }));
    const defaultHost = await startFunctionsHost(hostOptions({ appRoot: fixtureRoot('default-prefix') }));
    try {
      expect(apiHost.routePrefix).toBe('api');
      expect(defaultHost.routePrefix).toBe('api');
      expect((await fetch(`${apiHost.url}/api/hello`)).status).toBe(200);
      expect((await fetch(`${apiHost.url}/api/items/7`).then((r) => r.json())) as unknown).toEqual({
        by: 'name',
        params: { name: '7' },
      });
      expect((await fetch(`${apiHost.url}/hello`)).status).toBe(404);
      expect((await fetch(`${defaultHost.url}/api/hello`)).status).toBe(200);
    } finally {
      await Promise.all([apiHost.close(), defaultHost.close()]);
    }
  });

  it('matches route parameters and catch-all segments', async () => {
    expect(await json('/items/42')).toEqual({ by: 'name', params: { name: '42' } });
    expect(await json('/pairs/x/y')).toEqual({ by: 'pair', params: { a: 'x', b: 'y' } });
    expect((await get('/pairs/x')).status).toBe(404);
    expect((await get('/pairs/x/y/z')).status).toBe(404);

    expect(await json('/files/a/b/c.txt')).toEqual({ by: 'catch-all', params: { path: 'a/b/c.txt' } });
    expect(await json('/files')).toEqual({ by: 'catch-all', params: {} });

    expect(await json('/decode/hello%20world')).toEqual({ by: 'decode', params: { value: 'hello world' } });
    // As Kestrel: an encoded slash stays encoded and never splits a segment.
    expect(await json('/decode/a%2Fb')).toEqual({ by: 'decode', params: { value: 'a%2Fb' } });
  });

  it('ranks literals before parameters before catch-alls, whatever the registration order', async () => {
    expect(await json('/items/special')).toEqual({ by: 'literal', params: {} });
    expect(await json('/files/readme')).toEqual({ by: 'literal', params: {} });
    expect(await json('/files/readme/more')).toEqual({ by: 'catch-all', params: { path: 'readme/more' } });
  });

  it('matches literals case-insensitively and ignores a trailing slash', async () => {
    expect(await (await get('/casetest/PATH')).text()).toBe('case');
    expect((await get('/HELLO/')).status).toBe(200);
  });

  it('filters by method, answering 404 when no registration takes the method', async () => {
    expect((await get('/methods')).status).toBe(404);
    expect(await (await get('/methods', { method: 'POST' })).text()).toBe('post');
    expect(await (await get('/methods', { method: 'PUT' })).text()).toBe('put');
    expect((await get('/hello', { method: 'DELETE' })).status).toBe(404);
    expect((await get('/no-such-function')).status).toBe(404);
  });

  it('sends jsonBody, plain bodies, empty bodies, cookies, and drops hop-by-hop headers', async () => {
    const plain = await get('/plain');
    expect(plain.headers.get('content-type')).toBe('text/plain;charset=UTF-8');
    expect(plain.headers.get('content-length')).toBe('9');
    expect(await plain.text()).toBe('just text');

    const empty = await get('/no-content');
    expect(empty.status).toBe(204);
    expect(empty.headers.get('x-empty')).toBe('yes');

    const cookies = await get('/cookies');
    expect(cookies.headers.getSetCookie()).toEqual(['session=a%20b; Path=/; HttpOnly; SameSite=Lax']);
    expect(cookies.headers.get('x-kept')).toBe('yes');
    expect(cookies.headers.get('x-drop-me')).toBeNull();
    expect(cookies.headers.get('upgrade')).toBeNull();
    expect(await cookies.text()).toBe('cookies');

    expect(await (await get('/stream/iterable')).text()).toBe('ab');
  });

  it('runs preInvocation and postInvocation hooks around the handler', async () => {
    expect(await (await get('/hooked')).json()).toEqual({ replacedByHook: true, sawPre: true });
  });

  it('streams a response chunk by chunk', async () => {
    fixture.gates.reset();
    const response = await get('/stream/sse');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/event-stream');
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();

    // The second event cannot exist before the gate opens, so this proves the first one was flushed on its own.
    const first = await reader.read();
    expect(decoder.decode(first.value)).toBe('data: first\n\n');
    fixture.gates.openStream();
    let rest = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      rest += decoder.decode(value, { stream: true });
    }
    expect(rest).toBe('data: second\n\n');
  });

  it('hands the handler the request body as a stream', async () => {
    const encoder = new TextEncoder();
    let rest: ReadableStreamDefaultController<Uint8Array> | undefined;
    const upload = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(encoder.encode('one '));
        rest = controller;
      },
    });
    const pending = get('/echo/stream', { method: 'POST', body: upload, duplex: 'half' } as RequestInit);
    // The handler reads the first part while the rest of the upload has not been sent yet.
    await waitFor(() => fixture.probes.streamedChunks.join('') === 'one ');
    rest!.enqueue(encoder.encode('two three'));
    rest!.close();
    const result = (await (await pending).json()) as { chunks: number; text: string };
    expect(result).toEqual({ chunks: 2, text: 'one two three' });

    const text = await get('/echo/text?x=1', { method: 'POST', body: 'hello body', headers: { 'x-test': 'seen' } });
    expect(await text.text()).toBe('hello body');
    expect(text.headers.get('x-saw-header')).toBe('seen');
    expect(text.headers.get('x-saw-url')).toBe(`${host.url}/echo/text?x=1`);
  });

  it('cancels the handler stream when the client disconnects', async () => {
    const before = fixture.probes.cancelReasons.length;
    const controller = new AbortController();
    const response = await get('/stream/endless', { signal: controller.signal });
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    expect((await reader.read()).done).toBe(false);
    controller.abort();
    await waitFor(() => fixture.probes.cancelReasons.length > before);
    expect(fixture.probes.cancelReasons.at(-1)).toBe('The client disconnected.');
  });

  it('stops pulling from the handler stream while the client does not read', async () => {
    const before = fixture.probes.cancelReasons.length;
    const request = httpRequest(`${host.url}/stream/flood`, { agent: false });
    const response = await new Promise<IncomingMessage>((resolve, reject) => {
      request.on('response', resolve).on('error', reject).end();
    });
    response.pause();
    await new Promise((resolve) => setTimeout(resolve, 300));
    const stalledAt = fixture.probes.floodBytes;
    await new Promise((resolve) => setTimeout(resolve, 200));
    // Socket buffers hold a few MB at most; an unbounded producer would be far past this.
    expect(fixture.probes.floodBytes).toBeLessThan(stalledAt + 256 * 1024);
    expect(stalledAt).toBeLessThan(64 * 1024 * 1024);
    request.destroy();
    await waitFor(() => fixture.probes.cancelReasons.length > before);
  });

  it('cancels the stream of a handler that returns after its client left', async () => {
    fixture.gates.reset();
    const before = fixture.probes.cancelReasons.length;
    const startedBefore = fixture.probes.lateStarted;
    const controller = new AbortController();
    const pending = get('/stream/late', { signal: controller.signal }).catch(() => 'aborted');
    await waitFor(() => fixture.probes.lateStarted > startedBefore);
    controller.abort();
    expect(await pending).toBe('aborted');
    await new Promise((resolve) => setTimeout(resolve, 20));
    fixture.gates.releaseLate();
    await waitFor(() => fixture.probes.cancelReasons.length > before);
    expect(fixture.probes.cancelReasons.at(-1)).toBe('The client disconnected.');
  });

  it('breaks the connection, never ends cleanly, when the response stream fails midway', async () => {
    const response = await get('/stream/broken');
    expect(response.status).toBe(200);
    await expect(response.text()).rejects.toThrow();
    await waitFor(() => logs.some((entry) => entry.level === 'error' && entry.message.includes('upstream died')));
  });

  it('answers 500 without the error message or stack when the handler throws, and logs it', async () => {
    const response = await get('/boom');
    expect(response.status).toBe(500);
    const body = await response.text();
    expect(body).toBe('Internal Server Error');
    const logged = logs.find((entry) => entry.level === 'error' && entry.message.includes('secret-detail-1234'));
    expect(logged?.message).toContain('"boom"');
  });

  it('answers 413 for bodies over the host cap, declared or chunked', async () => {
    const uploadsBefore = fixture.probes.uploads;
    const declared = await get('/upload', { method: 'POST', body: Buffer.alloc(BODY_CAP + 1, 97) });
    expect(declared.status).toBe(413);
    expect(fixture.probes.uploads).toBe(uploadsBefore);

    const chunked = await rawRequest(host, {
      method: 'POST',
      path: '/upload',
      headers: { 'transfer-encoding': 'chunked' },
      chunks: [Buffer.alloc(40 * 1024, 98), Buffer.alloc(40 * 1024, 99)],
    });
    expect(chunked.status).toBe(413);

    const fits = await get('/upload', { method: 'POST', body: Buffer.alloc(BODY_CAP, 97) });
    expect(await fits.json()).toEqual({ bytes: BODY_CAP });
  });

  it('close() waits for an in-flight request, then runs appTerminate hooks', async () => {
    fixture.gates.reset();
    const closing = await startFunctionsHost(hostOptions());
    const terminatesBefore = fixture.probes.appTerminates;
    const startedBefore = fixture.probes.slowStarted;
    const inFlight = fetch(`${closing.url}/slow`);
    await waitFor(() => fixture.probes.slowStarted > startedBefore);

    let closed = false;
    const closePromise = closing.close().then(() => {
      closed = true;
    });
    expect(closing.close()).toBe(closing.close());
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(closed).toBe(false);
    await expect(fetch(`${closing.url}/hello`)).rejects.toThrow();

    fixture.gates.releaseSlow();
    const response = await inFlight;
    expect(await response.text()).toBe('slow done');
    await closePromise;
    expect(fixture.probes.appTerminates).toBe(terminatesBefore + 1);
    expect(fixture.probes.terminateSawStartHookData).toBe(true);
  });

  it('close() aborts requests still running after shutdownTimeoutMs and closes their connections', async () => {
    const closing = await startFunctionsHost(hostOptions({ shutdownTimeoutMs: 100 }));
    const startedBefore = fixture.probes.hangStarted;
    const reasonsBefore = fixture.probes.signalReasons.length;
    const inFlight = fetch(`${closing.url}/hang`);
    await waitFor(() => fixture.probes.hangStarted > startedBefore);
    await closing.close();
    await expect(inFlight).rejects.toThrow();
    expect(fixture.probes.signalReasons.length).toBe(reasonsBefore + 1);
    expect(fixture.probes.signalReasons.at(-1)).toMatchObject({ name: 'AbortError', message: 'The host is shutting down.' });
    expect(logs.some((entry) => entry.level === 'warn' && entry.message.includes('1 request(s) still running'))).toBe(true);
  });

  it('aborts request.signal when the client goes away before its response', async () => {
    const startedBefore = fixture.probes.hangStarted;
    const reasonsBefore = fixture.probes.signalReasons.length;
    const caller = new AbortController();
    const pending = get('/hang', { signal: caller.signal }).catch(() => 'aborted');
    await waitFor(() => fixture.probes.hangStarted > startedBefore);
    expect(fixture.probes.signalReasons.length).toBe(reasonsBefore);
    caller.abort();
    expect(await pending).toBe('aborted');
    await waitFor(() => fixture.probes.signalReasons.length > reasonsBefore);
    expect(fixture.probes.signalReasons.at(-1)).toMatchObject({ name: 'AbortError', message: 'The client disconnected.' });
  });

  it('leaves request.signal alone when the response was sent, even once the connection closes', async () => {
    // agent: false, so the connection closes right after the exchange.
    const body = await new Promise<string>((resolve, reject) => {
      const request = httpRequest(`${host.url}/answered`, { agent: false }, (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (part: string) => (text += part));
        response.socket.once('close', () => resolve(text));
      });
      request.on('error', reject).end();
    });
    expect(body).toBe('answered');
    expect(fixture.probes.answeredSignal).toBeInstanceOf(AbortSignal);
    expect(fixture.probes.answeredSignal?.aborted).toBe(false);
  });

  it('answers 408 and closes the connection when a caller stalls mid-headers or mid-body', async () => {
    const strict = await startFunctionsHost(hostOptions({ requestTimeoutMs: 200 }));
    try {
      const uploadsBefore = fixture.probes.uploads;
      const port = strict.port;
      const midBody = await stallingExchange(port, `POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n${'a'.repeat(50)}`);
      expect(midBody).toMatch(/^HTTP\/1\.1 408 /);
      const midHeaders = await stallingExchange(port, 'GET /hello HTTP/1.1\r\nHost: x\r\nX-Slow: ');
      expect(midHeaders).toMatch(/^HTTP\/1\.1 408 /);
      // The upload handler ran (headers were complete) and never saw a whole body.
      expect(fixture.probes.uploads).toBe(uploadsBefore + 1);
    } finally {
      await strict.close();
    }
  });
});

const registration = (route: string, extra: Partial<HttpFunctionRegistration> = {}): HttpFunctionRegistration => ({
  name: `fn-${route}`,
  route,
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: () => undefined,
  metadata: { name: `fn-${route}`, bindings: {} },
  ...extra,
});

describe('route templates', () => {
  it('parses literals, {name} and a final {*name}, ranking literals before parameters before catch-alls', () => {
    const route = parseRouteTemplate('v1/{deployment}/items/{id}');
    expect(route.segments).toEqual([
      { kind: 'literal', lower: 'v1' },
      { kind: 'parameter', name: 'deployment' },
      { kind: 'literal', lower: 'items' },
      { kind: 'parameter', name: 'id' },
    ]);
    expect(route.precedence).toEqual([1, 2, 1, 2]);
    expect(parseRouteTemplate('/{*rest}/').precedence).toEqual([3]);
    expect(parseRouteTemplate('').segments).toEqual([]);
  });

  it('refuses what production registrations do not use, with a readable reason', () => {
    const unsupported = /is not supported \(the local host serves literals, \{name\} and a final \{\*name\}/;
    expect(() => parseRouteTemplate('items/{id:int}')).toThrow(unsupported);
    expect(() => parseRouteTemplate('items/{id?}')).toThrow(unsupported);
    expect(() => parseRouteTemplate('items/{id=1}')).toThrow(unsupported);
    expect(() => parseRouteTemplate('files/{**path}')).toThrow(unsupported);
    expect(() => parseRouteTemplate('items/{a}-{b}')).toThrow(unsupported);
    expect(() => parseRouteTemplate('files/{*path}/more')).toThrow(/catch-all parameter must be the last segment/);
    expect(() => parseRouteTemplate('{id}/{ID}')).toThrow(/appears twice/);
    expect(() => parseRouteTemplate('a//b')).toThrow(/empty segment/);
  });

  it('finds the root through a catch-all, and refuses a registration that is not anonymous', () => {
    const table = compileRouteTable([registration('{*path}'), registration('health')], '');
    expect(table.templates).toEqual(['/health', '/{*path}']);
    expect(table.find('GET', '/')).toMatchObject({ registration: { route: '{*path}' }, params: {} });
    expect(table.find('GET', '/Health/')).toMatchObject({ registration: { route: 'health' } });
    expect(table.find('POST', '/health')).toBeNull();
    expect(() => compileRouteTable([registration('secure', { authLevel: 'function' })], '')).toThrow(
      /Function "fn-secure" \(route "secure"\): authLevel "function" is not served by the local host/,
    );
    expect(() => compileRouteTable([registration('items/{id:int}')], 'api')).toThrow(
      /Function "fn-items\/\{id:int\}".*"api\/items\/\{id:int\}"/,
    );
  });
});
