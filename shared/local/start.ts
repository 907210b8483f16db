import { ConfigError } from '../config/config.js';
import { createLogger } from '../log.js';
import { startLocalGateway } from './local-gateway.js';

// `npm start`: Switchyard in local mode, on embedded defaults unless Azure settings say otherwise.
const log = createLogger();
try {
  const gateway = await startLocalGateway({ log });
  const { config, generated } = gateway;
  const lines = [
    '',
    `Switchyard is listening on ${gateway.url}  (OpenAI base URL: ${gateway.url}/v1)`,
    config.cosmos.endpoint
      ? `Store: Cosmos DB at ${config.cosmos.endpoint}`
      : `Store: embedded Cosmos-compatible server, data kept in ${config.dataDir}/ (embedded defaults: no Azure settings given)`,
    gateway.sims
      ? `Simulated deployments: sim-llama-managed (managed, aml-score) and sim-llama-serverless (serverless) behind alias 'chat'; sim-embed-serverless behind 'embed'. Team: demo.`
      : 'Simulated deployments: off',
  ];
  if (generated.demoKey) lines.push(`Demo team key (shown once; set SWITCHYARD_DEMO_KEY to choose your own): ${generated.demoKey}`);
  if (generated.adminKey) lines.push(`Admin key (shown once; set SWITCHYARD_ADMIN_KEY to choose your own): ${generated.adminKey}`);
  if (!generated.demoKey && !config.demoKey) lines.push('Demo team key: generated at an earlier start (see that output), or set SWITCHYARD_DEMO_KEY.');
  process.stdout.write(lines.join('\n') + '\n\n');

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.log('info', `received ${signal}: finishing in-flight requests, flushing the ledger`);
    await gateway.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
} catch (error) {
  if (error instanceof ConfigError) {
    process.stderr.write(`${error.message}\n`);
    process.exit(2);
  }
  throw error;
}
