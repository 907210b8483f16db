import { describe, expect, it } from 'vitest';
import { formatServerTiming, ServerTiming } from '../../shared/http/server-timing.js';

function clock(startMs: number) {
  let nowMs = startMs;
  return { now: () => nowMs, advance: (ms: number) => (nowMs += ms) };
}

describe('ServerTiming', () => {
  it('has no entries for a request that never reached routing', () => {
    const timing = new ServerTiming(clock(1_000).now);
    expect(timing.header()).toEqual({});
  });

  it('splits the total into gateway and upstream, which add up, with safety beside them', () => {
    const time = clock(1_000);
    const timing = new ServerTiming(time.now);
    const upstream = { upstreamMs: 0 };
    timing.track(upstream, { safetyMs: 3 });
    time.advance(12);
    upstream.upstreamMs = 40;
    time.advance(40);
    expect(timing.entries()).toEqual([
      { name: 'gateway', durMs: 12 },
      { name: 'upstream', durMs: 40 },
      { name: 'safety', durMs: 3 },
      { name: 'total', durMs: 52 },
    ]);
    expect(timing.header()).toEqual({ 'server-timing': 'gateway;dur=12, upstream;dur=40, safety;dur=3, total;dur=52' });
  });

  it('never reports a negative part, whatever its sources say', () => {
    const time = clock(5);
    const timing = new ServerTiming(time.now);
    timing.track({ upstreamMs: 99 });
    time.advance(10);
    expect(timing.entries()).toEqual([
      { name: 'gateway', durMs: 0 },
      { name: 'upstream', durMs: 10 },
      { name: 'total', durMs: 10 },
    ]);
  });

  it('writes milliseconds with at most one decimal', () => {
    expect(
      formatServerTiming([
        { name: 'upstream', durMs: 1.26 },
        { name: 'gateway', durMs: 0.04 },
      ]),
    ).toBe('upstream;dur=1.3, gateway;dur=0');
  });
});
