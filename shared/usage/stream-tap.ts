import { SseSplitter, type SseEvent } from '../http/sse.js';
import { usageFrom, type TokenUsage } from './extract-usage.js';

export interface StreamTapOptions {
  /** Whether the caller asked for the usage chunk; when not, the one Switchyard asked for is removed. */
  callerWantsUsage: boolean;
}

export interface StreamTapResult {
  usage?: TokenUsage;
  /** Text the stream carried, to count tokens when the upstream reported no usage. */
  completionText: string;
  sawDone: boolean;
  events: number;
}

/**
 * Watches an OpenAI-protocol SSE stream: passes every event's bytes on untouched (except a usage-only
 * chunk the caller did not ask for), reads usage and completion text on the way.
 */
export class StreamTap {
  private readonly splitter = new SseSplitter();
  private readonly result: StreamTapResult = { completionText: '', sawDone: false, events: 0 };

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
        if (typeof content === 'string') this.result.completionText += content;
      }
      if (usage && choices.length === 0 && !this.options.callerWantsUsage) return false;
    }
    return true;
  }
}
