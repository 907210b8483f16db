import type { ProtocolRoom, UpstreamTarget } from './protocol.js';
import { readChatCompletion, readChatStream, readEmbeddings, withStreamUsage } from './openai.js';
import { upstreamUrl } from './upstream-url.js';

const DEFAULT_API_VERSION = '2024-10-21';

/**
 * Azure OpenAI's deployment paths (`/openai/deployments/{upstreamModel}/…?api-version=`): OpenAI's bodies and
 * answers, with the model named by the path (so left out of the body) and the key in `api-key` alone.
 */
export const azureOpenai: ProtocolRoom = {
  chat: {
    request: (target, body, stream) => {
      const { model: _model, ...rest } = withStreamUsage(target, body, stream);
      return { url: deploymentUrl(target, 'chat/completions'), body: rest, streams: stream };
    },
    readAnswer: readChatCompletion,
    streaming: { reader: readChatStream },
  },
  embeddings: {
    request: (target, body) => {
      const { model: _model, ...rest } = body;
      return { url: deploymentUrl(target, 'embeddings'), body: rest, streams: false };
    },
    readAnswer: readEmbeddings,
  },
  // The Responses API exists only on the v1 surface, which names the deployment in `model` and takes no api-version.
  responses: {
    request: (target, body, stream) => ({
      url: upstreamUrl(target.endpoint, '/openai/v1/responses'),
      body: { ...body, model: target.upstreamModel, stream },
      streams: stream,
    }),
  },
  // Plain OpenAI chat fields reach the model as sent; reasoning and the Responses API depend on the model, so only declared.
  defaultFeatures: ['tools', 'structured-output', 'vision', 'logprobs', 'multiple-choices', 'stop', 'seed'],
  authHeaders: (credential): Record<string, string> =>
    credential.kind === 'key' ? { 'api-key': credential.value } : { authorization: `Bearer ${credential.value}` },
};

function deploymentUrl(target: UpstreamTarget, operation: string): string {
  return upstreamUrl(target.endpoint, `/openai/deployments/${encodeURIComponent(target.upstreamModel)}/${operation}`, {
    'api-version': target.callerApiVersion ?? target.apiVersion ?? DEFAULT_API_VERSION,
  });
}
