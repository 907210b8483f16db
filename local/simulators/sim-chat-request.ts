/**
 * The simulator's reading of a chat-completions request: the fields OpenAI's API defines
 * (`messages`, `max_tokens` / `max_completion_tokens`, `n`, `stream`, `stream_options`, `tools`,
 * `tool_choice`, `response_format`, `logprobs`, `top_logprobs`, `stop`, `seed`), checked the way
 * the real API checks them, a bad one answered with a 400 naming it (`param`).
 */
import type { ChatMessageLike } from '../../shared/usage/count-tokens.js';
import { isPositiveInteger, MAX_CHOICES } from './sim-server.js';

/** What the reply must be: plain text, or JSON that validates against `schema`. */
export type ReplyFormat = { kind: 'text' } | { kind: 'json'; schema: unknown };

/** The function the reply calls, when it calls one. */
export interface ToolToCall {
  name: string;
  parameters: unknown;
}

export interface ChatRequest {
  messages: ChatMessageLike[];
  maxTokens: number | undefined;
  choices: number;
  stream: boolean;
  includeUsage: boolean;
  model: unknown;
  tool: ToolToCall | undefined;
  format: ReplyFormat;
  logprobs: boolean;
  topLogprobs: number;
  stop: string[];
  seed: number | undefined;
}

export interface RequestProblem {
  message: string;
  param: string | null;
}

type Fields = Record<string, unknown>;
type Parsed<T> = { value: T } | { problem: RequestProblem };

const MAX_TOP_LOGPROBS = 20;
const MAX_STOP_SEQUENCES = 4;
// What a `json_object` reply holds: the API promises only "a JSON object".
const JSON_OBJECT_SCHEMA = {
  type: 'object',
  properties: { answer: { type: 'string' }, confidence: { type: 'number', minimum: 0, maximum: 1 } },
  required: ['answer', 'confidence'],
};

const problem = (message: string, param: string | null) => ({ problem: { message, param } });
const isObject = (value: unknown): value is Fields => value !== null && typeof value === 'object' && !Array.isArray(value);
const absent = (value: unknown) => value === undefined || value === null;

/** Reads a chat request body, or says which field is wrong. */
export function parseChatRequest(body: unknown): { request: ChatRequest } | { problem: RequestProblem } {
  if (!isObject(body)) return problem('The request body must be a JSON object.', null);
  const basics = parseBasics(body);
  if ('problem' in basics) return basics;
  const tool = parseTool(body, basics.value.messages);
  if ('problem' in tool) return tool;
  const format = parseFormat(body.response_format);
  if ('problem' in format) return format;
  const logprobs = parseLogprobs(body);
  if ('problem' in logprobs) return logprobs;
  const stop = parseStop(body.stop);
  if ('problem' in stop) return stop;
  if (!absent(body.seed) && !Number.isSafeInteger(body.seed)) return problem("'seed' must be an integer.", 'seed');
  const seed = absent(body.seed) ? undefined : (body.seed as number);
  return {
    request: { ...basics.value, tool: tool.value, format: format.value, ...logprobs.value, stop: stop.value, seed },
  };
}

type Basics = Pick<ChatRequest, 'messages' | 'maxTokens' | 'choices' | 'stream' | 'includeUsage' | 'model'>;

function parseBasics(fields: Fields): Parsed<Basics> {
  const messages = fields.messages;
  if (!Array.isArray(messages) || messages.length === 0) return problem("'messages' must be a non-empty array.", 'messages');
  if (!messages.every((m) => isObject(m) && typeof m.role === 'string')) {
    return problem("Every entry of 'messages' must be an object with a string 'role'.", 'messages');
  }
  const limitField = absent(fields.max_completion_tokens) ? 'max_tokens' : 'max_completion_tokens';
  const limit = fields[limitField];
  if (!absent(limit) && !isPositiveInteger(limit)) return problem(`'${limitField}' must be a positive integer.`, limitField);
  const n = fields.n ?? 1;
  if (!isPositiveInteger(n) || n > MAX_CHOICES) return problem(`'n' must be an integer from 1 to ${MAX_CHOICES}.`, 'n');
  const streamOptions = fields.stream_options as { include_usage?: unknown } | null | undefined;
  return {
    value: {
      messages: messages as ChatMessageLike[],
      maxTokens: isPositiveInteger(limit) ? limit : undefined,
      choices: n,
      stream: fields.stream === true,
      includeUsage: streamOptions?.include_usage === true,
      model: fields.model,
    },
  };
}

