import { randomBytes } from 'node:crypto';
import type { CatalogStore } from '../shared/catalog/catalog-store.js';
import { ensureConfiguredKey, generateKeyIfNone } from '../shared/catalog/key-documents.js';
import type { Deployment, Route, Team } from '../shared/catalog/schemas.js';

export interface LocalSeedOptions {
  serverlessSimUrl: string;
  managedSimUrl: string;
  /** The app setting holding the simulators' API key (deployments name settings, never secrets). */
  simKeySetting: string;
  demoKey?: string;
  adminKey?: string;
  now: () => number;
}

export interface LocalSeedResult {
  /** Keys generated on this start, shown once. */
  generated: { demoKey?: string; adminKey?: string };
}

export const SIM_DEPLOYMENT_TAG = 'simulator';

/**
 * Gives a fresh local store the embedded defaults: a managed and a serverless simulated deployment behind
 * `chat`, a serverless one behind `embed`, team `demo` and an admin key. What ops changed since is kept;
 * only the simulators' addresses follow the ports they run on now.
 */
export async function seedLocal(store: CatalogStore, options: LocalSeedOptions): Promise<LocalSeedResult> {
  const simAuth = { type: 'key' as const, secret: options.simKeySetting };
  const deployments: Deployment[] = [
    {
      id: 'sim-llama-managed',
      kind: 'managed',
      protocol: 'aml-score',
      endpoint: options.managedSimUrl,
      upstreamModel: 'blue',
      serves: ['chat'],
      auth: simAuth,
      pricing: { hourlyUsd: 3.673, instances: 1 },
      capacity: { maxConcurrent: 8 },
      region: 'local',
      tags: [SIM_DEPLOYMENT_TAG],
      enabled: true,
    },
    {
      id: 'sim-llama-serverless',
      kind: 'serverless',
      protocol: 'openai',
      endpoint: `${options.serverlessSimUrl}/v1`,
      upstreamModel: 'Llama-3.3-70B-Instruct',
      serves: ['chat'],
      auth: simAuth,
      pricing: { inputPerMillionUsd: 0.71, outputPerMillionUsd: 0.71 },
      region: 'local',
      tags: [SIM_DEPLOYMENT_TAG],
      enabled: true,
    },
    {
      id: 'sim-embed-serverless',
      kind: 'serverless',
      protocol: 'openai',
      endpoint: `${options.serverlessSimUrl}/v1`,
      upstreamModel: 'text-embedding-3-small',
      serves: ['embeddings'],
      auth: simAuth,
      pricing: { inputPerMillionUsd: 0.02, outputPerMillionUsd: 0 },
      region: 'local',
      tags: [SIM_DEPLOYMENT_TAG],
      enabled: true,
    },
  ];
  for (const deployment of deployments) {
    const existing = await store.get('deployment', deployment.id);
    if (!existing) await store.put('deployment', deployment, { ifNoneMatch: '*' });
    else if (existing.doc.tags.includes(SIM_DEPLOYMENT_TAG) && simulatorMoved(existing.doc, deployment.endpoint, options.simKeySetting)) {
      // A store from an earlier start may name another port, or the key setting simulators used before UPSTREAM_.
      await store.put('deployment', { ...existing.doc, endpoint: deployment.endpoint, auth: simAuth }, { ifMatch: existing.etag });
    }
  }
  const routes: Route[] = [
    {
      alias: 'chat',
      strategy: 'spillover',
      targets: [{ deployment: 'sim-llama-managed' }, { deployment: 'sim-llama-serverless' }],
      rules: [],
    },
    { alias: 'embed', strategy: 'spillover', targets: [{ deployment: 'sim-embed-serverless' }], rules: [] },
  ];
  for (const route of routes) {
    if (!(await store.get('route', route.alias))) await store.put('route', route, { ifNoneMatch: '*' });
  }
  const team: Team = { id: 'demo', name: 'Demo', aliases: ['chat', 'embed'], tags: [] };
  if (!(await store.get('team', team.id))) await store.put('team', team, { ifNoneMatch: '*' });

  const generated: LocalSeedResult['generated'] = {};
  const nowMs = options.now();
  if (options.demoKey) await ensureConfiguredKey(store, { team: 'demo' }, 'SWITCHYARD_DEMO_KEY', options.demoKey, nowMs);
  else generated.demoKey = await generateKeyIfNone(store, { team: 'demo' }, { nowMs, randomBytes });
  // A configured admin key is stored at start-up in every mode (composition/services.ts).
  if (!options.adminKey) generated.adminKey = await generateKeyIfNone(store, { role: 'admin' }, { nowMs, randomBytes });
  return { generated };
}

function simulatorMoved(stored: Deployment, endpoint: string, simKeySetting: string): boolean {
  return stored.endpoint !== endpoint || stored.auth.type !== 'key' || stored.auth.secret !== simKeySetting;
}
