import { execFile } from 'node:child_process';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { CosmosClient } from '@azure/cosmos';
import type { Metafile } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedCosmos } from '../../local/embedded-cosmos.js';
import { buildFunctionsCorePreload as buildCorePreload, buildProduction } from '../../scripts/build.js';
import { ensureContainers } from '../../shared/store/containers.js';

// What `npm run build` ships to Azure: one ESM bundle of functions/ and shared/ with the npm packages inside,
// whose function files load nothing a request does not need until it does.
const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../..');
// Inside the project, so the bundle resolves node_modules as dist/ does.
const work = join(root, 'node_modules', '.cache', 'switchyard', `dist-test-${process.pid}`);
const outDir = join(work, 'dist');
let metafile: Metafile;

const functionSources = async () => (await readdir(join(root, 'functions'))).filter((f) => f.endsWith('.ts')).sort();
const relativeOutput = (output: string) => resolve(root, output).slice(outDir.length + 1);

beforeAll(async () => {
  metafile = await buildProduction(outDir);
}, 120_000);
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** Every input a set of outputs loads when imported: static imports followed, dynamic ones not. */
function staticallyLoadedInputs(entries: string[]): Set<string> {
  const seen = new Set<string>();
  const inputs = new Set<string>();
  const visit = (output: string) => {
    if (seen.has(output)) return;
    seen.add(output);
    const meta = metafile.outputs[output]!;
    for (const input of Object.keys(meta.inputs)) inputs.add(input);
    for (const imported of meta.imports) if (!imported.external && imported.kind === 'import-statement') visit(imported.path);
  };
  for (const entry of entries) visit(entry);
  return inputs;
}

const functionEntries = () => Object.keys(metafile.outputs).filter((o) => /\/functions\/[^/]+\.js$/.test(o));
const allInputs = () => new Set(Object.values(metafile.outputs).flatMap((o) => Object.keys(o.inputs)));

