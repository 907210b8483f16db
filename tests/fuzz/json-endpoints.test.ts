import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, DEMO_KEY, putRoute, putSimDeployment, startTestGateway, type TestGateway } from '../e2e/harness.js';

// Every JSON endpoint over real HTTP with valid, near-valid (one field mutated) and hostile documents: the gateway
// answers each one, never with a 5xx other than an upstream's documented 502/503/504, every 4xx in the OpenAI error
// shape, and it still answers /health after. Runs are bounded and seeded; a failure prints the seed and the document.

const SEED = Number(process.env.FUZZ_SEED ?? 20261130);
const RUNS = Number(process.env.FUZZ_RUNS ?? 20);
/** Long enough for a loaded machine; a request that needs more is a hang. */
const ANSWER_TIMEOUT_MS = 15_000;

/** The 5xx an inference endpoint may answer when an upstream is involved, with the code it must carry. */
const UPSTREAM_5XX: Record<number, string[]> = {
  502: ['upstream_error'],
  503: ['no_deployment_available'],
  504: ['upstream_timeout'],
};

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

interface Endpoint {
  name: string;
  method: 'POST' | 'PUT' | 'PATCH';
  path: string;
  /** Read when the request is sent: a screened team's key exists only once the gateway has made it. */
  key: () => string;
  /** A document the endpoint accepts. */
  valid: Record<string, Json>;
  /** Whether it calls an upstream, so an upstream's 5xx may pass through. */
  upstream: boolean;
}

let gw: TestGateway;
/** A key of a team screened by every safety layer, so hostile prompts go through the screening code too. */
let screenedKey: string;

beforeAll(async () => {
  gw = await startTestGateway();
  expect((await putSimDeployment(gw, 'fuzz-sim')).status).toBe(201);
  expect((await putSimDeployment(gw, 'fuzz-sim-next')).status).toBe(201);
  await putRoute(gw, 'fuzz', ['fuzz-sim']);
  await putRoute(gw, 'fuzz-patched', ['fuzz-sim']);
  await putRoute(gw, 'fuzz-shifted', ['fuzz-sim']);
  expect((await gw.call('/manage/teams/fuzz-team', { method: 'PUT', body: JSON.stringify({ name: 'Fuzz' }) })).status).toBe(201);
  expect(
    (await gw.call('/manage/blocklists/fuzz-words', { method: 'PUT', body: JSON.stringify({ items: ['Project Falcon'] }) })).status,
  ).toBe(201);
  const safety = {
    categories: { hate: 4, sexual: 4, violence: 4, selfHarm: 4 },
    promptShield: true,
    pii: 'mask',
    blocklists: ['fuzz-words'],
    mode: 'enforce',
    onOutage: 'closed',
  };
  const screened = await gw.call('/manage/teams/fuzz-screened', {
    method: 'PUT',
    body: JSON.stringify({ name: 'Fuzz screened', aliases: ['fuzz'], safety }),
  });
  expect(screened.status, await screened.text()).toBe(201);
  screenedKey = ((await (await gw.call('/manage/teams/fuzz-screened/keys', { method: 'POST', body: '{}' })).json()) as { key: string }).key;
});
afterAll(async () => {
  await gw?.close();
});

const chatBody = { model: 'fuzz', messages: [{ role: 'user', content: 'hello' }], max_tokens: 3 };
const deployment = {
  kind: 'serverless',
  protocol: 'openai',
  endpoint: 'http://127.0.0.1:9/v1',
  upstreamModel: 'Llama-3.3-70B-Instruct',
  serves: ['chat'],
  auth: { type: 'key', secret: 'UPSTREAM_SIM_KEY' },
  pricing: { inputPerMillionUsd: 0.71, outputPerMillionUsd: 0.71 },
  enabled: false,
};

