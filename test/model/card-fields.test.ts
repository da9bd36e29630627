import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Card } from '../../src/model/card.js';
import {
  cardSummary, cardToFields, fieldsToCard, formatPartialDate, parsePartialDate,
} from '../../src/model/card-fields.js';
import { canonicalFields, compactFields, fieldsEqual, SCALAR_PATHS, SET_PATHS, stableStringify, type Fields } from '../../src/model/fields.js';
import { parseVCard, toVCard } from '../../src/model/vcard.js';
import { cardArb, text } from './arbitraries.js';

const US = { defaultRegion: 'US' };
const base = (parts: Partial<Card>): Card => ({ '@type': 'Card', version: '1.0', uid: 'u1', ...parts });

const ann: Card = base({
  kind: 'individual',
  name: {
    components: [
      { kind: 'title', value: 'Dr.' }, { kind: 'given', value: 'Ann' }, { kind: 'given2', value: 'Marie' },
      { kind: 'given2', value: 'Jo' }, { kind: 'surname', value: 'Lee' }, { kind: 'generation', value: 'Jr.' },
      { kind: 'credential', value: 'PhD' },
    ],
    full: ' Dr. Ann Lee ',
  },
  nicknames: { n1: { name: 'Annie' }, n2: { name: 'A' } },
  organizations: { o1: { name: 'Acme, Inc.', units: [{ name: 'R&D' }, { name: ' Platform ' }] } },
  titles: { t1: { name: 'CTO', kind: 'title' }, t2: { name: 'Founder', kind: 'role' } },
  emails: {
    e1: { address: 'Ann@Example.com', contexts: { work: true }, pref: 1, label: 'Office' },
    e2: { address: 'ann@example.com', contexts: { private: true } }, // same key: merged
    e3: { address: 'not an address' },
    e4: { address: '   ' }, // nothing written: dropped
  },
  phones: {
    p1: { number: '(212) 555-0123', features: { voice: true, mobile: true }, contexts: { work: true } },
    p2: { number: 'n/a' },
  },
  addresses: {
    a1: {
      components: [
        { kind: 'locality', value: 'Springfield' }, { kind: 'name', value: '1 Main St' }, { kind: 'name', value: 'Bldg 4' },
        { kind: 'separator', value: ', ' }, { kind: 'country', value: 'USA' },
      ],
      full: '1 Main St\r\nSpringfield',
      countryCode: 'us',
      contexts: { private: true },
    },
  },
  links: { l1: { uri: 'https://Example.com/~ann' }, l2: { uri: 'not a url' } },
  onlineServices: { s1: { service: 'Skype', user: 'ann.lee' }, s2: { uri: 'xmpp:Ann@Example.org' } },
  notes: { x1: { note: 'First note.  ' }, x2: { note: 'Second\r\nnote' } },
  media: { m0: { kind: 'logo', uri: 'https://example.com/logo.png' }, m1: { kind: 'photo', uri: 'data:image/jpeg;base64,AAAA' } },
  anniversaries: {
    d1: { kind: 'birth', date: { month: 4, day: 12 } },
    d2: { kind: 'wedding', date: { year: 2001, month: 6, day: 30 } },
    d3: { kind: 'death', date: { year: 2090 } },
  },
  keywords: { Friends: true, ' friends ': true, VIP: true },
});

const annFields: Fields = {
  s: {
    'name.full': 'Dr. Ann Lee',
    'name.title': 'Dr.',
    'name.given': 'Ann',
    'name.given2': 'Marie Jo',
    'name.surname': 'Lee',
    'name.credential': 'PhD Jr.',
    nickname: 'Annie',
    'org.name': 'Acme, Inc.',
    'org.unit': 'R&D / Platform',
    title: 'CTO',
    role: 'Founder',
    birthday: '--04-12',
    anniversary: '2001-06-30',
    note: 'First note.\n\nSecond\nnote',
    photo: 'data:image/jpeg;base64,AAAA',
  },
  m: {
    emails: {
      'ann@example.com': { address: 'Ann@Example.com', contexts: ['private', 'work'], pref: 1, label: 'Office' },
      'raw:not an address': { address: 'not an address' },
    },
    phones: {
      '+12125550123': { number: '(212) 555-0123', features: ['mobile', 'voice'], contexts: ['work'] },
      'raw:n/a': { number: 'n/a' },
    },
    addresses: {
      'name=1 main st bldg 4 | locality=springfield | country=usa': {
        name: '1 Main St\nBldg 4', locality: 'Springfield', country: 'USA', full: '1 Main St\nSpringfield',
        countryCode: 'US', contexts: ['private'],
      },
    },
    links: {
      'example.com/~ann': { uri: 'https://Example.com/~ann' },
      'raw:not a url': { uri: 'not a url' },
    },
    online: {
      'skype:ann.lee': { service: 'Skype', user: 'ann.lee' },
      'xmpp:ann@example.org': { uri: 'xmpp:Ann@Example.org' },
    },
    keywords: { friends: { name: 'Friends' }, vip: { name: 'VIP' } },
  },
};

