import { SseSplitter, type SseEvent } from '../http/sse.js';
import { countTextTokens } from './count-tokens.js';
import { usageFrom, type TokenUsage } from './extract-usage.js';

/**
 * Completion text is counted in batches of about this many characters and then dropped, so a long stream
 * holds no more of its text than this. Batches are cut wherever a delta ends, and a BPE count of a whole
 * text can differ by a token at each cut from the sum of its parts' counts: an estimate, as the record says.
 */
export const COUNT_BATCH_CHARS = 4096;

export interface StreamTapOptions {
  /** Whether the caller asked for the usage chunk; when not, the one Switchyard asked for is removed. */
  callerWantsUsage: boolean;
}

export interface StreamTapResult {
  usage?: TokenUsage;
  sawDone: boolean;
  events: number;
}

/**
 * Watches an OpenAI-protocol SSE stream: passes every event's bytes on untouched (except a usage-only
 * chunk the caller did not ask for), reads usage and counts completion tokens on the way.
 */
export class StreamTap {
  private readonly splitter = new SseSplitter();
  private readonly result: StreamTapResult = { sawDone: false, events: 0 };
  private countedTokens = 0;
  private uncounted = '';

  constructor(private readonly options: StreamTapOptions) {}

  /** The bytes to forward for this upstream chunk (whole events only; a partial event waits for its end). */
  push(chunk: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (const event of this.splitter.push(chunk)) {
      if (this.observe(event)) out.push(event.raw);
    }
    return out;
  }

  get summary(): StreamTapResult {
    return this.result;
  }

  /** Completion tokens the stream carried, by the tokenizer: the estimate used when the upstream reports no usage. */
  completionTokens(): number {
    this.countHeld();
    return this.countedTokens;
  }

  /** Characters of completion text held until the next batch is counted. */
  get heldTextChars(): number {
    return this.uncounted.length;
  }

  private countHeld(): void {
    this.countedTokens += countTextTokens(this.uncounted);
    this.uncounted = '';
  }

  private observe(event: SseEvent): boolean {
    this.result.events += 1;
    if (event.data === '[DONE]') {
      this.result.sawDone = true;
      return true;
    }
    let chunk: unknown;
    try {
      chunk = JSON.parse(event.data);
    } catch {
      return true;
    }
    if (!chunk || typeof chunk !== 'object') return true;
    const usage = usageFrom(chunk);
    if (usage) this.result.usage = usage;
    const choices = (chunk as { choices?: unknown }).choices;
    if (Array.isArray(choices)) {
      for (const choice of choices) {
        const content = (choice as { delta?: { content?: unknown } } | null)?.delta?.content;
        if (typeof content === 'string') this.uncounted += content;
      }
      if (this.uncounted.length >= COUNT_BATCH_CHARS) this.countHeld();
      if (usage && choices.length === 0 && !this.options.callerWantsUsage) return false;
    }
    return true;
  }
}