const endpoints = (): Endpoint[] => [
  {
    name: 'chat, screened team',
    method: 'POST',
    path: '/v1/chat/completions',
    key: () => screenedKey,
    valid: { ...chatBody, messages: [{ role: 'user', content: 'mail a@b.io about the falcon project' }], stream: true },
    upstream: true,
  },
  {
    name: 'embeddings, screened team',
    method: 'POST',
    path: '/v1/embeddings',
    key: () => screenedKey,
    valid: { model: 'fuzz', input: ['call 555-0100', 'b'] },
    upstream: true,
  },
  {
    name: 'responses, screened team',
    method: 'POST',
    path: '/v1/responses',
    key: () => screenedKey,
    valid: { model: 'fuzz', input: 'my card is 4111 1111 1111 1111', max_output_tokens: 16 },
    upstream: true,
  },
  { name: 'chat', method: 'POST', path: '/v1/chat/completions', key: () => DEMO_KEY, valid: chatBody, upstream: true },
  {
    name: 'chat streamed',
    method: 'POST',
    path: '/v1/chat/completions',
    key: () => DEMO_KEY,
    valid: { ...chatBody, stream: true, stream_options: { include_usage: true } },
    upstream: true,
  },
  {
    name: 'embeddings',
    method: 'POST',
    path: '/v1/embeddings',
    key: () => DEMO_KEY,
    valid: { model: 'fuzz', input: ['a', 'b'] },
    upstream: true,
  },
  {
    name: 'responses',
    method: 'POST',
    path: '/v1/responses',
    key: () => DEMO_KEY,
    valid: { model: 'fuzz', input: [{ role: 'user', content: 'hi' }], max_output_tokens: 16, instructions: 'Be brief.' },
    upstream: true,
  },
  { name: 'deployment PUT', method: 'PUT', path: '/manage/deployments/fuzz-dep', key: () => ADMIN_KEY, valid: deployment, upstream: false },
  {
    name: 'deployment PATCH',
    method: 'PATCH',
    path: '/manage/deployments/fuzz-sim-next',
    key: () => ADMIN_KEY,
    valid: { tags: ['fuzzed'], pricing: { inputPerMillionUsd: 0.5, outputPerMillionUsd: 0.7 } },
    upstream: false,
  },
  {
    name: 'route PUT',
    method: 'PUT',
    path: '/manage/routes/fuzz-route',
    key: () => ADMIN_KEY,
    valid: { targets: [{ deployment: 'fuzz-sim', weight: 1 }], strategy: 'weighted' },
    upstream: false,
  },
  {
    name: 'route PATCH',
    method: 'PATCH',
    path: '/manage/routes/fuzz-patched',
    key: () => ADMIN_KEY,
    valid: { strategy: 'cheapest', targets: [{ deployment: 'fuzz-sim' }, { deployment: 'fuzz-sim-next' }] },
    upstream: false,
  },
  {
    name: 'team PUT',
    method: 'PUT',
    path: '/manage/teams/fuzz-put-team',
    key: () => ADMIN_KEY,
    valid: { name: 'Fuzz put', aliases: ['fuzz'], budget: { monthlyUsd: 100, enforce: 'hard' }, limits: { rpm: 1000 } },
    upstream: false,
  },
  { name: 'team PATCH', method: 'PATCH', path: '/manage/teams/fuzz-team', key: () => ADMIN_KEY, valid: { tags: ['a'] }, upstream: false },
  {
    name: 'blocklist PUT',
    method: 'PUT',
    path: '/manage/blocklists/fuzz-list',
    key: () => ADMIN_KEY,
    valid: { items: ['Project Falcon'] },
    upstream: false,
  },
  { name: 'role key POST', method: 'POST', path: '/manage/keys', key: () => ADMIN_KEY, valid: { role: 'ops' }, upstream: false },
  { name: 'team key POST', method: 'POST', path: '/manage/teams/fuzz-team/keys', key: () => ADMIN_KEY, valid: {}, upstream: false },
  {
    name: 'explain',
    method: 'POST',
    path: '/manage/explain',
    key: () => ADMIN_KEY,
    valid: { team: 'demo', request: chatBody },
    upstream: false,
  },
  {
    name: 'route shift',
    method: 'PUT',
    path: '/manage/routes/fuzz-shifted/shift',
    key: () => ADMIN_KEY,
    valid: { to: 'fuzz-sim-next', over: '10m', steps: 5 },
    upstream: false,
  },
  { name: 'reconcile', method: 'POST', path: '/usage/reconcile?month=2026-11', key: () => ADMIN_KEY, valid: {}, upstream: false },
];

