import { randomBytes, randomUUID } from 'node:crypto';
import { type Container, CosmosClient, type CosmosClientOptions } from '@azure/cosmos';
import type { TokenCredential } from '@azure/identity';
import { KeyUseRecorder } from '../auth/key-use.js';
import { CatalogCache } from '../catalog/catalog-snapshot.js';
import { ensureConfiguredKey } from '../catalog/key-documents.js';
import { loadConfig, type Config } from '../config/config.js';
import { BufferBudget } from '../gateway/buffer-budget.js';
import type { GatewayDeps } from '../gateway/gateway-deps.js';
import { createLogger, type Logger } from '../log.js';
import { DeploymentHealth } from '../routing/deployment-health.js';
import { CosmosAuditLog } from '../store/cosmos-audit.js';
import { containerDefinitions, ensureContainers } from '../store/containers.js';
import { CosmosCatalogStore } from '../store/cosmos-catalog-store.js';
import { CosmosLedgerSink, readRollups } from '../store/cosmos-ledger.js';
import { CosmosAllocationStore } from '../store/cosmos-allocations.js';
import { CosmosResponseStore } from '../store/cosmos-responses.js';
import { CosmosShadowStore } from '../store/cosmos-shadow.js';
import { ShadowTraffic } from '../gateway/shadow.js';
import { SHADOW_FLUSH_MS, ShadowLog } from '../gateway/shadow-log.js';
import { CosmosVersionLog } from '../store/cosmos-versions.js';
import { CosmosLiveStore } from '../store/cosmos-live.js';
import { LiveSync } from '../routing/live-sync.js';
import { CosmosQuotaStore } from '../store/cosmos-quotas.js';
import { QUOTA_FLUSH_MS, QUOTA_SLICE_FRACTION, QUOTA_STORE_WAIT_MS, QuotaLeases } from '../limits/quota-leases.js';
import { createSender, createUpstreamDispatcher } from '../upstreams/send-upstream.js';
import { Ledger } from '../usage/ledger.js';
import { RollupSweeper } from '../usage/rollup-sweep.js';
import type { RollupRow } from '../usage/usage-report.js';
import { createCredentialSource, entraTokenSource, lazyDefaultCredential } from './credentials.js';
import { azureMlInstanceCount } from '../allocation/azure-ml-instances.js';
import { createContentSafety } from './content-safety.js';
import { BlocklistMatchers } from '../safety/request-safety.js';
import type { SelfTestCanaries } from '../safety/self-test.js';

export interface Services {
  config: Config;
  deps: GatewayDeps;
  close(): Promise<void>;
}

export interface CreateServicesOptions {
  /** Cosmos connection; defaults to COSMOS_ENDPOINT with COSMOS_KEY, or Entra ID when no key is set. */
  cosmos?: CosmosClientOptions;
  /** Create the database and containers when missing (local mode; in Azure, infra/ owns them). */
  createContainers?: boolean;
  log?: Logger;
  env?: NodeJS.ProcessEnv;
  /** What the safety self-test sends (local mode: the simulator's marker words); azureCanaries otherwise. */
  safetyCanaries?: SelfTestCanaries;
  /** Where Azure ML deployments' instance counts are read (local mode: the AML simulator and its key); Azure Resource Manager with Entra ID otherwise. */
  azureResourceManager?: { endpoint: string; token: () => Promise<string> };
}

interface CosmosContainers {
  cosmos: CosmosClient;
  catalog: Container;
  usage: Container;
  rollups: Container;
  responses: Container;
  shadow: Container;
  audit: Container;
  versions: Container;
  live: Container;
  quotas: Container;
  allocations: Container;
}

