import { monitorEventLoopDelay } from 'node:perf_hooks';

/**
 * Bench-only preload (`node --import ./bench/loop-monitor.mjs …`) for a process under measurement, leaving its
 * code untouched; plain JavaScript, so the measured process needs no TypeScript loader. On SIGUSR2 it prints one
 * `bench-monitor {json}` line (the prefix bench-stack.ts looks for) with the event-loop delay since the last
 * report (p50, p99, max) and process.memoryUsage(), then starts a new window. With BENCH_MONITOR_GC=1 (and node
 * --expose-gc) it collects garbage first, so a soak compares what is live rather than where the GC sawtooth stands.
 */
const collectFirst = process.env.BENCH_MONITOR_GC === '1' && typeof globalThis.gc === 'function';
const delay = monitorEventLoopDelay({ resolution: 5 });
delay.enable();

process.on('SIGUSR2', () => {
  if (collectFirst) globalThis.gc();
  const memory = process.memoryUsage();
  const report = {
    loopDelayP50Ms: delay.percentile(50) / 1e6,
    loopDelayP99Ms: delay.percentile(99) / 1e6,
    loopDelayMaxMs: delay.max / 1e6,
    rssBytes: memory.rss,
    heapUsedBytes: memory.heapUsed,
    heapTotalBytes: memory.heapTotal,
  };
  delay.reset();
  process.stdout.write(`bench-monitor ${JSON.stringify(report)}\n`);
});
