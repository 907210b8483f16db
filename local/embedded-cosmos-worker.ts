/** Worker-thread entry: runs the embedded Cosmos-compatible store off the gateway's event loop. */
import { parentPort, workerData } from 'node:worker_threads';
import { startEmbeddedCosmos, type EmbeddedCosmosOptions } from './embedded-cosmos.js';
import type { FromStoreThread, ToStoreThread } from './embedded-cosmos-thread.js';

const port = parentPort!;
const post = (message: FromStoreThread) => port.postMessage(message);
const options = workerData as Omit<EmbeddedCosmosOptions, 'log'>;

try {
  const store = await startEmbeddedCosmos({ ...options, log: (message) => post({ type: 'log', message }) });
  post({ type: 'ready', endpoint: store.endpoint, key: store.key, certificatePem: store.certificatePem });
  port.on('message', (message: ToStoreThread) => {
    const work = message.type === 'snapshot' ? store.snapshot() : store.stop();
    work.then(
      () => {
        post({ type: 'done', id: message.id });
        if (message.type === 'stop') port.close();
      },
      (error: unknown) => post({ type: 'done', id: message.id, error: error instanceof Error ? error.message : String(error) }),
    );
  });
} catch (error) {
  post({ type: 'failed', error: error instanceof Error ? error.message : String(error) });
  port.close();
}
