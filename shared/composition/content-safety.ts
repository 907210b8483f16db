import type { TokenCredential } from '@azure/identity';
import type { ContentSafetyPort } from '../safety/content-safety-client.js';
import type { SendUpstream } from '../upstreams/upstream-port.js';
import { entraTokenSource } from './credentials.js';

export interface ContentSafetySettings {
  /** CONTENT_SAFETY_ENDPOINT (infra/main.bicep sets it when Content Safety is deployed); unset: not configured. */
  endpoint: string | undefined;
  /** A key setting's value, when the resource allows keys; unset: Entra ID (managed identity, Cognitive Services User). */
  key: string | undefined;
  /** Longest one screening may take, every chunk and the one retry included. */
  timeoutMs: number;
}

/**
 * The Content Safety port for the settings, or undefined when none is configured (profiles that need it meet onOutage).
 * The client is loaded at the first call, so instances whose teams are not screened never load it.
 */
export function createContentSafety(
  settings: ContentSafetySettings,
  deps: { send: SendUpstream; tokenCredential: () => TokenCredential; now: () => number },
): ContentSafetyPort | undefined {
  if (!settings.endpoint) return undefined;
  const { endpoint, key, timeoutMs } = settings;
  let client: Promise<ContentSafetyPort> | undefined;
  const loaded = () =>
    (client ??= import('../safety/content-safety-client.js').then(({ CONTENT_SAFETY_SCOPE, ContentSafetyClient }) => {
      const token = entraTokenSource(deps.tokenCredential, CONTENT_SAFETY_SCOPE);
      return new ContentSafetyClient({
        endpoint,
        send: deps.send,
        credential: key ? async () => ({ kind: 'key', value: key }) : async () => ({ kind: 'bearer', value: await token() }),
        now: deps.now,
        timeoutMs,
      });
    }));
  return {
    analyze: async (request, signal) => (await loaded()).analyze(request, signal),
    shieldPrompt: async (request, signal) => (await loaded()).shieldPrompt(request, signal),
    syncBlocklist: async (list, signal) => (await loaded()).syncBlocklist(list, signal),
    deleteBlocklist: async (name, signal) => (await loaded()).deleteBlocklist(name, signal),
  };
}
