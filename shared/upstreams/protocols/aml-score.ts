import { z } from 'zod';
import { contentText, countChatPromptTokens, countTextTokens, type ChatMessageLike } from '../../usage/count-tokens.js';
import { countedUsage } from '../../usage/extract-usage.js';
import type { Answered, ChatBody, ChatContext, ProtocolRoom } from './protocol.js';
import { upstreamUrl } from './upstream-url.js';

/**
 * An Azure ML managed online endpoint (`/score`) running a catalog chat model: the deployment is pinned by
 * `azureml-model-deployment` (`upstream.amlDeployment`, else `upstreamModel`), the request is `input_data` and the answer a bare `{ output }` with no usage and
 * no stream, so the caller gets a chat completion built here with tokens counted by the tokenizer.
 */
export const amlScore: ProtocolRoom = {
  chat: {
    request: (target, body) => ({
      url: upstreamUrl(target.endpoint, '/score'),
      body: { input_data: { input_string: toAmlMessages(body.messages), parameters: toAmlParameters(body) } },
      // Named by `upstream.amlDeployment` (blue/green inside one endpoint), else by the upstream model as before.
      headers: { 'azureml-model-deployment': target.upstream?.amlDeployment ?? target.upstreamModel },
      streams: false,
    }),
    readAnswer: readScore,
  },
  // `input_data` carries message text and four sampling parameters only (AZURE.md §3.3): nothing beyond plain chat.
  defaultFeatures: [],
  authHeaders: (credential) => ({ authorization: `Bearer ${credential.value}` }),
};

function toAmlMessages(messages: readonly ChatMessageLike[]): Array<{ role: string; content: string }> {
  return messages.map((message) => ({
    role: typeof message.role === 'string' ? message.role : 'user',
    content: contentText(message.content),
  }));
}

function toAmlParameters(body: ChatBody): Record<string, unknown> {
  const parameters: Record<string, unknown> = {};
  const maxTokens = body.max_completion_tokens ?? body.max_tokens;
  if (typeof maxTokens === 'number') parameters.max_new_tokens = maxTokens;
  if (typeof body.temperature === 'number') {
    parameters.temperature = body.temperature;
    parameters.do_sample = body.temperature > 0;
  }
  if (typeof body.top_p === 'number') parameters.top_p = body.top_p;
  return parameters;
}

const scoreAnswer = z.looseObject({ output: z.string() });

function readScore(text: string, context: ChatContext): Answered {
  const parsed = scoreAnswer.safeParse(JSON.parse(text));
  if (!parsed.success) throw new Error('the managed endpoint answered without an output string');
  const output = parsed.data.output;
  const inputTokens = countChatPromptTokens(context.request.messages);
  const outputTokens = countTextTokens(output);
  const maxTokens = context.request.max_completion_tokens ?? context.request.max_tokens;
  const completion = {
    id: `chatcmpl-${context.newId().replace(/-/g, '')}`,
    object: 'chat.completion',
    created: Math.floor(context.now() / 1000),
    model: context.target.upstreamModel,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: output, refusal: null },
        finish_reason: typeof maxTokens === 'number' && outputTokens >= maxTokens ? 'length' : 'stop',
        logprobs: null,
      },
    ],
    usage: { prompt_tokens: inputTokens, completion_tokens: outputTokens, total_tokens: inputTokens + outputTokens },
  };
  return { json: JSON.stringify(completion), usage: { ...countedUsage(inputTokens, outputTokens), estimated: true } };
}