describe('cardToFields', () => {
  it('maps every path (table in the module comment)', () => {
    expect(cardToFields(ann, US)).toEqual(annFields);
  });

  it('treats kind "individual" as the default (absent)', () => {
    expect(cardToFields(base({ kind: 'individual' }), US).s.kind).toBeUndefined();
    expect(cardToFields(base({ kind: 'group' }), US).s.kind).toBe('group');
  });

  it('keys phones with the default region', () => {
    const card = base({ phones: { p: { number: '06 12 34 56 78' } } });
    expect(Object.keys(cardToFields(card, { defaultRegion: 'FR' }).m.phones ?? {})).toEqual(['+33612345678']);
    expect(Object.keys(cardToFields(card, US).m.phones ?? {})).toEqual(['0612345678']);
  });

  it('gives equal Fields for contacts that differ only in formatting', () => {
    const a = base({
      name: { full: 'Ann Lee' },
      emails: { x: { address: 'ANN@example.com ', contexts: { work: true } } },
      keywords: { b: true, a: true },
      notes: { n: { note: 'Hi\r\n' } },
    });
    const b = base({
      name: { full: 'Ann Lee ' },
      emails: { y: { address: 'ANN@example.com', contexts: { work: true } } },
      keywords: { a: true, b: true },
      notes: { n: { note: 'Hi' } },
    });
    expect(stableStringify(cardToFields(a, US))).toBe(stableStringify(cardToFields(b, US)));
  });

  it('picks the first title of kind title (or without a kind) and the first role', () => {
    const f = cardToFields(base({ titles: { a: { name: 'Boss', kind: 'role' }, b: { name: 'Engineer' }, c: { name: 'CTO', kind: 'title' } } }), US);
    expect(f.s.title).toBe('Engineer');
    expect(f.s.role).toBe('Boss');
  });

  it('makes org units canonical so the value round-trips', () => {
    const f = cardToFields(base({ organizations: { o: { units: [{ name: 'A /' }, { name: ' / B' }, { name: '' }, { name: 'C  /  / D' }] } } }), US);
    expect(f.s['org.name']).toBeUndefined();
    expect(f.s['org.unit']).toBe('A / / / B / C / D');
    expect(cardToFields(fieldsToCard(f, 'u'), US)).toEqual(f);
  });
});

describe('fieldsToCard', () => {
  it('rebuilds a Card that projects back to the same Fields', () => {
    const card = fieldsToCard(annFields, 'u1');
    expect(card.uid).toBe('u1');
    expect(card.name?.components).toEqual([
      { kind: 'title', value: 'Dr.' }, { kind: 'given', value: 'Ann' }, { kind: 'given2', value: 'Marie Jo' },
      { kind: 'surname', value: 'Lee' }, { kind: 'credential', value: 'PhD Jr.' },
    ]);
    expect(card.organizations).toEqual({ org: { name: 'Acme, Inc.', units: [{ name: 'R&D' }, { name: 'Platform' }] } });
    expect(card.anniversaries).toEqual({
      birthday: { kind: 'birth', date: { month: 4, day: 12 } },
      anniversary: { kind: 'wedding', date: { year: 2001, month: 6, day: 30 } },
    });
    expect(Object.values(card.emails ?? {})).toEqual([
      { address: 'Ann@Example.com', contexts: { private: true, work: true }, pref: 1, label: 'Office' },
      { address: 'not an address' },
    ]);
    expect(card.keywords).toEqual({ Friends: true, VIP: true });
    expect(cardToFields(card, US)).toEqual(annFields);
  });

  it('is deterministic, with ids derived from element keys', () => {
    const a = fieldsToCard(annFields, 'u1');
    const b = fieldsToCard(JSON.parse(JSON.stringify(annFields)) as Fields, 'u1');
    expect(JSON.stringify(a)).toBe(JSON.stringify(b));
    for (const id of Object.keys(a.emails ?? {})) expect(id).toMatch(/^[A-Za-z0-9_-]{1,255}$/);
    // Adding an element does not change the ids of the others.
    const more: Fields = { s: {}, m: { emails: { ...annFields.m.emails, 'zed@example.com': { address: 'zed@example.com' } } } };
    const c = fieldsToCard(more, 'u1');
    for (const id of Object.keys(a.emails ?? {})) expect(c.emails?.[id]).toEqual(a.emails?.[id]);
  });

  it('drops an unreadable date rather than inventing one', () => {
    expect(fieldsToCard({ s: { birthday: 'soon' }, m: {} }, 'u').anniversaries).toBeUndefined();
  });
});

