import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Card, Contexts } from '../../src/model/card.js';
import { cardToFields, fieldsToCard } from '../../src/model/card-fields.js';
import { ALL_PATHS, isScalarPath, stableStringify, type FieldPath, type Fields } from '../../src/model/fields.js';
import { sampleContact, sampleVcard } from '../../src/demo/sample-contacts.js';
import { parseVCard, parseVCards, splitVCardTexts, toVCard, updateVCard, vcardHolds } from '../../src/model/vcard.js';
import { VCARD_ADR_KINDS, VCARD_CONTEXTS, VCARD_PHONE_FEATURES, cardArb } from './arbitraries.js';

const FIXTURES = new URL('../fixtures/vcards/', import.meta.url);
const fixture = (name: string): string => readFileSync(new URL(name, FIXTURES), 'utf8');
const vcard = (...lines: string[]): string => ['BEGIN:VCARD', ...lines, 'END:VCARD', ''].join('\r\n');
const US = { defaultRegion: 'US' };
const fieldsOf = (text: string, region = 'US'): Fields => cardToFields(parseVCard(text).card, { defaultRegion: region });

/** Logical (unfolded) content lines of a vCard text. */
function logicalLines(text: string): string[] {
  const out: string[] = [];
  for (const l of text.split(/\r\n|\n/)) {
    if (l === '') continue;
    if (l.startsWith(' ') || l.startsWith('\t')) out[out.length - 1] += l.slice(1);
    else out.push(l);
  }
  return out;
}

/** Lines only in a, lines only in b (as multisets). */
function lineDiff(a: string, b: string): { removed: string[]; added: string[] } {
  const la = logicalLines(a);
  const lb = logicalLines(b);
  const removed = la.filter((l) => !lb.includes(l));
  const added = lb.filter((l) => !la.includes(l));
  return { removed, added };
}

