import type { Container, PatchOperation } from '@azure/cosmos';
import { z } from 'zod';
import type { TeamLimits } from '../catalog/schemas.js';
import type { BudgetMark } from '../limits/budget-crossings.js';
import type { BudgetState, QuotaStore, RateTake, RateWindow } from '../limits/quota-store.js';
import type { WindowUse } from '../limits/rate-limit-headers.js';
import { cosmosStatus } from './containers.js';

export interface CosmosQuotaOptions {
  /** This process's name in the budget documents' holds; lower-case letters and digits (conditions are matched lower-cased locally). */
  instanceId: string;
  /**
   * After how long without a reservation or settlement an instance's holds are taken as orphaned: longer than any request
   * can last (each ends by its deadline and settles, which touches its instance), plus a margin for clock skew.
   */
  staleAfterMs: number;
}

// Field names the conditions read are single lower-case words: the embedded store lower-cases a condition before matching.
const budgetDocument = z.looseObject({
  team: z.string(),
  month: z.string(),
  spent: z.number(),
  reserved: z.number(),
  swept: z.number().default(0),
  holds: z.record(z.string(), z.number()).default({}),
  touched: z.record(z.string(), z.number()).default({}),
  alerted: z.string().optional(),
  exhausted: z.string().optional(),
});
type BudgetDocument = z.output<typeof budgetDocument>;

const windowDocument = z.looseObject({ requests: z.number(), tokens: z.number() });

// A window is read only within its minute; a few minutes of TTL leaves no clutter behind.
const WINDOW_TTL_S = 300;

/**
 * Budgets and rate limits in Cosmos, in one container partitioned by team. A month's budget is one document whose every
 * change is one patch (atomic on its document): a reservation is a patch conditioned on spent + reserved + amount within
 * the limit, so concurrent requests on any number of instances can never reserve past it; the per-instance holds ride in
 * the same patch, so holds of an instance that vanished can be found and swept. A rate window is one document per
 * (team, UTC minute), taken the same way.
 */
export class CosmosQuotaStore implements QuotaStore {
  constructor(
    private readonly container: Container,
    private readonly options: CosmosQuotaOptions,
  ) {}

  async reserve(
    team: string,
    month: string,
    amountMicroUsd: number,
    limitMicroUsd: number,
    nowMs: number,
  ): Promise<BudgetState | undefined> {
    const { instanceId } = this.options;
    const operations: PatchOperation[] = [
      { op: 'incr', path: '/reserved', value: amountMicroUsd },
      { op: 'incr', path: `/holds/${instanceId}`, value: amountMicroUsd },
      { op: 'set', path: `/touched/${instanceId}`, value: nowMs },
    ];
    const condition = `from c where c.spent + c.reserved + ${amountMicroUsd} <= ${limitMicroUsd}`;
    const patched = await this.#patchBudget(team, month, operations, condition);
    return patched === 'refused' ? undefined : patched;
  }

  async settle(team: string, month: string, reservedMicroUsd: number, costMicroUsd: number, nowMs: number): Promise<BudgetState> {
    const { instanceId } = this.options;
    const operations: PatchOperation[] = [
      { op: 'incr', path: '/spent', value: costMicroUsd },
      { op: 'set', path: `/touched/${instanceId}`, value: nowMs },
    ];
    if (reservedMicroUsd > 0) {
      operations.push(
        { op: 'incr', path: '/reserved', value: -reservedMicroUsd },
        { op: 'incr', path: `/holds/${instanceId}`, value: -reservedMicroUsd },
      );
    }
    const patched = await this.#patchBudget(team, month, operations);
    if (patched === 'refused') throw new Error('an unconditional budget patch was refused');
    return patched;
  }

  async mark(team: string, month: string, mark: BudgetMark, atIso: string): Promise<boolean> {
    try {
      await this.container
        .item(budgetId(team, month), team)
        .patch({ condition: `from c where NOT IS_DEFINED(c.${mark})`, operations: [{ op: 'set', path: `/${mark}`, value: atIso }] });
      return true;
    } catch (error) {
      if (cosmosStatus(error) === 412) return false;
      throw error;
    }
  }

  async read(team: string, month: string): Promise<BudgetState | undefined> {
    const document = await this.#readBudget(team, month);
    return document && stateOf(document);
  }

  /**
   * Moves the holds of instances silent past `staleAfterMs` into spent, at their worst case (what they were reserved
   * at): their requests may have cost that upstream, and a hard budget must never be passed. Each move is conditioned on
   * the instance still being silent, so a late settlement of the same hold cannot be counted twice.
   */
  async sweep(team: string, month: string, nowMs: number): Promise<BudgetState | undefined> {
    let document = await this.#readBudget(team, month);
    if (!document) return undefined;
    for (const [instance, held] of Object.entries(document.holds)) {
      const touchedMs = document.touched[instance] ?? 0;
      if (held <= 0 || nowMs - touchedMs <= this.options.staleAfterMs || !/^[a-z0-9]+$/.test(instance)) continue;
      const operations: PatchOperation[] = [
        { op: 'incr', path: '/reserved', value: -held },
        { op: 'incr', path: '/spent', value: held },
        { op: 'incr', path: '/swept', value: held },
        { op: 'incr', path: `/holds/${instance}`, value: -held },
      ];
      const condition = `from c where c.touched["${instance}"] = ${touchedMs} AND c.holds["${instance}"] = ${held}`;
      const patched = await this.#patchBudget(team, month, operations, condition);
      if (patched !== 'refused') document = budgetDocument.parse(patched.document);
    }
    return stateOf(document);
  }

