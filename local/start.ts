import { resolve } from 'node:path';
import { spawnEmbeddedCosmosThread } from './embedded-cosmos-thread.js';
import type { LocalGateway } from './local-gateway.js';

// `npm start`: Switchyard in local mode, on embedded defaults unless Azure settings say otherwise.
// The store's thread is spawned before anything else loads: its code loads on the other core meanwhile.
const storeThread = spawnEmbeddedCosmosThread();
const [{ ConfigError, loadConfig }, { createLogger }] = await Promise.all([
  import('../shared/config/config.js'),
  import('../shared/log.js'),
]);
const log = createLogger();
try {
  const config = loadConfig();
  const store = config.cosmos.endpoint
    ? undefined
    : storeThread.start({ dataDir: resolve(config.dataDir), log: (message) => log.log('info', message) });
  // The store is awaited, and its failure reported, by startLocalGateway; with Cosmos DB configured no thread is kept.
  if (store) store.catch(() => undefined);
  else void storeThread.discard();
  const [{ startLocalGateway }, { stopGracefully }] = await Promise.all([import('./local-gateway.js'), import('./process-life.js')]);
  const started = startLocalGateway({ log, demoSafety: true, store });
  // Before start-up finishes, so a stop during start-up also drains and a process manager never orphans it.
  stopGracefully({ close: async () => (await started).close(), deadlineMs: config.shutdownDeadlineMs, log });
  process.stdout.write(startBanner(await started));
} catch (error) {
  const { describeListenFailure, describeStoreFailure } = await import('./process-life.js');
  const line =
    error instanceof ConfigError
      ? error.message
      : (describeListenFailure(error) ?? describeStoreFailure(error, process.env.COSMOS_ENDPOINT));
  if (line === undefined) throw error;
  process.stderr.write(`${line}\n`);
  process.exit(error instanceof ConfigError ? 2 : 1);
}

function startBanner(gateway: LocalGateway): string {
  const { config, generated } = gateway;
  const lines = [
    '',
    `Switchyard is listening on ${gateway.url}  (OpenAI base URL: ${gateway.url}/v1)`,
    config.cosmos.endpoint
      ? `Store: Cosmos DB at ${config.cosmos.endpoint}`
      : `Store: embedded Cosmos-compatible server, data kept in ${config.dataDir}/ (embedded defaults: no Azure settings given)`,
    gateway.sims
      ? `Simulated deployments: sim-llama-managed (managed, aml-score) and sim-llama-serverless (serverless) behind alias 'chat'; sim-embed-serverless behind 'embed'. Team: demo, screened by content safety (blocklist demo-blocklist, personal data masked; the simulator's SIM_VIOLENCE_6 or SIM_ATTACK is blocked).`
      : 'Simulated deployments: off',
  ];
  if (generated.demoKey) lines.push(`Demo team key (shown once; set SWITCHYARD_DEMO_KEY to choose your own): ${generated.demoKey}`);
  if (generated.adminKey) lines.push(`Admin key (shown once; set SWITCHYARD_ADMIN_KEY to choose your own): ${generated.adminKey}`);
  if (!generated.demoKey && !config.demoKey)
    lines.push('Demo team key: generated at an earlier start (see that output), or set SWITCHYARD_DEMO_KEY.');
  return `${lines.join('\n')}\n\n`;
}
