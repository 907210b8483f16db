import { SSE_DONE, SseSplitter, sseData } from '../http/sse.js';
import type { StreamHoldBack } from './stream-hold-back.js';

type Chunk = Record<string, unknown> & { choices?: unknown };
type Choice = Record<string, unknown> & { index?: unknown; delta?: unknown; finish_reason?: unknown };
/** A choice's text held back, and each of its tool calls' arguments (by tool-call index) in a hold-back of its own. */
type ChoiceState = { holdBack: StreamHoldBack; calls: Map<number, StreamHoldBack>; ended: boolean; blocked: boolean };
/** What a chunk releases of one choice: text, tool-call pieces, or the end by the filter. */
type Released = { text: string; calls: Array<Record<string, unknown>>; blocked: boolean };

const isRecord = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);

/** Adds released arguments to the delta's piece of that call, or a piece of its own: one entry per call in a delta. */
function appendArguments(calls: Array<Record<string, unknown>>, index: number, text: string): void {
  const piece = calls.find((call) => call.index === index);
  if (!piece) {
    calls.push({ index, function: { arguments: text } });
    return;
  }
  const fn = isRecord(piece.function) ? piece.function : {};
  piece.function = { ...fn, arguments: `${typeof fn.arguments === 'string' ? fn.arguments : ''}${text}` };
}

/**
 * A streamed chat answer (OpenAI chat.completion.chunk events, as the protocol readers give them), screened on
 * its way to the caller: each choice's `delta.content` goes through its own StreamHoldBack and only what that
 * releases is sent on, in chunks that keep the upstream's id, model and other fields. A choice that is flagged
 * ends at once with `finish_reason: "content_filter"` (and `content_filter_results` when given); what it says
 * after is dropped. `[DONE]` is held until every choice's held text is out. Tool-call arguments are the model's
 * words too: each call's are held back and screened the same way (a flagged one ends the choice); refusals pass.
 */
export class ChatStreamSafety {
  private readonly splitter = new SseSplitter();
  private readonly choices = new Map<number, ChoiceState>();
  private template: Record<string, unknown> = {};
  private done = false;

  constructor(
    private readonly holdBackFor: (choiceIndex: number) => StreamHoldBack,
    private readonly filterResults?: (choiceIndex: number) => Record<string, unknown> | undefined,
  ) {}

  /** Whether every choice seen so far was cut by the filter: the upstream need not be read any further. */
  get allBlocked(): boolean {
    return this.choices.size > 0 && [...this.choices.values()].every((c) => c.ended && c.blocked);
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
      const released: Released = { text: '', calls: [], blocked: false };
      await this.endChoice(choice, released);
      choice.blocked = released.blocked;
      if (released.blocked) out.push(this.filteredEnd(index));
      else if (released.text.length > 0 || released.calls.length > 0)
        out.push(
          sseData(
            this.chunkOf([
              {
                index,
                delta: {
                  ...(released.text.length > 0 ? { content: released.text } : {}),
                  ...(released.calls.length > 0 ? { tool_calls: released.calls } : {}),
                },
                finish_reason: null,
              },
            ]),
          ),
        );
    }
    if (this.done) out.push(SSE_DONE);
    return out;
  }

  private choice(index: number): ChoiceState {
    let choice = this.choices.get(index);
    if (!choice) {
      choice = { holdBack: this.holdBackFor(index), calls: new Map(), ended: false, blocked: false };
      this.choices.set(index, choice);
    }
    return choice;
  }

  private call(choice: ChoiceState, choiceIndex: number, callIndex: number): StreamHoldBack {
    let holdBack = choice.calls.get(callIndex);
    if (!holdBack) {
      holdBack = this.holdBackFor(choiceIndex);
      choice.calls.set(callIndex, holdBack);
    }
    return holdBack;
  }

  /** The choice's held text and arguments, all released (or blocked) because it ends. */
  private async endChoice(choice: ChoiceState, released: Released): Promise<void> {
    const last = await choice.holdBack.end();
    released.text += last.text;
    released.blocked ||= last.blocked;
    for (const [callIndex, holdBack] of choice.calls) {
      const rest = await holdBack.end();
      released.blocked ||= rest.blocked;
      if (rest.text.length > 0) appendArguments(released.calls, callIndex, rest.text);
    }
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
      const { content, tool_calls: toolCalls, ...otherDelta } = delta;
      const released: Released = { text: '', calls: [], blocked: choice.holdBack.blocked };
      if (typeof content === 'string') {
        const pushed = await choice.holdBack.push(content);
        released.text = pushed.text;
        released.blocked ||= pushed.blocked;
      }
      if (Array.isArray(toolCalls))
        for (const call of toolCalls) if (isRecord(call)) released.calls.push(await this.screenCall(choice, index, call, released));
      const finishing = original.finish_reason !== null && original.finish_reason !== undefined;
      if (!released.blocked && finishing) await this.endChoice(choice, released);
      if (released.blocked) {
        choice.ended = true;
        choice.blocked = true;
        out.push(this.filteredEnd(index));
        continue;
      }
      if (finishing) choice.ended = true;
      const calls = released.calls.filter((call) => Object.keys(call).length > 1);
      const hasOther =
        Object.keys(otherDelta).length > 0 ||
        finishing ||
        Object.keys(original).some((k) => !['index', 'delta', 'finish_reason', 'logprobs'].includes(k));
      if (released.text.length === 0 && calls.length === 0 && !hasOther) continue;
      kept.push({
        ...original,
        delta: {
          ...otherDelta,
          ...(released.text.length > 0 ? { content: released.text } : {}),
          ...(calls.length > 0 ? { tool_calls: calls } : {}),
        },
      });
    }
    // A chunk whose choices all wait is not sent, unless it carries something else (the usage chunk has no choices).
    if (kept.length > 0 || (choices as unknown[]).length === 0) out.unshift(sseData({ ...rest, choices: kept }));
    return out;
  }

  /**
   * A streamed tool call: its id, type and name go on as they come (the caller's own tool definitions name it),
   * its arguments through the call's own hold-back. An empty result (only `index`) is left out by the caller.
   */
  private async screenCall(
    choice: ChoiceState,
    choiceIndex: number,
    call: Record<string, unknown>,
    released: Released,
  ): Promise<Record<string, unknown>> {
    const callIndex = typeof call.index === 'number' ? call.index : 0;
    const { function: fn, ...fields } = call;
    if (!isRecord(fn) || typeof fn.arguments !== 'string') return call;
    const { arguments: args, ...fnFields } = fn;
    const pushed = await this.call(choice, choiceIndex, callIndex).push(args);
    released.blocked ||= pushed.blocked;
    const hasFields = Object.keys(fields).length > 1 || Object.keys(fnFields).length > 0;
    if (pushed.text.length === 0 && !hasFields) return { index: callIndex };
    return { ...fields, index: callIndex, function: { ...fnFields, arguments: pushed.text } };
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
