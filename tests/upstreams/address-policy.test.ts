import { describe, expect, it } from 'vitest';
import { addressRefusal, classifyAddress, isLoopbackAddress, type AddressRange } from '../../shared/upstreams/address-policy.js';

const cloud = { allowLoopback: false };
const local = { allowLoopback: true };

// [address, range it reaches, allowed in Azure mode, allowed in local mode]
const TABLE: ReadonlyArray<readonly [string, AddressRange, boolean, boolean]> = [
  // loopback, in every spelling
  ['127.0.0.1', 'loopback', false, true],
  ['127.10.20.30', 'loopback', false, true],
  ['127.255.255.254', 'loopback', false, true],
  ['::1', 'loopback', false, true],
  ['0:0:0:0:0:0:0:1', 'loopback', false, true],
  ['0000:0000:0000:0000:0000:0000:0000:0001', 'loopback', false, true],
  ['::ffff:127.0.0.1', 'loopback', false, true],
  ['::ffff:7f00:1', 'loopback', false, true],
  ['::FFFF:7F00:0001', 'loopback', false, true],
  ['0:0:0:0:0:ffff:127.0.0.1', 'loopback', false, true],
  ['::ffff:127.1.2.3', 'loopback', false, true],
  // loopback carried by forms that leave this machine (a translator or relay): never this machine's loopback
  ['::127.0.0.1', 'loopback', false, false],
  ['::7f00:1', 'loopback', false, false],
  ['::ffff:0:127.0.0.1', 'loopback', false, false],
  ['64:ff9b::127.0.0.1', 'loopback', false, false],
  ['64:ff9b::7f00:1', 'loopback', false, false],
  ['2002:7f00:1::', 'loopback', false, false],
  ['2002:7f00:1::1', 'loopback', false, false],
  ['2001:0:4136:e378:8000:63bf:80ff:fffe', 'loopback', false, false],
  // unspecified
  ['0.0.0.0', 'unspecified', false, false],
  ['0.1.2.3', 'unspecified', false, false],
  ['::', 'unspecified', false, false],
  ['0:0:0:0:0:0:0:0', 'unspecified', false, false],
  ['::ffff:0.0.0.0', 'unspecified', false, false],
  ['64:ff9b::', 'unspecified', false, false],
  ['2002::', 'unspecified', false, false],
  // cloud metadata
  ['169.254.169.254', 'metadata', false, false],
  ['168.63.129.16', 'metadata', false, false],
  ['fd00:ec2::254', 'metadata', false, false],
  ['::ffff:169.254.169.254', 'metadata', false, false],
  ['::ffff:a9fe:a9fe', 'metadata', false, false],
  ['::ffff:168.63.129.16', 'metadata', false, false],
  ['::ffff:a83f:8110', 'metadata', false, false],
  ['::169.254.169.254', 'metadata', false, false],
  ['::a9fe:a9fe', 'metadata', false, false],
  ['::ffff:0:a9fe:a9fe', 'metadata', false, false],
  ['64:ff9b::169.254.169.254', 'metadata', false, false],
  ['64:ff9b::a9fe:a9fe', 'metadata', false, false],
  ['64:ff9b::a83f:8110', 'metadata', false, false],
  ['2002:a9fe:a9fe::', 'metadata', false, false],
  ['2002:a83f:8110::1', 'metadata', false, false],
  ['2001:0:4136:e378:8000:63bf:5601:5601', 'metadata', false, false],
  // link-local
  ['169.254.0.1', 'link-local', false, false],
  ['169.254.255.255', 'link-local', false, false],
  ['fe80::1', 'link-local', false, false],
  ['FE80::1', 'link-local', false, false],
  ['fe80::1%eth0', 'link-local', false, false],
  ['febf:ffff::1', 'link-local', false, false],
  ['::ffff:169.254.1.1', 'link-local', false, false],
  ['64:ff9b::a9fe:101', 'link-local', false, false],
  ['2002:a9fe:101::', 'link-local', false, false],
  // private
  ['10.0.0.1', 'private', false, false],
  ['10.255.255.255', 'private', false, false],
  ['172.16.0.0', 'private', false, false],
  ['172.31.255.255', 'private', false, false],
  ['192.168.0.1', 'private', false, false],
  ['fc00::', 'private', false, false],
  ['fd12:3456::1', 'private', false, false],
  ['fec0::1', 'private', false, false],
  ['::ffff:10.0.0.1', 'private', false, false],
  ['::ffff:a00:1', 'private', false, false],
  ['::ffff:192.168.1.1', 'private', false, false],
  ['::10.0.0.1', 'private', false, false],
  ['64:ff9b::10.0.0.1', 'private', false, false],
  ['64:ff9b::c0a8:101', 'private', false, false],
  ['2002:a00:1::', 'private', false, false],
  ['2002:c0a8:101::1', 'private', false, false],
  ['2001:0:4136:e378:8000:63bf:f5ff:fffe', 'private', false, false],
  // local-use NAT64: where the IPv4 address sits is each network's choice, so the whole prefix is private
  ['64:ff9b:1::a9fe:a9fe', 'private', false, false],
  ['64:ff9b:1:a9fe:a9:fe00::', 'private', false, false],
  ['64:ff9b:1::808:808', 'private', false, false],
  // carrier-grade NAT
  ['100.64.0.0', 'carrier-grade-nat', false, false],
  ['100.127.255.255', 'carrier-grade-nat', false, false],
  ['100.100.100.200', 'carrier-grade-nat', false, false],
  ['::ffff:100.64.0.1', 'carrier-grade-nat', false, false],
  ['64:ff9b::6440:1', 'carrier-grade-nat', false, false],
  // benchmarking
  ['198.18.0.1', 'benchmarking', false, false],
  ['198.19.255.255', 'benchmarking', false, false],
  ['2001:2::1', 'benchmarking', false, false],
  ['::ffff:198.18.0.1', 'benchmarking', false, false],
  // documentation
  ['192.0.2.1', 'documentation', false, false],
  ['198.51.100.7', 'documentation', false, false],
  ['203.0.113.9', 'documentation', false, false],
  ['2001:db8::1', 'documentation', false, false],
  ['3fff::1', 'documentation', false, false],
  // multicast and broadcast
  ['224.0.0.1', 'multicast', false, false],
  ['239.255.255.250', 'multicast', false, false],
  ['ff02::1', 'multicast', false, false],
  ['ff05::1:3', 'multicast', false, false],
  ['::ffff:224.0.0.251', 'multicast', false, false],
  ['255.255.255.255', 'broadcast', false, false],
  ['::ffff:255.255.255.255', 'broadcast', false, false],
  // reserved
  ['240.0.0.1', 'reserved', false, false],
  ['192.0.0.8', 'reserved', false, false],
  ['192.88.99.1', 'reserved', false, false],
  ['100::1', 'reserved', false, false],
  ['2001:10::1', 'reserved', false, false],
  ['5f00::1', 'reserved', false, false],
  ['::8.8.8.8', 'reserved', false, false],
  ['::2', 'unspecified', false, false],
  ['1::1', 'reserved', false, false],
  ['4000::1', 'reserved', false, false],
  ['e000::1', 'reserved', false, false],
  // public, including the forms of a public IPv4 address that real networks use (DNS64, 6to4 relays)
  ['8.8.8.8', 'public', true, false],
  ['20.42.0.1', 'public', true, false],
  ['172.15.255.255', 'public', true, false],
  ['172.32.0.0', 'public', true, false],
  ['192.169.0.1', 'public', true, false],
  ['100.63.255.255', 'public', true, false],
  ['100.128.0.0', 'public', true, false],
  ['169.253.1.1', 'public', true, false],
  ['198.17.255.255', 'public', true, false],
  ['198.20.0.0', 'public', true, false],
  ['168.63.129.17', 'public', true, false],
  ['223.255.255.255', 'public', true, false],
  ['2001:4860:4860::8888', 'public', true, false],
  ['2606:4700::1111', 'public', true, false],
  ['::ffff:8.8.8.8', 'public', true, false],
  ['64:ff9b::808:808', 'public', true, false],
  ['2002:808:808::1', 'public', true, false],
  ['2001:0:4136:e378:8000:63bf:f7f7:f7f7', 'public', true, false],
];

