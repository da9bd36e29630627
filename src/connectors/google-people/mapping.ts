/**
 * People API `Person` ⇄ JSContact `Card`: pure functions, typed against Google's own schema
 * (`@googleapis/people`, generated from the discovery document), so the wire shapes are checked.
 *
 * | field path | Person field (api-spec §1.11) |
 * |---|---|
 * | name.given / surname / given2 / title / credential / full | names[0].givenName / familyName / middleName / honorificPrefix / honorificSuffix / unstructuredName |
 * | nickname | nicknames[0].value |
 * | org.name / org.unit / title | organizations[0].name / department (units joined by " / ") / title |
 * | birthday | birthdays[0].date (0 = unspecified part; `text` read when there is no date) |
 * | anniversary | events[type=anniversary].date |
 * | note | biographies[0].value (TEXT_PLAIN) |
 * | emails / phones / addresses / links | emailAddresses / phoneNumbers / addresses / urls |
 * | keywords | memberships of user contact groups (by group name) |
 * | photo | photos[0] (output only; written with updateContactPhoto) |
 *
 * Element labels: Google has one `type` per element, predefined (`home`, `work`, `mobile`,
 * `workFax`, …) or custom. JSContact contexts and phone features map to the predefined ones where
 * one exists; other combinations are written as a custom type of the same words (`home voice`),
 * and a custom type that is not such a combination is the element's label. `pref: 1` is
 * `metadata.sourcePrimary`. So every label the model holds survives a round trip, except other
 * `pref` values and a link's `kind`, which Google cannot store.
 */
import type { people_v1 } from '@googleapis/people';
import type { Address, Anniversary, Card, Contexts, EmailAddress, Link, NameComponent, Phone, PartialDate } from '../../model/card.js';
import { keywordMap } from '../../model/card.js';
import { parsePartialDate } from '../../model/card-fields.js';
import type { FieldPath } from '../../model/fields.js';

export type Person = people_v1.Schema$Person;

/** The marker key in `clientData` (sync-design §B7: "Plain createContact plus clientData{hubSyncId}"). */
export const MARKER_KEY = 'hubsyncId';

/** What a pull reads: every mapped field, plus clientData (marker) and metadata (deleted flag). */
export const PERSON_FIELDS = [
  'names', 'nicknames', 'emailAddresses', 'phoneNumbers', 'addresses', 'organizations', 'birthdays', 'events',
  'biographies', 'urls', 'memberships', 'photos', 'clientData', 'metadata',
].join(',');

export const GOOGLE_FIELDS: readonly FieldPath[] = [
  'name.full', 'name.title', 'name.given', 'name.given2', 'name.surname', 'name.credential', 'nickname', 'org.name',
  'org.unit', 'title', 'birthday', 'anniversary', 'note', 'photo', 'emails', 'phones', 'addresses', 'links', 'keywords',
];

/** The Person field that holds each path (photo has its own endpoint: none). */
const PATH_FIELD: Record<string, string | null> = {
  'name.full': 'names', 'name.title': 'names', 'name.given': 'names', 'name.given2': 'names', 'name.surname': 'names',
  'name.credential': 'names', nickname: 'nicknames', 'org.name': 'organizations', 'org.unit': 'organizations',
  title: 'organizations', birthday: 'birthdays', anniversary: 'events', note: 'biographies', photo: null,
  emails: 'emailAddresses', phones: 'phoneNumbers', addresses: 'addresses', links: 'urls', keywords: 'memberships',
};

/** The `updatePersonFields` mask for the changed paths: only the Person fields that changed. */
export function updateMask(changed: readonly FieldPath[]): string[] {
  const out = new Set<string>();
  for (const p of changed) {
    const f = PATH_FIELD[p];
    if (f) out.add(f);
  }
  return [...out].sort();
}

/** System groups: never keywords (myContacts holds every contact; the others are deprecated or flags). */
export const SYSTEM_GROUPS = new Set(['myContacts', 'starred', 'friends', 'family', 'coworkers', 'chatBuddies', 'all', 'blocked']);

const ORG_UNIT_SEPARATOR = ' / ';

// ---------------------------------------------------------------------------------------------
// Types ⇄ contexts/features/labels

const CONTEXT_WORD: Record<string, string> = { private: 'home', work: 'work' };
const WORD_CONTEXT: Record<string, string> = { home: 'private', work: 'work' };
const FEATURE_WORDS = new Set(['mobile', 'voice', 'fax', 'pager', 'text', 'textphone', 'video', 'main-number']);
/** Predefined phone types (api-spec §1.11) and the contexts+features they mean. */
const PHONE_TYPES: Record<string, string> = {
  home: 'home', work: 'work', mobile: 'mobile', homeFax: 'fax home', workFax: 'fax work', otherFax: 'fax',
  pager: 'pager', workMobile: 'mobile work', workPager: 'pager work', main: 'main-number',
};
const PHONE_WORDS_TYPE = Object.fromEntries(Object.entries(PHONE_TYPES).map(([t, w]) => [w, t]));

