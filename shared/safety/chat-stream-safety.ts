import { SSE_DONE, SseSplitter, sseData } from '../http/sse.js';
import type { StreamHoldBack } from './stream-hold-back.js';

type Chunk = Record<string, unknown> & { choices?: unknown };
type Choice = Record<string, unknown> & { index?: unknown; delta?: unknown; finish_reason?: unknown };

const isRecord = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);

/**
 * A streamed chat answer (OpenAI chat.completion.chunk events, as the protocol readers give them), screened on
 * its way to the caller: each choice's `delta.content` goes through its own StreamHoldBack and only what that
 * releases is sent on, in chunks that keep the upstream's id, model and other fields. A choice that is flagged
 * ends at once with `finish_reason: "content_filter"` (and `content_filter_results` when given); what it says
 * after is dropped. `[DONE]` is held until every choice's held text is out. Tool-call arguments and refusals
 * pass as they come.
 */
export class ChatStreamSafety {
  private readonly splitter = new SseSplitter();
  private readonly choices = new Map<number, { holdBack: StreamHoldBack; ended: boolean }>();
  private template: Record<string, unknown> = {};
  private done = false;

  constructor(
    private readonly holdBackFor: (choiceIndex: number) => StreamHoldBack,
    private readonly filterResults?: (choiceIndex: number) => Record<string, unknown> | undefined,
  ) {}

  /** Whether every choice seen so far was cut by the filter: the upstream need not be read any further. */
  get allBlocked(): boolean {
    return this.choices.size > 0 && [...this.choices.values()].every((c) => c.ended && c.holdBack.blocked);
  }

  /** Whole SSE events in, the events to send on out (fewer, or re-cut, while text is held). */
  async push(events: readonly Uint8Array[]): Promise<Uint8Array[]> {
    const out: Uint8Array[] = [];
    for (const bytes of events) {
      for (const event of this.splitter.push(bytes)) {
        const data = event.data.trim();
        if (data === '[DONE]') {
          this.done = true;
          continue;
        }
        let chunk: unknown;
        try {
          chunk = JSON.parse(data);
        } catch {
          out.push(event.raw);
          continue;
        }
        if (!isRecord(chunk) || !Array.isArray(chunk.choices)) {
          out.push(event.raw);
          continue;
        }
        out.push(...(await this.screenChunk(chunk)));
      }
    }
    return out;
  }

  /** The upstream finished: every choice's held text (or its content_filter end), then `[DONE]` if it sent one. */
  async end(): Promise<Uint8Array[]> {
    const out: Uint8Array[] = [];
    for (const [index, choice] of this.choices) {
      if (choice.ended) continue;
      choice.ended = true;
      const released = await choice.holdBack.end();
      if (released.blocked) out.push(this.filteredEnd(index));
      else if (released.text.length > 0)
        out.push(sseData(this.chunkOf([{ index, delta: { content: released.text }, finish_reason: null }])));
    }
    if (this.done) out.push(SSE_DONE);
    return out;
  }

  private choice(index: number) {
    let choice = this.choices.get(index);
    if (!choice) {
      choice = { holdBack: this.holdBackFor(index), ended: false };
      this.choices.set(index, choice);
    }
    return choice;
  }

  private async screenChunk(chunk: Chunk): Promise<Uint8Array[]> {
    const { choices, ...rest } = chunk;
    this.template = rest;
    const out: Uint8Array[] = [];
    const kept: Choice[] = [];
    for (const raw of choices as unknown[]) {
      if (!isRecord(raw)) continue;
      const original = raw as Choice;
      const index = typeof original.index === 'number' ? original.index : 0;
      const choice = this.choice(index);
      if (choice.ended) continue;
      const delta = isRecord(original.delta) ? original.delta : {};
      const { content, ...otherDelta } = delta;
      let released = typeof content === 'string' ? await choice.holdBack.push(content) : { text: '', blocked: choice.holdBack.blocked };
      const finishing = original.finish_reason !== null && original.finish_reason !== undefined;
      if (!released.blocked && finishing) {
        const last = await choice.holdBack.end();
        released = { text: released.text + last.text, blocked: last.blocked };
      }
      if (released.blocked) {
        choice.ended = true;
        out.push(this.filteredEnd(index));
        continue;
      }
      if (finishing) choice.ended = true;
      const hasOther =
        Object.keys(otherDelta).length > 0 ||
        finishing ||
        Object.keys(original).some((k) => !['index', 'delta', 'finish_reason', 'logprobs'].includes(k));
      if (released.text.length === 0 && !hasOther) continue;
      kept.push({ ...original, delta: released.text.length > 0 ? { ...otherDelta, content: released.text } : otherDelta });
    }
    // A chunk whose choices all wait is not sent, unless it carries something else (the usage chunk has no choices).
    if (kept.length > 0 || (choices as unknown[]).length === 0) out.unshift(sseData({ ...rest, choices: kept }));
    return out;
  }

  private chunkOf(choices: unknown[]): Record<string, unknown> {
    const { usage: _usage, ...rest } = this.template;
    return { ...rest, choices };
  }

  private filteredEnd(index: number): Uint8Array {
    const results = this.filterResults?.(index);
    return sseData(
      this.chunkOf([{ index, delta: {}, finish_reason: 'content_filter', ...(results ? { content_filter_results: results } : {}) }]),
    );
  }
}
