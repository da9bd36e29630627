import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cloneState, currentFields, stateFromFields, type ElementCell, type HubState, type ScalarCell } from '../../src/engine/plan/hub-state.js';
import { decodeState, encodeState } from '../../src/engine/run/state-json.js';
import { cardToFields } from '../../src/model/card-fields.js';
import { fieldsEqual, SCALAR_PATHS, SET_PATHS, type Fields } from '../../src/model/fields.js';
import { parseVCard } from '../../src/model/vcard.js';

// A few (at, o, hv) triples, so that states share them the way real ones do, plus any triple at all.
const meta = fc.oneof(
  fc.constantFrom(
    { at: 1838881465614336, o: '01a21cfd-2474-7000-9053-73d9a8bf5e76', hv: 1838881466993665 },
    { at: 1838881470000000, o: '01a21cfd-2474-7000-9053-73d9a8bf5e77', hv: 1838881471000000 },
    { at: 0, o: 'hub', hv: 0 },
  ),
  fc.record({ at: fc.nat(), o: fc.string({ maxLength: 4 }), hv: fc.nat() }),
);
const scalar: fc.Arbitrary<ScalarCell> = fc
  .tuple(fc.option(fc.string(), { nil: null }), meta)
  .map(([v, m]) => ({ v, ...m }));
const element: fc.Arbitrary<ElementCell> = fc
  .tuple(
    fc.dictionary(fc.constantFrom('address', 'label', 'pref', 'number'), fc.string({ maxLength: 6 })),
    meta,
    fc.option(fc.nat(), { nil: undefined }),
    fc.option(fc.nat(), { nil: null }),
  )
  .map(([a, m, add, del]) => ({ a, ...m, add: add ?? m.at, del }));
const hubState: fc.Arbitrary<HubState> = fc.record({
  s: fc.dictionary(fc.constantFrom(...SCALAR_PATHS), scalar),
  m: fc.dictionary(fc.constantFrom(...SET_PATHS), fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), element)),
}) as fc.Arbitrary<HubState>;

describe('stored merge state', () => {
  it('reads back every cell whole: value, tag, origin, hub version, add and removal tags', () => {
    fc.assert(
      fc.property(hubState, (st) => {
        expect(decodeState(encodeState(st))).toEqual(st);
      }),
      { numRuns: 500 },
    );
  });

  it('reads a state stored before the short form (every cell written out) as it was', () => {
    fc.assert(
      fc.property(hubState, (st) => {
        expect(decodeState(JSON.stringify(st))).toEqual(st);
      }),
      { numRuns: 200 },
    );
  });

  it('stores a contact made from one item in well under half the text of its cells written out', () => {
    const fields: Fields = {
      s: { 'name.full': 'Léa Simon', 'name.given': 'Léa', 'name.surname': 'Simon', 'org.name': 'Stark Industries', title: 'Sales' },
      m: {
        emails: {
          'lea@stark.example': { address: 'lea@stark.example', contexts: ['work'] },
          'lea@home.example': { address: 'lea@home.example', contexts: ['private'] },
        },
        phones: { '+33625822162': { number: '+33 6 25 82 21 62', features: ['mobile'] } },
      },
    };
    const st = stateFromFields(fields, { at: 1838881465614336, o: '01a21cfd-2474-7000-9053-73d9a8bf5e76', hv: 1838881466993665 });
    const short = encodeState(st);
    expect(short.length).toBeLessThan(JSON.stringify(st).length / 2);
    expect(decodeState(short)).toEqual(st);
  });

  it('keeps a category and an online address named __proto__ through the merge state and the store', () => {
    // The state keys elements in plain objects, where `cells['__proto__'] = …` sets the prototype.
    const { card } = parseVCard('BEGIN:VCARD\r\nVERSION:4.0\r\nUID:u1\r\nFN:Ann\r\nCATEGORIES:__proto__,Work\r\nIMPP:__proto__\r\nEND:VCARD\r\n');
    const fields = cardToFields(card, { defaultRegion: 'US' });
    const st = cloneState(stateFromFields(fields, { at: 1, o: 'a', hv: 2 }));
    const back = currentFields(decodeState(encodeState(st)));
    expect(Object.values(back.m.keywords ?? {}).map((a) => a.name).sort()).toEqual(['Work', '__proto__']);
    expect(Object.values(back.m.online ?? {}).map((a) => a.uri)).toEqual(['__proto__']);
    expect(fieldsEqual(back, fields)).toBe(true);
  });
});
