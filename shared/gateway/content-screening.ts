import type { Team } from '../catalog/schemas.js';
import { SSE_DONE } from '../http/sse.js';
import {
  chatAnswerParts,
  filteredChatAnswer,
  filteredResponse,
  promptFilterResults,
  responseAnswerTexts,
} from '../safety/answer-filter.js';
import { ChatStreamSafety } from '../safety/chat-stream-safety.js';
import { contentFilterResult, promptRefusal } from '../safety/content-filter-result.js';
import { type PromptTexts, withTexts } from '../safety/prompt-texts.js';
import type { RequestSafety } from '../safety/request-safety.js';
import { ResponsesStreamSafety } from '../safety/responses-stream-safety.js';
import type { ScreenResult } from '../safety/screen.js';
import type { CallScope } from './call-scope.js';
import type { GatewayDeps } from './gateway-deps.js';
import { recordUsage, type UsageFacts } from './record-usage.js';
import type { StreamGuard } from './relay-stream.js';
import { requestSafetyFor } from './request-safety-for.js';

/**
 * One request's content screening as a use case runs it: the prompt before any upstream sees it, the answer
 * before the caller does. Every verdict lands on the request's usage facts, so its record carries them.
 */
export class ContentScreening {
  readonly #safety: RequestSafety;
  readonly #facts: UsageFacts;
  readonly #verdicts: NonNullable<UsageFacts['safety']>;
  #parallel: Promise<ScreenResult> | undefined;
  /** The request's upstream work, stopped when parallel screening blocks the prompt. */
  #scope: CallScope | undefined;

  constructor(safety: RequestSafety, facts: UsageFacts) {
    this.#safety = safety;
    this.#facts = facts;
    this.#verdicts = { answers: [], billAborted: safety.profile.billAborted };
    facts.safety = this.#verdicts;
  }

  /** The screening of a request of `team`, or undefined when its team has no safety profile (nothing is screened). */
  static for(team: Team, deps: GatewayDeps, facts: UsageFacts, signal?: AbortSignal): ContentScreening | undefined {
    const safety = requestSafetyFor(team, deps, signal);
    return safety ? new ContentScreening(safety, facts) : undefined;
  }

