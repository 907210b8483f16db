import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AmlScoreSim, startAmlScoreSim } from '../../local/simulators/aml-score-sim.js';
import { azureMlInstanceCount } from '../../shared/allocation/azure-ml-instances.js';
import { createSender, createUpstreamDispatcher } from '../../shared/upstreams/send-upstream.js';

const ENDPOINT = '/subscriptions/0000/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws/onlineEndpoints/llama-ep';
let sim: AmlScoreSim;
const dispatcher = createUpstreamDispatcher({ allowLoopback: true });

beforeAll(async () => {
  sim = await startAmlScoreSim({ apiKey: 'arm-token', deployments: ['blue', 'green'], instanceCount: 3 });
});
afterAll(async () => {
  await sim?.close();
  await dispatcher.close();
});

describe('instance count from Azure ML (sku.capacity) against the AML simulator', () => {
  const count = (token = 'arm-token') =>
    azureMlInstanceCount({ armEndpoint: `${sim.url}/`, send: createSender(dispatcher), token: async () => token, timeoutMs: 5_000 });

  it("reads an online deployment's sku.capacity; a deployment billed to another resource is not asked", async () => {
    expect(await count()({ billing: { resourceId: `${ENDPOINT}/deployments/green` } })).toBe(3);
    sim.setOptions({ instanceCount: 5 });
    expect(await count()({ billing: { resourceId: `${ENDPOINT}/deployments/blue` } })).toBe(5);
    const before = sim.stats().requests;
    expect(await count()({ billing: { resourceId: ENDPOINT } })).toBeUndefined();
    expect(await count()({})).toBeUndefined();
    expect(sim.stats().requests).toBe(before);
  });

  it('fails on an unknown deployment or a refused token (the caller charges the configured count)', async () => {
    await expect(count()({ billing: { resourceId: `${ENDPOINT}/deployments/red` } })).rejects.toThrow();
    await expect(count('wrong')({ billing: { resourceId: `${ENDPOINT}/deployments/blue` } })).rejects.toThrow();
  });
});
