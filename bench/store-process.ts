import { writeFile } from 'node:fs/promises';
import { startEmbeddedCosmos } from '../local/embedded-cosmos.js';
import { exitWithParent } from './child-lifecycle.js';

/**
 * The embedded store in a process of its own, so the gateway is charged only its own work (in production Cosmos
 * is remote). Writes its certificate to BENCH_STORE_CA_FILE, for the gateway's NODE_EXTRA_CA_CERTS: the gateway
 * trusts this store's certificate rather than skipping TLS checks.
 */
const dataDir = process.env.BENCH_STORE_DATA_DIR;
const caFile = process.env.BENCH_STORE_CA_FILE;
if (!dataDir || !caFile) throw new Error('BENCH_STORE_DATA_DIR and BENCH_STORE_CA_FILE must be set');

const store = await startEmbeddedCosmos({ dataDir });
await writeFile(caFile, store.certificatePem);
exitWithParent(() => store.stop());
process.stdout.write(`${JSON.stringify({ endpoint: store.endpoint, key: store.key, caFile })}\n`);
