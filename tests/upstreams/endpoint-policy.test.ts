import { describe, expect, it } from 'vitest';
import { endpointRefusal, isLoopbackEndpoint, type EndpointPolicy } from '../../shared/upstreams/endpoint-policy.js';

const DEFAULT_HOSTS = ['*.openai.azure.com', '*.services.ai.azure.com', '*.models.ai.azure.com', '*.inference.ml.azure.com'];
const cloud: EndpointPolicy = { allowedHosts: DEFAULT_HOSTS, allowLoopback: false };
const local: EndpointPolicy = { allowedHosts: DEFAULT_HOSTS, allowLoopback: true };

describe('endpointRefusal: allowed endpoints', () => {
  it.each([
    'https://my-resource.openai.azure.com',
    'https://my-resource.openai.azure.com/',
    'https://my-resource.openai.azure.com/openai/v1',
    'https://proj.services.ai.azure.com/models',
    'https://llama-serverless.eastus2.models.ai.azure.com',
    'https://my-ep.eastus2.inference.ml.azure.com/score',
    'https://MY-RESOURCE.OpenAI.Azure.com',
    'https://a.b.c.openai.azure.com:8443/x',
  ])('allows %s', (endpoint) => {
    expect(endpointRefusal(endpoint, cloud)).toBeUndefined();
    expect(endpointRefusal(endpoint, local)).toBeUndefined();
  });

  it('allows an exact host pattern and nothing else under it', () => {
    const policy: EndpointPolicy = { allowedHosts: ['api.example.com'], allowLoopback: false };
    expect(endpointRefusal('https://api.example.com/v1', policy)).toBeUndefined();
    expect(endpointRefusal('https://API.Example.COM/v1', policy)).toBeUndefined();
    expect(endpointRefusal('https://x.api.example.com/v1', policy)).toBe(
      'host x.api.example.com is not in the allow-list (api.example.com)',
    );
  });

  it('matches allow-list patterns case-insensitively', () => {
    expect(endpointRefusal('https://x.openai.azure.com', { allowedHosts: ['*.OpenAI.Azure.com'], allowLoopback: false })).toBeUndefined();
  });
});

describe('endpointRefusal: scheme and shape', () => {
  it.each([
    ['http://my-resource.openai.azure.com', 'must use https'],
    ['ftp://my-resource.openai.azure.com', 'must use https'],
    ['ws://my-resource.openai.azure.com', 'must use https'],
    ['file:///etc/passwd', 'must use https'],
    ['not a url', 'is not a URL'],
    ['my-resource.openai.azure.com', 'is not a URL'],
    ['', 'is not a URL'],
    ['https://', 'is not a URL'],
    ['https://user:pass@my-resource.openai.azure.com', 'must not carry credentials'],
    ['https://user@my-resource.openai.azure.com', 'must not carry credentials'],
    ['https://:secret@my-resource.openai.azure.com', 'must not carry credentials'],
    ['https://my-resource.openai.azure.com?api-key=abc', 'must not carry a query or fragment'],
    ['https://my-resource.openai.azure.com/#frag', 'must not carry a query or fragment'],
  ])('refuses %s: %s', (endpoint, reason) => {
    expect(endpointRefusal(endpoint, cloud)).toBe(reason);
  });
});

describe('endpointRefusal: host tricks', () => {
  it.each([
    ['https://evil.com/.openai.azure.com', 'evil.com'],
    ['https://openai.azure.com.evil.com', 'openai.azure.com.evil.com'],
    ['https://evilopenai.azure.com', 'evilopenai.azure.com'],
    ['https://openai.azure.com', 'openai.azure.com'],
    ['https://.openai.azure.com', '.openai.azure.com'],
    ['https://x.openai.azure.com.', 'x.openai.azure.com.'],
    ['https://x.openai.azure.com%2Eevil.com', 'x.openai.azure.com.evil.com'],
    ['https://evil.com\\.openai.azure.com', 'evil.com'],
    ['https://evil.com#.openai.azure.com', undefined],
    ['https://x.openai.azure.com@evil.com', undefined],
  ])('refuses %s', (endpoint, host) => {
    const refusal = endpointRefusal(endpoint, cloud);
    expect(refusal).toBeDefined();
    if (host !== undefined) expect(refusal).toBe(`host ${host} is not in the allow-list (${DEFAULT_HOSTS.join(', ')})`);
  });

  it('refuses the host-in-userinfo trick as credentials', () => {
    expect(endpointRefusal('https://x.openai.azure.com@evil.com', cloud)).toBe('must not carry credentials');
  });
});