interface Labelled { contexts?: Contexts; features?: Partial<Record<string, true>>; label?: string; pref?: number }

function words(el: Labelled): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(el.contexts ?? {})) if (v) out.push(CONTEXT_WORD[k] ?? k);
  for (const [k, v] of Object.entries(el.features ?? {})) if (v) out.push(k);
  return out.sort();
}

function typeOf(el: Labelled, phone: boolean): string | undefined {
  if (el.label) return el.label;
  const w = words(el);
  if (w.length === 0) return undefined;
  const joined = w.join(' ');
  if (phone && PHONE_WORDS_TYPE[joined]) return PHONE_WORDS_TYPE[joined];
  if (!phone && w.length === 1 && (w[0] === 'home' || w[0] === 'work')) return w[0];
  return joined;
}

function fromType(type: string | null | undefined, phone: boolean): Labelled {
  if (!type || type === 'other') return {};
  const spelled = phone ? PHONE_TYPES[type] : type === 'home' || type === 'work' ? type : undefined;
  const ws = (spelled ?? type).split(' ');
  const known = (w: string) => w in WORD_CONTEXT || (phone && FEATURE_WORDS.has(w)) || (!phone && false);
  if (!spelled && !ws.every((w) => known(w) || ['billing', 'delivery'].includes(w))) return { label: type };
  const out: Labelled = {};
  for (const w of ws) {
    if (w in WORD_CONTEXT || w === 'billing' || w === 'delivery') (out.contexts ??= {})[WORD_CONTEXT[w] ?? w] = true;
    else (out.features ??= {})[w] = true;
  }
  return out;
}

function primary(md: people_v1.Schema$FieldMetadata | undefined | null): { pref?: number } {
  return md?.sourcePrimary ? { pref: 1 } : {};
}

function withPrimary<T extends object>(el: T, l: Labelled): T {
  return l.pref === 1 ? { ...el, metadata: { sourcePrimary: true } } : el;
}

// ---------------------------------------------------------------------------------------------
// Reading

/** Thrown for a Person whose shape Google's schema does not allow (reported per item). */
export class BadPersonError extends Error {}

const LIST_FIELDS = ['names', 'nicknames', 'emailAddresses', 'phoneNumbers', 'addresses', 'organizations', 'birthdays', 'events', 'biographies', 'urls', 'memberships', 'photos', 'clientData'];

