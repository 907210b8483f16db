import { isIP } from 'node:net';

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
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (isLoopback(host)) {
    if (!policy.allowLoopback) return 'points at a loopback address, which only local mode allows';
    return url.protocol === 'http:' || url.protocol === 'https:' ? undefined : 'must use http or https';
  }
  if (url.protocol !== 'https:') return 'must use https';
  if (METADATA_HOSTS.has(host)) return 'points at a cloud metadata service';
  if (isIP(host) !== 0) {
    if (isRefusedAddress(host)) return 'points at a link-local, private or metadata address';
    return 'must name a host, not an IP address';
  }
  if (!policy.allowedHosts.some((pattern) => hostMatches(host, pattern.toLowerCase()))) {
    return `host ${host} is not in the allow-list (${policy.allowedHosts.join(', ')})`;
  }
  return undefined;
}

function hostMatches(host: string, pattern: string): boolean {
  if (pattern.startsWith('*.')) return host.endsWith(pattern.slice(1)) && host.length > pattern.length - 1;
  return host === pattern;
}

/** Whether an endpoint URL points at this machine. */
export function isLoopbackEndpoint(endpoint: string): boolean {
  return isLoopback(new URL(endpoint).hostname.replace(/^\[|\]$/g, '').toLowerCase());
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** Link-local (incl. 169.254.169.254 metadata), private, unspecified and unique-local addresses. */
export function isRefusedAddress(address: string): boolean {
  const v4 = ipv4Mapped(address) ?? address;
  if (isIP(v4) === 4) {
    const [a, b] = v4.split('.').map(Number) as [number, number];
    return a === 0 || a === 10 || (a === 169 && b === 254) || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 100 && b >= 64 && b <= 127);
  }
  const lower = address.toLowerCase();
  return lower === '::' || lower.startsWith('fe8') || lower.startsWith('fe9') || lower.startsWith('fea') || lower.startsWith('feb') || lower.startsWith('fc') || lower.startsWith('fd');
}

// ::ffff:a.b.c.d, in the dotted form or the hex form URL parsing produces (::ffff:a9fe:a9fe).
function ipv4Mapped(address: string): string | undefined {
  const lower = address.toLowerCase();
  if (!lower.startsWith('::ffff:')) return undefined;
  const rest = lower.slice(7);
  if (isIP(rest) === 4) return rest;
  const hex = /^([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(rest);
  if (!hex) return undefined;
  const high = parseInt(hex[1]!, 16);
  const low = parseInt(hex[2]!, 16);
  return `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;
}
