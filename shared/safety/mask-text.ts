import type { PiiFinding, PiiType } from './pii-detector.js';

/** A replacement made in a text, at the offsets of the text before it (end exclusive). */
export interface MaskSpan {
  start: number;
  end: number;
  replacement: string;
}

/**
 * Replaces findings with typed placeholders ([EMAIL_1], [CARD_2]…), the same value always by the same one,
 * across every text it masks (a conversation, a stream's windows). `mapping` holds what each placeholder
 * stands for: it is personal data, so it is never logged nor recorded.
 */
export class PiiMasker {
  readonly mapping = new Map<string, string>();
  private readonly byValue = new Map<string, string>();
  private readonly counts = new Map<PiiType, number>();

  placeholderFor(type: PiiType, value: string): string {
    const key = `${type}\u0000${value}`;
    const known = this.byValue.get(key);
    if (known !== undefined) return known;
    const count = (this.counts.get(type) ?? 0) + 1;
    this.counts.set(type, count);
    const placeholder = `[${type.toUpperCase()}_${count}]`;
    this.byValue.set(key, placeholder);
    this.mapping.set(placeholder, value);
    return placeholder;
  }

  /** `text` with every finding (sorted, not overlapping, as detectPii gives them) replaced. */
  mask(text: string, findings: readonly PiiFinding[]): { text: string; spans: MaskSpan[] } {
    const spans = findings.map((f) => ({
      start: f.start,
      end: f.end,
      replacement: this.placeholderFor(f.type, text.slice(f.start, f.end)),
    }));
    return { text: applySpans(text, spans), spans };
  }
}

/** `text` with the spans (sorted, not overlapping) replaced. */
export function applySpans(text: string, spans: readonly MaskSpan[]): string {
  let out = '';
  let at = 0;
  for (const span of spans) {
    out += text.slice(at, span.start) + span.replacement;
    at = span.end;
  }
  return out + text.slice(at);
}