describe('partial dates', () => {
  it.each([
    [{ year: 1980, month: 1, day: 2 }, '1980-01-02'],
    [{ month: 4, day: 12 }, '--04-12'],
    [{ year: 1980, month: 3 }, '1980-03'],
    [{ year: 1980 }, '1980'],
    [{ month: 11 }, '--11'],
    [{ day: 5 }, '---05'],
    [{ year: 1980, day: 5 }, '1980'],
    [{ year: 1980, month: 13, day: 5 }, '1980'],
    [{}, null],
  ])('format %j → %j', (date, text) => {
    expect(formatPartialDate(date)).toBe(text);
  });

  it.each([
    ['1980-01-02', { year: 1980, month: 1, day: 2 }],
    ['19800102', { year: 1980, month: 1, day: 2 }],
    ['1953-10-15T23:10:00Z', { year: 1953, month: 10, day: 15 }],
    ['--0412', { month: 4, day: 12 }],
    ['--04-12', { month: 4, day: 12 }],
    ['1980-03', { year: 1980, month: 3 }],
    ['1980', { year: 1980 }],
    ['--11', { month: 11 }],
    ['---05', { day: 5 }],
    ['1980-13-01', null],
    ['--00-10', null],
    ['circa 1800', null],
    ['', null],
  ])('parse %j → %j', (text, date) => {
    expect(parsePartialDate(text)).toEqual(date);
  });
});

describe('cardSummary', () => {
  it.each([
    [base({ name: { full: 'Ann Lee' }, emails: { a: { address: 'ann@example.com' } } }), 'Ann Lee <ann@example.com>'],
    [base({ name: { components: [{ kind: 'given', value: 'Ann' }, { kind: 'surname', value: 'Lee' }] } }), 'Ann Lee'],
    [base({ emails: { a: { address: 'x@example.com', pref: 5 }, b: { address: 'ann@example.com', pref: 1 } } }), '<ann@example.com>'],
    [base({ organizations: { o: { name: 'Acme' } }, phones: { p: { number: '+1 212 555 0123' } } }), 'Acme <+1 212 555 0123>'],
    [base({ name: { full: 'Ann\nLee' } }), 'Ann Lee'],
    [base({}), '(no name, uid u1)'],
    [{ ...base({}), uid: '' }, '(empty card)'],
  ])('%#', (card, summary) => {
    expect(cardSummary(card)).toBe(summary);
  });

  it('stays on one short line', () => {
    const s = cardSummary(base({ name: { full: 'x'.repeat(500) } }));
    expect(s.length).toBeLessThanOrEqual(120);
    expect(s).not.toMatch(/\n/);
  });
});

