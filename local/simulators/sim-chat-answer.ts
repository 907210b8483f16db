/**
 * What each choice of a simulated chat answer says, decided before anything is sent so that a
 * whole answer and a stream of the same request carry the same tokens: plain text (sim-content.ts),
 * JSON for `response_format`, or a tool call whose arguments fit the tool's parameters
 * (sim-json-schema.ts), cut at the first `stop` sequence or at the token limit, with deterministic
 * logprobs. Everything is seeded by the request (its last user message, and `seed` when given).
 */
import { hashText, seededRandom } from '../../shared/seeded-random.js';
import { contentText, countTextTokens, tokenizer, type ChatMessageLike } from '../../shared/usage/count-tokens.js';
import type { ChatRequest } from './sim-chat-request.js';
import { choiceSeed, REPLY_WORDS, replyText, replyTokens } from './sim-content.js';
import { schemaInstance } from './sim-json-schema.js';
import { MAX_GENERATED_TOKENS, SliceYielder } from './sim-server.js';

export type FinishReason = 'stop' | 'length' | 'tool_calls';

export interface ChoiceAnswer {
  index: number;
  /** The seed this choice's content and logprobs are drawn from. */
  seed: string;
  /** The content, or the tool call's arguments, one piece per token; iterate once. */
  pieces: Iterable<string>;
  /** Completion tokens of this choice, counted as the tokenizer counts the pieces joined. */
  tokenCount: number;
  finishReason: FinishReason;
  /** Set when the choice calls a function: `pieces` are its arguments. */
  toolCall?: { id: string; name: string };
}

export interface AnswerDefaults {
  /** Completion tokens of a text reply when the request sets no limit. */
  defaultCompletionTokens: number;
}

/** The answer of every choice of `request`, built a slice at a time. */
export async function planAnswer(request: ChatRequest, defaults: AnswerDefaults, slices = new SliceYielder()): Promise<ChoiceAnswer[]> {
  const requestSeed =
    request.seed === undefined ? lastUserText(request.messages) : `${lastUserText(request.messages)}\u0000seed ${request.seed}`;
  const cap = Math.floor(MAX_GENERATED_TOKENS / request.choices);
  const answers: ChoiceAnswer[] = [];
  for (let index = 0; index < request.choices; index++) {
    const seed = choiceSeed(requestSeed, index);
    if (request.tool !== undefined) answers.push(toolCallAnswer(request, index, seed, cap));
    else if (request.format.kind === 'json') answers.push(jsonAnswer(request, request.format.schema, index, seed, cap));
    else answers.push(await textAnswer(request, defaults, index, seed, cap, slices));
  }
  return answers;
}

function lastUserText(messages: readonly ChatMessageLike[]): string {
  for (let i = messages.length - 1; i >= 0; i--) {
    if (messages[i]?.role === 'user') return contentText(messages[i]?.content);
  }
  return '';
}

async function textAnswer(
  request: ChatRequest,
  defaults: AnswerDefaults,
  index: number,
  seed: string,
  cap: number,
  slices: SliceYielder,
): Promise<ChoiceAnswer> {
  const requested = request.maxTokens ?? defaults.defaultCompletionTokens;
  const tokenCount = Math.min(requested, cap);
  const finishReason = request.maxTokens === undefined && tokenCount === requested ? 'stop' : 'length';
  // Without stop sequences the reply stays lazy, so a stream holds one token at a time.
  if (request.stop.length === 0) return { index, seed, pieces: replyTokens(seed, tokenCount), tokenCount, finishReason };
  const text = await replyText(seed, tokenCount, slices);
  const cut = cutAtStop(text, request.stop);
  if (cut === undefined) return { index, seed, pieces: replyTokens(seed, tokenCount), tokenCount, finishReason };
  return {
    index,
    seed,
    pieces: piecesOfPrefix(replyTokens(seed, tokenCount), cut.length),
    tokenCount: countTextTokens(cut),
    finishReason: 'stop',
  };
}

