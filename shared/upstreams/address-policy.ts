import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

/** Where an address leads, judged on the IPv4 address an IPv6 form carries when it carries one. */
export type AddressRange =
  | 'public'
  | 'loopback'
  | 'unspecified'
  | 'metadata'
  | 'link-local'
  | 'private'
  | 'carrier-grade-nat'
  | 'benchmarking'
  | 'documentation'
  | 'multicast'
  | 'broadcast'
  | 'reserved';

/** The IPv6 forms that carry an IPv4 address. */
export type Ipv4Embedding = 'ipv4-mapped' | 'ipv4-translated' | 'ipv4-compatible' | 'nat64' | '6to4' | 'teredo';

export interface AddressClass {
  range: AddressRange;
  /** Set when the address is an IPv6 form carrying an IPv4 address; `range` is then that IPv4 address's. */
  embedded?: { form: Ipv4Embedding; ipv4: string };
}

export interface AddressPolicyOptions {
  /** Local mode allows this machine's loopback addresses (the simulators), and nothing else more. */
  allowLoopback: boolean;
}

type Table = ReadonlyArray<readonly [AddressRange, ReturnType<typeof ipaddr.parseCIDR>]>;
const table = (rows: ReadonlyArray<readonly [AddressRange, string]>): Table =>
  rows.map(([range, cidr]) => [range, ipaddr.parseCIDR(cidr)] as const);

// First match wins, so the metadata addresses come before the ranges that hold them.
const IPV4_RANGES = table([
  ['unspecified', '0.0.0.0/8'],
  ['loopback', '127.0.0.0/8'],
  ['metadata', '169.254.169.254/32'],
  // Azure's platform wire server: host health, DHCP, DNS and the VM agent's goal state.
  ['metadata', '168.63.129.16/32'],
  ['link-local', '169.254.0.0/16'],
  ['private', '10.0.0.0/8'],
  ['private', '172.16.0.0/12'],
  ['private', '192.168.0.0/16'],
  ['carrier-grade-nat', '100.64.0.0/10'],
  ['benchmarking', '198.18.0.0/15'],
  ['documentation', '192.0.2.0/24'],
  ['documentation', '198.51.100.0/24'],
  ['documentation', '203.0.113.0/24'],
  ['reserved', '192.0.0.0/24'],
  ['reserved', '192.88.99.0/24'],
  ['multicast', '224.0.0.0/4'],
  ['broadcast', '255.255.255.255/32'],
  ['reserved', '240.0.0.0/4'],
]);

// Checked after the IPv4-carrying forms are unwrapped; anything outside global unicast (2000::/3) is reserved.
const IPV6_RANGES = table([
  ['unspecified', '::/128'],
  ['loopback', '::1/128'],
  ['metadata', 'fd00:ec2::254/128'],
  ['private', 'fc00::/7'],
  // Deprecated site-local: the private range before fc00::/7.
  ['private', 'fec0::/10'],
  // Local-use NAT64 (RFC 8215): each network picks where the IPv4 address sits, so it cannot be unwrapped.
  ['private', '64:ff9b:1::/48'],
  ['link-local', 'fe80::/10'],
  ['multicast', 'ff00::/8'],
  ['documentation', '2001:db8::/32'],
  ['documentation', '3fff::/20'],
  ['benchmarking', '2001:2::/48'],
  ['reserved', '100::/64'],
  ['reserved', '2001::/23'],
  ['reserved', '5f00::/16'],
  ['public', '2000::/3'],
]);

// ipaddr.js reads `::a.b.c.d` as IPv4-mapped; RFC 4291 (and Node, which prints 0:0:0:0:0:0:7f00:1 as
// `::127.0.0.1`) means IPv4-compatible, which `::0:a.b.c.d` spells unambiguously.
const IPV4_COMPATIBLE_DOTTED = /^::(?=\d+\.\d+\.\d+\.\d+(%.*)?$)/;

const UNSPECIFIED_OR_LOOPBACK = ipaddr.parseCIDR('::/127');