describe('parseVCard: framing and escaping', () => {
  it('unfolds lines folded with a space or a tab, also inside a multi-byte word', () => {
    const { card } = parseVCard(vcard('VERSION:3.0', 'FN:Jür', ' gen Mül', '\tler', 'NOTE:abc', ' def'));
    expect(card.name?.full).toBe('Jürgen Müller');
    expect(card.notes).toEqual({ note1: { note: 'abcdef' } });
  });

  it('reads escaped separators (RFC 6350 §3.4) in text, structured and list values', () => {
    const { card } = parseVCard(vcard(
      'VERSION:4.0',
      'FN:Lee\\, Ann',
      'N:Lee\\;Smith;Ann\\, Jr.;;;',
      'NOTE:a\\,b\\;c\\nd\\Ne\\\\f; g, h',
      'ORG:Acme\\, Inc.\\; Ltd;R\\;D',
      'CATEGORIES:a\\,b,c\\;d',
    ));
    expect(card.name?.full).toBe('Lee, Ann');
    expect(card.name?.components).toEqual([{ kind: 'surname', value: 'Lee;Smith' }, { kind: 'given', value: 'Ann, Jr.' }]);
    expect(card.notes?.note1?.note).toBe('a,b;c\nd\ne\\f; g, h');
    expect(card.organizations?.org1).toEqual({ name: 'Acme, Inc.; Ltd', units: [{ name: 'R;D' }] });
    expect(card.keywords).toEqual({ 'a,b': true, 'c;d': true });
  });

  it('accepts LF line endings, a BOM, and VERSION after other properties', () => {
    const r = parseVCard('\ufeffBEGIN:VCARD\nUID:x\nVERSION:4.0\nFN:Ann\nTEL;VALUE=uri:tel:+1-212-555-0123\nEND:VCARD\n');
    expect(r.version).toBe('4.0');
    expect(r.card.uid).toBe('x');
    expect(r.card.phones).toEqual({ p1: { number: '+1-212-555-0123' } });
    expect(r.problems).toEqual([]);
  });

  it('reads non-ASCII text', () => {
    const { card } = parseVCard(vcard('VERSION:3.0', 'FN:山田 太郎 🎉', 'N:العلي;محمد;;;', 'NOTE:Ελένη — “quotes”'));
    expect(card.name?.full).toBe('山田 太郎 🎉');
    expect(card.name?.components).toEqual([{ kind: 'surname', value: 'العلي' }, { kind: 'given', value: 'محمد' }]);
    expect(card.notes?.note1?.note).toBe('Ελένη — “quotes”');
  });

  it('maps Apple grouped labels (item1.X-ABLabel) to the element label', () => {
    const { card } = parseVCard(vcard(
      'VERSION:3.0', 'FN:A',
      'item1.EMAIL;type=INTERNET:a@example.com', 'item1.X-ABLabel:_$!<Work>!$_',
      'ITEM2.TEL:+1 212 555 0123', 'item2.X-ABLabel:Paris office',
      'item3.URL:https://a.example', 'item3.X-ABLabel:blog\\, mostly',
      'item4.ADR:;;1 Main St;Town;;;', 'item4.X-ABADR:us',
      'item5.X-ABRELATEDNAMES:Bob', 'item5.X-ABLabel:_$!<Spouse>!$_',
    ));
    expect(card.emails?.e1).toEqual({ address: 'a@example.com', label: 'Work' });
    expect(card.phones?.p1).toEqual({ number: '+1 212 555 0123', label: 'Paris office' });
    expect(card.links?.l1).toEqual({ uri: 'https://a.example', label: 'blog, mostly' });
    expect(card.addresses?.a1?.countryCode).toBe('US');
  });

  it('reads types, preferences and phone features (RFC 9555 §2.5)', () => {
    const v3 = parseVCard(vcard('VERSION:3.0', 'FN:A', 'EMAIL;TYPE=INTERNET,HOME,pref:a@x.org', 'TEL;TYPE=CELL;TYPE=WORK:+1 212 555 0123', 'TEL;TYPE=MAIN,FAX:+1 212 555 0124')).card;
    expect(v3.emails?.e1).toEqual({ address: 'a@x.org', contexts: { private: true }, pref: 1 });
    expect(v3.phones?.p1).toEqual({ number: '+1 212 555 0123', features: { mobile: true }, contexts: { work: true } });
    expect(v3.phones?.p2?.features).toEqual({ 'main-number': true, fax: true });
    const v4 = parseVCard(vcard('VERSION:4.0', 'FN:A', 'EMAIL;TYPE=work;PREF=3:a@x.org', 'TEL;VALUE=uri;TYPE="voice,home":tel:+1-555-555-5555;ext=5555', 'TEL;VALUE=text:0612345678')).card;
    expect(v4.emails?.e1).toEqual({ address: 'a@x.org', contexts: { work: true }, pref: 3 });
    expect(v4.phones?.p1).toEqual({ number: '+1-555-555-5555;ext=5555', features: { voice: true }, contexts: { private: true } });
    expect(v4.phones?.p2).toEqual({ number: '0612345678' });
  });

  it('reads names with the RFC 9554 secondary surname and generation components', () => {
    const { card } = parseVCard(vcard('VERSION:4.0', 'FN:x', 'N:Stevenson,Smith;John;Philip,Paul;Dr.;Jr.,M.D.;Smith;Jr.'));
    expect(card.name?.components).toEqual([
      { kind: 'surname', value: 'Stevenson' }, { kind: 'given', value: 'John' }, { kind: 'given2', value: 'Philip' },
      { kind: 'given2', value: 'Paul' }, { kind: 'title', value: 'Dr.' }, { kind: 'credential', value: 'M.D.' },
      { kind: 'surname2', value: 'Smith' }, { kind: 'generation', value: 'Jr.' },
    ]);
  });

  it('skips a derived FN and prefers the FN without LANGUAGE (RFC 9555 §2.3.3)', () => {
    expect(parseVCard(vcard('VERSION:4.0', 'FN;DERIVED=TRUE:Jane Doe', 'N:Doe;Jane;;;')).card.name?.full).toBeUndefined();
    expect(parseVCard(vcard('VERSION:4.0', 'FN;LANGUAGE=fr:Jeanne', 'FN:Jane')).card.name?.full).toBe('Jane');
  });

  it('reads kinds from KIND and the Apple 3.0 spellings', () => {
    expect(parseVCard(vcard('VERSION:4.0', 'FN:A', 'KIND:Group')).card.kind).toBe('group');
    expect(parseVCard(vcard('VERSION:3.0', 'FN:A', 'X-ADDRESSBOOKSERVER-KIND:group')).card.kind).toBe('group');
    expect(parseVCard(vcard('VERSION:3.0', 'FN:A', 'X-ABShowAs:COMPANY')).card.kind).toBe('org');
  });

  it('reads dates, Apple omitted years and REV', () => {
    const { card } = parseVCard(vcard(
      'VERSION:3.0', 'FN:A', 'BDAY;X-APPLE-OMIT-YEAR=1604:1604-04-12', 'X-ANNIVERSARY:2001-06-30', 'REV:2024-03-01T12:20:30+02:00',
    ));
    expect(card.anniversaries).toEqual({ d1: { kind: 'birth', date: { month: 4, day: 12 } }, d2: { kind: 'wedding', date: { year: 2001, month: 6, day: 30 } } });
    expect(card.updated).toBe('2024-03-01T10:20:30Z');
    const v4 = parseVCard(vcard('VERSION:4.0', 'FN:A', 'BDAY:--0412', 'ANNIVERSARY:19860201', 'REV:19951031T222710Z')).card;
    expect(Object.values(v4.anniversaries ?? {}).map((a) => a.date)).toEqual([{ month: 4, day: 12 }, { year: 1986, month: 2, day: 1 }]);
    expect(v4.updated).toBe('1995-10-31T22:27:10Z');
  });

  it('reads photos as URIs: 3.0 inline base64 becomes a data: URI', () => {
    const p3 = parseVCard(vcard('VERSION:3.0', 'FN:A', 'PHOTO;ENCODING=b;TYPE=JPEG:/9j/4AAQ', ' SkZJRg==')).card;
    expect(p3.media?.m1).toEqual({ kind: 'photo', uri: 'data:image/jpeg;base64,/9j/4AAQSkZJRg==' });
    const sniffed = parseVCard(vcard('VERSION:3.0', 'FN:A', 'PHOTO;ENCODING=BASE64:iVBORw0KGgoAAAANSUhEUg==')).card;
    expect(sniffed.media?.m1?.uri).toBe('data:image/png;base64,iVBORw0KGgoAAAANSUhEUg==');
    const link3 = parseVCard(vcard('VERSION:3.0', 'FN:A', 'PHOTO;VALUE=uri:https://example.com/a.jpg')).card;
    expect(link3.media?.m1?.uri).toBe('https://example.com/a.jpg');
    const p4 = parseVCard(vcard('VERSION:4.0', 'FN:A', 'PHOTO:data:image/png;base64,iVBORw0KGgo=')).card;
    expect(p4.media?.m1?.uri).toBe('data:image/png;base64,iVBORw0KGgo=');
    const escaped = parseVCard(vcard('VERSION:4.0', 'FN:A', 'PHOTO:data:image/png;base64\\,iVBORw0KGgo=')).card;
    expect(escaped.media?.m1?.uri).toBe('data:image/png;base64,iVBORw0KGgo=');
    const typed = parseVCard(vcard('VERSION:4.0', 'FN:A', 'PHOTO;MEDIATYPE=image/gif:https://example.com/a')).card;
    expect(typed.media?.m1).toEqual({ kind: 'photo', uri: 'https://example.com/a', mediaType: 'image/gif' });
  });

  it('reads addresses with LABEL and CC parameters (RFC 9555 §2.4.1)', () => {
    const { card } = parseVCard(vcard('VERSION:4.0', 'FN:A', 'ADR;TYPE=work;PREF=1;LABEL="54321 Oak St\\nReston";CC=US:;;54321 Oak St;Reston;VA;20190;USA'));
    expect(card.addresses?.a1).toEqual({
      components: [
        { kind: 'name', value: '54321 Oak St' }, { kind: 'locality', value: 'Reston' }, { kind: 'region', value: 'VA' },
        { kind: 'postcode', value: '20190' }, { kind: 'country', value: 'USA' },
      ],
      full: '54321 Oak St\nReston', countryCode: 'US', contexts: { work: true }, pref: 1,
    });
  });

  it('reads IMPP with service and user parameters', () => {
    const { card } = parseVCard(vcard(
      'VERSION:4.0', 'FN:A', 'IMPP;PREF=1:xmpp:alice@example.com', 'IMPP;SERVICE-TYPE=Skype;USERNAME=alice:skype:alice',
    ));
    expect(card.onlineServices).toEqual({
      o1: { uri: 'xmpp:alice@example.com', pref: 1 },
      o2: { service: 'Skype', user: 'alice' }, // the URI is the one we would synthesise: not kept twice
    });
    const apple = parseVCard(vcard('VERSION:3.0', 'FN:A', 'IMPP;X-SERVICE-TYPE=Jabber;type=HOME:xmpp:bob@example.org')).card;
    expect(apple.onlineServices?.o1).toEqual({ service: 'Jabber', uri: 'xmpp:bob@example.org', contexts: { private: true } });
  });
});

