import { createRequire } from 'node:module';

// Loaded at the first count (the first inference request), not at import: building the encoding's tables takes
// 0.2-0.5 s and tens of MB, which every cold start paid before it could answer even /health. A sync require keeps
// every caller sync; the production bundle leaves the package in node_modules for it.
const requirePackage = createRequire(import.meta.url);
let loaded: typeof import('gpt-tokenizer') | undefined;

/** The o200k_base tokenizer (gpt-tokenizer), loaded at its first use. */
export function tokenizer(): typeof import('gpt-tokenizer') {
  loaded ??= requirePackage('gpt-tokenizer') as typeof import('gpt-tokenizer');
  return loaded;
}

function countTokens(text: string): number {
  return tokenizer().countTokens(text);
}

/**
 * The tokenizer's merges are quadratic in the length of one pre-token, and a pre-token never holds whitespace:
 * a prompt of one 200,000-character word took it minutes. Runs longer than this are counted in pieces of this
 * length (a few tokens more than whole, where no real text goes), so the work stays linear in the text.
 */
const LONGEST_RUN = 512;
const LONG_RUN = new RegExp(`\\S{${LONGEST_RUN + 1},}`, 'g');

/** Tokens in a piece of text, by the o200k_base encoding (GPT-4o family). */
export function countTextTokens(text: string): number {
  if (text.length === 0) return 0;
  let total = 0;
  let from = 0;
  for (const run of text.matchAll(LONG_RUN)) {
    if (run.index > from) total += countTokens(text.slice(from, run.index));
    total += countLongRun(run[0]);
    from = run.index + run[0].length;
  }
  return from === 0 ? countTokens(text) : total + (from < text.length ? countTokens(text.slice(from)) : 0);
}

function countLongRun(run: string): number {
  let total = 0;
  for (let start = 0; start < run.length; ) {
    let end = Math.min(run.length, start + LONGEST_RUN);
    // A surrogate pair stays in one piece.
    if (end < run.length && isHighSurrogate(run.charCodeAt(end - 1))) end += 1;
    total += countTokens(run.slice(start, end));
    start = end;
  }
  return total;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

export interface ChatMessageLike {
  role?: unknown;
  content?: unknown;
  name?: unknown;
}

// OpenAI's published accounting for chat prompts: every message costs 3 framing tokens plus its
// role, name and text; the reply is primed with 3 more.
const TOKENS_PER_MESSAGE = 3;
const TOKENS_PER_NAME = 1;
const REPLY_PRIMING_TOKENS = 3;

/** Prompt tokens of a chat request, as OpenAI counts them; used where an upstream reports none. */
export function countChatPromptTokens(messages: readonly ChatMessageLike[]): number {
  return chatPromptTokensBy(messages, countTextTokens);
}

/** The text of a message's `content`, whether a string or an array of content parts. */
export function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  let text = '';
  for (const part of content) {
    if (part && typeof part === 'object' && (part as { type?: unknown }).type === 'text') {
      const value = (part as { text?: unknown }).text;
      if (typeof value === 'string') text += value;
    }
  }
  return text;
}

/**
 * At least as many tokens as countTextTokens finds, at no tokenizer cost: every o200k token is one or more UTF-8
 * bytes of the text (a long run counted in pieces too), so the text's UTF-8 length bounds its count.
 */
export function textTokensAtMost(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

/** At least countChatPromptTokens(messages), by the same accounting with each text bounded by its UTF-8 length. */
export function chatPromptTokensAtMost(messages: readonly ChatMessageLike[]): number {
  return chatPromptTokensBy(messages, textTokensAtMost);
}

/** At least countEmbeddingInputTokens(input). */
export function embeddingInputTokensAtMost(input: EmbeddingInput): number {
  return embeddingInputTokensBy(input, textTokensAtMost);
}

/** Input tokens of an embeddings request (text counted, token ids taken as given); used where an upstream reports none. */
export function countEmbeddingInputTokens(input: EmbeddingInput): number {
  return embeddingInputTokensBy(input, countTextTokens);
}

type EmbeddingInput = string | readonly string[] | readonly number[] | readonly (readonly number[])[];

function chatPromptTokensBy(messages: readonly ChatMessageLike[], textTokens: (text: string) => number): number {
  let total = REPLY_PRIMING_TOKENS;
  for (const message of messages) {
    total += TOKENS_PER_MESSAGE;
    if (typeof message.role === 'string') total += textTokens(message.role);
    if (typeof message.name === 'string') total += textTokens(message.name) + TOKENS_PER_NAME;
    total += textTokens(contentText(message.content));
  }
  return total;
}

function embeddingInputTokensBy(input: EmbeddingInput, textTokens: (text: string) => number): number {
  if (typeof input === 'string') return textTokens(input);
  let total = 0;
  for (const item of input) total += typeof item === 'string' ? textTokens(item) : typeof item === 'number' ? 1 : item.length;
  return total;
}