// Checked before the ranges above (Teredo lies inside 2001::/23), and ::/96 only after :: and ::1.
const EMBEDDINGS: ReadonlyArray<readonly [Ipv4Embedding, ReturnType<typeof ipaddr.parseCIDR>, (parts: number[]) => [number, number]]> = [
  ['ipv4-mapped', ipaddr.parseCIDR('::ffff:0:0/96'), (p) => [p[6]!, p[7]!]],
  ['ipv4-translated', ipaddr.parseCIDR('::ffff:0:0:0/96'), (p) => [p[6]!, p[7]!]],
  ['nat64', ipaddr.parseCIDR('64:ff9b::/96'), (p) => [p[6]!, p[7]!]],
  ['6to4', ipaddr.parseCIDR('2002::/16'), (p) => [p[1]!, p[2]!]],
  // The Teredo client's address is stored with every bit inverted.
  ['teredo', ipaddr.parseCIDR('2001::/32'), (p) => [p[6]! ^ 0xffff, p[7]! ^ 0xffff]],
  ['ipv4-compatible', ipaddr.parseCIDR('::/96'), (p) => [p[6]!, p[7]!]],
];

/** Which range an IP address (dotted-quad IPv4 or any IPv6 spelling) reaches. Throws on anything else. */
export function classifyAddress(address: string): AddressClass {
  if (isIP(address) === 0) throw new TypeError(`not an IP address: ${address}`);
  const parsed = ipaddr.parse(address.replace(IPV4_COMPATIBLE_DOTTED, '::0:'));
  if (parsed.kind() === 'ipv4') return { range: rangeIn(parsed, IPV4_RANGES, 'public') };
  const v6 = parsed as ipaddr.IPv6;
  if (v6.match(UNSPECIFIED_OR_LOOPBACK)) return { range: rangeIn(v6, IPV6_RANGES, 'reserved') };
  for (const [form, prefix, extract] of EMBEDDINGS) {
    if (!v6.match(prefix)) continue;
    const [high, low] = extract(v6.parts);
    const ipv4 = new ipaddr.IPv4([high >> 8, high & 0xff, low >> 8, low & 0xff]);
    const range = rangeIn(ipv4, IPV4_RANGES, 'public');
    // IPv4-compatible addresses are deprecated (RFC 4291): nothing legitimate resolves to one.
    return { range: form === 'ipv4-compatible' && range === 'public' ? 'reserved' : range, embedded: { form, ipv4: ipv4.toString() } };
  }
  return { range: rangeIn(v6, IPV6_RANGES, 'reserved') };
}

/** Why an upstream connection may not go to this IP address, or undefined when it may. */
export function addressRefusal(address: string, options: AddressPolicyOptions): string | undefined {
  const { range, embedded } = classifyAddress(address);
  if (range === 'public') return undefined;
  if (range === 'loopback' && reachesThisMachine(embedded)) {
    return options.allowLoopback ? undefined : 'a loopback address, which only local mode allows';
  }
  const label = RANGE_LABELS[range];
  return embedded ? `${label} (${EMBEDDING_LABELS[embedded.form]} ${embedded.ipv4})` : label;
}

/** Whether an IP address is this machine's loopback (127/8, ::1, or 127/8 IPv4-mapped). */
export function isLoopbackAddress(address: string): boolean {
  if (isIP(address) === 0) return false;
  const { range, embedded } = classifyAddress(address);
  return range === 'loopback' && reachesThisMachine(embedded);
}

// A dual-stack socket treats ::ffff:a.b.c.d as the IPv4 address itself; every other form goes out to a
// translator or relay, so 127.0.0.1 inside NAT64 or 6to4 is not this machine and is never allowed.
function reachesThisMachine(embedded: AddressClass['embedded']): boolean {
  return embedded === undefined || embedded.form === 'ipv4-mapped';
}

function rangeIn(address: ipaddr.IPv4 | ipaddr.IPv6, ranges: Table, otherwise: AddressRange): AddressRange {
  for (const [range, cidr] of ranges) if (address.kind() === cidr[0].kind() && address.match(cidr)) return range;
  return otherwise;
}

const RANGE_LABELS: Record<Exclude<AddressRange, 'public'>, string> = {
  loopback: 'a loopback address',
  unspecified: 'an unspecified address',
  metadata: 'a cloud metadata address',
  'link-local': 'a link-local address',
  private: 'a private address',
  'carrier-grade-nat': 'a carrier-grade NAT address',
  benchmarking: 'a benchmarking address',
  documentation: 'a documentation address',
  multicast: 'a multicast address',
  broadcast: 'the broadcast address',
  reserved: 'a reserved address',
};

const EMBEDDING_LABELS: Record<Ipv4Embedding, string> = {
  'ipv4-mapped': 'IPv4-mapped',
  'ipv4-translated': 'IPv4-translated',
  'ipv4-compatible': 'IPv4-compatible',
  nat64: 'NAT64 of',
  '6to4': '6to4 of',
  teredo: 'Teredo to',
};
