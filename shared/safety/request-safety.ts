import { BlocklistMatcher } from './blocklist-matcher.js';
import type { ContentSafetyPort } from './content-safety-client.js';
import { PiiMasker } from './mask-text.js';
import type { PromptTexts } from './prompt-texts.js';
import type { BlocklistDocument, SafetyProfile } from './safety-profile.js';
import {
  answerWindowScreen,
  finishScreening,
  screen,
  screenLocally,
  type LocalScreening,
  type SafetyVerdict,
  type ScreenResult,
} from './screen.js';
import { StreamHoldBack } from './stream-hold-back.js';

/**
 * One matcher per set of blocklists per catalog snapshot: built on the first request that needs it, dropped
 * with the snapshot (a blocklist change makes a new snapshot, so a stale matcher is never used).
 */
export class BlocklistMatchers {
  private readonly bySnapshot = new WeakMap<ReadonlyMap<string, BlocklistDocument>, Map<string, BlocklistMatcher>>();

  for(names: readonly string[], lists: ReadonlyMap<string, BlocklistDocument>): BlocklistMatcher {
    let matchers = this.bySnapshot.get(lists);
    if (!matchers) {
      matchers = new Map();
      this.bySnapshot.set(lists, matchers);
    }
    const key = [...names].sort().join('\u0000');
    let matcher = matchers.get(key);
    if (!matcher) {
      // A name whose document is gone (deleted around the management API) screens nothing rather than failing.
      matcher = new BlocklistMatcher(names.flatMap((name) => (lists.has(name) ? [{ name, items: lists.get(name)!.items }] : [])));
      matchers.set(key, matcher);
    }
    return matcher;
  }
}

export interface RequestSafetyOptions {
  profile: SafetyProfile;
  /** The snapshot's blocklists. */
  blocklists: ReadonlyMap<string, BlocklistDocument>;
  matchers: BlocklistMatchers;
  remote: ContentSafetyPort | undefined;
  now: () => number;
  signal?: AbortSignal;
}

/**
 * Everything one request screens through its team's profile, sharing one placeholder mapping between its
 * prompt and its answer. Built per request by the use case; holds no I/O of its own beyond the port.
 */
export class RequestSafety {
  readonly profile: SafetyProfile;
  /** What each placeholder stands for: personal data, never logged nor recorded. */
  readonly masker = new PiiMasker();
  private readonly matcher: BlocklistMatcher;

  constructor(private readonly options: RequestSafetyOptions) {
    this.profile = options.profile;
    this.matcher = options.matchers.for(options.profile.blocklists, options.blocklists);
  }

  private deps() {
    const { remote, now, signal } = this.options;
    return { blocklists: this.matcher, remote, masker: this.masker, now, signal };
  }

  /** Screens a request's texts (prompt-texts.ts); with action `mask`, put `segments` back with withTexts. */
  screenPrompt(texts: PromptTexts): Promise<ScreenResult> {
    return screen({ direction: 'prompt', segments: texts.segments }, this.profile, this.deps());
  }

  /** Parallel mode, first phase: the local layers now (refuse or mask before the upstream call starts). */
  screenPromptLocally(texts: PromptTexts): LocalScreening {
    return screenLocally({ direction: 'prompt', segments: texts.segments }, this.profile, this.deps());
  }

  /** Parallel mode, second phase: Content Safety on the masked prompt while the upstream call runs. */
  finishPrompt(local: LocalScreening): Promise<ScreenResult> {
    return finishScreening(local, this.deps());
  }

  /** Screens a whole (non-streamed) answer's texts together: a choice's content and its tool-call arguments. */
  screenAnswer(texts: readonly string[]): Promise<ScreenResult> {
    return screen({ direction: 'answer', segments: texts.map((text) => ({ role: 'answer', text })) }, this.profile, this.deps());
  }

  /** The hold-back for one streamed choice; `onVerdict` sees each window's verdict (to record and bill them). */
  answerHoldBack(onVerdict: (verdict: SafetyVerdict) => void): StreamHoldBack {
    return new StreamHoldBack(answerWindowScreen(this.profile, this.deps(), onVerdict), { windowChars: this.profile.windowChars });
  }
}
