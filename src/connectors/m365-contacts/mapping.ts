/**
 * Graph `contact` ⇄ Card, pure (api-spec.md §4.2 for the resource, §7 for the field hints).
 *
 * | Graph | Card | notes |
 * |---|---|---|
 * | displayName | name.full | omitted on read when it is what Outlook generates from the name parts (like vCard FN;DERIVED) |
 * | title, givenName, middleName, surname, generation | name components title, given, given2, surname, generation | |
 * | nickName | nicknames | |
 * | companyName / department / jobTitle / profession | organization name / unit, title, role | |
 * | emailAddresses[{name,address}] | emails | untyped in Graph: contexts do not survive |
 * | businessPhones[] / homePhones[] / mobilePhone | phones with context work / private / feature mobile | |
 * | businessAddress / homeAddress / otherAddress | addresses with context work / private / none | three slots; extras are dropped |
 * | businessHomePage | first link | |
 * | imAddresses[] | online services | |
 * | birthday | birth anniversary | Outlook stores a birthday without a year in year 1604 |
 * | personalNotes | note | |
 * | categories | keywords | categories are Outlook's labels |
 * | photo/$value | photo (data: URI) | separate endpoint |
 *
 * Reading is strict about types: a value of the wrong shape raises `MappingError` naming the field,
 * so the connector reports that one item (and field) and goes on with the others.
 */
import type { Address, AddressComponent, Card, NameComponent, Phone } from '../../model/card.js';
import { formatPartialDate } from '../../model/card-fields.js';
import type { FieldPath } from '../../model/fields.js';

export type GraphContact = Record<string, unknown>;

export class MappingError extends Error {
  constructor(readonly field: string, message: string) {
    super(message);
  }
}

/** The field paths a Graph contact can hold. */
export const CONTACT_FIELDS: readonly FieldPath[] = [
  'name.full', 'name.title', 'name.given', 'name.given2', 'name.surname', 'name.credential', 'nickname',
  'org.name', 'org.unit', 'title', 'role', 'birthday', 'note', 'photo',
  'emails', 'phones', 'addresses', 'links', 'online', 'keywords',
];

/** Outlook's "no year" birthday year (a birthday entered without a year is stored in 1604). */
const NO_YEAR = 1604;

function str(c: GraphContact, k: string): string | undefined {
  const v = c[k];
  if (v === null || v === undefined) return undefined;
  if (typeof v !== 'string') throw new MappingError(k, `${k} is not a string`);
  const t = v.trim();
  return t === '' ? undefined : t;
}

function strings(c: GraphContact, k: string): string[] {
  const v = c[k];
  if (v === null || v === undefined) return [];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new MappingError(k, `${k} is not a list of strings`);
  return (v as string[]).map((s) => s.trim()).filter((s) => s !== '');
}

/** The displayName Outlook computes from the name parts. */
export function derivedDisplayName(c: { givenName?: unknown; middleName?: unknown; surname?: unknown }): string {
  return [c.givenName, c.middleName, c.surname].filter((x): x is string => typeof x === 'string' && x.trim() !== '').map((x) => x.trim()).join(' ');
}

const ADDRESS_SLOTS: readonly [string, 'work' | 'private' | null][] = [
  ['businessAddress', 'work'],
  ['homeAddress', 'private'],
  ['otherAddress', null],
];

const ADDRESS_PARTS: readonly [string, string][] = [
  ['street', 'name'],
  ['city', 'locality'],
  ['state', 'region'],
  ['postalCode', 'postcode'],
  ['countryOrRegion', 'country'],
];