function jsonAnswer(request: ChatRequest, schema: unknown, index: number, seed: string, cap: number): ChoiceAnswer {
  const json = JSON.stringify(schemaInstance(schema, seededRandom(hashText(`${seed}\u0000json`))));
  const limited = limitTokens(json, Math.min(request.maxTokens ?? cap, cap));
  const cut = cutAtStop(limited.text, request.stop);
  const text = cut ?? limited.text;
  const finishReason = cut !== undefined ? 'stop' : limited.cut ? 'length' : 'stop';
  return { index, seed, pieces: tokenPieces(text), tokenCount: countTextTokens(text), finishReason };
}

function toolCallAnswer(request: ChatRequest, index: number, seed: string, cap: number): ChoiceAnswer {
  const tool = request.tool!;
  const json = JSON.stringify(schemaInstance(tool.parameters, seededRandom(hashText(`${seed}\u0000tool ${tool.name}`))));
  const limited = limitTokens(json, Math.min(request.maxTokens ?? cap, cap));
  return {
    index,
    seed,
    pieces: tokenPieces(limited.text),
    tokenCount: countTextTokens(limited.text),
    finishReason: limited.cut ? 'length' : 'tool_calls',
    toolCall: { id: callId(seed, tool.name), name: tool.name },
  };
}

const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

function callId(seed: string, name: string): string {
  const next = seededRandom(hashText(`${seed}\u0000call ${name}`));
  let id = 'call_';
  for (let i = 0; i < 24; i++) id += ID_ALPHABET[Math.floor(next() * ID_ALPHABET.length)];
  return id;
}

// The first `limit` tokens of `text`, as a model that runs out of tokens mid-JSON leaves it.
function limitTokens(text: string, limit: number): { text: string; cut: boolean } {
  const { encode, decode } = tokenizer();
  const ids = encode(text);
  return ids.length <= limit ? { text, cut: false } : { text: decode(ids.slice(0, limit)), cut: true };
}

/** The text before the first stop sequence in it, or undefined when none appears. */
export function cutAtStop(text: string, stops: readonly string[]): string | undefined {
  let end = -1;
  for (const stop of stops) {
    const at = text.indexOf(stop);
    if (at >= 0 && (end < 0 || at < end)) end = at;
  }
  return end < 0 ? undefined : text.slice(0, end);
}

// The tokenizer's pieces of `text`; a character split across tokens stays whole in one piece.
function tokenPieces(text: string): string[] {
  const { encode, decode } = tokenizer();
  const pieces: string[] = [];
  let pending: number[] = [];
  for (const id of encode(text)) {
    pending.push(id);
    const piece = decode(pending);
    if (piece.endsWith('\uFFFD')) continue;
    pieces.push(piece);
    pending = [];
  }
  if (pending.length > 0) pieces.push(decode(pending));
  return pieces;
}

function* piecesOfPrefix(pieces: Iterable<string>, length: number): Generator<string, void, undefined> {
  let sent = 0;
  for (const piece of pieces) {
    if (sent >= length) return;
    const part = piece.slice(0, length - sent);
    sent += part.length;
    yield part;
  }
}

export interface TokenLogprob {
  token: string;
  logprob: number;
  bytes: number[];
  top_logprobs: { token: string; logprob: number; bytes: number[] }[];
}

/**
 * The logprob entry of the token at `position` of a choice: the token itself is the likeliest, and
 * `top` alternatives (the token first, then vocabulary words) each less likely than the one before.
 */
export function tokenLogprob(seed: string, position: number, token: string, top: number): TokenLogprob {
  const next = seededRandom(hashText(`${seed}\u0000logprob ${position}`));
  const logprob = -round(next() * 1.5);
  const bytes = [...Buffer.from(token, 'utf8')];
  const alternatives = [{ token, logprob, bytes }];
  let offset = Math.floor(next() * REPLY_WORDS.length);
  let current = logprob;
  while (alternatives.length < top) {
    const word = ` ${REPLY_WORDS[offset++ % REPLY_WORDS.length]}`;
    if (alternatives.some((a) => a.token === word)) continue;
    current = -round(-current + 0.25 + next() * 2);
    alternatives.push({ token: word, logprob: current, bytes: [...Buffer.from(word, 'utf8')] });
  }
  return { token, logprob, bytes, top_logprobs: top === 0 ? [] : alternatives };
}

function round(value: number): number {
  return Math.round(value * 1e6) / 1e6;
}
