import { randomUUID } from 'node:crypto';
import { CosmosClient } from '@azure/cosmos';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedCosmos, type EmbeddedCosmos } from '../../local/embedded-cosmos.js';
import type { AuditEntry } from '../../shared/gateway/audit-log.js';
import { containerDefinitions, ensureContainers } from '../../shared/store/containers.js';
import { CosmosAuditLog, monthsOf } from '../../shared/store/cosmos-audit.js';

let cosmos: EmbeddedCosmos;
let client: CosmosClient;
let log: CosmosAuditLog;

beforeAll(async () => {
  cosmos = await startEmbeddedCosmos({});
  client = new CosmosClient(cosmos.connectionOptions());
  const database = await ensureContainers(client, 'audit-store-test');
  log = new CosmosAuditLog(database.container(containerDefinitions.audit.id), randomUUID);
});
afterAll(async () => {
  client?.dispose();
  await cosmos?.stop();
});

const entry = (at: string, extra: Partial<AuditEntry> = {}): AuditEntry => ({
  at,
  actor: { keyId: 'key_ops1', role: 'ops' },
  kind: 'route',
  id: 'chat',
  action: 'patch',
  before: { alias: 'chat', strategy: 'spillover' },
  after: { alias: 'chat', strategy: 'weighted' },
  ...extra,
});

describe('monthsOf', () => {
  it('lists every month a range touches, across a year end', () => {
    expect(monthsOf('2026-11-30', '2027-02-01')).toEqual(['2026-11', '2026-12', '2027-01', '2027-02']);
    expect(monthsOf('2026-05-03', '2026-05-04')).toEqual(['2026-05']);
  });
});

describe('CosmosAuditLog', () => {
  it('reads the days of a range across month partitions, newest first, both ends included', async () => {
    await log.append(entry('2026-01-31T23:59:59.000Z'));
    await log.append(entry('2026-02-01T00:00:00.000Z', { action: 'put' }));
    await log.append(entry('2026-02-02T10:00:00.000Z', { action: 'delete', after: null }));
    await log.append(entry('2026-01-30T10:00:00.000Z'));
    const read = (await log.read({ from: '2026-01-31', to: '2026-02-01' }, { limit: 100 })).data;
    expect(read.map((e) => e.at)).toEqual(['2026-02-01T00:00:00.000Z', '2026-01-31T23:59:59.000Z']);
    expect(read[1]).toEqual(entry('2026-01-31T23:59:59.000Z'));
  });

  it('filters by actor and kind', async () => {
    await log.append(entry('2026-03-01T01:00:00.000Z', { actor: { keyId: 'key_admin1', role: 'admin' }, kind: 'team', id: 'search' }));
    await log.append(entry('2026-03-01T02:00:00.000Z'));
    expect((await log.read({ from: '2026-03-01', to: '2026-03-01', actor: 'key_admin1' }, { limit: 100 })).data.map((e) => e.id)).toEqual([
      'search',
    ]);
    expect(
      (await log.read({ from: '2026-03-01', to: '2026-03-01', kind: 'route' }, { limit: 100 })).data.map((e) => e.actor.keyId),
    ).toEqual(['key_ops1']);
  });

  it('reads 250 entries over three months in pages that together are the whole, newest first, ties included', async () => {
    // Three entries per second, so pages end in the middle of a tie; spread over April to June.
    const ats = Array.from({ length: 250 }, (_, i) => {
      const month = 4 + Math.floor(i / 100);
      return `2026-0${month}-10T00:${String(Math.floor((i % 100) / 3 / 60)).padStart(2, '0')}:${String(Math.floor((i % 100) / 3) % 60).padStart(2, '0')}.000Z`;
    });
    for (const [i, at] of ats.entries()) await log.append(entry(at, { id: `route-${i}` }));
    const range = { from: '2026-04-01', to: '2026-06-30' };
    const whole = (await log.read(range, { limit: 1000 })).data;
    expect(whole).toHaveLength(250);
    expect(whole.map((e) => e.at)).toEqual([...ats].sort().reverse());

    for (const limit of [100, 7, 3]) {
      const pages: AuditEntry[][] = [];
      let continuation: string | undefined;
      do {
        const page = await log.read(range, { limit, continuation });
        expect(page.data.length).toBeLessThanOrEqual(limit);
        pages.push(page.data);
        continuation = page.continuation;
      } while (continuation !== undefined);
      expect(pages.flat()).toEqual(whole);
      if (limit === 100) expect(pages.map((p) => p.length)).toEqual([100, 100, 50]);
    }
  });

  it('refuses a token it did not make, or one of another range, as a bad request naming next', async () => {
    const range = { from: '2026-04-01', to: '2026-06-30' };
    const first = await log.read(range, { limit: 10 });
    // Not JSON; JSON of another shape; a month outside the range.
    for (const continuation of [
      'bm9wZQ',
      Buffer.from('{"c":null}').toString('base64url'),
      Buffer.from('{"m":"2027-01","c":null}').toString('base64url'),
    ]) {
      await expect(log.read(range, { limit: 10, continuation })).rejects.toMatchObject({ status: 400, param: 'next' });
    }
    await expect(log.read({ from: '2026-01-01', to: '2026-01-31' }, { limit: 10, continuation: first.continuation })).rejects.toMatchObject(
      {
        status: 400,
        param: 'next',
      },
    );
  });
});