  /**
   * `onMetered` (a shadow copy) unless the prompt was blocked: in parallel mode a blocked prompt's stopped call is
   * metered too, and its copy must reach no deployment either.
   */
  unlessBlocked(onMetered: UsageFacts['onMetered']): UsageFacts['onMetered'] {
    if (!onMetered) return undefined;
    return (outcome, facts) => {
      if (this.#verdicts.prompt?.action !== 'block') onMetered(outcome, facts);
    };
  }

  /** Whether the prompt is screened while the upstream call already runs (team safety.parallel). */
  get parallel(): boolean {
    return this.#safety.profile.parallel;
  }

  /**
   * The body to send upstream: the prompt screened (all layers; in parallel mode the local ones, Content Safety's
   * verdict then awaited by `promptCleared`), personal data masked where the profile masks. A blocked prompt is
   * recorded and refused here, so it never reaches any upstream.
   */
  async screenPrompt<T extends object>(body: T, texts: PromptTexts, deps: GatewayDeps): Promise<T> {
    if (this.parallel) {
      const local = this.#safety.screenPromptLocally(texts);
      if (local.remoteNeeded) {
        const pending = this.#safety.finishPrompt(local);
        // Settled by promptCleared; a caller that never gets there must not leave an unhandled rejection.
        pending.catch(() => undefined);
        this.#parallel = pending;
        const masking = local.profile.mode === 'enforce' && local.verdict.finding === 'mask';
        return masking
          ? withTexts(
              body,
              texts.paths,
              local.masked.map((m) => m.text),
            )
          : body;
      }
      return this.#settlePrompt(await this.#safety.finishPrompt(local), body, texts, deps);
    }
    return this.#settlePrompt(await this.#safety.screenPrompt(texts), body, texts, deps);
  }

  /**
   * Parallel mode: Content Safety's verdict on the prompt, awaited before the caller gets a byte of the answer.
   * A blocked prompt stops the upstream call (the scope `watchPrompt` was given) and throws its refusal; the caller
   * records the usage.
   */
  async promptCleared(): Promise<void> {
    const pending = this.#parallel;
    if (!pending) return;
    this.#parallel = undefined;
    const result = await pending;
    this.#verdicts.prompt = result.verdict;
    if (result.verdict.action === 'block') {
      this.#scope?.cancel();
      throw promptRefusal(result.verdict);
    }
  }

  /** Starts watching the parallel verdict: the request's upstream work stops as soon as it blocks, even mid-answer. */
  watchPrompt(scope: CallScope): void {
    this.#scope = scope;
    void this.#parallel?.then((result) => {
      // Set before the cancel, so the record of the stopped call carries why it stopped.
      this.#verdicts.prompt = result.verdict;
      if (result.verdict.action === 'block') scope.cancel();
    });
  }

  async #settlePrompt<T extends object>(result: ScreenResult, body: T, texts: PromptTexts, deps: GatewayDeps): Promise<T> {
    this.#verdicts.prompt = result.verdict;
    if (result.verdict.action === 'block') {
      const refusal = promptRefusal(result.verdict);
      await recordUsage(deps, this.#facts, {
        status: 'client_error',
        httpStatus: refusal.status,
        inputTokens: 0,
        outputTokens: 0,
        cachedInputTokens: 0,
        reasoningTokens: 0,
        estimated: false,
        ttfbMs: 0,
        attempts: 0,
      });
      throw refusal;
    }
    return result.verdict.action === 'mask' ? withTexts(body, texts.paths, result.segments) : body;
  }

  /** A whole chat completion (JSON text) as the caller may see it: each choice's text screened, Azure's filter results added. */
  async chatAnswer(json: string): Promise<string> {
    const answer = JSON.parse(json) as Record<string, unknown>;
    const screened = new Map(
      await Promise.all(
        chatAnswerParts(answer).map(async ({ index, parts }) => {
          const result = await this.#safety.screenAnswer(parts.map((part) => part.text));
          this.#verdicts.answers.push(result.verdict);
          return [
            index,
            { verdict: result.verdict, parts: parts.map((part, i) => ({ ...part, text: result.segments[i] ?? '' })) },
          ] as const;
        }),
      ),
    );
    const filtered = filteredChatAnswer(answer, screened);
    const prompt = this.#verdicts.prompt;
    return JSON.stringify(prompt ? { ...filtered, prompt_filter_results: promptFilterResults(prompt) } : filtered);
  }

  /** A whole Response as the caller may see it: each output text screened; any blocked part makes it incomplete. */
  async response<T extends Record<string, unknown>>(response: T): Promise<T> {
    const screened = await Promise.all(
      responseAnswerTexts(response).map(async ({ item, part, text }) => {
        const result = await this.#safety.screenAnswer([text]);
        this.#verdicts.answers.push(result.verdict);
        return { item, part, verdict: result.verdict, text: result.segments[0] ?? '' };
      }),
    );
    return filteredResponse(response, screened) as T;
  }

  /** A streamed chat answer's guard: each choice held back and screened in windows; a flagged choice ends with content_filter. */
  chatStream(): StreamGuard {
    const stream = new ChatStreamSafety(
      () => this.#safety.answerHoldBack((verdict) => this.#verdicts.answers.push(verdict)),
      () => {
        const worst = this.#verdicts.answers.find((v) => v.action === 'block');
        return worst ? contentFilterResult(worst) : undefined;
      },
    );
    let sentDone = false;
    const noteDone = (out: Uint8Array[]) => {
      sentDone ||= out.includes(SSE_DONE);
      return out;
    };
    return {
      push: async (events) => noteDone(await stream.push(events)),
      end: async () => {
        const out = noteDone(await stream.end());
        // Cut short by the filter, the upstream's [DONE] never came: the caller still gets the end it expects.
        if (stream.allBlocked && !sentDone) out.push(SSE_DONE);
        return out;
      },
      get cut() {
        return stream.allBlocked;
      },
    };
  }

  /** A native Responses stream's guard: each text part held back; a flagged part ends it with response.incomplete. */
  responsesStream(onFinal: (response: Record<string, unknown>) => void): StreamGuard {
    const stream = new ResponsesStreamSafety(() => this.#safety.answerHoldBack((verdict) => this.#verdicts.answers.push(verdict)));
    let kept = false;
    const keepFinal = (out: Uint8Array[]) => {
      if (!kept && stream.final) {
        kept = true;
        onFinal(stream.final);
      }
      return out;
    };
    return {
      push: async (events) => keepFinal(await stream.push(events)),
      end: async () => [],
      get cut() {
        return stream.blocked;
      },
    };
  }

  /** Screening time so far, for Server-Timing. */
  get safetyMs(): number {
    const all = [...(this.#verdicts.prompt ? [this.#verdicts.prompt] : []), ...this.#verdicts.answers];
    return all.reduce((sum, v) => sum + v.latencies.localMs + (v.latencies.remoteMs ?? 0), 0);
  }
}