/** Graph contact → Card. `photo` is the data: URI of the contact's photo, when fetched. */
export function contactToCard(c: GraphContact, uid: string, photo: string | null = null): Card {
  const card: Card = { '@type': 'Card', version: '1.0', uid };
  const components: NameComponent[] = [];
  const push = (kind: NameComponent['kind'], v: string | undefined): void => {
    if (v !== undefined) components.push({ kind, value: v });
  };
  push('title', str(c, 'title'));
  push('given', str(c, 'givenName'));
  push('given2', str(c, 'middleName'));
  push('surname', str(c, 'surname'));
  push('generation', str(c, 'generation'));
  const display = str(c, 'displayName');
  const derived = derivedDisplayName(c);
  if (components.length > 0 || display !== undefined) {
    card.name = {};
    if (components.length > 0) card.name.components = components;
    if (display !== undefined && display !== derived && !(derived === '' && display === str(c, 'companyName'))) card.name.full = display;
    if (!card.name.components && card.name.full === undefined) delete card.name;
  }
  const nick = str(c, 'nickName');
  if (nick !== undefined) card.nicknames = { n1: { name: nick } };
  const company = str(c, 'companyName');
  const dept = str(c, 'department');
  if (company !== undefined || dept !== undefined) {
    card.organizations = { o1: { ...(company !== undefined ? { name: company } : {}), ...(dept !== undefined ? { units: dept.split(' / ').map((name) => ({ name })) } : {}) } };
  }
  const job = str(c, 'jobTitle');
  const prof = str(c, 'profession');
  if (job !== undefined || prof !== undefined) {
    card.titles = {};
    if (job !== undefined) card.titles.t1 = { name: job, kind: 'title' };
    if (prof !== undefined) card.titles.t2 = { name: prof, kind: 'role' };
  }

  const emailsRaw = c.emailAddresses;
  if (emailsRaw !== null && emailsRaw !== undefined) {
    if (!Array.isArray(emailsRaw)) throw new MappingError('emailAddresses', 'emailAddresses is not a list');
    const emails: NonNullable<Card['emails']> = {};
    emailsRaw.forEach((e: unknown, i) => {
      const address = (e as { address?: unknown } | null)?.address;
      if (typeof address !== 'string') throw new MappingError('emailAddresses', `emailAddresses[${i}] has no address`);
      if (address.trim() !== '') emails[`e${i + 1}`] = { address: address.trim() };
    });
    if (Object.keys(emails).length > 0) card.emails = emails;
  }

  const phones: Record<string, Phone> = {};
  let n = 0;
  for (const p of strings(c, 'businessPhones')) phones[`p${++n}`] = { number: p, contexts: { work: true } };
  for (const p of strings(c, 'homePhones')) phones[`p${++n}`] = { number: p, contexts: { private: true } };
  const mobile = str(c, 'mobilePhone');
  if (mobile !== undefined) phones[`p${++n}`] = { number: mobile, features: { mobile: true } };
  if (n > 0) card.phones = phones;

  const addresses: Record<string, Address> = {};
  for (const [slot, ctx] of ADDRESS_SLOTS) {
    const a = c[slot];
    if (a === null || a === undefined) continue;
    if (typeof a !== 'object' || Array.isArray(a)) throw new MappingError(slot, `${slot} is not an address`);
    const comps: AddressComponent[] = [];
    for (const [gk, kind] of ADDRESS_PARTS) {
      const v = (a as Record<string, unknown>)[gk];
      if (v === null || v === undefined) continue;
      if (typeof v !== 'string') throw new MappingError(slot, `${slot}.${gk} is not a string`);
      if (v.trim() !== '') comps.push({ kind, value: v.trim() });
    }
    if (comps.length > 0) addresses[slot] = { components: comps, ...(ctx ? { contexts: { [ctx]: true } } : {}) };
  }
  if (Object.keys(addresses).length > 0) card.addresses = addresses;

  const home = str(c, 'businessHomePage');
  if (home !== undefined) card.links = { l1: { uri: home } };
  const ims = strings(c, 'imAddresses');
  if (ims.length > 0) card.onlineServices = Object.fromEntries(ims.map((s, i) => [`i${i + 1}`, /^[a-z][a-z0-9+.-]*:/i.test(s) ? { uri: s } : { user: s }]));

  const bday = str(c, 'birthday');
  if (bday !== undefined) {
    const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(bday);
    if (!m) throw new MappingError('birthday', `birthday "${bday}" is not a date`);
    const year = Number(m[1]);
    card.anniversaries = { b1: { kind: 'birth', date: { ...(year === NO_YEAR ? {} : { year }), month: Number(m[2]), day: Number(m[3]) } } };
  }
  const notes = str(c, 'personalNotes');
  if (notes !== undefined) card.notes = { n1: { note: notes } };
  const cats = strings(c, 'categories');
  if (cats.length > 0) card.keywords = Object.fromEntries(cats.map((k) => [k, true as const]));
  if (photo) card.media = { ph: { kind: 'photo', uri: photo } };
  return card;
}

function nameOf(card: Card, kind: NameComponent['kind']): string | null {
  const v = (card.name?.components ?? []).filter((c) => c.kind === kind).map((c) => c.value.trim()).filter((x) => x !== '').join(' ');
  return v === '' ? null : v;
}

function first<T>(rec: Record<string, T> | undefined): T | undefined {
  return rec ? Object.values(rec)[0] : undefined;
}

