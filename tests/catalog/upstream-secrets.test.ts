import { describe, expect, it } from 'vitest';
import { isReservedSetting, upstreamSecretRefusal } from '../../shared/catalog/upstream-secrets.js';

describe('upstreamSecretRefusal', () => {
  it.each(['UPSTREAM_OPENAI_KEY', 'UPSTREAM_SIM_KEY', 'UPSTREAM_'])('lets a deployment name %s', (name) => {
    expect(upstreamSecretRefusal(name, [])).toBeUndefined();
  });

  it('lets a deployment name a setting on the explicit allow-list', () => {
    expect(upstreamSecretRefusal('OPENAI_API_KEY', ['OPENAI_API_KEY'])).toBeUndefined();
    expect(upstreamSecretRefusal('OPENAI_API_KEY', [])).toMatch(/not an upstream secret setting/);
    expect(upstreamSecretRefusal('openai_api_key', ['OPENAI_API_KEY'])).toMatch(/not an upstream secret setting/);
  });

  it.each([
    'SWITCHYARD_ADMIN_KEY',
    'SWITCHYARD_DEMO_KEY',
    'switchyard_admin_key',
    'COSMOS_KEY',
    'AzureWebJobsStorage',
    'AzureWebJobsSecretStorageKeyVaultUri',
    'AZURE_CLIENT_SECRET',
    'AZURE_KEYVAULT_URI',
    'IDENTITY_HEADER',
    'IDENTITY_ENDPOINT',
    'MSI_SECRET',
    'WEBSITE_AUTH_ENCRYPTION_KEY',
    'FUNCTIONS_WORKER_RUNTIME',
    'APPLICATIONSETTING_COSMOS_KEY',
    'APPSETTING_COSMOS_KEY',
    'APPINSIGHTS_INSTRUMENTATIONKEY',
    'APPLICATIONINSIGHTS_CONNECTION_STRING',
    'KEYVAULT_URI',
    'CONTAINER_ENCRYPTION_KEY',
    'MICROSOFT_PROVIDER_AUTHENTICATION_SECRET',
  ])('never lets a deployment name %s, even when allow-listed', (name) => {
    expect(isReservedSetting(name)).toBe(true);
    expect(upstreamSecretRefusal(name, [name])).toMatch(/Switchyard's own settings/);
  });
});
