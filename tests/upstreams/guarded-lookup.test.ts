import type { LookupAddress } from 'node:dns';
import { describe, expect, it } from 'vitest';
import { guardedLookup, type Resolve } from '../../shared/upstreams/guarded-lookup.js';

// A resolver that answers every name with fixed addresses, as a hostile DNS zone could.
const resolvingTo =
  (...addresses: string[]): Resolve =>
  (_hostname, _options, callback) =>
    callback(
      null,
      addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })),
    );

function lookUp(lookup: ReturnType<typeof guardedLookup>, hostname: string, options: { all?: boolean } = {}) {
  return new Promise<{ error: NodeJS.ErrnoException | null; address: string | LookupAddress[]; family?: number }>((resolve) =>
    lookup(hostname, options, (error, address, family) => resolve({ error, address, family })),
  );
}

describe('guardedLookup', () => {
  it.each([
    ['::ffff:127.0.0.1', false],
    ['::ffff:7f00:1', false],
    ['0:0:0:0:0:0:0:1', false],
    ['168.63.129.16', true],
    ['64:ff9b::a9fe:a9fe', true],
    ['2002:a9fe:a9fe::', true],
    ['2002::', true],
    ['::127.0.0.1', true],
    ['10.0.0.1', true],
  ])('refuses a host name resolving to %s (refused in local mode too: %s)', async (address, refusedLocally) => {
    const cloud = await lookUp(guardedLookup({ allowLoopback: false, resolve: resolvingTo(address) }), 'model.openai.azure.com');
    expect(cloud.error).toMatchObject({ code: 'EREFUSEDADDRESS' });
    expect(cloud.error!.message).toContain(`model.openai.azure.com: it resolves to ${address}, `);
    const local = await lookUp(guardedLookup({ allowLoopback: true, resolve: resolvingTo(address) }), 'model.openai.azure.com');
    expect(local.error !== null).toBe(refusedLocally);
  });

  it('refuses the name when any one of its addresses is refused', async () => {
    const { error } = await lookUp(
      guardedLookup({ allowLoopback: false, resolve: resolvingTo('20.42.0.1', '::ffff:a9fe:a9fe') }),
      'model.openai.azure.com',
      { all: true },
    );
    expect(error!.message).toBe(
      'refused to connect to model.openai.azure.com: it resolves to ::ffff:a9fe:a9fe, a cloud metadata address (IPv4-mapped 169.254.169.254)',
    );
  });

  it('answers public addresses in the shape the caller asked for', async () => {
    const lookup = guardedLookup({ allowLoopback: false, resolve: resolvingTo('20.42.0.1', '2603:1030::1') });
    expect(await lookUp(lookup, 'model.openai.azure.com')).toEqual({ error: null, address: '20.42.0.1', family: 4 });
    expect(await lookUp(lookup, 'model.openai.azure.com', { all: true })).toEqual({
      error: null,
      address: [
        { address: '20.42.0.1', family: 4 },
        { address: '2603:1030::1', family: 6 },
      ],
      family: undefined,
    });
  });

  it('refuses localhost through the real resolver outside local mode, and allows it in local mode', async () => {
    const cloud = await lookUp(guardedLookup({ allowLoopback: false }), 'localhost');
    expect(cloud.error).toMatchObject({ code: 'EREFUSEDADDRESS' });
    expect(cloud.error!.message).toMatch(
      /^refused to connect to localhost: it resolves to (127\.0\.0\.1|::1), a loopback address, which only local mode allows$/,
    );
    const local = await lookUp(guardedLookup({ allowLoopback: true }), 'localhost');
    expect(local.error).toBeNull();
  });

  it('passes resolver errors through', async () => {
    const failing: Resolve = (_hostname, _options, callback) =>
      callback(Object.assign(new Error('getaddrinfo ENOTFOUND nowhere.invalid'), { code: 'ENOTFOUND' }), []);
    const { error } = await lookUp(guardedLookup({ allowLoopback: false, resolve: failing }), 'nowhere.invalid');
    expect(error).toMatchObject({ code: 'ENOTFOUND' });
  });
});