function checkShape(p: Person): void {
  if (typeof p.resourceName !== 'string' || !p.resourceName.startsWith('people/')) throw new BadPersonError('no resourceName');
  const rec = p as Record<string, unknown>;
  for (const f of LIST_FIELDS) {
    const v = rec[f];
    if (v === undefined || v === null) continue;
    if (!Array.isArray(v)) throw new BadPersonError(`field "${f}" is not a list`);
    for (const el of v) if (el === null || typeof el !== 'object' || Array.isArray(el)) throw new BadPersonError(`field "${f}" holds a value that is not an object`);
  }
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');

function dateOf(d: people_v1.Schema$Date | undefined | null, text?: string | null): PartialDate | null {
  if (d && typeof d === 'object') {
    const out: PartialDate = {};
    if (typeof d.year === 'number' && d.year > 0) out.year = d.year;
    if (typeof d.month === 'number' && d.month >= 1 && d.month <= 12) out.month = d.month;
    if (typeof d.day === 'number' && d.day >= 1 && d.day <= 31) out.day = d.day;
    if (Object.keys(out).length > 0) return out;
  }
  return text ? parsePartialDate(text) : null;
}

function toDate(d: PartialDate): people_v1.Schema$Date {
  // "Year / month / day: 0 if specifying a date without a year / month / day."
  return { year: d.year ?? 0, month: d.month ?? 0, day: d.day ?? 0 };
}

export function markerOf(p: Person): string | null {
  const cd = p.clientData?.find((c) => c?.key === MARKER_KEY);
  return typeof cd?.value === 'string' && cd.value !== '' ? cd.value : null;
}

/** The groups (other than system ones) a person belongs to, by resource id. */
export function userGroupIds(p: Person): string[] {
  const out: string[] = [];
  for (const m of p.memberships ?? []) {
    const rn = m.contactGroupMembership?.contactGroupResourceName ?? (m.contactGroupMembership?.contactGroupId ? `contactGroups/${m.contactGroupMembership.contactGroupId}` : null);
    if (!rn) continue;
    const id = rn.replace(/^contactGroups\//, '');
    if (!SYSTEM_GROUPS.has(id)) out.push(id);
  }
  return out;
}

/**
 * Lifts a Person into a Card. `groupName` resolves user-group ids; `photo` is the photo as a
 * `data:` URI when the person has one of their own (downloaded by the connector).
 */
export function personToCard(p: Person, opts: { uidPrefix: string; groupName: (id: string) => string | undefined; photo?: string | null }): Card {
  checkShape(p);
  const card: Card = { '@type': 'Card', version: '1.0', uid: `${opts.uidPrefix}${p.resourceName as string}` };
  const n = p.names?.[0];
  if (n) {
    const comps: NameComponent[] = [];
    const push = (kind: NameComponent['kind'], v: unknown) => {
      const t = str(v).trim();
      if (t) comps.push({ kind, value: t });
    };
    push('title', n.honorificPrefix);
    push('given', n.givenName);
    push('given2', n.middleName);
    push('surname', n.familyName);
    push('credential', n.honorificSuffix);
    const full = str(n.unstructuredName).trim();
    if (comps.length > 0 || full) card.name = { ...(comps.length > 0 ? { components: comps } : {}), ...(full ? { full } : {}) };
  }
  const nick = str(p.nicknames?.[0]?.value).trim();
  if (nick) card.nicknames = { nickname: { name: nick } };
  const org = p.organizations?.[0];
  if (org) {
    const name = str(org.name).trim();
    const dept = str(org.department).trim();
    if (name || dept) card.organizations = { org: { ...(name ? { name } : {}), ...(dept ? { units: dept.split(ORG_UNIT_SEPARATOR).map((u) => ({ name: u })) } : {}) } };
    const title = str(org.title).trim();
    if (title) card.titles = { title: { name: title, kind: 'title' } };
  }
  const anniversaries: Record<string, Anniversary> = {};
  const b = p.birthdays?.[0];
  const bd = b ? dateOf(b.date, b.text) : null;
  if (bd) anniversaries.birthday = { kind: 'birth', date: bd };
  const ev = p.events?.find((e) => e.type === 'anniversary');
  const ed = ev ? dateOf(ev.date) : null;
  if (ed) anniversaries.anniversary = { kind: 'wedding', date: ed };
  if (Object.keys(anniversaries).length > 0) card.anniversaries = anniversaries;
  const note = str(p.biographies?.[0]?.value);
  if (note.trim()) card.notes = { note: { note } };
  if (opts.photo) card.media = { photo: { kind: 'photo', uri: opts.photo } };

  const emails: Record<string, EmailAddress> = {};
  (p.emailAddresses ?? []).forEach((e, i) => {
    const address = str(e.value).trim();
    if (address) emails[`e${i + 1}`] = { address, ...fromType(e.type, false), ...primary(e.metadata) } as EmailAddress;
  });
  if (Object.keys(emails).length > 0) card.emails = emails;
  const phones: Record<string, Phone> = {};
  (p.phoneNumbers ?? []).forEach((ph, i) => {
    const number = str(ph.value).trim();
    if (number) phones[`p${i + 1}`] = { number, ...fromType(ph.type, true), ...primary(ph.metadata) } as Phone;
  });
  if (Object.keys(phones).length > 0) card.phones = phones;
  const addresses: Record<string, Address> = {};
  (p.addresses ?? []).forEach((a, i) => {
    const components = [
      ['name', a.streetAddress], ['apartment', a.extendedAddress], ['postOfficeBox', a.poBox], ['locality', a.city],
      ['region', a.region], ['postcode', a.postalCode], ['country', a.country],
    ]
      .map(([kind, v]) => ({ kind: kind as string, value: str(v).trim() }))
      .filter((c) => c.value !== '');
    const cc = str(a.countryCode).trim();
    const l = fromType(a.type, false);
    if (components.length === 0 && !cc) return;
    addresses[`a${i + 1}`] = { ...(components.length > 0 ? { components } : {}), ...(cc ? { countryCode: cc } : {}), ...l, ...primary(a.metadata) } as Address;
  });
  if (Object.keys(addresses).length > 0) card.addresses = addresses;
  const links: Record<string, Link> = {};
  (p.urls ?? []).forEach((u, i) => {
    const uri = str(u.value).trim();
    if (uri) links[`u${i + 1}`] = { uri, ...fromType(u.type, false), ...primary(u.metadata) } as Link;
  });
  if (Object.keys(links).length > 0) card.links = links;
  const keywords = keywordMap();
  for (const id of userGroupIds(p)) {
    const name = opts.groupName(id);
    if (name) keywords[name] = true;
  }
  if (Object.keys(keywords).length > 0) card.keywords = keywords;
  return card;
}

// ---------------------------------------------------------------------------------------------
// Writing

/**
 * The writable Person fields for a Card (all of them: the caller sends the ones in its mask).
 * `memberships` lists user-group resource names for the card's keywords (resolved by the caller),
 * plus `contactGroups/myContacts`.
 */
export function cardToPerson(card: Card, groupResourceNames: readonly string[]): Person {
  const p: Person = {};
  const comps = card.name?.components ?? [];
  const part = (k: NameComponent['kind']) => comps.filter((c) => c.kind === k || (k === 'credential' && c.kind === 'generation')).map((c) => c.value).join(' ') || undefined;
  const name: people_v1.Schema$Name = {};
  const set = (k: keyof people_v1.Schema$Name, v: string | undefined) => {
    if (v) (name as Record<string, string>)[k] = v;
  };
  set('honorificPrefix', part('title'));
  set('givenName', part('given'));
  set('middleName', part('given2'));
  set('familyName', [part('surname'), part('surname2')].filter(Boolean).join(' ') || undefined);
  set('honorificSuffix', part('credential'));
  set('unstructuredName', card.name?.full);
  // names is a singleton for contacts (createContact: 400 on more than one).
  p.names = Object.keys(name).length > 0 ? [name] : [];
  const nick = Object.values(card.nicknames ?? {})[0]?.name;
  p.nicknames = nick ? [{ value: nick }] : [];
  const org = Object.values(card.organizations ?? {})[0];
  const title = Object.values(card.titles ?? {}).find((t) => t.kind === undefined || t.kind === 'title')?.name;
  const o: people_v1.Schema$Organization = {};
  if (org?.name) o.name = org.name;
  const units = (org?.units ?? []).map((u) => u.name).filter(Boolean);
  if (units.length > 0) o.department = units.join(ORG_UNIT_SEPARATOR);
  if (title) o.title = title;
  p.organizations = Object.keys(o).length > 0 ? [o] : [];
  const birth = Object.values(card.anniversaries ?? {}).find((a) => a.kind === 'birth');
  p.birthdays = birth ? [{ date: toDate(birth.date) }] : [];
  const wedding = Object.values(card.anniversaries ?? {}).find((a) => a.kind === 'wedding');
  p.events = wedding ? [{ date: toDate(wedding.date), type: 'anniversary' }] : [];
  const notes = Object.values(card.notes ?? {}).map((n) => n.note).filter((n) => n.trim() !== '');
  p.biographies = notes.length > 0 ? [{ value: notes.join('\n\n'), contentType: 'TEXT_PLAIN' }] : [];
  p.emailAddresses = Object.values(card.emails ?? {}).map((e) => withPrimary({ value: e.address, ...opt('type', typeOf(e, false)) }, e));
  p.phoneNumbers = Object.values(card.phones ?? {}).map((ph) => withPrimary({ value: ph.number, ...opt('type', typeOf(ph, true)) }, ph));
  p.addresses = Object.values(card.addresses ?? {}).map((a) => {
    const get = (k: string) => (a.components ?? []).filter((c) => c.kind === k).map((c) => c.value).join('\n') || undefined;
    const out: people_v1.Schema$Address = {};
    const put = (k: keyof people_v1.Schema$Address, v: string | undefined) => {
      if (v) (out as Record<string, string>)[k] = v;
    };
    put('streetAddress', get('name'));
    put('extendedAddress', get('apartment'));
    put('poBox', get('postOfficeBox'));
    put('city', get('locality'));
    put('region', get('region'));
    put('postalCode', get('postcode'));
    put('country', get('country'));
    put('countryCode', a.countryCode);
    put('type', typeOf(a, false));
    return withPrimary(out, a);
  });
  p.urls = Object.values(card.links ?? {}).map((u) => withPrimary({ value: u.uri, ...opt('type', typeOf(u, false)) }, u));
  p.memberships = [
    { contactGroupMembership: { contactGroupResourceName: 'contactGroups/myContacts' } },
    ...groupResourceNames.map((rn) => ({ contactGroupMembership: { contactGroupResourceName: rn } })),
  ];
  return p;
}

function opt<K extends string>(k: K, v: string | undefined): Partial<Record<K, string>> {
  return v ? ({ [k]: v } as Record<K, string>) : {};
}

/** Keeps only the fields of `mask` (an update sends only what changed). */
export function pick(p: Person, mask: readonly string[]): Person {
  const out: Record<string, unknown> = {};
  for (const f of mask) out[f] = (p as Record<string, unknown>)[f] ?? [];
  return out as Person;
}

/** The card's photo as bytes to upload, or null; throws for a photo Google cannot take. */
export function photoBytes(card: Card): { base64: string } | null {
  const uri = Object.values(card.media ?? {}).find((m) => m.kind === 'photo')?.uri;
  if (!uri) return null;
  const m = /^data:(image\/(?:jpeg|png|jpg));base64,(.*)$/is.exec(uri.trim());
  if (!m) throw new Error('Google takes a contact photo as JPEG or PNG bytes; this photo is a link or another format');
  return { base64: (m[2] as string).replace(/\s+/g, '') };
}
