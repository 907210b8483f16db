import { describe, expect, it } from 'vitest';
import { deploymentSchema, routeSchema, teamSchema } from '../../shared/catalog/schemas.js';

// The documents from PRODUCT.md, verbatim (the route without `shadow`, the team without budget/limits/safety).
const PRODUCT_DEPLOYMENT = {
  id: 'llama70b-managed',
  kind: 'managed',
  protocol: 'aml-score',
  endpoint: 'https://my-ep.eastus2.inference.ml.azure.com',
  upstreamModel: 'llama70b-blue',
  auth: { type: 'entra', scope: 'https://ml.azure.com/.default' },
  pricing: { hourlyUsd: 3.673, instances: 2 },
  capacity: { maxConcurrent: 8 },
  region: 'eastus2',
  tags: ['private'],
  enabled: true,
};
const PRODUCT_ROUTE = {
  alias: 'chat',
  strategy: 'spillover',
  targets: [{ deployment: 'llama70b-managed' }, { deployment: 'llama70b-serverless' }],
  rules: [{ when: { teamTags: ['confidential'] }, only: ['llama70b-managed'] }],
};
const PRODUCT_TEAM = { id: 'search', name: 'Search', aliases: ['chat', 'embed'], tags: ['confidential'] };

const SERVERLESS = {
  id: 'llama70b-serverless',
  kind: 'serverless',
  protocol: 'openai',
  endpoint: 'https://llama.eastus2.models.ai.azure.com',
  upstreamModel: 'Llama-3.3-70B-Instruct',
  auth: { type: 'key', secret: 'LLAMA_SERVERLESS_KEY' },
  pricing: { inputPerMillionUsd: 0.71, outputPerMillionUsd: 0.71 },
};

function issues(result: { success: boolean; error?: { issues: Array<{ path: PropertyKey[]; message: string; code: string }> } }) {
  expect(result.success).toBe(false);
  return result.error!.issues.map((i) => ({ path: i.path.join('.'), message: i.message, code: i.code }));
}

