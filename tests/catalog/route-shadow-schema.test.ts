import { describe, expect, it } from 'vitest';
import { routeSchema } from '../../shared/catalog/schemas.js';

const route = (shadow: unknown) => routeSchema.safeParse({ alias: 'chat', targets: [{ deployment: 'a' }], shadow });

describe('route schema: shadow', () => {
  it('takes a deployment and a percent above 0 and at most 100', () => {
    expect(route({ deployment: 'candidate', percent: 5 }).data?.shadow).toEqual({ deployment: 'candidate', percent: 5 });
    expect(route({ deployment: 'candidate', percent: 0.5 }).success).toBe(true);
    expect(route({ deployment: 'candidate', percent: 100 }).success).toBe(true);
  });

  it('refuses 0, more than 100, a missing or malformed deployment and unknown fields', () => {
    for (const shadow of [
      { deployment: 'candidate', percent: 0 },
      { deployment: 'candidate', percent: 100.5 },
      { deployment: 'candidate', percent: -1 },
      { percent: 5 },
      { deployment: 'Not An Id', percent: 5 },
      { deployment: 'candidate', percent: 5, billTo: 'team' },
    ])
      expect(route(shadow).success, JSON.stringify(shadow)).toBe(false);
  });
});
