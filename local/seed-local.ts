import { randomBytes } from 'node:crypto';
import type { CatalogStore } from '../shared/catalog/catalog-store.js';
import { ensureConfiguredKey, generateKeyIfNone } from '../shared/catalog/key-documents.js';
import type { Deployment, Route, Team } from '../shared/catalog/schemas.js';
import type { BlocklistDocument, SafetyProfile } from '../shared/safety/safety-profile.js';

export interface LocalSeedOptions {
  serverlessSimUrl: string;
  managedSimUrl: string;
  /** The app setting holding the simulators' API key (deployments name settings, never secrets). */
  simKeySetting: string;
  demoKey?: string;
  adminKey?: string;
  /** Give team demo the demo safety profile and blocklist (npm start); off for tests that count exact tokens of unscreened traffic. */
  demoSafety?: boolean;
  now: () => number;
}

export interface LocalSeedResult {
  /** Keys generated on this start, shown once. */
  generated: { demoKey?: string; adminKey?: string };
}

export const SIM_DEPLOYMENT_TAG = 'simulator';

/** The demo blocklist: terms no real prompt says, to try the blocklist layer with. */
export const DEMO_BLOCKLIST: BlocklistDocument = {
  name: 'demo-blocklist',
  description: 'Terms the demo team may not send or be sent (local mode).',
  items: ['Project Nightjar', 'forbidden-demo-term'],
};

/**
 * What npm start screens for team demo: every layer on, through the Content Safety simulator (its marker words
 * SIM_HATE_6, SIM_ATTACK… trip it), high severities blocked, personal data masked, failing closed.
 */
export const DEMO_SAFETY: SafetyProfile = {
  categories: { hate: 4, sexual: 4, violence: 4, selfHarm: 4 },
  promptShield: true,
  pii: 'mask',
  blocklists: [DEMO_BLOCKLIST.name],
  mode: 'enforce',
  onOutage: 'closed',
  parallel: false,
  windowChars: 200,
  billAborted: true,
};

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
  // Side by side within each kind: every start runs this, and one round trip after another added up.
  await Promise.all(
    deployments.map(async (deployment) => {
      const existing = await store.get('deployment', deployment.id);
      if (!existing) await store.put('deployment', deployment, { ifNoneMatch: '*' });
      else if (existing.doc.tags.includes(SIM_DEPLOYMENT_TAG) && simulatorMoved(existing.doc, deployment.endpoint, options.simKeySetting)) {
        // A store from an earlier start may name another port, or the key setting simulators used before UPSTREAM_.
        await store.put('deployment', { ...existing.doc, endpoint: deployment.endpoint, auth: simAuth }, { ifMatch: existing.etag });
      }
    }),
  );
  const routes: Route[] = [
    {
      alias: 'chat',
      strategy: 'spillover',
      targets: [{ deployment: 'sim-llama-managed' }, { deployment: 'sim-llama-serverless' }],
      rules: [],
    },
    { alias: 'embed', strategy: 'spillover', targets: [{ deployment: 'sim-embed-serverless' }], rules: [] },
  ];
  await Promise.all(
    routes.map(async (route) => {
      if (!(await store.get('route', route.alias))) await store.put('route', route, { ifNoneMatch: '*' });
    }),
  );
  if (options.demoSafety && !(await store.get('blocklist', DEMO_BLOCKLIST.name)))
    await store.put('blocklist', DEMO_BLOCKLIST, { ifNoneMatch: '*' });
  const team: Team = {
    id: 'demo',
    name: 'Demo',
    aliases: ['chat', 'embed'],
    tags: [],
    ...(options.demoSafety ? { safety: DEMO_SAFETY } : {}),
  };
  if (!(await store.get('team', team.id))) await store.put('team', team, { ifNoneMatch: '*' });

  const generated: LocalSeedResult['generated'] = {};
  const nowMs = options.now();
  const demoKey = async () => {
    if (options.demoKey) await ensureConfiguredKey(store, { team: 'demo' }, 'SWITCHYARD_DEMO_KEY', options.demoKey, nowMs);
    else generated.demoKey = await generateKeyIfNone(store, { team: 'demo' }, { nowMs, randomBytes });
  };
  // A configured admin key is stored at start-up in every mode (composition/services.ts).
  const adminKey = async () => {
    if (!options.adminKey) generated.adminKey = await generateKeyIfNone(store, { role: 'admin' }, { nowMs, randomBytes });
  };
  await Promise.all([demoKey(), adminKey()]);
  return { generated };
}

function simulatorMoved(stored: Deployment, endpoint: string, simKeySetting: string): boolean {
  return stored.endpoint !== endpoint || stored.auth.type !== 'key' || stored.auth.secret !== simKeySetting;
}
