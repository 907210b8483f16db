import type { TokenCredential } from '@azure/identity';
import type { Deployment } from '../catalog/schemas.js';
import { upstreamSecretRefusal } from '../catalog/upstream-secrets.js';
import type { UpstreamCredential } from '../upstreams/upstream-port.js';

const REFRESH_MARGIN_MS = 5 * 60_000;

/**
 * DefaultAzureCredential, loaded and built at its first token request: @azure/identity (with MSAL) is the
 * largest package an instance could load, and one on keys never needs it.
 */
export function lazyDefaultCredential(): TokenCredential {
  let credential: Promise<TokenCredential> | undefined;
  return {
    async getToken(scopes, options) {
      credential ??= import('@azure/identity').then(({ DefaultAzureCredential }) => new DefaultAzureCredential());
      return (await credential).getToken(scopes, options);
    },
  };
}

/**
 * Credentials for upstream calls: a key read from the app setting the deployment names (in Azure a Key
 * Vault reference), or an Entra token for the deployment's scope, cached until shortly before it expires.
 * `upstreamSecretSettings` is the explicit allow-list of settings besides those starting with UPSTREAM_.
 */
export function createCredentialSource(
  env: NodeJS.ProcessEnv,
  tokenCredential: () => TokenCredential,
  upstreamSecretSettings: readonly string[],
): (deployment: Deployment) => Promise<UpstreamCredential | undefined> {
  const tokens = new Map<string, () => Promise<string>>();
  return async (deployment) => {
    const auth = deployment.auth;
    switch (auth.type) {
      case 'none':
        return undefined;
      case 'key': {
        // Checked again here, not only when the deployment is saved: a document stored before the rule, or
        // written to the store directly, must not send the admin key or the store's key anywhere.
        const refusal = upstreamSecretRefusal(auth.secret, upstreamSecretSettings);
        if (refusal) throw new Error(`deployment ${deployment.id} may not use app setting ${auth.secret}: ${refusal}`);
        const value = env[auth.secret];
        if (!value) throw new Error(`app setting ${auth.secret} named by deployment ${deployment.id} is not set`);
        // App Service leaves the reference text in place when it cannot resolve it; never send that upstream.
        if (value.startsWith('@Microsoft.KeyVault(')) throw new Error(`app setting ${auth.secret} is an unresolved Key Vault reference`);
        return { kind: 'key', value };
      }
      case 'entra': {
        let source = tokens.get(auth.scope);
        if (!source) {
          source = entraTokenSource(tokenCredential, auth.scope);
          tokens.set(auth.scope, source);
        }
        return { kind: 'bearer', value: await source() };
      }
    }
  };
}

/**
 * An Entra token for one scope, cached until shortly before it expires; concurrent callers share one request,
 * and a failed request is not cached (the next call asks again).
 */
export function entraTokenSource(tokenCredential: () => TokenCredential, scope: string): () => Promise<string> {
  let pending: Promise<{ token: string; expiresOnTimestamp: number }> | undefined;
  return async () => {
    const cached = pending && (await pending.catch(() => undefined));
    if (!cached || cached.expiresOnTimestamp - REFRESH_MARGIN_MS < Date.now()) {
      const request = tokenCredential()
        .getToken(scope)
        .then((token) => {
          if (!token) throw new Error(`no Entra token for scope ${scope}`);
          return token;
        });
      pending = request;
      request.catch(() => {
        if (pending === request) pending = undefined;
      });
    }
    return (await pending!).token;
  };
}
