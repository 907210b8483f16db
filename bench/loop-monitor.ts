import { monitorEventLoopDelay } from 'node:perf_hooks';
import { MONITOR_LINE_PREFIX } from './monitor-line.js';

/**
 * Bench-only preload (`node --import ./bench/loop-monitor.ts …`) for a process under measurement, leaving its
 * code untouched: on SIGUSR2 it prints one `bench-monitor {json}` line with the event-loop delay since the last
 * report (p50, p99, max) and process.memoryUsage(), then starts a new window.
 */
const delay = monitorEventLoopDelay({ resolution: 5 });
delay.enable();

process.on('SIGUSR2', () => {
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
  process.stdout.write(`${MONITOR_LINE_PREFIX}${JSON.stringify(report)}\n`);
});