describe('endpointRefusal: private, link-local and metadata targets', () => {
  it.each([
    ['https://169.254.169.254/metadata/identity/oauth2/token', 'a cloud metadata address'],
    ['https://168.63.129.16', 'a cloud metadata address'],
    ['https://[fd00:ec2::254]', 'a cloud metadata address'],
    ['https://169.254.0.1', 'a link-local address'],
    ['https://10.0.0.1', 'a private address'],
    ['https://10.255.255.255', 'a private address'],
    ['https://172.16.0.1', 'a private address'],
    ['https://172.31.255.255', 'a private address'],
    ['https://192.168.1.1', 'a private address'],
    ['https://100.64.0.1', 'a carrier-grade NAT address'],
    ['https://198.18.0.1', 'a benchmarking address'],
    ['https://0.0.0.0', 'an unspecified address'],
    ['https://255.255.255.255', 'the broadcast address'],
    ['https://224.0.0.1', 'a multicast address'],
    ['https://192.0.2.1', 'a documentation address'],
    ['https://240.0.0.1', 'a reserved address'],
    ['https://[fe80::1]', 'a link-local address'],
    ['https://[febf::1]', 'a link-local address'],
    ['https://[fd00::1]', 'a private address'],
    ['https://[fc00::1]', 'a private address'],
    ['https://[::]', 'an unspecified address'],
    ['https://[0:0:0:0:0:0:0:0]', 'an unspecified address'],
    ['https://[ff02::1]', 'a multicast address'],
    ['https://[2001:db8::1]', 'a documentation address'],
    ['https://[::ffff:169.254.169.254]', 'a cloud metadata address (IPv4-mapped 169.254.169.254)'],
    ['https://[::ffff:10.0.0.1]', 'a private address (IPv4-mapped 10.0.0.1)'],
    ['https://[::169.254.169.254]', 'a cloud metadata address (IPv4-compatible 169.254.169.254)'],
    ['https://[64:ff9b::a9fe:a9fe]', 'a cloud metadata address (NAT64 of 169.254.169.254)'],
    ['https://[64:ff9b::168.63.129.16]', 'a cloud metadata address (NAT64 of 168.63.129.16)'],
    ['https://[64:ff9b:1::a9fe:a9fe]', 'a private address'],
    ['https://[2002:a9fe:a9fe::]', 'a cloud metadata address (6to4 of 169.254.169.254)'],
    ['https://[2002::]', 'an unspecified address (6to4 of 0.0.0.0)'],
    ['https://[2001:0:4136:e378:8000:63bf:f5ff:fffe]', 'a private address (Teredo to 10.0.0.1)'],
    ['https://[64:ff9b::7f00:1]', 'a loopback address (NAT64 of 127.0.0.1)'],
    ['https://[2002:7f00:1::]', 'a loopback address (6to4 of 127.0.0.1)'],
  ])('refuses %s in every mode: %s', (endpoint, what) => {
    expect(endpointRefusal(endpoint, cloud)).toBe(`points at ${what}`);
    expect(endpointRefusal(endpoint, local)).toBe(`points at ${what}`);
  });

  it.each([
    'https://metadata.google.internal',
    'https://metadata.google.internal/computeMetadata/v1/',
    'https://METADATA.google.internal',
    'https://metadata.azure.com',
    'https://metadata',
    'https://instance-data',
  ])('refuses the metadata host %s', (endpoint) => {
    expect(endpointRefusal(endpoint, cloud)).toBe('points at a cloud metadata service');
  });

  it('refuses metadata hosts even when an allow-list would admit them', () => {
    expect(endpointRefusal('https://metadata.google.internal', { allowedHosts: ['*.google.internal'], allowLoopback: false })).toBe(
      'points at a cloud metadata service',
    );
  });

  it.each([
    'https://8.8.8.8',
    'https://172.15.0.1',
    'https://172.32.0.1',
    'https://20.42.0.1',
    'https://[2606:4700::1111]',
    'https://[::ffff:8.8.8.8]',
    'https://[64:ff9b::808:808]',
  ])('refuses the public IP literal %s: upstreams are named hosts on the allow-list', (endpoint) => {
    expect(endpointRefusal(endpoint, cloud)).toBe('must name a host, not an IP address');
    expect(endpointRefusal(endpoint, local)).toBe('must name a host, not an IP address');
  });

  it('normalises obfuscated IPv4 before judging it', () => {
    // 0xa9.0xfe.0xa9.0xfe and 2852039166 are both 169.254.169.254 once parsed; 012.0.0.1 is 10.0.0.1.
    expect(endpointRefusal('https://0xa9.0xfe.0xa9.0xfe', cloud)).toBe('points at a cloud metadata address');
    expect(endpointRefusal('https://2852039166', cloud)).toBe('points at a cloud metadata address');
    expect(endpointRefusal('https://012.0.0.1', cloud)).toBe('points at a private address');
    expect(endpointRefusal('https://8.8.8.8', cloud)).toBe('must name a host, not an IP address');
  });

  it('refuses IP literals even when the allow-list would match everything', () => {
    expect(endpointRefusal('https://8.8.8.8', { allowedHosts: ['8.8.8.8'], allowLoopback: false })).toBe(
      'must name a host, not an IP address',
    );
  });
});

