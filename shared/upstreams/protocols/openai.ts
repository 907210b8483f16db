import { z } from 'zod';
import { countChatPromptTokens, countEmbeddingInputTokens, countTextTokens } from '../../usage/count-tokens.js';
import { countedUsage, usageFrom } from '../../usage/extract-usage.js';
import { StreamTap } from '../../usage/stream-tap.js';
import type { Answered, ChatBody, ChatContext, ChatStreamReader, EmbeddingsBody, ProtocolRoom, UpstreamTarget } from './protocol.js';
import { upstreamUrl } from './upstream-url.js';

/** Any OpenAI-compatible endpoint: Foundry serverless, Azure OpenAI's `/openai/v1`, vLLM. */
export const openai: ProtocolRoom = {
  chat: {
    request: (target, body, stream) => ({
      url: upstreamUrl(target.endpoint, '/chat/completions', apiVersionQuery(target)),
      body: { ...withStreamUsage(target, body, stream), model: target.upstreamModel },
      headers: amlDeploymentHeader(target),
      streams: stream,
    }),
    readAnswer: readChatCompletion,
    streaming: { reader: readChatStream },
  },
  embeddings: {
    request: (target, body) => ({
      url: upstreamUrl(target.endpoint, '/embeddings', apiVersionQuery(target)),
      body: { ...body, model: target.upstreamModel },
      streams: false,
    }),
    readAnswer: readEmbeddings,
  },
  // Plain OpenAI chat fields reach the model as sent; reasoning and the Responses API depend on the model, so only declared.
  defaultFeatures: ['tools', 'structured-output', 'vision', 'logprobs', 'multiple-choices', 'stop', 'seed'],
  responses: {
    request: (target, body, stream) => ({
      url: upstreamUrl(target.endpoint, '/responses', apiVersionQuery(target)),
      body: { ...body, model: target.upstreamModel, stream },
      streams: stream,
    }),
  },
  // Serverless (MaaS) endpoints read the key from either header; sending both is what Azure's SDK does.
  authHeaders: (credential): Record<string, string> =>
    credential.kind === 'key'
      ? { 'api-key': credential.value, authorization: `Bearer ${credential.value}` }
      : { authorization: `Bearer ${credential.value}` },
};

function apiVersionQuery(target: UpstreamTarget): Record<string, string> | undefined {
  return target.apiVersion ? { 'api-version': target.apiVersion } : undefined;
}

/**
 * A streamed request that also asks for the usage chunk, which the stream reader hides unless the caller asked too.
 * An endpoint that refuses `stream_options` (`upstream.streamOptions: false`) gets none, the caller's included; the
 * stream's usage is then counted by the tokenizer and metered as estimated.
 */
export function withStreamUsage(target: UpstreamTarget, body: ChatBody, stream: boolean): ChatBody {
  if (target.upstream?.streamOptions === false) {
    const { stream_options: _dropped, ...rest } = body;
    return stream ? { ...rest, stream: true } : rest;
  }
  if (!stream) return body;
  return { ...body, stream: true, stream_options: { ...body.stream_options, include_usage: true } };
}

/** A model served OpenAI-style from an Azure ML managed online endpoint, pinned to one of its deployments when named. */
function amlDeploymentHeader(target: UpstreamTarget): Record<string, string> | undefined {
  const deployment = target.upstream?.amlDeployment;
  return deployment === undefined ? undefined : { 'azureml-model-deployment': deployment };
}

const choicesText = z.looseObject({
  choices: z.array(z.looseObject({ message: z.looseObject({ content: z.unknown() }).optional() })).optional(),
});

/** An OpenAI chat completion, passed on as it came; its usage as reported, else counted. */
export function readChatCompletion(text: string, context: ChatContext): Answered {
  const parsed: unknown = JSON.parse(text);
  if (!parsed || typeof parsed !== 'object') throw new Error('upstream answered with a non-object body');
  const reported = usageFrom(parsed);
  if (reported) return { json: text, usage: { ...reported, estimated: false } };
  const choices = choicesText.safeParse(parsed).data?.choices ?? [];
  const completion = choices.map((choice) => (typeof choice.message?.content === 'string' ? choice.message.content : '')).join('');
  return {
    json: text,
    usage: { ...countedUsage(countChatPromptTokens(context.request.messages), countTextTokens(completion)), estimated: true },
  };
}

/** An OpenAI chat-completion-chunk stream, passed on untouched but for a usage chunk the caller did not ask for. */
export function readChatStream(context: ChatContext): ChatStreamReader {
  const tap = new StreamTap({ callerWantsUsage: context.request.stream_options?.include_usage === true });
  return {
    push: (chunk) => tap.push(chunk),
    get complete() {
      return tap.summary.sawDone;
    },
    usage() {
      const reported = tap.summary.usage;
      if (reported) return { ...reported, estimated: false };
      return { ...countedUsage(countChatPromptTokens(context.request.messages), tap.completionTokens()), estimated: true };
    },
  };
}

/** OpenAI embeddings, passed on as they came; input tokens as reported, else counted. */
export function readEmbeddings(text: string, body: EmbeddingsBody): Answered {
  const reported = usageFrom(JSON.parse(text));
  return {
    json: text,
    usage: reported
      ? { ...countedUsage(reported.inputTokens, 0), estimated: false }
      : { ...countedUsage(countEmbeddingInputTokens(body.input), 0), estimated: true },
  };
}
