import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { CosmosClientOptions } from '@azure/cosmos';
import { loadConfig, type Config } from '../shared/config/config.js';
import { createServices, useServices, type Services } from '../shared/composition/services.js';
import { createLogger, type Logger } from '../shared/log.js';
import type { EmbeddedCosmos } from './embedded-cosmos.js';
import { startEmbeddedCosmosThread } from './embedded-cosmos-thread.js';
import { installFunctionsCore } from './functions-core.js';
import { startFunctionsHost, type FunctionsHost } from './functions-host.js';
import { seedLocal } from './seed-local.js';
import { startAmlScoreSim, type AmlScoreSim, type AmlScoreSimOptions } from './simulators/aml-score-sim.js';
import { simulatorCanaries, startContentSafetySim, type ContentSafetySim } from './simulators/content-safety-sim.js';
import { startOpenAICompatibleSim, type OpenAICompatibleSim, type OpenAICompatibleSimOptions } from './simulators/openai-compatible-sim.js';

// The project root (functions/*.ts run through tsx) or npm start's build of it (functions/*.js, scripts/build.ts).
const codeRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SIM_KEY_SETTING = 'UPSTREAM_SIM_KEY';

export interface LocalGatewayOptions {
  env?: NodeJS.ProcessEnv;
  /** Overrides for the simulated deployments (latency, faults…), for tests and the bench. */
  serverlessSim?: OpenAICompatibleSimOptions;
  managedSim?: AmlScoreSimOptions;
  /** Keep the embedded store in memory only (tests). */
  ephemeralStore?: boolean;
  /** The embedded store, already starting (npm start starts its thread before it loads the rest). */
  store?: Promise<EmbeddedCosmos>;
  /** Seed team demo with the demo safety profile (npm start does; tests and benches give teams their own). */
  demoSafety?: boolean;
  log?: Logger;
}

export interface LocalGateway {
  url: string;
  config: Config;
  services: Services;
  host: FunctionsHost;
  /** `contentSafety` runs unless CONTENT_SAFETY_ENDPOINT names a real resource. */
  sims?: { serverless: OpenAICompatibleSim; managed: AmlScoreSim; contentSafety?: ContentSafetySim };
  store?: EmbeddedCosmos;
  /** Keys generated on this start (absent when configured or generated on an earlier start). */
  generated: { demoKey?: string; adminKey?: string };
  close(): Promise<void>;
}

/**
 * Local mode: the embedded store (unless COSMOS_ENDPOINT is set), the simulated deployments, the seeded
 * defaults, and the local Functions host serving the very registrations in functions/.
 */
export async function startLocalGateway(options: LocalGatewayOptions = {}): Promise<LocalGateway> {
  const env = { ...(options.env ?? process.env) };
  let config = loadConfig(env);
  const log = options.log ?? createLogger();
  const cleanups: Array<() => Promise<void>> = [];
  const closeAll = async () => {
    for (const cleanup of cleanups.reverse())
      await cleanup().catch((error: unknown) => log.log('error', 'shutdown step failed', { error: String(error) }));
  };
  try {
    let store: EmbeddedCosmos | undefined;
    let cosmos: CosmosClientOptions | undefined;
    if (!config.cosmos.endpoint) {
      store = await (options.store ??
        startEmbeddedCosmosThread({
          dataDir: options.ephemeralStore ? undefined : resolve(config.dataDir),
          log: (message) => log.log('info', message),
        }));
      cleanups.push(() => store!.stop());
      cosmos = store.connectionOptions();
    }

    let sims: LocalGateway['sims'];
    if (config.simulators) {
      env[SIM_KEY_SETTING] ??= randomBytes(24).toString('base64url');
      const apiKey = env[SIM_KEY_SETTING];
      const { latencyMs, timeToFirstTokenMs, tokensPerSecond, failureRate } = config.simulator;
      const behaviour = {
        apiKey,
        latencyMs,
        timeToFirstTokenMs,
        tokensPerSecond,
        faultRate: failureRate > 0 ? { fault: { kind: 'status' as const, status: 503 }, probability: failureRate } : undefined,
      };
      const serverless = await startOpenAICompatibleSim({ ...behaviour, ...options.serverlessSim });
      cleanups.push(() => serverless.close());
      const managed = await startAmlScoreSim({ ...behaviour, maxConcurrentRequestsPerInstance: 8, ...options.managedSim });
      cleanups.push(() => managed.close());
      let contentSafety: ContentSafetySim | undefined;
      if (!config.contentSafety.endpoint) {
        const key = randomBytes(24).toString('base64url');
        contentSafety = await startContentSafetySim({ apiKeys: [key] });
        cleanups.push(() => contentSafety!.close());
        config = { ...config, contentSafety: { ...config.contentSafety, endpoint: contentSafety.url, key } };
      }
      sims = { serverless, managed, contentSafety };
    }

    const services = await createServices(config, {
      cosmos,
      createContainers: config.mode === 'local',
      log,
      env,
      safetyCanaries: sims?.contentSafety ? simulatorCanaries : undefined,
      azureResourceManager: sims ? { endpoint: sims.managed.url, token: async () => env[SIM_KEY_SETTING] ?? '' } : undefined,
    });
    cleanups.push(() => services.close());
    useServices(services);

    let generated: LocalGateway['generated'] = {};
    if (sims) {
      ({ generated } = await seedLocal(services.deps.store, {
        serverlessSimUrl: sims.serverless.url,
        managedSimUrl: sims.managed.url,
        simKeySetting: SIM_KEY_SETTING,
        demoKey: config.demoKey,
        adminKey: config.adminKey,
        demoSafety: options.demoSafety === true,
        now: Date.now,
      }));
      await services.deps.catalog.refresh();
    }

    installFunctionsCore();
    const host = await startFunctionsHost({
      appRoot: findAppRoot(codeRoot),
      loadFunctions: () => loadFunctionModules(join(codeRoot, 'functions')),
      port: config.port,
      host: config.host,
      requestTimeoutMs: config.requestReceiveTimeoutMs,
      // In-flight requests get the deadline minus what the ledger flush after them may need.
      shutdownTimeoutMs: config.shutdownDeadlineMs - config.shutdownFlushMs,
      log: (level, message) => log.log(level, message),
      runTimers: config.timers,
    });
    // The host's appTerminate hook closes the services; closing them again is harmless.
    cleanups.push(() => host.close());

    return { url: host.url, config, services, host, sims, store, generated, close: closeAll };
  } catch (error) {
    await closeAll();
    throw error;
  }
}

/** The folder holding host.json: the code root itself, or an ancestor of dist/. */
function findAppRoot(start: string): string {
  for (let dir = start; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'host.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`No host.json found above ${start}`);
  }
}

async function loadFunctionModules(folder: string): Promise<void> {
  const files = (await readdir(folder)).filter((f) => /\.(ts|js)$/.test(f) && !f.endsWith('.d.ts')).sort();
  for (const file of files) await import(pathToFileURL(join(folder, file)).href);
}
