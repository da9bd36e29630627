import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { matchItems, scorePair, type MatchSubject } from '../../src/engine/plan/match.js';

const subj = (id: string, keys: string[], name: string | null = null): MatchSubject => ({ id, keys, name });
const once = (keys: string[]) => new Map(keys.map((k) => [k, 1]));

describe('scorePair', () => {
  it.each([
    ['same UID', subj('i', ['u:1']), subj('e', ['u:1']), new Map(), 100],
    ['same e-mail, same name', subj('i', ['e:a@x'], 'ann lee'), subj('e', ['e:a@x'], 'ann lee'), once(['e:a@x']), 99],
    ['same e-mail, no name on one side', subj('i', ['e:a@x']), subj('e', ['e:a@x'], 'ann lee'), once(['e:a@x']), 71],
    ['same e-mail, another name', subj('i', ['e:a@x'], 'ann smith'), subj('e', ['e:a@x'], 'ann lee'), once(['e:a@x']), 50],
    ['same phone, another name (a shared line)', subj('i', ['p:+331'], 'bob'), subj('e', ['p:+331'], 'ann'), once(['p:+331']), 0],
    ['an e-mail two hub contacts hold', subj('i', ['e:info@x'], 'ann'), subj('e', ['e:info@x'], 'ann'), new Map([['e:info@x', 2]]), 0],
    ['nothing in common', subj('i', ['e:a@x'], 'ann'), subj('e', ['e:b@x'], 'ann'), once(['e:a@x', 'e:b@x']), 0],
  ])('%s', (_what, item, entity, owners, score) => {
    expect(scorePair(item, entity, owners)).toBe(score);
  });
});

describe('matchItems', () => {
  it('links a unique mutual best match', () => {
    const r = matchItems([subj('i1', ['e:a@x'], 'ann')], [subj('E1', ['e:a@x'], 'ann')], once(['e:a@x']));
    expect([...r.links]).toEqual([['i1', 'E1']]);
    expect(r.reviews.size).toBe(0);
  });

  it('sends an item with two strong candidates to review and links nothing', () => {
    const r = matchItems([subj('i1', ['e:a@x', 'p:+331'], 'ann')], [subj('E1', ['e:a@x'], 'ann'), subj('E2', ['p:+331'], 'ann')], once(['e:a@x', 'p:+331']));
    expect(r.links.size).toBe(0);
    expect(r.reviews.get('i1')?.map((c) => c.entityId).sort()).toEqual(['E1', 'E2']);
  });

  it('does not collapse two items of one spoke onto one hub contact', () => {
    const r = matchItems([subj('i1', ['e:a@x'], 'ann'), subj('i2', ['e:a@x'], 'ann')], [subj('E1', ['e:a@x'], 'ann')], once(['e:a@x']));
    expect(r.links.size).toBe(0);
    expect([...r.reviews.keys()].sort()).toEqual(['i1', 'i2']);
  });

  it('never chains matches (A~B by e-mail, B~C by phone does not link A with C)', () => {
    const r = matchItems([subj('A', ['e:a@x'], 'ann')], [subj('C', ['p:+331'], 'ann')], once(['e:a@x', 'p:+331']));
    expect(r.links.size).toBe(0);
    expect(r.reviews.size).toBe(0);
  });

  it('a weaker resemblance does not block a strong unique match', () => {
    const r = matchItems([subj('i1', ['e:a@x', 'e:shared@x'], 'ann lee')], [subj('E1', ['e:a@x'], 'ann lee'), subj('E2', ['e:shared@x'], 'bob ray')], once(['e:a@x', 'e:shared@x']));
    expect([...r.links]).toEqual([['i1', 'E1']]);
  });

  it('does not depend on the order of either list', () => {
    const names = ['ann', 'bob', null] as const;
    const arb = fc.array(fc.record({ keys: fc.subarray(['e:1', 'e:2', 'e:3', 'p:1', 'p:2', 'u:1']), name: fc.constantFrom(...names) }), { maxLength: 6 });
    fc.assert(
      fc.property(arb, arb, (is, es) => {
        const items = is.map((x, i) => subj(`i${i}`, x.keys, x.name));
        const ents = es.map((x, i) => subj(`E${i}`, x.keys, x.name));
        const owners = new Map<string, number>();
        for (const e of ents) for (const k of e.keys) owners.set(k, (owners.get(k) ?? 0) + 1);
        const a = matchItems(items, ents, owners);
        const b = matchItems([...items].reverse(), [...ents].reverse(), owners);
        expect([...a.links].sort()).toEqual([...b.links].sort());
        expect([...a.reviews.keys()].sort()).toEqual([...b.reviews.keys()].sort());
        // Links are one-to-one.
        expect(new Set(a.links.values()).size).toBe(a.links.size);
      }),
    );
  });
});
