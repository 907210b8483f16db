/**
 * Azure AI Content Safety over REST (AZURE.md §4, api-version 2024-09-01): `text:analyze` and
 * `text:shieldPrompt`, through the one upstream sender. Texts longer than a call may carry are cut into chunks
 * screened in parallel (a bounded number at a time); the verdict is the worst of the chunks.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { z } from 'zod';
import { headerValue, readBody } from '../upstreams/read-body.js';
import { isUpstreamFailure, type SendUpstream, type UpstreamCredential, type UpstreamHeaders } from '../upstreams/upstream-port.js';
import { chunkText, textRecords } from './text-chunks.js';

export const CONTENT_SAFETY_API_VERSION = '2024-09-01';
/** AZURE.md §4.2: `text` is at most 10,000 characters. */
export const ANALYZE_MAX_CHARS = 10_000;
/**
 * AZURE.md §4.3: `userPrompt` is at most 10,000 characters. Azure's documentation also caps a call's documents
 * at 10,000 characters in all and five of them [unverified in AZURE.md], so documents go in calls of their own.
 */
export const SHIELD_MAX_CHARS = 10_000;
export const SHIELD_MAX_DOCUMENTS = 5;
export const CONTENT_SAFETY_SCOPE = 'https://cognitiveservices.azure.com/.default';

export const harmCategories = ['Hate', 'Sexual', 'Violence', 'SelfHarm'] as const;
export type HarmCategory = (typeof harmCategories)[number];

export interface AnalyzeRequest {
  text: string;
  categories: readonly HarmCategory[];
  /** Blocklists kept in Content Safety itself (AZURE.md §4.6). */
  blocklistNames?: readonly string[];
  haltOnBlocklistHit?: boolean;
}

export interface AnalyzeResult {
  /** The highest severity of each category asked for, over every chunk (FourSeverityLevels: 0, 2, 4 or 6). */
  severities: Partial<Record<HarmCategory, number>>;
  blocklistsMatch: Array<{ blocklistName: string; blocklistItemId: string; blocklistItemText: string }>;
}

export interface ShieldRequest {
  userPrompt: string;
  /** Tool outputs and retrieved content: where indirect attacks hide. */
  documents: readonly string[];
}

export interface ShieldResult {
  userPromptAttack: boolean;
  /** One per document of the request. */
  documentAttacks: boolean[];
}

/**
 * What a call to Content Safety came to. `unavailable`: it could not be reached, timed out, answered 5xx or kept
 * throttling (the team's onOutage decides); `refused`: it answered that the call itself is wrong (401/403: our
 * identity or key; 400/404: the request or the resource), which the self-test reports as a broken layer.
 */
export type RemoteOutcome<T> =
  | { ok: true; value: T; billableRecords: number; latencyMs: number; calls: number }
  | { ok: false; failure: 'unavailable' | 'refused'; reason: string; billableRecords: number; latencyMs: number; calls: number };

/** What screening needs from Content Safety; the client below is the real one, tests may hand in another. */
export interface ContentSafetyPort {
  analyze(request: AnalyzeRequest, signal?: AbortSignal): Promise<RemoteOutcome<AnalyzeResult>>;
  shieldPrompt(request: ShieldRequest, signal?: AbortSignal): Promise<RemoteOutcome<ShieldResult>>;
  /** Makes the service's blocklist `name` hold exactly `items`. */
  syncBlocklist(
    list: { name: string; items: readonly string[]; description?: string },
    signal?: AbortSignal,
  ): Promise<RemoteOutcome<{ added: number; removed: number }>>;
  deleteBlocklist(name: string, signal?: AbortSignal): Promise<RemoteOutcome<{ deleted: boolean }>>;
}

export interface ContentSafetyClientOptions {
  /** `https://<resource>.cognitiveservices.azure.com` (no path). */
  endpoint: string;
  send: SendUpstream;
  /** An `Ocp-Apim-Subscription-Key` or an Entra token for CONTENT_SAFETY_SCOPE, fresh on each call. */
  credential: () => Promise<UpstreamCredential>;
  now: () => number;
  /** Longest a whole analyze or shield may take, every chunk and the one retry included. */
  timeoutMs: number;
  /** Chunks in flight at once per call (default 4). */
  concurrency?: number;
  /** Longest Retry-After waited once on a 429 (default 1,000 ms); a longer one counts as unavailable. */
  maxRetryAfterMs?: number;
}

