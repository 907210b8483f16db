import { APIError } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { putRoute, putSimDeployment, startTestGateway, today, type TestGateway } from './harness.js';

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

  it('answers 503 no_deployment_available with Retry-After when every deployment is throttled', async () => {
    const { alias } = await freshPair();
    gw.sims!.serverless.injectFaults([
      { kind: 'status', status: 429, retryAfterSeconds: 3 },
      { kind: 'status', status: 429, retryAfterSeconds: 3 },
    ]);
    const error = await apiError(ask(alias));
    expect(error.status).toBe(503);
    expect(error.code).toBe('no_deployment_available');
    expect(error.headers?.get('retry-after')).toBe('3');
  });

  it('answers 502 upstream_error when every deployment fails', async () => {
    const { alias } = await freshPair();
    gw.sims!.serverless.injectFaults([
      { kind: 'status', status: 500 },
      { kind: 'status', status: 502 },
    ]);
    const error = await apiError(ask(alias));
    expect(error.status).toBe(502);
    expect(error.code).toBe('upstream_error');
    expect(JSON.stringify(error.error)).not.toMatch(/stack|at \w+ \(/);
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