/** The Cosmos client and its containers: an account key where one is set, else Entra ID. */
async function openCosmos(config: Config, options: CreateServicesOptions, credential: () => TokenCredential): Promise<CosmosContainers> {
  const cosmosOptions: CosmosClientOptions =
    options.cosmos ??
    (config.cosmos.key
      ? { endpoint: config.cosmos.endpoint!, key: config.cosmos.key }
      : { endpoint: config.cosmos.endpoint!, aadCredentials: credential() });
  const cosmos = new CosmosClient({ ...cosmosOptions, connectionPolicy: { requestTimeout: 10_000, ...cosmosOptions.connectionPolicy } });
  const database = options.createContainers
    ? await ensureContainers(cosmos, config.cosmos.database)
    : cosmos.database(config.cosmos.database);
  return {
    cosmos,
    catalog: database.container(containerDefinitions.catalog.id),
    usage: database.container(containerDefinitions.usage.id),
    rollups: database.container(containerDefinitions.rollups.id),
    responses: database.container(containerDefinitions.responses.id),
    shadow: database.container(containerDefinitions.shadow.id),
    audit: database.container(containerDefinitions.audit.id),
    versions: database.container(containerDefinitions.versions.id),
    live: database.container(containerDefinitions.live.id),
    quotas: database.container(containerDefinitions.quotas.id),
    allocations: database.container(containerDefinitions.allocations.id),
  };
}

function gatewayLimits(config: Config): GatewayDeps['limits'] {
  return {
    maxBodyBytes: config.maxBodyBytes,
    firstByteTimeoutMs: config.firstByteTimeoutMs,
    upstreamTimeoutMs: config.upstreamTimeoutMs,
    streamDeadlineMs: config.streamDeadlineMs,
  };
}