describe('endpointRefusal: loopback', () => {
  it.each([
    'http://127.0.0.1:7072',
    'http://localhost:8080/v1',
    'http://[::1]:9000',
    'https://127.0.0.1',
    'http://127.1',
    'http://127.255.255.254',
    'http://LOCALHOST',
    'http://[0:0:0:0:0:0:0:1]:9000',
    'https://[::ffff:127.0.0.1]/',
    'http://[::ffff:7f00:1]',
    'http://0x7f.0.0.1',
    'http://2130706433',
  ])('allows %s only when loopback is allowed', (endpoint) => {
    expect(endpointRefusal(endpoint, local)).toBeUndefined();
    expect(endpointRefusal(endpoint, cloud)).toBe('points at a loopback address, which only local mode allows');
  });

  it('refuses other schemes to loopback even in local mode', () => {
    expect(endpointRefusal('ftp://127.0.0.1', local)).toBe('must use http or https');
    expect(endpointRefusal('ws://localhost:1234', local)).toBe('must use http or https');
  });

  it('still refuses credentials and queries to loopback in local mode', () => {
    expect(endpointRefusal('http://u:p@127.0.0.1', local)).toBe('must not carry credentials');
    expect(endpointRefusal('http://127.0.0.1/?x=1', local)).toBe('must not carry a query or fragment');
  });

  it('does not let http reach a non-loopback host in local mode', () => {
    expect(endpointRefusal('http://my-resource.openai.azure.com', local)).toBe('must use https');
    expect(endpointRefusal('http://8.8.8.8', local)).toBe('must use https');
    expect(endpointRefusal('http://10.0.0.1', local)).toBe('points at a private address');
    expect(endpointRefusal('http://0.0.0.0:7071', local)).toBe('points at an unspecified address');
    expect(endpointRefusal('http://localhost.evil.com', local)).toBe('must use https');
  });
});

describe('isLoopbackEndpoint', () => {
  it.each([
    ['http://localhost:7072', true],
    ['http://127.0.0.1:7072/v1', true],
    ['http://127.10.20.30', true],
    ['http://[::1]:9000', true],
    ['http://[::ffff:127.0.0.1]', true],
    ['http://[::ffff:7f00:1]', true],
    ['http://[::127.0.0.1]', false],
    ['http://[64:ff9b::7f00:1]', false],
    ['http://128.0.0.1', false],
    ['http://127.0.0.1.evil.com', false],
    ['http://localhost.evil.com', false],
    ['http://0.0.0.0', false],
  ])('%s → %s', (endpoint, expected) => {
    expect(isLoopbackEndpoint(endpoint)).toBe(expected);
  });
});
