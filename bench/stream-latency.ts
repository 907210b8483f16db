import { Agent, request } from 'undici';
import { SseArrivals } from './sse-arrivals.js';

/** Where and how to ask for streams: the same body and headers go to every target. */
export interface StreamTarget {
  url: string;
  headers: Record<string, string>;
  body: string;
}

/** What one stream did, times in ms from the moment it was sent. */
interface StreamOutcome {
  status: number;
  /** The first data event, content or not (a role-only chunk, say). */
  firstEventMs?: number;
  /** The first chunk with content: when a caller sees the first token. */
  firstChunkMs?: number;
  /** Time between consecutive content chunks. */
  gapsMs: number[];
  /** 200, [DONE], and the upstream's last word among the content (however a proxy re-chunked it). */
  whole: boolean;
  contentChunks: number;
  error?: string;
}

/** The light upstream's chunk n carries ` word<n>`: the last one closes its content string. */
const lastWord = (chunks: number) => `word${chunks}"`;

async function oneStream(target: StreamTarget, dispatcher: Agent, signal: AbortSignal, chunks: number): Promise<StreamOutcome> {
  const sentAt = performance.now();
  const outcome: StreamOutcome = { status: 0, gapsMs: [], whole: false, contentChunks: 0 };
  try {
    const response = await request(target.url, { method: 'POST', headers: target.headers, body: target.body, dispatcher, signal });
    outcome.status = response.statusCode;
    const arrivals = new SseArrivals(lastWord(chunks));
    let lastAt: number | undefined;
    for await (const part of response.body) {
      const eventsBefore = arrivals.dataEvents;
      const completed = arrivals.feed((part as Buffer).toString('utf8'));
      if (outcome.firstEventMs === undefined && arrivals.dataEvents > eventsBefore) outcome.firstEventMs = performance.now() - sentAt;
      if (completed === 0) continue;
      const at = performance.now();
      if (lastAt === undefined) outcome.firstChunkMs = at - sentAt;
      else outcome.gapsMs.push(at - lastAt);
      // Chunks that arrived in one read came together: no time between them.
      for (let i = 1; i < completed; i++) outcome.gapsMs.push(0);
      lastAt = at;
    }
    outcome.contentChunks = arrivals.contentChunks;
    outcome.whole = response.statusCode === 200 && arrivals.done && arrivals.sawLastText;
  } catch (error) {
    outcome.error = error instanceof Error ? error.name : String(error);
  }
  return outcome;
}

export interface SequentialStreamsResult {
  firstEventMs: number[];
  firstChunkMs: number[];
  gapsMs: number[];
  /** Content chunks the whole streams arrived in (a proxy that holds text back merges them). */
  contentChunks: number;
  ok: number;
  failed: number;
  statuses: Record<string, number>;
}

/** `count` streams one after another on one keep-alive connection: time to first chunk and the gaps after it. */
export async function sequentialStreams(target: StreamTarget, count: number, expectedChunks: number): Promise<SequentialStreamsResult> {
  const dispatcher = new Agent({ connections: 1, keepAliveTimeout: 30_000 });
  const result: SequentialStreamsResult = {
    firstEventMs: [],
    firstChunkMs: [],
    gapsMs: [],
    contentChunks: 0,
    ok: 0,
    failed: 0,
    statuses: {},
  };
  try {
    for (let i = 0; i < count; i++) {
      const outcome = await oneStream(target, dispatcher, AbortSignal.timeout(30_000), expectedChunks);
      const key = outcome.error ?? String(outcome.status);
      result.statuses[key] = (result.statuses[key] ?? 0) + 1;
      if (!outcome.whole || outcome.firstChunkMs === undefined || outcome.firstEventMs === undefined) {
        result.failed += 1;
        continue;
      }
      result.ok += 1;
      result.contentChunks += outcome.contentChunks;
      result.firstEventMs.push(outcome.firstEventMs);
      result.firstChunkMs.push(outcome.firstChunkMs);
      result.gapsMs.push(...outcome.gapsMs);
    }
  } finally {
    await dispatcher.close();
  }
  return result;
}

export interface ConcurrentStreamsOptions {
  count: number;
  expectedChunks: number;
  /** Streams start evenly over this time, so connection set-up is not one burst. */
  rampMs: number;
  /** A gap between chunks longer than this (or a first chunk later than this) is a stall. */
  stallMs: number;
  /** Every stream is cut after this long. */
  deadlineMs: number;
}

export interface ConcurrentStreamsResult {
  total: number;
  /** Whole (200, [DONE], the last word) with no wait for content beyond the stall bound, first chunk included. */
  withoutStall: number;
  /** Whole, but the first chunk came later than the stall bound (the stream waited to start). */
  lateStart: number;
  /** Whole, but a gap between chunks was longer than the stall bound. */
  stalledMidStream: number;
  incomplete: number;
  firstChunkMs: number[];
  /** 2xx answers (complete or not): what the ledger must hold. */
  ok2xx: number;
  peakInFlight: number;
  /** Longest gap between chunks, first chunk not counted. */
  maxGapMs: number;
  statuses: Record<string, number>;
}

/** `count` streams held open together: how many arrive whole without a stall. */
export async function concurrentStreams(target: StreamTarget, options: ConcurrentStreamsOptions): Promise<ConcurrentStreamsResult> {
  const dispatcher = new Agent({ connections: options.count, keepAliveTimeout: 30_000, connectTimeout: options.deadlineMs });
  const result: ConcurrentStreamsResult = {
    total: options.count,
    withoutStall: 0,
    lateStart: 0,
    stalledMidStream: 0,
    incomplete: 0,
    firstChunkMs: [],
    ok2xx: 0,
    peakInFlight: 0,
    maxGapMs: 0,
    statuses: {},
  };
  let inFlight = 0;
  const startedAt = performance.now();
  try {
    await Promise.all(
      Array.from({ length: options.count }, async (_, i) => {
        const startAt = startedAt + (i * options.rampMs) / options.count;
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, startAt - performance.now())));
        inFlight += 1;
        result.peakInFlight = Math.max(result.peakInFlight, inFlight);
        const outcome = await oneStream(target, dispatcher, AbortSignal.timeout(options.deadlineMs), options.expectedChunks);
        inFlight -= 1;
        const key = outcome.error ?? String(outcome.status);
        result.statuses[key] = (result.statuses[key] ?? 0) + 1;
        if (outcome.status >= 200 && outcome.status < 300) result.ok2xx += 1;
        const maxGap = Math.max(0, ...outcome.gapsMs);
        result.maxGapMs = Math.max(result.maxGapMs, maxGap);
        if (outcome.firstChunkMs !== undefined) result.firstChunkMs.push(outcome.firstChunkMs);
        if (!outcome.whole || outcome.firstChunkMs === undefined) result.incomplete += 1;
        else if (maxGap > options.stallMs) result.stalledMidStream += 1;
        else if (outcome.firstChunkMs > options.stallMs) result.lateStart += 1;
        else result.withoutStall += 1;
      }),
    );
  } finally {
    await dispatcher.close();
  }
  return result;
}