describe('deploymentSchema', () => {
  it('parses the PRODUCT.md deployment unchanged, adding serves=[chat]', () => {
    expect(deploymentSchema.parse(PRODUCT_DEPLOYMENT)).toEqual({ ...PRODUCT_DEPLOYMENT, serves: ['chat'] });
  });

  it('fills the defaults of a minimal serverless deployment', () => {
    expect(deploymentSchema.parse(SERVERLESS)).toEqual({ ...SERVERLESS, serves: ['chat'], tags: [], enabled: true });
  });

  it('accepts auth none and an apiVersion', () => {
    const parsed = deploymentSchema.parse({ ...SERVERLESS, protocol: 'azure-openai', apiVersion: '2024-10-21', auth: { type: 'none' } });
    expect(parsed.auth).toEqual({ type: 'none' });
    expect(parsed.apiVersion).toBe('2024-10-21');
    expect(deploymentSchema.parse({ ...SERVERLESS, apiVersion: '2025-04-01-preview' }).apiVersion).toBe('2025-04-01-preview');
  });

  it('rejects unknown fields, naming them', () => {
    const found = issues(deploymentSchema.safeParse({ ...PRODUCT_DEPLOYMENT, shadow: true, apiKey: 'sk-123' }));
    expect(found).toHaveLength(1);
    expect(found[0]!.code).toBe('unrecognized_keys');
    expect(found[0]!.message).toContain('shadow');
    expect(found[0]!.message).toContain('apiKey');
  });

  it('rejects unknown fields in nested objects', () => {
    expect(issues(deploymentSchema.safeParse({ ...SERVERLESS, auth: { type: 'key', secret: 'X', value: 'sk-live' } }))[0]!.code).toBe(
      'unrecognized_keys',
    );
    expect(issues(deploymentSchema.safeParse({ ...PRODUCT_DEPLOYMENT, capacity: { maxConcurrent: 8, burst: 2 } }))[0]!.code).toBe(
      'unrecognized_keys',
    );
  });

  it('rejects a managed deployment priced per token', () => {
    const found = issues(deploymentSchema.safeParse({ ...PRODUCT_DEPLOYMENT, pricing: { inputPerMillionUsd: 1, outputPerMillionUsd: 2 } }));
    expect(found).toEqual([{ path: 'pricing', code: 'custom', message: 'a managed deployment is priced as { hourlyUsd, instances }' }]);
  });

  it('rejects a serverless deployment priced per hour', () => {
    const found = issues(deploymentSchema.safeParse({ ...SERVERLESS, pricing: { hourlyUsd: 3, instances: 1 } }));
    expect(found).toEqual([
      { path: 'pricing', code: 'custom', message: 'a serverless deployment is priced as { inputPerMillionUsd, outputPerMillionUsd }' },
    ]);
  });

  it('rejects pricing that mixes both shapes', () => {
    expect(
      deploymentSchema.safeParse({ ...SERVERLESS, pricing: { inputPerMillionUsd: 1, outputPerMillionUsd: 2, hourlyUsd: 3 } }).success,
    ).toBe(false);
  });

  it.each([
    { inputPerMillionUsd: -1, outputPerMillionUsd: 1 },
    { inputPerMillionUsd: 1, outputPerMillionUsd: Number.POSITIVE_INFINITY },
    { inputPerMillionUsd: 1_000_001, outputPerMillionUsd: 1 },
    { inputPerMillionUsd: '1', outputPerMillionUsd: 1 },
  ])('rejects bad serverless prices %j', (pricing) => {
    expect(deploymentSchema.safeParse({ ...SERVERLESS, pricing }).success).toBe(false);
  });

  it.each([
    { hourlyUsd: 3, instances: 0 },
    { hourlyUsd: 3, instances: 1.5 },
    { hourlyUsd: -3, instances: 1 },
  ])('rejects bad managed pricing %j', (pricing) => {
    expect(deploymentSchema.safeParse({ ...PRODUCT_DEPLOYMENT, pricing }).success).toBe(false);
  });

  it('accepts a key secret that is an app-setting NAME', () => {
    for (const secret of ['LLAMA_KEY', '_PRIVATE', 'a', 'Key1', 'X'.repeat(128)]) {
      expect(deploymentSchema.parse({ ...SERVERLESS, auth: { type: 'key', secret } }).auth).toEqual({ type: 'key', secret });
    }
  });

  it.each([
    'sk-proj-abc123',
    '1STARTS_WITH_DIGIT',
    'has space',
    'dash-name',
    '@Microsoft.KeyVault(SecretUri=https://v.vault.azure.net/secrets/k)',
    '',
    'X'.repeat(129),
    'key/with/slash',
    'ab==',
  ])('rejects a key secret that is not an app-setting name: %j', (secret) => {
    const found = issues(deploymentSchema.safeParse({ ...SERVERLESS, auth: { type: 'key', secret } }));
    expect(found.map((i) => i.path)).toEqual(['auth.secret']);
    expect(found[0]!.message).toBe('must be the NAME of an app setting (letters, digits, _), never the secret itself');
  });

  it('rejects an entra auth without a URL scope, and an unknown auth type', () => {
    expect(deploymentSchema.safeParse({ ...PRODUCT_DEPLOYMENT, auth: { type: 'entra', scope: 'not a url' } }).success).toBe(false);
    expect(deploymentSchema.safeParse({ ...PRODUCT_DEPLOYMENT, auth: { type: 'entra' } }).success).toBe(false);
    expect(deploymentSchema.safeParse({ ...PRODUCT_DEPLOYMENT, auth: { type: 'basic', user: 'x' } }).success).toBe(false);
  });

  it.each(['Llama70b', '-leading-dash', '', 'a'.repeat(64), 'has space', 'x/y', 'é'])('rejects the id %j', (id) => {
    expect(issues(deploymentSchema.safeParse({ ...SERVERLESS, id })).map((i) => i.path)).toEqual(['id']);
  });

  it('accepts ids of 1 and 63 characters', () => {
    expect(deploymentSchema.parse({ ...SERVERLESS, id: 'a' }).id).toBe('a');
    expect(deploymentSchema.parse({ ...SERVERLESS, id: 'a'.repeat(63) }).id).toBe('a'.repeat(63));
  });

  it.each(['not-a-url', 'my-ep.eastus2.inference.ml.azure.com', ''])('rejects the non-URL endpoint %j', (endpoint) => {
    const found = issues(deploymentSchema.safeParse({ ...SERVERLESS, endpoint }));
    expect(found.map((i) => i.path)).toEqual(['endpoint']);
  });

  it('rejects the aml-score protocol serving embeddings', () => {
    const found = issues(deploymentSchema.safeParse({ ...PRODUCT_DEPLOYMENT, serves: ['chat', 'embeddings'] }));
    expect(found).toEqual([{ path: 'serves', code: 'custom', message: 'the aml-score protocol serves chat only' }]);
  });

  it('rejects empty serves, unknown capabilities, kinds and protocols, and a bad apiVersion', () => {
    expect(deploymentSchema.safeParse({ ...SERVERLESS, serves: [] }).success).toBe(false);
    expect(deploymentSchema.safeParse({ ...SERVERLESS, serves: ['images'] }).success).toBe(false);
    expect(deploymentSchema.safeParse({ ...SERVERLESS, kind: 'spot' }).success).toBe(false);
    expect(deploymentSchema.safeParse({ ...SERVERLESS, protocol: 'anthropic' }).success).toBe(false);
    expect(deploymentSchema.safeParse({ ...SERVERLESS, apiVersion: '2024-10' }).success).toBe(false);
    expect(deploymentSchema.safeParse({ ...SERVERLESS, capacity: { maxConcurrent: 0 } }).success).toBe(false);
    expect(deploymentSchema.safeParse({ ...SERVERLESS, tags: ['UPPER'] }).success).toBe(false);
  });

  it('accepts the features PRODUCT.md names, leaving them absent when undeclared (the protocol default applies when routing)', () => {
    const all = ['tools', 'structured-output', 'vision', 'logprobs', 'multiple-choices', 'reasoning', 'responses', 'stop', 'seed'];
    expect(deploymentSchema.parse({ ...SERVERLESS, features: all }).features).toEqual(all);
    expect(deploymentSchema.parse({ ...SERVERLESS, features: [] }).features).toEqual([]);
    expect(deploymentSchema.parse(SERVERLESS).features).toBeUndefined();
    const vllm = { ...PRODUCT_DEPLOYMENT, protocol: 'openai', features: ['tools', 'structured-output'] };
    expect(deploymentSchema.parse(vllm).features).toEqual(['tools', 'structured-output']);
  });

  it('rejects an unknown or repeated feature, naming the field', () => {
    expect(issues(deploymentSchema.safeParse({ ...SERVERLESS, features: ['tools', 'telepathy'] }))[0]!.path).toBe('features.1');
    expect(issues(deploymentSchema.safeParse({ ...SERVERLESS, features: ['tools', 'tools'] }))).toEqual([
      { path: 'features', code: 'custom', message: 'a feature is listed twice' },
    ]);
    expect(deploymentSchema.safeParse({ ...SERVERLESS, features: 'tools' }).success).toBe(false);
  });
});

