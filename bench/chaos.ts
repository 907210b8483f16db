import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedCosmos } from '../local/embedded-cosmos.js';
import { startContentSafetySim } from '../local/simulators/content-safety-sim.js';
import { GATEWAY_ENTRY, gatewayEnv, type GatewayProcess, portRefuses, sleep, startGatewayProcess } from '../tests/local/gateway-process.js';
import { chaosTable, lossesOf, type Promises, type ScenarioResult, type Seen, seenOf } from './chaos-verdict.js';

// `npm run chaos`: the fault matrix against the local gateway in its own process. For each fault it prints what
// the caller saw, what the ledger recorded and what was lost, and exits non-zero on any loss of a promise.

const ADMIN_KEY = 'sya-chaos-admin-key-0123456789abcdef';
const DEMO_KEY = 'sy-chaos-demo-key-0123456789abcdef';
const CONTENT_SAFETY_KEY = 'chaos-content-safety-key';
const REQUESTS_PER_FAULT = 3;
/** An answer that takes longer is a hang. */
const ANSWER_TIMEOUT_MS = 30_000;
/** The gateway's idle limit on an upstream that stops sending; the stalled stream must meet it. */
const IDLE_TIMEOUT_MS = 2_000;

// ---- the upstream, with one behaviour per path ----

type Behaviour = (req: IncomingMessage, res: ServerResponse, body: { stream?: boolean }) => void;

const completion = (content = 'ok') =>
  JSON.stringify({
    id: 'chatcmpl-chaos',
    object: 'chat.completion',
    created: 1,
    model: 'chaos-model',
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 },
  });
const chunk = (content: string) =>
  `data: ${JSON.stringify({ id: 'chatcmpl-chaos', object: 'chat.completion.chunk', created: 1, model: 'chaos-model', choices: [{ index: 0, delta: { content }, finish_reason: null }] })}\n\n`;
const usageChunk = `data: ${JSON.stringify({ id: 'chatcmpl-chaos', object: 'chat.completion.chunk', created: 1, model: 'chaos-model', choices: [], usage: { prompt_tokens: 5, completion_tokens: 4, total_tokens: 9 } })}\n\n`;
const SSE = { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' };

/** Sends `count` chunks `everyMs` apart, then ends cleanly unless `end` says otherwise; stops when the gateway leaves. */
function streamChunks(res: ServerResponse, count: number, everyMs: number, end: 'done' | 'cut' | 'stall'): void {
  res.writeHead(200, SSE);
  let sent = 0;
  const timer = setInterval(() => {
    if (sent < count) {
      res.write(chunk(`part${sent} `));
      sent += 1;
      return;
    }
    clearInterval(timer);
    if (end === 'done') res.end(`${usageChunk}data: [DONE]\n\n`);
    if (end === 'cut') res.socket?.destroy();
  }, everyMs);
  res.once('close', () => clearInterval(timer));
}

const answer: Behaviour = (_req, res, body) => {
  if (body.stream) return streamChunks(res, 3, 5, 'done');
  res.writeHead(200, { 'content-type': 'application/json' }).end(completion());
};

const behaviours: Record<string, Behaviour> = {
  ok: answer,
  throttled: (_req, res) =>
    res
      .writeHead(429, { 'content-type': 'application/json', 'retry-after': '2' })
      .end(JSON.stringify({ error: { code: '429', message: 'Rate limit is exceeded.' } })),
  error500: (_req, res) => res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":{"message":"boom"}}'),
  unavailable503: (_req, res) => res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":{"message":"busy"}}'),
  reset: (req) => req.socket.destroy(),
  'reset-mid-body': (_req, res) => {
    const whole = completion('a longer answer that will not arrive whole');
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(whole.length) });
    res.write(whole.slice(0, whole.length / 2));
    setTimeout(() => res.socket?.destroy(), 20);
  },
  'stream-cut': (_req, res) => streamChunks(res, 3, 10, 'cut'),
  'slow-first-byte': (req, res, body) => {
    const timer = setTimeout(() => answer(req, res, body), 1_500);
    res.once('close', () => clearTimeout(timer));
  },
  stalled: (_req, res) => streamChunks(res, 2, 10, 'stall'),
  redirect: (_req, res) => res.writeHead(302, { location: 'http://127.0.0.1:1/elsewhere' }).end(),
  trickle: (_req, res) => streamChunks(res, 100, 50, 'done'),
};

