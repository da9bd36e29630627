import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ListedIds } from '../../src/engine/run/listed-ids.js';

describe('ListedIds', () => {
  it('holds what was added, counts each id once, and nothing else', () => {
    const s = new ListedIds();
    expect(s.size).toBe(0);
    expect(s.has('')).toBe(false);
    for (const id of ['a.vcf', 'b.vcf', 'a.vcf', '', 'people/c1']) s.add(id);
    expect(s.size).toBe(4);
    for (const id of ['a.vcf', 'b.vcf', '', 'people/c1']) expect(s.has(id)).toBe(true);
    for (const id of ['a.vc', 'a.vcff', 'A.vcf', 'people/c2', 'c.vcf']) expect(s.has(id)).toBe(false);
  });

  it('keeps every id through its growth: 100,000 file names like a folder holds', () => {
    const s = new ListedIds();
    for (let i = 0; i < 100_000; i++) s.add(`0192f3a4-${i.toString(16).padStart(8, '0')}.vcf`);
    expect(s.size).toBe(100_000);
    let found = 0;
    for (let i = 0; i < 100_000; i++) if (s.has(`0192f3a4-${i.toString(16).padStart(8, '0')}.vcf`)) found++;
    expect(found).toBe(100_000);
    // Ids next to those added, none of them added: a 64-bit fingerprint tells them all apart.
    let wrong = 0;
    for (let i = 100_000; i < 200_000; i++) if (s.has(`0192f3a4-${i.toString(16).padStart(8, '0')}.vcf`)) wrong++;
    expect(wrong).toBe(0);
  });

  it('a table given back and borrowed again holds nothing of the last listing, whatever its size', () => {
    const first = ListedIds.borrow(10);
    for (let i = 0; i < 5_000; i++) first.add(`x${i}`);
    first.release();
    const second = ListedIds.borrow(100);
    expect(second).toBe(first); // reused, not reallocated
    expect(second.size).toBe(0);
    for (let i = 0; i < 5_000; i++) expect(second.has(`x${i}`)).toBe(false);
    for (let i = 0; i < 20_000; i++) second.add(`y${i}`); // and it still grows
    expect(second.size).toBe(20_000);
    for (let i = 0; i < 20_000; i++) expect(second.has(`y${i}`)).toBe(true);
    second.release();
    const bigger = ListedIds.borrow(100_000);
    expect(bigger.size).toBe(0);
    expect(bigger.has('y1')).toBe(false);
    bigger.release();
  });

  it('answers like a Set for any strings', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'binary', maxLength: 12 }), { maxLength: 80 }), fc.array(fc.string({ unit: 'binary', maxLength: 12 }), { maxLength: 20 }), (added, probes) => {
        const s = new ListedIds();
        for (const id of added) s.add(id);
        const set = new Set(added);
        expect(s.size).toBe(set.size);
        for (const p of [...added, ...probes]) expect(s.has(p)).toBe(set.has(p));
      }),
      { numRuns: 300 },
    );
  });
});