/** Card → every Graph property this connector maps (absent values as null / []). */
export function cardToContact(card: Card): GraphContact {
  const given = nameOf(card, 'given');
  const middle = nameOf(card, 'given2');
  const surname = nameOf(card, 'surname');
  const full = card.name?.full?.trim() || null;
  const org = first(card.organizations);
  const titles = Object.values(card.titles ?? {});
  const job = titles.find((t) => t.kind === undefined || t.kind === 'title')?.name ?? null;
  const role = titles.find((t) => t.kind === 'role')?.name ?? null;

  const business: string[] = [];
  const homeP: string[] = [];
  let mobile: string | null = null;
  for (const p of Object.values(card.phones ?? {})) {
    const num = p.number.trim();
    if (num === '') continue;
    if (p.features?.mobile && mobile === null) mobile = num;
    else if (p.contexts?.private) homeP.push(num);
    else business.push(num);
  }

  const slots: Record<string, Record<string, string> | null> = { businessAddress: null, homeAddress: null, otherAddress: null };
  for (const a of Object.values(card.addresses ?? {})) {
    const want = a.contexts?.work ? 'businessAddress' : a.contexts?.private ? 'homeAddress' : 'otherAddress';
    const slot = slots[want] === null ? want : slots.otherAddress === null ? 'otherAddress' : null;
    if (!slot) continue; // Graph has three address slots (api-spec.md §4.2).
    const g: Record<string, string> = {};
    for (const [gk, kind] of ADDRESS_PARTS) {
      const v = (a.components ?? []).filter((x) => x.kind === kind).map((x) => x.value.trim()).filter((x) => x !== '').join(kind === 'name' ? '\n' : ' ');
      if (v !== '') g[gk] = v;
    }
    if (Object.keys(g).length === 0 && a.full?.trim()) g.street = a.full.trim();
    if (Object.keys(g).length > 0) slots[slot] = g;
  }

  const birth = Object.values(card.anniversaries ?? {}).find((x) => x.kind === 'birth');
  let birthday: string | null = null;
  if (birth?.date.month && birth.date.day) {
    birthday = `${formatPartialDate({ year: birth.date.year ?? NO_YEAR, month: birth.date.month, day: birth.date.day })}T00:00:00Z`;
  }
  const derived = derivedDisplayName({ givenName: given, middleName: middle, surname });
  return {
    // Always sent: Outlook may regenerate displayName when other name fields change (§4.2, §9.12).
    displayName: full ?? (derived !== '' ? derived : (org?.name ?? Object.values(card.emails ?? {})[0]?.address ?? '')),
    title: nameOf(card, 'title'),
    givenName: given,
    middleName: middle,
    surname,
    generation: nameOf(card, 'generation') ?? nameOf(card, 'credential'),
    nickName: first(card.nicknames)?.name ?? null,
    companyName: org?.name ?? null,
    department: org?.units && org.units.length > 0 ? org.units.map((u) => u.name).join(' / ') : null,
    jobTitle: job,
    profession: role,
    emailAddresses: Object.values(card.emails ?? {})
      .map((e) => e.address.trim())
      .filter((a) => a !== '')
      .map((address) => ({ address, name: address })),
    businessPhones: business,
    homePhones: homeP,
    mobilePhone: mobile,
    businessAddress: slots.businessAddress,
    homeAddress: slots.homeAddress,
    otherAddress: slots.otherAddress,
    businessHomePage: first(card.links)?.uri ?? null,
    imAddresses: Object.values(card.onlineServices ?? {}).map((o) => o.uri ?? o.user ?? '').filter((s) => s !== ''),
    birthday,
    personalNotes: Object.values(card.notes ?? {}).map((x) => x.note).join('\n\n') || null,
    categories: Object.keys(card.keywords ?? {}),
  };
}

/** The Graph properties that hold each field path (for PATCH with only the changed properties). */
const PATH_PROPS: Record<string, readonly string[]> = {
  'name.full': ['displayName'],
  'name.title': ['title'],
  'name.given': ['givenName'],
  'name.given2': ['middleName'],
  'name.surname': ['surname'],
  'name.credential': ['generation'],
  nickname: ['nickName'],
  'org.name': ['companyName'],
  'org.unit': ['department'],
  title: ['jobTitle'],
  role: ['profession'],
  birthday: ['birthday'],
  note: ['personalNotes'],
  emails: ['emailAddresses'],
  phones: ['businessPhones', 'homePhones', 'mobilePhone'],
  addresses: ['businessAddress', 'homeAddress', 'otherAddress'],
  links: ['businessHomePage'],
  online: ['imAddresses'],
  keywords: ['categories'],
};

/** The PATCH body: only the properties of the changed paths, plus displayName (see above). */
export function patchBody(card: Card, changed: readonly FieldPath[]): GraphContact {
  const all = cardToContact(card);
  const out: GraphContact = { displayName: all.displayName };
  for (const p of changed) for (const k of PATH_PROPS[p] ?? []) out[k] = all[k];
  return out;
}

/** `data:` URI → bytes and media type (null when the URI is not an inline image). */
export function photoBytes(uri: string): { bytes: Buffer; contentType: string } | null {
  const m = /^data:(image\/[\w.+-]+)?(;[^,]*)?,(.*)$/s.exec(uri);
  if (!m) return null;
  const isB64 = (m[2] ?? '').includes(';base64');
  const bytes = isB64 ? Buffer.from(m[3] as string, 'base64') : Buffer.from(decodeURIComponent(m[3] as string), 'utf8');
  return bytes.length > 0 ? { bytes, contentType: m[1] ?? 'image/jpeg' } : null;
}