describe('classifyAddress', () => {
  it.each(TABLE)('%s reaches %s', (address, range) => {
    expect(classifyAddress(address).range).toBe(range);
  });

  it('names the IPv4 address an IPv6 form carries, and the form', () => {
    expect(classifyAddress('::ffff:7f00:1').embedded).toEqual({ form: 'ipv4-mapped', ipv4: '127.0.0.1' });
    expect(classifyAddress('::ffff:0:a9fe:a9fe').embedded).toEqual({ form: 'ipv4-translated', ipv4: '169.254.169.254' });
    expect(classifyAddress('::a9fe:a9fe').embedded).toEqual({ form: 'ipv4-compatible', ipv4: '169.254.169.254' });
    expect(classifyAddress('64:ff9b::a83f:8110').embedded).toEqual({ form: 'nat64', ipv4: '168.63.129.16' });
    expect(classifyAddress('2002:a9fe:a9fe::').embedded).toEqual({ form: '6to4', ipv4: '169.254.169.254' });
    expect(classifyAddress('2001:0:4136:e378:8000:63bf:5601:5601').embedded).toEqual({ form: 'teredo', ipv4: '169.254.169.254' });
    expect(classifyAddress('::1').embedded).toBeUndefined();
    expect(classifyAddress('10.0.0.1').embedded).toBeUndefined();
  });

  it.each(['localhost', 'example.com', '', '127.1', '0x7f.0.0.1', '2130706433', '[::1]', '::1::', '1.2.3.4.5'])(
    'throws on %j, which is not an IP address in standard form',
    (notAnAddress) => {
      expect(() => classifyAddress(notAnAddress)).toThrow(TypeError);
    },
  );
});