/** The only place that builds SDK clients: everything the gateway needs, from typed config. */
export async function createServices(config: Config, options: CreateServicesOptions = {}): Promise<Services> {
  const env = options.env ?? process.env;
  const log = options.log ?? createLogger();
  let azureCredential: TokenCredential | undefined;
  const credential = () => (azureCredential ??= lazyDefaultCredential());
  const {
    cosmos,
    catalog: catalogContainer,
    usage: usageContainer,
    rollups: rollupsContainer,
    responses: responsesContainer,
    shadow: shadowContainer,
    audit: auditContainer,
    versions: versionsContainer,
    live: liveContainer,
    quotas: quotasContainer,
    allocations: allocationsContainer,
  } = await openCosmos(config, options, credential);

  const store = new CosmosCatalogStore(catalogContainer, (message) => log.log('warn', message));
  const catalog = new CatalogCache(store, {
    refreshMs: config.catalogRefreshMs,
    now: Date.now,
    log: (message) => log.log('warn', message),
    // A deployment added or resized elsewhere gets its capacity leased now, not at the next sync tick.
    onChanged: () => void liveSync.syncNow(),
  });
  // A writer id per process: the ledger's exactly-once rollups are keyed by it.
  const ledgerSink = new CosmosLedgerSink(usageContainer, rollupsContainer);
  const ledger = new Ledger(ledgerSink, `w${randomBytes(6).toString('hex')}`, {
    flushIntervalMs: config.ledgerFlushMs,
    durableWaitMs: config.ledgerDurableWaitMs,
    now: Date.now,
    log: (message) => log.log('warn', message),
  });
  const dispatcher = createUpstreamDispatcher({ allowLoopback: config.mode === 'local' });
  const health = new DeploymentHealth(Date.now, {
    maxCooldownMs: config.maxCooldownMs,
    breaker: config.breaker,
    leaseTtlMs: config.live.leaseTtlMs,
    log,
  });
  const liveSync = new LiveSync(new CosmosLiveStore(liveContainer), health, () => catalog.current().deployments.values(), {
    instance: `i${randomBytes(6).toString('hex')}`,
    syncMs: config.live.syncMs,
    leaseTtlMs: config.live.leaseTtlMs,
    now: Date.now,
    log,
  });

  // A request ends by its deadline and settles; a minute more allows for clocks that disagree between instances.
  const holdsStaleAfterMs = Math.max(config.streamDeadlineMs, config.upstreamTimeoutMs) + 60_000;
  const quotas = new CosmosQuotaStore(quotasContainer, {
    instanceId: `i${randomBytes(6).toString('hex')}`,
    staleAfterMs: holdsStaleAfterMs,
  });
  const quotaLeases = new QuotaLeases(quotas, {
    sliceFraction: QUOTA_SLICE_FRACTION,
    flushMs: QUOTA_FLUSH_MS,
    touchMs: Math.floor(holdsStaleAfterMs / 4),
    storeWaitMs: QUOTA_STORE_WAIT_MS,
    now: Date.now,
    log,
  });
  const deps: GatewayDeps = {
    catalog,
    store,
    health,
    liveSync,
    send: createSender(dispatcher),
    contentSafety: createContentSafety(config.contentSafety, {
      send: createSender(dispatcher),
      tokenCredential: credential,
      now: Date.now,
    }),
    safetyCanaries: options.safetyCanaries,
    instanceCount: azureMlInstanceCount({
      armEndpoint: options.azureResourceManager?.endpoint ?? 'https://management.azure.com',
      send: createSender(dispatcher),
      token: options.azureResourceManager?.token ?? entraTokenSource(credential, 'https://management.azure.com/.default'),
      timeoutMs: 10_000,
    }),
    safetyStatus: {},
    safetyMatchers: new BlocklistMatchers(),
    safetyPicoUsdPerTextRecord: config.contentSafety.picoUsdPerTextRecord,
    credentialFor: createCredentialSource(env, credential, config.upstreamSecretSettings),
    upstreamSecretSettings: config.upstreamSecretSettings,
    keyUse: new KeyUseRecorder(store, { log: (message) => log.log('warn', message) }),
    ledger,
    responses: new CosmosResponseStore(responsesContainer),
    shadowLog: new ShadowLog(new CosmosShadowStore(shadowContainer), { flushMs: SHADOW_FLUSH_MS, maxBuffered: 10_000, log }),
    shadowTraffic: new ShadowTraffic(config.shadow),
    audit: new CosmosAuditLog(auditContainer, randomUUID),
    versions: new CosmosVersionLog(versionsContainer),
    quotas,
    quotaLeases,
    readRollups: (range) => readRollups(rollupsContainer, range) as Promise<RollupRow[]>,
    allocations: new CosmosAllocationStore(usageContainer, allocationsContainer),
    allocation: config.allocation,
    endpointPolicy: { allowedHosts: config.allowedHosts, allowLoopback: config.mode === 'local' },
    limits: gatewayLimits(config),
    bufferedAnswers: new BufferBudget(config.maxBufferedAnswerBytes),
    now: Date.now,
    random: Math.random,
    randomBytes,
    newId: randomUUID,
    log,
  };
  try {
    if (config.adminKey) await ensureConfiguredKey(store, { role: 'admin' }, 'SWITCHYARD_ADMIN_KEY', config.adminKey, Date.now());
    await catalog.start();
    await liveSync.start();
  } catch (error) {
    catalog.stop();
    await dispatcher.close();
    cosmos.dispose();
    throw error;
  }
  ledger.start();
  quotaLeases.start();
  // Completes rollups that a stopped instance (kill -9, lost host) left behind, from the records it stored.
  const sweeper = new RollupSweeper(ledgerSink, ledgerSink, {
    ...config.ledgerSweep,
    now: Date.now,
    log: (level, message) => log.log(level, message),
  });
  sweeper.start();
  let closing: Promise<void> | undefined;
  return {
    config,
    deps,
    close() {
      closing ??= (async () => {
        catalog.stop();
        await liveSync.stop().catch(() => undefined);
        await ledger.close(config.shutdownFlushMs);
        await quotaLeases.close().catch(() => undefined);
        await deps.shadowLog.close(config.shutdownFlushMs);
        await sweeper.stop();
        await deps.keyUse.settle();
        await dispatcher.close();
        cosmos.dispose();
      })();
      return closing;
    },
  };
}

let current: Promise<Services> | undefined;

/** The services of this process: set by the local host at start, else built from the environment on first use. */
export function services(): Promise<Services> {
  // A failed start (store unreachable) is not kept: the next request tries again.
  current ??= Promise.resolve()
    .then(() => createServices(loadConfig()))
    .catch((error: unknown) => {
      current = undefined;
      throw error;
    });
  return current;
}

export function useServices(ready: Services): void {
  current = Promise.resolve(ready);
}

/** Flushes and closes the services, if any were built. */
export async function closeServices(): Promise<void> {
  const closing = current;
  current = undefined;
  if (closing) await (await closing).close();
}
