import { describe, expect, it } from 'vitest';
import { localImports, roomOf, sharedSources } from './source-files.js';

/** room → room it imports → the first file import that makes the edge, for the failure message. */
function roomGraph(): Map<string, Map<string, string>> {
  const graph = new Map<string, Map<string, string>>();
  for (const file of sharedSources()) {
    const from = roomOf(file.path);
    const edges = graph.get(from) ?? new Map<string, string>();
    graph.set(from, edges);
    for (const target of localImports(file)) {
      const to = roomOf(target);
      if (to !== from && !edges.has(to)) edges.set(to, `${file.path} → ${target}`);
    }
  }
  return graph;
}

/** Each cycle found by a depth-first walk, as the list of rooms on it (first room repeated at the end). */
function cycles(graph: Map<string, Map<string, string>>): string[][] {
  const found: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (room: string) => {
    state.set(room, 'open');
    stack.push(room);
    for (const next of graph.get(room)?.keys() ?? []) {
      if (state.get(next) === 'open') found.push([...stack.slice(stack.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(room, 'done');
  };
  for (const room of [...graph.keys()].sort()) if (!state.has(room)) visit(room);
  return found;
}

describe('imports between the rooms of shared/', () => {
  it('form no cycle', () => {
    const graph = roomGraph();
    const described = cycles(graph).map((cycle) =>
      cycle
        .slice(0, -1)
        .map((room, i) => graph.get(room)!.get(cycle[i + 1]!)!)
        .join('; '),
    );
    expect(described).toEqual([]);
  });

  it('keep auth/ on top of catalog/: auth reads key documents, catalog never imports auth', () => {
    const graph = roomGraph();
    expect(graph.get('catalog')?.has('auth') ?? false).toBe(false);
    expect(graph.get('auth')?.has('catalog')).toBe(true);
  });

  it('sees the imports it checks (a scan that finds nothing cannot find a cycle)', () => {
    const graph = roomGraph();
    expect(graph.get('gateway')?.has('catalog')).toBe(true);
    expect(graph.get('composition')?.has('store')).toBe(true);
    expect(graph.size).toBeGreaterThanOrEqual(10);
  });
});