describe('parseVCard: vCard 2.1', () => {
  it('decodes QUOTED-PRINTABLE with soft line breaks and CHARSET (UTF-8, ISO-8859-1)', () => {
    const r = parseVCard(vcard(
      'VERSION:2.1',
      'N;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:M=C3=BCller;J=C3=BCrgen;;;',
      'FN;CHARSET=ISO-8859-1;ENCODING=QUOTED-PRINTABLE:J=FCrgen M=FCller',
      'NOTE;QUOTED-PRINTABLE;CHARSET=UTF-8:Line one=0D=0ALine two, with comma; and semi=',
      '=0D=0Athird =E2=82=AC and=',
      ' a space',
    ));
    expect(r.version).toBe('2.1');
    expect(r.problems).toEqual([]);
    expect(r.card.name).toEqual({ components: [{ kind: 'surname', value: 'Müller' }, { kind: 'given', value: 'Jürgen' }], full: 'Jürgen Müller' });
    expect(r.card.notes?.note1?.note).toBe('Line one\nLine two, with comma; and semi\nthird € and a space');
  });

  it('turns bare type parameters into TYPE and reads base64 photos ending with a blank line', () => {
    const { card } = parseVCard(vcard(
      'VERSION:2.1', 'FN:A', 'TEL;CELL;HOME:+49 170 1234567', 'TEL;WORK;VOICE;PREF:030 1234567', 'EMAIL;INTERNET:a@b.de',
      'PHOTO;ENCODING=BASE64;TYPE=JPEG:', ' /9j/4AAQSkZJRgABAQ', ' AAAQABAAD', '',
      'URL;VALUE=URL:http://example.com/a,b',
    ));
    expect(card.phones?.p1).toEqual({ number: '+49 170 1234567', features: { mobile: true }, contexts: { private: true } });
    expect(card.phones?.p2).toEqual({ number: '030 1234567', features: { voice: true }, contexts: { work: true }, pref: 1 });
    expect(card.emails?.e1).toEqual({ address: 'a@b.de' });
    expect(card.media?.m1?.uri).toBe('data:image/jpeg;base64,/9j/4AAQSkZJRgABAQAAAQABAAD');
    expect(card.links?.l1?.uri).toBe('http://example.com/a,b');
  });

  it('keeps 2.1 literal commas and backslashes, and `\\;` inside compound values', () => {
    const { card } = parseVCard(vcard('VERSION:2.1', 'N:Doe\\;Smith;John, Jr.', 'FN:John Doe, Jr.', 'NOTE:C:\\temp\\new, ok'));
    expect(card.name?.components).toEqual([{ kind: 'surname', value: 'Doe;Smith' }, { kind: 'given', value: 'John, Jr.' }]);
    expect(card.name?.full).toBe('John Doe, Jr.');
    expect(card.notes?.note1?.note).toBe('C:\\temp\\new, ok');
  });

  it('reports an unknown charset and invalid UTF-8', () => {
    const r = parseVCard(vcard('VERSION:2.1', 'FN;CHARSET=X-NOPE;ENCODING=QUOTED-PRINTABLE:A=FCB', 'NOTE;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:=FC'));
    // Bytes that are not UTF-8 are read as windows-1252, the usual charset of unlabelled 2.1 files.
    expect(r.card.name?.full).toBe('AüB');
    expect(r.card.notes?.note1?.note).toBe('ü');
    expect(r.problems).toEqual([
      { field: 'FN', message: 'unknown CHARSET "X-NOPE" and not UTF-8, read as windows-1252' },
      { field: 'NOTE', message: 'value is not valid UTF-8, read as windows-1252' },
    ]);
  });

  it('decodes stray QUOTED-PRINTABLE in a 3.0 card', () => {
    const r = parseVCard(vcard('VERSION:3.0', 'FN;ENCODING=QUOTED-PRINTABLE;CHARSET=UTF-8:Zo=C3=AB', 'NOTE:a\\, b'));
    expect(r.version).toBe('3.0');
    expect(r.card.name?.full).toBe('Zoë');
    expect(r.card.notes?.note1?.note).toBe('a, b');
  });
});

