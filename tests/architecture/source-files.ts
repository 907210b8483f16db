import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

export const SHARED = resolve(import.meta.dirname, '../../shared');

export interface SourceFile {
  /** Path under shared/, with '/' separators. */
  path: string;
  text: string;
}

/** Every TypeScript file under shared/. */
export function sharedSources(): SourceFile[] {
  const files: SourceFile[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.ts'))
        files.push({ path: relative(SHARED, full).split(sep).join('/'), text: readFileSync(full, 'utf8') });
    }
  };
  walk(SHARED);
  return files.sort((a, b) => a.path.localeCompare(b.path));
}

// `import … from '…'`, `import '…'`, `export … from '…'` and `import('…')`, type-only ones included: a type is a dependency too.
const SPECIFIER = /(?:\bimport\b[^'"`;]*?\bfrom\s*|\bexport\b[^'"`;]*?\bfrom\s*|\bimport\s*\(?\s*)['"]([^'"]+)['"]/g;

/** The files under shared/ that a file imports (relative specifiers only), as paths under shared/. */
export function localImports(file: SourceFile): string[] {
  const found: string[] = [];
  for (const match of file.text.matchAll(SPECIFIER)) {
    const specifier = match[1]!;
    if (!specifier.startsWith('.')) continue;
    const target = resolve(SHARED, dirname(file.path), specifier.replace(/\.js$/, '.ts'));
    found.push(relative(SHARED, target).split(sep).join('/'));
  }
  return found;
}

/** The room a file belongs to: its first folder under shared/, or the file itself at the top (errors.ts, log.ts). */
export function roomOf(path: string): string {
  const slash = path.indexOf('/');
  return slash === -1 ? path : path.slice(0, slash);
}
