import { applySpans, type MaskSpan } from './mask-text.js';

/** What screening a window of held text said. */
export interface WindowVerdict {
  /** Withhold this window and everything after it. */
  blocked: boolean;
  /** Replacements to make in the window (offsets into it; sorted, not overlapping). */
  spans: readonly MaskSpan[];
  /** Text from here on may be the start of a match that is not complete yet: it stays held. */
  holdFrom: number;
}

/** Screens the text held; `final` when the stream has ended and nothing more will follow. */
export type WindowScreen = (text: string, final: boolean) => Promise<WindowVerdict>;

/** Text that may go to the caller now; after `blocked`, nothing more ever does. */
export interface StreamRelease {
  text: string;
  blocked: boolean;
}

export interface StreamHoldBackOptions {
  /** New characters between two screenings, and the tail always held back after one (PRODUCT.md `windowChars`). */
  windowChars: number;
  /** A word (a run without whitespace) is held whole up to this many characters, then released all the same. */
  maxHeldChars?: number;
}

const WHITESPACE = /\s/;

/**
 * Holds back a streamed answer just enough to screen it: text is released only once a screening has seen it
 * together with `windowChars` characters after it, never in the middle of a word or of a replacement, never while
 * a blocklist item may be completing over it. A flagged window ends the release: nothing of it or after it goes
 * out. So a term split over any chunk or window boundaries is screened whole before any of it leaves.
 */
export class StreamHoldBack {
  private held = '';
  private unscreened = 0;
  private isBlocked = false;
  private readonly maxHeldChars: number;

  constructor(
    private readonly screenWindow: WindowScreen,
    private readonly options: StreamHoldBackOptions,
  ) {
    this.maxHeldChars = options.maxHeldChars ?? options.windowChars * 16;
  }

  /** Whether a window was flagged: nothing more is released. */
  get blocked(): boolean {
    return this.isBlocked;
  }

  /** The number of characters held right now (what the caller has not received yet). */
  get heldChars(): number {
    return this.held.length;
  }

  async push(delta: string): Promise<StreamRelease> {
    if (this.isBlocked) return { text: '', blocked: true };
    this.held += delta;
    this.unscreened += delta.length;
    if (this.unscreened < this.options.windowChars) return { text: '', blocked: false };
    return this.screenHeld(false);
  }

  /** The stream ended: screens what is held and releases it all, unless it is flagged. */
  async end(): Promise<StreamRelease> {
    if (this.isBlocked) return { text: '', blocked: true };
    if (this.held.length === 0) return { text: '', blocked: false };
    return this.screenHeld(true);
  }

  private async screenHeld(final: boolean): Promise<StreamRelease> {
    const text = this.held;
    const verdict = await this.screenWindow(text, final);
    if (verdict.blocked) {
      this.isBlocked = true;
      this.held = '';
      return { text: '', blocked: true };
    }
    const cut = final ? text.length : this.releasePoint(text, verdict);
    const spans = verdict.spans.filter((span) => span.end <= cut);
    this.held = text.slice(cut);
    this.unscreened = 0;
    return { text: applySpans(text.slice(0, cut), spans), blocked: false };
  }

  private releasePoint(text: string, verdict: WindowVerdict): number {
    let cut = Math.min(text.length - this.options.windowChars, verdict.holdFrom);
    while (cut > 0 && !WHITESPACE.test(text[cut - 1]!) && !WHITESPACE.test(text[cut]!)) cut -= 1;
    if (cut <= 0 && text.length > this.maxHeldChars) cut = Math.min(text.length - this.options.windowChars, verdict.holdFrom);
    for (const span of verdict.spans) if (span.start < cut && cut < span.end) cut = span.start;
    // Never between the two halves of a surrogate pair.
    const code = text.charCodeAt(cut - 1);
    if (cut > 0 && code >= 0xd800 && code <= 0xdbff) cut -= 1;
    return Math.max(0, cut);
  }
}
