/**
 * npm run reconcile -- --month YYYY-MM [--repair allocations] [--azure cost-export.csv]
 *
 * Recomputes a month's rollups and managed-compute allocations from the raw usage records and prints every
 * difference (JSON on stdout; exit status 1 when there is any), the same report as POST /usage/reconcile. With
 * --azure, also the drift of an Azure Cost Management cost-details export against the ledger (POST /usage/reconcile/azure).
 * Services are built from the environment as the app builds them: COSMOS_ENDPOINT (and COSMOS_KEY, else Entra ID);
 * without it, local mode's embedded store in SWITCHYARD_DATA_DIR, which `npm start` must not hold open meanwhile.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { CosmosClientOptions } from '@azure/cosmos';
import { startEmbeddedCosmosThread } from '../local/embedded-cosmos-thread.js';
import { createServices } from '../shared/composition/services.js';
import { loadConfig } from '../shared/config/config.js';
import { reconcileMonth } from '../shared/gateway/reconcile.js';
import { reconcileAzureExport } from '../shared/gateway/reconcile-azure.js';
import { silentLogger } from '../shared/log.js';

const { values } = parseArgs({ options: { month: { type: 'string' }, azure: { type: 'string' }, repair: { type: 'string' } } });
if (!values.month || !/^\d{4}-(0[1-9]|1[0-2])$/.test(values.month) || (values.repair !== undefined && values.repair !== 'allocations')) {
  console.error('Usage: npm run reconcile -- --month YYYY-MM [--repair allocations] [--azure cost-export.csv]');
  process.exit(2);
}

const config = loadConfig();
let cosmos: CosmosClientOptions | undefined;
const store = config.cosmos.endpoint ? undefined : await startEmbeddedCosmosThread({ dataDir: resolve(config.dataDir) });
if (store) cosmos = store.connectionOptions();
const services = await createServices(config, { cosmos, createContainers: config.mode === 'local', log: silentLogger });
try {
  const ledger = await reconcileMonth(services.deps, values.month, { repairAllocations: values.repair === 'allocations' });
  const azure = values.azure ? await reconcileAzureExport(services.deps, await readFile(values.azure, 'utf8')) : undefined;
  console.log(JSON.stringify({ ledger, azure }, null, 2));
  console.error(
    `${values.month}: ${ledger.rollups.records} records, ${ledger.rollups.keys} rollups, ${ledger.allocations.hours} managed hours; ` +
      `${ledger.differences} differences` +
      (azure
        ? `; Azure export ${azure.from}..${azure.to}: billed $${azure.totals.billedUsd}, ledger $${azure.totals.ledgerUsd}, drift $${azure.totals.driftUsd}`
        : ''),
  );
  process.exitCode = ledger.differences === 0 ? 0 : 1;
} finally {
  await services.close();
  await store?.stop();
}
