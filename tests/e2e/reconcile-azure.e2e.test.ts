import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { costExportCsv, managedCharge, serverlessCharges } from '../../local/simulators/cost-export.js';
import { HOUR_MS } from '../../shared/allocation/allocate-hour.js';
import { closeManagedHours } from '../../shared/gateway/close-managed-hours.js';
import { DEMO_KEY, putRoute, startTestGateway, type TestGateway, today } from './harness.js';

const SERVERLESS_ID = '/subscriptions/0000/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/sim-llama';
const MANAGED_ID = '/subscriptions/0000/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws/onlineEndpoints/sim-ep';

let gw: TestGateway;
let managedHours = 0;

interface DriftRow {
  deployment: string;
  day: string;
  billedUsd: number;
  ledgerUsd: number;
  driftUsdExact: string;
}

beforeAll(async () => {
  gw = await startTestGateway();
  for (const [id, resourceId] of [
    ['sim-llama-serverless', SERVERLESS_ID],
    ['sim-llama-managed', MANAGED_ID],
  ] as const) {
    const patched = await gw.call(`/manage/deployments/${id}`, { method: 'PATCH', body: JSON.stringify({ billing: { resourceId } }) });
    expect(patched.status, await patched.clone().text()).toBe(200);
  }
  await putRoute(gw, 'only-serverless', ['sim-llama-serverless']);
  await putRoute(gw, 'only-managed', ['sim-llama-managed']);
  for (let i = 0; i < 4; i++) {
    await gw.openai.chat.completions.create({
      model: 'only-serverless',
      messages: [{ role: 'user', content: `tell me ${i}` }],
      max_tokens: 20,
    });
    await gw.openai.chat.completions.create({ model: 'only-managed', messages: [{ role: 'user', content: `ask ${i}` }], max_tokens: 20 });
  }
  for (let attempt = 0; attempt < 100; attempt++) {
    await gw.flushUsage();
    const rows = await gw.services.deps.readRollups({ from: today(), to: today(), team: 'demo' });
    if (rows.reduce((sum, row) => sum + row.requests, 0) === 8) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const deps = gw.services.deps;
  managedHours = (await closeManagedHours({ ...deps, now: () => deps.now() + HOUR_MS })).hoursWritten;
});
afterAll(async () => {
  await gw?.close();
});

/** The simulators' own bill for today: the serverless one's tokens at list price, the managed one's hours. */
function bill(extraHours = 0, serverlessExtraUsd = 0): string {
  const charges = [
    ...serverlessCharges(gw.sims!.serverless.stats(), {
      day: today(),
      resourceId: SERVERLESS_ID,
      inputPerMillionUsd: 0.71,
      outputPerMillionUsd: 0.71,
    }),
    managedCharge({ day: today(), resourceId: MANAGED_ID, hours: managedHours + extraHours, hourlyUsd: 3.673, instances: 1 }),
  ];
  if (serverlessExtraUsd !== 0) {
    charges.push({ ...charges[0]!, meterName: 'Input Tokens (late)', costInUsd: String(serverlessExtraUsd) });
  }
  return costExportCsv(charges);
}

async function reconcile(csv: string, key?: string): Promise<Response> {
  return gw.call('/usage/reconcile/azure', { method: 'POST', body: csv, headers: { 'content-type': 'text/csv' }, key });
}

describe('POST /usage/reconcile/azure', () => {
  it("matches the simulators' own bill to the ledger: no drift per deployment and day", async () => {
    expect(managedHours).toBeGreaterThanOrEqual(1);
    const response = await reconcile(bill());
    expect(response.status).toBe(200);
    const report = (await response.json()) as { rows: DriftRow[]; unmatched: unknown[] };
    expect(report.rows.map((r) => [r.deployment, r.day, r.driftUsdExact])).toEqual([
      ['sim-llama-managed', today(), '0.000000000000'],
      ['sim-llama-serverless', today(), '0.000000000000'],
    ]);
    expect(report.rows.find((r) => r.deployment === 'sim-llama-serverless')!.billedUsd).toBeGreaterThan(0);
    expect(report.unmatched).toEqual([]);
  });

  it('reports each injected drift on its deployment and day, and charges of unknown resources apart', async () => {
    const csv = `${bill(2, 0.0042)}${today().slice(5, 7)}/${today().slice(8)}/${today().slice(0, 4)},/subscriptions/0000/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/logs,Storage,LRS,1,1 GB,USD,0.02,0.02\r\n`;
    const report = (await (await reconcile(csv)).json()) as { rows: DriftRow[]; unmatched: unknown[]; totals: { driftUsd: number } };
    expect(report.rows.map((r) => [r.deployment, r.driftUsdExact])).toEqual([
      ['sim-llama-managed', '7.346000000000'],
      ['sim-llama-serverless', '0.004200000000'],
    ]);
    expect(report.unmatched).toEqual([
      { resourceId: '/subscriptions/0000/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/logs', billedUsd: 0.02 },
    ]);
    expect(report.totals.driftUsd).toBe(7.3502);
  });

  it('refuses a team key, an export without its columns and one in another currency', async () => {
    expect((await reconcile(bill(), DEMO_KEY)).status).toBe(403);
    const missing = await reconcile('Date,Cost\n01/01/2026,1\n');
    expect(missing.status).toBe(400);
    expect((await missing.json()).error.message).toMatch(/ResourceId/);
    expect((await reconcile(`Date,ResourceId,CostInBillingCurrency,BillingCurrencyCode\n01/01/2026,${SERVERLESS_ID},1,EUR\n`)).status).toBe(
      400,
    );
  });
});
