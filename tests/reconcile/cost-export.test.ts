import { describe, expect, it } from 'vitest';
import { startOpenAICompatibleSim } from '../../local/simulators/openai-compatible-sim.js';
import { costExportCsv, managedCharge, picoDecimal, serverlessCharges } from '../../local/simulators/cost-export.js';
import { azureDrift, type BilledDeployment, deploymentForResource } from '../../shared/reconcile/azure-drift.js';
import { decimalToPico, parseCostExport, parseCsv } from '../../shared/reconcile/cost-export.js';

const AML = '/subscriptions/0000/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws/onlineEndpoints/my-ep';
const deployments: BilledDeployment[] = [
  { id: 'llama-managed', kind: 'managed', endpoint: 'https://other.eastus2.inference.ml.azure.com', billing: { resourceId: AML } },
  { id: 'gpt-serverless', kind: 'serverless', endpoint: 'https://contoso.openai.azure.com' },
];

describe('Azure cost-details exports', () => {
  it('reads RFC 4180 CSV and exact decimals', () => {
    expect(parseCsv('a,"b,""c""",d\r\n"x\ny",,\n')).toEqual([
      ['a', 'b,"c"', 'd'],
      ['x\ny', '', ''],
    ]);
    expect(decimalToPico('0.000123456789012')).toBe(123_456_789n);
    expect(decimalToPico('0.0000000000005')).toBe(1n);
    expect(decimalToPico('1E-7')).toBe(100_000n);
    expect(decimalToPico('-2.5')).toBe(-2_500_000_000_000n);
    expect(decimalToPico('3.673')).toBe(3_673_000_000_000n);
    expect(decimalToPico('abc')).toBeUndefined();
    expect(picoDecimal(3_673_000_000_000n)).toBe('3.673');
  });

  it('reads the EA schema (PascalCase, billing currency) and the MCA one (camelCase, costInUsd)', () => {
    const ea =
      'Date,MeterCategory,ResourceId,CostInBillingCurrency,BillingCurrencyCode\r\n03/02/2026,Azure Machine Learning,' +
      AML +
      ',7.346,USD\r\n';
    expect(parseCostExport(ea)).toEqual([
      { day: '2026-03-02', resourceId: AML, meterCategory: 'Azure Machine Learning', costPico: 7_346_000_000_000n, currency: 'USD' },
    ]);
    const mca =
      '\uFEFFdate,resourceId,meterCategory,costInBillingCurrency,billingCurrency,costInUsd\n2026-03-02,/x/contoso,Foundry Models,1.0,EUR,1.25\n';
    expect(parseCostExport(mca.replace(/^\uFEFF/, ''))[0]).toMatchObject({ day: '2026-03-02', costPico: 1_250_000_000_000n });
    expect(() => parseCostExport('Date,ResourceId,CostInBillingCurrency,BillingCurrencyCode\n03/02/2026,/x,1,EUR\n')).toThrow(/in EUR/);
    expect(() => parseCostExport('Date,CostInBillingCurrency\n03/02/2026,1\n')).toThrow(/no ResourceId column/);
    expect(() => parseCostExport('Date,ResourceId,Cost\n03/02/2026,/x,one\n')).toThrow(/Row 2: the cost 'one'/);
  });

  it("maps a charge to a deployment by billing.resourceId (or a child of it), else by the endpoint host's name", () => {
    expect(deploymentForResource(AML.toUpperCase(), deployments)?.id).toBe('llama-managed');
    expect(deploymentForResource(`${AML}/deployments/blue`, deployments)?.id).toBe('llama-managed');
    expect(
      deploymentForResource('/subscriptions/0/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/contoso', deployments)?.id,
    ).toBe('gpt-serverless');
    expect(
      deploymentForResource('/subscriptions/0/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/logs', deployments),
    ).toBeUndefined();
  });

  it('reports billed against ledger per deployment and day, with every injected drift', () => {
    const serverlessId = '/subscriptions/0/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/contoso';
    const charges = [
      ...serverlessCharges(
        { promptTokens: 1_000, completionTokens: 500 },
        { day: '2026-03-02', resourceId: serverlessId, inputPerMillionUsd: 2.5, outputPerMillionUsd: 10 },
      ),
      managedCharge({ day: '2026-03-02', resourceId: AML, hours: 24, hourlyUsd: 3.673, instances: 1 }),
      managedCharge({ day: '2026-03-03', resourceId: AML, hours: 25, hourlyUsd: 3.673, instances: 1 }),
      {
        ...managedCharge({ day: '2026-03-03', resourceId: AML, hours: 1, hourlyUsd: 0, instances: 1 }),
        resourceId: '/subscriptions/0/x/storageAccounts/logs',
        costInUsd: '0.5',
      },
    ];
    const lines = parseCostExport(costExportCsv(charges));
    const ledger = new Map([
      ['gpt-serverless\u00002026-03-02', 7_500_000_000n - 1_000_000n],
      ['llama-managed\u00002026-03-02', 24n * 3_673_000_000_000n],
      ['llama-managed\u00002026-03-03', 24n * 3_673_000_000_000n],
      ['llama-managed\u00002026-03-09', 1n],
    ]);
    const report = azureDrift(lines, deployments, ledger);
    expect(report.from).toBe('2026-03-02');
    expect(report.to).toBe('2026-03-03');
    expect(report.rows.map((r) => [r.deployment, r.day, r.billedUsd, r.ledgerUsd, r.driftUsdExact])).toEqual([
      ['gpt-serverless', '2026-03-02', 0.0075, 0.007499, '0.000001000000'],
      ['llama-managed', '2026-03-02', 88.152, 88.152, '0.000000000000'],
      ['llama-managed', '2026-03-03', 91.825, 88.152, '3.673000000000'],
    ]);
    expect(report.unmatched).toEqual([{ resourceId: '/subscriptions/0/x/storageAccounts/logs', billedUsd: 0.5 }]);
    expect(report.totals).toEqual({ billedUsd: 179.9845, ledgerUsd: 176.311499, driftUsd: 3.673001, unmatchedUsd: 0.5 });
  });

  it('a serverless simulator writes the export of its own traffic at GET /sim/cost-export', async () => {
    const sim = await startOpenAICompatibleSim({ apiKey: 'sim-key' });
    try {
      const chat = await fetch(`${sim.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: 'Bearer sim-key', 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'count my tokens' }], max_tokens: 9 }),
      });
      expect(chat.status).toBe(200);
      const { promptTokens, completionTokens } = sim.stats();
      const resourceId = '/subscriptions/0/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/contoso';
      const query = `resourceId=${encodeURIComponent(resourceId)}&inputPerMillionUsd=2.5&outputPerMillionUsd=10&day=2026-03-02`;
      const response = await fetch(`${sim.url}/sim/cost-export?${query}`, { headers: { authorization: 'Bearer sim-key' } });
      expect(response.headers.get('content-type')).toBe('text/csv; charset=utf-8');
      const lines = parseCostExport(await response.text());
      expect(lines.map((l) => l.day)).toEqual(['2026-03-02', '2026-03-02']);
      expect(lines.reduce((sum, l) => sum + l.costPico, 0n)).toBe(
        BigInt(promptTokens) * 2_500_000n + BigInt(completionTokens) * 10_000_000n,
      );
      expect((await fetch(`${sim.url}/sim/cost-export?${query}`)).status).toBe(401);
      expect((await fetch(`${sim.url}/sim/cost-export?day=2026-03-02`, { headers: { authorization: 'Bearer sim-key' } })).status).toBe(400);
    } finally {
      await sim.close();
    }
  });
});
