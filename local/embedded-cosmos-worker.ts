/** Worker-thread entry: runs the embedded Cosmos-compatible store off the gateway's event loop. */
import './embedded-cosmos-lazy-geo.js';
import { parentPort } from 'node:worker_threads';
import { startEmbeddedCosmos } from './embedded-cosmos.js';
import type { FromStoreThread, ToStoreThread } from './embedded-cosmos-thread.js';

const port = parentPort!;
const post = (message: FromStoreThread) => port.postMessage(message);
// The store's code is loaded by now; the parent sends the options once it has read its settings.
const first = await new Promise<ToStoreThread>((resolve) => port.once('message', resolve));

try {
  if (first.type !== 'start') throw new Error(`the store thread was sent ${first.type} before start`);
  const store = await startEmbeddedCosmos({ ...first.options, log: (message) => post({ type: 'log', message }) });
  post({ type: 'ready', endpoint: store.endpoint, key: store.key, certificatePem: store.certificatePem });
  port.on('message', (message: ToStoreThread) => {
    if (message.type === 'start') return;
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
