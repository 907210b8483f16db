import type { BlocklistHit, BlocklistMatcher } from './blocklist-matcher.js';
import type { ContentSafetyPort, HarmCategory, RemoteOutcome } from './content-safety-client.js';
import type { MaskSpan, PiiMasker } from './mask-text.js';
import { detectPii, type PiiFinding, type PiiType } from './pii-detector.js';
import type { SafetyProfile } from './safety-profile.js';

/** A profile's category names and Content Safety's. */
export const categoryNames = { hate: 'Hate', sexual: 'Sexual', violence: 'Violence', selfHarm: 'SelfHarm' } as const satisfies Record<
  keyof SafetyProfile['categories'],
  HarmCategory
>;
export type CategoryKey = keyof typeof categoryNames;

/** One piece of what is screened: a message's text, a tool output or retrieved document, or an answer. */
export interface ScreenSegment {
  text: string;
  /**
   * Whose words: `user` (Prompt Shields' user prompt), `document` (tool outputs, retrieved content: its documents),
   * `system` (the application's instructions and earlier answers) and `answer`; all are screened for what they say.
   */
  role: 'user' | 'system' | 'document' | 'answer';
}

export interface ScreenInput {
  direction: 'prompt' | 'answer';
  segments: readonly ScreenSegment[];
  /** False for a stream's window that more text will follow: a blocklist item at its very end may still grow. */
  final?: boolean;
}

export type SafetyLayer = 'blocklist' | 'pii' | 'analyze' | 'shield' | 'outage';

/** What screening decided and why; recorded with the request (never the text, nor what a placeholder stands for). */
export interface SafetyVerdict {
  /** What happens: allowed as is, allowed with personal data masked, or blocked. */
  action: 'allow' | 'mask' | 'block';
  /** What the layers found, whatever the mode: in audit mode `action` is always allow. */
  finding: 'clean' | 'mask' | 'block';
  /** The layer whose finding decided (the first, cheapest one that blocked; pii when only masking). */
  layer?: SafetyLayer;
  mode: SafetyProfile['mode'];
  categories: Partial<Record<CategoryKey, { severity: number; filtered: boolean }>>;
  blocklistHits: Array<{ blocklist: string; item: string }>;
  /** How many of each kind of personal data or secret was found. */
  pii: Partial<Record<PiiType, number>>;
  attacks?: { userPrompt: boolean; documents: boolean };
  /** Whether Content Safety answered; undefined when no remote layer was needed. */
  reachable?: boolean;
  remoteFailure?: { kind: 'unavailable' | 'refused'; reason: string };
  latencies: { localMs: number; remoteMs?: number };
  billableRecords: number;
}

/** The verdict, and what the caller passes on. */
export interface ScreenResult {
  verdict: SafetyVerdict;
  /** The segments as they go on: with action `mask`, personal data replaced; else as they came. */
  segments: string[];
  /** Per segment, the replacements made in it (none unless the action is `mask`). */
  spans: MaskSpan[][];
  /** Where in the last segment a blocklist item may still be under way (final: false); its length when none. */
  pendingFrom: number;
}

export interface ScreenDeps {
  /** Every blocklist the profile names, in one matcher. */
  blocklists: BlocklistMatcher;
  /** Content Safety; undefined when it is not configured (a profile that needs it then meets onOutage). */
  remote: ContentSafetyPort | undefined;
  /** Keeps placeholders stable across a conversation; its mapping stays with the caller. */
  masker: PiiMasker;
  now: () => number;
  signal?: AbortSignal;
}

/** Whether the profile needs Content Safety for this direction. */
export function needsRemote(profile: SafetyProfile, direction: ScreenInput['direction']): boolean {
  return Object.keys(profile.categories).length > 0 || (direction === 'prompt' && profile.promptShield);
}

/**
 * Screens the segments through the profile's layers, cheapest first: blocklists and personal data here, then
 * Content Safety's analyze and Prompt Shields (in parallel, on the masked text, so personal data never leaves).
 * In enforce mode a local block ends it there; in audit mode every layer runs and nothing is blocked or masked.
 * When Content Safety cannot answer, `onOutage: closed` blocks (layer `outage`) and `open` lets it through.
 */