describe('parseVCard: problems and errors', () => {
  it('reports bad values by property and still returns the card', () => {
    const r = parseVCard(vcard(
      'VERSION:3.0', 'FN:Ann', 'BDAY:not a date', 'REV:garbage', 'KIND:robot', 'EMAIL:ann(at)example.com',
      'EMAIL:ann@example.com', 'TEL:n/a', 'THIS LINE IS BROKEN', 'ADR;TYPE="home:;;x;;;;',
    ), US);
    expect(r.card.name?.full).toBe('Ann');
    expect(Object.values(r.card.emails ?? {}).map((e) => e.address)).toEqual(['ann(at)example.com', 'ann@example.com']);
    expect(r.card.phones?.p1?.number).toBe('n/a');
    expect(r.problems.map((p) => p.field).sort()).toEqual(['ADR', 'BDAY', 'EMAIL', 'KIND', 'REV', 'TEL', 'THIS LINE IS BROKEN']);
    expect(r.problems.find((p) => p.field === 'BDAY')?.message).toContain('not a date');
  });

  it('reports numbers that are not phone numbers for the region only when asked', () => {
    const text = vcard('VERSION:3.0', 'FN:A', 'TEL:12', 'TEL:+33 6 12 34 56 78');
    expect(parseVCard(text).problems).toEqual([]);
    expect(parseVCard(text, { defaultRegion: 'FR' }).problems.map((p) => p.field)).toEqual(['TEL']);
  });

  it('names the region in a phone problem only when the number has no country code', () => {
    const text = vcard('VERSION:3.0', 'FN:A', 'TEL:12', 'TEL:+33 831 1207339');
    expect(parseVCard(text, { defaultRegion: 'US' }).problems.map((p) => p.message)).toEqual([
      '"12" is not a valid phone number for region US (kept as written)',
      '"+33 831 1207339" is not a valid phone number (kept as written)',
    ]);
  });

  it('reports a missing VERSION and a missing END', () => {
    const r = parseVCard('BEGIN:VCARD\r\nFN:Ann\r\n');
    expect(r.card.name?.full).toBe('Ann');
    expect(r.version).toBe('3.0');
    expect(r.problems.map((p) => p.field).sort()).toEqual(['VCARD', 'VERSION']);
  });

  it.each([
    ['', /no BEGIN:VCARD.*empty text/],
    ['hello world', /no BEGIN:VCARD.*hello world/],
    ['BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n', /not a vCard/],
  ])('throws on text that is not a vCard: %j', (text, message) => {
    expect(() => parseVCard(text)).toThrow(message);
    expect(() => parseVCards(text)).toThrow(message);
  });

  it('reads every card of a multi-card text, each with its own version', () => {
    const text = [vcard('VERSION:3.0', 'FN:A', 'TEL:+1 212 555 0123'), vcard('VERSION:4.0', 'FN:B', 'TEL;VALUE=uri:tel:+1-212-555-0124')].join('');
    const all = parseVCards(text);
    expect(all.map((r) => [r.version, r.card.name?.full])).toEqual([['3.0', 'A'], ['4.0', 'B']]);
    expect(all[1]?.card.phones?.p1?.number).toBe('+1-212-555-0124');
    const first = parseVCard(text);
    expect(first.card.name?.full).toBe('A');
    expect(first.problems).toEqual([{ field: 'VCARD', message: 'the text holds 2 vCards; only the first was read' }]);
  });
});

describe('splitVCardTexts', () => {
  it('gives each card of an export as written: folding, unknown properties, a nested AGENT card and line breaks kept', () => {
    const one = 'BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ann\r\nNOTE:a long note folded\r\n  over two lines\r\nX-CUSTOM;TYPE=odd:kept\r\nEND:VCARD\r\n';
    const agent = 'BEGIN:VCARD\r\nVERSION:2.1\r\nFN:Boss\r\nAGENT:\r\nBEGIN:VCARD\r\nVERSION:2.1\r\nFN:Assistant\r\nEND:VCARD\r\nEND:VCARD\r\n';
    const three = 'BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Cy\r\nEND:VCARD\r\n';
    const texts = splitVCardTexts(`\uFEFF${one}\r\n${agent}${three}\r\n\r\n`);
    expect(texts).toEqual([one, agent, three]);
    expect(texts.map((t) => parseVCard(t).card.name?.full)).toEqual(['Ann', 'Boss', 'Cy']);
    expect(splitVCardTexts('BEGIN:VCARD\nFN:Dee\nEND:VCARD')).toEqual(['BEGIN:VCARD\nFN:Dee\nEND:VCARD\n']);
    expect(splitVCardTexts('no card here')).toEqual([]);
  });
});

describe('fixtures', () => {
  it('apple-3.0.vcf', () => {
    const r = parseVCard(fixture('apple-3.0.vcf'));
    expect(r.problems).toEqual([]);
    const f = cardToFields(r.card, US);
    expect(f.s).toMatchObject({
      'name.full': 'Dr. Ann Marie Lee PhD', 'name.credential': 'PhD', 'org.name': 'Acme, Inc.', birthday: '--04-12',
      note: 'Met at the 2019 conference; follow up re: budget, Q3.\nSecond line with a fold in the middle of a word.',
    });
    expect(f.m.emails?.['ann@example.com']).toEqual({ address: 'ann@example.com', pref: 1, label: 'Other' });
    expect(f.m.phones?.['+33612345678']).toEqual({ number: '+33 6 12 34 56 78', label: 'Paris office' });
    expect(f.m.links?.['ann.example.com']).toEqual({ uri: 'https://ann.example.com', pref: 1, label: 'HomePage' });
    expect(f.m.online?.['skype:ann.lee']).toEqual({ service: 'Skype', uri: 'skype:ann.lee', contexts: ['private'], pref: 1 });
    expect(r.card.updated).toBe('2024-03-01T10:20:30Z');
  });

  it('nextcloud-4.0.vcf', () => {
    const r = parseVCard(fixture('nextcloud-4.0.vcf'));
    expect(r.problems).toEqual([]);
    const f = cardToFields(r.card, { defaultRegion: 'DE' });
    expect(Object.keys(f.m.emails ?? {})).toEqual(['juergen.mueller@beispiel.example', 'jürgen@xn--bcher-kva.example']);
    expect(Object.keys(f.m.phones ?? {})).toEqual(['+491701234567', '+49301234567']);
    expect(Object.values(f.m.addresses ?? {})[0]).toMatchObject({ full: 'Hauptstraße 5\n10115 Berlin\nDeutschland', countryCode: 'DE' });
    expect(f.s.note).toBe('Ein Hinweis mit Umlauten: äöü, Komma und Semikolon; Ende. 🎉 日本語のテキストがここで折り返されます');
  });

  it('outlook-2.1.vcf (ISO-8859-1 quoted-printable)', () => {
    const r = parseVCard(fixture('outlook-2.1.vcf'));
    expect(r.version).toBe('2.1');
    expect(r.problems).toEqual([]);
    expect(r.card.name?.full).toBe('Jürgen Müller');
    expect(r.card.notes?.note1?.note).toBe('Grüße aus Berlin, bis bald; Ende.\nC:\\Pfad');
    expect(r.card.addresses?.a1?.components?.[0]).toEqual({ kind: 'name', value: 'Hauptstraße 5' });
  });

  it('android-2.1.vcf (UTF-8 quoted-printable, base64 photo)', () => {
    const r = parseVCard(fixture('android-2.1.vcf'));
    expect(r.problems).toEqual([]);
    const f = cardToFields(r.card, { defaultRegion: 'JP' });
    expect(f.s['name.full']).toBe('山田 太郎');
    expect(f.s.note).toBe('メモ: emoji 🎉 and a long line that the exporter soft-wraps, with commas, and semicolons; done');
    expect(Object.keys(f.m.phones ?? {})).toEqual(['+819012345678', '+81312345678']);
    expect(f.s.photo?.startsWith('data:image/jpeg;base64,/9j/4AAQ')).toBe(true);
  });
});

