/**
 * `npm run bench:live`: what sharing deployment health costs the store. Two instances (each its own
 * DeploymentHealth and LiveSync, on one embedded store) sync once a simulated second for a simulated minute, first
 * idle, then busy (requests starting and ending on every deployment between syncs, a failure now and then).
 * Prints store requests per instance per minute (reads: one query per sync; writes: entries that changed or whose
 * heartbeat was due; lost ETag races), and the most slots the instances held at once against the capacity.
 */
import { CosmosClient } from '@azure/cosmos';
import { startEmbeddedCosmos } from '../local/embedded-cosmos.js';
import { deploymentSchema, type Deployment } from '../shared/catalog/schemas.js';
import { silentLogger } from '../shared/log.js';
import { DeploymentHealth } from '../shared/routing/deployment-health.js';
import type { LiveDoc, LiveStore } from '../shared/routing/live-state.js';
import { LiveSync } from '../shared/routing/live-sync.js';
import { seededRandom } from '../shared/seeded-random.js';
import { containerDefinitions, ensureContainers } from '../shared/store/containers.js';
import { CosmosLiveStore } from '../shared/store/cosmos-live.js';

const SYNC_MS = 1_000;
const LEASE_TTL_MS = 10_000;
const TICKS = 60;
const CAPACITY = 8;

const deployments: Deployment[] = [
  deploymentSchema.parse({
    id: 'llama-managed',
    kind: 'managed',
    protocol: 'aml-score',
    endpoint: 'https://ep.eastus2.inference.ml.azure.com',
    upstreamModel: 'llama-blue',
    auth: { type: 'entra', scope: 'https://ml.azure.com/.default' },
    pricing: { hourlyUsd: 3.673, instances: 2 },
    capacity: { maxConcurrent: CAPACITY },
  }),
  ...['gpt4o-mini', 'llama-serverless'].map((id) =>
    deploymentSchema.parse({
      id,
      kind: 'serverless',
      protocol: 'openai',
      endpoint: 'https://x.services.ai.azure.com/models',
      upstreamModel: id,
      auth: { type: 'entra', scope: 'https://cognitiveservices.azure.com/.default' },
      pricing: { inputPerMillionUsd: 0.15, outputPerMillionUsd: 0.6 },
    }),
  ),
];

class CountingStore implements LiveStore {
  reads = 0;
  writes = 0;
  lost = 0;
  constructor(private readonly inner: LiveStore) {}
  readAll(): Promise<LiveDoc[]> {
    this.reads += 1;
    return this.inner.readAll();
  }
  async write(doc: LiveDoc, etag: string | undefined): Promise<string | undefined> {
    this.writes += 1;
    const written = await this.inner.write(doc, etag);
    if (written === undefined) this.lost += 1;
    return written;
  }
  take(): { reads: number; writes: number; lost: number } {
    const counts = { reads: this.reads, writes: this.writes, lost: this.lost };
    this.reads = this.writes = this.lost = 0;
    return counts;
  }
}

const store = await startEmbeddedCosmos({});
const client = new CosmosClient(store.connectionOptions());
const container = (await ensureContainers(client, 'bench-live')).container(containerDefinitions.live.id);
let nowMs = 1_000_000;
const instances = ['a', 'b'].map((name) => {
  const health = new DeploymentHealth(() => nowMs, { leaseTtlMs: LEASE_TTL_MS });
  const counting = new CountingStore(new CosmosLiveStore(container));
  const sync = new LiveSync(counting, health, () => deployments, {
    instance: `bench-${name}`,
    syncMs: SYNC_MS,
    leaseTtlMs: LEASE_TTL_MS,
    now: () => nowMs,
    log: silentLogger,
  });
  return { name, health, counting, sync, releases: [] as Array<() => void> };
});

async function minute(busy: boolean): Promise<{ maxSlots: number; maxInFlight: number }> {
  const random = seededRandom(42);
  let maxSlots = 0;
  let maxInFlight = 0;
  for (let tick = 0; tick < TICKS; tick++) {
    // Each instance syncs once a second, half a second apart, as independent timers would.
    for (const instance of instances) {
      nowMs += SYNC_MS / instances.length;
      if (busy) {
        for (const deployment of deployments) {
          for (let n = 0; n < 6; n++) {
            const release = instance.health.tryBegin(deployment);
            if (release) instance.releases.push(release);
          }
          if (random() < 0.1) instance.health.failed(deployment.id);
          else instance.health.succeeded(deployment.id);
          instance.health.recordFirstToken(deployment.id, 200 + random() * 300);
        }
        // About half of what is in flight ends before the next sync.
        const ending = instance.releases.filter(() => random() < 0.5);
        for (const release of ending) release();
        instance.releases = instance.releases.filter((release) => !ending.includes(release));
      } else {
        for (const release of instance.releases.splice(0)) release();
      }
      await instance.sync.syncNow();
      const slots = instances.reduce((sum, i) => sum + (i.health.lease('llama-managed')?.slots ?? 0), 0);
      const inFlight = instances.reduce((sum, i) => sum + i.health.localInFlight('llama-managed'), 0);
      maxSlots = Math.max(maxSlots, slots);
      maxInFlight = Math.max(maxInFlight, inFlight);
    }
  }
  return { maxSlots, maxInFlight };
}

await Promise.all(instances.map((i) => i.sync.syncNow()));
for (const i of instances) i.counting.take();
console.log(
  `live state: ${instances.length} instances, ${deployments.length} deployments (1 with capacity ${CAPACITY}), sync every ${SYNC_MS} ms, lease TTL ${LEASE_TTL_MS} ms`,
);
for (const phase of ['idle', 'busy'] as const) {
  // A minute to settle into the phase, then the minute that is counted.
  await minute(phase === 'busy');
  for (const i of instances) i.counting.take();
  const { maxSlots, maxInFlight } = await minute(phase === 'busy');
  for (const i of instances) {
    const { reads, writes, lost } = i.counting.take();
    console.log(
      `${phase}: instance ${i.name}: ${reads + writes} store requests/min (${reads} reads, ${writes} writes, ${lost} lost ETag races)`,
    );
  }
  console.log(`${phase}: most slots held at once ${maxSlots} of ${CAPACITY}; most in flight at once ${maxInFlight} of ${CAPACITY}`);
}
client.dispose();
await store.stop();
