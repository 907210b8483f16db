import type { Team } from '../catalog/schemas.js';
import { RequestSafety } from '../safety/request-safety.js';
import type { GatewayDeps } from './gateway-deps.js';

/** The screening of one request under its team's safety profile; undefined when the team has none (nothing is screened). */
export function requestSafetyFor(team: Team, deps: GatewayDeps, signal?: AbortSignal): RequestSafety | undefined {
  if (!team.safety) return undefined;
  return new RequestSafety({
    profile: team.safety,
    blocklists: deps.catalog.current().blocklists,
    matchers: deps.safetyMatchers,
    remote: deps.contentSafety,
    now: deps.now,
    signal,
  });
}