describe('toVCard', () => {
  const card: Card = {
    '@type': 'Card', version: '1.0', uid: 'urn:uuid:1',
    kind: 'org',
    name: { components: [{ kind: 'given', value: 'Ann' }, { kind: 'surname', value: 'Lee' }, { kind: 'surname2', value: 'Smith' }] },
    organizations: { o: { name: 'Acme; Inc.', units: [{ name: 'R&D' }] } },
    emails: { e: { address: 'ann@example.com', contexts: { work: true }, pref: 1, label: 'Home' }, f: { address: 'x@example.com', pref: 2 } },
    phones: { p: { number: '+1-212-555-0123', features: { mobile: true } }, q: { number: '(212) 555 0124', contexts: { private: true } } },
    addresses: { a: { components: [{ kind: 'name', value: '1 Main St' }, { kind: 'locality', value: 'Town' }], full: 'Line 1\nLine 2', countryCode: 'US' } },
    onlineServices: { s: { service: 'Skype', user: 'ann' } },
    notes: { n: { note: 'a;b,c\nd' } },
    media: { m: { kind: 'photo', uri: 'data:image/jpeg;base64,/9j/4AAQ' } },
    anniversaries: { b: { kind: 'birth', date: { year: 1980, month: 1, day: 2 } }, w: { kind: 'wedding', date: { month: 6, day: 30 } } },
    keywords: { 'a,b': true },
    updated: '2024-03-01T10:20:30Z',
  };

  it('writes vCard 4.0 (RFC 9555 §3)', () => {
    expect(toVCard(card, { version: '4.0' }).split('\r\n')).toEqual([
      'BEGIN:VCARD',
      'VERSION:4.0',
      'PRODID:-//Hubsync//Hubsync//EN',
      'UID:urn:uuid:1',
      'KIND:org',
      'FN;DERIVED=TRUE:Ann Lee Smith',
      'N:Lee,Smith;Ann;;;;Smith;',
      'ORG:Acme\\; Inc.;R&D',
      'BDAY:19800102',
      'ANNIVERSARY:--0630',
      'ITEM1.EMAIL;TYPE=work;PREF=1:ann@example.com',
      'ITEM1.X-ABLABEL:_$!<Home>!$_',
      'EMAIL;PREF=2:x@example.com',
      'TEL;TYPE=cell;VALUE=URI:tel:+1-212-555-0123',
      'TEL;TYPE=home:(212) 555 0124',
      'ADR;LABEL=Line 1\\nLine 2;CC=US:;;1 Main St;Town;;;',
      'IMPP;SERVICE-TYPE=Skype;USERNAME=ann:skype:ann',
      'CATEGORIES:a\\,b',
      'NOTE:a;b\\,c\\nd',
      'PHOTO:data:image/jpeg;base64,/9j/4AAQ',
      'REV:20240301T102030Z',
      'END:VCARD',
      '',
    ]);
  });

  it('writes vCard 3.0 (RFC 2426 conventions)', () => {
    expect(toVCard(card, { version: '3.0' }).split('\r\n')).toEqual([
      'BEGIN:VCARD',
      'VERSION:3.0',
      'PRODID:-//Hubsync//Hubsync//EN',
      'UID:urn:uuid:1',
      'X-ABSHOWAS:COMPANY',
      'FN;DERIVED=TRUE:Ann Lee Smith',
      'N:Lee;Ann;;;', // no secondary surname in 3.0
      'ORG:Acme\\; Inc.;R&D',
      'BDAY:1980-01-02',
      'X-ANNIVERSARY:--06-30',
      'ITEM1.EMAIL;TYPE=INTERNET,WORK,PREF:ann@example.com',
      'ITEM1.X-ABLABEL:_$!<Home>!$_',
      'EMAIL;TYPE=INTERNET;PREF=2:x@example.com',
      'TEL;TYPE=CELL:+1-212-555-0123',
      'TEL;TYPE=HOME:(212) 555 0124',
      'ADR;LABEL=Line 1\\nLine 2;CC=US:;;1 Main St;Town;;;',
      'IMPP;X-SERVICE-TYPE=Skype;USERNAME=ann:skype:ann',
      'CATEGORIES:a\\,b',
      'NOTE:a\\;b\\,c\\nd',
      'PHOTO;ENCODING=b;TYPE=JPEG:/9j/4AAQ',
      'REV:2024-03-01T10:20:30Z',
      'END:VCARD',
      '',
    ]);
  });

  it('always writes N in 3.0 and only when there is a name in 4.0', () => {
    const bare: Card = { '@type': 'Card', version: '1.0', uid: '', emails: { e: { address: 'a@b.c' } } };
    expect(toVCard(bare, { version: '3.0' })).toContain('\r\nN:;;;;\r\n');
    expect(toVCard(bare, { version: '4.0' })).not.toContain('\r\nN:');
    expect(toVCard(bare, { version: '4.0' })).toContain('\r\nFN;DERIVED=TRUE:a@b.c\r\n');
    expect(toVCard(bare, { version: '4.0' })).not.toContain('UID');
  });

  it('folds at 75 octets without splitting UTF-8 sequences', () => {
    const long: Card = { '@type': 'Card', version: '1.0', uid: 'u', name: { full: 'x' }, notes: { n: { note: 'Grüße 日本語 🎉 '.repeat(30) } } };
    const text = toVCard(long, { version: '4.0' });
    for (const line of text.split('\r\n')) expect(Buffer.byteLength(line, 'utf8')).toBeLessThanOrEqual(76);
    expect(parseVCard(text).card.notes?.n1 ?? parseVCard(text).card.notes?.note1).toEqual({ note: 'Grüße 日本語 🎉 '.repeat(30).trim() });
  });

  it('writes a non-base64 data: photo as base64 in 3.0, and a linked photo as VALUE=uri', () => {
    const svg: Card = { '@type': 'Card', version: '1.0', uid: 'u', media: { m: { kind: 'photo', uri: 'data:image/svg+xml,%3Csvg%2F%3E' } } };
    expect(toVCard(svg, { version: '3.0' })).toContain('PHOTO;ENCODING=b;TYPE=SVG+XML:PHN2Zy8+');
    const link: Card = { '@type': 'Card', version: '1.0', uid: 'u', media: { m: { kind: 'photo', uri: 'https://example.com/a.jpg' } } };
    expect(toVCard(link, { version: '3.0' })).toContain('PHOTO;VALUE=URI:https://example.com/a.jpg');
  });
});

