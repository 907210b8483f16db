import { describe, expect, it } from 'vitest';
import { goalRows } from '../../bench/goals.js';
import { median, percentile, summariseLatencies } from '../../bench/latency-stats.js';
import { dueCount, scheduledAtMs } from '../../bench/open-loop-schedule.js';
import { growthVerdict, slope } from '../../bench/soak-verdict.js';
import { SseArrivals } from '../../bench/sse-arrivals.js';

describe('bench statistics', () => {
  it('takes nearest-rank percentiles', () => {
    const hundred = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(hundred, 50)).toBe(50);
    expect(percentile(hundred, 99)).toBe(99);
    expect(percentile(hundred, 100)).toBe(100);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
    expect(summariseLatencies([3, 1, 2])).toEqual({ count: 3, p50Ms: 2, p99Ms: 3, maxMs: 3 });
    expect(median([5, 1, 9, 3])).toBe(3);
  });
});

describe('open-loop schedule', () => {
  it('makes requests due by the clock, not by the answers before them', () => {
    expect(dueCount(-1, 1000, 10)).toBe(0);
    expect(dueCount(0, 1000, 10)).toBe(1);
    expect(dueCount(0.999, 1000, 10)).toBe(1);
    expect(dueCount(1, 1000, 10)).toBe(2);
    // A generator that wakes late sends everything that fell due meanwhile, at once.
    expect(dueCount(5.5, 1000, 10)).toBe(6);
    expect(dueCount(60_000, 1000, 10)).toBe(10);
    expect(scheduledAtMs(250, 1000)).toBe(250);
    expect(scheduledAtMs(3, 200)).toBe(15);
  });
});

describe('stream chunk counting', () => {
  const stream =
    'data: {"choices":[{"delta":{"role":"assistant","content":"a"}}]}\n\n' +
    'data: {"choices":[{"delta":{"content":" b"}}]}\n\n' +
    'data: {"choices":[],"usage":{"total_tokens":3}}\n\n' +
    'data: [DONE]\n\n';

  it('counts the same chunks however the bytes are split', () => {
    for (let size = 1; size <= stream.length; size++) {
      const arrivals = new SseArrivals(' b"');
      let completed = 0;
      for (let at = 0; at < stream.length; at += size) completed += arrivals.feed(stream.slice(at, at + size));
      expect(completed).toBe(2);
      expect(arrivals.contentChunks).toBe(2);
      expect(arrivals.dataEvents).toBe(3);
      expect(arrivals.sawLastText).toBe(true);
      expect(arrivals.done).toBe(true);
    }
  });

  it('a cut stream is not done', () => {
    const arrivals = new SseArrivals(' b"');
    arrivals.feed(stream.slice(0, 70));
    expect(arrivals.done).toBe(false);
    expect(arrivals.sawLastText).toBe(false);
  });
});

describe('soak growth verdict', () => {
  const MB = 1024 * 1024;
  const options = { maxSlopeMbPerMinute: 1, maxQuarterRiseMb: 4 };
  const minutes = (n: number) => Array.from({ length: n }, (_, i) => i * 10_000);

  it('fits a least-squares slope', () => {
    expect(slope([0, 1, 2, 3], [1, 3, 5, 7])).toBe(2);
    expect(slope([5, 5], [1, 2])).toBe(0);
  });

  it('calls a warm-up followed by a plateau flat', () => {
    const samples = minutes(24).map((atMs, i) => ({ atMs, rssBytes: (i < 6 ? 100 + i * 5 : 130 + (i % 2)) * MB }));
    const v = growthVerdict(samples, (s) => s.rssBytes, options);
    expect(v.grows).toBe(false);
    expect(v.reason).toMatch(/^flat/);
  });

  it('calls a steady climb growth', () => {
    // 2 MB every 10 s = 12 MB/min.
    const samples = minutes(24).map((atMs, i) => ({ atMs, rssBytes: (100 + 2 * i) * MB }));
    const v = growthVerdict(samples, (s) => s.rssBytes, options);
    expect(v.grows).toBe(true);
    expect(v.slopeMbPerMinute).toBeCloseTo(12, 6);
    expect(v.lastQuarterMedianMb - v.secondQuarterMedianMb).toBeGreaterThan(4);
  });

  it('calls a slow drift under the noise floor flat', () => {
    const samples = minutes(24).map((atMs, i) => ({ atMs, rssBytes: 100 * MB + i * 0.2 * MB }));
    expect(growthVerdict(samples, (s) => s.rssBytes, options).grows).toBe(false);
  });
});

describe('goal rows', () => {
  it('marks each goal met or not against its figure', () => {
    const rows = goalRows({
      throughputRatios: [
        { body: '150 B', ratio: 0.71 },
        { body: '100 KB', ratio: 0.4 },
      ],
      streams: [{ shape: 'wide', addedFirstChunkP50Ms: 0.4, addedFirstChunkP99Ms: 2.5, addedGapP99Ms: 0.1 }],
      slowStreams: { total: 2000, withoutStall: 1999 },
      openLoop: { ratePerSecond: 1000, addedP99Ms: 1.5 },
      gatewayRssIdleMb: 130,
      gatewayRssUnderLoadMb: 180,
    });
    expect(rows.map((r) => r.verdict)).toEqual([
      'met',
      'not met',
      'not measured',
      'met',
      'not met',
      'met',
      'not met',
      'met',
      'not met',
      'met',
    ]);
  });

  it('a figure that could not be taken is not measured', () => {
    const rows = goalRows({
      throughputRatios: [],
      portkeyRatio: 6,
      streams: [{ shape: 'token-sized', addedFirstChunkP50Ms: Number.NaN, addedFirstChunkP99Ms: Number.NaN, addedGapP99Ms: Number.NaN }],
      slowStreams: { total: 0, withoutStall: 0 },
      openLoop: { ratePerSecond: 1000, addedP99Ms: 3 },
      gatewayRssIdleMb: 100,
      gatewayRssUnderLoadMb: 250,
    });
    expect(rows.map((r) => [r.figure, r.verdict])).toEqual([
      ['6.00 ×', 'met'],
      ['n/a', 'not measured'],
      ['n/a', 'not measured'],
      ['n/a', 'not measured'],
      ['0 of 0', 'not met'],
      ['+3.00 ms', 'not met'],
      ['100 MB', 'met'],
      ['250 MB', 'not met'],
    ]);
  });
});
