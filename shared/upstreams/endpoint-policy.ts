import { isIP } from 'node:net';
import { addressRefusal, isLoopbackAddress } from './address-policy.js';

export interface EndpointPolicy {
  /** Host patterns: exact names or `*.suffix`. */
  allowedHosts: readonly string[];
  /** Local mode also allows http:// to loopback addresses (the simulators). */
  allowLoopback: boolean;
}

const METADATA_HOSTS = new Set(['metadata.google.internal', 'metadata.azure.com', 'metadata', 'instance-data']);

/** Why an upstream endpoint is refused, or undefined when it is allowed. */
export function endpointRefusal(endpoint: string, policy: EndpointPolicy): string | undefined {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return 'is not a URL';
  }
  if (url.username || url.password) return 'must not carry credentials';
  if (url.search || url.hash) return 'must not carry a query or fragment';
  const host = hostOf(url);
  if (isIP(host) !== 0) return ipLiteralRefusal(url, host, policy);
  if (host === 'localhost')
    return policy.allowLoopback ? loopbackSchemeRefusal(url) : 'points at a loopback address, which only local mode allows';
  if (url.protocol !== 'https:') return 'must use https';
  if (METADATA_HOSTS.has(host)) return 'points at a cloud metadata service';
  if (!policy.allowedHosts.some((pattern) => hostMatches(host, pattern.toLowerCase()))) {
    return `host ${host} is not in the allow-list (${policy.allowedHosts.join(', ')})`;
  }
  return undefined;
}

// An IP literal skips DNS, so the address policy judges it here; a public one must be named instead,
// since the allow-list holds host names.
function ipLiteralRefusal(url: URL, address: string, policy: EndpointPolicy): string | undefined {
  const refusal = addressRefusal(address, policy);
  if (refusal) return `points at ${refusal}`;
  if (isLoopbackAddress(address)) return loopbackSchemeRefusal(url);
  return url.protocol === 'https:' ? 'must name a host, not an IP address' : 'must use https';
}

function loopbackSchemeRefusal(url: URL): string | undefined {
  return url.protocol === 'http:' || url.protocol === 'https:' ? undefined : 'must use http or https';
}

function hostMatches(host: string, pattern: string): boolean {
  if (pattern.startsWith('*.')) return host.endsWith(pattern.slice(1)) && host.length > pattern.length - 1;
  return host === pattern;
}

/** Whether an endpoint URL points at this machine. */
export function isLoopbackEndpoint(endpoint: string): boolean {
  const host = hostOf(new URL(endpoint));
  return host === 'localhost' || isLoopbackAddress(host);
}

function hostOf(url: URL): string {
  return url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
}
