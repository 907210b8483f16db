import type { KeyUseRecorder } from '../auth/key-use.js';
import type { CatalogCache } from '../catalog/catalog-snapshot.js';
import type { CatalogStore } from '../catalog/catalog-store.js';
import type { EndpointPolicy } from '../upstreams/endpoint-policy.js';
import type { Deployment } from '../catalog/schemas.js';
import type { Logger } from '../log.js';
import type { DeploymentHealth } from '../routing/deployment-health.js';
import type { BufferBudget } from './buffer-budget.js';
import type { SendUpstream, UpstreamCredential } from '../upstreams/upstream-port.js';
import type { Ledger } from '../usage/ledger.js';
import type { QuotaLeases } from '../limits/quota-leases.js';
import type { QuotaStore } from '../limits/quota-store.js';
import type { AuditLog } from './audit-log.js';
import type { VersionLog } from './version-log.js';
import type { ShadowLog } from './shadow-log.js';
import type { ShadowTraffic } from './shadow.js';
import type { ResponseStore } from './responses-store.js';
import type { ContentSafetyPort } from '../safety/content-safety-client.js';
import type { SafetyStatus, SelfTestCanaries } from '../safety/self-test.js';
import type { BlocklistMatchers } from '../safety/request-safety.js';
import type { RollupRow } from '../usage/usage-report.js';
import type { AllocationStore } from '../allocation/allocation-store.js';
import type { AllocationSettings } from '../allocation/allocate-hour.js';
import type { InstanceCount } from '../allocation/azure-ml-instances.js';

export interface GatewayLimits {
  maxBodyBytes: number;
  /** Longest wait for a streaming upstream's first byte, and longest silence mid-body, before giving up on it. */
  firstByteTimeoutMs: number;
  /** Longest a non-streamed request may spend on upstream work, every attempt and the whole body included. */
  upstreamTimeoutMs: number;
  /** Longest a streamed request may spend on upstream work, every attempt and the whole stream included. */
  streamDeadlineMs: number;
}

/** Everything the use cases need from the outside world, built once in composition/. */
export interface GatewayDeps {
  catalog: CatalogCache;
  store: CatalogStore;
  health: DeploymentHealth;
  /** Shares health with the other instances; a management write syncs it so a new capacity holds here at once. */
  liveSync: { syncNow(): Promise<void> };
  send: SendUpstream;
  credentialFor: (deployment: Deployment) => Promise<UpstreamCredential | undefined>;
  /** App settings a deployment may name as its key besides those starting with UPSTREAM_. */
  upstreamSecretSettings: readonly string[];
  keyUse: KeyUseRecorder;
  ledger: Ledger;
  /** Teams' budgets and rate limits, held in the store across instances. */
  quotas: QuotaStore;
  /** This instance's leases of the teams' budgets and rate windows: how requests are admitted without a store trip each. */
  quotaLeases: QuotaLeases;
  /** Stored Responses (`/v1/responses` with `store`), per team. */
  responses: ResponseStore;
  /** Who changed what in the catalog, and when. */
  audit: AuditLog;
  /** Every version of each deployment and route, for history and rollback. */
  versions: VersionLog;
  /** Requests copied to routes' shadow deployments, recorded apart from the teams' usage. */
  shadowLog: ShadowLog;
  /** This instance's shadow calls in flight, bounded. */
  shadowTraffic: ShadowTraffic;
  readRollups: (range: { from: string; to: string; team?: string }) => Promise<RollupRow[]>;
  /** Managed compute allocated by the hour, and the records it is computed from. */
  allocations: AllocationStore;
  allocation: AllocationSettings;
  /** A managed deployment's instances now, read from Azure ML when its billing.resourceId names an online deployment. */
  instanceCount?: InstanceCount;
  endpointPolicy: EndpointPolicy;
  limits: GatewayLimits;
  /** Bytes of non-streamed answers held at once by this process, across requests. */
  bufferedAnswers: BufferBudget;
  now: () => number;
  random: () => number;
  /** Cryptographically strong random bytes, for key ids and secrets. */
  randomBytes: (size: number) => Uint8Array;
  newId: () => string;
  log: Logger;
  /** Azure AI Content Safety; undefined when not configured (a profile that needs it meets its onOutage). */
  contentSafety?: ContentSafetyPort;
  /** What the safety self-test sends: the simulator's marker words in local mode, azureCanaries by default. */
  safetyCanaries?: SelfTestCanaries;
  /** This instance's last safety self-test, shown by /health/ready. */
  safetyStatus: SafetyStatus;
  /** Blocklist matchers, built once per set of lists per catalog snapshot. */
  safetyMatchers: BlocklistMatchers;
  /** What a Content Safety text record costs, for /usage and statements (SWITCHYARD_SAFETY_USD_PER_1000_RECORDS). */
  safetyPicoUsdPerTextRecord: number;
}
