import { describe, expect, it } from 'vitest';
import { atomicCondition, preconditionsHold, readPreconditions } from '../../shared/http/preconditions.js';

const read = (init: Record<string, string>) => readPreconditions(new Headers(init));

describe('readPreconditions', () => {
  it('reads *, quoted, weak, bare and listed entity tags', () => {
    expect(read({})).toEqual({ ifMatch: undefined, ifNoneMatch: undefined });
    expect(read({ 'if-match': ' * ' }).ifMatch).toBe('*');
    expect(read({ 'if-match': '"a"' }).ifMatch).toEqual([{ tag: '"a"', weak: false }]);
    expect(read({ 'if-match': 'W/"a", "b,c" ,d-1' }).ifMatch).toEqual([
      { tag: '"a"', weak: true },
      { tag: '"b,c"', weak: false },
      { tag: 'd-1', weak: false },
    ]);
    expect(read({ 'if-none-match': '*' }).ifNoneMatch).toBe('*');
  });

  it.each(['', ' ', '"a', 'a"b', '"a" "b"', ',', '"a",,'])('refuses the malformed If-Match %j with 400', (value) => {
    expect(() => read({ 'if-match': value })).toThrow(expect.objectContaining({ status: 400, param: 'If-Match' }));
  });
});

describe('preconditionsHold', () => {
  it('If-Match: * holds for any existing document and never for an absent one', () => {
    expect(preconditionsHold({ ifMatch: '*' }, '"e1"')).toBe(true);
    expect(preconditionsHold({ ifMatch: '*' }, undefined)).toBe(false);
  });

  it('If-Match compares strongly: a weak tag never matches', () => {
    const tags = [
      { tag: '"e1"', weak: false },
      { tag: '"e2"', weak: true },
    ];
    expect(preconditionsHold({ ifMatch: tags }, '"e1"')).toBe(true);
    expect(preconditionsHold({ ifMatch: tags }, '"e2"')).toBe(false);
    expect(preconditionsHold({ ifMatch: tags }, undefined)).toBe(false);
  });

  it('If-None-Match: * holds only when there is no document; a list compares weakly', () => {
    expect(preconditionsHold({ ifNoneMatch: '*' }, undefined)).toBe(true);
    expect(preconditionsHold({ ifNoneMatch: '*' }, '"e1"')).toBe(false);
    expect(preconditionsHold({ ifNoneMatch: [{ tag: '"e1"', weak: true }] }, '"e1"')).toBe(false);
    expect(preconditionsHold({ ifNoneMatch: [{ tag: '"e1"', weak: false }] }, '"e2"')).toBe(true);
  });

  it('holds without conditions', () => {
    expect(preconditionsHold({}, undefined)).toBe(true);
    expect(preconditionsHold({}, '"e1"')).toBe(true);
  });
});

describe('atomicCondition', () => {
  it('maps what the store can check in one call, and nothing else', () => {
    expect(atomicCondition({})).toEqual({});
    expect(atomicCondition({ ifMatch: '*' })).toEqual({ ifMatch: '*' });
    expect(atomicCondition({ ifNoneMatch: '*' })).toEqual({ ifNoneMatch: '*' });
    expect(atomicCondition({ ifMatch: [{ tag: '"e1"', weak: false }] })).toEqual({ ifMatch: '"e1"' });
    expect(atomicCondition({ ifMatch: [{ tag: '"e1"', weak: true }] })).toBeUndefined();
    expect(
      atomicCondition({
        ifMatch: [
          { tag: '"e1"', weak: false },
          { tag: '"e2"', weak: false },
        ],
      }),
    ).toBeUndefined();
    expect(atomicCondition({ ifMatch: '*', ifNoneMatch: '*' })).toBeUndefined();
    expect(atomicCondition({ ifNoneMatch: [{ tag: '"e1"', weak: false }] })).toBeUndefined();
  });
});