async function startUpstream(): Promise<{ url: string; close: () => Promise<void> }> {
  const server = createServer((req, res) => {
    const name = new URL(req.url ?? '/', 'http://x').pathname.split('/')[1] ?? '';
    const chunks: Buffer[] = [];
    req.on('data', (data: Buffer) => chunks.push(data));
    req.on('end', () => {
      const behaviour = behaviours[name];
      if (!behaviour) return res.writeHead(404).end();
      let body: { stream?: boolean } = {};
      try {
        body = JSON.parse(Buffer.concat(chunks).toString()) as { stream?: boolean };
      } catch {
        // a body that is not JSON is answered as a whole request
      }
      behaviour(req, res, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// ---- the gateway and its callers ----

async function call(gateway: GatewayProcess, path: string, init: RequestInit & { key?: string } = {}): Promise<Response> {
  const { key = ADMIN_KEY, ...rest } = init;
  return fetch(gateway.url + path, {
    ...rest,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...rest.headers },
    signal: AbortSignal.timeout(ANSWER_TIMEOUT_MS),
  });
}

async function mustSucceed(response: Promise<Response>, what: string): Promise<unknown> {
  const answered = await response;
  const text = await answered.text();
  if (answered.status >= 300) throw new Error(`${what}: ${answered.status} ${text}`);
  return text === '' ? undefined : (JSON.parse(text) as unknown);
}

/** A deployment on `endpoint` and an alias of its own that team demo may use. */
async function addAlias(gateway: GatewayProcess, alias: string, endpoint: string): Promise<void> {
  const deployment = {
    kind: 'serverless',
    protocol: 'openai',
    endpoint,
    upstreamModel: 'chaos-model',
    serves: ['chat'],
    auth: { type: 'key', secret: 'UPSTREAM_SIM_KEY' },
    pricing: { inputPerMillionUsd: 1, outputPerMillionUsd: 2 },
  };
  await mustSucceed(call(gateway, `/manage/deployments/${alias}`, { method: 'PUT', body: JSON.stringify(deployment) }), alias);
  await mustSucceed(
    call(gateway, `/manage/routes/${alias}`, { method: 'PUT', body: JSON.stringify({ targets: [{ deployment: alias }] }) }),
    alias,
  );
  const team = (await mustSucceed(call(gateway, '/manage/teams/demo'), 'team demo')) as { aliases: string[] };
  await mustSucceed(
    call(gateway, '/manage/teams/demo', { method: 'PATCH', body: JSON.stringify({ aliases: [...team.aliases, alias] }) }),
    'team demo',
  );
}

/** One chat request as a caller makes it, read to its end however it ends. */
async function ask(gateway: GatewayProcess, alias: string, stream: boolean, onFirstByte?: () => void): Promise<Seen> {
  const body = JSON.stringify({ model: alias, messages: [{ role: 'user', content: 'hello' }], max_tokens: 8, stream });
  let response: Response;
  try {
    response = await call(gateway, '/v1/chat/completions', { method: 'POST', key: DEMO_KEY, body });
  } catch {
    return { status: 0, ending: 'cut' };
  }
  let text = '';
  let cut = false;
  try {
    const decoder = new TextDecoder();
    for await (const bytes of response.body ?? []) {
      text += decoder.decode(bytes as Uint8Array, { stream: true });
      onFirstByte?.();
    }
  } catch {
    cut = true;
  }
  const seen = seenOf(response.status, response.headers.get('content-type') ?? '', text, cut);
  const retryAfter = response.headers.get('retry-after');
  return retryAfter ? { ...seen, retryAfter } : seen;
}

/** Requests on each alias today, from GET /usage. */
async function ledgerRequests(gateway: GatewayProcess): Promise<Map<string, number>> {
  const day = new Date().toISOString().slice(0, 10);
  const report = (await mustSucceed(call(gateway, `/usage?from=${day}&to=${day}&groupBy=alias`), 'usage')) as {
    rows: Array<{ alias: string; requests: number }>;
  };
  return new Map(report.rows.map((row) => [row.alias, row.requests]));
}

interface Scenario {
  name: string;
  fault: string;
  alias: string;
  stream: boolean;
  promises: Promises;
  requests?: number;
}

async function main(): Promise<number> {
  const dataDir = mkdtempSync(join(tmpdir(), 'switchyard-chaos-'));
  const upstream = await startUpstream();
  const contentSafety = await startContentSafetySim({ apiKeys: [CONTENT_SAFETY_KEY] });
  const env = gatewayEnv(dataDir, {
    SWITCHYARD_ADMIN_KEY: ADMIN_KEY,
    SWITCHYARD_DEMO_KEY: DEMO_KEY,
    CONTENT_SAFETY_ENDPOINT: contentSafety.url,
    CONTENT_SAFETY_KEY,
    SWITCHYARD_LEDGER_FLUSH_MS: '100',
    SWITCHYARD_LEDGER_SWEEP_GRACE_MS: '500',
    SWITCHYARD_FIRST_BYTE_TIMEOUT_MS: String(IDLE_TIMEOUT_MS),
    SWITCHYARD_UPSTREAM_TIMEOUT_MS: '10000',
  });
  const started: GatewayProcess[] = [];
  const results: ScenarioResult[] = [];
  try {
    let gateway = await startGatewayProcess(process.execPath, GATEWAY_ENTRY, env);
    started.push(gateway);
    const closedPort = await unusedPort();

    const scenarios: Scenario[] = [
      { name: 'upstream 429', fault: '429, Retry-After: 2', alias: 'chaos-throttled', stream: false, promises: {} },
      { name: 'upstream 500', fault: '500', alias: 'chaos-error500', stream: false, promises: {} },
      { name: 'upstream 503', fault: '503', alias: 'chaos-unavailable503', stream: true, promises: {} },
      { name: 'connect refused', fault: `nobody on port ${closedPort}`, alias: 'chaos-refused', stream: false, promises: {} },
      { name: 'reset', fault: 'connection reset, no answer', alias: 'chaos-reset', stream: true, promises: {} },
      {
        name: 'reset mid-body',
        fault: 'half a JSON answer, then reset',
        alias: 'chaos-reset-mid-body',
        stream: false,
        promises: { brokenAnswer: true },
      },
      { name: 'stream cut', fault: '3 chunks, then reset', alias: 'chaos-stream-cut', stream: true, promises: { brokenAnswer: true } },
      { name: 'slow first byte', fault: 'answers after 1.5 s', alias: 'chaos-slow-first-byte', stream: true, promises: {} },
      {
        name: 'stalled stream',
        fault: `2 chunks, then silence (idle limit ${IDLE_TIMEOUT_MS} ms)`,
        alias: 'chaos-stalled',
        stream: true,
        promises: { brokenAnswer: true },
        requests: 2,
      },
      { name: '3xx', fault: '302 to another host', alias: 'chaos-redirect', stream: false, promises: {} },
    ];
    for (const scenario of scenarios) {
      const behaviour = scenario.alias.replace(/^chaos-/, '');
      const endpoint = scenario.alias === 'chaos-refused' ? `http://127.0.0.1:${closedPort}/v1` : `${upstream.url}/${behaviour}/v1`;
      await addAlias(gateway, scenario.alias, endpoint);
    }
    await addAlias(gateway, 'chaos-safety-down', `${upstream.url}/ok/v1`);
    await addAlias(gateway, 'chaos-durable', `${upstream.url}/ok/v1`);
    await addAlias(gateway, 'chaos-killed', `${upstream.url}/trickle/v1`);

    const seenBy = new Map<string, Seen[]>();
    for (const scenario of scenarios) {
      const seen: Seen[] = [];
      for (let i = 0; i < (scenario.requests ?? REQUESTS_PER_FAULT); i += 1) seen.push(await ask(gateway, scenario.alias, scenario.stream));
      seenBy.set(scenario.name, seen);
    }

    // Content Safety down: team demo is screened and fails closed.
    contentSafety.setOptions({ down: true });
    const safetySeen: Seen[] = [];
    for (let i = 0; i < REQUESTS_PER_FAULT; i += 1) safetySeen.push(await ask(gateway, 'chaos-safety-down', i % 2 === 0));
    contentSafety.setOptions({ down: false });

    // The gateway SIGKILLed with streams in flight, just after answering whole requests; then restarted on the same data.
    const durableSeen: Seen[] = [];
    for (let i = 0; i < REQUESTS_PER_FAULT; i += 1) durableSeen.push(await ask(gateway, 'chaos-durable', false));
    let firstBytes = 0;
    const killedAnswers = [0, 1].map(() => ask(gateway, 'chaos-killed', true, () => (firstBytes += 1)));
    while (firstBytes < 4) await sleep(20);
    gateway.child.kill('SIGKILL');
    await gateway.exited;
    const killedSeen = await Promise.all(killedAnswers);
    gateway = await startGatewayProcess(process.execPath, GATEWAY_ENTRY, env);
    started.push(gateway);

    // What the ledger holds once the restarted instance has swept what the killed one had not rolled up.
    await sleep(1_500);
    const ledger = await ledgerRequests(gateway);
    for (const scenario of scenarios) {
      const seen = seenBy.get(scenario.name)!;
      const recorded = ledger.get(scenario.alias) ?? 0;
      results.push({ name: scenario.name, fault: scenario.fault, seen, recorded, losses: lossesOf(seen, recorded, scenario.promises) });
    }
    const safetyRecorded = ledger.get('chaos-safety-down') ?? 0;
    results.push({
      name: 'Content Safety down',
      fault: 'every connection reset; team fails closed',
      seen: safetySeen,
      recorded: safetyRecorded,
      losses: lossesOf(safetySeen, safetyRecorded, {}),
    });
    const durableRecorded = ledger.get('chaos-durable') ?? 0;
    results.push({
      name: 'answered, then SIGKILL',
      fault: 'gateway killed just after these answers',
      seen: durableSeen,
      recorded: durableRecorded,
      losses: lossesOf(durableSeen, durableRecorded, {}),
    });
    const killedRecorded = ledger.get('chaos-killed') ?? 0;
    results.push({
      name: 'SIGKILL mid-stream',
      fault: 'gateway killed with 2 streams in flight, restarted',
      seen: killedSeen,
      recorded: killedRecorded,
      losses: lossesOf(killedSeen, killedRecorded, { gatewayDies: true }),
    });

    // The store unreachable: an instance whose Cosmos endpoint has nobody behind it.
    results.push(await storeUnreachable(dataDir, upstream.url, started));
  } finally {
    for (const gateway of started) if (gateway.child.exitCode === null && gateway.child.signalCode === null) gateway.child.kill('SIGTERM');
    await Promise.all(started.map((gateway) => gateway.exited));
    await contentSafety.close();
    await upstream.close();
    for (const dir of [dataDir, `${dataDir}-store-gateway`]) rmSync(dir, { recursive: true, force: true });
  }
  process.stdout.write(`${chaosTable(results)}\n`);
  const lost = results.filter((result) => result.losses.length > 0);
  process.stdout.write(
    lost.length === 0 ? '\nchaos: nothing promised was lost\n' : `\nchaos: ${lost.length} scenario(s) lost something promised\n`,
  );
  return lost.length === 0 ? 0 : 1;
}

const STORE_OUTAGE_MS = 5_000;

/**
 * The store unreachable while serving: an instance whose store (the embedded one, run here so it can be stopped)
 * goes away for a while and comes back on the same port and data. Its certificate is new on every start, so this
 * instance alone skips TLS verification — on loopback, for this run only.
 */
async function storeUnreachable(dataDir: string, upstreamUrl: string, started: GatewayProcess[]): Promise<ScenarioResult> {
  const fault = `store stopped for ${STORE_OUTAGE_MS / 1000} s, then back`;
  const storeDir = `${dataDir}-store`;
  let store = await startEmbeddedCosmos({ dataDir: storeDir });
  const port = Number(new URL(store.endpoint).port);
  const env = gatewayEnv(`${dataDir}-store-gateway`, {
    SWITCHYARD_ADMIN_KEY: ADMIN_KEY,
    SWITCHYARD_DEMO_KEY: DEMO_KEY,
    SWITCHYARD_MODE: 'local',
    COSMOS_ENDPOINT: store.endpoint,
    COSMOS_KEY: store.key,
    NODE_TLS_REJECT_UNAUTHORIZED: '0',
    SWITCHYARD_LEDGER_FLUSH_MS: '100',
  });
  try {
    const gateway = await startGatewayProcess(process.execPath, GATEWAY_ENTRY, env);
    started.push(gateway);
    await addAlias(gateway, 'chaos-store-down', `${upstreamUrl}/ok/v1`);
    const seen: Seen[] = [await ask(gateway, 'chaos-store-down', false)];
    await store.stop();
    const outageEndsAt = Date.now() + STORE_OUTAGE_MS;
    for (let i = 0; i < REQUESTS_PER_FAULT; i += 1) seen.push(await ask(gateway, 'chaos-store-down', i % 2 === 1));
    const manage = await call(gateway, '/manage/deployments');
    const manageSeen = seenOf(manage.status, manage.headers.get('content-type') ?? '', await manage.text(), false);
    await sleep(Math.max(0, outageEndsAt - Date.now()));
    store = await startEmbeddedCosmos({ dataDir: storeDir, port });
    // Held records are written when the store is back: the ledger's flush retries on its own, and its rollups follow
    // at the next tick. Read until every request is counted, or long enough that one still missing is lost.
    let recorded = 0;
    for (const giveUpAt = Date.now() + 20_000; recorded < seen.length && Date.now() < giveUpAt; await sleep(500)) {
      recorded = (await ledgerRequests(gateway)).get('chaos-store-down') ?? 0;
    }
    const losses = lossesOf(seen, recorded, {});
    if (manageSeen.status !== 503 || manageSeen.code !== 'store_unavailable')
      losses.push(`management during the outage answered ${manageSeen.status} ${manageSeen.code ?? ''}`);
    return { name: 'store unreachable', fault: `${fault}; /manage saw ${manageSeen.status} ${manageSeen.code}`, seen, recorded, losses };
  } finally {
    await store.stop();
    rmSync(storeDir, { recursive: true, force: true });
  }
}

async function unusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (!(await portRefuses(port))) throw new Error(`port ${port} is in use`);
  return port;
}

process.exitCode = await main();
