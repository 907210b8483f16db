import type { TokenCredential } from '@azure/identity';
import type { Deployment } from '../catalog/schemas.js';
import { upstreamSecretRefusal } from '../catalog/upstream-secrets.js';
import type { UpstreamCredential } from '../upstreams/upstream-port.js';

const REFRESH_MARGIN_MS = 5 * 60_000;

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
  const tokens = new Map<string, Promise<{ token: string; expiresOnTimestamp: number }>>();
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
        let pending = tokens.get(auth.scope);
        const cached = pending && (await pending.catch(() => undefined));
        if (!cached || cached.expiresOnTimestamp - REFRESH_MARGIN_MS < Date.now()) {
          pending = tokenCredential()
            .getToken(auth.scope)
            .then((token) => {
              if (!token) throw new Error(`no Entra token for scope ${auth.scope}`);
              return token;
            });
          tokens.set(auth.scope, pending);
          pending.catch(() => tokens.delete(auth.scope));
        }
        return { kind: 'bearer', value: (await pending!).token };
      }
    }
  };
}
