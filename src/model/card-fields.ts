/**
 * Card ⇄ Fields: the projection of a JSContact Card (RFC 9553) into the flat field space the merge
 * engine works on (`fields.ts`), and back.
 *
 * Scalar paths (one string each; absent = empty):
 * | path | from the Card |
 * |---|---|
 * | `kind` | `kind`, except `individual` (the RFC 6350 §6.1.4 default), which is absent |
 * | `name.full` | `name.full` |
 * | `name.title` … `name.credential` | `name.components` of that kind, values joined by a space; `generation` components are appended to `name.credential` (vCard carries them in the honorific suffix, RFC 9555 §2.5.5 table 1) |
 * | `nickname` | the first nickname |
 * | `org.name`, `org.unit` | the first organization: its name, and its unit names joined by ` / ` |
 * | `title`, `role` | the first title of kind `title` (or without a kind) and of kind `role` |
 * | `birthday`, `anniversary` | the first anniversary of kind `birth` / `wedding`, as `YYYY-MM-DD`, or a reduced form: `--MM-DD` (no year), `YYYY-MM`, `YYYY`, `--MM`, `---DD` (RFC 6350 §4.3.1 forms, extended notation) |
 * | `note` | all notes, joined by a blank line |
 * | `photo` | the URI of the first media of kind `photo` (often a `data:` URI) |
 *
 * Set paths (elements keyed by `normalize.ts` keys; attributes flat, arrays sorted, no undefined):
 * | path | key | attrs |
 * |---|---|---|
 * | `emails` | `emailKey` | `address` (as written), `contexts`, `pref`, `label` |
 * | `phones` | `phoneKey` | `number` (as written), `features`, `contexts`, `pref`, `label` |
 * | `addresses` | `addressKey` | one attr per component kind (`name` = street, `locality`, …; several lines joined by `\n`), `full`, `countryCode` (upper case), `contexts`, `pref`, `label` |
 * | `links` | `urlKey` | `uri` (as written), `kind`, `contexts`, `pref`, `label` |
 * | `online` | `onlineKey` | `uri`, `service`, `user`, `contexts`, `pref`, `label` |
 * | `keywords` | `keywordKey` | `name` (as written) |
 *
 * The `raw:` convention: an element whose text is not a valid value of its kind (an e-mail without
 * `@`, an unparseable URL, a phone number without any digit) is not dropped: it is kept under the key
 * `raw:<trimmed text>` with its attributes, so nothing a person wrote is lost and it still syncs.
 * Elements without any text (an empty EMAIL, an online service with neither URI nor user name) are
 * dropped: there is nothing to keep.
 *
 * Elements of one set with the same key (`Ann@x.org` and `ann@x.org`) are one element: the first
 * (in the Card's map order) gives the text attributes; contexts and features are united, and the
 * smallest pref wins.
 *
 * All text is trimmed and CRLF/CR line breaks become LF, so that two spokes that differ only in
 * trailing whitespace or line-break convention hold equal Fields. `fieldsToCard` is the inverse on
 * everything `cardToFields` produces: `cardToFields(fieldsToCard(f, uid))` equals `f`.
 */
import type {
  Address, AddressComponent, Anniversary, Card, Contexts, EmailAddress, Link, Media, NameComponent,
  Nickname, Note, OnlineService, Organization, PartialDate, Phone, Title,
} from './card.js';
import { keywordMap } from './card.js';
import { SET_PATHS, emptyFields, type Attrs, type Fields, type ScalarPath, type SetPath } from './fields.js';
import {
  RAW_KEY_PREFIX, addressKey, compareAddressKinds, emailKey, keywordKey, onlineKey, phoneKey, rawKey,
  urlKey,
} from './normalize.js';

export interface CardFieldsOptions {
  /** ISO 3166-1 alpha-2 region for phone numbers written without a country code. */
  defaultRegion: string;
}

/** One element of a set path as `cardToFields` sees it, before elements with equal keys merge. */
export interface FieldEntry {
  /** The element's id in the Card map (for keywords: the keyword itself). */
  id: string;
  key: string;
  attrs: Attrs;
}