describe('addressRefusal', () => {
  it.each(TABLE)('%s: allowed in Azure mode %s, in local mode %s', (address, _range, allowedInAzure, allowedLocally) => {
    expect(addressRefusal(address, cloud) === undefined).toBe(allowedInAzure);
    expect(addressRefusal(address, local) === undefined).toBe(allowedLocally || allowedInAzure);
  });

  it('says what the address reaches, and through which form', () => {
    expect(addressRefusal('127.0.0.1', cloud)).toBe('a loopback address, which only local mode allows');
    expect(addressRefusal('::ffff:7f00:1', cloud)).toBe('a loopback address, which only local mode allows');
    expect(addressRefusal('64:ff9b::7f00:1', local)).toBe('a loopback address (NAT64 of 127.0.0.1)');
    expect(addressRefusal('10.0.0.1', cloud)).toBe('a private address');
    expect(addressRefusal('::ffff:a9fe:a9fe', cloud)).toBe('a cloud metadata address (IPv4-mapped 169.254.169.254)');
    expect(addressRefusal('2002:a83f:8110::', local)).toBe('a cloud metadata address (6to4 of 168.63.129.16)');
    expect(addressRefusal('168.63.129.16', cloud)).toBe('a cloud metadata address');
    expect(addressRefusal('::', local)).toBe('an unspecified address');
  });
});

describe('isLoopbackAddress', () => {
  it.each([
    ['127.0.0.1', true],
    ['127.10.20.30', true],
    ['::1', true],
    ['0:0:0:0:0:0:0:1', true],
    ['::ffff:127.0.0.1', true],
    ['::ffff:7f00:1', true],
    ['::127.0.0.1', false],
    ['64:ff9b::7f00:1', false],
    ['2002:7f00:1::', false],
    ['128.0.0.1', false],
    ['0.0.0.0', false],
    ['localhost', false],
    ['127.0.0.1.evil.com', false],
    ['[::1]', false],
  ])('%s → %s', (host, expected) => {
    expect(isLoopbackAddress(host)).toBe(expected);
  });
});
