import type { Capability, Deployment } from '../catalog/schemas.js';

/** What a route serves: the capabilities every one of its targets serves (none when it names no known target). */
export function routeCapabilities(targets: readonly Deployment[]): Capability[] {
  const [first, ...rest] = targets;
  if (!first) return [];
  return first.serves.filter((capability) => rest.every((target) => target.serves.includes(capability)));
}

/** The capabilities of a route a deployment does not serve: it can stand in for the route's targets when none. */
export function missingCapabilities(deployment: Deployment, targets: readonly Deployment[]): Capability[] {
  return routeCapabilities(targets).filter((capability) => !deployment.serves.includes(capability));
}