const analyzeAnswer = z.object({
  blocklistsMatch: z
    .array(z.object({ blocklistName: z.string(), blocklistItemId: z.string(), blocklistItemText: z.string() }))
    .optional()
    .default([]),
  categoriesAnalysis: z.array(z.object({ category: z.string(), severity: z.number().int().min(0).max(7).optional() })),
});
const shieldAnswer = z.object({
  userPromptAnalysis: z.object({ attackDetected: z.boolean() }).optional(),
  documentsAnalysis: z
    .array(z.object({ attackDetected: z.boolean() }))
    .optional()
    .default([]),
});
const errorAnswer = z.object({ error: z.object({ code: z.string().optional(), message: z.string().optional() }) });

class CallFailed extends Error {
  constructor(
    readonly failure: 'unavailable' | 'refused',
    reason: string,
    readonly status?: number,
  ) {
    super(reason);
  }
}

const blocklistItemsPage = z.object({ value: z.array(z.object({ blocklistItemId: z.string(), text: z.string() })) });

const DEFAULT_CONCURRENCY = 4;
/** AZURE.md §4.6: items are added and removed at most 100 per call. */
const BLOCKLIST_BATCH = 100;
const BLOCKLIST_PAGE = 1000;
const DEFAULT_MAX_RETRY_AFTER_MS = 1_000;
const MAX_ANSWER_BYTES = 256 * 1024;

export class ContentSafetyClient implements ContentSafetyPort {
  private readonly base: string;

  constructor(private readonly options: ContentSafetyClientOptions) {
    this.base = options.endpoint.replace(/\/+$/, '');
  }

  async analyze(request: AnalyzeRequest, signal?: AbortSignal): Promise<RemoteOutcome<AnalyzeResult>> {
    const chunks = chunkText(request.text, ANALYZE_MAX_CHARS);
    return this.run(signal, chunks, async (chunk, deadline) => {
      const body = {
        text: chunk,
        categories: request.categories,
        outputType: 'FourSeverityLevels',
        ...(request.blocklistNames?.length
          ? { blocklistNames: request.blocklistNames, haltOnBlocklistHit: !!request.haltOnBlocklistHit }
          : {}),
      };
      const answer = analyzeAnswer.safeParse(await this.call('text:analyze', body, deadline));
      if (!answer.success) throw new CallFailed('unavailable', 'text:analyze answered a body that is not its documented shape');
      return { value: answer.data, records: textRecords(chunk.length) };
    }).then((outcome) => {
      if (!outcome.ok) return outcome;
      const severities: Partial<Record<HarmCategory, number>> = {};
      const blocklistsMatch: AnalyzeResult['blocklistsMatch'] = [];
      for (const answer of outcome.value) {
        for (const { category, severity } of answer.categoriesAnalysis) {
          if (!(harmCategories as readonly string[]).includes(category)) continue;
          const name = category as HarmCategory;
          severities[name] = Math.max(severities[name] ?? 0, severity ?? 0);
        }
        blocklistsMatch.push(...answer.blocklistsMatch);
      }
      return { ...outcome, value: { severities, blocklistsMatch } };
    });
  }

  async shieldPrompt(request: ShieldRequest, signal?: AbortSignal): Promise<RemoteOutcome<ShieldResult>> {
    type Call = { userPrompt?: string; documents: Array<{ index: number; text: string }> };
    const calls: Call[] = chunkText(request.userPrompt, SHIELD_MAX_CHARS)
      .filter((chunk) => chunk.length > 0)
      .map((userPrompt) => ({ userPrompt, documents: [] }));
    // The prompt and the documents have limits of their own: the first documents ride with the (last) prompt chunk.
    let open: Call | undefined = calls.at(-1);
    let openChars = 0;
    request.documents.forEach((document, index) => {
      for (const text of chunkText(document, SHIELD_MAX_CHARS)) {
        if (!open || open.documents.length >= SHIELD_MAX_DOCUMENTS || openChars + text.length > SHIELD_MAX_CHARS) {
          open = { documents: [] };
          openChars = 0;
          calls.push(open);
        }
        open.documents.push({ index, text });
        openChars += text.length;
      }
    });
    const outcome = await this.run(signal, calls, async (call, deadline) => {
      const body = {
        ...(call.userPrompt === undefined ? {} : { userPrompt: call.userPrompt }),
        documents: call.documents.map((d) => d.text),
      };
      const answer = shieldAnswer.safeParse(await this.call('text:shieldPrompt', body, deadline));
      if (!answer.success || answer.data.documentsAnalysis.length !== call.documents.length)
        throw new CallFailed('unavailable', 'text:shieldPrompt answered a body that is not its documented shape');
      const chars = (call.userPrompt?.length ?? 0) + call.documents.reduce((sum, d) => sum + d.text.length, 0);
      return { value: { call, answer: answer.data }, records: textRecords(chars) };
    });
    if (!outcome.ok) return outcome;
    const result: ShieldResult = { userPromptAttack: false, documentAttacks: request.documents.map(() => false) };
    for (const { call, answer } of outcome.value) {
      if (answer.userPromptAnalysis?.attackDetected) result.userPromptAttack = true;
      answer.documentsAnalysis.forEach((analysis, i) => {
        if (analysis.attackDetected) result.documentAttacks[call.documents[i]!.index] = true;
      });
    }
    return { ...outcome, value: result };
  }