const CARD_KINDS: ReadonlySet<string> = new Set(['individual', 'group', 'org', 'location', 'device', 'application']);
const ORG_UNIT_SEPARATOR = ' / ';
const NOTE_SEPARATOR = '\n\n';
const LINE_BREAKS = /\r\n?/g;

/** Attribute names of an address element that are not component kinds. */
export const ADDRESS_META_ATTRS: ReadonlySet<string> = new Set(['contexts', 'countryCode', 'full', 'pref', 'label']);

// ---------------------------------------------------------------------------------------------
// Text helpers

function clean(s: string | undefined): string {
  if (s === undefined) return '';
  return (s.includes('\r') ? s.replace(LINE_BREAKS, '\n') : s).trim();
}

/** Each line trimmed, empty lines dropped: idempotent, so multi-line values round-trip. */
function cleanLines(s: string | undefined): string {
  if (s === undefined) return '';
  if (!s.includes('\n') && !s.includes('\r')) return s.trim();
  const out: string[] = [];
  for (const line of s.replace(LINE_BREAKS, '\n').split('\n')) {
    const t = line.trim();
    if (t !== '') out.push(t);
  }
  return out.join('\n');
}

/**
 * Org units joined by ` / `, normalised to a fixpoint: split, trim, drop empty, join, until stable.
 * Joining is not injective (a unit name may itself contain ` / `), so the value is made canonical
 * here; `fieldsToCard` splits it again and `cardToFields` then gives back the same text.
 */
function canonicalUnits(names: readonly string[]): string {
  let text = names.map((n) => clean(n)).filter((n) => n !== '').join(ORG_UNIT_SEPARATOR);
  for (;;) {
    const next = text.split(ORG_UNIT_SEPARATOR).map((n) => n.trim()).filter((n) => n !== '').join(ORG_UNIT_SEPARATOR);
    if (next === text) return text;
    text = next;
  }
}

// ---------------------------------------------------------------------------------------------
// Partial dates (RFC 9553 §2.8.1 PartialDate; RFC 6350 §4.3.1 reduced-accuracy dates)

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

function validDatePart(n: number | undefined, min: number, max: number): n is number {
  return n !== undefined && Number.isInteger(n) && n >= min && n <= max;
}

/**
 * `YYYY-MM-DD`, `--MM-DD`, `YYYY-MM`, `YYYY`, `--MM` or `---DD`; null for an empty date. A year and
 * a day without a month cannot be written in ISO 8601 and keeps the year only.
 */
export function formatPartialDate(d: PartialDate): string | null {
  const y = validDatePart(d.year, 0, 9999) ? pad(d.year, 4) : null;
  const m = validDatePart(d.month, 1, 12) ? pad(d.month, 2) : null;
  const day = validDatePart(d.day, 1, 31) ? pad(d.day, 2) : null;
  if (y && m && day) return `${y}-${m}-${day}`;
  if (m && day) return `--${m}-${day}`;
  if (y && m) return `${y}-${m}`;
  if (y) return y;
  if (m) return `--${m}`;
  if (day) return `---${day}`;
  return null;
}

const DATE_FORMS: readonly [RegExp, (m: RegExpExecArray) => PartialDate][] = [
  [/^(\d{4})-?(\d{2})-?(\d{2})$/, (m) => ({ year: Number(m[1]), month: Number(m[2]), day: Number(m[3]) })],
  [/^--(\d{2})-?(\d{2})$/, (m) => ({ month: Number(m[1]), day: Number(m[2]) })],
  [/^(\d{4})-(\d{2})$/, (m) => ({ year: Number(m[1]), month: Number(m[2]) })],
  [/^(\d{4})$/, (m) => ({ year: Number(m[1]) })],
  [/^--(\d{2})$/, (m) => ({ month: Number(m[1]) })],
  [/^---(\d{2})$/, (m) => ({ day: Number(m[1]) })],
];

