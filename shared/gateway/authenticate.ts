import { isKeyExpired, matchKey, presentedKey, principalOf, type Principal } from '../auth/api-keys.js';
import type { Role, Team } from '../catalog/schemas.js';
import { errors } from '../errors.js';
import type { GatewayDeps } from './gateway-deps.js';

/** The principal behind the request's key; 401 when there is none, or it is unknown or expired. */
export function authenticate(headers: Headers, deps: GatewayDeps): Principal {
  const secret = presentedKey(headers);
  if (!secret) throw errors.invalidApiKey();
  const stored = matchKey(secret, deps.catalog.current().keysByHash);
  const nowMs = deps.now();
  // An expired key is answered exactly as an unknown one: the answer tells nothing about which keys exist.
  const principal = stored && !isKeyExpired(stored, nowMs) ? principalOf(stored) : undefined;
  if (!principal) throw errors.invalidApiKey('Incorrect API key provided.');
  deps.keyUse.noteUse(principal.keyId, nowMs);
  return principal;
}

/** The team a team key speaks for; role keys cannot call models. */
export function authenticateTeam(headers: Headers, deps: GatewayDeps): Team {
  const principal = authenticate(headers, deps);
  if (principal.kind !== 'team') throw errors.forbidden('This is a management key; call models with a team API key.');
  const team = deps.catalog.current().teams.get(principal.teamId);
  if (!team) throw errors.invalidApiKey('This key belongs to a team that no longer exists.');
  return team;
}

/** A management principal holding one of the given roles (admin holds every role). */
export function authenticateRole(headers: Headers, deps: GatewayDeps, allowed: readonly Role[]): Principal & { kind: 'role' } {
  const principal = authenticate(headers, deps);
  if (principal.kind !== 'role' || (principal.role !== 'admin' && !allowed.includes(principal.role))) {
    throw errors.forbidden(`This needs a key with one of the roles: ${[...new Set<Role>([...allowed, 'admin'])].join(', ')}.`);
  }
  return principal;
}
