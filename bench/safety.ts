/**
 * `npm run bench:safety`: what content safety adds, layer by layer, in this process — the local layers
 * (blocklists and PII) on prompts of 1, 10 and 100 KB; the remote layers (analyze and Prompt Shields in
 * parallel) against the Content Safety simulator on loopback, with no simulated service time and with
 * BENCH_SAFETY_REMOTE_MS (default 40) of it; and the stream hold-back per chunk (CPU per push, and how far
 * behind the upstream the caller is held, in characters). Prints medians and p95s; asserts nothing.
 * Then, through the local gateway over HTTP, the time to first byte of a streamed chat answer with no screening,
 * sequential screening and parallel screening (Content Safety at BENCH_SAFETY_REMOTE_MS, the model's first token
 * at BENCH_SAFETY_UPSTREAM_TTFT_MS, default 150), so the saving of parallel mode is measured, not assumed.
 */
import { performance } from 'node:perf_hooks';
import { startLocalGateway } from '../local/local-gateway.js';
import { startContentSafetySim } from '../local/simulators/content-safety-sim.js';
import { silentLogger } from '../shared/log.js';
import { BlocklistMatcher } from '../shared/safety/blocklist-matcher.js';
import { ContentSafetyClient } from '../shared/safety/content-safety-client.js';
import { PiiMasker } from '../shared/safety/mask-text.js';
import { safetyProfileSchema } from '../shared/safety/safety-profile.js';
import { answerWindowScreen, screen } from '../shared/safety/screen.js';
import { StreamHoldBack } from '../shared/safety/stream-hold-back.js';
import { createSender, createUpstreamDispatcher } from '../shared/upstreams/send-upstream.js';

const REMOTE_MS = Number(process.env.BENCH_SAFETY_REMOTE_MS ?? 40);
const ROUNDS = Number(process.env.BENCH_SAFETY_ROUNDS ?? 50);
const UPSTREAM_TTFT_MS = Number(process.env.BENCH_SAFETY_UPSTREAM_TTFT_MS ?? 150);

const words = ['the', 'quarterly', 'report', 'shows', 'revenue', 'growth', 'in', 'every', 'region', 'and', 'market'];
function prose(chars: number): string {
  let text = '';
  for (let i = 0; text.length < chars; i++) text += `${words[(i * 7) % words.length]} `;
  // Some personal data to find and mask, as a real prompt would have.
  return `${text.slice(0, chars - 60)} mail jane.doe@example.com card 4111 1111 1111 1111.`;
}

function stats(samples: number[]): string {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return `median ${at(0.5).toFixed(3)} ms, p95 ${at(0.95).toFixed(3)} ms (${samples.length} runs)`;
}

async function time(rounds: number, run: () => Promise<unknown>): Promise<number[]> {
  for (let i = 0; i < 3; i++) await run();
  const samples: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const startedAt = performance.now();
    await run();
    samples.push(performance.now() - startedAt);
  }
  return samples;
}

const items = Array.from({ length: 100 }, (_, i) => `codename ${['falcon', 'osprey', 'kestrel', 'merlin'][i % 4]} ${i}`);
const blocklists = new BlocklistMatcher([{ name: 'acme', items }]);
const local = safetyProfileSchema.parse({ pii: 'mask', blocklists: ['acme'] });
const now = () => performance.now();

console.log('Local layers (100 blocklist items, PII mask), screen() of one prompt:');
for (const size of [1_000, 10_000, 100_000]) {
  const text = prose(size);
  const samples = await time(ROUNDS, () =>
    screen({ direction: 'prompt', segments: [{ role: 'user', text }] }, local, {
      blocklists,
      remote: undefined,
      masker: new PiiMasker(),
      now,
    }),
  );
  console.log(`  ${String(size / 1000).padStart(3)} KB: ${stats(samples)}`);
}

