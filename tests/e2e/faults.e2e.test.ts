import { APIError } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { putRoute, putSimDeployment, startTestGateway, today, type TestGateway } from './harness.js';
import {
  completionJson,
  deltaEvent,
  putHostileDeployment,
  sseHeaders,
  startHostileUpstream,
  type HostileUpstream,
} from './hostile-upstream.js';

let gw: TestGateway;
let n = 0;

beforeAll(async () => {
  gw = await startTestGateway({ env: { SWITCHYARD_FIRST_BYTE_TIMEOUT_MS: '800', SWITCHYARD_UPSTREAM_TIMEOUT_MS: '800' } });
});
afterAll(async () => {
  await gw?.close();
});

/** A fresh route over two fresh deployments on the same simulator, so cool-downs of one case never leak into another. */
async function freshPair(): Promise<{ alias: string; first: string; second: string }> {
  n += 1;
  const first = `fault-a-${n}`;
  const second = `fault-b-${n}`;
  expect((await putSimDeployment(gw, first)).status).toBe(201);
  expect((await putSimDeployment(gw, second)).status).toBe(201);
  const alias = `fault-${n}`;
  await putRoute(gw, alias, [first, second]);
  return { alias, first, second };
}

const ask = (alias: string, extra: Record<string, unknown> = {}) =>
  gw.openai.chat.completions
    .create({ model: alias, messages: [{ role: 'user', content: 'hello' }], max_tokens: 4, ...extra })
    .withResponse();

async function apiError(promise: Promise<unknown>): Promise<APIError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(APIError);
  return error as APIError;
}

