import { generateKeyPairSync, randomBytes, randomUUID, sign, X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import type { CosmosClientOptions } from '@azure/cosmos';
import type { Resource, StoredAccount } from './embedded-cosmos-changes.js';
import { openDurableStore, type DurableStore } from './embedded-cosmos-durability.js';

/** Options for {@link startEmbeddedCosmos}. */
export interface EmbeddedCosmosOptions {
  /** Folder holding the snapshot and journal; absent means in-memory only. */
  dataDir?: string;
  /** TCP port on 127.0.0.1; 0 (default) picks a free one. */
  port?: number;
  /** Journal bytes after which the store is compacted into a new snapshot. Default 16 MiB. */
  compactAfterBytes?: number;
  log?: (message: string) => void;
}

/** What `new CosmosClient(...)` needs to reach the embedded store. */
export interface EmbeddedCosmosConnection extends CosmosClientOptions {
  endpoint: string;
  key: string;
  agent: https.Agent;
}

/** A running in-process Cosmos-compatible server and what a client needs to reach it. */
export interface EmbeddedCosmos {
  endpoint: string;
  key: string;
  /** Trusts only this server's certificate; pass it to every CosmosClient for this store. */
  agent: https.Agent;
  /** PEM of the server's certificate, for a client in another process (it changes on every start). */
  certificatePem: string;
  connectionOptions(): EmbeddedCosmosConnection;
  /** Compacts the journal into a new snapshot now; a no-op without `dataDir` or when nothing changed. */
  snapshot(): Promise<void>;
  /** Compacts (with `dataDir`, when anything changed), then closes the server and the agent. */
  stop(): Promise<void>;
}

/** The emulator's well-known public key (AZURE.md 6.2); the server accepts any well-formed key. */
const EMULATOR_KEY = 'C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw==';
const DEFAULT_COMPACT_AFTER_BYTES = 16 * 1024 * 1024;
const QUERY_METRICS =
  'totalExecutionTimeInMs=0.00;queryCompileTimeInMs=0.00;queryLogicalPlanBuildTimeInMs=0.00;queryPhysicalPlanBuildTimeInMs=0.00;queryOptimizationTimeInMs=0.00;VMExecutionTimeInMs=0.00;indexLookupTimeInMs=0.00;documentLoadTimeInMs=0.00;systemFunctionExecuteTimeInMs=0.00;userFunctionExecuteTimeInMs=0.00;retrievedDocumentCount=0;retrievedDocumentSize=0;outputDocumentCount=1;outputDocumentSize=0;writeOutputTimeInMs=0.00;indexUtilizationRatio=0.00';

// The server's request router; the account is reached directly, never through its own HTTP listener.
type RouteHandler = (account: StoredAccount, req: IncomingMessage, res: ServerResponse, params: unknown) => unknown;

const requireServerModule = createRequire(import.meta.url);
const { default: Account } = requireServerModule('@vercel/cosmosdb-server/lib/account') as {
  default: new (host: string, port: number) => StoredAccount;
};
const { default: routeRequest } = requireServerModule('@vercel/cosmosdb-server/lib/routes') as {
  default: (req: IncomingMessage) => [unknown, RouteHandler] | undefined;
};

/** Starts `@vercel/cosmosdb-server` on loopback, restores `<dataDir>/cosmos-snapshot.json`, and snapshots periodically. */
export async function startEmbeddedCosmos(options: EmbeddedCosmosOptions): Promise<EmbeddedCosmos> {
  const log = options.log ?? (() => {});

  // The package's own cert.pem is for CN=cosmosdb, has no subjectAltName and expired in January 2021, so no
  // verifying client accepts it. A fresh certificate for 127.0.0.1 and localhost is minted on every start.
  const tls = createLoopbackCertificate();
  let durability: DurableStore | undefined;
  // No client knows the port until this function returns, so nothing is served before the restore is done.
  const store = await listen(tls, options.port ?? 0, () => durability?.durable(), log);
  // 127.0.0.1 rather than localhost: it does not depend on how localhost resolves (::1 first on some hosts),
  // and it is the address the server advertises as its writable location, which the SDK switches to.
  const endpoint = `https://127.0.0.1:${store.port}/`;
  const agent = new https.Agent({ keepAlive: true, ca: tls.certificatePem });
  const connectionOptions = (): EmbeddedCosmosConnection => ({ endpoint, key: EMULATOR_KEY, agent });

  const shutdown = async (): Promise<void> => {
    agent.destroy();
    store.server.closeAllConnections();
    await new Promise<void>((resolve) => store.server.close(() => resolve()));
  };

  if (options.dataDir !== undefined) {
    try {
      durability = await openDurableStore(store.account, {
        dataDir: options.dataDir,
        compactAfterBytes: options.compactAfterBytes ?? DEFAULT_COMPACT_AFTER_BYTES,
        log,
      });
    } catch (error) {
      await shutdown();
      throw error;
    }
  }
  log(`embedded Cosmos listening on ${endpoint} (${options.dataDir === undefined ? 'in memory only' : `journaled in ${options.dataDir}`})`);

  let stopping: Promise<void> | undefined;
  return {
    endpoint,
    key: EMULATOR_KEY,
    agent,
    certificatePem: tls.certificatePem,
    connectionOptions,
    snapshot: async () => {
      if (stopping === undefined) await durability?.compact();
    },
    stop: () => {
      stopping ??= (async () => {
        try {
          await durability?.close();
        } finally {
          await shutdown();
          log('embedded Cosmos stopped');
        }
      })();
      return stopping;
    },
  };
}

/** Waits until every change made so far is on disk (undefined: the store keeps nothing on disk). */
type Durable = () => Promise<void> | undefined;

interface ListeningStore {
  server: https.Server;
  account: StoredAccount;
  port: number;
}

/** Same wiring as the package's `createHttpsServer`, but keeping hold of the account (and its errors). */
async function listen(tls: LoopbackCertificate, port: number, durable: Durable, log: (message: string) => void): Promise<ListeningStore> {
  let account: StoredAccount | undefined;
  const server = https.createServer({ cert: tls.certificatePem, key: tls.privateKeyPem }, (req, res) => {
    handleRequest(account!, req, res, durable, log);
  });
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address() as AddressInfo;
  account = new Account(address.address, address.port);
  if (typeof routeRequest !== 'function' || !(account.databases?._data instanceof Map)) {
    server.close();
    throw new Error('@vercel/cosmosdb-server internals changed (account.databases._data); the embedded store cannot snapshot it');
  }
  return { server, account, port: address.port };
}

function handleRequest(
  account: StoredAccount,
  req: IncomingMessage,
  res: ServerResponse,
  durable: Durable,
  log: (message: string) => void,
): void {
  (async () => {
    let body: Resource | undefined;
    const route = routeRequest(req);
    if (route === undefined) {
      res.statusCode = 400;
      body = { message: 'no route' };
    } else {
      const [params, handler] = route;
      try {
        body = (await handler(account, req, res, params)) as Resource | undefined;
      } catch (error) {
        log(`embedded Cosmos: ${req.method} ${req.url} failed: ${describe(error)}`);
        body = { message: describe(error) };
        res.statusCode = 500;
      }
      if (res.statusCode > 399 && body !== undefined && !body.message) body.message = '';
    }
    try {
      // Acknowledge nothing that is not on disk: the write this request made, or one it read.
      await durable();
    } catch (error) {
      log(`embedded Cosmos: the journal cannot be written, refusing to acknowledge: ${describe(error)}`);
      res.statusCode = 500;
      body = { message: `the embedded store cannot write its journal: ${describe(error)}` };
    }
    if (typeof body?._etag === 'string') res.setHeader('etag', body._etag);
    res.setHeader('content-type', 'application/json');
    res.setHeader('content-location', `https://${req.headers.host}${req.url}`);
    res.setHeader('connection', 'keep-alive');
    res.setHeader('x-ms-activity-id', randomUUID());
    res.setHeader('x-ms-request-charge', '1');
    if (req.headers['x-ms-documentdb-populatequerymetrics']) res.setHeader('x-ms-documentdb-query-metrics', QUERY_METRICS);
    if (req.headers['a-im'] && res.statusCode === 200) {
      if (req.headers['if-none-match']) res.statusCode = 304;
      res.setHeader('etag', '1');
    }
    res.end(JSON.stringify(body));
  })().catch((error: unknown) => {
    log(`embedded Cosmos: ${req.method} ${req.url} failed: ${describe(error)}`);
    if (!res.writableEnded) {
      res.statusCode = 500;
      res.end('');
    }
  });
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

// ---- Self-signed certificate for the loopback server (DER by hand: node:crypto can sign but not build X.509) ----

interface LoopbackCertificate {
  certificatePem: string;
  privateKeyPem: string;
}

function createLoopbackCertificate(now = new Date()): LoopbackCertificate {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const ecdsaWithSha256 = der(0x30, oid('1.2.840.10045.4.3.2'));
  const name = der(0x30, der(0x31, der(0x30, oid('2.5.4.3'), der(0x0c, Buffer.from('Switchyard embedded Cosmos')))));
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x40;
  const notBefore = new Date(now.getTime() - 60 * 60 * 1000);
  const notAfter = new Date(now.getTime() + 365 * 24 * 60 * 60 * 1000);
  const extensions = der(
    0xa3,
    der(
      0x30,
      extension('2.5.29.19', true, der(0x30)),
      extension('2.5.29.15', true, der(0x03, Buffer.from([0x07, 0x80]))),
      extension('2.5.29.37', false, der(0x30, oid('1.3.6.1.5.5.7.3.1'))),
      extension('2.5.29.17', false, der(0x30, der(0x82, Buffer.from('localhost')), der(0x87, Buffer.from([127, 0, 0, 1])))),
    ),
  );
  const tbs = der(
    0x30,
    der(0xa0, der(0x02, Buffer.from([2]))),
    der(0x02, serial),
    ecdsaWithSha256,
    name,
    der(0x30, utcTime(notBefore), utcTime(notAfter)),
    name,
    publicKey.export({ type: 'spki', format: 'der' }),
    extensions,
  );
  const signature = sign('sha256', tbs, privateKey);
  const certificate = der(0x30, tbs, ecdsaWithSha256, der(0x03, Buffer.concat([Buffer.from([0]), signature])));
  const body = certificate.toString('base64').replace(/.{64}/g, '$&\n').trimEnd();
  const certificatePem = `-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----\n`;
  new X509Certificate(certificatePem); // fail at start, not at the first request, if the encoding is wrong
  return { certificatePem, privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return der(0x30, oid(id), ...(critical ? [der(0x01, Buffer.from([0xff]))] : []), der(0x04, value));
}

function utcTime(date: Date): Buffer {
  const iso = date.toISOString();
  return der(
    0x17,
    Buffer.from(`${iso.slice(2, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`),
  );
}

function oid(dotted: string): Buffer {
  const [first = 0, second = 0, ...rest] = dotted.split('.').map(Number);
  const bytes = [first * 40 + second];
  for (const arc of rest) {
    const groups = [arc & 0x7f];
    for (let value = arc >>> 7; value > 0; value >>>= 7) groups.unshift((value & 0x7f) | 0x80);
    bytes.push(...groups);
  }
  return der(0x06, Buffer.from(bytes));
}

function der(tag: number, ...contents: Buffer[]): Buffer {
  const body = Buffer.concat(contents);
  let length: Buffer;
  if (body.length < 0x80) {
    length = Buffer.from([body.length]);
  } else {
    const bytes: number[] = [];
    for (let value = body.length; value > 0; value >>>= 8) bytes.unshift(value & 0xff);
    length = Buffer.from([0x80 | bytes.length, ...bytes]);
  }
  return Buffer.concat([Buffer.from([tag]), length, body]);
}
