import { describe, expect, it } from 'vitest';
import { deploymentSchema } from '../../shared/catalog/schemas.js';

const SERVERLESS = {
  id: 'llama-foundry',
  kind: 'serverless',
  protocol: 'openai',
  endpoint: 'https://llama.eastus2.models.ai.azure.com',
  upstreamModel: 'Llama-3.3-70B-Instruct',
  auth: { type: 'key', secret: 'LLAMA_SERVERLESS_KEY' },
  pricing: { inputPerMillionUsd: 0.71, outputPerMillionUsd: 0.71 },
};
const MANAGED = {
  id: 'llama-green',
  kind: 'managed',
  protocol: 'aml-score',
  endpoint: 'https://my-ep.eastus2.inference.ml.azure.com',
  upstreamModel: 'Llama-3.3-70B-Instruct',
  auth: { type: 'entra', scope: 'https://ml.azure.com/.default' },
  pricing: { hourlyUsd: 3.673, instances: 2 },
};

function issues(result: { success: boolean; error?: { issues: Array<{ path: PropertyKey[]; message: string }> } }) {
  expect(result.success).toBe(false);
  return result.error!.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
}

describe('deployment upstream switches', () => {
  it('are optional: a document without them parses as before, with no upstream field', () => {
    expect(deploymentSchema.parse(SERVERLESS)).not.toHaveProperty('upstream');
  });

  it('accept streamOptions, fixed extra headers and a named AML deployment', () => {
    const foundry = deploymentSchema.parse({
      ...SERVERLESS,
      upstream: { streamOptions: false, headers: { 'extra-parameters': 'pass-through' } },
    });
    expect(foundry.upstream).toEqual({ streamOptions: false, headers: { 'extra-parameters': 'pass-through' } });
    expect(deploymentSchema.parse({ ...MANAGED, upstream: { amlDeployment: 'green' } }).upstream).toEqual({ amlDeployment: 'green' });
    expect(
      deploymentSchema.parse({ ...SERVERLESS, kind: 'managed', pricing: MANAGED.pricing, upstream: { amlDeployment: 'blue-2' } }).upstream,
    ).toEqual({ amlDeployment: 'blue-2' });
  });

  it('refuse credentials, host and hop-by-hop headers, naming the field', () => {
    for (const name of ['authorization', 'Api-Key', 'host', 'connection', 'transfer-encoding', 'proxy-authorization', 'content-length']) {
      expect(issues(deploymentSchema.safeParse({ ...SERVERLESS, upstream: { headers: { [name]: 'x' } } }))).toEqual([
        { path: `upstream.headers.${name}`, message: `the header '${name.toLowerCase()}' is set by Switchyard and cannot be configured` },
      ]);
    }
    expect(issues(deploymentSchema.safeParse({ ...MANAGED, upstream: { headers: { 'azureml-model-deployment': 'green' } } }))).toEqual([
      {
        path: 'upstream.headers.azureml-model-deployment',
        message: "the header 'azureml-model-deployment' is set by Switchyard and cannot be configured (use upstream.amlDeployment)",
      },
    ]);
  });

  it('refuse malformed header names and values, and the same header twice in different case', () => {
    expect(issues(deploymentSchema.safeParse({ ...SERVERLESS, upstream: { headers: { 'bad name': 'x' } } }))[0]!.path).toBe(
      'upstream.headers.bad name',
    );
    expect(issues(deploymentSchema.safeParse({ ...SERVERLESS, upstream: { headers: { 'x-a': 'line\r\nbreak' } } }))[0]!.path).toBe(
      'upstream.headers.x-a',
    );
    expect(issues(deploymentSchema.safeParse({ ...SERVERLESS, upstream: { headers: { 'X-A': '1', 'x-a': '2' } } }))).toEqual([
      { path: 'upstream.headers.x-a', message: "the header 'x-a' is listed twice" },
    ]);
  });

  it('refuse more than 16 extra headers', () => {
    const headers = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`x-extra-${i}`, 'v']));
    expect(issues(deploymentSchema.safeParse({ ...SERVERLESS, upstream: { headers } }))).toEqual([
      { path: 'upstream.headers', message: 'at most 16 extra headers' },
    ]);
  });

  it('refuse switches the protocol has no use for, and unknown ones', () => {
    expect(issues(deploymentSchema.safeParse({ ...MANAGED, upstream: { streamOptions: false } }))).toEqual([
      { path: 'upstream.streamOptions', message: 'the aml-score protocol does not stream, so it sends no stream_options' },
    ]);
    expect(issues(deploymentSchema.safeParse({ ...SERVERLESS, protocol: 'azure-openai', upstream: { amlDeployment: 'green' } }))).toEqual([
      { path: 'upstream.amlDeployment', message: 'an azure-openai endpoint has no Azure ML deployments' },
    ]);
    expect(issues(deploymentSchema.safeParse({ ...MANAGED, upstream: { amlDeployment: '-bad' } }))[0]!.path).toBe('upstream.amlDeployment');
    expect(issues(deploymentSchema.safeParse({ ...SERVERLESS, upstream: { includeUsage: false } }))[0]!.message).toContain('includeUsage');
  });
});
