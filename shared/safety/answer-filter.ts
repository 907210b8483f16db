import { contentFilterResult } from './content-filter-result.js';
import type { SafetyVerdict } from './screen.js';

type Answer = Record<string, unknown> & { choices?: unknown };

const isRecord = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);

/** Where a text of a choice sits: its message content, or the arguments of its tool call at that position. */
export type AnswerPart = { text: string } & ({ kind: 'content' } | { kind: 'arguments'; call: number });

/** A choice's texts as screening left them (masked where it masked), with its verdict. */
export interface ScreenedChoice {
  verdict: SafetyVerdict;
  parts: readonly AnswerPart[];
}

/**
 * The texts of each choice of a non-streamed chat completion, by choice index: its content and its tool calls'
 * arguments, since a tool call is the model's words too (choices without any text are left out).
 */
export function chatAnswerParts(answer: Answer): Array<{ index: number; parts: AnswerPart[] }> {
  if (!Array.isArray(answer.choices)) return [];
  return answer.choices.flatMap((choice, position) => {
    if (!isRecord(choice) || !isRecord(choice.message)) return [];
    const { content, tool_calls: toolCalls } = choice.message;
    const parts: AnswerPart[] = typeof content === 'string' ? [{ kind: 'content', text: content }] : [];
    if (Array.isArray(toolCalls))
      toolCalls.forEach((call, i) => {
        if (isRecord(call) && isRecord(call.function) && typeof call.function.arguments === 'string')
          parts.push({ kind: 'arguments', call: i, text: call.function.arguments });
      });
    return parts.length > 0 ? [{ index: typeof choice.index === 'number' ? choice.index : position, parts }] : [];
  });
}

function maskedMessage(message: Record<string, unknown>, parts: readonly AnswerPart[]): Record<string, unknown> {
  const masked = { ...message };
  for (const part of parts) {
    if (part.kind === 'content') masked.content = part.text;
    else if (Array.isArray(masked.tool_calls))
      masked.tool_calls = masked.tool_calls.map((call, i) =>
        i === part.call && isRecord(call) && isRecord(call.function)
          ? { ...call, function: { ...call.function, arguments: part.text } }
          : call,
      );
  }
  return masked;
}

/**
 * A chat completion as the caller may see it, after each choice's texts were screened (AZURE.md §2.4): a blocked
 * choice keeps no content nor tool calls and ends with `finish_reason: "content_filter"`; a masked one carries its
 * masked texts;
 * every screened choice carries `content_filter_results`. In audit mode nothing changes but the results.
 */
export function filteredChatAnswer(answer: Answer, screened: ReadonlyMap<number, ScreenedChoice>): Answer {
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
    if (result.verdict.action === 'mask') return { ...filtered, message: maskedMessage(message, result.parts) };
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

type ResponseObject = Record<string, unknown> & { output?: unknown };

/** Where a Responses API answer's text sits: a message's `content[part].text`, or a function call's `arguments`. */
type ResponsePart = number | 'arguments';

/** Each text of a Responses API answer, with where it sits: its messages' text parts and its function calls' arguments. */
export function responseAnswerTexts(response: ResponseObject): Array<{ item: number; part: ResponsePart; text: string }> {
  if (!Array.isArray(response.output)) return [];
  return response.output.flatMap((item, i): Array<{ item: number; part: ResponsePart; text: string }> => {
    if (isRecord(item) && item.type === 'function_call' && typeof item.arguments === 'string')
      return [{ item: i, part: 'arguments' as const, text: item.arguments }];
    if (!isRecord(item) || item.type !== 'message' || !Array.isArray(item.content)) return [];
    return item.content.flatMap((part, j) =>
      isRecord(part) && part.type === 'output_text' && typeof part.text === 'string' ? [{ item: i, part: j, text: part.text }] : [],
    );
  });
}

/**
 * A Responses API answer as the caller may see it, after each text part was screened: when any part is blocked
 * the whole answer's text and every function call's arguments are withheld and the Response is `incomplete` with
 * `incomplete_details.reason: "content_filter"` (as Azure OpenAI tells a filtered Response); masked parts carry
 * their masked text.
 */
export function filteredResponse(
  response: ResponseObject,
  screened: ReadonlyArray<{ item: number; part: ResponsePart; verdict: SafetyVerdict; text: string }>,
): ResponseObject {
  if (!Array.isArray(response.output) || screened.length === 0) return response;
  const blocked = screened.some((s) => s.verdict.action === 'block');
  const byPart = new Map(screened.map((s) => [`${s.item}:${s.part}`, s]));
  const output = response.output.map((item, i) => {
    if (isRecord(item) && item.type === 'function_call') {
      if (blocked) return { ...item, arguments: '', status: 'incomplete' };
      const result = byPart.get(`${i}:arguments`);
      return result?.verdict.action === 'mask' ? { ...item, arguments: result.text } : item;
    }
    if (!isRecord(item) || item.type !== 'message' || !Array.isArray(item.content)) return item;
    const content = item.content.flatMap((part, j) => {
      const result = byPart.get(`${i}:${j}`);
      if (!result || !isRecord(part)) return [part];
      if (blocked) return [];
      return [{ ...part, text: result.verdict.action === 'mask' ? result.text : part.text }];
    });
    return { ...item, content, ...(blocked ? { status: 'incomplete' } : {}) };
  });
  const { output_text: outputText, ...rest } = response;
  const joined = output.flatMap((item) =>
    isRecord(item) && Array.isArray(item.content)
      ? item.content.flatMap((p) => (isRecord(p) && typeof p.text === 'string' ? [p.text] : []))
      : [],
  );
  return {
    ...rest,
    ...(blocked ? { status: 'incomplete', incomplete_details: { reason: 'content_filter' } } : {}),
    output,
    ...(typeof outputText === 'string' ? { output_text: joined.join('') } : {}),
  };
}