describe('routeSchema', () => {
  it('parses the PRODUCT.md route (without shadow) unchanged', () => {
    expect(routeSchema.parse(PRODUCT_ROUTE)).toEqual(PRODUCT_ROUTE);
  });

  it('defaults the strategy to spillover and rules to none', () => {
    expect(routeSchema.parse({ alias: 'embed', targets: [{ deployment: 'ada' }] })).toEqual({
      alias: 'embed',
      strategy: 'spillover',
      targets: [{ deployment: 'ada' }],
      rules: [],
    });
  });

  it('rejects unknown fields, in the route and in its parts', () => {
    expect(issues(routeSchema.safeParse({ ...PRODUCT_ROUTE, fallback: 'x' }))[0]!.code).toBe('unrecognized_keys');
    expect(issues(routeSchema.safeParse({ ...PRODUCT_ROUTE, targets: [{ deployment: 'a', priority: 1 }] }))[0]!.code).toBe(
      'unrecognized_keys',
    );
    expect(
      issues(routeSchema.safeParse({ ...PRODUCT_ROUTE, rules: [{ when: { teamTags: ['x'], region: 'eu' }, only: [] }] })).some(
        (i) => i.code === 'unrecognized_keys',
      ),
    ).toBe(true);
  });

  it('parses a weighted route with a weight on every target, zero included', () => {
    const route = {
      alias: 'chat',
      strategy: 'weighted',
      targets: [
        { deployment: 'a', weight: 3 },
        { deployment: 'b', weight: 0 },
      ],
    };
    expect(routeSchema.parse(route)).toEqual({ ...route, rules: [] });
  });

  it('rejects a weighted route with a target missing its weight', () => {
    const found = issues(
      routeSchema.safeParse({ alias: 'chat', strategy: 'weighted', targets: [{ deployment: 'a', weight: 1 }, { deployment: 'b' }] }),
    );
    expect(found).toEqual([{ path: 'targets.1.weight', code: 'custom', message: 'a weighted route needs a weight on every target' }]);
  });

  it.each([-1, 1.5, 1_000_001])('rejects the weight %s', (weight) => {
    expect(routeSchema.safeParse({ alias: 'chat', strategy: 'weighted', targets: [{ deployment: 'a', weight }] }).success).toBe(false);
  });

  it('rejects a target listed twice', () => {
    const found = issues(
      routeSchema.safeParse({ alias: 'chat', targets: [{ deployment: 'a' }, { deployment: 'b' }, { deployment: 'a' }] }),
    );
    expect(found).toEqual([{ path: 'targets.2.deployment', code: 'custom', message: "'a' is listed twice" }]);
  });

  it('rejects no targets and more than 32', () => {
    expect(routeSchema.safeParse({ alias: 'chat', targets: [] }).success).toBe(false);
    const targets = Array.from({ length: 33 }, (_, i) => ({ deployment: `d${i}` }));
    expect(routeSchema.safeParse({ alias: 'chat', targets }).success).toBe(false);
    expect(routeSchema.safeParse({ alias: 'chat', targets: targets.slice(0, 32) }).success).toBe(true);
  });

  it('rejects a rule whose when names no condition', () => {
    const found = issues(routeSchema.safeParse({ ...PRODUCT_ROUTE, rules: [{ when: {}, only: ['a'] }] }));
    expect(found).toEqual([{ path: 'rules.0.when', code: 'custom', message: 'a rule needs at least one condition in when' }]);
    expect(routeSchema.safeParse({ ...PRODUCT_ROUTE, rules: [{ when: { teams: [] }, only: ['a'] }] }).success).toBe(false);
  });

  it('accepts a rule that allows no target', () => {
    expect(routeSchema.parse({ ...PRODUCT_ROUTE, rules: [{ when: { teams: ['ads'] }, only: [] }] }).rules).toEqual([
      { when: { teams: ['ads'] }, only: [] },
    ]);
  });

  it.each(['cheapest', 'fastest'])('accepts the %s strategy without weights', (strategy) => {
    expect(routeSchema.parse({ alias: 'chat', strategy, targets: [{ deployment: 'a' }, { deployment: 'b' }] }).strategy).toBe(strategy);
  });

  it('accepts rules by request facts and refuses malformed ones', () => {
    const when = { stream: true, minPromptTokens: 4_000, features: ['vision'], userPattern: 'batch-*' };
    expect(routeSchema.parse({ ...PRODUCT_ROUTE, rules: [{ when, only: [] }] }).rules[0]!.when).toEqual(when);
    for (const bad of [
      { minPromptTokens: -1 },
      { minPromptTokens: 1.5 },
      { features: [] },
      { features: ['telepathy'] },
      { userPattern: '' },
      { userPattern: 'a\nb' },
      { stream: 'yes' },
    ]) {
      expect(routeSchema.safeParse({ ...PRODUCT_ROUTE, rules: [{ when: bad, only: [] }] }).success).toBe(false);
    }
  });

  it('rejects an unknown strategy and a bad alias', () => {
    expect(routeSchema.safeParse({ ...PRODUCT_ROUTE, strategy: 'round-robin' }).success).toBe(false);
    expect(routeSchema.safeParse({ ...PRODUCT_ROUTE, alias: 'Chat' }).success).toBe(false);
  });
});

