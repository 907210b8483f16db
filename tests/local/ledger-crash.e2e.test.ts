import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CosmosClient } from '@azure/cosmos';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedCosmos } from '../../local/embedded-cosmos.js';
import { GATEWAY_ENTRY, type GatewayProcess, gatewayEnv, startGatewayProcess } from './gateway-process.js';

// The local gateway killed with SIGKILL in the middle of a burst of chat (whole and streamed) and embeddings
// requests: every request the client saw answered must be in the ledger, and after a restart the rollups that
// /usage reads must count every record (the sweep completes what the killed process had not rolled up).
const DEMO_KEY = 'sy-ledger-crash-demo-key-0123456789ab';
const WORKERS = 12;
const KILL_AFTER_ANSWERS = 120;

let dataDir: string;
const running: GatewayProcess[] = [];

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'sy-ledger-crash-'));
});
afterAll(async () => {
  for (const gateway of running) gateway.child.kill('SIGKILL');
  await rm(dataDir, { recursive: true, force: true });
});

async function start(): Promise<GatewayProcess> {
  const gateway = await startGatewayProcess(
    process.execPath,
    GATEWAY_ENTRY,
    gatewayEnv(dataDir, {
      SWITCHYARD_DEMO_KEY: DEMO_KEY,
      SWITCHYARD_SIM_LATENCY_MS: '5',
      // Rollups applied by the process itself every 200 ms, the rest after the kill by the next one's sweep.
      SWITCHYARD_LEDGER_FLUSH_MS: '200',
      SWITCHYARD_LEDGER_SWEEP_MS: '200',
      SWITCHYARD_LEDGER_SWEEP_GRACE_MS: '1000',
    }),
  );
  running.push(gateway);
  return gateway;
}

type Kind = 'chat' | 'stream' | 'embeddings';

/** One request; resolves with its id when the client saw it answered completely, undefined otherwise. */
async function oneRequest(url: string, id: string, kind: Kind): Promise<string | undefined> {
  const path = kind === 'embeddings' ? '/v1/embeddings' : '/v1/chat/completions';
  const body =
    kind === 'embeddings'
      ? { model: 'embed', input: `crash ${id}` }
      : { model: 'chat', messages: [{ role: 'user', content: `crash ${id}` }], max_tokens: 8, stream: kind === 'stream' };
  try {
    const response = await fetch(url + path, {
      method: 'POST',
      headers: { authorization: `Bearer ${DEMO_KEY}`, 'content-type': 'application/json', 'x-request-id': id },
      body: JSON.stringify(body),
    });
    const text = await response.text();
    if (response.status !== 200) return undefined;
    if (kind === 'stream') return text.includes('data: [DONE]') ? id : undefined;
    JSON.parse(text);
    return id;
  } catch {
    return undefined; // the connection died with the process: not answered
  }
}

async function storedRequestIds(): Promise<Map<string, number>> {
  const store = await startEmbeddedCosmos({ dataDir });
  const client = new CosmosClient(store.connectionOptions());
  try {
    const { resources } = await client
      .database('switchyard')
      .container('usage')
      .items.query<{ requestId: string }>('SELECT c.requestId FROM c WHERE c.type = "request" AND c.team = "demo"')
      .fetchAll();
    const counts = new Map<string, number>();
    for (const { requestId } of resources) counts.set(requestId, (counts.get(requestId) ?? 0) + 1);
    return counts;
  } finally {
    client.dispose();
    await store.stop();
  }
}

describe('the ledger after kill -9 under load', () => {
  it('has every answered request, and /usage counts every record after a restart', async () => {
    const first = await start();
    const answered: string[] = [];
    let sent = 0;
    let stop = false;
    const killed = new Promise<void>((resolve) => {
      const workers = Array.from({ length: WORKERS }, async (_, worker) => {
        const kinds: Kind[] = ['chat', 'stream', 'embeddings'];
        for (let i = 0; !stop; i++) {
          const id = `crash-${worker}-${i}`;
          sent += 1;
          const ok = await oneRequest(first.url, id, kinds[(worker + i) % kinds.length]!);
          if (ok && !stop) {
            answered.push(ok);
            if (answered.length === KILL_AFTER_ANSWERS) {
              // Killed while the other workers' requests are in flight.
              first.child.kill('SIGKILL');
              stop = true;
              resolve();
            }
          }
        }
      });
      void Promise.all(workers);
    });
    await killed;
    await first.exited;
    expect(sent).toBeGreaterThan(KILL_AFTER_ANSWERS);

    const stored = await storedRequestIds();
    const missing = answered.filter((id) => !stored.has(id));
    expect(missing).toEqual([]);
    expect([...stored.values()].every((count) => count === 1)).toBe(true);
    expect(stored.size).toBeGreaterThanOrEqual(answered.length);

    const second = await start();
    const day = new Date().toISOString().slice(0, 10);
    let requests = -1;
    for (let attempt = 0; attempt < 100 && requests !== stored.size; attempt++) {
      const usage = await fetch(`${second.url}/usage?from=${day}&to=${day}`, { headers: { authorization: `Bearer ${DEMO_KEY}` } });
      requests = ((await usage.json()) as { totals: { requests: number } }).totals.requests;
      if (requests !== stored.size) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(requests).toBe(stored.size);
    second.child.kill('SIGKILL');
    await second.exited;
  }, 120_000);
});