describe('vCard round trips (properties)', () => {
  const roundTrip = (version: '3.0' | '4.0') => (card: Card, region: string): void => {
    const opts = { defaultRegion: region };
    const f = cardToFields(card, opts);
    const text = toVCard(fieldsToCard(f, card.uid), { version });
    const parsed = parseVCard(text);
    expect(parsed.problems.filter((p) => p.field !== 'EMAIL' && p.field !== 'TEL')).toEqual([]);
    // vCard 3.0 has no place for a secondary surname: everything else comes back.
    const want: Fields = version === '3.0' ? { s: { ...f.s, 'name.surname2': undefined }, m: f.m } : f;
    expect(stableStringify(cardToFields(parsed.card, opts))).toBe(stableStringify(want));
  };

  it('4.0: Fields → Card → vCard → Card → Fields is the identity', () => {
    fc.assert(fc.property(cardArb({ vcardSafe: true, noSurname2: false }), fc.constantFrom('US', 'DE'), roundTrip('4.0')), { numRuns: 300 });
  });

  it('3.0: Fields → Card → vCard → Card → Fields is the identity but for name.surname2', () => {
    fc.assert(fc.property(cardArb({ vcardSafe: true, noSurname2: false }), fc.constantFrom('US', 'DE'), roundTrip('3.0')), { numRuns: 300 });
  });
});

describe('vcardHolds', () => {
  /** Drops or mends, element by element, what `vcardHolds` refuses outright; everything else stays as generated. */
  const stripRefused = (c: Card): Card => {
    const common = <T extends { contexts?: Contexts; pref?: number }>(el: T): T => {
      const out = { ...el };
      if (out.contexts) out.contexts = Object.fromEntries(Object.entries(out.contexts).filter(([k]) => VCARD_CONTEXTS.includes(k)));
      if (out.pref !== undefined && !(Number.isInteger(out.pref) && out.pref >= 1 && out.pref <= 100)) delete out.pref;
      return out;
    };
    const map = <T>(rec: Record<string, T> | undefined, f: (x: T) => T): Record<string, T> | undefined =>
      rec && Object.fromEntries(Object.entries(rec).map(([k, v]) => [k, f(v)]));
    const out: Card = { ...c };
    delete out.onlineServices;
    delete out.media;
    if (out.name?.components) out.name = { ...out.name, components: out.name.components.filter((x) => ['title', 'given', 'given2', 'surname', 'credential'].includes(x.kind)) };
    const emails = map(out.emails, common);
    if (emails) out.emails = emails;
    const phones = map(out.phones, (ph) => {
      const p = common({ ...ph, number: `+1${ph.number.replace(/[^0-9 ()./-]/g, '')}` });
      if (p.features) p.features = Object.fromEntries(Object.entries(p.features).filter(([k]) => VCARD_PHONE_FEATURES.includes(k)));
      return p;
    });
    if (phones) out.phones = phones;
    const addresses = map(out.addresses, (a) => {
      const seen = new Set<string>();
      const x = common({ ...a, components: (a.components ?? []).filter((k) => VCARD_ADR_KINDS.includes(k.kind) && !seen.has(k.kind) && seen.add(k.kind)) });
      const cc = x.countryCode?.trim().toUpperCase();
      if (cc !== undefined && /^[A-Z]{2}$/.test(cc)) x.countryCode = cc;
      else delete x.countryCode;
      return x;
    });
    if (addresses) out.addresses = addresses;
    const links = map(out.links, (l) => {
      const x = common({ ...l, uri: l.uri.replace(/\s/g, '') });
      delete x.kind;
      return x;
    });
    if (links) out.links = links;
    if (out.anniversaries) out.anniversaries = Object.fromEntries(Object.entries(out.anniversaries).filter(([, a]) => a.kind === 'birth' || a.kind === 'wedding'));
    return out;
  };

  /** What a writer that trusts `vcardHolds` takes as the merge base, against what parsing its output gives. */
  const readBack = (f: Fields, version: '3.0' | '4.0', region: string): Fields =>
    cardToFields(parseVCard(toVCard(fieldsToCard(f, 'uid-1'), { version })).card, { defaultRegion: region });

  /** A hub contact after merges: each scalar from one side, each set element from one side. */
  const mixed = (a: Fields, b: Fields, pick: (n: number) => boolean): Fields => {
    const out: Fields = { s: {}, m: {} };
    let n = 0;
    for (const p of new Set([...Object.keys(a.s), ...Object.keys(b.s)]) as Set<keyof Fields['s']>) {
      const v = pick(n++) ? (a.s[p] ?? b.s[p]) : (b.s[p] ?? a.s[p]);
      if (v !== undefined) out.s[p] = v;
    }
    for (const p of new Set([...Object.keys(a.m), ...Object.keys(b.m)]) as Set<keyof Fields['m']>) {
      const set: Record<string, Record<string, unknown>> = {};
      for (const [k, attrs] of Object.entries({ ...(b.m[p] ?? {}), ...(a.m[p] ?? {}) })) {
        const fromA = a.m[p]?.[k];
        const fromB = b.m[p]?.[k];
        const chosen = pick(n++) ? (fromA ?? fromB) : (fromB ?? fromA);
        set[k] = chosen ?? attrs;
      }
      (out.m as Record<string, unknown>)[p] = set;
    }
    return out;
  };

  it('property: whatever it accepts reads back as the same fields, in any region (merged contacts too)', () => {
    let accepted = 0;
    // Cards near the edge of what it accepts: arbitrary ones (nasty text, odd contexts, kinds,
    // preferences, labels, dates…) mostly stripped of what it refuses outright, so that the
    // property is checked on many cards rather than on the few that pass by chance.
    const nearEdge = fc.tuple(fc.oneof(cardArb({ vcardSafe: true, noSurname2: false }), cardArb({ vcardSafe: false, noSurname2: false })), fc.nat(3))
      .map(([c, keep]) => (keep === 0 ? c : stripRefused(c)));
    fc.assert(
      fc.property(
        nearEdge, nearEdge, fc.func(fc.boolean()), fc.constantFrom('US', 'FR', 'DE', 'ZZ'), fc.constantFrom('US', 'FR', 'DE', 'ZZ'), fc.constantFrom<'3.0' | '4.0'>('3.0', '4.0'),
        (c1, c2, pick, from, to, version) => {
          const f = mixed(cardToFields(c1, { defaultRegion: from }), cardToFields(c2, { defaultRegion: from }), pick);
          if (!vcardHolds(fieldsToCard(f, 'uid-1'))) return;
          accepted += 1;
          expect(stableStringify(readBack(f, version, to))).toBe(stableStringify(f));
        },
      ),
      { numRuns: 3000 },
    );
    // Not vacuous: the property was checked on a good share of the cases.
    expect(accepted).toBeGreaterThan(600);
  });

  it('accepts everyday contacts, which read back whole', () => {
    for (let i = 0; i < 500; i++) {
      const f = fieldsOf(sampleVcard(sampleContact(42, i)), 'FR');
      expect(vcardHolds(fieldsToCard(f, 'u')), `sample contact ${i}`).toBe(true);
      for (const version of ['3.0', '4.0'] as const) expect(stableStringify(readBack(f, version, 'US'))).toBe(stableStringify(f));
    }
  });

  it.each([
    ['a national phone number (its key depends on the region)', { phones: { p: { number: '06 12 34 56 78' } } }],
    ['an online service', { onlineServices: { o: { user: 'ann', service: 'Skype' } } }],
    ['a photo', { media: { m: { kind: 'photo', uri: 'https://example.com/a.jpg' } } }],
    ['a secondary surname', { name: { components: [{ kind: 'surname2', value: 'García' }] } }],
    ['a context vCard has no TYPE for', { emails: { e: { address: 'a@b.example', contexts: { school: true } } } }],
    ['an address kind vCard folds into the street', { addresses: { a: { components: [{ kind: 'number', value: '12' }] } } }],
    ['a label spelled like an Apple built-in', { emails: { e: { address: 'a@b.example', label: '_$!<Home>!$_' } } }],
  ] as const)('refuses %s', (_what, parts) => {
    const card = { '@type': 'Card', version: '1.0', uid: 'u', ...parts } as Card;
    expect(vcardHolds(card)).toBe(false);
  });
});

