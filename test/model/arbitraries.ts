/** fast-check generators of Cards for the model's property tests. */
import fc from 'fast-check';
import type {
  Address, Anniversary, Card, Contexts, EmailAddress, Link, Media, NameComponent, OnlineService, Organization,
  PartialDate, Phone, Title,
} from '../../src/model/card.js';

/** Characters that stress escaping, folding, case folding and trimming. */
const NASTY = [
  'a', 'B', 'z', 'Q', '1', '0', ' ', ' ', '\t', '\n', '\r\n', ',', ';', ':', '\\', '"', '^', '=', '-', '/', '.', '@',
  '+', '\'', 'é', 'É', 'ß', 'ı', 'İ', 'ø', '日', '本', 'م', '😀', '👩‍👩‍👧', '\u200b', '\u00a0', 'x', 'y',
];
/** Characters that can appear in a URI as people write them. */
const URI_CHARS = ['a', 'b', 'Z', '0', '9', '/', '.', '-', '_', '~', '%', '?', '=', '&', '#', ':', '@', ',', ';', '+'];
const PHONE_CHARS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ' ', '+', '-', '(', ')', '.', 'x', ',', ';'];
const B64 = [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'];

export const text = (maxLength = 10): fc.Arbitrary<string> => fc.string({ unit: fc.constantFrom(...NASTY), maxLength });
const someText = (maxLength = 10): fc.Arbitrary<string> => fc.string({ unit: fc.constantFrom(...NASTY), minLength: 1, maxLength });
const uriText = fc.string({ unit: fc.constantFrom(...URI_CHARS), minLength: 1, maxLength: 12 });

/** What vCard has a TYPE for (RFC 9555 §2.3.20, §2.7.6 table 3) and the classic seven ADR components. */
export const VCARD_CONTEXTS = ['private', 'work', 'billing', 'delivery'];
export const VCARD_PHONE_FEATURES = ['mobile', 'voice', 'fax', 'text', 'pager', 'video', 'textphone', 'main-number'];
export const VCARD_ADR_KINDS = ['postOfficeBox', 'apartment', 'name', 'locality', 'region', 'postcode', 'country'];

const id = fc.string({ unit: fc.constantFrom('a', 'b', 'c', '1', '2', '_', '-'), minLength: 1, maxLength: 4 });
const record = <T>(value: fc.Arbitrary<T>, maxKeys = 3): fc.Arbitrary<Record<string, T>> =>
  fc.dictionary(id, value, { maxKeys });

export interface CardShape {
  /** Only what vCard can carry (classic ADR kinds, known TEL types, contexts, no link kinds…). */
  vcardSafe: boolean;
  /** No secondary surname (vCard 3.0 has no slot for it). */
  noSurname2: boolean;
}

const contexts = (safe: boolean): fc.Arbitrary<Contexts> =>
  fc.dictionary(fc.constantFrom(...(safe ? VCARD_CONTEXTS : ['private', 'work', 'school', ' x '])), fc.constant(true as const), { maxKeys: 2 });

function common<T extends object>(base: fc.Arbitrary<T>, safe: boolean): fc.Arbitrary<T & { contexts?: Contexts; pref?: number; label?: string }> {
  return fc.tuple(base, fc.option(contexts(safe), { nil: undefined }), fc.option(fc.integer({ min: safe ? 1 : -2, max: 102 }), { nil: undefined }), fc.option(text(8), { nil: undefined }))
    .map(([b, c, p, l]) => {
      const out: T & { contexts?: Contexts; pref?: number; label?: string } = { ...b };
      if (c !== undefined) out.contexts = c;
      if (p !== undefined) out.pref = p;
      if (l !== undefined) out.label = l;
      return out;
    });
}

const partialDate: fc.Arbitrary<PartialDate> = fc.record(
  { year: fc.integer({ min: 1, max: 2100 }), month: fc.integer({ min: 0, max: 13 }), day: fc.integer({ min: 0, max: 32 }) },
  { requiredKeys: [] },
);

export function cardArb(shape: CardShape = { vcardSafe: false, noSurname2: false }): fc.Arbitrary<Card> {
  const safe = shape.vcardSafe;
  const nameKinds: NameComponent['kind'][] = ['title', 'given', 'given2', 'surname', 'credential', 'generation'];
  if (!shape.noSurname2) nameKinds.push('surname2');
  if (!safe) nameKinds.push('separator');
  const component = fc.record({ kind: fc.constantFrom(...nameKinds), value: text(8) });
  const emails = record<EmailAddress>(common(fc.oneof(
    text(12).map((address) => ({ address })),
    fc.tuple(someText(5), someText(5)).map(([a, b]) => ({ address: `${a}@${b}.example` })),
  ), safe));
  const phoneNumber = safe ? fc.string({ unit: fc.constantFrom(...PHONE_CHARS), maxLength: 16 }) : text(14);
  const features = fc.dictionary(fc.constantFrom(...(safe ? VCARD_PHONE_FEATURES : ['mobile', 'voice', 'odd'])), fc.constant(true as const), { maxKeys: 3 });
  const phones = record<Phone>(common(fc.record({ number: phoneNumber, features }, { requiredKeys: ['number'] }), safe));
  const adrKinds = safe
    ? VCARD_ADR_KINDS
    : ['postOfficeBox', 'apartment', 'name', 'number', 'locality', 'region', 'postcode', 'country', 'separator', 'pref', 'weird'];
  const address = fc.record({
    components: fc.array(fc.record({ kind: fc.constantFrom(...adrKinds), value: text(10) }), { maxLength: 5 }),
    full: text(12),
    countryCode: fc.constantFrom('us', 'DE', ' fr ', ''),
  }, { requiredKeys: [] });
  const addresses = record<Address>(common(address, safe));
  const links = record<Link>(common(safe
    ? fc.oneof(uriText.map((u) => ({ uri: `https://${u}` })), uriText.map((uri) => ({ uri })))
    : fc.record({ uri: text(12), kind: fc.constantFrom('contact', 'x') }, { requiredKeys: ['uri'] }), safe));
  const online = record<OnlineService>(common<OnlineService>(safe
    ? fc.oneof<[fc.Arbitrary<OnlineService>, fc.Arbitrary<OnlineService>]>(
      fc.record({ uri: uriText.map((u) => `xmpp:${u}`), service: someText(6), user: someText(6) }, { requiredKeys: ['uri'] }),
      fc.record({ service: someText(6), user: someText(6) }, { requiredKeys: ['user'] }),
    )
    : fc.record({ uri: text(10), service: text(6), user: text(6) }, { requiredKeys: [] }), safe));
  const organizations = record<Organization>(fc.record({ name: text(8), units: fc.array(text(6).map((name) => ({ name })), { maxLength: 3 }) }, { requiredKeys: [] }), 2);
  const titles = record<Title>(fc.record({ name: text(8), kind: fc.constantFrom<'title' | 'role'>('title', 'role') }, { requiredKeys: ['name'] }), 2);
  const photo = safe
    ? fc.oneof(uriText.map((u) => `https://img.example/${u}`), fc.string({ unit: fc.constantFrom(...B64), minLength: 4, maxLength: 40 }).map((b) => `data:image/png;base64,${b}`))
    : text(20);
  const media = record<Media>(fc.record({ kind: fc.constantFrom<'photo' | 'logo'>('photo', 'logo'), uri: photo }), 2);
  const anniversaries = record<Anniversary>(fc.record({ kind: fc.constantFrom('birth', 'wedding', 'death'), date: partialDate }), 3);
  return fc.record({
    kind: fc.constantFrom<Card['kind']>('individual', 'group', 'org', 'location', 'device', 'application'),
    name: fc.record({ components: fc.array(component, { maxLength: 5 }), full: text(12) }, { requiredKeys: [] }),
    nicknames: record(text(6).map((name) => ({ name })), 2),
    organizations,
    titles,
    emails,
    phones,
    addresses,
    links,
    onlineServices: online,
    notes: record(text(30).map((note) => ({ note })), 2),
    media,
    anniversaries,
    keywords: fc.dictionary(text(8), fc.constant(true as const), { maxKeys: 3 }),
  }, { requiredKeys: [] }).map((parts) => ({ '@type': 'Card' as const, version: '1.0' as const, uid: 'uid-1', ...parts }));
}