export function screen(input: ScreenInput, profile: SafetyProfile, deps: ScreenDeps): Promise<ScreenResult> {
  return finishScreening(screenLocally(input, profile, deps), deps);
}

/** What the local layers found: enough to refuse or mask at once, before anything leaves the process. */
export interface LocalScreening {
  input: ScreenInput;
  profile: SafetyProfile;
  /** The verdict so far: local layers only, not yet decided by mode and outage. */
  verdict: SafetyVerdict;
  masked: Array<{ text: string; spans: MaskSpan[] }>;
  pendingFrom: number;
  /** Whether the remote layers have anything left to say (a local block in enforce mode ends it). */
  remoteNeeded: boolean;
}

/**
 * The local layers alone, synchronously: for parallel mode, where the prompt must be masked before the upstream
 * call starts while Content Safety screens the masked prompt alongside it (finishScreening).
 */
export function screenLocally(
  input: ScreenInput,
  profile: SafetyProfile,
  deps: Pick<ScreenDeps, 'blocklists' | 'masker' | 'now'>,
): LocalScreening {
  const startedAt = deps.now();
  const final = input.final ?? true;
  const blocklistHits: BlocklistHit[] = [];
  let pendingFrom = 0;
  const pii: SafetyVerdict['pii'] = {};
  const findings: PiiFinding[][] = [];
  let piiBlocks = false;
  for (const segment of input.segments) {
    const scan = deps.blocklists.scan(segment.text, { final });
    blocklistHits.push(...scan.hits);
    pendingFrom = scan.pendingFrom;
    // More text may follow a window: a finding with nothing but whitespace after it may still grow, so it waits.
    const settled = final ? segment.text.length + 1 : trailingWhitespaceStart(segment.text);
    const segmentFindings = profile.pii === 'off' ? [] : detectPii(segment.text).filter((f) => f.open || f.end < settled);
    findings.push(segmentFindings);
    for (const f of segmentFindings) {
      pii[f.type] = (pii[f.type] ?? 0) + 1;
      // A private key that has not ended cannot be masked whole.
      if (profile.pii === 'block' || f.open) piiBlocks = true;
    }
  }
  const piiFound = findings.some((f) => f.length > 0);
  const masked = input.segments.map((s, i) => deps.masker.mask(s.text, findings[i]!));
  const verdict: SafetyVerdict = {
    action: 'allow',
    finding: 'clean',
    mode: profile.mode,
    categories: {},
    blocklistHits: blocklistHits.map(({ blocklist, item }) => ({ blocklist, item })),
    pii,
    latencies: { localMs: deps.now() - startedAt },
    billableRecords: 0,
  };
  if (blocklistHits.length > 0) raise(verdict, 'block', 'blocklist');
  else if (piiFound) raise(verdict, piiBlocks ? 'block' : 'mask', 'pii');
  const remoteNeeded = needsRemote(profile, input.direction) && !(verdict.finding === 'block' && profile.mode === 'enforce');
  return { input, profile, verdict, masked, pendingFrom, remoteNeeded };
}

/** The remote layers after screenLocally, then the decision by mode and outage policy. */
export async function finishScreening(local: LocalScreening, deps: ScreenDeps): Promise<ScreenResult> {
  const { input, profile, masked, pendingFrom } = local;
  const verdict: SafetyVerdict = {
    ...local.verdict,
    latencies: { ...local.verdict.latencies },
    categories: { ...local.verdict.categories },
  };
  if (local.remoteNeeded) {
    await screenRemotely(
      input,
      masked.map((m) => m.text),
      profile,
      deps,
      verdict,
    );
  }
  decide(verdict, profile);
  const masking = verdict.action === 'mask';
  return {
    verdict,
    segments: masking ? masked.map((m) => m.text) : input.segments.map((s) => s.text),
    spans: masking ? masked.map((m) => m.spans) : masked.map(() => []),
    pendingFrom,
  };
}