describe('failover before the first byte', () => {
  it.each([
    ['429 with retry-after', { kind: 'status', status: 429, retryAfterSeconds: 2 }],
    ['500', { kind: 'status', status: 500 }],
    ['503', { kind: 'status', status: 503 }],
    ['a reset connection', { kind: 'reset' }],
    ['a malformed 200 body', { kind: 'malformed' }],
    ['a body cut in half', { kind: 'half-stream', afterChunks: 1 }],
  ] as const)('moves on to the next deployment after %s', async (_name, fault) => {
    const { alias, second } = await freshPair();
    gw.sims!.serverless.injectFaults([fault]);
    const { data, response } = await ask(alias);
    expect(response.headers.get('x-switchyard-deployment')).toBe(second);
    expect(data.usage!.completion_tokens).toBe(4);
  });

  it('answers 429 capacity_exceeded with Retry-After when every deployment is throttled', async () => {
    const { alias } = await freshPair();
    gw.sims!.serverless.injectFaults([
      { kind: 'status', status: 429, retryAfterSeconds: 3 },
      { kind: 'status', status: 429, retryAfterSeconds: 3 },
    ]);
    const error = await apiError(ask(alias));
    expect(error.status).toBe(429);
    expect(error.code).toBe('capacity_exceeded');
    expect(error.type).toBe('rate_limit_error');
    expect(error.headers?.get('retry-after')).toBe('3');
  });

  it('tells a throttled caller to come back when the soonest deployment is available again', async () => {
    const { alias } = await freshPair();
    gw.sims!.serverless.injectFaults([
      { kind: 'status', status: 429, retryAfterSeconds: 20 },
      { kind: 'status', status: 429, retryAfterSeconds: 4 },
    ]);
    const error = await apiError(ask(alias));
    expect(error.status).toBe(429);
    expect(error.headers?.get('retry-after')).toBe('4');
  });

  it('answers 429 capacity_exceeded when the only deployment is saturated (in flight at maxConcurrent)', async () => {
    n += 1;
    const only = `fault-busy-${n}`;
    expect((await putSimDeployment(gw, only, { capacity: { maxConcurrent: 1 } })).status).toBe(201);
    await putRoute(gw, only, [only]);
    const sim = gw.sims!.serverless;
    sim.setOptions({ tokensPerSecond: 20 });
    const controller = new AbortController();
    try {
      const stream = await gw.openai.chat.completions.create(
        { model: only, messages: [{ role: 'user', content: 'slow' }], max_tokens: 200, stream: true },
        { signal: controller.signal },
      );
      const reading = stream[Symbol.asyncIterator]();
      await reading.next(); // the first request holds the only slot
      const error = await apiError(ask(only));
      expect(error.status).toBe(429);
      expect(error.code).toBe('capacity_exceeded');
      expect(error.headers?.get('retry-after')).toBe('1');
    } finally {
      controller.abort();
      sim.setOptions({ tokensPerSecond: 0 });
    }
  });

  it('answers 502 upstream_error with Retry-After when every deployment fails', async () => {
    const { alias } = await freshPair();
    gw.sims!.serverless.injectFaults([
      { kind: 'status', status: 500 },
      { kind: 'status', status: 502 },
    ]);
    const error = await apiError(ask(alias));
    expect(error.status).toBe(502);
    expect(error.code).toBe('upstream_error');
    // Each fresh deployment cools down for a second after its first failure.
    expect(error.headers?.get('retry-after')).toBe('1');
    expect(JSON.stringify(error.error)).not.toMatch(/stack|at \w+ \(/);
  });

  it('answers 502 (not 429) when one deployment was throttled and another failed, with Retry-After', async () => {
    const { alias } = await freshPair();
    gw.sims!.serverless.injectFaults([
      { kind: 'status', status: 429, retryAfterSeconds: 6 },
      { kind: 'status', status: 503 },
    ]);
    const error = await apiError(ask(alias));
    expect(error.status).toBe(502);
    expect(error.code).toBe('upstream_error');
    expect(error.headers?.get('retry-after')).toBe('1');
  });

  it('answers 504 upstream_timeout when no deployment answers a stream in time', async () => {
    const { alias } = await freshPair();
    gw.sims!.serverless.injectFaults([{ kind: 'timeout' }, { kind: 'timeout' }]);
    const error = await apiError(
      gw.openai.chat.completions.create({ model: alias, messages: [{ role: 'user', content: 'x' }], stream: true }),
    );
    expect(error.status).toBe(504);
    expect(error.code).toBe('upstream_timeout');
  });

  it('answers 504 upstream_timeout when no deployment answers in time, the attempts sharing one deadline', async () => {
    const { alias } = await freshPair();
    // The first deployment uses the whole deadline (SWITCHYARD_UPSTREAM_TIMEOUT_MS): the second is never asked.
    gw.sims!.serverless.injectFaults([{ kind: 'timeout' }]);
    gw.sims!.serverless.resetStats();
    const error = await apiError(ask(alias));
    expect(error.status).toBe(504);
    expect(error.code).toBe('upstream_timeout');
    expect(gw.sims!.serverless.stats().requests).toBe(1);
  });

  it('passes an upstream content filter on as 400 content_filter with the Azure innererror', async () => {
    const { alias } = await freshPair();
    gw.sims!.serverless.injectFaults([{ kind: 'content_filter' }]);
    const error = await apiError(ask(alias));
    expect(error.status).toBe(400);
    expect(error.code).toBe('content_filter');
    expect((error.error as { innererror?: { content_filter_result?: unknown } }).innererror?.content_filter_result).toBeTruthy();
  });

  it('cools a failing deployment down so the next request goes straight to the healthy one', async () => {
    const { alias, second } = await freshPair();
    gw.sims!.serverless.injectFaults([{ kind: 'status', status: 500 }]);
    await ask(alias);
    gw.sims!.serverless.resetStats();
    const { response } = await ask(alias);
    expect(response.headers.get('x-switchyard-deployment')).toBe(second);
    expect(gw.sims!.serverless.stats().requests).toBe(1);
  });
});

describe('streams that fail after the first byte', () => {
  it('ends a stream cut mid-answer with an error event, never a clean end, and meters it as partial', async () => {
    const { alias } = await freshPair();
    gw.sims!.serverless.injectFaults([{ kind: 'half-stream', afterChunks: 3 }]);
    const stream = await gw.openai.chat.completions.create({
      model: alias,
      messages: [{ role: 'user', content: 'long answer' }],
      max_tokens: 20,
      stream: true,
    });
    let received = '';
    const failure = await (async () => {
      for await (const chunk of stream) received += chunk.choices[0]?.delta?.content ?? '';
    })().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(failure).toBeInstanceOf(APIError);
    expect((failure as APIError).message).toMatch(/before it was complete/);
    expect(received.length).toBeGreaterThan(0);
    await gw.flushUsage();
    const usage = await (await gw.call(`/usage?from=${today()}&to=${today()}&groupBy=alias`)).json();
    const row = usage.rows.find((r: { alias: string }) => r.alias === alias);
    expect(row).toMatchObject({ requests: 1, failedRequests: 1, estimatedRequests: 1 });
    expect(row.outputTokens).toBeGreaterThan(0);
  });

  it('aborts the upstream when the caller goes away mid-stream', async () => {
    const { alias } = await freshPair();
    const sim = gw.sims!.serverless;
    sim.setOptions({ tokensPerSecond: 20 });
    try {
      sim.resetStats();
      const controller = new AbortController();
      const stream = await gw.openai.chat.completions.create(
        { model: alias, messages: [{ role: 'user', content: 'slow' }], max_tokens: 200, stream: true },
        { signal: controller.signal },
      );
      let chunks = 0;
      await (async () => {
        for await (const _ of stream) {
          chunks += 1;
          if (chunks === 2) controller.abort();
        }
      })().catch(() => undefined);
      await expect.poll(() => sim.stats().cancelled, { timeout: 3_000 }).toBe(1);
      await gw.flushUsage();
      const usage = await (await gw.call(`/usage?from=${today()}&to=${today()}&groupBy=alias`)).json();
      expect(usage.rows.find((r: { alias: string }) => r.alias === alias)).toMatchObject({ requests: 1, failedRequests: 1 });
    } finally {
      sim.setOptions({ tokensPerSecond: 0 });
    }
  });
});

describe('the managed endpoint', () => {
  it('spills over to serverless when the managed endpoint answers 429 (too many pending requests)', async () => {
    gw.sims!.managed.injectFaults([{ kind: 'status', status: 429 }]);
    const { response } = await ask('chat');
    expect(response.headers.get('x-switchyard-deployment')).toBe('sim-llama-serverless');
  });
});

describe("an upstream's own rate-limit headers", () => {
  let upstream: HostileUpstream;
  const upstreamLimits = {
    'x-ratelimit-limit-requests': '100',
    'x-ratelimit-remaining-requests': '7',
    'x-ratelimit-limit-tokens': '90000',
    'x-ratelimit-remaining-tokens': '12',
    'x-ratelimit-reset-requests': '1s',
    'x-ratelimit-reset-tokens': '6m0s',
  };
  beforeAll(async () => {
    upstream = await startHostileUpstream({
      limited: (_req, res) => res.writeHead(200, { 'content-type': 'application/json', ...upstreamLimits }).end(completionJson()),
      'limited-sse': (_req, res) => {
        res.writeHead(200, { ...sseHeaders, ...upstreamLimits });
        res.end(`${deltaEvent('ok')}data: [DONE]\n\n`);
      },
      'limited-429': (_req, res) =>
        res
          .writeHead(429, { 'content-type': 'application/json', 'retry-after': '2', ...upstreamLimits })
          .end('{"error":{"code":"429","message":"Rate limit is exceeded."}}'),
    });
    for (const behaviour of ['limited', 'limited-sse', 'limited-429']) {
      await putHostileDeployment(gw, upstream, `rl-${behaviour}`, behaviour);
      await putRoute(gw, `rl-${behaviour}`, [`rl-${behaviour}`]);
    }
  });
  afterAll(async () => {
    await upstream?.close();
  });

  const upstreamHeaders = (headers: Headers) => [...headers.keys()].filter((name) => name.startsWith('x-ratelimit-'));

  it('never passes them back on an answer, a stream or a refusal (they describe the upstream, not the team)', async () => {
    const answered = await ask('rl-limited');
    expect(answered.response.status).toBe(200);
    expect(upstreamHeaders(answered.response.headers)).toEqual([]);

    const streamed = await gw.openai.chat.completions
      .create({ model: 'rl-limited-sse', messages: [{ role: 'user', content: 'hi' }], stream: true })
      .withResponse();
    for await (const _ of streamed.data) {
      // drain
    }
    expect(streamed.response.headers.get('x-switchyard-deployment')).toBe('rl-limited-sse');
    expect(upstreamHeaders(streamed.response.headers)).toEqual([]);

    const refused = await apiError(ask('rl-limited-429'));
    expect(refused.status).toBe(429);
    expect(refused.headers?.get('retry-after')).toBe('2');
    expect(upstreamHeaders(refused.headers!)).toEqual([]);
  });
});

describe('an upstream asking to wait a day (Retry-After: 86400)', () => {
  const CAP_MS = 300;
  const DAY_MS = 86_400_000;
  let capped: TestGateway;
  let upstream: HostileUpstream;
  const logged: Array<{ level: string; message: string; fields?: Record<string, unknown> }> = [];
  let throttleNext = true;
  const dayLong = (res: import('node:http').ServerResponse) =>
    res
      .writeHead(429, { 'content-type': 'application/json', 'retry-after': '86400' })
      .end('{"error":{"code":"429","message":"Come back tomorrow."}}');

  beforeAll(async () => {
    capped = await startTestGateway({
      log: { log: (level, message, fields) => logged.push({ level, message, fields }) },
      env: { SWITCHYARD_MAX_COOLDOWN_MS: String(CAP_MS) },
    });
    upstream = await startHostileUpstream({
      // 429 for a day once, then answers.
      'day-once': (_req, res) => {
        if (!throttleNext) return res.writeHead(200, { 'content-type': 'application/json' }).end(completionJson('back'));
        throttleNext = false;
        dayLong(res);
      },
      'day-always': (_req, res) => dayLong(res),
    });
    await putHostileDeployment(capped, upstream, 'day-throttled', 'day-once');
    expect((await putSimDeployment(capped, 'day-fallback')).status).toBe(201);
    await putRoute(capped, 'day', ['day-throttled', 'day-fallback']);
    await putHostileDeployment(capped, upstream, 'day-only', 'day-always');
    await putRoute(capped, 'day-only', ['day-only']);
  });
  afterAll(async () => {
    await upstream?.close();
    await capped?.close();
  });

  const askCapped = (alias: string) =>
    capped.openai.chat.completions.create({ model: alias, messages: [{ role: 'user', content: 'hello' }], max_tokens: 4 }).withResponse();

  it('cools the deployment down for the configured cap only, logs it, and puts it back in rotation after the cap', async () => {
    const health = capped.services.deps.health;
    const before = Date.now();
    const first = await askCapped('day');
    const after = Date.now();
    expect(first.response.headers.get('x-switchyard-deployment')).toBe('day-fallback');
    const coolingUntil = health.coolingUntilMs('day-throttled');
    expect(coolingUntil).toBeGreaterThan(before);
    expect(coolingUntil).toBeLessThanOrEqual(after + CAP_MS);
    expect(logged.filter((entry) => entry.message === 'upstream Retry-After capped')).toEqual([
      {
        level: 'warn',
        message: 'upstream Retry-After capped',
        fields: { deployment: 'day-throttled', askedMs: DAY_MS, appliedMs: CAP_MS },
      },
    ]);

    // Wait out the cool-down the health reports (the cap, not a day); the first target is tried first again.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, health.coolingUntilMs('day-throttled') - Date.now()) + 10));
    const second = await askCapped('day');
    expect(second.response.headers.get('x-switchyard-deployment')).toBe('day-throttled');
    expect(second.data.choices[0]!.message.content).toBe('back');
    expect(upstream.requests('day-once')).toBe(2);
  });

  it("tells the caller the capped wait, not the upstream's day, when the only deployment is throttled", async () => {
    const error = await apiError(askCapped('day-only'));
    expect(error.status).toBe(429);
    expect(error.headers?.get('retry-after')).toBe('1');
  });
});