// ---- documents ----

const PROTOTYPE_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', '__defineGetter__'];
const ODD_STRINGS = [
  '',
  '\u0000',
  '\ud800',
  '\udfff\ud800',
  '\u202e\u202dRTL',
  '\ufeff',
  'e\u0301\u0301\u0301',
  '👩‍👩‍👧‍👦'.repeat(50),
  '\r\n\r\ndata: [DONE]\n\n',
  '$\u007Bjndi:ldap://x}',
  '../../etc/passwd',
  'NaN',
  '-0',
  '1e309',
];

const oddString = fc.oneof(fc.constantFrom(...ODD_STRINGS), fc.string({ unit: 'binary', maxLength: 40 }), fc.string({ maxLength: 40 }));
const hugeString = fc.integer({ min: 50_000, max: 300_000 }).map((n) => 'x'.repeat(n));
const oddNumber = fc.oneof(
  fc.constantFrom(-1, 0, -0, 1e308, -1e308, 2 ** 53 + 1, 0.1 + 0.2, 1e-320, 4_294_967_296),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.integer(),
);
/** JSON text nested thousands deep, written as text: building it as a value would overflow this test's own stack. */
const deepNesting = fc
  .tuple(fc.integer({ min: 100, max: 50_000 }), fc.boolean())
  .map(([depth, arrays]) => (arrays ? `${'['.repeat(depth)}0${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}0${'}'.repeat(depth)}`));
const anyJson = fc.jsonValue({ maxDepth: 4 }) as fc.Arbitrary<Json>;
const wrongType = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  oddNumber,
  oddString,
  fc.constant([] as Json),
  fc.constant({} as Json),
  anyJson,
);

/** Every path to a value in a document (keys and array indexes), the document itself excluded. */
function pathsOf(value: Json, prefix: Array<string | number> = []): Array<Array<string | number>> {
  if (Array.isArray(value)) return value.flatMap((item, i) => [[...prefix, i], ...pathsOf(item, [...prefix, i])]);
  if (value !== null && typeof value === 'object')
    return Object.entries(value).flatMap(([key, item]) => [[...prefix, key], ...pathsOf(item, [...prefix, key])]);
  return [];
}

/** A mutation's new value is JSON text, so a value too deep to build can be spliced in. */
type Mutation = { kind: 'replace'; json: string } | { kind: 'remove' } | { kind: 'extra'; key: string; json: string };

const text = (value: fc.Arbitrary<Json>) => value.map((v) => JSON.stringify(v));
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  text(wrongType).map((json) => ({ kind: 'replace', json }) as const),
  text(oddNumber).map((json) => ({ kind: 'replace', json }) as const),
  text(hugeString).map((json) => ({ kind: 'replace', json }) as const),
  deepNesting.map((json) => ({ kind: 'replace', json }) as const),
  text(oddString).map((json) => ({ kind: 'replace', json }) as const),
  fc.constant({ kind: 'remove' } as const),
  fc
    .tuple(fc.oneof(oddString, fc.string({ minLength: 1, maxLength: 12 })), text(anyJson))
    .map(([key, json]) => ({ kind: 'extra', key, json }) as const),
  // `__proto__` must be an own key of the text, which an object literal cannot hold: keys are spliced in as text too.
  fc
    .tuple(fc.constantFrom(...PROTOTYPE_KEYS), fc.oneof(text(wrongType), deepNesting))
    .map(([key, json]) => ({ kind: 'extra', key, json }) as const),
);

const VALUE_MARKER = '"__fuzz_value__"';
const KEY_MARKER = '"__fuzz_key__":0';

