import { CosmosClient } from '@azure/cosmos';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedCosmos, type EmbeddedCosmos } from '../../local/embedded-cosmos.js';
import { isGatewayError } from '../../shared/errors.js';
import { containerDefinitions, ensureContainers } from '../../shared/store/containers.js';
import { CosmosResponseStore } from '../../shared/store/cosmos-responses.js';

let cosmos: EmbeddedCosmos;
let client: CosmosClient;
let store: CosmosResponseStore;

beforeAll(async () => {
  cosmos = await startEmbeddedCosmos({});
  client = new CosmosClient(cosmos.connectionOptions());
  const database = await ensureContainers(client, 'responses-store-test');
  store = new CosmosResponseStore(database.container(containerDefinitions.responses.id));
});
afterAll(async () => {
  client?.dispose();
  await cosmos?.stop();
});

const stored = (id: string, team: string) => ({
  id,
  team,
  input: [{ type: 'message', role: 'user', content: 'hi' }],
  response: { id, object: 'response', status: 'completed', output: [{ id: 'msg_1', type: 'message', role: 'assistant', content: [] }] },
});

describe('CosmosResponseStore', () => {
  it('reads a stored Response back only within the team that stored it', async () => {
    await store.put(stored('resp_a1', 'blue'));
    expect(await store.get('blue', 'resp_a1')).toMatchObject(stored('resp_a1', 'blue'));
    expect(await store.get('green', 'resp_a1')).toBeUndefined();
    expect(await store.delete('green', 'resp_a1')).toBe(false);
    expect(await store.get('blue', 'resp_a1')).toBeDefined();
  });

  it('deletes once: the second delete and later reads find nothing', async () => {
    await store.put(stored('resp_b2', 'blue'));
    expect(await store.delete('blue', 'resp_b2')).toBe(true);
    expect(await store.delete('blue', 'resp_b2')).toBe(false);
    expect(await store.get('blue', 'resp_b2')).toBeUndefined();
  });

  it.each(['', '.', '..', 'resp_../x', 'resp_a/b', 'x'.repeat(300), 'msg_1'])('treats the id %j as naming nothing', async (id) => {
    expect(await store.get('blue', id)).toBeUndefined();
    expect(await store.delete('blue', id)).toBe(false);
  });

  it('reports a store that cannot be reached as store_unavailable', async () => {
    const unreachable = new CosmosClient({
      endpoint: 'http://127.0.0.1:9',
      key: Buffer.from('not-a-real-key').toString('base64'),
      connectionPolicy: {
        requestTimeout: 500,
        retryOptions: { maxRetryAttemptCount: 0, fixedRetryIntervalInMilliseconds: 0, maxWaitTimeInSeconds: 0 },
      },
    });
    const down = new CosmosResponseStore(unreachable.database('d').container('responses'));
    const failure = await down.get('blue', 'resp_c3').catch((error: unknown) => error);
    expect(isGatewayError(failure) && failure.code).toBe('store_unavailable');
    unreachable.dispose();
  });
});
