import type { AccessToken, TokenCredential } from '@azure/identity';
import { describe, expect, it } from 'vitest';
import { deploymentSchema, type Deployment } from '../../shared/catalog/schemas.js';
import { createCredentialSource } from '../../shared/composition/credentials.js';

const deployment = (auth: Deployment['auth']): Deployment =>
  deploymentSchema.parse({
    id: 'dep-1',
    kind: 'serverless',
    protocol: 'openai',
    endpoint: 'https://my-resource.openai.azure.com',
    upstreamModel: 'gpt-4o-mini',
    auth,
    pricing: { inputPerMillionUsd: 1, outputPerMillionUsd: 1 },
  });

/** A TokenCredential (the @azure/identity interface) that hands out numbered tokens and records each scope asked. */
function tokenCredential(expiresInMs: number | (() => number)) {
  const scopes: string[] = [];
  let fail: Error | undefined;
  const credential: TokenCredential = {
    async getToken(scope) {
      const asked = Array.isArray(scope) ? scope.join(' ') : scope;
      scopes.push(asked);
      if (fail) throw fail;
      const lifetime = typeof expiresInMs === 'function' ? expiresInMs() : expiresInMs;
      return { token: `token-${scopes.length}-${asked}`, expiresOnTimestamp: Date.now() + lifetime } satisfies AccessToken;
    },
  };
  return { credential, scopes, failWith: (error: Error | undefined) => (fail = error) };
}

const noEntra = (): TokenCredential => {
  throw new Error('no Entra credential should be built for this deployment');
};

describe('upstream credentials', () => {
  it('reads a key from the app setting the deployment names, and only that one', async () => {
    const credentialFor = createCredentialSource({ UPSTREAM_FOUNDRY_KEY: 'foundry-secret', UPSTREAM_OTHER: 'other-secret' }, noEntra, []);
    expect(await credentialFor(deployment({ type: 'key', secret: 'UPSTREAM_FOUNDRY_KEY' }))).toEqual({
      kind: 'key',
      value: 'foundry-secret',
    });
    expect(await credentialFor(deployment({ type: 'none' }))).toBeUndefined();
  });

  it('reads a listed setting outside UPSTREAM_*, and re-reads the environment on each call', async () => {
    const env: NodeJS.ProcessEnv = { PARTNER_API_KEY: 'first' };
    const credentialFor = createCredentialSource(env, noEntra, ['PARTNER_API_KEY']);
    expect(await credentialFor(deployment({ type: 'key', secret: 'PARTNER_API_KEY' }))).toEqual({ kind: 'key', value: 'first' });
    env.PARTNER_API_KEY = 'rotated';
    expect(await credentialFor(deployment({ type: 'key', secret: 'PARTNER_API_KEY' }))).toEqual({ kind: 'key', value: 'rotated' });
  });

  it("refuses a setting that is Switchyard's own or not an upstream secret, without sending or naming its value", async () => {
    const env = { SWITCHYARD_ADMIN_KEY: 'admin-value-1234567890', PARTNER_API_KEY: 'partner-value' };
    const credentialFor = createCredentialSource(env, noEntra, []);
    // Built directly: a document written to the store by hand never passed the schema's check.
    const stored = (secret: string) => ({ ...deployment({ type: 'key', secret: 'UPSTREAM_X' }), auth: { type: 'key' as const, secret } });
    const own = credentialFor(stored('SWITCHYARD_ADMIN_KEY'));
    await expect(own).rejects.toThrow(/deployment dep-1 may not use app setting SWITCHYARD_ADMIN_KEY: .*Switchyard's own settings/);
    await expect(own).rejects.not.toThrow(/admin-value/);
    await expect(credentialFor(stored('PARTNER_API_KEY'))).rejects.toThrow(/not an upstream secret setting/);
  });

  it('refuses a missing, empty or unresolved Key Vault setting rather than sending it', async () => {
    const env = { UPSTREAM_EMPTY: '', UPSTREAM_VAULT: '@Microsoft.KeyVault(SecretUri=https://v.vault.azure.net/secrets/k/)' };
    const credentialFor = createCredentialSource(env, noEntra, []);
    await expect(credentialFor(deployment({ type: 'key', secret: 'UPSTREAM_ABSENT' }))).rejects.toThrow(
      'app setting UPSTREAM_ABSENT named by deployment dep-1 is not set',
    );
    await expect(credentialFor(deployment({ type: 'key', secret: 'UPSTREAM_EMPTY' }))).rejects.toThrow(/UPSTREAM_EMPTY .* is not set/);
    await expect(credentialFor(deployment({ type: 'key', secret: 'UPSTREAM_VAULT' }))).rejects.toThrow(
      'app setting UPSTREAM_VAULT is an unresolved Key Vault reference',
    );
  });

  it('asks the TokenCredential for the deployment scope once, and reuses the token while it is far from expiry', async () => {
    const entra = tokenCredential(60 * 60_000);
    const credentialFor = createCredentialSource({}, () => entra.credential, []);
    const ml = deployment({ type: 'entra', scope: 'https://ml.azure.com/.default' });
    const cognitive = deployment({ type: 'entra', scope: 'https://cognitiveservices.azure.com/.default' });
    const [first, second] = await Promise.all([credentialFor(ml), credentialFor(ml)]);
    expect(first).toEqual({ kind: 'bearer', value: 'token-1-https://ml.azure.com/.default' });
    expect(second).toEqual(first);
    expect(await credentialFor(cognitive)).toEqual({ kind: 'bearer', value: 'token-2-https://cognitiveservices.azure.com/.default' });
    expect(await credentialFor(ml)).toEqual(first);
    expect(entra.scopes).toEqual(['https://ml.azure.com/.default', 'https://cognitiveservices.azure.com/.default']);
  });

  it('asks again for a token within five minutes of its expiry, and after a failure', async () => {
    let lifetimeMs = 4 * 60_000;
    const entra = tokenCredential(() => lifetimeMs);
    const credentialFor = createCredentialSource({}, () => entra.credential, []);
    const ml = deployment({ type: 'entra', scope: 'https://ml.azure.com/.default' });
    expect(await credentialFor(ml)).toMatchObject({ value: 'token-1-https://ml.azure.com/.default' });
    lifetimeMs = 60 * 60_000;
    expect(await credentialFor(ml)).toMatchObject({ value: 'token-2-https://ml.azure.com/.default' });
    expect(await credentialFor(ml)).toMatchObject({ value: 'token-2-https://ml.azure.com/.default' });

    const other = deployment({ type: 'entra', scope: 'https://other.example/.default' });
    entra.failWith(new Error('managed identity unavailable'));
    await expect(credentialFor(other)).rejects.toThrow('managed identity unavailable');
    entra.failWith(undefined);
    expect(await credentialFor(other)).toMatchObject({ value: 'token-4-https://other.example/.default' });
    expect(entra.scopes).toHaveLength(4);
  });
});