/** The document with one mutation at one path (the whole document included), as JSON text. */
function mutated(valid: Record<string, Json>, pathIndex: number, change: Mutation): string {
  const paths = [[], ...pathsOf(valid)] as Array<Array<string | number>>;
  const path = paths[pathIndex % paths.length]!;
  const copy = structuredClone(valid) as Json;
  let parent: Json = copy;
  for (const step of path.slice(0, -1)) parent = (parent as Record<string | number, Json>)[step]!;
  const last = path.at(-1);
  const slots = parent as Record<string | number, Json>;
  switch (change.kind) {
    case 'replace':
      if (last === undefined) return change.json;
      slots[last] = JSON.parse(VALUE_MARKER) as string;
      return JSON.stringify(copy).replace(VALUE_MARKER, () => change.json);
    case 'remove':
      if (last === undefined) return '';
      if (Array.isArray(parent)) parent.splice(Number(last), 1);
      else delete slots[last];
      return JSON.stringify(copy);
    case 'extra': {
      const target = last === undefined ? copy : slots[last]!;
      const host = target !== null && typeof target === 'object' && !Array.isArray(target) ? target : (copy as Record<string, Json>);
      (host as Record<string, Json>).__fuzz_key__ = 0;
      return JSON.stringify(copy).replace(KEY_MARKER, () => `${JSON.stringify(change.key)}:${change.json}`);
    }
  }
}

/** Documents that are no kind of valid body: other JSON values, broken JSON, bytes that are not UTF-8. */
const hostileBody: fc.Arbitrary<string | Uint8Array> = fc.oneof(
  anyJson.map((value) => JSON.stringify(value)),
  fc.constantFrom('', '{', '{"model":', 'null', '[]', '"string"', '{"a":1}{"b":2}', '{"a":1,}', '\u0000{}', '{"__proto__":{"admin":true}}'),
  fc.uint8Array({ maxLength: 256 }),
  fc.string({ unit: 'binary', maxLength: 200 }),
  deepNesting,
);

type Document = { kind: 'valid'; body: string } | { kind: 'near-valid'; body: string } | { kind: 'hostile'; body: string | Uint8Array };

/** A failure prints the document's kind and its first bytes: a huge document would drown the report. */
function preview(document: Document): Document {
  const text = typeof document.body === 'string' ? document.body : `bytes ${Buffer.from(document.body).toString('hex')}`;
  const shown = text.length > 300 ? `${text.slice(0, 300)}… (${text.length} chars)` : text;
  return Object.assign(document, { [fc.toStringMethod]: () => `${document.kind}: ${JSON.stringify(shown)}` });
}

const documentFor = (endpoint: Endpoint): fc.Arbitrary<Document> =>
  fc
    .oneof(
      { arbitrary: fc.constant({ kind: 'valid', body: JSON.stringify(endpoint.valid) } as const), weight: 1 },
      {
        arbitrary: fc
          .tuple(fc.nat(), mutation)
          .map(([at, change]) => ({ kind: 'near-valid', body: mutated(endpoint.valid, at, change) }) as const),
        weight: 5,
      },
      { arbitrary: hostileBody.map((body) => ({ kind: 'hostile', body }) as const), weight: 2 },
    )
    .map(preview);

// ---- the property ----

async function send(endpoint: Endpoint, document: Document): Promise<{ status: number; text: string; contentType: string }> {
  const response = await fetch(gw.url + endpoint.path, {
    method: endpoint.method,
    headers: { authorization: `Bearer ${endpoint.key()}`, 'content-type': 'application/json' },
    body: typeof document.body === 'string' ? document.body : new Uint8Array(document.body),
    signal: AbortSignal.timeout(ANSWER_TIMEOUT_MS),
  });
  // A stream is read to its end: an answer that starts and never ends is a hang too.
  const text = await response.text();
  return { status: response.status, text, contentType: response.headers.get('content-type') ?? '' };
}

