import { generateKeyPairSync, randomBytes, randomUUID, sign, X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { CosmosClient } from '@azure/cosmos';
import type { Container, CosmosClientOptions, JSONObject, OperationInput, PartitionKey, PartitionKeyDefinition } from '@azure/cosmos';

/** Options for {@link startEmbeddedCosmos}. */
export interface EmbeddedCosmosOptions {
  /** Folder holding `cosmos-snapshot.json`; absent means in-memory only. */
  dataDir?: string;
  /** TCP port on 127.0.0.1; 0 (default) picks a free one. */
  port?: number;
  /** Period of background snapshots; 0 means only on stop. Default 15000. */
  snapshotIntervalMs?: number;
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
  /** Writes `<dataDir>/cosmos-snapshot.json` now; a no-op without `dataDir`. */
  snapshot(): Promise<void>;
  /** Takes a final snapshot (with `dataDir`), then closes the server and the agent. */
  stop(): Promise<void>;
}

/** The emulator's well-known public key (AZURE.md 6.2); the server accepts any well-formed key. */
const EMULATOR_KEY = 'C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw==';
const SNAPSHOT_FILE = 'cosmos-snapshot.json';
const SNAPSHOT_FORMAT = 'switchyard-embedded-cosmos';
const SNAPSHOT_VERSION = 1;
const DEFAULT_SNAPSHOT_INTERVAL_MS = 15_000;
const WRITE_BUFFER_CHARS = 1 << 20;
const ITEM_SYSTEM_FIELDS = new Set(['_rid', '_self', '_etag', '_ts', '_attachments']);
const QUERY_METRICS =
  'totalExecutionTimeInMs=0.00;queryCompileTimeInMs=0.00;queryLogicalPlanBuildTimeInMs=0.00;queryPhysicalPlanBuildTimeInMs=0.00;queryOptimizationTimeInMs=0.00;VMExecutionTimeInMs=0.00;indexLookupTimeInMs=0.00;documentLoadTimeInMs=0.00;systemFunctionExecuteTimeInMs=0.00;userFunctionExecuteTimeInMs=0.00;retrievedDocumentCount=0;retrievedDocumentSize=0;outputDocumentCount=1;outputDocumentSize=0;writeOutputTimeInMs=0.00;indexUtilizationRatio=0.00';

type Resource = Record<string, unknown>;

interface SnapshotContainer {
  id: string;
  /** Container definition minus system fields: partitionKey, defaultTtl, indexingPolicy, uniqueKeyPolicy... */
  definition: Resource;
  userDefinedFunctions: { id: string; body: string }[];
  items: Resource[];
}

interface SnapshotFile {
  format: string;
  version: number;
  takenAt: string;
  databases: { id: string; containers: SnapshotContainer[] }[];
}

// The parts of @vercel/cosmosdb-server 1.0.x internals this module relies on. Snapshots read the store directly
// because every query the server runs, `readAll` included, is O(n²) in container size and synchronous
// (its FROM clause compiles to `reduce(($, c) => [...$, { c }])`): 20k items cost ~3 s per page, 50k ~25 s.
interface StoredResource {
  read(): Resource | null | undefined;
}
interface StoredResources<T extends StoredResource> {
  _data: Map<string, T>;
}
interface StoredContainer extends StoredResource {
  documents: StoredResources<StoredResource>;
  userDefinedFunctions: StoredResources<StoredResource>;
}
interface StoredDatabase extends StoredResource {
  collections: StoredResources<StoredContainer>;
}
interface StoredAccount {
  databases: StoredResources<StoredDatabase>;
}
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
  const snapshotPath = options.dataDir === undefined ? undefined : join(options.dataDir, SNAPSHOT_FILE);
  const intervalMs = options.snapshotIntervalMs ?? DEFAULT_SNAPSHOT_INTERVAL_MS;

  // The package's own cert.pem is for CN=cosmosdb, has no subjectAltName and expired in January 2021, so no
  // verifying client accepts it. A fresh certificate for 127.0.0.1 and localhost is minted on every start.
  const tls = createLoopbackCertificate();
  const store = await listen(tls, options.port ?? 0, log);
  // 127.0.0.1 rather than localhost: it does not depend on how localhost resolves (::1 first on some hosts),
  // and it is the address the server advertises as its writable location, which the SDK switches to.
  const endpoint = `https://127.0.0.1:${store.port}/`;
  const agent = new https.Agent({ keepAlive: true, ca: tls.certificatePem });
  const connectionOptions = (): EmbeddedCosmosConnection => ({ endpoint, key: EMULATOR_KEY, agent });
  const client = new CosmosClient(connectionOptions());

  const shutdown = async (): Promise<void> => {
    client.dispose();
    agent.destroy();
    store.server.closeAllConnections();
    await new Promise<void>((resolve) => store.server.close(() => resolve()));
  };

  if (snapshotPath !== undefined) {
    try {
      await mkdir(dirname(snapshotPath), { recursive: true });
      await restoreSnapshot(client, snapshotPath, log);
    } catch (error) {
      await shutdown();
      throw error;
    }
  }
  log(`embedded Cosmos listening on ${endpoint} (${snapshotPath === undefined ? 'in memory only' : `snapshots in ${snapshotPath}`})`);

  let running: Promise<void> | undefined; // the latest queued snapshot, settled without rejecting
  const runSnapshot = (path: string): Promise<void> => {
    // Queue behind a snapshot in progress so an explicit call always captures writes made before it.
    const next = (running ?? Promise.resolve()).then(() => writeSnapshot(store.account, path, log));
    const clear = (): void => {
      if (running === settled) running = undefined;
    };
    const settled: Promise<void> = next.then(clear, clear);
    running = settled;
    return next;
  };

  let timer: NodeJS.Timeout | undefined;
  if (snapshotPath !== undefined && intervalMs > 0) {
    timer = setInterval(() => {
      if (running !== undefined) return;
      runSnapshot(snapshotPath).catch((error: unknown) => log(`embedded Cosmos snapshot failed: ${describe(error)}`));
    }, intervalMs);
    timer.unref();
  }

  let stopping: Promise<void> | undefined;
  return {
    endpoint,
    key: EMULATOR_KEY,
    agent,
    certificatePem: tls.certificatePem,
    connectionOptions,
    snapshot: async () => {
      if (snapshotPath === undefined || stopping !== undefined) return;
      await runSnapshot(snapshotPath);
    },
    stop: () => {
      stopping ??= (async () => {
        clearInterval(timer);
        try {
          if (snapshotPath !== undefined) await runSnapshot(snapshotPath);
        } finally {
          await shutdown();
          log('embedded Cosmos stopped');
        }
      })();
      return stopping;
    },
  };
}

