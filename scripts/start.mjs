// `npm start`: local mode precompiled. Plain JavaScript, so nothing compiles TypeScript at run time: the sources
// are bundled by scripts/build.ts (esbuild) into node_modules/.cache/switchyard/<fingerprint>/ when no build of
// these exact sources exists, then the built local/start.js runs in this process.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const cacheDir = join(root, 'node_modules', '.cache', 'switchyard');
// What a build is made of; a folder's own mtime changes when a file in it is added, removed or renamed.
const inputs = ['functions', 'shared', 'local', 'package.json', 'package-lock.json', 'tsconfig.json', 'scripts/build.ts'];
const KEEP_BUILDS = 3;
const FINGERPRINT_LENGTH = 16;
const BUILD_NAME = new RegExp(`^[0-9a-f]{${FINGERPRINT_LENGTH}}$`);

/** Paths, sizes and mtimes of every input: a build is reused only for exactly these. */
function fingerprint() {
  const hash = createHash('sha256');
  const visit = (path) => {
    const stat = statSync(path, { throwIfNoEntry: false });
    if (!stat) return;
    hash.update(`${path}\0${stat.size}\0${stat.mtimeMs}\n`);
    if (stat.isDirectory()) for (const name of readdirSync(path).sort()) visit(join(path, name));
  };
  for (const input of inputs) visit(join(root, input));
  return hash.digest('hex').slice(0, FINGERPRINT_LENGTH);
}

/** Builds into a private folder and renames it into place, so concurrent starts never see half a build. */
function ensureBuild(buildDir) {
  if (existsSync(join(buildDir, 'local', 'start.js'))) return;
  const pending = `${buildDir}.${process.pid}.tmp`;
  const built = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'scripts', 'build.ts'), '--local', pending], {
    cwd: root,
    stdio: 'inherit',
  });
  if (built.status !== 0) {
    rmSync(pending, { recursive: true, force: true });
    process.stderr.write('npm start: building local mode failed (see above).\n');
    process.exit(1);
  }
  try {
    renameSync(pending, buildDir);
  } catch {
    // Another start renamed the same build into place first.
    rmSync(pending, { recursive: true, force: true });
  }
  pruneBuilds(buildDir);
}

function pruneBuilds(current) {
  // Builds only: the folder also holds the bench's and the tests' own work.
  const others = readdirSync(cacheDir)
    .filter((name) => BUILD_NAME.test(name))
    .map((name) => join(cacheDir, name))
    .filter((path) => path !== current)
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  for (const stale of others.slice(KEEP_BUILDS - 1)) rmSync(stale, { recursive: true, force: true });
}

const buildDir = join(cacheDir, fingerprint());
ensureBuild(buildDir);
await import(pathToFileURL(join(buildDir, 'local', 'start.js')).href);