const sim = await startContentSafetySim();
const dispatcher = createUpstreamDispatcher({ allowLoopback: true });
const remote = new ContentSafetyClient({
  endpoint: sim.url,
  send: createSender(dispatcher),
  credential: async () => ({ kind: 'key', value: 'bench' }),
  now,
  timeoutMs: 10_000,
});
const full = safetyProfileSchema.parse({ pii: 'mask', blocklists: ['acme'], categories: { hate: 2, violence: 4 }, promptShield: true });
console.log('Remote layers (analyze and Prompt Shields in parallel) on a 2 KB prompt, against the simulator on loopback:');
for (const latencyMs of [0, REMOTE_MS]) {
  sim.setOptions({ latencyMs });
  const text = prose(2_000);
  const samples = await time(Math.min(ROUNDS, 30), () =>
    screen({ direction: 'prompt', segments: [{ role: 'user', text }] }, full, { blocklists, remote, masker: new PiiMasker(), now }),
  );
  console.log(`  service time ${String(latencyMs).padStart(2)} ms: ${stats(samples)}`);
}

console.log('Stream hold-back (window 200), 4,000 characters in chunks of 20:');
for (const withRemote of [false, true]) {
  sim.setOptions({ latencyMs: 0 });
  const profile = withRemote ? safetyProfileSchema.parse({ ...full, promptShield: false }) : local;
  const answer = prose(4_000);
  const pushes: number[] = [];
  let behind = 0;
  let released = 0;
  let received = 0;
  for (let round = 0; round < 10; round++) {
    const holdBack = new StreamHoldBack(
      answerWindowScreen(profile, { blocklists, remote: withRemote ? remote : undefined, masker: new PiiMasker(), now }, () => undefined),
      { windowChars: 200 },
    );
    for (let at = 0; at < answer.length; at += 20) {
      const startedAt = performance.now();
      const step = await holdBack.push(answer.slice(at, at + 20));
      pushes.push(performance.now() - startedAt);
      received += 20;
      released += step.text.length;
      behind += holdBack.heldChars;
    }
    await holdBack.end();
  }
  console.log(
    `  ${withRemote ? 'local + analyze per window' : 'local layers only         '}: per chunk ${stats(pushes)}; held back on average ${(behind / pushes.length).toFixed(0)} characters (${((100 * released) / received).toFixed(0)}% released before the end)`,
  );
}

await sim.close();
await dispatcher.close();

console.log(
  `Time to first byte of a streamed chat answer through the gateway (Content Safety ${REMOTE_MS} ms, the model's first token ${UPSTREAM_TTFT_MS} ms):`,
);
const DEMO_KEY = 'sy-bench-safety-demo-key-0123456789';
const ADMIN_KEY = 'sya-bench-safety-admin-key-0123456789';
const gateway = await startLocalGateway({
  ephemeralStore: true,
  log: silentLogger,
  serverlessSim: { timeToFirstTokenMs: UPSTREAM_TTFT_MS },
  env: {
    PORT: '0',
    SWITCHYARD_DEMO_KEY: DEMO_KEY,
    SWITCHYARD_ADMIN_KEY: ADMIN_KEY,
    SWITCHYARD_TIMERS: 'off',
    PATH: process.env.PATH ?? '',
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
  await admin('/manage/routes/bench-safety', 'PUT', { targets: [{ deployment: 'sim-llama-serverless' }] });
  await admin('/manage/teams/demo', 'PATCH', { aliases: ['chat', 'embed', 'bench-safety'] });
  gateway.sims!.contentSafety!.setOptions({ latencyMs: REMOTE_MS });
  const firstByte = async () => {
    const response = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${DEMO_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'bench-safety',
        messages: [{ role: 'user', content: 'A short question about the quarterly report.' }],
        max_tokens: 8,
        stream: true,
      }),
    });
    const reader = response.body!.getReader();
    await reader.read();
    await reader.cancel();
  };
  const screened = { categories: { hate: 2, violence: 4 }, promptShield: true, pii: 'mask' };
  for (const [name, safety] of [
    ['no screening', null],
    ['sequential  ', { ...screened, parallel: false }],
    ['parallel    ', { ...screened, parallel: true }],
  ] as const) {
    await admin('/manage/teams/demo', 'PATCH', { safety: null });
    if (safety) await admin('/manage/teams/demo', 'PATCH', { safety });
    console.log(`  ${name}: ${stats(await time(Math.min(ROUNDS, 30), firstByte))}`);
  }
} finally {
  await gateway.close();
}
