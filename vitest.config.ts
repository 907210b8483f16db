import { defineConfig } from 'vitest/config';

// Most files share their worker's module cache (isolate: false): importing the SDKs anew for every file was
// half the suite's time. The local host's own tests register fixture functions with @azure/functions, whose
// registrations are process-wide, so they keep a fresh module graph.
const isolatedFiles = ['tests/local/functions-host.test.ts'];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    maxWorkers: 2,
    projects: [
      { extends: true, test: { name: 'shared-modules', include: ['tests/**/*.test.ts'], exclude: isolatedFiles, isolate: false } },
      { extends: true, test: { name: 'isolated', include: isolatedFiles, isolate: true } },
    ],
  },
});
