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

/**
 * Incremental SSE splitter: push chunks cut at any byte offset, get back each complete event once.
 * Comment-only blocks (keep-alives such as `: ping`) come back too, with empty data, so a relay passes them on.
 */
export class SseSplitter {
  private pending: Uint8Array = new Uint8Array(0);
  /** Where the scan of `pending` stopped: bytes before it hold no event end. */
  private scanned = 0;

  push(chunk: Uint8Array): SseEvent[] {
    const buffer = this.pending.byteLength === 0 ? chunk : concat(this.pending, chunk);
    const events: SseEvent[] = [];
    let start = 0;
    let i = this.scanned;
    // An event ends at a blank line: two line breaks in a row, each of LF, CR or CRLF.
    while (i < buffer.byteLength) {
      const firstBreak = lineBreakLength(buffer, i);
      if (firstBreak === 0) {
        i += 1;
        continue;
      }
      if (firstBreak === -1) break; // a lone CR at the end: wait for the next byte
      const next = i + firstBreak;
      const secondBreak = lineBreakLength(buffer, next);
      if (secondBreak === -1) break;
      if (secondBreak > 0) {
        const end = next + secondBreak;
        events.push(parseEvent(buffer.subarray(start, end)));
        start = end;
        i = end;
      } else {
        i = next;
      }
    }
    this.pending = start === buffer.byteLength ? new Uint8Array(0) : buffer.slice(start);
    this.scanned = i - start;
    if (this.pending.byteLength > MAX_SSE_EVENT_BYTES) {
      throw new Error(`an SSE event grew past ${MAX_SSE_EVENT_BYTES} bytes without ending`);
    }
    return events;
  }

  /** Bytes received after the last complete event (a stream that ended mid-event). */
  get leftover(): Uint8Array {
    return this.pending;
  }
}

// 0: no line break at i; -1: undecidable until more bytes arrive; else the break's length.
function lineBreakLength(buffer: Uint8Array, i: number): number {
  if (i >= buffer.byteLength) return -1;
  const byte = buffer[i];
  if (byte === LF) return 1;
  if (byte !== CR) return 0;
  if (i + 1 >= buffer.byteLength) return -1;
  return buffer[i + 1] === LF ? 2 : 1;
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

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a, 0);
  out.set(b, a.byteLength);
  return out;
}

const encoder = new TextEncoder();

/** One `data:` event carrying a JSON value; JSON.stringify never emits a raw line break, so framing is safe. */
export function sseData(value: unknown): Uint8Array {
  return encoder.encode(`data: ${JSON.stringify(value)}\n\n`);
}

export const SSE_DONE = encoder.encode('data: [DONE]\n\n');
