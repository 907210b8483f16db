import { featureNames, type Feature } from '../upstreams/protocols/features.js';

/** A feature a request uses, and the field that makes it use it (the `param` of a refusal). */
export interface RequestFeature {
  feature: Feature;
  param: string;
}

const present = (value: unknown) => value !== undefined && value !== null;
const nonEmpty = (value: unknown) => (Array.isArray(value) ? value.length > 0 : typeof value === 'string' ? value !== '' : present(value));
const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** The content part types that carry an image (chat completions' `image_url`, the Responses API's `input_image`). */
const IMAGE_PARTS = new Set(['image_url', 'input_image']);
const STRUCTURED_FORMATS = new Set(['json_object', 'json_schema']);

/**
 * Which features a chat completions request uses, each with the first field that uses it, in the order of
 * `featureNames`. A field sent as `null`, `false`, empty or `none` asks for nothing and uses nothing.
 */
export function chatRequestFeatures(body: Readonly<Record<string, unknown>>): RequestFeature[] {
  const found = new Map<Feature, string>();
  const use = (feature: Feature, param: string) => {
    if (!found.has(feature)) found.set(feature, param);
  };

  if (nonEmpty(body.tools)) use('tools', 'tools');
  if (present(body.tool_choice) && body.tool_choice !== 'none') use('tools', 'tool_choice');
  if (nonEmpty(body.functions)) use('tools', 'functions');
  if (present(body.function_call) && body.function_call !== 'none') use('tools', 'function_call');

  const format = isRecord(body.response_format) ? body.response_format.type : undefined;
  if (typeof format === 'string' && STRUCTURED_FORMATS.has(format)) use('structured-output', 'response_format');

  const messages = Array.isArray(body.messages) ? body.messages : [];
  messages.forEach((message: unknown, index) => {
    if (!isRecord(message)) return;
    // A conversation that carries tool calls or their results only makes sense to a model that speaks tools.
    if (message.role === 'tool' || message.role === 'function' || nonEmpty(message.tool_calls) || present(message.function_call)) {
      use('tools', `messages.${index}`);
    }
    if (Array.isArray(message.content) && message.content.some((part) => isRecord(part) && IMAGE_PARTS.has(String(part.type)))) {
      use('vision', `messages.${index}.content`);
    }
  });

  if (body.logprobs === true) use('logprobs', 'logprobs');
  if (present(body.top_logprobs)) use('logprobs', 'top_logprobs');
  if (typeof body.n === 'number' && body.n > 1) use('multiple-choices', 'n');
  if (present(body.reasoning_effort)) use('reasoning', 'reasoning_effort');
  if (nonEmpty(body.stop)) use('stop', 'stop');
  if (present(body.seed)) use('seed', 'seed');

  return featureNames.filter((feature) => found.has(feature)).map((feature) => ({ feature, param: found.get(feature)! }));
}
