import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

// In a child process: the module changes how the process requires Turf, as it does in the store's thread.
const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../..');

const child = `
await import('./local/embedded-cosmos-lazy-geo.ts');
const { createRequire } = await import('node:module');
const require = createRequire(${JSON.stringify(`${root}/package.json`)});
const turfLoaded = () => Object.keys(require.cache).some((file) => file.includes('/@turf/'));
const query = require('@zeit/cosmosdb-query').default;
const atLoad = turfLoaded();
const items = [{ id: 'a', loc: { type: 'Point', coordinates: [0, 0] } }, { id: 'b', loc: { type: 'Point', coordinates: [10, 10] } }];
const plain = query('SELECT c.id FROM c WHERE c.id = "b"').exec(items).result;
const afterPlain = turfLoaded();
const near = query('SELECT c.id FROM c WHERE ST_DISTANCE(c.loc, {"type": "Point", "coordinates": [0.001, 0]}) < 1000').exec(items).result;
const within = query('SELECT c.id FROM c WHERE ST_WITHIN(c.loc, {"type": "Polygon", "coordinates": [[[-1,-1],[1,-1],[1,1],[-1,1],[-1,-1]]]})').exec(items).result;
console.log(JSON.stringify({ atLoad, plain, afterPlain, near, within, afterGeo: turfLoaded() }));
`;

describe("the store's query engine with Turf loaded lazily", () => {
  it('loads Turf at the first geospatial function, and answers those as before', async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', child], { cwd: root });
    expect(JSON.parse(stdout)).toEqual({
      atLoad: false,
      plain: [{ id: 'b' }],
      afterPlain: false,
      near: [{ id: 'a' }],
      within: [{ id: 'a' }],
      afterGeo: true,
    });
  });
});