  async take(take: RateTake, limits: TeamLimits): Promise<{ taken: boolean; used: WindowUse }> {
    const conditions: string[] = [];
    if (limits.rpm !== undefined) conditions.push(`c.requests + ${take.requests} <= ${limits.rpm}`);
    if (limits.tpm !== undefined) conditions.push(`c.tokens + ${take.tokens} <= ${limits.tpm}`);
    const operations: PatchOperation[] = [
      { op: 'incr', path: '/requests', value: take.requests },
      { op: 'incr', path: '/tokens', value: take.tokens },
    ];
    const item = this.container.item(windowId(take), take.team);
    const patch = async (): Promise<WindowUse | 'refused' | 'missing'> => {
      try {
        const { resource } = await item.patch({ condition: `from c where ${conditions.join(' AND ')}`, operations });
        return windowDocument.parse(resource);
      } catch (error) {
        const status = cosmosStatus(error);
        if (status === 412) return 'refused';
        if (status === 404) return 'missing';
        throw error;
      }
    };
    let outcome = await patch();
    if (outcome === 'missing') {
      await this.#createIfMissing({
        id: windowId(take),
        type: 'rate',
        team: take.team,
        window: take.window,
        requests: 0,
        tokens: 0,
        ttl: WINDOW_TTL_S,
      });
      outcome = await patch();
    }
    if (outcome === 'missing') throw new Error(`rate window ${windowId(take)} vanished while being taken`);
    if (outcome !== 'refused') return { taken: true, used: outcome };
    const { resource } = await item.read();
    return { taken: false, used: windowDocument.parse(resource) };
  }

  async adjust(window: RateWindow, change: { requests: number; tokens: number }): Promise<void> {
    const operations: PatchOperation[] = [];
    if (change.requests !== 0) operations.push({ op: 'incr', path: '/requests', value: change.requests });
    if (change.tokens !== 0) operations.push({ op: 'incr', path: '/tokens', value: change.tokens });
    if (operations.length > 0) await this.container.item(windowId(window), window.team).patch(operations);
  }

  async #readBudget(team: string, month: string): Promise<BudgetDocument | undefined> {
    try {
      const { resource } = await this.container.item(budgetId(team, month), team).read();
      return resource === undefined ? undefined : budgetDocument.parse(resource);
    } catch (error) {
      if (cosmosStatus(error) === 404) return undefined;
      throw error;
    }
  }

  // A month's document is created by its first reservation or settlement; until then a patch finds nothing (404).
  async #patchBudget(
    team: string,
    month: string,
    operations: PatchOperation[],
    condition?: string,
  ): Promise<(BudgetState & { document: unknown }) | 'refused'> {
    const item = this.container.item(budgetId(team, month), team);
    const patch = async (): Promise<(BudgetState & { document: unknown }) | 'refused' | 'missing'> => {
      try {
        const { resource } = await item.patch(condition === undefined ? operations : { condition, operations });
        return { ...stateOf(budgetDocument.parse(resource)), document: resource };
      } catch (error) {
        const status = cosmosStatus(error);
        if (status === 412) return 'refused';
        if (status === 404) return 'missing';
        throw error;
      }
    };
    const first = await patch();
    if (first !== 'missing') return first;
    await this.#createIfMissing({
      id: budgetId(team, month),
      type: 'budget',
      team,
      month,
      spent: 0,
      reserved: 0,
      swept: 0,
      holds: {},
      touched: {},
    });
    const second = await patch();
    if (second === 'missing') throw new Error(`budget ${budgetId(team, month)} vanished while being written`);
    return second;
  }

  async #createIfMissing(document: Record<string, unknown>): Promise<void> {
    try {
      await this.container.items.create(document);
    } catch (error) {
      // Another request or instance created it first: it is the same empty document.
      if (cosmosStatus(error) !== 409) throw error;
    }
  }
}

function budgetId(team: string, month: string): string {
  return `budget:${team}:${month}`;
}

function windowId(window: RateWindow): string {
  return `rate:${window.team}:${window.window}`;
}

function stateOf(document: BudgetDocument): BudgetState {
  const marks: BudgetState['marks'] = {};
  if (document.alerted !== undefined) marks.alerted = document.alerted;
  if (document.exhausted !== undefined) marks.exhausted = document.exhausted;
  return {
    team: document.team,
    month: document.month,
    spentMicroUsd: document.spent,
    reservedMicroUsd: document.reserved,
    sweptMicroUsd: document.swept,
    marks,
  };
}