function checkAnswer(endpoint: Endpoint, answer: { status: number; text: string; contentType: string }): void {
  const { status, text } = answer;
  if (status < 400) return;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error(`${status} is not JSON: ${text.slice(0, 200)}`);
  }
  const error = (parsed as { error?: Record<string, unknown> }).error;
  if (!error || typeof error.message !== 'string' || typeof error.type !== 'string' || !('code' in error) || !('param' in error)) {
    throw new Error(`${status} is not the OpenAI error shape: ${text.slice(0, 300)}`);
  }
  if (status >= 500) {
    const allowed = endpoint.upstream ? UPSTREAM_5XX[status] : undefined;
    if (!allowed?.includes(String(error.code))) throw new Error(`${status} ${String(error.code)}: ${String(error.message)}`);
  }
}

/** Every UTF-8 byte of the id percent-encoded (a lone surrogate becomes U+FFFD, as it would on the wire). */
const percentEncoded = (id: string) => [...Buffer.from(id, 'utf8')].map((byte) => `%${byte.toString(16).padStart(2, '0')}`).join('');

describe('fuzzing the ids in management paths', () => {
  const hostileSegment = fc.oneof(
    fc
      .oneof(
        oddString,
        fc.constantFrom('..', '.', '%', '__proto__', 'constructor', 'a/b', 'a?b', 'a#b', ' ', 'CON', 'x'.repeat(5_000)),
        fc.string({ minLength: 1, maxLength: 300 }),
      )
      .map(percentEncoded),
    // Escapes that are not UTF-8, or not escapes at all.
    fc.constantFrom('%FF', '%C0%AF', '%E0%80', '%00', '%2e%2e', '%', '%zz', '%%41'),
  );
  const kinds: Array<[string, Record<string, Json>]> = [
    ['deployments', deployment],
    ['routes', { targets: [{ deployment: 'fuzz-sim' }] }],
    ['teams', { name: 'Fuzz id' }],
    ['blocklists', { items: ['x'] }],
  ];
  it('PUT, PATCH, GET and DELETE with any id never answer 5xx and always in the error shape', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...kinds),
        fc.constantFrom('PUT', 'PATCH', 'GET', 'DELETE'),
        hostileSegment,
        async ([kind, body], method, segment) => {
          const response = await fetch(`${gw.url}/manage/${kind}/${segment}`, {
            method,
            headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
            ...(method === 'PUT' || method === 'PATCH' ? { body: JSON.stringify(body) } : {}),
            signal: AbortSignal.timeout(ANSWER_TIMEOUT_MS),
          });
          const text = await response.text();
          checkAnswer(
            { name: kind, method: 'PUT', path: '', key: () => ADMIN_KEY, valid: body, upstream: false },
            {
              status: response.status,
              text,
              contentType: response.headers.get('content-type') ?? '',
            },
          );
        },
      ),
      { seed: SEED, numRuns: RUNS * 3, verbose: 1, endOnFailure: true },
    );
    expect((await fetch(`${gw.url}/health`)).status).toBe(200);
  });
});

describe('fuzzing every JSON endpoint over HTTP', () => {
  for (const endpoint of endpoints()) {
    it(`${endpoint.name} (${endpoint.method} ${endpoint.path}) never answers 5xx, always the error shape, never hangs`, async () => {
      // The document every near-valid one is mutated from is accepted, so a mutation is one step from valid.
      const accepted = await send(endpoint, { kind: 'valid', body: JSON.stringify(endpoint.valid) });
      expect(accepted.status, accepted.text).toBeLessThan(300);
      await fc.assert(
        fc.asyncProperty(documentFor(endpoint), async (document) => {
          checkAnswer(endpoint, await send(endpoint, document));
        }),
        {
          seed: SEED,
          numRuns: RUNS,
          // The seed and the document are printed with the failure; FUZZ_SEED replays it.
          verbose: 1,
          endOnFailure: true,
        },
      );
      const health = await fetch(`${gw.url}/health`);
      expect(health.status).toBe(200);
    });
  }
});
