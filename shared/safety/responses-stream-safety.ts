import { SseSplitter } from '../http/sse.js';
import type { StreamHoldBack } from './stream-hold-back.js';

type Event = Record<string, unknown> & { type: string };
type Item = Record<string, unknown> & { content?: unknown };

const isRecord = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);
const encoder = new TextEncoder();
const FINAL_EVENTS = new Set(['response.completed', 'response.incomplete', 'response.failed']);

/**
 * A Responses API stream spoken natively by the upstream (OpenAI's event types), screened on its way to the caller.
 * Each text part's `response.output_text.delta` goes through its own StreamHoldBack; the events that repeat the
 * whole text (`output_text.done`, `content_part.done`, `output_item.done`, the final Response) carry what was
 * released instead. A flagged part ends the stream with `response.incomplete` (`incomplete_details.reason:
 * "content_filter"`) holding what was released so far. A function call's streamed arguments are the model's words
 * too: `response.function_call_arguments.delta` is held back the same way, and its `.done`, the item and the final
 * Response carry the arguments released. Events are numbered anew, since held deltas are dropped.
 * (A translated Responses stream is screened as chat chunks by ChatStreamSafety before translation instead.)
 */
export class ResponsesStreamSafety {
  private readonly splitter = new SseSplitter();
  private readonly parts = new Map<string, { holdBack: StreamHoldBack; released: string }>();
  private readonly items = new Map<number, Item>();
  private response: Record<string, unknown> = {};
  private sequence = 0;
  private ended = false;
  private finalResponse: Record<string, unknown> | undefined;

  constructor(private readonly holdBackFor: (part: { itemId: string; contentIndex: number | 'arguments' }) => StreamHoldBack) {}

  /** The Response as the caller got it in the stream's last event (completed, incomplete or failed), to store that one. */
  get final(): Record<string, unknown> | undefined {
    return this.finalResponse;
  }

  /** Whether a part was flagged and the stream ended with `response.incomplete`: read no further. */
  get blocked(): boolean {
    return this.ended;
  }

  async push(events: readonly Uint8Array[]): Promise<Uint8Array[]> {
    const out: Uint8Array[] = [];
    for (const bytes of events) {
      for (const raw of this.splitter.push(bytes)) {
        if (this.ended) return out;
        let event: unknown;
        try {
          event = JSON.parse(raw.data);
        } catch {
          out.push(raw.raw);
          continue;
        }
        if (!isRecord(event) || typeof event.type !== 'string') {
          out.push(raw.raw);
          continue;
        }
        out.push(...(await this.screen(event as Event)));
      }
    }
    return out;
  }

  /** A message's text part (its content index) or a function call's arguments, each held back on its own. */
  private part(itemId: string, contentIndex: number | 'arguments') {
    const key = `${itemId}\u0000${contentIndex}`;
    let part = this.parts.get(key);
    if (!part) {
      part = { holdBack: this.holdBackFor({ itemId, contentIndex }), released: '' };
      this.parts.set(key, part);
    }
    return part;
  }

  private async screen(event: Event): Promise<Uint8Array[]> {
    if (isRecord(event.response)) this.response = event.response;
    if (event.type === 'response.output_item.added' && typeof event.output_index === 'number' && isRecord(event.item))
      this.items.set(event.output_index, event.item as Item);
    const itemId = typeof event.item_id === 'string' ? event.item_id : '';
    const contentIndex = typeof event.content_index === 'number' ? event.content_index : 0;

    if (event.type === 'response.output_text.delta' && typeof event.delta === 'string') {
      const part = this.part(itemId, contentIndex);
      const step = await part.holdBack.push(event.delta);
      if (step.blocked) return [this.incomplete()];
      part.released += step.text;
      return step.text.length > 0 ? [this.emit({ ...event, delta: step.text })] : [];
    }
    if (event.type === 'response.output_text.done') {
      const part = this.part(itemId, contentIndex);
      const last = await part.holdBack.end();
      if (last.blocked) return [this.incomplete()];
      part.released += last.text;
      const out =
        last.text.length > 0 ? [this.emit({ ...event, type: 'response.output_text.delta', delta: last.text, text: undefined })] : [];
      out.push(this.emit({ ...event, text: part.released }));
      return out;
    }
    if (event.type === 'response.function_call_arguments.delta' && typeof event.delta === 'string') {
      const part = this.part(itemId, 'arguments');
      const step = await part.holdBack.push(event.delta);
      if (step.blocked) return [this.incomplete()];
      part.released += step.text;
      return step.text.length > 0 ? [this.emit({ ...event, delta: step.text })] : [];
    }
    if (event.type === 'response.function_call_arguments.done') {
      const part = this.part(itemId, 'arguments');
      const last = await part.holdBack.end();
      if (last.blocked) return [this.incomplete()];
      part.released += last.text;
      const out =
        last.text.length > 0
          ? [this.emit({ ...event, type: 'response.function_call_arguments.delta', delta: last.text, arguments: undefined })]
          : [];
      out.push(this.emit({ ...event, arguments: part.released }));
      return out;
    }
    if (event.type === 'response.content_part.done' && isRecord(event.part) && typeof event.part.text === 'string')
      return [this.emit({ ...event, part: { ...event.part, text: this.released(itemId, contentIndex) } })];
    if (event.type === 'response.output_item.done' && isRecord(event.item)) {
      const item = this.withReleased(event.item as Item);
      if (typeof event.output_index === 'number') this.items.set(event.output_index, item);
      return [this.emit({ ...event, item })];
    }
    if (isRecord(event.response) && Array.isArray(event.response.output))
      return [
        this.emit({
          ...event,
          response: { ...event.response, output: event.response.output.map((i) => (isRecord(i) ? this.withReleased(i as Item) : i)) },
        }),
      ];
    return [this.emit(event)];
  }

  private released(itemId: string, contentIndex: number | 'arguments'): string {
    return this.parts.get(`${itemId}\u0000${contentIndex}`)?.released ?? '';
  }

  private withReleased(item: Item): Item {
    if (typeof item.id === 'string' && item.type === 'function_call' && typeof item.arguments === 'string')
      return { ...item, arguments: this.released(item.id, 'arguments') };
    if (typeof item.id !== 'string' || !Array.isArray(item.content)) return item;
    const id = item.id;
    return {
      ...item,
      content: item.content.map((part, i) =>
        isRecord(part) && typeof part.text === 'string' ? { ...part, text: this.released(id, i) } : part,
      ),
    };
  }

  private incomplete(): Uint8Array {
    this.ended = true;
    const output = [...this.items.entries()].sort(([a], [b]) => a - b).map(([, item]) => this.withReleased(item));
    return this.emit({
      type: 'response.incomplete',
      response: { ...this.response, status: 'incomplete', incomplete_details: { reason: 'content_filter' }, output },
    });
  }

  private emit(event: Record<string, unknown>): Uint8Array {
    const numbered = { ...event, sequence_number: this.sequence++ };
    if (FINAL_EVENTS.has(String(event.type)) && isRecord(event.response)) this.finalResponse = event.response;
    return encoder.encode(`event: ${String(event.type)}\ndata: ${JSON.stringify(numbered)}\n\n`);
  }
}
