import { z } from 'zod';
import type { MeteredUsage } from '../upstreams/protocols/index.js';
import type { ResponseItem, ResponsesRequest } from './responses-request.js';

// Chat completions (whole, or as chunks) told as a Responses answer: the Response object and the typed stream
// events of OpenAI's published schema, in its order. One translator serves both: a whole completion is one chunk.

/** What a Response echoes of its request, and the ids and clock it is made with. */
export interface ResponseMeta {
  id: string;
  createdAtS: number;
  model: string;
  request: ResponsesRequest;
  newId: () => string;
}

export type ResponseObject = Record<string, unknown> & { id: string; status: string; output: ResponseItem[] };
export type ResponseEvent = Record<string, unknown> & { type: string; sequence_number: number };

const toolCallDelta = z.looseObject({
  index: z.number().int().min(0),
  id: z.string().optional(),
  function: z.looseObject({ name: z.string().optional(), arguments: z.string().optional() }).optional(),
});
const chatChunk = z.looseObject({
  model: z.string().optional(),
  choices: z
    .array(
      z.looseObject({
        index: z.number().optional(),
        delta: z
          .looseObject({
            content: z.string().nullable().optional(),
            refusal: z.string().nullable().optional(),
            tool_calls: z.array(toolCallDelta).nullable().optional(),
          })
          .optional(),
        finish_reason: z.string().nullable().optional(),
      }),
    )
    .optional(),
  usage: z.unknown().optional(),
});
const chatCompletion = z.looseObject({
  model: z.string().optional(),
  choices: z.array(
    z.looseObject({
      index: z.number().optional(),
      message: z.looseObject({
        content: z.string().nullable().optional(),
        refusal: z.string().nullable().optional(),
        tool_calls: z
          .array(z.looseObject({ id: z.string(), function: z.looseObject({ name: z.string(), arguments: z.string() }) }))
          .nullable()
          .optional(),
      }),
      finish_reason: z.string().nullable().optional(),
    }),
  ),
  usage: z.unknown().optional(),
});
const usageDetails = z.looseObject({
  prompt_tokens_details: z.looseObject({ cached_tokens: z.number().int().optional() }).nullable().optional(),
  completion_tokens_details: z.looseObject({ reasoning_tokens: z.number().int().optional() }).nullable().optional(),
});

/** A Response's usage: the metered counts, with the cached and reasoning details the upstream reported. */
export function responseUsage(metered: MeteredUsage, chatUsage: unknown): Record<string, unknown> {
  const details = usageDetails.safeParse(chatUsage).data;
  return {
    input_tokens: metered.inputTokens,
    input_tokens_details: { cached_tokens: details?.prompt_tokens_details?.cached_tokens ?? 0, cache_write_tokens: 0 },
    output_tokens: metered.outputTokens,
    output_tokens_details: { reasoning_tokens: details?.completion_tokens_details?.reasoning_tokens ?? 0 },
    total_tokens: metered.inputTokens + metered.outputTokens,
  };
}

/** The Response object around `output`, echoing the request as OpenAI does. */
export function responseObject(meta: ResponseMeta, fields: Partial<ResponseObject> & { status: string }): ResponseObject {
  const { request } = meta;
  return {
    id: meta.id,
    object: 'response',
    created_at: meta.createdAtS,
    completed_at: null,
    error: null,
    incomplete_details: null,
    instructions: request.instructions ?? null,
    max_output_tokens: request.max_output_tokens ?? null,
    model: meta.model,
    output: [],
    parallel_tool_calls: request.parallel_tool_calls ?? true,
    previous_response_id: request.previous_response_id ?? null,
    reasoning: { effort: request.reasoning?.effort ?? null, summary: null },
    store: request.store ?? true,
    temperature: request.temperature ?? null,
    text: { format: request.text?.format ?? { type: 'text' } },
    tool_choice: request.tool_choice ?? 'auto',
    tools: (request.tools ?? []).map((tool) => ({
      type: 'function',
      name: tool.name,
      description: tool.description ?? null,
      parameters: tool.parameters ?? null,
      strict: tool.strict ?? null,
    })),
    top_p: request.top_p ?? null,
    truncation: 'disabled',
    metadata: request.metadata ?? {},
    ...fields,
  };
}

