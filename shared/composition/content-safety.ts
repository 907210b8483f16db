import type { TokenCredential } from '@azure/identity';
import { CONTENT_SAFETY_SCOPE, ContentSafetyClient, type ContentSafetyPort } from '../safety/content-safety-client.js';
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

/** The Content Safety port for the settings, or undefined when none is configured (profiles that need it meet onOutage). */
export function createContentSafety(
  settings: ContentSafetySettings,
  deps: { send: SendUpstream; tokenCredential: () => TokenCredential; now: () => number },
): ContentSafetyPort | undefined {
  if (!settings.endpoint) return undefined;
  const key = settings.key;
  const token = entraTokenSource(deps.tokenCredential, CONTENT_SAFETY_SCOPE);
  return new ContentSafetyClient({
    endpoint: settings.endpoint,
    send: deps.send,
    credential: key ? async () => ({ kind: 'key', value: key }) : async () => ({ kind: 'bearer', value: await token() }),
    now: deps.now,
    timeoutMs: settings.timeoutMs,
  });
}