function trailingWhitespaceStart(text: string): number {
  let at = text.length;
  while (at > 0 && /\s/.test(text[at - 1]!)) at -= 1;
  return at;
}

function raise(verdict: SafetyVerdict, finding: 'mask' | 'block', layer: SafetyLayer): void {
  const rank = { clean: 0, mask: 1, block: 2 } as const;
  if (rank[finding] <= rank[verdict.finding]) return;
  verdict.finding = finding;
  verdict.layer = layer;
}

async function screenRemotely(
  input: ScreenInput,
  masked: readonly string[],
  profile: SafetyProfile,
  deps: ScreenDeps,
  verdict: SafetyVerdict,
): Promise<void> {
  const startedAt = deps.now();
  const screened = Object.keys(profile.categories) as CategoryKey[];
  const shield = input.direction === 'prompt' && profile.promptShield;
  const remote = deps.remote;
  if (!remote) {
    verdict.reachable = false;
    verdict.remoteFailure = { kind: 'refused', reason: 'Content Safety is not configured' };
    verdict.latencies.remoteMs = 0;
    return;
  }
  const text = masked.join('\n\n');
  const userPrompt = masked.filter((_, i) => input.segments[i]!.role === 'user').join('\n\n');
  const documents = masked.filter((_, i) => input.segments[i]!.role === 'document');
  const [analysis, attacks] = await Promise.all([
    screened.length > 0 && text.length > 0
      ? remote.analyze({ text, categories: screened.map((c) => categoryNames[c]) }, deps.signal)
      : undefined,
    shield && (userPrompt.length > 0 || documents.length > 0) ? remote.shieldPrompt({ userPrompt, documents }, deps.signal) : undefined,
  ]);
  verdict.latencies.remoteMs = deps.now() - startedAt;
  const outcomes: Array<RemoteOutcome<unknown>> = [analysis, attacks].filter((o) => o !== undefined);
  verdict.billableRecords = outcomes.reduce((sum, o) => sum + o.billableRecords, 0);
  verdict.reachable = outcomes.every((o) => o.ok);
  const failed = outcomes.find((o) => !o.ok);
  if (failed && !failed.ok) verdict.remoteFailure = { kind: failed.failure, reason: failed.reason };

  if (analysis?.ok) {
    for (const category of screened) {
      const severity = analysis.value.severities[categoryNames[category]] ?? 0;
      const filtered = severity > profile.categories[category]!;
      verdict.categories[category] = { severity, filtered };
      if (filtered) raise(verdict, 'block', 'analyze');
    }
  }
  if (attacks?.ok) {
    verdict.attacks = { userPrompt: attacks.value.userPromptAttack, documents: attacks.value.documentAttacks.some(Boolean) };
    if (verdict.attacks.userPrompt || verdict.attacks.documents) raise(verdict, 'block', 'shield');
  }
}

function decide(verdict: SafetyVerdict, profile: SafetyProfile): void {
  // An outage decides only when nothing that did answer blocked already.
  if (verdict.reachable === false && verdict.finding !== 'block' && profile.onOutage === 'closed') {
    verdict.finding = 'block';
    verdict.layer = 'outage';
  }
  if (profile.mode === 'enforce') verdict.action = verdict.finding === 'clean' ? 'allow' : verdict.finding;
}

/**
 * The window screen of a streamed answer under a profile (stream-hold-back.ts): each window goes through
 * `screen` as an answer; `onVerdict` sees every verdict, to record the stream's worst and its billable records.
 */
export function answerWindowScreen(
  profile: SafetyProfile,
  deps: ScreenDeps,
  onVerdict: (verdict: SafetyVerdict) => void,
): (text: string, final: boolean) => Promise<{ blocked: boolean; spans: MaskSpan[]; holdFrom: number }> {
  return async (text, final) => {
    const result = await screen({ direction: 'answer', segments: [{ role: 'answer', text }], final }, profile, deps);
    onVerdict(result.verdict);
    return { blocked: result.verdict.action === 'block', spans: result.spans[0] ?? [], holdFrom: result.pendingFrom };
  };
}
