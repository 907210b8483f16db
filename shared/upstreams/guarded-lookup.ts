import { lookup, type LookupAddress } from 'node:dns';
import type { LookupFunction } from 'node:net';
import { isLoopback, isRefusedAddress } from '../catalog/endpoint-policy.js';

/**
 * A DNS lookup for upstream connections that refuses link-local, metadata and private addresses (and
 * loopback outside local mode), so a host name on the allow-list cannot be pointed at the inside network.
 */
export function guardedLookup(options: { allowLoopback: boolean }): LookupFunction {
  const refused = (address: string) => isRefusedAddress(address) || (!options.allowLoopback && isLoopback(address));
  return ((hostname: string, lookupOptions: object, callback: (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void) => {
    lookup(hostname, { ...lookupOptions, all: true }, (error, addresses) => {
      if (error) return callback(error, []);
      const bad = addresses.find((a) => refused(a.address));
      if (bad) {
        const refusal = Object.assign(new Error(`refused to connect to ${hostname}: it resolves to ${bad.address}`), { code: 'EREFUSEDADDRESS' });
        return callback(refusal, []);
      }
      if ((lookupOptions as { all?: boolean }).all) return callback(null, addresses);
      callback(null, addresses[0]!.address, addresses[0]!.family);
    });
  }) as LookupFunction;
}
