import { countTokens } from 'gpt-tokenizer';

/** Tokens in a piece of text, by the o200k_base encoding (GPT-4o family). */
export function countTextTokens(text: string): number {
  return text.length === 0 ? 0 : countTokens(text);
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
  let total = REPLY_PRIMING_TOKENS;
  for (const message of messages) {
    total += TOKENS_PER_MESSAGE;
    if (typeof message.role === 'string') total += countTextTokens(message.role);
    if (typeof message.name === 'string') total += countTextTokens(message.name) + TOKENS_PER_NAME;
    total += countTextTokens(contentText(message.content));
  }
  return total;
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

/** Input tokens of an embeddings request (text counted, token ids taken as given); used where an upstream reports none. */
export function countEmbeddingInputTokens(input: string | readonly string[] | readonly number[] | readonly (readonly number[])[]): number {
  if (typeof input === 'string') return countTextTokens(input);
  let total = 0;
  for (const item of input) total += typeof item === 'string' ? countTextTokens(item) : typeof item === 'number' ? 1 : item.length;
  return total;
}