interface ListeningStore {
  server: https.Server;
  account: StoredAccount;
  port: number;
}

/** Same wiring as the package's `createHttpsServer`, but keeping hold of the account (and its errors). */
async function listen(tls: LoopbackCertificate, port: number, log: (message: string) => void): Promise<ListeningStore> {
  let account: StoredAccount | undefined;
  const server = https.createServer({ cert: tls.certificatePem, key: tls.privateKeyPem }, (req, res) => {
    handleRequest(account!, req, res, log);
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

function handleRequest(account: StoredAccount, req: IncomingMessage, res: ServerResponse, log: (message: string) => void): void {
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

/** Captures every database, container and item in one synchronous pass, so the snapshot is point-in-time. */
function captureStore(account: StoredAccount): SnapshotFile['databases'] {
  const databases: SnapshotFile['databases'] = [];
  for (const database of account.databases._data.values()) {
    const databaseDefinition = database.read();
    if (!databaseDefinition) continue;
    const containers: SnapshotContainer[] = [];
    for (const container of database.collections._data.values()) {
      const definition = container.read();
      if (!definition) continue;
      containers.push({
        id: String(definition.id),
        definition: withoutFields(definition, (name) => name === 'id' || name.startsWith('_')),
        userDefinedFunctions: readStored(container.userDefinedFunctions).map((udf) => ({ id: String(udf.id), body: String(udf.body) })),
        items: readStored(container.documents),
      });
    }
    databases.push({ id: String(databaseDefinition.id), containers });
  }
  return databases;
}

function readStored(resources: StoredResources<StoredResource>): Resource[] {
  const saved: Resource[] = [];
  for (const resource of resources._data.values()) {
    const data = resource.read();
    if (data) saved.push(data);
  }
  return saved;
}

async function writeSnapshot(account: StoredAccount, snapshotPath: string, log: (message: string) => void): Promise<void> {
  const startedAt = performance.now();
  const databases = captureStore(account);
  const tmpPath = `${snapshotPath}.${process.pid}.tmp`;
  const file = await open(tmpPath, 'w');
  const out = new BufferedWriter(file);
  let itemCount = 0;
  try {
    const header: Omit<SnapshotFile, 'databases'> = { format: SNAPSHOT_FORMAT, version: SNAPSHOT_VERSION, takenAt: new Date().toISOString() };
    out.write(`${JSON.stringify(header).slice(0, -1)},"databases":[`);
    for (const [databaseIndex, database] of databases.entries()) {
      out.write(`${databaseIndex === 0 ? '' : ','}\n{"id":${JSON.stringify(database.id)},"containers":[`);
      for (const [containerIndex, { items, ...container }] of database.containers.entries()) {
        // One item per line: still one JSON document, but written in bounded chunks instead of one huge string.
        out.write(`${containerIndex === 0 ? '' : ','}\n${JSON.stringify(container).slice(0, -1)},"items":[`);
        for (const [itemIndex, item] of items.entries()) {
          out.write(`${itemIndex === 0 ? '' : ','}\n${JSON.stringify(withoutFields(item, (name) => ITEM_SYSTEM_FIELDS.has(name)))}`);
          await out.flushIfFull();
        }
        itemCount += items.length;
        out.write(']}');
      }
      out.write(']}');
    }
    out.write(']}\n');
    await out.flush();
    await file.sync();
    await file.close();
    await rename(tmpPath, snapshotPath);
    await syncDirectory(dirname(snapshotPath));
  } catch (error) {
    await file.close().catch(() => {});
    await unlink(tmpPath).catch(() => {});
    throw error;
  }
  log(`embedded Cosmos snapshot: ${itemCount} items in ${Math.round(performance.now() - startedAt)} ms`);
}

async function restoreSnapshot(client: CosmosClient, snapshotPath: string, log: (message: string) => void): Promise<void> {
  let text: string;
  try {
    text = await readFile(snapshotPath, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  const startedAt = performance.now();
  const snapshot = JSON.parse(text) as SnapshotFile;
  if (snapshot.format !== SNAPSHOT_FORMAT || snapshot.version !== SNAPSHOT_VERSION) {
    throw new Error(`${snapshotPath} is not a version ${SNAPSHOT_VERSION} embedded Cosmos snapshot; move it aside to start empty`);
  }
  const targets: { container: Container; saved: SnapshotContainer; name: string }[] = [];
  for (const database of snapshot.databases) {
    await client.databases.create({ id: database.id });
    for (const saved of database.containers) {
      const container = await createContainer(client, database.id, saved, log);
      for (const udf of saved.userDefinedFunctions) await container.scripts.userDefinedFunctions.create(udf);
      targets.push({ container, saved, name: `${database.id}/${saved.id}` });
    }
  }
  // Containers load concurrently: each executeBulkOperations call idles ~1 s before sending its last partial batch.
  const outcomes = await Promise.allSettled(targets.map(({ container, saved, name }) => restoreItems(container, saved, name)));
  const failure = outcomes.find((outcome) => outcome.status === 'rejected');
  if (failure !== undefined) throw failure.reason;
  const itemCount = targets.reduce((sum, { saved }) => sum + saved.items.length, 0);
  log(`embedded Cosmos restored ${itemCount} items from ${snapshotPath} in ${Math.round(performance.now() - startedAt)} ms`);
}

async function createContainer(client: CosmosClient, databaseId: string, saved: SnapshotContainer, log: (message: string) => void): Promise<Container> {
  const containers = client.database(databaseId).containers;
  try {
    return (await containers.create({ ...saved.definition, id: saved.id })).container;
  } catch (error) {
    if (statusOf(error) !== 400) throw error;
    // The server validates only composite indexes; keep the data even when it refuses a saved policy.
    log(`embedded Cosmos: ${databaseId}/${saved.id} definition refused (${describe(error)}); recreating with partition key and TTL only`);
    const { partitionKey, defaultTtl, uniqueKeyPolicy } = saved.definition;
    return (await containers.create({ id: saved.id, partitionKey, defaultTtl, uniqueKeyPolicy } as typeof saved.definition & { id: string })).container;
  }
}

async function restoreItems(container: Container, saved: SnapshotContainer, name: string): Promise<void> {
  if (saved.items.length === 0) return;
  const definition = saved.definition.partitionKey as PartitionKeyDefinition | undefined;
  const operations: OperationInput[] = saved.items.map((item) => ({
    operationType: 'Create',
    partitionKey: partitionKeyOf(item, definition),
    resourceBody: item as JSONObject & { id: string },
  }));
  const results = await container.items.executeBulkOperations(operations);
  const failed = results.filter((result) => result.error !== undefined || (result.response?.statusCode ?? 200) >= 400);
  if (failed.length > 0) {
    const first = failed[0]!;
    const status = first.error?.code ?? first.response?.statusCode;
    const id = (first.operationInput as { resourceBody?: Resource }).resourceBody?.id;
    throw new Error(`restoring ${name}: ${failed.length} of ${operations.length} items failed (first: id ${String(id)}, status ${String(status)}: ${first.error?.message ?? 'no message'})`);
  }
}

/** executeBulkOperations needs the partition key spelled out; a missing value is Cosmos's "None" (`{}`). */
function partitionKeyOf(item: Resource, definition: PartitionKeyDefinition | undefined): PartitionKey {
  if (definition?.systemKey === true) return [];
  const paths = definition?.paths?.length ? definition.paths : ['/id'];
  return paths.map((path) => {
    let value: unknown = item;
    for (const segment of path.slice(1).split('/')) {
      const name = segment.replace(/^"(.*)"$/, '$1');
      value = typeof value === 'object' && value !== null ? (value as Resource)[name] : undefined;
    }
    return (value === undefined ? {} : value) as string;
  }) as PartitionKey;
}

function withoutFields(resource: Resource, drop: (name: string) => boolean): Resource {
  const kept: Resource = {};
  for (const [name, value] of Object.entries(resource)) {
    if (!drop(name)) kept[name] = value;
  }
  return kept;
}

/** Collects small writes and hands the file ~1 MB chunks, so memory stays bounded whatever the item count. */
class BufferedWriter {
  private chunks: string[] = [];
  private size = 0;

  constructor(private readonly file: FileHandle) {}

  write(text: string): void {
    this.chunks.push(text);
    this.size += text.length;
  }

  async flushIfFull(): Promise<void> {
    if (this.size >= WRITE_BUFFER_CHARS) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.size === 0) return;
    const text = this.chunks.join('');
    this.chunks = [];
    this.size = 0;
    await this.file.write(text);
  }
}

async function syncDirectory(directoryPath: string): Promise<void> {
  // fsync on the directory makes the rename itself durable; platforms that refuse it lose nothing else.
  const directory = await open(directoryPath, 'r').catch(() => undefined);
  await directory?.sync().catch(() => {});
  await directory?.close();
}

function statusOf(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'number' ? code : undefined;
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
  return der(0x17, Buffer.from(`${iso.slice(2, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`));
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
