import { errors, type GatewayError } from '../errors.js';
import { SseSplitter } from '../http/sse.js';
import type { ChatStreamReader, MeteredUsage } from '../upstreams/protocols/index.js';
import type { StreamGuard } from './relay-stream.js';
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
  const told = new ChatAsResponseEvents(translator, nowS, onComplete);
  return {
    push(chunk) {
      const events = told.events(chat.push(chunk));
      if (chat.complete) events.push(...told.finish(chat.usage()));
      return events;
    },
    get complete() {
      return chat.complete;
    },
    usage: () => chat.usage(),
  };
}

/** Chat chunk events told as Responses events as they come; `finish` adds the events that complete the Response. */
export class ChatAsResponseEvents {
  readonly #splitter = new SseSplitter();
  #started = false;

  constructor(
    private readonly translator: ResponseTranslator,
    private readonly nowS: () => number,
    private readonly onComplete: (response: ResponseObject) => void,
  ) {}

  events(chatEvents: readonly Uint8Array[]): Uint8Array[] {
    const events = this.#started ? [] : this.translator.start();
    this.#started = true;
    for (const bytes of chatEvents) {
      for (const event of this.#splitter.push(bytes)) {
        if (!event.data || event.data === '[DONE]') continue;
        const json: unknown = JSON.parse(event.data);
        // An error event inside a chat stream ends it as broken, never as a completion.
        if (json && typeof json === 'object' && 'error' in json) throw errors.upstreamError('The model stream reported an error.');
        events.push(...this.translator.push(json));
      }
    }
    return events.map(responseEventBytes);
  }

  finish(usage: MeteredUsage): Uint8Array[] {
    const events = this.translator.finish(usage, this.nowS());
    this.onComplete(this.translator.response!);
    return events.map(responseEventBytes);
  }
}

/**
 * A translated Responses stream screened as chat chunks before translation: a flagged answer reaches the
 * translator as a content_filter finish, which it tells as response.incomplete.
 */
export function screenedResponseEvents(chatGuard: StreamGuard, told: ChatAsResponseEvents, usage: () => MeteredUsage): StreamGuard {
  return {
    push: async (events) => told.events(await chatGuard.push(events)),
    end: async () => [...told.events(await chatGuard.end()), ...told.finish(usage())],
    get cut() {
      return chatGuard.cut;
    },
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
