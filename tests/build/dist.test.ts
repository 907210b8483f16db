import { execFile } from 'node:child_process';
import { readdir, readFile, mkdtemp, rm } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// What `npm run build` ships to Azure: functions/ and shared/ only, needing nothing but runtime dependencies.
const run = promisify(execFile);
let outDir: string;
let files: string[];

async function walk(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const nested = await Promise.all(entries.map((e) => (e.isDirectory() ? walk(join(dir, e.name)) : Promise.resolve([join(dir, e.name)]))));
  return nested.flat();
}

function importsOf(code: string): string[] {
  const found: string[] = [];
  for (const match of code.matchAll(
    /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|(?:^|\n)\s*import\s*['"]([^'"]+)['"]/g,
  )) {
    found.push((match[1] ?? match[2] ?? match[3])!);
  }
  return found;
}

beforeAll(async () => {
  outDir = await mkdtemp(join(tmpdir(), 'sy-dist-'));
  await run(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json', '--outDir', outDir]);
  files = (await walk(outDir)).filter((f) => f.endsWith('.js'));
}, 120_000);
afterAll(async () => {
  await rm(outDir, { recursive: true, force: true });
});

describe('the product build', () => {
  it('holds functions/ and shared/ only, never local mode', () => {
    const tops = new Set(files.map((f) => relative(outDir, f).split('/')[0]));
    expect([...tops].sort()).toEqual(['functions', 'shared']);
    expect(files.length).toBeGreaterThan(40);
  });

  it('imports only its own files, Node built-ins and runtime dependencies', async () => {
    const manifest = JSON.parse(await readFile('package.json', 'utf8')) as { dependencies: Record<string, string> };
    const runtime = new Set(Object.keys(manifest.dependencies));
    const problems: string[] = [];
    for (const file of files) {
      for (const specifier of importsOf(await readFile(file, 'utf8'))) {
        if (specifier.startsWith('.')) {
          const target = resolve(dirname(file), specifier);
          if (!files.includes(target)) problems.push(`${relative(outDir, file)} imports ${specifier}, which is not in the build`);
          continue;
        }
        const name = specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]!;
        if (specifier.startsWith('node:') || builtinModules.includes(name)) continue;
        if (!runtime.has(name)) problems.push(`${relative(outDir, file)} imports ${specifier}, which is not a runtime dependency`);
      }
    }
    expect(problems).toEqual([]);
  });
});
