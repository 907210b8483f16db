/** The prefix of app settings that hold upstream secrets: a deployment's `auth.secret` may name these. */
export const UPSTREAM_SECRET_PREFIX = 'UPSTREAM_';

// Settings of Switchyard, the Functions host, App Service and Azure identity: credentials for the store,
// the platform and Key Vault. Compared without case, as Windows plans read settings without case.
const RESERVED_PREFIXES = [
  'SWITCHYARD_',
  'COSMOS_',
  'CONTENT_SAFETY_',
  'AZUREWEBJOBS',
  'AZURE_',
  'IDENTITY_',
  'MSI_',
  'IMDS_',
  'WEBSITE_',
  'WEBSITES_',
  'FUNCTIONS_',
  'APPSETTING_',
  'APPLICATIONSETTING_',
  'APPINSIGHTS',
  'APPLICATIONINSIGHTS_',
  'KEYVAULT',
  'KEY_VAULT',
  'SCM_',
  'CONTAINER_',
  'MICROSOFT_PROVIDER_',
  'DEPLOYMENT_STORAGE_',
];

/** True for a setting that belongs to Switchyard or its platform: no deployment may ever name it. */
export function isReservedSetting(name: string): boolean {
  const upper = name.toUpperCase();
  return RESERVED_PREFIXES.some((prefix) => upper.startsWith(prefix));
}

/**
 * Why a deployment may not send the app setting `name` upstream as its key, or undefined when it may:
 * it must start with UPSTREAM_ or be on the explicit allow-list, and never be one of Switchyard's own.
 */
export function upstreamSecretRefusal(name: string, allowList: readonly string[]): string | undefined {
  if (isReservedSetting(name)) return `'${name}' is one of Switchyard's own settings and can never be sent upstream`;
  if (name.startsWith(UPSTREAM_SECRET_PREFIX) || allowList.includes(name)) return undefined;
  return `'${name}' is not an upstream secret setting: name a setting starting with ${UPSTREAM_SECRET_PREFIX}, or list it in SWITCHYARD_UPSTREAM_SECRET_SETTINGS`;
}
