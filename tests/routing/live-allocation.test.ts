import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { allocateSlots, nextSlots, type SlotClaim } from '../../shared/routing/live-allocation.js';

describe('allocateSlots', () => {
  it('gives a lone instance every slot, wanted or not', () => {
    expect(allocateSlots(8, [{ instance: 'a', slots: 0, want: 0 }])).toEqual(new Map([['a', 8]]));
    expect(allocateSlots(8, [{ instance: 'a', slots: 0, want: 3 }])).toEqual(new Map([['a', 8]]));
  });

  it('water-fills over the wants, then spreads what nobody wants as standby', () => {
    const claims = (wants: number[]) => wants.map((want, i) => ({ instance: `i${i}`, slots: 0, want }));
    expect([...allocateSlots(8, claims([8, 2])).values()]).toEqual([6, 2]);
    expect([...allocateSlots(8, claims([8, 8])).values()]).toEqual([4, 4]);
    expect([...allocateSlots(8, claims([1, 1])).values()]).toEqual([4, 4]);
    expect([...allocateSlots(8, claims([0, 0, 0])).values()]).toEqual([3, 3, 2]);
    expect([...allocateSlots(2, claims([5, 5, 5])).values()]).toEqual([1, 1, 0]);
  });

  it('always hands out exactly the capacity, never more than it to anyone', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 64 }),
        fc.array(fc.integer({ min: 0, max: 80 }), { minLength: 1, maxLength: 8 }),
        (max, wants) => {
          const shares = allocateSlots(
            max,
            wants.map((want, i) => ({ instance: `i${i}`, slots: 0, want })),
          );
          expect([...shares.values()].reduce((a, b) => a + b, 0)).toBe(max);
          // Nobody wanting less than its fair share is given less than it wants.
          const fair = Math.floor(max / wants.length);
          for (const [i, want] of wants.entries()) expect(shares.get(`i${i}`)!).toBeGreaterThanOrEqual(Math.min(want, fair));
        },
      ),
    );
  });
});

/**
 * A model of the live protocol at the level of slots: one document with a version (its ETag), instances that read
 * it (their view may go stale), write their claim only if the version is unchanged, admit against their own
 * slots, and may stop (their entry then counts as expired for the others).
 */
interface Instance {
  id: string;
  alive: boolean;
  /** What it admits on. */
  slots: number;
  inFlight: number;
  want: number;
  view: { version: number; entries: Map<string, { slots: number; want: number }> };
}

class Model {
  version = 0;
  entries = new Map<string, { slots: number; want: number }>();
  readonly instances: Instance[];

  constructor(
    readonly max: number,
    count: number,
  ) {
    this.instances = Array.from({ length: count }, (_, i) => ({
      id: `i${i}`,
      alive: true,
      slots: 0,
      inFlight: 0,
      want: 0,
      view: { version: 0, entries: new Map() },
    }));
  }

  read(i: Instance): void {
    i.view = { version: this.version, entries: new Map([...this.entries].map(([k, v]) => [k, { ...v }])) };
  }

  /** One sync's write, from the instance's (possibly stale) view. */
  write(i: Instance): void {
    const dead = new Set(this.instances.filter((x) => !x.alive).map((x) => x.id));
    const held = i.view.entries.get(i.id)?.slots ?? 0;
    const claims: SlotClaim[] = [
      ...[...i.view.entries].filter(([id]) => id !== i.id && !dead.has(id)).map(([instance, e]) => ({ instance, ...e })),
      { instance: i.id, slots: held, want: i.want },
    ];
    const target = allocateSlots(this.max, claims).get(i.id)!;
    const slots = nextSlots({ instance: i.id, slots: held, inFlight: i.inFlight }, target, this.max, claims);
    i.slots = Math.min(i.slots, slots);
    if (i.view.version !== this.version) return; // 412
    this.entries = new Map([...i.view.entries].filter(([id]) => !dead.has(id)));
    this.entries.set(i.id, { slots, want: i.want });
    this.version += 1;
    i.slots = slots;
  }

  begin(i: Instance): void {
    if (i.inFlight < i.slots) i.inFlight += 1;
  }

  /** The invariant: what live instances may admit on, and what they hold in flight, never exceed the capacity. */
  check(): void {
    const alive = this.instances.filter((i) => i.alive);
    expect(alive.reduce((sum, i) => sum + i.slots, 0)).toBeLessThanOrEqual(this.max);
    expect(alive.reduce((sum, i) => sum + i.inFlight, 0)).toBeLessThanOrEqual(this.max);
  }
}

const step = fc.oneof(
  fc.record({ kind: fc.constant('read' as const), who: fc.nat() }),
  fc.record({ kind: fc.constant('write' as const), who: fc.nat() }),
  fc.record({ kind: fc.constant('begin' as const), who: fc.nat() }),
  fc.record({ kind: fc.constant('end' as const), who: fc.nat() }),
  fc.record({ kind: fc.constant('want' as const), who: fc.nat(), want: fc.integer({ min: 0, max: 40 }) }),
  fc.record({ kind: fc.constant('expire' as const), who: fc.nat() }),
);

describe('capacity leases across instances', () => {
  it('never lets the slots (or requests in flight) of live instances add up to more than the capacity', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 16 }),
        fc.integer({ min: 1, max: 5 }),
        fc.array(step, { maxLength: 200 }),
        (max, count, steps) => {
          const model = new Model(max, count);
          for (const s of steps) {
            const i = model.instances[s.who % count]!;
            if (!i.alive) continue;
            if (s.kind === 'read') model.read(i);
            else if (s.kind === 'write') model.write(i);
            else if (s.kind === 'begin') model.begin(i);
            else if (s.kind === 'end') i.inFlight = Math.max(0, i.inFlight - 1);
            else if (s.kind === 'want') i.want = Math.min(s.want, max);
            // An instance that stopped renewing has stopped admitting before the others count it as expired.
            else if (model.instances.filter((x) => x.alive).length > 1) Object.assign(i, { alive: false, slots: 0, inFlight: 0 });
            model.check();
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it('a lone instance holds every slot after its first sync', () => {
    const model = new Model(8, 1);
    const [a] = model.instances;
    model.read(a!);
    model.write(a!);
    expect(a!.slots).toBe(8);
  });

  it('converges to the allocation within 3 rounds of syncs, whatever the starting leases', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 32 }),
        fc.array(fc.integer({ min: 0, max: 40 }), { minLength: 1, maxLength: 5 }),
        fc.nat(),
        (max, wants, seed) => {
          const model = new Model(max, wants.length);
          // Start from an arbitrary past allocation: instance `seed % n` held everything.
          const first = model.instances[seed % wants.length]!;
          model.read(first);
          model.write(first);
          model.instances.forEach((i, n) => {
            i.want = Math.min(wants[n]!, max);
          });
          for (let round = 0; round < 3; round++) {
            for (const i of model.instances) {
              model.read(i);
              model.write(i);
            }
          }
          const expected = allocateSlots(
            max,
            model.instances.map((i) => ({ instance: i.id, slots: 0, want: i.want })),
          );
          expect(new Map(model.instances.map((i) => [i.id, i.slots]))).toEqual(expected);
        },
      ),
    );
  });
});
