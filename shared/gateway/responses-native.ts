import { z } from 'zod';
import type { GatewayError } from '../errors.js';
import { SseSplitter } from '../http/sse.js';
import { responsesUsageFrom } from '../usage/extract-usage.js';
import type { ChatStreamReader, MeteredUsage } from '../upstreams/protocols/index.js';
import { responseEventBytes, type ResponseObject } from './responses-translation.js';

// Answers of upstreams that speak the Responses API natively: passed on as they came, tapped for the finished
// Response (to store it) and its usage (to meter it).

const responseSchema = z.looseObject({
  id: z.string(),
  status: z.string(),
  output: z.array(z.looseObject({})),
  usage: z.unknown().optional(),
});
const eventSchema = z.looseObject({
  type: z.string(),
  sequence_number: z.number().int().optional(),
  delta: z.unknown().optional(),
  response: responseSchema.optional(),
});
const ENDINGS = new Set(['response.completed', 'response.incomplete', 'response.failed']);

/** Usage as the Response reported it, else estimated from its output text. */
function usageOf(response: z.output<typeof responseSchema>, estimate: (outputText: string) => MeteredUsage, text: string): MeteredUsage {
  const reported = responsesUsageFrom(response);
  if (reported) return { ...reported, estimated: false };
  return estimate(text);
}

/** A whole native Response: its bytes as they came, the Response, and its usage. Throws if it is not a Response. */
export function readNativeResponse(
  text: string,
  estimate: (outputText: string) => MeteredUsage,
): { json: string; response: ResponseObject; usage: MeteredUsage } {
  const response = responseSchema.parse(JSON.parse(text));
  const outputText = response.output
    .flatMap((item) => (Array.isArray(item.content) ? item.content : []))
    .map((part: { text?: unknown }) => (typeof part.text === 'string' ? part.text : ''))
    .join('');
  return { json: text, response: response as ResponseObject, usage: usageOf(response, estimate, outputText) };
}

export interface NativeStreamReader extends ChatStreamReader {
  /** The events that end this stream when it breaks, numbered after the last event passed on. */
  failureEvents(error: GatewayError): Uint8Array[];
}

/** Relays native Response events untouched; complete at the Response's last event, which `onComplete` gets. */
export function nativeStreamReader(
  estimate: (outputText: string) => MeteredUsage,
  onComplete: (response: ResponseObject) => void,
): NativeStreamReader {
  const splitter = new SseSplitter();
  let text = '';
  let sequence = -1;
  let started: z.output<typeof responseSchema> | undefined;
  let ended: z.output<typeof responseSchema> | undefined;
  return {
    push(chunk) {
      const out: Uint8Array[] = [];
      for (const event of splitter.push(chunk)) {
        out.push(event.raw);
        if (!event.data || ended) continue;
        const parsed = eventSchema.parse(JSON.parse(event.data));
        sequence = parsed.sequence_number ?? sequence + 1;
        started ??= parsed.response;
        if (parsed.type === 'response.output_text.delta' && typeof parsed.delta === 'string') text += parsed.delta;
        if (ENDINGS.has(parsed.type) && parsed.response) {
          ended = parsed.response;
          onComplete(ended as ResponseObject);
        }
      }
      return out;
    },
    get complete() {
      return ended !== undefined;
    },
    usage: () => (ended ? usageOf(ended, estimate, text) : estimate(text)),
    failureEvents(error) {
      const failed = { ...started, status: 'failed', error: { code: 'server_error', message: error.message } };
      return [
        responseEventBytes({ type: 'error', code: error.code, message: error.message, param: null, sequence_number: sequence + 1 }),
        responseEventBytes({ type: 'response.failed', response: failed, sequence_number: sequence + 2 }),
      ];
    },
  };
}
