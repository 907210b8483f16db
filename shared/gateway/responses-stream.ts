import { errors, type GatewayError } from '../errors.js';
import { SseSplitter } from '../http/sse.js';
import type { ChatStreamReader, MeteredUsage } from '../upstreams/protocols/index.js';
import { completionAsChunk, responseEventBytes, type ResponseObject, type ResponseTranslator } from './responses-translation.js';

/**
 * A chat stream reader told as Responses events: the chat reader's chunks (already OpenAI chat-completion
 * chunks, whatever the upstream's protocol) are split, translated and framed as they arrive; the completion
 * events follow the chat stream's own end. `onComplete` gets the finished Response.
 */
export function responsesStreamReader(
  chat: ChatStreamReader,
  translator: ResponseTranslator,
  nowS: () => number,
  onComplete: (response: ResponseObject) => void,
): ChatStreamReader {
  const splitter = new SseSplitter();
  let started = false;
  return {
    push(chunk) {
      const events = started ? [] : translator.start();
      started = true;
      for (const bytes of chat.push(chunk)) {
        for (const event of splitter.push(bytes)) {
          if (!event.data || event.data === '[DONE]') continue;
          const json: unknown = JSON.parse(event.data);
          // An error event inside a chat stream ends it as broken, never as a completion.
          if (json && typeof json === 'object' && 'error' in json) throw errors.upstreamError('The model stream reported an error.');
          events.push(...translator.push(json));
        }
      }
      if (chat.complete) {
        events.push(...translator.finish(chat.usage(), nowS()));
        onComplete(translator.response!);
      }
      return events.map(responseEventBytes);
    },
    get complete() {
      return chat.complete;
    },
    usage: () => chat.usage(),
  };
}

/** The events that end a Responses stream that broke. */
export function responsesFailureEvents(translator: ResponseTranslator, error: GatewayError): Uint8Array[] {
  return translator.fail(error).map(responseEventBytes);
}

/** A whole chat completion told as the full Responses event stream, for upstreams that cannot stream. */
export function completionAsResponseEvents(
  json: string,
  usage: MeteredUsage,
  translator: ResponseTranslator,
  completedAtS: number,
): ResponseEvent[] {
  return [...translator.start(), ...translator.push(completionAsChunk(JSON.parse(json))), ...translator.finish(usage, completedAtS)];
}

type ResponseEvent = ReturnType<ResponseTranslator['start']>[number];

/** Events as a byte stream. */
export function eventStream(events: readonly ResponseEvent[]): ReadableStream<Uint8Array> {
  let next = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      const event = events[next];
      next += 1;
      if (event) controller.enqueue(responseEventBytes(event));
      if (next >= events.length) controller.close();
    },
  });
}
