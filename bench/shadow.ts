/**
 * `npm run bench:shadow`: what shadow traffic costs the caller. The local gateway in this process (embedded store,
 * simulators), two routes on the same serverless simulator, one without a shadow and one copying 100% of requests
 * to a slower candidate simulator in its own process (as a real candidate is remote). Rounds alternate between them
 * (BENCH_SHADOW_ROUNDS each, BENCH_SHADOW_REQUESTS requests per round, BENCH_SHADOW_CONCURRENCY at once) so drift
 * hits both alike. Prints the caller's latency (median and p95, ms, from the request to the whole answer) with
 * shadow 0% and 100%, and the copies started, skipped (beyond SWITCHYARD_SHADOW_MAX_IN_FLIGHT) and recorded.
 */
import { randomBytes } from 'node:crypto';
import OpenAI from 'openai';
import { startLocalGateway } from '../local/local-gateway.js';
import { silentLogger } from '../shared/log.js';
import { spawnNode, stopChild } from './child-processes.js';

const ROUNDS = Number(process.env.BENCH_SHADOW_ROUNDS ?? 3);
const REQUESTS = Number(process.env.BENCH_SHADOW_REQUESTS ?? 200);
const CONCURRENCY = Number(process.env.BENCH_SHADOW_CONCURRENCY ?? 8);
const PRIMARY_LATENCY_MS = 50;
const CANDIDATE_LATENCY_MS = 200;
const DEMO_KEY = 'sy-bench-shadow-demo-0123456789abcdef';
const ADMIN_KEY = 'sya-bench-shadow-admin-0123456789abcdef';

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function main(): Promise<void> {
  // The candidate in its own process, as a real one is remote: only the gateway's own work for the copies is measured.
  const candidateKey = randomBytes(18).toString('base64url');
  const candidate = spawnNode({
    name: 'candidate simulator',
    nodeArgs: ['--import', 'tsx', 'bench/sim-process.ts'],
    cwd: process.cwd(),
    env: { ...process.env, BENCH_SIM_KEY: candidateKey, BENCH_SIM_LATENCY_MS: String(CANDIDATE_LATENCY_MS) },
  });
  const candidateUrl = String((await candidate.firstJsonLine(30_000)).url);
  const gateway = await startLocalGateway({
    ephemeralStore: true,
    log: silentLogger,
    env: {
      PORT: '0',
      SWITCHYARD_DEMO_KEY: DEMO_KEY,
      SWITCHYARD_ADMIN_KEY: ADMIN_KEY,
      SWITCHYARD_SIM_LATENCY_MS: String(PRIMARY_LATENCY_MS),
      PATH: process.env.PATH ?? '',
      UPSTREAM_BENCH_CANDIDATE_KEY: candidateKey,
    },
  });
  try {
    const admin = async (path: string, method: string, body: unknown) => {
      const response = await fetch(gateway.url + path, {
        method,
        headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      if (response.status >= 300) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
    };
    await admin('/manage/deployments/bench-candidate', 'PUT', {
      kind: 'serverless',
      protocol: 'openai',
      endpoint: `${candidateUrl}/v1`,
      upstreamModel: 'candidate',
      auth: { type: 'key', secret: 'UPSTREAM_BENCH_CANDIDATE_KEY' },
      pricing: { inputPerMillionUsd: 0.5, outputPerMillionUsd: 1.5 },
    });
    await admin('/manage/routes/bench-off', 'PUT', { targets: [{ deployment: 'sim-llama-serverless' }] });
    await admin('/manage/routes/bench-on', 'PUT', {
      targets: [{ deployment: 'sim-llama-serverless' }],
      shadow: { deployment: 'bench-candidate', percent: 100 },
    });
    await admin('/manage/teams/demo', 'PATCH', { aliases: ['chat', 'embed', 'bench-off', 'bench-on'] });

    const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: DEMO_KEY, maxRetries: 0 });
    const round = async (model: string): Promise<number[]> => {
      const latencies: number[] = [];
      let sent = 0;
      const worker = async () => {
        while (sent < REQUESTS) {
          sent++;
          const started = performance.now();
          await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'hello' }], max_tokens: 16 });
          latencies.push(performance.now() - started);
        }
      };
      await Promise.all(Array.from({ length: CONCURRENCY }, worker));
      return latencies;
    };

    await round('bench-off'); // warm-up: connections, JIT, the catalog
    const off: number[] = [];
    const on: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      off.push(...(await round('bench-off')));
      on.push(...(await round('bench-on')));
    }
    const deps = gateway.services.deps;
    while (deps.shadowTraffic.stats().inFlight > 0) await new Promise((resolve) => setTimeout(resolve, 50));
    const { records } = await deps.shadowLog.read('bench-on', {
      fromTs: '2000-01-01T00:00:00.000Z',
      toTs: '2100-01-01T00:00:00.000Z',
      limit: 1_000_000,
    });
    const stats = deps.shadowTraffic.stats();
    const line = (name: string, values: number[]) => {
      const sorted = [...values].sort((a, b) => a - b);
      return `${name.padEnd(12)} requests ${String(values.length).padStart(5)}  median ${percentile(sorted, 50).toFixed(1).padStart(6)} ms  p95 ${percentile(sorted, 95).toFixed(1).padStart(6)} ms`;
    };
    console.log(
      `shadow bench: ${ROUNDS} rounds × ${REQUESTS} chat requests per setting, ${CONCURRENCY} at once; primary simulator ${PRIMARY_LATENCY_MS} ms, candidate ${CANDIDATE_LATENCY_MS} ms`,
    );
    console.log(line('shadow 0%', off));
    console.log(line('shadow 100%', on));
    const medianOff = percentile(
      [...off].sort((a, b) => a - b),
      50,
    );
    const medianOn = percentile(
      [...on].sort((a, b) => a - b),
      50,
    );
    console.log(`median difference (100% − 0%): ${(medianOn - medianOff).toFixed(1)} ms`);
    console.log(
      `copies: started ${stats.started}, skipped ${stats.skipped} (at most ${stats.maxInFlight} in flight), recorded ${records.length} (${records.filter((r) => r.shadow.ok).length} answered)`,
    );
  } finally {
    await gateway.close();
    await stopChild(candidate, 5_000);
  }
}

await main();
