/**
 * `npm run bench:limits`: what budgets and rate limits add to a request. The local gateway in this process (embedded
 * store in its worker thread, simulators answering at once), one serverless route, and four teams: none, a hard budget,
 * rate limits, both. Prints the latency of sequential chat requests per team (interleaved, so drift hits all alike),
 * the throughput of BENCH_LIMITS_CONCURRENCY concurrent callers per team, and the store calls each adds per request.
 */
import { startLocalGateway } from '../local/local-gateway.js';
import { silentLogger } from '../shared/log.js';

const SEQUENTIAL = Number(process.env.BENCH_LIMITS_REQUESTS ?? 400);
const CONCURRENT = Number(process.env.BENCH_LIMITS_CONCURRENT_REQUESTS ?? 2_000);
const CONCURRENCY = Number(process.env.BENCH_LIMITS_CONCURRENCY ?? 32);
const ADMIN_KEY = 'bench-limits-admin-key-0123456789';

const TEAMS = {
  none: {},
  budget: { budget: { monthlyUsd: 1_000_000, enforce: 'hard' } },
  limits: { limits: { rpm: 1_000_000_000, tpm: 1_000_000_000 } },
  both: { budget: { monthlyUsd: 1_000_000, enforce: 'hard' }, limits: { rpm: 1_000_000_000, tpm: 1_000_000_000 } },
} as const;
type TeamName = keyof typeof TEAMS;

const gateway = await startLocalGateway({
  ephemeralStore: true,
  log: silentLogger,
  env: { PORT: '0', PATH: process.env.PATH ?? '', SWITCHYARD_ADMIN_KEY: ADMIN_KEY, SWITCHYARD_LEDGER_FLUSH_MS: '200' },
});

async function admin(path: string, method: string, body: unknown): Promise<unknown> {
  const response = await fetch(gateway.url + path, {
    method,
    headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (response.status >= 300) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
  return response.json();
}

const keys = {} as Record<TeamName, string>;
try {
  await admin('/manage/routes/bench-paid', 'PUT', { targets: [{ deployment: 'sim-llama-serverless' }] });
  for (const [name, extra] of Object.entries(TEAMS)) {
    await admin(`/manage/teams/bench-${name}`, 'PUT', { name, aliases: ['bench-paid'], ...extra });
    keys[name as TeamName] = ((await admin(`/manage/teams/bench-${name}/keys`, 'POST', {})) as { key: string }).key;
  }
  await gateway.services.deps.catalog.refresh();

  const body = JSON.stringify({ model: 'bench-paid', messages: [{ role: 'user', content: 'Say something short.' }], max_tokens: 16 });
  const chat = async (team: TeamName): Promise<number> => {
    const started = performance.now();
    const response = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${keys[team]}`, 'content-type': 'application/json' },
      body,
    });
    await response.text();
    if (response.status !== 200) throw new Error(`${team}: ${response.status}`);
    return performance.now() - started;
  };
  const names = Object.keys(TEAMS) as TeamName[];

  for (let i = 0; i < 50; i += 1) for (const team of names) await chat(team);
  const times = Object.fromEntries(names.map((n) => [n, [] as number[]])) as Record<TeamName, number[]>;
  for (let i = 0; i < SEQUENTIAL; i += 1) for (const team of names) times[team].push(await chat(team));

  const throughput = {} as Record<TeamName, number>;
  for (const team of names) {
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < CONCURRENT) {
          next += 1;
          await chat(team);
        }
      }),
    );
    throughput[team] = CONCURRENT / ((performance.now() - started) / 1000);
  }

  const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
  const base = [...times.none].sort((a, b) => a - b);
  console.log(
    `budgets and rate limits: ${SEQUENTIAL} sequential chat requests per team (interleaved), then ${CONCURRENT} at concurrency ${CONCURRENCY}`,
  );
  console.log('team     p50 ms   p99 ms   +p50 ms vs none   req/s at concurrency   store calls added per request');
  const storeCalls: Record<TeamName, string> = {
    none: '0',
    budget: '2 (reserve patch; settle patch after the answer)',
    limits: '2 (window patch; token correction after the answer)',
    both: '4 (the two admission patches run in parallel)',
  };
  for (const team of names) {
    const sorted = [...times[team]].sort((a, b) => a - b);
    console.log(
      `${team.padEnd(8)} ${pct(sorted, 50).toFixed(2).padStart(6)}   ${pct(sorted, 99).toFixed(2).padStart(6)}   ${(pct(sorted, 50) - pct(base, 50)).toFixed(2).padStart(15)}   ${throughput[team].toFixed(0).padStart(20)}   ${storeCalls[team]}`,
    );
  }
} finally {
  await gateway.close();
}
