import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { costExportCsv, serverlessCharges } from '../../local/simulators/cost-export.js';
import { startTestGateway, today } from '../e2e/harness.js';

const run = promisify(execFile);
let dataDir: string;
let exportFile: string;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'sy-reconcile-'));
  const gw = await startTestGateway({ ephemeralStore: false, env: { SWITCHYARD_DATA_DIR: dataDir } });
  try {
    for (let i = 0; i < 3; i++) await gw.openai.embeddings.create({ model: 'embed', input: `words ${i}` });
    await gw.flushUsage();
    const charges = serverlessCharges(gw.sims!.serverless.stats(), {
      day: today(),
      resourceId: '/subscriptions/0/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/elsewhere',
      inputPerMillionUsd: 0.02,
      outputPerMillionUsd: 0,
    });
    exportFile = join(dataDir, 'export.csv');
    await writeFile(exportFile, costExportCsv(charges));
  } finally {
    await gw.close();
  }
});
afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

describe('npm run reconcile', () => {
  it("reads the local store the gateway left and reports its month: 3 records, no difference, and the export's charges", async () => {
    const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', SWITCHYARD_DATA_DIR: dataDir };
    const { stdout, stderr } = await run(
      process.execPath,
      ['--import', 'tsx', 'scripts/reconcile.ts', '--month', today().slice(0, 7), '--azure', exportFile],
      {
        env,
        timeout: 60_000,
      },
    );
    const report = JSON.parse(stdout);
    expect(report.ledger).toMatchObject({ month: today().slice(0, 7), differences: 0, rollups: { records: 3 } });
    expect(report.azure.unmatched).toHaveLength(1);
    expect(stderr).toContain('0 differences');
  });

  it('refuses a bad month with its usage', async () => {
    await expect(
      run(process.execPath, ['--import', 'tsx', 'scripts/reconcile.ts', '--month', '2026-1'], { timeout: 30_000 }),
    ).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringContaining('Usage: npm run reconcile'),
    });
  });
});
