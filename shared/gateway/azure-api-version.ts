import { errors } from '../errors.js';
import type { GatewayRequest } from '../http/types.js';

/**
 * The dated Azure OpenAI data-plane api-versions (AZURE.md §2.1; Microsoft's api-version lifecycle page):
 * every GA version, then every inference preview. A version not listed is refused rather than guessed at,
 * since it would reach an azure-openai upstream as the caller sent it.
 */
export const AZURE_OPENAI_API_VERSIONS: ReadonlySet<string> = new Set([
  '2022-12-01',
  '2023-05-15',
  '2024-02-01',
  '2024-06-01',
  '2024-10-21',
  '2023-03-15-preview',
  '2023-06-01-preview',
  '2023-07-01-preview',
  '2023-08-01-preview',
  '2023-09-01-preview',
  '2023-10-01-preview',
  '2023-12-01-preview',
  '2024-02-15-preview',
  '2024-03-01-preview',
  '2024-04-01-preview',
  '2024-05-01-preview',
  '2024-07-01-preview',
  '2024-08-01-preview',
  '2024-09-01-preview',
  '2024-10-01-preview',
  '2024-12-01-preview',
  '2025-01-01-preview',
  '2025-02-01-preview',
  '2025-03-01-preview',
  '2025-04-01-preview',
]);

/** What the v1 surface takes (§2.2): GA needs none; `preview` is what its preview used, `v1` what `@ai-sdk/azure` sends. */
const V1_API_VERSIONS: ReadonlySet<string> = new Set(['v1', 'preview']);

/**
 * The api-version of a dated path, one of the known versions. Required where it is forwarded (`/openai/deployments/…`);
 * a listing (`/openai/models`) forwards nothing, so there it may be left out.
 */
export function datedApiVersion(request: GatewayRequest, options: { required: boolean }): string | undefined {
  const version = request.query.get('api-version');
  if (version === null) {
    if (!options.required) return undefined;
    throw errors.invalidRequest("The 'api-version' query parameter is required on this path.", 'api-version');
  }
  if (!AZURE_OPENAI_API_VERSIONS.has(version)) {
    throw errors.invalidRequest(
      `The api-version '${version.slice(0, 64)}' is not supported: use a GA version such as 2024-10-21 or a preview such as 2025-04-01-preview.`,
      'api-version',
    );
  }
  return version;
}

/** Checks the api-version of an `/openai/v1/…` path, which carries no dated version to forward. */
export function checkV1ApiVersion(request: GatewayRequest): void {
  const version = request.query.get('api-version');
  if (version !== null && !V1_API_VERSIONS.has(version)) {
    throw errors.invalidRequest(
      `The api-version '${version.slice(0, 64)}' is not supported on /openai/v1: use 'v1', 'preview' or none.`,
      'api-version',
    );
  }
}