describe('updateVCard', () => {
  const apple = fixture('apple-3.0.vcf');

  it.each(['apple-3.0.vcf', 'nextcloud-4.0.vcf', 'generated-3.0.vcf', 'generated-4.0.vcf', 'generated-photo.vcf'])(
    'leaves %s byte-identical when nothing differs',
    (name) => {
      const text = fixture(name);
      const { card } = parseVCard(text);
      expect(updateVCard(text, card, 'all')).toBe(text);
      expect(updateVCard(text, card, [])).toBe(text);
      const viaFields = fieldsToCard(cardToFields(card, US), card.uid);
      expect(updateVCard(text, viaFields, 'all', US)).toBe(text);
    },
  );

  it('an e-mail edit changes only that EMAIL line and its label; unknown properties survive', () => {
    const f = fieldsOf(apple);
    const emails = { ...f.m.emails };
    delete emails['ann@example.com'];
    emails['ann@new.example'] = { address: 'ann@new.example', label: 'Other' };
    const target = fieldsToCard({ ...f, m: { ...f.m, emails } }, 'ignored-uid');
    const out = updateVCard(apple, target, ['emails'], US);
    const { removed, added } = lineDiff(apple, out);
    expect(removed).toEqual(['item1.EMAIL;type=INTERNET;type=pref:ann@example.com', 'item1.X-ABLabel:_$!<Other>!$_']);
    expect(added).toEqual(['ITEM7.EMAIL;TYPE=INTERNET:ann@new.example', 'ITEM7.X-ABLABEL:_$!<Other>!$_']);
    for (const keep of ['X-CUSTOM;X-PARAM=keep:custom value\\, kept', 'X-SOCIALPROFILE;type=twitter:https://twitter.com/annlee', 'GENDER:F',
      'IMPP;X-SERVICE-TYPE=Skype;type=HOME;type=pref:skype:ann.lee', 'item6.X-ABRELATEDNAMES;type=pref:Bob Lee', 'item6.X-ABLabel:_$!<Spouse>!$_',
      'UID:6B29FC40-CA47-1067-B31D-00DD010662DA', 'REV:2024-03-01T10:20:30Z']) {
      expect(logicalLines(out)).toContain(keep);
    }
    // The new line goes where the replaced one was, and untouched folded lines keep their folding.
    expect(out.indexOf('ITEM7.EMAIL')).toBeLessThan(out.indexOf('EMAIL;type=INTERNET;type=WORK'));
    expect(out).toContain('NOTE:Met at the 2019 conference\\; follow up re: budget\\, Q3.\\nSecond line w\r\n ith a fold');
    expect(fieldsOf(out).m.emails).toEqual(emails);
  });

  it('writes only the paths it is told about', () => {
    const f = fieldsOf(apple);
    const target = fieldsToCard({ s: { ...f.s, note: 'New note', title: 'CEO' }, m: f.m }, 'u');
    const out = updateVCard(apple, target, ['note'], US);
    const { removed, added } = lineDiff(apple, out);
    expect(removed).toEqual(['NOTE:Met at the 2019 conference\\; follow up re: budget\\, Q3.\\nSecond line with a fold in the middle of a word.']);
    expect(added).toEqual(['NOTE:New note']);
  });

  it('sets REV from card.updated when it rewrites something, and only then', () => {
    const { card } = parseVCard(apple);
    const same = { ...card, updated: '2025-01-02T03:04:05Z' };
    expect(updateVCard(apple, same, 'all')).toBe(apple);
    const changed = { ...same, titles: { t: { name: 'CEO', kind: 'title' as const } } };
    const out = updateVCard(apple, changed, ['title']);
    expect(lineDiff(apple, out)).toEqual({
      removed: ['TITLE:CTO', 'REV:2024-03-01T10:20:30Z'],
      added: ['TITLE:CEO', 'REV:2024-03-01T10:20:30Z'.replace('2024-03-01T10:20:30Z', '2025-01-02T03:04:05Z')],
    });
  });

  it('removes a deleted element with its Apple label and keeps the other elements as written', () => {
    const f = fieldsOf(apple);
    const phones = { ...f.m.phones };
    delete phones['+33612345678'];
    const out = updateVCard(apple, fieldsToCard({ ...f, m: { ...f.m, phones } }, 'u'), ['phones'], US);
    expect(lineDiff(apple, out)).toEqual({ removed: ['item2.TEL:+33 6 12 34 56 78', 'item2.X-ABLabel:Paris office'], added: [] });
  });

  it('regenerates a derived FN when the name changes, and keeps a chosen one', () => {
    const text = vcard('VERSION:4.0', 'UID:1', 'FN;DERIVED=TRUE:Ann Lee', 'N:Lee;Ann;;;', 'X-KEEP:1');
    const f = fieldsOf(text);
    const out = updateVCard(text, fieldsToCard({ ...f, s: { ...f.s, 'name.surname': 'Smith' } }, '1'), ['name.surname']);
    expect(lineDiff(text, out)).toEqual({ removed: ['FN;DERIVED=TRUE:Ann Lee', 'N:Lee;Ann;;;'], added: ['FN;DERIVED=TRUE:Ann Smith', 'N:Smith;Ann;;;'] });
    const chosen = vcard('VERSION:4.0', 'UID:1', 'FN:Annie L.', 'N:Lee;Ann;;;');
    const g = fieldsOf(chosen);
    const out2 = updateVCard(chosen, fieldsToCard({ ...g, s: { ...g.s, 'name.surname': 'Smith' } }, '1'), ['name.surname']);
    expect(lineDiff(chosen, out2)).toEqual({ removed: ['N:Lee;Ann;;;'], added: ['N:Smith;Ann;;;'] });
  });

  it('keeps the line-break style, UID and text outside the card', () => {
    const text = 'BEGIN:VCARD\nVERSION:3.0\nUID:keep-me\nFN:Ann\nEMAIL:a@x.org\nEND:VCARD\n';
    const out = updateVCard(text, { '@type': 'Card', version: '1.0', uid: 'other', name: { full: 'Ann' }, emails: { e: { address: 'b@x.org' } } }, ['emails']);
    expect(out).toBe('BEGIN:VCARD\nVERSION:3.0\nUID:keep-me\nFN:Ann\nEMAIL;TYPE=INTERNET:b@x.org\nEND:VCARD\n');
  });

  it('brings a 2.1 card to 3.0 and is stable afterwards', () => {
    const text = fixture('outlook-2.1.vcf');
    const { card } = parseVCard(text);
    const out = updateVCard(text, card, 'all');
    expect(out).toContain('VERSION:3.0');
    expect(out).toContain('X-MS-OL-DEFAULT-POSTAL-ADDRESS:2');
    expect(parseVCard(out).version).toBe('3.0');
    expect(cardToFields(parseVCard(out).card, US)).toEqual(cardToFields(card, US));
    expect(updateVCard(out, card, 'all')).toBe(out);
  });

  it('removes 3.0 LABEL properties that belong to rewritten addresses', () => {
    const text = vcard('VERSION:3.0', 'FN:A', 'ADR;TYPE=WORK:;;1 Main St;Town;;;', 'LABEL;TYPE=WORK:1 Main St\\nTown', 'X-KEEP:1');
    const out = updateVCard(text, { '@type': 'Card', version: '1.0', uid: '', addresses: { a: { components: [{ kind: 'name', value: '2 Main St' }] } } }, ['addresses']);
    expect(lineDiff(text, out)).toEqual({ removed: ['ADR;TYPE=WORK:;;1 Main St;Town;;;', 'LABEL;TYPE=WORK:1 Main St\\nTown'], added: ['ADR:;;2 Main St;;;;'] });
  });

  /** Paths written by one vCard property: changing one rewrites the others from the card. */
  const SHARED: readonly (readonly FieldPath[])[] = [
    ['name.title', 'name.given', 'name.given2', 'name.surname', 'name.surname2', 'name.credential'],
    ['org.name', 'org.unit'],
  ];

  it('property: after an update the vCard holds the new value on the changed paths and the old elsewhere', () => {
    const arb = fc.tuple(
      cardArb({ vcardSafe: true, noSurname2: true }), cardArb({ vcardSafe: true, noSurname2: true }),
      fc.subarray([...ALL_PATHS]), fc.constantFrom<'3.0' | '4.0'>('3.0', '4.0'),
    );
    fc.assert(fc.property(arb, ([c1, c2, changed, version]) => {
      const f1 = cardToFields(c1, US);
      const f2 = cardToFields(c2, US);
      const text = toVCard(fieldsToCard(f1, 'u'), { version });
      const out = updateVCard(text, fieldsToCard(f2, 'u'), changed, US);
      const got = fieldsOf(out);
      const rewritten = (p: FieldPath): boolean => {
        const group = SHARED.find((g) => g.includes(p)) ?? [p];
        return group.some((q) => changed.includes(q) && stableStringify(pick(f1, q)) !== stableStringify(pick(f2, q)));
      };
      for (const p of ALL_PATHS) {
        const want = rewritten(p) ? pick(f2, p) : pick(f1, p);
        expect([p, stableStringify(pick(got, p))]).toEqual([p, stableStringify(want)]);
      }
    }), { numRuns: 300 });
  });
});

function pick(f: Fields, p: FieldPath): unknown {
  return isScalarPath(p) ? f.s[p] : f.m[p] ?? {};
}
