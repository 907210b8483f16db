import { z } from 'zod';
import { errors } from '../errors.js';
import type { ChatBody } from '../upstreams/protocols/index.js';
import { MAX_COMPLETION_TOKENS } from './inference-request.js';

// A Responses request (OpenAI `POST /v1/responses`), and its translation to the chat completion every upstream
// speaks. What cannot be translated is refused by name: a silent drop would answer a different question.

const contentPart = z.looseObject({ type: z.string() });
const inputItem = z.looseObject({ type: z.string().optional(), role: z.string().optional() });

const functionTool = z.looseObject({
  type: z.string(),
  name: z.string().min(1).max(256).optional(),
  description: z.string().nullable().optional(),
  parameters: z.record(z.string(), z.unknown()).nullable().optional(),
  strict: z.boolean().nullable().optional(),
});

const textFormat = z.looseObject({
  type: z.string(),
  name: z.string().max(256).optional(),
  description: z.string().optional(),
  schema: z.record(z.string(), z.unknown()).optional(),
  strict: z.boolean().nullable().optional(),
});

export const responsesRequestSchema = z.looseObject({
  model: z.string().max(256).optional(),
  input: z.union([z.string(), z.array(inputItem).max(10_000)]),
  instructions: z.string().nullable().optional(),
  tools: z.array(functionTool).max(512).optional(),
  tool_choice: z.union([z.string(), z.looseObject({ type: z.string(), name: z.string().optional() })]).optional(),
  parallel_tool_calls: z.boolean().nullable().optional(),
  text: z.looseObject({ format: textFormat.optional() }).nullable().optional(),
  max_output_tokens: z.number().int().min(1).max(MAX_COMPLETION_TOKENS).nullable().optional(),
  temperature: z.number().min(0).max(2).nullable().optional(),
  top_p: z.number().min(0).max(1).nullable().optional(),
  stream: z.boolean().nullable().optional(),
  store: z.boolean().nullable().optional(),
  previous_response_id: z.string().max(256).nullable().optional(),
  metadata: z.record(z.string(), z.string()).nullable().optional(),
  user: z.string().max(512).optional(),
  safety_identifier: z.string().max(512).optional(),
  reasoning: z.looseObject({ effort: z.string().nullable().optional() }).nullable().optional(),
});
export type ResponsesRequest = z.output<typeof responsesRequestSchema>;

/** A conversation item as Responses carries it: input items and output items alike. */
export type ResponseItem = Record<string, unknown> & { type?: string | undefined; role?: string | undefined };

type ChatMessage = Record<string, unknown> & { role: string };

// Fields of the Responses API with no chat-completions meaning: refused when set, rather than ignored.
const UNTRANSLATABLE = ['background', 'conversation', 'prompt', 'include', 'max_tool_calls', 'top_logprobs'] as const;

/** The items a request's `input` stands for. */
export function inputItems(input: ResponsesRequest['input']): ResponseItem[] {
  return typeof input === 'string' ? [{ type: 'message', role: 'user', content: input }] : (input as ResponseItem[]);
}

/** The chat request a Responses request translates to, after the stored conversation `history` (oldest first). */
export function toChatBody(request: ResponsesRequest, history: readonly ResponseItem[] = []): ChatBody {
  for (const field of UNTRANSLATABLE) {
    const value = request[field];
    if (value !== undefined && value !== null && !(Array.isArray(value) && value.length === 0) && value !== false) {
      throw errors.invalidRequest(`'${field}' is not supported by Switchyard's Responses API.`, field);
    }
  }
  const messages: ChatMessage[] = request.instructions ? [{ role: 'system', content: request.instructions }] : [];
  const items = [...history, ...inputItems(request.input)];
  items.forEach((item, index) => {
    appendItem(messages, item, `input[${index - history.length}]`);
  });
  const body: ChatBody = { messages: messages as ChatBody['messages'] };
  if (request.tools?.length) body.tools = request.tools.map((tool, index) => chatTool(tool, `tools[${index}]`));
  if (request.tool_choice !== undefined) body.tool_choice = chatToolChoice(request.tool_choice);
  if (request.parallel_tool_calls != null) body.parallel_tool_calls = request.parallel_tool_calls;
  const format = request.text?.format;
  if (format) {
    const responseFormat = chatResponseFormat(format);
    if (responseFormat) body.response_format = responseFormat;
  }
  if (request.max_output_tokens != null) body.max_tokens = request.max_output_tokens;
  if (request.temperature != null) body.temperature = request.temperature;
  if (request.top_p != null) body.top_p = request.top_p;
  if (request.reasoning?.effort) body.reasoning_effort = request.reasoning.effort;
  const user = request.safety_identifier ?? request.user;
  if (user !== undefined) body.user = user;
  if (request.stream === true) body.stream = true;
  return body;
}

