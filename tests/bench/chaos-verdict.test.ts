import { describe, expect, it } from 'vitest';
import { chaosTable, lossesOf, seenOf } from '../../bench/chaos-verdict.js';

const SSE = 'text/event-stream; charset=utf-8';

describe('what npm run chaos reads from an answer', () => {
  it('tells a whole answer, an error, a clean stream end, an error event and a cut apart', () => {
    expect(seenOf(200, 'application/json', '{"id":"x"}', false)).toEqual({ status: 200, ending: 'whole' });
    expect(seenOf(502, 'application/json', '{"error":{"code":"upstream_error"}}', false)).toEqual({
      status: 502,
      code: 'upstream_error',
      ending: 'whole',
    });
    expect(seenOf(200, SSE, 'data: {"a":1}\n\ndata: [DONE]\n\n', false)).toEqual({ status: 200, ending: 'done' });
    expect(seenOf(200, SSE, 'data: {"a":1}\n\ndata: {"error":{"code":"upstream_timeout"}}\n\n', false)).toEqual({
      status: 200,
      code: 'upstream_timeout',
      ending: 'error-event',
    });
    expect(seenOf(200, SSE, 'data: {"a":1}\n\n', true)).toEqual({ status: 200, ending: 'cut' });
  });
});

describe('what npm run chaos counts as lost', () => {
  it('an undocumented 5xx, a broken stream that ends clean, an answered request missing from the ledger, a hang', () => {
    expect(lossesOf([{ status: 502, code: 'upstream_error', ending: 'whole' }], 1, {})).toEqual([]);
    expect(lossesOf([{ status: 500, code: 'internal_error', ending: 'whole' }], 1, {})).toEqual([
      '500 without a documented code (internal_error)',
    ]);
    expect(lossesOf([{ status: 200, ending: 'done' }], 1, { brokenAnswer: true })).toEqual(['a broken stream ended with a clean [DONE]']);
    expect(
      lossesOf(
        [
          { status: 200, ending: 'whole' },
          { status: 200, ending: 'whole' },
        ],
        1,
        {},
      ),
    ).toEqual(['1 answered request(s) missing from the ledger']);
    expect(lossesOf([{ status: 0, ending: 'cut' }], 0, {})).toEqual(['no answer (the connection dropped or hung)']);
    // A gateway killed mid-stream: a cut is what the caller must see, and no record is promised for it.
    expect(lossesOf([{ status: 200, ending: 'cut' }], 0, { gatewayDies: true })).toEqual([]);
  });

  it('prints one row per scenario', () => {
    const table = chaosTable([
      {
        name: 'upstream 429',
        fault: '429',
        seen: [{ status: 429, code: 'capacity_exceeded', ending: 'whole', retryAfter: '2' }],
        recorded: 1,
        losses: [],
      },
    ]);
    expect(table.split('\n')).toHaveLength(3);
    expect(table).toContain('429 capacity_exceeded whole (Retry-After 2)');
    expect(table).toContain('| nothing');
  });
});