describe('the product build', () => {
  it('holds one file per function module and shared chunks, never local mode', async () => {
    const outputs = Object.keys(metafile.outputs)
      .filter((o) => o.endsWith('.js'))
      .map(relativeOutput);
    expect(outputs.filter((o) => o.startsWith('functions/')).sort()).toEqual(
      (await functionSources()).map((f) => `functions/${f.replace(/\.ts$/, '.js')}`),
    );
    expect(outputs.every((o) => o.startsWith('functions/') || o.startsWith('chunks/'))).toBe(true);
    expect([...allInputs()].filter((input) => input.startsWith('local/'))).toEqual([]);
  });

  it('bundles the npm packages: it imports only its own files, Node built-ins and the host-provided functions-core', () => {
    const external = new Set(Object.values(metafile.outputs).flatMap((o) => o.imports.filter((i) => i.external).map((i) => i.path)));
    const unexpected = [...external].filter(
      (path) => !path.startsWith('node:') && !builtinModules.includes(path) && path !== '@azure/functions-core',
    );
    expect(unexpected).toEqual([]);
    expect([...allInputs()].some((input) => input.includes('node_modules/@azure/cosmos/'))).toBe(true);
    // zod's messages in English only (scripts/build.ts): its other locales are never loaded.
    expect([...allInputs()].filter((input) => /node_modules\/zod\/v4\/locales\//.test(input))).toEqual([
      'node_modules/zod/v4/locales/en.js',
    ]);
  });

  it('loads identity, the tokenizer and the Content Safety client only when first used', () => {
    const loadedAtImport = [...staticallyLoadedInputs(functionEntries())];
    const lazy = [
      /node_modules\/@azure\/identity\//,
      /node_modules\/@azure\/msal-node\//,
      /node_modules\/gpt-tokenizer\//,
      /^shared\/safety\/content-safety-client\.ts$/,
    ];
    expect(loadedAtImport.filter((input) => lazy.some((pattern) => pattern.test(input)))).toEqual([]);
    // Still in the build (identity, the client) or in node_modules as a runtime dependency (the tokenizer, required on first count).
    expect([...allInputs()].some((input) => input.includes('node_modules/@azure/identity/'))).toBe(true);
    expect(allInputs().has('shared/safety/content-safety-client.ts')).toBe(true);
    expect(loadedAtImport).toContain('shared/composition/services.ts');
  });

  it('registers every function with the Functions host, and loads no tokenizer doing it', async () => {
    await buildFunctionsCorePreload();
    const entries = functionEntries().map((o) => pathToFileURL(resolve(root, o)).href);
    const child = `
      import { createRequire } from 'node:module';
      for (const entry of ${JSON.stringify(entries)}) await import(entry);
      const registry = globalThis[Symbol.for('switchyard.local.functions-core')];
      const cache = Object.keys(createRequire(import.meta.url).cache);
      // Required at the first count from the chunks' folder: it must resolve there as it does in dist/.
      const fromChunks = createRequire(${JSON.stringify(pathToFileURL(join(outDir, 'chunks', 'x.js')).href)});
      console.log(JSON.stringify({
        http: registry.httpFunctions.length,
        timers: registry.timerFunctions.length,
        tokenizer: cache.some((f) => f.includes('gpt-tokenizer')),
        tokenizerResolves: fromChunks.resolve('gpt-tokenizer').includes('node_modules/gpt-tokenizer/'),
      }));`;
    const { stdout } = await run(process.execPath, ['--import', pathToFileURL(preload).href, '--input-type=module', '-e', child], {
      cwd: root,
    });
    let registrations = 0;
    let timers = 0;
    for (const file of await functionSources()) {
      const source = await readFile(join(root, 'functions', file), 'utf8');
      registrations += source.match(/app\.http\(/g)?.length ?? 0;
      timers += source.match(/app\.timer\(/g)?.length ?? 0;
    }
    expect(JSON.parse(stdout)).toEqual({ http: registrations, timers, tokenizer: false, tokenizerResolves: true });
  }, 60_000);

  it('serves /health/ready from its own services against a real store (Cosmos SDK, undici, zod, composition bundled)', async () => {
    await buildFunctionsCorePreload();
    const store = await startEmbeddedCosmos({});
    const client = new CosmosClient(store.connectionOptions());
    try {
      await ensureContainers(client, 'switchyard');
      const certificate = join(work, 'store-certificate.pem');
      await writeFile(certificate, store.certificatePem);
      const entries = functionEntries().map((o) => pathToFileURL(resolve(root, o)).href);
      const child = `
        for (const entry of ${JSON.stringify(entries)}) await import(entry);
        const registry = globalThis[Symbol.for('switchyard.local.functions-core')];
        const ready = registry.httpFunctions.find((f) => f.name === 'healthReady');
        const request = { method: 'GET', url: 'http://localhost/health/ready', headers: new Headers(), body: null, params: {}, query: new URLSearchParams() };
        const response = await ready.handler(request, {});
        console.log(JSON.stringify({ status: response.status, body: response.jsonBody }));
        process.exit(0);`;
      const { stdout } = await run(process.execPath, ['--import', pathToFileURL(preload).href, '--input-type=module', '-e', child], {
        cwd: root,
        env: {
          PATH: process.env.PATH ?? '',
          COSMOS_ENDPOINT: store.endpoint,
          COSMOS_KEY: store.key,
          // The store's certificate is minted at its start; the bundle's Cosmos client trusts it like any CA.
          NODE_EXTRA_CA_CERTS: certificate,
          SWITCHYARD_MODE: 'local',
        },
      });
      const answer = JSON.parse(stdout) as { status: number; body: { status: string; checks: Record<string, string> } };
      expect(answer.status).toBe(200);
      expect(answer.body.status).toBe('ready');
      expect(answer.body.checks).toMatchObject({ store: 'ok', config: 'loaded' });
    } finally {
      client.dispose();
      await store.stop();
    }
  }, 60_000);
});

const preload = join(work, 'functions-core-preload.js');

async function buildFunctionsCorePreload(): Promise<void> {
  await buildCorePreload(preload);
}
