import { describe, expect, it } from 'vitest';
import { BlocklistMatcher } from '../../shared/safety/blocklist-matcher.js';
import { skeletonOf } from '../../shared/safety/text-skeleton.js';

const matcher = new BlocklistMatcher([
  { name: 'acme-secrets', items: ['Project Falcon', 'bomb'] },
  { name: 'slurs', items: ['ass'] },
]);

const found = (text: string) => matcher.scan(text).hits.map((h) => ({ item: h.item, at: text.slice(h.start, h.end) }));

describe('text skeleton', () => {
  it('folds case, width, diacritics, look-alike digits and drops separators', () => {
    expect(skeletonOf('ＢÖｍ-b').text).toBe('bomb');
    expect(skeletonOf('B\u200bO\u00adM b').text).toBe('bomb');
    expect(skeletonOf('b0mb').text).toBe('bomb');
    expect(skeletonOf('Straße').text).toBe('strasse');
  });

  it('maps every skeleton unit back to its code point in the original', () => {
    const s = skeletonOf('a 𝐛c');
    expect(s.text).toBe('abc');
    expect([...s.starts]).toEqual([0, 2, 4]);
    expect([...s.ends]).toEqual([1, 4, 5]);
  });
});

describe('blocklist matching', () => {
  it('finds items whatever the case, width, accents and spacing, and reports where', () => {
    expect(found('we start PROJECT falcon today')).toEqual([{ item: 'Project Falcon', at: 'PROJECT falcon' }]);
    expect(found('Prōjéct\tＦａｌｃｏｎ')).toEqual([{ item: 'Project Falcon', at: 'Prōjéct\tＦａｌｃｏｎ' }]);
    expect(found('a b.o.m.b here')).toEqual([{ item: 'bomb', at: 'b.o.m.b' }]);
    expect(found('a b-0-m-8!')).toEqual([{ item: 'bomb', at: 'b-0-m-8' }]);
    expect(found('the b\u200bo\u200bm\u200bb')).toEqual([{ item: 'bomb', at: 'b\u200bo\u200bm\u200bb' }]);
    expect(found('projectfalcon')).toEqual([{ item: 'Project Falcon', at: 'projectfalcon' }]);
    expect(found('ba\u0301\u0300\u0302ss ass')).toEqual([{ item: 'ass', at: 'ass' }]);
  });

  it('matches whole words only in spaced scripts, and not across a paragraph of separators', () => {
    expect(found('a classic bombastic assessment')).toEqual([]);
    expect(found('b     o m b')).toEqual([]);
    expect(found('b   o m b')).toEqual([{ item: 'bomb', at: 'b   o m b' }]);
  });

  it('matches inside unspaced scripts', () => {
    const cjk = new BlocklistMatcher([{ name: 'zh', items: ['炸弹'] }]);
    const hits = cjk.scan('我有一个炸弹在这里').hits;
    expect(hits.map((h) => [h.start, h.end])).toEqual([[4, 6]]);
  });

  it('holds back a word that may still be completed, when more text may follow', () => {
    const text = 'talk about the bo';
    expect(matcher.scan(text, { final: false }).pendingFrom).toBe(text.lastIndexOf('bo'));
    const complete = 'about the bomb';
    const open = matcher.scan(complete, { final: false });
    expect(open.hits).toEqual([]);
    expect(open.pendingFrom).toBe(complete.indexOf('bomb'));
    expect(matcher.scan(`${complete} `, { final: false }).hits).toHaveLength(1);
    expect(matcher.scan('nothing here', { final: false }).pendingFrom).toBe('nothing here'.length);
  });

  it('scans long hostile text in linear time', () => {
    const hostile = new BlocklistMatcher([{ name: 'x', items: Array.from({ length: 64 }, (_, i) => 'a'.repeat(i + 1)) }]);
    const text = 'a'.repeat(100_000);
    const scan = hostile.scan(text);
    expect(scan.hits.length).toBeLessThanOrEqual(100);
    expect(hostile.scan('a '.repeat(50_000)).hits.length).toBe(100);
    expect(matcher.scan('b o '.repeat(25_000)).hits).toEqual([]);
  });
});
