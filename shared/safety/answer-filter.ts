import { contentFilterResult } from './content-filter-result.js';
import type { SafetyVerdict } from './screen.js';

type Answer = Record<string, unknown> & { choices?: unknown };

const isRecord = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);

/** The text of each choice of a non-streamed chat completion, by choice index (choices without text are left out). */
export function chatAnswerTexts(answer: Answer): Array<{ index: number; text: string }> {
  if (!Array.isArray(answer.choices)) return [];
  return answer.choices.flatMap((choice, position) => {
    if (!isRecord(choice) || !isRecord(choice.message) || typeof choice.message.content !== 'string') return [];
    return [{ index: typeof choice.index === 'number' ? choice.index : position, text: choice.message.content }];
  });
}

/**
 * A chat completion as the caller may see it, after each choice's text was screened (AZURE.md §2.4): a blocked
 * choice keeps no content and ends with `finish_reason: "content_filter"`; a masked one carries its masked text;
 * every screened choice carries `content_filter_results`. In audit mode nothing changes but the results.
 */
export function filteredChatAnswer(answer: Answer, screened: ReadonlyMap<number, { verdict: SafetyVerdict; text: string }>): Answer {
  if (!Array.isArray(answer.choices)) return answer;
  const choices = answer.choices.map((choice, position) => {
    if (!isRecord(choice)) return choice;
    const index = typeof choice.index === 'number' ? choice.index : position;
    const result = screened.get(index);
    if (!result) return choice;
    const message = isRecord(choice.message) ? choice.message : {};
    const filtered = { ...choice, content_filter_results: contentFilterResult(result.verdict) };
    if (result.verdict.action === 'block')
      return { ...filtered, message: { ...message, content: null, tool_calls: undefined }, finish_reason: 'content_filter' };
    if (result.verdict.action === 'mask') return { ...filtered, message: { ...message, content: result.text } };
    return filtered;
  });
  return { ...answer, choices };
}

/** Azure's `prompt_filter_results` for an answer whose prompt was screened (AZURE.md §2.4). */
export function promptFilterResults(
  verdict: SafetyVerdict,
): Array<{ prompt_index: number; content_filter_results: Record<string, unknown> }> {
  return [{ prompt_index: 0, content_filter_results: contentFilterResult(verdict) }];
}