  /**
   * Makes Content Safety's blocklist `name` hold exactly `items` (AZURE.md §4.6): created or updated by merge
   * patch, its items listed, the missing added and the extra removed in batches of at most 100.
   */
  async syncBlocklist(
    list: { name: string; items: readonly string[]; description?: string },
    signal?: AbortSignal,
  ): Promise<RemoteOutcome<{ added: number; removed: number }>> {
    const path = `text/blocklists/${encodeURIComponent(list.name)}`;
    const outcome = await this.run(signal, [list], async (_, deadline) => {
      await this.call(path, { description: list.description ?? '' }, deadline, 'PATCH');
      const existing: Array<{ blocklistItemId: string; text: string }> = [];
      for (let skip = 0; ; skip += BLOCKLIST_PAGE) {
        const page = blocklistItemsPage.safeParse(
          await this.call(`${path}/blocklistItems?top=${BLOCKLIST_PAGE}&skip=${skip}`, undefined, deadline, 'GET'),
        );
        if (!page.success) throw new CallFailed('unavailable', 'blocklistItems answered a body that is not its documented shape');
        existing.push(...page.data.value);
        if (page.data.value.length < BLOCKLIST_PAGE) break;
      }
      const wanted = new Set(list.items);
      const present = new Set(existing.map((item) => item.text));
      const toAdd = list.items.filter((text) => !present.has(text));
      const toRemove = existing.filter((item) => !wanted.has(item.text)).map((item) => item.blocklistItemId);
      for (let i = 0; i < toAdd.length; i += BLOCKLIST_BATCH)
        await this.call(
          `${path}:addOrUpdateBlocklistItems`,
          { blocklistItems: toAdd.slice(i, i + BLOCKLIST_BATCH).map((text) => ({ text })) },
          deadline,
        );
      for (let i = 0; i < toRemove.length; i += BLOCKLIST_BATCH)
        await this.call(`${path}:removeBlocklistItems`, { blocklistItemIds: toRemove.slice(i, i + BLOCKLIST_BATCH) }, deadline);
      return { value: { added: toAdd.length, removed: toRemove.length }, records: 0 };
    });
    return outcome.ok ? { ...outcome, value: outcome.value[0]! } : outcome;
  }

  /** Deletes Content Safety's blocklist `name`; one that is already gone counts as deleted. */
  async deleteBlocklist(name: string, signal?: AbortSignal): Promise<RemoteOutcome<{ deleted: boolean }>> {
    const outcome = await this.run(signal, [name], async (_, deadline) => {
      try {
        await this.call(`text/blocklists/${encodeURIComponent(name)}`, undefined, deadline, 'DELETE');
        return { value: { deleted: true }, records: 0 };
      } catch (error) {
        if (error instanceof CallFailed && error.status === 404) return { value: { deleted: false }, records: 0 };
        throw error;
      }
    });
    return outcome.ok ? { ...outcome, value: outcome.value[0]! } : outcome;
  }