/** A whole chat completion as the single chunk the translator reads. */
export function completionAsChunk(json: unknown): unknown {
  const completion = chatCompletion.parse(json);
  return {
    model: completion.model,
    usage: completion.usage,
    choices: completion.choices.map(({ index, message, finish_reason }) => ({
      index,
      delta: {
        content: message.content,
        refusal: message.refusal,
        tool_calls: message.tool_calls?.map((call, i) => ({ index: i, id: call.id, function: call.function })),
      },
      finish_reason,
    })),
  };
}

// A message's one content part: the answer's text, or the model's refusal to give one (each has its own events).
type PartKind = 'output_text' | 'refusal';
const PART_EVENTS = {
  output_text: { delta: 'response.output_text.delta', done: 'response.output_text.done', field: 'text' },
  refusal: { delta: 'response.refusal.delta', done: 'response.refusal.done', field: 'refusal' },
} as const;

type OpenItem =
  | { kind: 'message'; part: PartKind; outputIndex: number; id: string; text: string }
  | { kind: 'function_call'; outputIndex: number; id: string; callId: string; name: string; arguments: string; chatIndex: number };

/** Reads chat-completion chunks (choice 0) and tells them as Responses stream events, keeping the Response they build. */
export class ResponseTranslator {
  readonly #meta: ResponseMeta;
  readonly #output: ResponseItem[] = [];
  #open: OpenItem | undefined;
  #sequence = 0;
  #finishReason: string | null = null;
  #chatUsage: unknown;
  #final: ResponseObject | undefined;

  constructor(meta: ResponseMeta) {
    this.#meta = meta;
  }

  /** The finished Response, once `finish` has run. */
  get response(): ResponseObject | undefined {
    return this.#final;
  }