/**
 * Reads a date in any of the forms `formatPartialDate` writes, in basic or extended notation
 * (`19800102`, `1980-01-02`, `--0102`, `--01-02`, …). A time part (`T...`) is ignored. Null when it
 * is not such a date or a month/day is out of range.
 */
export function parsePartialDate(text: string): PartialDate | null {
  let t = text.trim();
  const tPos = t.indexOf('T');
  if (tPos > 0) t = t.slice(0, tPos);
  for (const [re, build] of DATE_FORMS) {
    const m = re.exec(t);
    if (!m) continue;
    const d = build(m);
    if (d.month !== undefined && !validDatePart(d.month, 1, 12)) return null;
    if (d.day !== undefined && !validDatePart(d.day, 1, 31)) return null;
    return d;
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// Common element attributes

interface Common { contexts?: Contexts; pref?: number; label?: string }

function trueKeys(rec: Partial<Record<string, true>> | undefined): string[] {
  if (!rec) return [];
  const out: string[] = [];
  for (const k in rec) {
    if (rec[k] !== true) continue;
    const t = k.trim();
    if (t !== '' && !out.includes(t)) out.push(t);
  }
  return out.length > 1 ? out.sort() : out;
}

/** A preference JSContact (`pref`) and vCard (PREF, RFC 6350 §5.3) both carry: an integer from 1 (most preferred) to 100. */
export function validPref(p: number | undefined): p is number {
  return p !== undefined && Number.isInteger(p) && p >= 1 && p <= 100;
}

function addCommon(attrs: Attrs, el: Common): Attrs {
  const contexts = trueKeys(el.contexts);
  if (contexts.length > 0) attrs.contexts = contexts;
  if (validPref(el.pref)) attrs.pref = el.pref;
  const label = clean(el.label);
  if (label !== '') attrs.label = label;
  return attrs;
}

function setIfText(attrs: Attrs, name: string, value: string | undefined): void {
  const v = clean(value);
  if (v !== '') attrs[name] = v;
}

// ---------------------------------------------------------------------------------------------
// Card → entries of one set path

function emailEntries(card: Card): FieldEntry[] {
  const out: FieldEntry[] = [];
  for (const [id, e] of Object.entries(card.emails ?? {})) {
    const address = clean(e.address);
    if (address === '') continue;
    out.push({ id, key: emailKey(address) ?? rawKey(address), attrs: addCommon({ address }, e) });
  }
  return out;
}

function phoneEntries(card: Card, opts: CardFieldsOptions): FieldEntry[] {
  const out: FieldEntry[] = [];
  for (const [id, p] of Object.entries(card.phones ?? {})) {
    const number = clean(p.number);
    if (number === '') continue;
    const attrs: Attrs = { number };
    const features = trueKeys(p.features);
    if (features.length > 0) attrs.features = features;
    const key = phoneKey(number, opts.defaultRegion);
    out.push({ id, key: key === '' ? rawKey(number) : key, attrs: addCommon(attrs, p) });
  }
  return out;
}

/** The address as the field space sees it: components grouped by kind, lines cleaned. */
function addressAttrs(a: Address): Attrs {
  const byKind = new Map<string, string[]>();
  for (const c of a.components ?? []) {
    if (c.kind === 'separator' || ADDRESS_META_ATTRS.has(c.kind) || c.kind.trim() === '') continue;
    const v = cleanLines(c.value);
    if (v === '') continue;
    const list = byKind.get(c.kind);
    if (list) list.push(v);
    else byKind.set(c.kind, [v]);
  }
  const attrs: Attrs = {};
  for (const kind of [...byKind.keys()].sort(compareAddressKinds)) attrs[kind] = (byKind.get(kind) ?? []).join('\n');
  const full = cleanLines(a.full);
  if (full !== '') attrs.full = full;
  const cc = clean(a.countryCode).toUpperCase();
  if (cc !== '') attrs.countryCode = cc;
  return addCommon(attrs, a);
}

function addressEntries(card: Card): FieldEntry[] {
  const out: FieldEntry[] = [];
  for (const [id, a] of Object.entries(card.addresses ?? {})) {
    const attrs = addressAttrs(a);
    const key = addressKey(addressFromAttrs(attrs))
      ?? (typeof attrs.countryCode === 'string' ? rawKey(attrs.countryCode) : null);
    if (key === null) continue;
    out.push({ id, key, attrs });
  }
  return out;
}

function linkEntries(card: Card): FieldEntry[] {
  const out: FieldEntry[] = [];
  for (const [id, l] of Object.entries(card.links ?? {})) {
    const uri = clean(l.uri);
    if (uri === '') continue;
    const attrs: Attrs = { uri };
    setIfText(attrs, 'kind', l.kind);
    out.push({ id, key: urlKey(uri) ?? rawKey(uri), attrs: addCommon(attrs, l) });
  }
  return out;
}

function onlineEntries(card: Card): FieldEntry[] {
  const out: FieldEntry[] = [];
  for (const [id, o] of Object.entries(card.onlineServices ?? {})) {
    const attrs: Attrs = {};
    setIfText(attrs, 'service', o.service);
    setIfText(attrs, 'uri', o.uri);
    setIfText(attrs, 'user', o.user);
    // A service name without a URI or user name holds no way to reach anyone: not an element.
    const key = onlineKey(attrsToOnline(attrs));
    if (key === null) continue;
    out.push({ id, key, attrs: addCommon(attrs, o) });
  }
  return out;
}

function keywordEntries(card: Card): FieldEntry[] {
  const out: FieldEntry[] = [];
  for (const [k, v] of Object.entries(card.keywords ?? {})) {
    if (v !== true) continue;
    const name = clean(k);
    const key = keywordKey(name);
    if (key === null) continue;
    out.push({ id: k, key, attrs: { name } });
  }
  return out;
}

/**
 * The entries of one set path, one per Card element that has any text, in the Card's map order and
 * before elements with equal keys are merged. `updateVCard` uses this to compare single vCard
 * properties with the target state.
 */
export function cardEntries(card: Card, path: SetPath, opts: CardFieldsOptions): FieldEntry[] {
  switch (path) {
    case 'emails': return emailEntries(card);
    case 'phones': return phoneEntries(card, opts);
    case 'addresses': return addressEntries(card);
    case 'links': return linkEntries(card);
    case 'online': return onlineEntries(card);
    case 'keywords': return keywordEntries(card);
  }
}

/** Merges the attributes of a later element with an equal key into the first one's. */
function mergeAttrs(first: Attrs, later: Attrs): Attrs {
  const out: Attrs = { ...first };
  for (const [k, v] of Object.entries(later)) {
    const cur = out[k];
    if (cur === undefined) out[k] = v;
    else if (Array.isArray(cur) && Array.isArray(v)) out[k] = [...new Set([...cur, ...v])].sort();
    else if (k === 'pref' && typeof cur === 'number' && typeof v === 'number') out[k] = Math.min(cur, v);
  }
  return out;
}

/** The elements of one set path keyed by identity, equal keys merged (see the module comment). */
export function cardSet(card: Card, path: SetPath, opts: CardFieldsOptions): Record<string, Attrs> {
  const out: Record<string, Attrs> = {};
  for (const e of cardEntries(card, path, opts)) {
    const prev = out[e.key];
    out[e.key] = prev === undefined ? e.attrs : mergeAttrs(prev, e.attrs);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Card → scalars

const NAME_PATHS: readonly (readonly [NameComponent['kind'], ScalarPath])[] = [
  ['title', 'name.title'],
  ['given', 'name.given'],
  ['given2', 'name.given2'],
  ['surname', 'name.surname'],
  ['surname2', 'name.surname2'],
  ['credential', 'name.credential'],
];

function firstOf<T>(rec: Record<string, T> | undefined, pick: (x: T) => string | undefined): string {
  for (const x of Object.values(rec ?? {})) {
    const v = clean(pick(x));
    if (v !== '') return v;
  }
  return '';
}

function cardScalars(card: Card): Partial<Record<ScalarPath, string>> {
  const s: Partial<Record<ScalarPath, string>> = {};
  const put = (p: ScalarPath, v: string): void => {
    if (v !== '') s[p] = v;
  };
  if (card.kind !== undefined && card.kind !== 'individual') put('kind', clean(card.kind));
  put('name.full', clean(card.name?.full));
  const comps = card.name?.components ?? [];
  for (const [kind, path] of NAME_PATHS) {
    const values = comps.filter((c) => c.kind === kind || (kind === 'credential' && c.kind === 'generation'));
    // Credentials first, then generations: "M.D. Jr." reads back from vCard's suffix component.
    if (kind === 'credential') values.sort((a, b) => (a.kind === b.kind ? 0 : a.kind === 'credential' ? -1 : 1));
    put(path, values.map((c) => clean(c.value)).filter((v) => v !== '').join(' '));
  }
  put('nickname', firstOf(card.nicknames, (n) => n.name));
  const org = Object.values(card.organizations ?? {}).find((o) => clean(o.name) !== '' || canonicalUnits((o.units ?? []).map((u) => u.name)) !== '');
  if (org) {
    put('org.name', clean(org.name));
    put('org.unit', canonicalUnits((org.units ?? []).map((u) => u.name)));
  }
  put('title', firstOf(card.titles, (t) => (t.kind === undefined || t.kind === 'title' ? t.name : undefined)));
  put('role', firstOf(card.titles, (t) => (t.kind === 'role' ? t.name : undefined)));
  put('birthday', firstOf(card.anniversaries, (a) => (a.kind === 'birth' ? formatPartialDate(a.date) ?? undefined : undefined)));
  put('anniversary', firstOf(card.anniversaries, (a) => (a.kind === 'wedding' ? formatPartialDate(a.date) ?? undefined : undefined)));
  const notes = Object.values(card.notes ?? {}).map((n) => clean(n.note)).filter((n) => n !== '');
  put('note', notes.join(NOTE_SEPARATOR));
  put('photo', firstOf(card.media, (m) => (m.kind === 'photo' ? m.uri : undefined)));
  return s;
}

/** Projects a Card into the field space. Pure and deterministic: equal contacts give equal Fields. */
export function cardToFields(card: Card, opts: CardFieldsOptions): Fields {
  const f = emptyFields();
  f.s = cardScalars(card);
  for (const p of SET_PATHS) {
    const set = cardSet(card, p, opts);
    if (Object.keys(set).length > 0) f.m[p] = set;
  }
  return f;
}

// ---------------------------------------------------------------------------------------------
// Fields → Card

function str(a: Attrs, k: string): string | undefined {
  const v = a[k];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function list(a: Attrs, k: string): string[] {
  const v = a[k];
  return Array.isArray(v) ? v : [];
}

function toRecord(keys: readonly string[]): Partial<Record<string, true>> | undefined {
  if (keys.length === 0) return undefined;
  const out: Partial<Record<string, true>> = {};
  for (const k of keys) out[k] = true;
  return out;
}

/** Copies contexts, pref and label from attrs onto an element, omitting absent ones. */
function withCommon<T extends object>(el: T, a: Attrs): T & Common {
  const out: T & Common = { ...el };
  const contexts = toRecord(list(a, 'contexts'));
  if (contexts) out.contexts = contexts;
  const pref = a.pref;
  if (typeof pref === 'number') out.pref = pref;
  const label = str(a, 'label');
  if (label !== undefined) out.label = label;
  return out;
}

function textOfKey(key: string): string {
  return key.startsWith(RAW_KEY_PREFIX) ? key.slice(RAW_KEY_PREFIX.length) : key;
}

function addressFromAttrs(a: Attrs): Address {
  const components: AddressComponent[] = [];
  for (const kind of Object.keys(a).filter((k) => !ADDRESS_META_ATTRS.has(k)).sort(compareAddressKinds)) {
    const value = str(a, kind);
    if (value !== undefined) components.push({ kind, value });
  }
  const out: Address = {};
  if (components.length > 0) out.components = components;
  const full = str(a, 'full');
  if (full !== undefined) out.full = full;
  const cc = str(a, 'countryCode');
  if (cc !== undefined) out.countryCode = cc;
  return out;
}

function attrsToOnline(a: Attrs): OnlineService {
  const out: OnlineService = {};
  const service = str(a, 'service');
  if (service !== undefined) out.service = service;
  const uri = str(a, 'uri');
  if (uri !== undefined) out.uri = uri;
  const user = str(a, 'user');
  if (user !== undefined) out.user = user;
  return out;
}

/** The Card element a set element's attributes describe (the inverse of `cardEntries`). */
export function emailFromAttrs(key: string, a: Attrs): EmailAddress {
  return withCommon({ address: str(a, 'address') ?? textOfKey(key) }, a);
}

export function phoneFromAttrs(key: string, a: Attrs): Phone {
  const el: Phone = { number: str(a, 'number') ?? textOfKey(key) };
  const features = toRecord(list(a, 'features'));
  if (features) el.features = features;
  return withCommon(el, a);
}

export function addressFromFieldAttrs(a: Attrs): Address {
  return withCommon(addressFromAttrs(a), a);
}

export function linkFromAttrs(key: string, a: Attrs): Link {
  const el: Link = { uri: str(a, 'uri') ?? textOfKey(key) };
  const kind = str(a, 'kind');
  if (kind !== undefined) el.kind = kind;
  return withCommon(el, a);
}

export function onlineFromAttrs(a: Attrs): OnlineService {
  return withCommon(attrsToOnline(a), a);
}

/**
 * cyrb53, a fast non-cryptographic 53-bit string hash: ids need to be stable and short, not secret,
 * and a crypto hash per element cost more than the rest of `fieldsToCard` together.
 */
function hash53(text: string): number {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

/**
 * A short id derived from the element key (RFC 9553 §1.4.1 Id: base64url characters; here base36),
 * so a value keeps its id whatever else changes; a clash within one map (53-bit hash) gets a
 * counter suffix.
 */
function makeIdAllocator(): (path: string, key: string) => string {
  const used = new Set<string>();
  return (path, key) => {
    const base = hash53(`${path}\n${key}`).toString(36);
    let id = base;
    for (let n = 2; used.has(id); n++) id = `${base}-${n}`;
    used.add(id);
    return id;
  };
}

function sortedEntries(rec: Record<string, Attrs> | undefined): [string, Attrs][] {
  return Object.entries(rec ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * Builds the Card a Fields value describes. Deterministic: the same Fields always give the same
 * Card JSON (elements in key order, ids derived from keys, scalar ids fixed: `nickname`, `org`,
 * `title`, `role`, `birthday`, `anniversary`, `note`, `photo`).
 */
export function fieldsToCard(fields: Fields, uid: string): Card {
  const s = fields.s;
  const card: Card = { '@type': 'Card', version: '1.0', uid };
  const kind = s.kind;
  if (kind !== undefined && CARD_KINDS.has(kind)) card.kind = kind as NonNullable<Card['kind']>;

  const components: NameComponent[] = [];
  for (const [k, path] of NAME_PATHS) {
    const v = s[path];
    if (v !== undefined && v !== '') components.push({ kind: k, value: v });
  }
  const full = s['name.full'];
  if (components.length > 0 || (full !== undefined && full !== '')) {
    card.name = {};
    if (components.length > 0) card.name.components = components;
    if (full !== undefined && full !== '') card.name.full = full;
  }
  if (s.nickname) card.nicknames = { nickname: { name: s.nickname } satisfies Nickname };
  if (s['org.name'] || s['org.unit']) {
    const org: Organization = {};
    if (s['org.name']) org.name = s['org.name'];
    if (s['org.unit']) org.units = s['org.unit'].split(ORG_UNIT_SEPARATOR).map((name) => ({ name }));
    card.organizations = { org };
  }
  const titles: Record<string, Title> = {};
  if (s.title) titles.title = { name: s.title, kind: 'title' };
  if (s.role) titles.role = { name: s.role, kind: 'role' };
  if (Object.keys(titles).length > 0) card.titles = titles;
  const anniversaries: Record<string, Anniversary> = {};
  const birth = s.birthday ? parsePartialDate(s.birthday) : null;
  if (birth) anniversaries.birthday = { kind: 'birth', date: birth };
  const wedding = s.anniversary ? parsePartialDate(s.anniversary) : null;
  if (wedding) anniversaries.anniversary = { kind: 'wedding', date: wedding };
  if (Object.keys(anniversaries).length > 0) card.anniversaries = anniversaries;
  if (s.note) card.notes = { note: { note: s.note } satisfies Note };
  if (s.photo) card.media = { photo: { kind: 'photo', uri: s.photo } satisfies Media };

  const m = fields.m;
  const emails = sortedEntries(m.emails);
  if (emails.length > 0) {
    const id = makeIdAllocator();
    card.emails = Object.fromEntries(emails.map(([k, a]) => [id('emails', k), emailFromAttrs(k, a)]));
  }
  const phones = sortedEntries(m.phones);
  if (phones.length > 0) {
    const id = makeIdAllocator();
    card.phones = Object.fromEntries(phones.map(([k, a]) => [id('phones', k), phoneFromAttrs(k, a)]));
  }
  const addresses = sortedEntries(m.addresses);
  if (addresses.length > 0) {
    const id = makeIdAllocator();
    card.addresses = Object.fromEntries(addresses.map(([k, a]) => [id('addresses', k), addressFromFieldAttrs(a)]));
  }
  const links = sortedEntries(m.links);
  if (links.length > 0) {
    const id = makeIdAllocator();
    card.links = Object.fromEntries(links.map(([k, a]) => [id('links', k), linkFromAttrs(k, a)]));
  }
  const online = sortedEntries(m.online);
  if (online.length > 0) {
    const id = makeIdAllocator();
    card.onlineServices = Object.fromEntries(online.map(([k, a]) => [id('online', k), onlineFromAttrs(a)]));
  }
  const keywords = sortedEntries(m.keywords);
  if (keywords.length > 0) {
    card.keywords = keywordMap();
    for (const [k, a] of keywords) card.keywords[str(a, 'name') ?? k] = true;
  }
  return card;
}

// ---------------------------------------------------------------------------------------------
// Summary

const ANY_SPACE = /\s+/gu;
const SUMMARY_MAX = 120;

function displayName(card: Card): string {
  const full = clean(card.name?.full);
  if (full !== '') return full;
  const comps = card.name?.components ?? [];
  const pick = (k: string): string[] => comps.filter((c) => c.kind === k).map((c) => clean(c.value)).filter((v) => v !== '');
  const built = [...pick('given'), ...pick('given2'), ...pick('surname'), ...pick('surname2')].join(' ');
  if (built !== '') return built;
  return firstOf(card.nicknames, (n) => n.name) || firstOf(card.organizations, (o) => o.name);
}

function byPref<T extends { pref?: number }>(rec: Record<string, T> | undefined): T[] {
  return Object.values(rec ?? {}).sort((a, b) => (a.pref ?? 101) - (b.pref ?? 101));
}

/**
 * A one-line human label for CLI output and error messages: `Ann Lee <ann@example.com>`, using the
 * most preferred e-mail (else phone); falls back to whatever identifies the card, then its uid.
 */
export function cardSummary(card: Card): string {
  const name = displayName(card);
  const email = byPref(card.emails).map((e) => clean(e.address)).find((x) => x !== '');
  const phone = byPref(card.phones).map((p) => clean(p.number)).find((x) => x !== '');
  const contact = email ?? phone;
  let out: string;
  if (name !== '' && contact !== undefined) out = `${name} <${contact}>`;
  else if (name !== '') out = name;
  else if (contact !== undefined) out = `<${contact}>`;
  else out = card.uid ? `(no name, uid ${card.uid})` : '(empty card)';
  out = out.replace(ANY_SPACE, ' ');
  return out.length > SUMMARY_MAX ? `${out.slice(0, SUMMARY_MAX - 1)}…` : out;
}
