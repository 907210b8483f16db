import { ConfigError } from '../config/config.js';
import { errors, isGatewayError, type GatewayError } from '../errors.js';
import { storeFailureKind } from '../store/containers.js';

// @azure/identity's failures, recognised by name: the class may come from another copy of the package.
const CREDENTIAL_ERRORS = new Set([
  'CredentialUnavailableError',
  'AuthenticationError',
  'AggregateAuthenticationError',
  'AuthenticationRequiredError',
]);

function causes(error: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let current = error; current !== undefined && chain.length < 8; current = (current as { cause?: unknown } | null)?.cause) {
    chain.push(current);
  }
  return chain;
}

/**
 * What a caller is told when the services could not start: bad settings (500, never their values), no
 * credentials for the store (503), the store not reachable (503), or anything else (500, logged with its cause).
 */
export function startupFailure(error: unknown): GatewayError {
  const chain = causes(error);
  if (chain.some((e) => e instanceof ConfigError)) return errors.configurationError(error);
  if (chain.some((e) => CREDENTIAL_ERRORS.has((e as Error | null)?.name ?? '') || storeFailureKind(e) === 'refused')) {
    return errors.credentialsUnavailable(error);
  }
  // A start never fails through the caller's fault: a 4xx from the store adapter here (a container missing) is ours.
  if (isGatewayError(error) && error.status >= 500) return error;
  if (chain.some((e) => storeFailureKind(e) === 'unreachable')) return errors.storeUnavailable(error);
  return errors.internal(error);
}
