import { lookup, type LookupAddress } from 'node:dns';
import type { LookupFunction } from 'node:net';
import { addressRefusal, type AddressPolicyOptions } from './address-policy.js';

/** Resolves a host name to every one of its addresses (the shape of `dns.lookup` with `all: true`). */
export type Resolve = (
  hostname: string,
  options: { all: true },
  callback: (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => void;

export interface GuardedLookupOptions extends AddressPolicyOptions {
  /** Where names are resolved; the system resolver unless given. */
  resolve?: Resolve;
}

/**
 * A DNS lookup for upstream connections that refuses any name with an address the address policy refuses,
 * so a host name on the allow-list cannot be pointed at this machine or the inside network.
 */
export function guardedLookup(options: GuardedLookupOptions): LookupFunction {
  const resolve: Resolve = options.resolve ?? ((hostname, lookupOptions, callback) => lookup(hostname, lookupOptions, callback));
  return ((
    hostname: string,
    lookupOptions: object,
    callback: (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void,
  ) => {
    resolve(hostname, { ...lookupOptions, all: true }, (error, addresses) => {
      if (error) return callback(error, []);
      for (const { address } of addresses) {
        const refusal = addressRefusal(address, options);
        if (refusal) {
          return callback(
            Object.assign(new Error(`refused to connect to ${hostname}: it resolves to ${address}, ${refusal}`), {
              code: 'EREFUSEDADDRESS',
            }),
            [],
          );
        }
      }
      if ((lookupOptions as { all?: boolean }).all) return callback(null, addresses);
      callback(null, addresses[0]!.address, addresses[0]!.family);
    });
  }) as LookupFunction;
}