function appendItem(messages: ChatMessage[], item: ResponseItem, where: string): void {
  const type = item.type ?? 'message';
  if (type === 'message') {
    messages.push(chatMessage(item, where));
  } else if (type === 'function_call') {
    const call = functionCall.safeParse(item);
    if (!call.success) throw errors.invalidRequest(`'${where}' is a function_call without call_id, name and arguments.`, where);
    const toolCall = { id: call.data.call_id, type: 'function', function: { name: call.data.name, arguments: call.data.arguments } };
    const last = messages.at(-1);
    // Parallel calls are consecutive items in Responses and one assistant message in chat.
    if (last?.role === 'assistant' && Array.isArray(last.tool_calls)) last.tool_calls.push(toolCall);
    else messages.push({ role: 'assistant', content: null, tool_calls: [toolCall] });
  } else if (type === 'function_call_output') {
    const output = functionCallOutput.safeParse(item);
    if (!output.success) throw errors.invalidRequest(`'${where}' is a function_call_output without call_id and output.`, where);
    const content = typeof output.data.output === 'string' ? output.data.output : chatContent(output.data.output, `${where}.output`);
    messages.push({ role: 'tool', tool_call_id: output.data.call_id, content });
  } else {
    throw errors.invalidRequest(`Input items of type '${type}' are not supported by Switchyard's Responses API.`, `${where}.type`);
  }
}

const functionCall = z.looseObject({ call_id: z.string().min(1), name: z.string().min(1), arguments: z.string() });
const functionCallOutput = z.looseObject({ call_id: z.string().min(1), output: z.union([z.string(), z.array(contentPart)]) });
const ROLES = new Set(['user', 'system', 'developer', 'assistant']);

function chatMessage(item: ResponseItem, where: string): ChatMessage {
  const role = item.role;
  if (typeof role !== 'string' || !ROLES.has(role))
    throw errors.invalidRequest(`'${where}.role' must be user, system, developer or assistant.`, `${where}.role`);
  const content = item.content;
  if (typeof content === 'string') return { role, content };
  const parts = z.array(contentPart).safeParse(content);
  if (!parts.success) throw errors.invalidRequest(`'${where}.content' must be a string or an array of content parts.`, `${where}.content`);
  // Chat models read an assistant turn as text; Responses gives it as output_text parts.
  if (role === 'assistant') return { role, content: parts.data.map((part, i) => partText(part, `${where}.content[${i}]`)).join('') };
  return { role, content: chatContent(parts.data, `${where}.content`) };
}

function partText(part: z.output<typeof contentPart>, where: string): string {
  if (
    (part.type === 'output_text' || part.type === 'input_text' || part.type === 'refusal') &&
    typeof (part.text ?? part.refusal) === 'string'
  ) {
    return String(part.text ?? part.refusal);
  }
  throw errors.invalidRequest(`Content parts of type '${part.type}' are not supported in '${where}'.`, `${where}.type`);
}

function chatContent(parts: readonly z.output<typeof contentPart>[], where: string): Record<string, unknown>[] {
  return parts.map((part, index) => {
    const at = `${where}[${index}]`;
    if (part.type === 'input_text' && typeof part.text === 'string') return { type: 'text', text: part.text };
    if (part.type === 'input_image' && typeof part.image_url === 'string') {
      return { type: 'image_url', image_url: { url: part.image_url, ...(part.detail ? { detail: part.detail } : {}) } };
    }
    throw errors.invalidRequest(`Content parts of type '${part.type}' are not supported in '${at}'.`, `${at}.type`);
  });
}

function chatTool(tool: z.output<typeof functionTool>, where: string): Record<string, unknown> {
  if (tool.type !== 'function')
    throw errors.invalidRequest(`Tools of type '${tool.type}' are not supported; only function tools are.`, `${where}.type`);
  if (!tool.name) throw errors.invalidRequest(`'${where}.name' is required.`, `${where}.name`);
  const fn: Record<string, unknown> = { name: tool.name };
  if (tool.description != null) fn.description = tool.description;
  if (tool.parameters != null) fn.parameters = tool.parameters;
  if (tool.strict != null) fn.strict = tool.strict;
  return { type: 'function', function: fn };
}

function chatToolChoice(choice: NonNullable<ResponsesRequest['tool_choice']>): unknown {
  if (typeof choice === 'string') {
    if (choice === 'auto' || choice === 'none' || choice === 'required') return choice;
    throw errors.invalidRequest(`'tool_choice' must be auto, none, required or a function.`, 'tool_choice');
  }
  if (choice.type === 'function' && choice.name) return { type: 'function', function: { name: choice.name } };
  throw errors.invalidRequest(`A 'tool_choice' of type '${choice.type}' is not supported; only function tools are.`, 'tool_choice.type');
}

function chatResponseFormat(format: z.output<typeof textFormat>): Record<string, unknown> | undefined {
  if (format.type === 'text') return undefined;
  if (format.type === 'json_object') return { type: 'json_object' };
  if (format.type === 'json_schema') {
    if (!format.name || !format.schema)
      throw errors.invalidRequest(`'text.format' of type json_schema needs a name and a schema.`, 'text.format');
    const { name, schema, description, strict } = format;
    return {
      type: 'json_schema',
      json_schema: { name, schema, ...(description ? { description } : {}), ...(strict != null ? { strict } : {}) },
    };
  }
  throw errors.invalidRequest(`A 'text.format' of type '${format.type}' is not supported.`, 'text.format.type');
}
