/** Server-sent events: split a byte stream into whole events without decoding or altering their bytes. */
export interface SseEvent {
  /** The event's bytes exactly as received, terminator included, so a tap can pass them on untouched. */
  raw: Uint8Array;
  event?: string;
  data: string;
}

const LF = 0x0a;
const CR = 0x0d;
const decoder = new TextDecoder();

/** Longest event the splitter holds while waiting for its end; an upstream past it is broken. */
export const MAX_SSE_EVENT_BYTES = 16 * 1024 * 1024;

/** Work a splitter has done, so tests can check it stays linear in the bytes received. */
export interface SseSplitterWork {
  /** Bytes examined for an event end; each byte received is examined once. */
  bytesScanned: number;
  /** Bytes copied into held or joined buffers. */
  bytesCopied: number;
}

/**
 * Incremental SSE splitter: push chunks cut at any byte offset, get back each complete event once.
 * Comment-only blocks (keep-alives such as `: ping`) come back too, with empty data, so a relay passes them on.
 * A partial event is held as a list of chunks and joined once, when it ends: joining on every push would
 * make an event that never ends cost quadratic time (seconds of CPU at MAX_SSE_EVENT_BYTES).
 */
export class SseSplitter {
  private held: Uint8Array[] = [];
  private heldBytes = 0;
  /** Line breaks in a row just before the next byte; an event ends at the second (a blank line). */
  private breaks = 0;
  /** The last byte was a CR: a LF next belongs to the same line break. */
  private afterCr = false;
  readonly work: SseSplitterWork = { bytesScanned: 0, bytesCopied: 0 };

  push(chunk: Uint8Array): SseEvent[] {
    const events: SseEvent[] = [];
    let start = 0;
    this.work.bytesScanned += chunk.byteLength;
    for (let i = 0; i < chunk.byteLength; i++) {
      const byte = chunk[i];
      if (this.afterCr) {
        this.afterCr = false;
        if (byte === LF) {
          // The LF completes a CRLF already counted as a break.
          if (this.breaks === 2) {
            events.push(this.take(chunk, start, i + 1));
            start = i + 1;
            this.breaks = 0;
          }
          continue;
        }
        if (this.breaks === 2) {
          // The blank line was a lone CR: the event ended just before this byte.
          events.push(this.take(chunk, start, i));
          start = i;
          this.breaks = 0;
        }
      }
      if (byte === LF) {
        this.breaks += 1;
        if (this.breaks === 2) {
          events.push(this.take(chunk, start, i + 1));
          start = i + 1;
          this.breaks = 0;
        }
      } else if (byte === CR) {
        // Whether a CR ends its line alone or with a LF shows only at the next byte.
        this.breaks += 1;
        this.afterCr = true;
      } else {
        this.breaks = 0;
      }
    }
    const rest = chunk.byteLength - start;
    if (rest > 0) {
      if (this.heldBytes + rest > MAX_SSE_EVENT_BYTES) {
        throw new Error(`an SSE event grew past ${MAX_SSE_EVENT_BYTES} bytes without ending`);
      }
      // A copy: the caller may reuse its chunk once push returns.
      this.held.push(chunk.slice(start));
      this.heldBytes += rest;
      this.work.bytesCopied += rest;
    }
    return events;
  }

  /** Bytes received after the last complete event (a stream that ended mid-event). */
  get leftover(): Uint8Array {
    return this.held.length === 1 ? this.held[0]! : join(this.held, this.heldBytes);
  }

  private take(chunk: Uint8Array, from: number, to: number): SseEvent {
    if (this.held.length === 0) return parseEvent(chunk.subarray(from, to));
    const tail = chunk.subarray(from, to);
    const raw = join([...this.held, tail], this.heldBytes + tail.byteLength);
    this.work.bytesCopied += raw.byteLength;
    this.held = [];
    this.heldBytes = 0;
    return parseEvent(raw);
  }
}

function parseEvent(raw: Uint8Array): SseEvent {
  const text = decoder.decode(raw);
  let event: string | undefined;
  const data: string[] = [];
  for (const line of text.split(/\r\n|\r|\n/)) {
    if (line === '' || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') data.push(value);
    else if (field === 'event') event = value;
  }
  return { raw, event, data: data.join('\n') };
}

function join(parts: readonly Uint8Array[], byteLength: number): Uint8Array {
  const out = new Uint8Array(byteLength);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

const encoder = new TextEncoder();

/** One `data:` event carrying a JSON value; JSON.stringify never emits a raw line break, so framing is safe. */
export function sseData(value: unknown): Uint8Array {
  return encoder.encode(`data: ${JSON.stringify(value)}\n\n`);
}

export const SSE_DONE = encoder.encode('data: [DONE]\n\n');
