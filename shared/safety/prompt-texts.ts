import type { ScreenSegment } from './screen.js';

type Path = ReadonlyArray<string | number>;

/** Where each screened text sits in a request body, so masked texts can be put back in the same places. */
export interface PromptTexts {
  segments: ScreenSegment[];
  paths: Path[];
}

type Body = Record<string, unknown>;
const isRecord = (value: unknown): value is Body => value !== null && typeof value === 'object' && !Array.isArray(value);

// Whose words a message holds: the user's (Prompt Shields' userPrompt), a tool's or retrieved content (its
// documents), or the application's and earlier answers (screened for what they say only).
function roleOf(role: unknown): ScreenSegment['role'] {
  if (role === 'user') return 'user';
  if (role === 'tool' || role === 'function') return 'document';
  return 'system';
}

function collectContent(
  content: unknown,
  path: Path,
  role: ScreenSegment['role'],
  into: PromptTexts,
  textTypes: ReadonlySet<string>,
): void {
  if (typeof content === 'string') {
    into.segments.push({ role, text: content });
    into.paths.push(path);
    return;
  }
  if (!Array.isArray(content)) return;
  content.forEach((part, i) => {
    if (isRecord(part) && typeof part.type === 'string' && textTypes.has(part.type) && typeof part.text === 'string') {
      into.segments.push({ role, text: part.text });
      into.paths.push([...path, i, 'text']);
    }
  });
}

const CHAT_TEXT_PARTS = new Set(['text']);
const RESPONSES_TEXT_PARTS = new Set(['input_text', 'output_text', 'text']);

/** The texts of a chat completions request: every message's text content, by whose words they are. */
export function chatPromptTexts(body: { messages: ReadonlyArray<Record<string, unknown>> }): PromptTexts {
  const texts: PromptTexts = { segments: [], paths: [] };
  body.messages.forEach((message, i) => {
    collectContent(message.content, ['messages', i, 'content'], roleOf(message.role), texts, CHAT_TEXT_PARTS);
  });
  return texts;
}

/** The texts of a Responses request: `instructions`, then `input` (a string, or messages and tool outputs). */
export function responsesPromptTexts(body: { input: unknown; instructions?: unknown }): PromptTexts {
  const texts: PromptTexts = { segments: [], paths: [] };
  if (typeof body.instructions === 'string') collectContent(body.instructions, ['instructions'], 'system', texts, RESPONSES_TEXT_PARTS);
  if (typeof body.input === 'string') {
    collectContent(body.input, ['input'], 'user', texts, RESPONSES_TEXT_PARTS);
    return texts;
  }
  if (!Array.isArray(body.input)) return texts;
  body.input.forEach((item, i) => {
    if (!isRecord(item)) return;
    if (item.type === 'function_call_output') collectContent(item.output, ['input', i, 'output'], 'document', texts, RESPONSES_TEXT_PARTS);
    else if (item.role !== undefined) collectContent(item.content, ['input', i, 'content'], roleOf(item.role), texts, RESPONSES_TEXT_PARTS);
  });
  return texts;
}

/** The texts of an embeddings request (token ids carry no text to screen). */
export function embeddingsInputTexts(body: { input: unknown }): PromptTexts {
  const texts: PromptTexts = { segments: [], paths: [] };
  if (typeof body.input === 'string') collectContent(body.input, ['input'], 'user', texts, CHAT_TEXT_PARTS);
  else if (Array.isArray(body.input))
    body.input.forEach((item, i) => {
      if (typeof item === 'string') collectContent(item, ['input', i], 'user', texts, CHAT_TEXT_PARTS);
    });
  return texts;
}

/** A copy of `body` with the texts at `paths` replaced (the masked segments of a screening); `body` is left as it was. */
export function withTexts<T extends object>(body: T, paths: readonly Path[], texts: readonly string[]): T {
  const copy = structuredClone(body);
  paths.forEach((path, i) => {
    let at: unknown = copy;
    for (const key of path.slice(0, -1)) at = (at as Record<string | number, unknown>)[key];
    (at as Record<string | number, unknown>)[path.at(-1)!] = texts[i];
  });
  return copy;
}
