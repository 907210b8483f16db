import { readdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type BuildOptions, type Metafile, type Plugin } from 'esbuild';

// `npm run build` (the production bundle Azure runs: dist/functions/*.js) and local mode's precompiled build
// (scripts/start.mjs runs it with plain node). Both bundle our code and the npm packages into ESM with shared
// chunks, so every function file sees one copy of the module state (services, catalog cache, ledger).

const root = resolve(import.meta.dirname, '..');

function functionEntries(): string[] {
  return readdirSync(join(root, 'functions'))
    .filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts'))
    .sort()
    .map((file) => join(root, 'functions', file));
}

/**
 * zod's namespace object (`import { z } from 'zod'`) re-exports every message locale, a quarter of the bundle's
 * zod; errors are in English (zod configures `en` itself), so the locale index keeps only that one.
 */
const englishZodMessagesOnly: Plugin = {
  name: 'english-zod-messages-only',
  setup(context) {
    context.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      /[\\/]zod[\\/]v4[\\/](classic|core)[\\/]/.test(args.importer)
        ? { path: 'zod-locales', namespace: englishZodMessagesOnly.name, pluginData: args.resolveDir }
        : undefined,
    );
    context.onLoad({ filter: /.*/, namespace: 'english-zod-messages-only' }, (args) => ({
      contents: "export { default as en } from '../locales/en.js';",
      resolveDir: args.pluginData as string,
      loader: 'js',
    }));
  },
};

function bundleOptions(outdir: string, entryPoints: string[]): BuildOptions {
  return {
    absWorkingDir: root,
    entryPoints,
    outdir,
    outbase: root,
    // functions/<name>.js as package.json "main" names them; chunks beside, never matched by functions/*.js. Every
    // output sits one folder below the root, as the sources do, so paths relative to import.meta.url hold in both.
    entryNames: '[dir]/[name]',
    chunkNames: 'chunks/[name]-[hash]',
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    // The Functions worker injects it through require; the local host installs its stand-in the same way.
    external: ['@azure/functions-core'],
    // CommonJS packages in an ESM bundle (@azure/functions) call require(); this gives them Node's.
    banner: {
      js: "import { createRequire as __bundleCreateRequire } from 'node:module';\nconst require = __bundleCreateRequire(import.meta.url);",
    },
    minify: true,
    keepNames: true,
    sourcemap: 'linked',
    legalComments: 'linked',
    metafile: true,
    plugins: [englishZodMessagesOnly],
    logLevel: 'warning',
  };
}

/** The production bundle of functions/*.ts into `outdir` (dist/ by default), replacing what was there. */
export async function buildProduction(outdir = join(root, 'dist')): Promise<Metafile> {
  await rm(outdir, { recursive: true, force: true });
  const result = await build(bundleOptions(outdir, functionEntries()));
  return result.metafile!;
}

/** Local mode: local/start.ts, the embedded store's worker thread and functions/*.ts, laid out as in the sources. */
export async function buildLocal(outdir: string): Promise<Metafile> {
  const entries = [join(root, 'local', 'start.ts'), join(root, 'local', 'embedded-cosmos-worker.ts'), ...functionEntries()];
  const result = await build(bundleOptions(outdir, entries));
  return result.metafile!;
}

/**
 * The local @azure/functions-core stand-in as one preload file, installed before the app loads, as the Functions
 * worker provides the real module: how the bench and the tests import the production bundle outside Azure.
 */
export async function buildFunctionsCorePreload(outfile: string): Promise<void> {
  await build({
    absWorkingDir: root,
    stdin: {
      contents: "import { installFunctionsCore } from './local/functions-core.ts'; installFunctionsCore();",
      resolveDir: root,
      loader: 'ts',
    },
    bundle: true,
    format: 'esm',
    platform: 'node',
    outfile,
    logLevel: 'warning',
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  // scripts/build.ts [--local] [outdir]
  const local = process.argv[2] === '--local';
  const outdir = process.argv[local ? 3 : 2];
  if (local) {
    if (!outdir) throw new Error('usage: scripts/build.ts --local <outdir>');
    await buildLocal(resolve(outdir));
  } else {
    await buildProduction(outdir ? resolve(outdir) : undefined);
  }
}
