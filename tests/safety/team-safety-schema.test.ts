import { describe, expect, it } from 'vitest';
import { teamSchema } from '../../shared/catalog/schemas.js';

describe('a team document with a safety profile', () => {
  it("accepts PRODUCT.md's team example", () => {
    const team = teamSchema.parse({
      id: 'search',
      name: 'Search',
      aliases: ['chat', 'embed'],
      tags: ['confidential'],
      safety: {
        categories: { hate: 2, sexual: 2, violence: 4, selfHarm: 2 },
        promptShield: true,
        pii: 'mask',
        blocklists: ['acme-secrets'],
        mode: 'enforce',
        onOutage: 'closed',
        parallel: false,
      },
    });
    expect(team.safety).toMatchObject({ categories: { violence: 4 }, pii: 'mask', windowChars: 200 });
    expect(teamSchema.parse({ id: 'plain', name: 'Plain' }).safety).toBeUndefined();
  });

  it('refuses a bad profile, naming the field', () => {
    const parsed = teamSchema.safeParse({ id: 'x', name: 'X', safety: { categories: { hate: 9 }, onOutage: 'sometimes' } });
    expect(parsed.success).toBe(false);
    expect(parsed.error!.issues.map((i) => [i.path.join('.'), i.message])).toEqual([
      ['safety.categories.hate', 'categories.hate must be from 0 to 7'],
      ['safety.onOutage', "onOutage must be 'closed' or 'open'"],
    ]);
  });
});
