import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { putRoute, putSimDeployment, startTestGateway, type TestGateway, today } from './harness.js';

// Per-deployment upstream switches over the local gateway: what the simulators actually received.
let gw: TestGateway;

async function putAmlDeployment(id: string, amlDeployment: string): Promise<Response> {
  return gw.call(`/manage/deployments/${id}`, {
    method: 'PUT',
    body: JSON.stringify({
      kind: 'managed',
      protocol: 'aml-score',
      endpoint: gw.sims!.managed.url,
      upstreamModel: 'Llama-3.3-70B-Instruct',
      auth: { type: 'key', secret: 'UPSTREAM_SIM_KEY' },
      pricing: { hourlyUsd: 3.673, instances: 1 },
      upstream: { amlDeployment },
    }),
  });
}

async function usageRow(alias: string): Promise<Record<string, number>> {
  await gw.flushUsage();
  const report = await (await gw.call(`/usage?from=${today()}&to=${today()}&groupBy=alias`)).json();
  return report.rows.find((row: { alias: string }) => row.alias === alias);
}

beforeAll(async () => {
  gw = await startTestGateway({ managedSim: { deployments: ['blue', 'green'] } });
  const legacy = await putSimDeployment(gw, 'foundry-legacy', {
    serves: ['chat'],
    upstream: { streamOptions: false, headers: { 'extra-parameters': 'pass-through' } },
  });
  expect(legacy.status).toBe(201);
  await putRoute(gw, 'legacy', ['foundry-legacy']);
  expect((await putAmlDeployment('llama-blue', 'blue')).status).toBe(201);
  expect((await putAmlDeployment('llama-green', 'green')).status).toBe(201);
  await putRoute(gw, 'bluegreen', ['llama-blue', 'llama-green'], {
    strategy: 'weighted',
    targets: [
      { deployment: 'llama-blue', weight: 1 },
      { deployment: 'llama-green', weight: 1 },
    ],
  });
});
afterAll(async () => {
  await gw?.close();
});

describe('per-deployment upstream switches', () => {
  it('streamOptions false: the stream reaches the upstream without stream_options (the caller’s stripped), usage estimated', async () => {
    const stream = await gw.openai.chat.completions.create({
      model: 'legacy',
      messages: [{ role: 'user', content: 'hello there' }],
      max_tokens: 6,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    expect(text.length).toBeGreaterThan(0);
    const last = gw.sims!.serverless.stats().lastRequest!;
    expect(last.path).toBe('/v1/chat/completions');
    expect(last.body).toMatchObject({ stream: true, model: 'Llama-3.3-70B-Instruct' });
    expect(last.body).not.toHaveProperty('stream_options');
    expect(await usageRow('legacy')).toMatchObject({ requests: 1, estimatedRequests: 1, failedRequests: 0 });
  });

  it('sends the fixed extra header to the upstream, whatever the caller sends', async () => {
    await gw.openai.chat.completions.create(
      { model: 'legacy', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 },
      { headers: { 'extra-parameters': 'drop' } },
    );
    expect(gw.sims!.serverless.stats().lastRequest!.headers['extra-parameters']).toBe('pass-through');
  });

  it('refuses a credential header in a deployment document with 400 naming the field', async () => {
    const refused = await putSimDeployment(gw, 'foundry-bad', { upstream: { headers: { authorization: 'Bearer x' } } });
    expect(refused.status).toBe(400);
    const error = (await refused.json()).error;
    expect(error.param).toBe('upstream.headers.authorization');
    expect(error.message).toContain("'authorization' is set by Switchyard");
  });

  it('blue/green: two deployments on one managed endpoint, weighted, pin azureml-model-deployment to blue and green', async () => {
    const sim = gw.sims!.managed;
    sim.resetStats();
    // Weighted routing is sticky per `user`, so distinct users spread over both weights.
    for (let user = 0; user < 24; user += 1) {
      const completion = await gw.openai.chat.completions.create({
        model: 'bluegreen',
        messages: [{ role: 'user', content: 'hi' }],
        max_tokens: 2,
        user: `user-${user}`,
      });
      expect(completion.choices[0]!.message.content).toBeTruthy();
    }
    const { byDeployment } = sim.stats();
    expect(byDeployment.blue! + byDeployment.green!).toBe(24);
    expect(byDeployment.blue).toBeGreaterThan(0);
    expect(byDeployment.green).toBeGreaterThan(0);
    expect(['blue', 'green']).toContain(sim.stats().lastRequest!.headers['azureml-model-deployment']);
  });
});
