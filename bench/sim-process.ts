import { startOpenAICompatibleSim } from '../local/simulators/openai-compatible-sim.js';
import { exitWithParent } from './child-lifecycle.js';

// The bench's upstream, in its own process so it does not share an event loop with what is measured.
const apiKey = process.env.BENCH_SIM_KEY;
if (!apiKey) throw new Error('BENCH_SIM_KEY is not set');

const completionTokens = Number(process.env.BENCH_COMPLETION_TOKENS ?? 16);
if (!Number.isInteger(completionTokens) || completionTokens <= 0) throw new Error('BENCH_COMPLETION_TOKENS must be a positive integer');

const sim = await startOpenAICompatibleSim({
  host: '127.0.0.1',
  apiKey,
  latencyMs: Number(process.env.BENCH_SIM_LATENCY_MS ?? 0),
  defaultCompletionTokens: completionTokens,
});
exitWithParent(() => sim.close());
process.stdout.write(`${JSON.stringify({ url: sim.url })}\n`);