describe('properties', () => {
  it('cardToFields ∘ fieldsToCard is the identity on everything cardToFields produces', () => {
    fc.assert(fc.property(cardArb(), fc.constantFrom('US', 'FR', 'ZZ'), (card, region) => {
      const opts = { defaultRegion: region };
      const f = cardToFields(card, opts);
      const back = cardToFields(fieldsToCard(f, card.uid), opts);
      expect(stableStringify(back)).toBe(stableStringify(f));
      expect(fieldsEqual(back, f)).toBe(true);
    }), { numRuns: 400 });
  });

  it('Fields are flat JSON: no undefined, no empty values, sorted lists', () => {
    fc.assert(fc.property(cardArb(), (card) => {
      const f = cardToFields(card, US);
      expect(JSON.parse(JSON.stringify(f))).toEqual(f);
      for (const v of Object.values(f.s)) expect(v).not.toBe('');
      for (const set of Object.values(f.m)) {
        expect(Object.keys(set ?? {}).length).toBeGreaterThan(0);
        for (const attrs of Object.values(set ?? {})) {
          for (const v of Object.values(attrs)) {
            expect(v).not.toBeUndefined();
            if (Array.isArray(v)) expect([...v].sort()).toEqual(v);
            if (typeof v === 'string') expect(v.includes('\r')).toBe(false);
          }
        }
      }
    }), { numRuns: 200 });
  });

  it('fieldsToCard is deterministic', () => {
    fc.assert(fc.property(cardArb(), (card) => {
      const f = cardToFields(card, US);
      expect(JSON.stringify(fieldsToCard(f, 'u'))).toBe(JSON.stringify(fieldsToCard(JSON.parse(JSON.stringify(f)) as Fields, 'u')));
    }), { numRuns: 100 });
  });
});

describe('canonicalFields', () => {
  // Links store hashFields() of their merge base: the fast serialisation must give the very text
  // of the generic one, or every stored base would look changed after an upgrade.
  const generic = (f: Fields) => stableStringify(compactFields(f));

  it('is the generic sorted JSON of the compacted fields, for fields read from cards', () => {
    fc.assert(
      fc.property(cardArb(), (card) => {
        const f = cardToFields(card, US);
        expect(canonicalFields(f)).toBe(generic(f));
      }),
      { numRuns: 300 },
    );
  });

  it('is the generic sorted JSON for odd fields too: empty values, undefined and list attributes, escapes', () => {
    const attrs = fc.dictionary(
      text(4),
      fc.oneof(text(6), fc.integer(), fc.boolean(), fc.array(text(4), { maxLength: 3 }), fc.constant(undefined)),
      { maxKeys: 4 },
    );
    const fieldsArb = fc.record({
      s: fc.dictionary(fc.constantFrom(...SCALAR_PATHS), fc.oneof(text(8), fc.constant('')), { maxKeys: 6 }),
      m: fc.dictionary(fc.constantFrom(...SET_PATHS), fc.dictionary(text(6), attrs, { maxKeys: 4 }), { maxKeys: 4 }),
    });
    fc.assert(
      fc.property(fieldsArb, (f) => {
        expect(canonicalFields(f as Fields)).toBe(generic(f as Fields));
      }),
      { numRuns: 500 },
    );
  });
});

describe('an element named __proto__', () => {
  // On a plain object `map['__proto__'] = true` sets the prototype and adds nothing: the category
  // was lost when the vCard was read, and again on the way back.
  it('as a category, is read from a vCard, kept in the fields and written back', () => {
    const { card } = parseVCard('BEGIN:VCARD\r\nVERSION:4.0\r\nUID:u1\r\nFN:Ann\r\nCATEGORIES:__proto__,Work\r\nEND:VCARD\r\n');
    expect(Object.keys(card.keywords ?? {}).sort()).toEqual(['Work', '__proto__']);
    const fields = cardToFields(card, US);
    expect(Object.values(fields.m.keywords ?? {}).map((a) => a.name).sort()).toEqual(['Work', '__proto__']);
    const back = fieldsToCard(fields, 'u1');
    expect(Object.keys(back.keywords ?? {}).sort()).toEqual(['Work', '__proto__']);
    expect(toVCard(back, { version: '4.0' })).toMatch(/^CATEGORIES:(__proto__,Work|Work,__proto__)\r$/m);
    expect(fieldsEqual(cardToFields(back, US), fields)).toBe(true);
  });
  it('as an online service address, is kept too', () => {
    const { card } = parseVCard('BEGIN:VCARD\r\nVERSION:4.0\r\nUID:u1\r\nFN:Ann\r\nIMPP:__proto__\r\nEND:VCARD\r\n');
    const fields = cardToFields(card, US);
    expect(Object.values(fields.m.online ?? {}).map((a) => a.uri)).toEqual(['__proto__']);
    expect(toVCard(fieldsToCard(fields, 'u1'), { version: '4.0' })).toMatch(/^IMPP.*:__proto__\r$/m);
  });
});