// The function to call: none without function tools, after a tool result (so agent loops end) or
// with tool_choice "none"; the named one; otherwise ("auto", "required") the first.
function parseTool(fields: Fields, messages: ChatMessageLike[]): Parsed<ToolToCall | undefined> {
  const tools = parseTools(fields.tools);
  if ('problem' in tools) return tools;
  const choice = fields.tool_choice;
  if (absent(choice)) return { value: messages.at(-1)?.role === 'tool' ? undefined : tools.value[0] };
  if (tools.value.length === 0) return problem("'tool_choice' is only allowed when 'tools' name at least one function.", 'tool_choice');
  const named = chosenName(choice);
  if (named === undefined) {
    return problem("'tool_choice' must be 'none', 'auto', 'required' or name a function tool.", 'tool_choice');
  }
  if (named === 'none') return { value: undefined };
  const tool = named === '' ? tools.value[0] : tools.value.find((t) => t.name === named);
  if (tool === undefined) return problem(`'tool_choice' names '${named}', which is not among 'tools'.`, 'tool_choice');
  return { value: messages.at(-1)?.role === 'tool' ? undefined : tool };
}

// '' for any tool, 'none' for none, a name for that one; undefined when the choice is malformed.
function chosenName(choice: unknown): string | undefined {
  if (choice === 'none') return 'none';
  if (choice === 'auto' || choice === 'required') return '';
  if (!isObject(choice)) return undefined;
  if (choice.type === 'function' && isObject(choice.function) && typeof choice.function.name === 'string') return choice.function.name;
  if (choice.type === 'allowed_tools' && isObject(choice.allowed_tools)) {
    const first = (choice.allowed_tools.tools as unknown[] | undefined)?.[0];
    if (isObject(first) && isObject(first.function) && typeof first.function.name === 'string') return first.function.name;
    return '';
  }
  return undefined;
}

function parseTools(tools: unknown): Parsed<ToolToCall[]> {
  if (absent(tools)) return { value: [] };
  if (!Array.isArray(tools)) return problem("'tools' must be an array.", 'tools');
  const functions: ToolToCall[] = [];
  for (const tool of tools) {
    if (!isObject(tool) || typeof tool.type !== 'string')
      return problem("Every entry of 'tools' must be an object with a 'type'.", 'tools');
    if (tool.type !== 'function') continue;
    const fn = tool.function;
    if (!isObject(fn) || typeof fn.name !== 'string' || fn.name.length === 0) {
      return problem("A function tool needs 'function.name'.", 'tools');
    }
    functions.push({ name: fn.name, parameters: fn.parameters ?? { type: 'object', properties: {} } });
  }
  return { value: functions };
}

function parseFormat(format: unknown): Parsed<ReplyFormat> {
  if (absent(format)) return { value: { kind: 'text' } };
  if (!isObject(format)) return problem("'response_format' must be an object.", 'response_format');
  if (format.type === 'text') return { value: { kind: 'text' } };
  if (format.type === 'json_object') return { value: { kind: 'json', schema: JSON_OBJECT_SCHEMA } };
  if (format.type !== 'json_schema') {
    return problem("'response_format.type' must be 'text', 'json_object' or 'json_schema'.", 'response_format');
  }
  const spec = format.json_schema;
  if (!isObject(spec) || typeof spec.name !== 'string')
    return problem("'response_format.json_schema.name' is required.", 'response_format');
  if (!absent(spec.schema) && !isObject(spec.schema))
    return problem("'response_format.json_schema.schema' must be an object.", 'response_format');
  return { value: { kind: 'json', schema: spec.schema ?? { type: 'object' } } };
}

function parseLogprobs(fields: Fields): Parsed<Pick<ChatRequest, 'logprobs' | 'topLogprobs'>> {
  const { logprobs, top_logprobs: top } = fields;
  if (!absent(logprobs) && typeof logprobs !== 'boolean') return problem("'logprobs' must be a boolean.", 'logprobs');
  if (absent(top)) return { value: { logprobs: logprobs === true, topLogprobs: 0 } };
  if (!Number.isInteger(top) || (top as number) < 0 || (top as number) > MAX_TOP_LOGPROBS) {
    return problem(`'top_logprobs' must be an integer from 0 to ${MAX_TOP_LOGPROBS}.`, 'top_logprobs');
  }
  if (logprobs !== true) return problem("'logprobs' must be true when 'top_logprobs' is set.", 'logprobs');
  return { value: { logprobs: true, topLogprobs: top as number } };
}

function parseStop(stop: unknown): Parsed<string[]> {
  if (absent(stop)) return { value: [] };
  const list = typeof stop === 'string' ? [stop] : stop;
  if (!Array.isArray(list) || list.length > MAX_STOP_SEQUENCES || !list.every((s) => typeof s === 'string')) {
    return problem(`'stop' must be a string or an array of at most ${MAX_STOP_SEQUENCES} strings.`, 'stop');
  }
  return { value: list.filter((s) => s.length > 0) };
}
