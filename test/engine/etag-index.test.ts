import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EtagIndex, EtagIndexBuilder } from '../../src/engine/run/etag-index.js';

describe('EtagIndex', () => {
  it('answers the etag of each id, null for a link without one, undefined for an unknown id', () => {
    const index = EtagIndex.build([
      ['b.vcf', '"2"'],
      ['a.vcf', '"1"'],
      ['ab.vcf', null],
      ['a', ''],
    ]);
    expect(index.size).toBe(4);
    expect(index.knownEtag('a.vcf')).toBe('"1"');
    expect(index.knownEtag('b.vcf')).toBe('"2"');
    expect(index.knownEtag('ab.vcf')).toBeNull();
    expect(index.knownEtag('a')).toBe('');
    for (const id of ['', 'a.vc', 'a.vcff', 'c.vcf', 'ab']) expect(index.knownEtag(id)).toBeUndefined();
  });

  it('forgets an id once the listing showed it, and gives back the ids never shown', () => {
    const index = EtagIndex.build([
      ['x', 'e1'],
      ['y', 'e2'],
      ['z', null],
    ]);
    expect(index.unlisted().sort()).toEqual(['x', 'y', 'z']);
    index.markListed('y');
    index.markListed('y');
    index.markListed('not-linked');
    expect(index.knownEtag('y')).toBeUndefined();
    expect(index.unlisted().sort()).toEqual(['x', 'z']);
    index.markListed('x');
    index.markListed('z');
    expect(index.unlisted()).toEqual([]);
    // entries() still lists every link.
    expect([...index.entries()]).toEqual([
      ['x', 'e1'],
      ['y', 'e2'],
      ['z', null],
    ]);
  });

  it('is empty without links', () => {
    const index = new EtagIndexBuilder().finish();
    expect(index.size).toBe(0);
    expect(index.knownEtag('a')).toBeUndefined();
    expect(index.unlisted()).toEqual([]);
  });

  it('finds every id, in pages of any size and with any characters, like a Map would', () => {
    const entry = fc.tuple(fc.string({ unit: 'binary', maxLength: 12 }), fc.option(fc.string({ maxLength: 8 }), { nil: null }));
    fc.assert(
      fc.property(fc.uniqueArray(entry, { selector: ([id]) => id, maxLength: 60 }), fc.nat(7), fc.array(fc.string({ unit: 'binary', maxLength: 12 }), { maxLength: 10 }), (pairs, pageSize, probes) => {
        const builder = new EtagIndexBuilder();
        for (let i = 0; i < pairs.length; i += pageSize + 1) builder.addPage(pairs.slice(i, i + pageSize + 1));
        const index = builder.finish();
        const map = new Map(pairs);
        for (const [id, etag] of pairs) expect(index.knownEtag(id)).toBe(etag);
        for (const p of probes) expect(index.knownEtag(p)).toBe(map.get(p));
        const shown = pairs.filter((_, i) => i % 3 === 0).map(([id]) => id);
        for (const id of shown) index.markListed(id);
        expect(index.unlisted().sort()).toEqual(pairs.map(([id]) => id).filter((id) => !shown.includes(id)).sort());
      }),
      { numRuns: 300 },
    );
  });
});
