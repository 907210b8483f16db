import { z } from 'zod';
import { SSE_DONE, sseData } from '../http/sse.js';

const chatCompletion = z.looseObject({
  id: z.string(),
  created: z.number(),
  model: z.string(),
  choices: z.array(
    z.looseObject({
      index: z.number(),
      message: z.looseObject({ content: z.string().nullable() }),
      finish_reason: z.string().nullable(),
    }),
  ),
  usage: z.unknown().optional(),
});

/**
 * A finished chat completion told as a stream, for callers that asked to stream from an upstream that cannot:
 * per choice, the role, the content and the finish reason; then usage if the caller asked for it; then [DONE].
 */
export function completionAsStream(json: string, includeUsage: boolean): ReadableStream<Uint8Array> {
  const { id, created, model, choices, usage } = chatCompletion.parse(JSON.parse(json));
  const chunk = (chunkChoices: unknown[], extra: Record<string, unknown> = {}) =>
    sseData({ id, object: 'chat.completion.chunk', created, model, choices: chunkChoices, ...extra });
  const events: Uint8Array[] = [];
  for (const { index, message, finish_reason } of choices) {
    events.push(
      chunk([{ index, delta: { role: 'assistant', content: '' }, finish_reason: null }]),
      chunk([{ index, delta: { content: message.content ?? '' }, finish_reason: null }]),
      chunk([{ index, delta: {}, finish_reason }]),
    );
  }
  if (includeUsage) events.push(chunk([], { usage }));
  events.push(SSE_DONE);
  let next = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      controller.enqueue(events[next]!);
      next += 1;
      if (next === events.length) controller.close();
    },
  });
}