describe('teamSchema', () => {
  it('parses the PRODUCT.md team (without budget, limits and safety) unchanged', () => {
    expect(teamSchema.parse(PRODUCT_TEAM)).toEqual(PRODUCT_TEAM);
  });

  it('defaults aliases and tags to empty', () => {
    expect(teamSchema.parse({ id: 'demo', name: 'Demo' })).toEqual({ id: 'demo', name: 'Demo', aliases: [], tags: [] });
  });

  it('rejects unknown fields', () => {
    const found = issues(teamSchema.safeParse({ ...PRODUCT_TEAM, owner: 'bob' }));
    expect(found[0]!.code).toBe('unrecognized_keys');
    expect(found[0]!.message).toContain('owner');
  });

  it('rejects a missing or empty name, a bad id, alias or tag', () => {
    expect(teamSchema.safeParse({ id: 'demo' }).success).toBe(false);
    expect(teamSchema.safeParse({ id: 'demo', name: '' }).success).toBe(false);
    expect(teamSchema.safeParse({ id: 'Demo', name: 'Demo' }).success).toBe(false);
    expect(teamSchema.safeParse({ id: 'demo', name: 'Demo', aliases: ['Chat'] }).success).toBe(false);
    expect(teamSchema.safeParse({ id: 'demo', name: 'Demo', tags: ['has space'] }).success).toBe(false);
  });

  it('accepts tags with colons', () => {
    expect(teamSchema.parse({ id: 'demo', name: 'Demo', tags: ['region:eu'] }).tags).toEqual(['region:eu']);
  });
});
