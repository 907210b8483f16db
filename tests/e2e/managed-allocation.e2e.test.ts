import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installFunctionsCore } from '../../local/functions-core.js';
import { HOUR_MS } from '../../shared/allocation/allocate-hour.js';
import { closeManagedHours } from '../../shared/gateway/close-managed-hours.js';
import { DEMO_KEY, putRoute, startTestGateway, type TestGateway, today } from './harness.js';

let gw: TestGateway;

beforeAll(async () => {
  gw = await startTestGateway();
  // The managed simulator only, so no request spills to serverless while this instance's capacity lease starts.
  await putRoute(gw, 'managed-chat', ['sim-llama-managed']);
});
afterAll(async () => {
  await gw?.close();
});

interface Row {
  team: string;
  deployment: string;
  kind: string;
  requests: number;
  managedAllocatedUsd: number;
  costUsdExact: string;
}

const picoOf = (exact: string) => BigInt(exact.replace('.', ''));

/** Waits until the rollups hold demo's requests on the managed deployment (the ledger applies them after the records). */
async function usageRollupsShow(requests: number): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const rows = await gw.services.deps.readRollups({ from: today(), to: today(), team: 'demo' });
    if (rows.filter((row) => row.deployment === 'sim-llama-managed').reduce((sum, row) => sum + row.requests, 0) === requests) return;
    await gw.flushUsage();
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const rows = await gw.services.deps.readRollups({ from: today(), to: today(), team: 'demo' });
  throw new Error(`the rollups never showed ${requests} requests: ${JSON.stringify(rows.map((r) => [r.deployment, r.requests]))}`);
}

describe('managed compute allocated to the teams that used it (local gateway)', () => {
  it('registers the hourly timer with the host', () => {
    const timer = installFunctionsCore().timerFunctions.find((t) => t.name === 'allocateManagedCompute');
    expect(timer?.schedule).toBe('0 5 * * * *');
  });

  it("closes the hour: demo's traffic on the managed simulator gets its share, the idle rest is unallocated, together the hour's price", async () => {
    for (let i = 0; i < 6; i++) {
      await gw.openai.chat.completions.create({
        model: 'managed-chat',
        messages: [{ role: 'user', content: `hello ${i}` }],
        max_tokens: 16,
      });
    }
    await gw.flushUsage();
    await usageRollupsShow(6);
    // The hour closes an hour from now: the use case the timer calls, on a clock an hour ahead.
    const deps = gw.services.deps;
    const result = await closeManagedHours({ ...deps, now: () => deps.now() + HOUR_MS });
    expect(result.deployments).toBe(1);
    expect(result.hoursWritten).toBeGreaterThanOrEqual(1);
    const again = await closeManagedHours({ ...deps, now: () => deps.now() + HOUR_MS });
    expect(again.hoursWritten).toBe(0);

    const response = await gw.call(`/usage?from=${today()}&to=${today()}&groupBy=team,deployment,kind`);
    expect(response.status).toBe(200);
    const { rows, totals } = (await response.json()) as { rows: Row[]; totals: Row };
    const managed = rows.filter((row) => row.deployment === 'sim-llama-managed');
    expect(managed.map((row) => row.team).sort()).toEqual(['demo', 'unallocated']);
    const demo = managed.find((row) => row.team === 'demo')!;
    expect(demo.requests).toBe(6);
    expect(demo.managedAllocatedUsd).toBeGreaterThan(0);
    // The hour of this traffic (and any other closed hour since the deployment was first known) at $3.673 × 1 instance.
    const hours = BigInt(result.hoursWritten);
    expect(managed.reduce((sum, row) => sum + picoOf(row.costUsdExact), 0n)).toBe(hours * 3_673_000_000_000n);
    expect(totals.managedAllocatedUsd).toBe(Number(hours) * 3.673);

    const advice = await gw.call(`/usage/advice?from=${today()}&to=${today()}`);
    expect(advice.status).toBe(200);
    const managedAdvice = ((await advice.json()) as { deployments: Array<Record<string, unknown>> }).deployments.find(
      (entry) => entry.deployment === 'sim-llama-managed',
    );
    expect(managedAdvice).toMatchObject({
      hours: Number(hours),
      requests: 6,
      serverlessTwin: { deployment: 'sim-llama-serverless', routes: ['chat'] },
      recommendation: 'move to serverless: 0% utilised',
    });
    expect((await gw.call('/usage/advice', { key: DEMO_KEY })).status).toBe(403);
    expect((await gw.call('/usage/advice?month=2026-1')).status).toBe(400);

    const own = await gw.call(`/usage?from=${today()}&to=${today()}&groupBy=team`, { key: DEMO_KEY });
    const ownRows = ((await own.json()) as { rows: Row[] }).rows;
    expect(ownRows.map((row) => row.team)).toEqual(['demo']);
    expect(ownRows[0]!.managedAllocatedUsd).toBe(demo.managedAllocatedUsd);
  });

  it("charges the hour just closed for the instances Azure ML reports (sku.capacity), and keeps a closed hour's count", async () => {
    const resourceId =
      '/subscriptions/0000/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws/onlineEndpoints/sim/deployments/blue';
    const patched = await gw.call('/manage/deployments/sim-llama-managed', {
      method: 'PATCH',
      body: JSON.stringify({ billing: { resourceId } }),
    });
    expect(patched.status, await patched.clone().text()).toBe(200);
    await gw.services.deps.catalog.refresh();
    gw.sims!.managed.setOptions({ instanceCount: 3 });
    const deps = gw.services.deps;
    const twoHoursOn = deps.now() + 2 * HOUR_MS;
    await closeManagedHours({ ...deps, now: () => twoHoursOn });
    const lastClosed = Math.floor(twoHoursOn / HOUR_MS) * HOUR_MS - HOUR_MS;
    const hours = await deps.allocations.readHours({
      fromIso: new Date(lastClosed - HOUR_MS).toISOString(),
      toIso: new Date(lastClosed + HOUR_MS).toISOString(),
      deployment: 'sim-llama-managed',
    });
    expect(hours.map((hour) => [hour.hour, hour.instances, hour.costMicroUsd])).toEqual([
      [new Date(lastClosed - HOUR_MS).toISOString(), 1, 3_673_000],
      [new Date(lastClosed).toISOString(), 3, 11_019_000],
    ]);
  });
});