  /** Runs one call per item, `concurrency` at a time, under one deadline; the first failure ends the rest. */
  private async run<I, T>(
    signal: AbortSignal | undefined,
    items: readonly I[],
    callOne: (item: I, deadline: { signal: AbortSignal; endsAtMs: number }) => Promise<{ value: T; records: number }>,
  ): Promise<RemoteOutcome<T[]>> {
    const startedAt = this.options.now();
    const controller = new AbortController();
    const timeout = AbortSignal.timeout(this.options.timeoutMs);
    const combined = AbortSignal.any(signal ? [signal, timeout, controller.signal] : [timeout, controller.signal]);
    const deadline = { signal: combined, endsAtMs: startedAt + this.options.timeoutMs };
    const values: T[] = new Array(items.length);
    let billableRecords = 0;
    let calls = 0;
    let next = 0;
    const worker = async () => {
      while (next < items.length) {
        const index = next++;
        calls += 1;
        const { value, records } = await callOne(items[index]!, deadline);
        values[index] = value;
        billableRecords += records;
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.min(this.options.concurrency ?? DEFAULT_CONCURRENCY, items.length) }, worker));
      return { ok: true, value: values, billableRecords, latencyMs: this.options.now() - startedAt, calls };
    } catch (error) {
      controller.abort();
      const failed =
        error instanceof CallFailed
          ? error
          : new CallFailed(
              'unavailable',
              timeout.aborted
                ? `no answer within ${this.options.timeoutMs} ms`
                : signal?.aborted
                  ? 'the call was cancelled'
                  : 'its answer could not be read',
            );
      return {
        ok: false,
        failure: failed.failure,
        reason: failed.message,
        billableRecords,
        latencyMs: this.options.now() - startedAt,
        calls,
      };
    }
  }

  /** One POST, with one bounded wait and retry on a 429; the parsed JSON answer, or a CallFailed. */
  private async call(
    operation: string,
    body: unknown,
    deadline: { signal: AbortSignal; endsAtMs: number },
    method: 'POST' | 'GET' | 'PATCH' | 'DELETE' = 'POST',
  ): Promise<unknown> {
    for (let attempt = 1; ; attempt++) {
      const credential = await this.options.credential().catch(() => {
        throw new CallFailed('refused', 'no credential for Content Safety (key setting or managed identity)');
      });
      const remainingMs = Math.max(1, deadline.endsAtMs - this.options.now());
      try {
        const answer = await this.options.send(
          {
            method,
            url: `${this.base}/contentsafety/${operation}${operation.includes('?') ? '&' : '?'}api-version=${CONTENT_SAFETY_API_VERSION}`,
            headers: {
              'content-type': method === 'PATCH' ? 'application/merge-patch+json' : 'application/json',
              accept: 'application/json',
              ...(credential.kind === 'key'
                ? { 'ocp-apim-subscription-key': credential.value }
                : { authorization: `Bearer ${credential.value}` }),
            },
            body: body === undefined ? '' : JSON.stringify(body),
            streams: false,
          },
          { signal: deadline.signal, deadlineMs: remainingMs, headersTimeoutMs: remainingMs, idleTimeoutMs: remainingMs },
        );
        const text = await readBody(answer.body, { maxBytes: MAX_ANSWER_BYTES });
        if (text.length === 0) return undefined;
        try {
          return JSON.parse(text) as unknown;
        } catch {
          throw new CallFailed('unavailable', `${operation} answered ${answer.status} with a body that is not JSON`);
        }
      } catch (error) {
        if (error instanceof CallFailed) throw error;
        if (!isUpstreamFailure(error)) throw error;
        if (error.kind === 'aborted') throw error;
        const status = error.status;
        if (status === 429) {
          const waitMs = retryAfterMs(error.headers);
          const fits =
            waitMs <= (this.options.maxRetryAfterMs ?? DEFAULT_MAX_RETRY_AFTER_MS) && this.options.now() + waitMs < deadline.endsAtMs;
          if (attempt === 1 && fits) {
            await delay(waitMs, undefined, { signal: deadline.signal });
            continue;
          }
          throw new CallFailed('unavailable', `${operation} is throttled (429, retry after ${waitMs} ms)`);
        }
        if (status === 400 || status === 401 || status === 403 || status === 404)
          throw new CallFailed('refused', `${operation} refused the call: ${status} ${errorCode(error.errorBody)}`.trim(), status);
        if (status !== undefined)
          throw new CallFailed('unavailable', `${operation} answered ${status} ${errorCode(error.errorBody)}`.trim());
        throw new CallFailed('unavailable', `${operation} could not be reached (${error.kind})`);
      }
    }
  }
}

function retryAfterMs(headers: UpstreamHeaders): number {
  const ms = Number(headerValue(headers['retry-after-ms']));
  if (Number.isFinite(ms) && ms >= 0) return ms;
  const seconds = Number(headerValue(headers['retry-after']));
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : 1000;
}

// The service's error code only (never its message, which may quote the text screened).
function errorCode(body: string): string {
  try {
    const parsed = errorAnswer.safeParse(JSON.parse(body));
    return parsed.success ? (parsed.data.error.code ?? '') : '';
  } catch {
    return '';
  }
}