  /** The events that open a stream: the Response created, then in progress. */
  start(): ResponseEvent[] {
    const response = responseObject(this.#meta, { status: 'in_progress' });
    return [this.#event('response.created', { response }), this.#event('response.in_progress', { response })];
  }

  /** The events one chat chunk stands for. */
  push(json: unknown): ResponseEvent[] {
    const chunk = chatChunk.parse(json);
    if (chunk.usage) this.#chatUsage = chunk.usage;
    const choice = chunk.choices?.find((c) => (c.index ?? 0) === 0);
    if (!choice) return [];
    const events: ResponseEvent[] = [];
    const content = choice.delta?.content;
    if (content) events.push(...this.#text(content, 'output_text'));
    const refusal = choice.delta?.refusal;
    if (refusal) events.push(...this.#text(refusal, 'refusal'));
    for (const call of choice.delta?.tool_calls ?? []) events.push(...this.#toolCall(call));
    if (choice.finish_reason) this.#finishReason = choice.finish_reason;
    return events;
  }

  /** The events that end a complete answer: open items done, then the Response completed (or incomplete) with usage. */
  finish(usage: MeteredUsage, completedAtS: number): ResponseEvent[] {
    const events = this.#closeOpen();
    const incomplete = this.#finishReason === 'length' || this.#finishReason === 'content_filter';
    const status = incomplete ? 'incomplete' : 'completed';
    this.#final = responseObject(this.#meta, {
      status,
      completed_at: incomplete ? null : completedAtS,
      incomplete_details: incomplete ? { reason: this.#finishReason === 'length' ? 'max_output_tokens' : 'content_filter' } : null,
      output: [...this.#output],
      usage: responseUsage(usage, this.#chatUsage),
    });
    events.push(this.#event(incomplete ? 'response.incomplete' : 'response.completed', { response: this.#final }));
    return events;
  }

  /** The events that end a broken answer: an error, then the Response failed. Never a completion. */
  fail(error: { code: string; message: string }): ResponseEvent[] {
    const response = responseObject(this.#meta, {
      status: 'failed',
      error: { code: 'server_error', message: error.message },
      output: [...this.#output],
    });
    return [this.#event('error', { code: error.code, message: error.message, param: null }), this.#event('response.failed', { response })];
  }

  #text(delta: string, part: PartKind): ResponseEvent[] {
    const events: ResponseEvent[] = [];
    let open = this.#open;
    if (open?.kind !== 'message' || open.part !== part) {
      events.push(...this.#closeOpen());
      open = { kind: 'message', part, outputIndex: this.#output.length, id: `msg_${this.#bareId()}`, text: '' };
      this.#open = open;
      this.#output.push(this.#messageItem(open, 'in_progress'));
      events.push(
        this.#event('response.output_item.added', { output_index: open.outputIndex, item: this.#messageItem(open, 'in_progress', []) }),
      );
      events.push(this.#event('response.content_part.added', { ...this.#at(open), content_index: 0, part: contentPart(part, '') }));
    }
    open.text += delta;
    const logprobs = part === 'output_text' ? { logprobs: [] } : {};
    events.push(this.#event(PART_EVENTS[part].delta, { ...this.#at(open), content_index: 0, delta, ...logprobs }));
    return events;
  }

  #toolCall(call: z.output<typeof toolCallDelta>): ResponseEvent[] {
    const events: ResponseEvent[] = [];
    let open = this.#open;
    if (open?.kind !== 'function_call' || open.chatIndex !== call.index) {
      events.push(...this.#closeOpen());
      open = {
        kind: 'function_call',
        outputIndex: this.#output.length,
        id: `fc_${this.#bareId()}`,
        callId: call.id ?? `call_${this.#bareId()}`,
        name: call.function?.name ?? '',
        arguments: '',
        chatIndex: call.index,
      };
      this.#open = open;
      this.#output.push(this.#functionItem(open, 'in_progress'));
      events.push(
        this.#event('response.output_item.added', { output_index: open.outputIndex, item: this.#functionItem(open, 'in_progress') }),
      );
    } else if (call.function?.name) {
      open.name += call.function.name;
    }
    const delta = call.function?.arguments;
    if (delta) {
      open.arguments += delta;
      events.push(this.#event('response.function_call_arguments.delta', { ...this.#at(open), delta }));
    }
    return events;
  }

  #closeOpen(): ResponseEvent[] {
    const open = this.#open;
    this.#open = undefined;
    if (!open) return [];
    if (open.kind === 'message') {
      const item = this.#messageItem(open, 'completed');
      this.#output[open.outputIndex] = item;
      const { done, field } = PART_EVENTS[open.part];
      const logprobs = open.part === 'output_text' ? { logprobs: [] } : {};
      return [
        this.#event(done, { ...this.#at(open), content_index: 0, [field]: open.text, ...logprobs }),
        this.#event('response.content_part.done', { ...this.#at(open), content_index: 0, part: contentPart(open.part, open.text) }),
        this.#event('response.output_item.done', { output_index: open.outputIndex, item }),
      ];
    }
    const item = this.#functionItem(open, 'completed');
    this.#output[open.outputIndex] = item;
    return [
      this.#event('response.function_call_arguments.done', { ...this.#at(open), name: open.name, arguments: open.arguments }),
      this.#event('response.output_item.done', { output_index: open.outputIndex, item }),
    ];
  }

  #messageItem(
    open: { id: string; part: PartKind; text: string },
    status: string,
    content = [contentPart(open.part, open.text)],
  ): ResponseItem {
    return { id: open.id, type: 'message', role: 'assistant', status, content };
  }

  #functionItem(open: Extract<OpenItem, { kind: 'function_call' }>, status: string): ResponseItem {
    return { id: open.id, type: 'function_call', call_id: open.callId, name: open.name, arguments: open.arguments, status };
  }

  #at(open: OpenItem): { item_id: string; output_index: number } {
    return { item_id: open.id, output_index: open.outputIndex };
  }

  #bareId(): string {
    return this.#meta.newId().replaceAll('-', '');
  }

  #event(type: string, fields: Record<string, unknown>): ResponseEvent {
    const event = { type, ...fields, sequence_number: this.#sequence };
    this.#sequence += 1;
    return event;
  }
}

function contentPart(part: PartKind, text: string): Record<string, unknown> {
  return part === 'output_text' ? { type: 'output_text', text, annotations: [], logprobs: [] } : { type: 'refusal', refusal: text };
}

const encoder = new TextEncoder();

/** One stream event as SSE, named as OpenAI names it; JSON.stringify never emits a raw line break. */
export function responseEventBytes(event: ResponseEvent): Uint8Array {
  return encoder.encode(`event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
}
