/**
 * vCard 2.1 / 3.0 / 4.0 ⇄ JSContact Card, following RFC 9555 (JSContact: Converting from and to
 * vCard) for the subset of properties Hubsync syncs. Content lines are parsed and written by ical.js
 * (`ICAL.parse.property`, `ICAL.stringify.property`): parameters, escaping, structured and
 * multi-valued values, folding at 75 octets. This module does three things around it:
 *
 * 1. Framing. It finds BEGIN:VCARD/END:VCARD and unfolds lines itself (RFC 6350 §3.2: a CRLF followed
 *    by one space or tab is removed) instead of handing the whole text to `ICAL.parse`, because:
 *    untouched properties must keep their exact text in `updateVCard` (so the raw lines of each
 *    property are needed); `ICAL.parse` picks the vCard 4.0 rules only when VERSION is the first
 *    property and keeps the first card's rules for every later card of a multi-card text; and one
 *    malformed line makes `ICAL.parse` throw for the whole text, where we report it and go on.
 * 2. vCard 2.1 (and stray QUOTED-PRINTABLE values) are rewritten to 3.0 first (`vcard21.ts`).
 * 3. The mapping to and from the Card (RFC 9555 §2 and §3), commented per property below.
 *
 * Normalisation ical.js applies when it writes a property (only properties this module writes or
 * rewrites; untouched ones keep their text byte for byte in `updateVCard`):
 * - property and parameter names and group names come out in upper case (`ITEM1.EMAIL;TYPE=work`);
 * - parameter values are quoted only when they contain `,` `;` or `:`; a `"` becomes the RFC 6868
 *   `^'` escape;
 * - lines are folded at 75 octets with CRLF + space, never inside a UTF-8 sequence.
 * We override ical.js in a few places to stay RFC-conformant and readable by other clients: URI
 * values are written without comma escapes (ical.js 4.0 escapes commas, which breaks
 * `data:image/jpeg;base64,…` for other readers; RFC 6350 §6.2.4 shows them unescaped), 3.0 text
 * escapes `;` as RFC 2426 §4 requires, dates are written in the forms this module chooses, and a
 * 4.0 TEL URI is written with an explicit `VALUE=uri` (the RFC 6350 §6.4.1 default is text).
 * When reading, `\;` is unescaped in every text value (ical.js leaves it in non-structured ones such
 * as NOTE). Parameter values are written with `\\` and `\n` escapes (not RFC 6868 `^n`, which few
 * readers know) and read with both.
 */
import ICAL from 'ical.js';
import type {
  Address, AddressComponent, Anniversary, Card, Contexts, EmailAddress, Link, Media, NameComponent,
  Nickname, Note, OnlineService, Organization, PartialDate, Phone, Title,
} from './card.js';
import { keywordMap } from './card.js';
import { ALL_PATHS, isScalarPath, stableStringify, type FieldPath, type Fields, type SetPath } from './fields.js';
import { cardEntries, cardToFields, formatPartialDate, parsePartialDate, validPref, type CardFieldsOptions } from './card-fields.js';
import { compareAddressKinds, emailKey, isPlausiblePhone } from './normalize.js';
import { vcard21ToV3Lines } from './vcard21.js';

export type VCardVersion = '2.1' | '3.0' | '4.0';

export interface VCardProblem {
  /** The vCard property the problem is about (`EMAIL`, `BDAY`), or `VCARD` for the whole card. */
  field: string;
  message: string;
}

export interface ParsedVCard {
  card: Card;
  /** The version the text declared (2.1 is read through a 3.0 rewrite). */
  version: VCardVersion;
  /** Values that could not be read or look wrong; the rest of the card is still returned. */
  problems: VCardProblem[];
}

export interface ParseVCardOptions {
  /**
   * When given, TEL values libphonenumber does not read as a phone number for this region are
   * reported (`isPlausiblePhone`); the readings are memoised, so `cardToFields` reuses them.
   */
  defaultRegion?: string;
}

export interface UpdateVCardOptions {
  /** Region for phone keys when comparing the existing phones with the new ones. */
  defaultRegion?: string;
}

// =============================================================================================
// ical.js design sets

type Params = Record<string, string | string[]>;
/** A jCard property (RFC 7095 §3.3): name, parameters, value type, value(s). */
type JProp = [string, Params, string, ...unknown[]];

const TEXT_ESCAPES = /\\([\\;,nN])/g;

/** RFC 6350 §3.4 / RFC 2426 §4 text unescaping, in one pass (so `\\;` stays a backslash + `;`). */
function unescapeText(v: string): string {
  if (!v.includes('\\')) return v;
  return v.replace(TEXT_ESCAPES, (_m, c: string) => (c === 'n' || c === 'N' ? '\n' : c));
}

/** Escapes text for a value ical.js writes verbatim (X-ABLabel, the 3.0 IMPP). */
function escapeText(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/;/g, '\\;').replace(/,/g, '\\,').replace(/\r\n?|\n/g, '\\n');
}

/**
 * Text reading for property values. ical.js also runs the text type's `fromICAL` on parameter values
 * (with `structured` undefined, parse._parseParameters) and then locates the property value by the
 * length of the *decoded* parameter, so any unescaping there shifts the value start: parameter values
 * are left alone here and unescaped afterwards (`paramValues`). Parameter values are backslash-
 * escaped in practice (RFC 6350 §6.3.1's own LABEL example writes `\n`), besides RFC 6868 carets,
 * which ical.js decodes.
 */
const READ_TEXT = {
  matches: /.*/,
  fromICAL(value: string, structured?: string | false): string {
    return structured === undefined ? value : unescapeText(value);
  },
};

/** Parameter values we write: backslashes and line breaks escaped the RFC 6350 §6.3.1 way. */
function escapeParam(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\r\n?|\n/g, '\\n');
}
const WRITE_TEXT_3 = {
  matches: /.*/,
  toICAL(value: string): string {
    return escapeText(value);
  },
};
/**
 * 4.0 URIs: ical.js would escape commas (`data:image/png;base64\\,…`), which other readers keep
 * literally; RFC 6350 §6.2.4 writes data: URIs unescaped. Only backslashes and line breaks (never
 * valid in a URI, but possible in what people type) are escaped, which ical.js reads back.
 */
const WRITE_URI_4 = {
  toICAL(value: string): string {
    return value.replace(/\\/g, '\\\\').replace(/\r\n?|\n/g, '\\n');
  },
};
/** A value type ical.js passes through unchanged (no toICAL/fromICAL). */
const PASS = {};

const V4 = ICAL.design.vcard;
const V3 = ICAL.design.vcard3;
const READ4 = { ...V4, value: { ...V4.value, text: READ_TEXT } };
const READ3 = { ...V3, value: { ...V3.value, text: READ_TEXT } };
const WRITE4 = {
  ...V4,
  value: { ...V4.value, uri: WRITE_URI_4, date: PASS, 'date-and-or-time': PASS, timestamp: PASS },
  property: { ...V4.property, tel: { defaultType: 'text', allowedTypes: ['uri', 'text'] } },
};
const WRITE3 = {
  ...V3,
  value: { ...V3.value, text: WRITE_TEXT_3, date: PASS, 'date-time': PASS, binary: PASS },
};

function stringifyProp(p: JProp, version: '3.0' | '4.0'): string {
  return ICAL.stringify.property(p, version === '4.0' ? WRITE4 : WRITE3, false);
}

// =============================================================================================
// Framing: cards and logical lines

interface SourceLine {
  /** The physical lines as written (joined by the text's line break); null for rewritten 2.1 lines. */
  raw: string | null;
  /** The unfolded content line. */
  text: string;
  /** A line of a nested component: kept, never parsed. */
  nested: boolean;
}

interface SourceCard {
  lines: SourceLine[];
  version: VCardVersion;
  problems: VCardProblem[];
  /** Physical line indexes of BEGIN and END (END is -1 when missing). */
  begin: number;
  end: number;
}

interface Source {
  physical: string[];
  newline: string;
  cards: SourceCard[];
}

const PHYSICAL_LINES = /\r\n|\n|\r/;
const BEGIN_LINE = /^begin:vcard\s*$/i;
const END_LINE = /^end:vcard\s*$/i;
const VERSION_LINE = /^version\s*:\s*(.*?)\s*$/i;
const QP_HINT = /quoted-printable/i;

function splitSource(text: string): Source {
  const t = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const mayHaveQp = QP_HINT.test(t);
  const physical = t.split(PHYSICAL_LINES);
  const newline = t.includes('\r\n') ? '\r\n' : t.includes('\n') ? '\n' : t.includes('\r') ? '\r' : '\r\n';
  const cards: SourceCard[] = [];
  let i = 0;
  while (i < physical.length) {
    if (!BEGIN_LINE.test(physical[i] ?? '')) {
      i++;
      continue;
    }
    const begin = i;
    let depth = 1;
    let j = i + 1;
    for (; j < physical.length; j++) {
      const l = physical[j] ?? '';
      if (BEGIN_LINE.test(l)) depth++;
      else if (END_LINE.test(l) && --depth === 0) break;
    }
    const end = j < physical.length ? j : -1;
    cards.push(buildSourceCard(physical.slice(begin + 1, end < 0 ? physical.length : end), begin, end, newline, mayHaveQp));
    i = end < 0 ? physical.length : end + 1;
  }
  return { physical, newline, cards };
}

function readVersion(content: readonly string[], problems: VCardProblem[]): VCardVersion {
  for (const l of content) {
    const m = VERSION_LINE.exec(l);
    if (!m) continue;
    const v = m[1] ?? '';
    if (v === '4.0' || v === '3.0' || v === '2.1') return v;
    problems.push({ field: 'VERSION', message: `unknown version "${v}", read as ${v.startsWith('4') ? '4.0' : v.startsWith('2') ? '2.1' : '3.0'}` });
    return v.startsWith('4') ? '4.0' : v.startsWith('2') ? '2.1' : '3.0';
  }
  problems.push({ field: 'VERSION', message: 'missing, read as vCard 3.0' });
  return '3.0';
}

function hasQuotedPrintable(content: readonly string[]): boolean {
  for (const l of content) {
    if (!QP_HINT.test(l)) continue;
    const colon = l.indexOf(':');
    if (colon > 0 && QP_HINT.test(l.slice(0, colon))) return true;
  }
  return false;
}

function buildSourceCard(content: string[], begin: number, end: number, newline: string, mayHaveQp: boolean): SourceCard {
  const problems: VCardProblem[] = [];
  if (end < 0) problems.push({ field: 'VCARD', message: 'END:VCARD missing; read to the end of the text' });
  const version = readVersion(content, problems);
  const lines: SourceLine[] = [];
  if (version === '2.1' || (mayHaveQp && hasQuotedPrintable(content))) {
    const conv = vcard21ToV3Lines(content, version === '2.1');
    problems.push(...conv.problems);
    for (const l of conv.lines) lines.push({ raw: l.nested ? l.text : null, text: l.text, nested: l.nested });
    return { lines, version, problems, begin, end };
  }
  let depth = 0;
  let cur: SourceLine | null = null;
  for (const l of content) {
    if (depth > 0 || BEGIN_LINE.test(l)) {
      if (BEGIN_LINE.test(l)) depth++;
      else if (END_LINE.test(l)) depth--;
      cur = null;
      lines.push({ raw: l, text: l, nested: true });
      continue;
    }
    if (l === '') continue;
    const first = l.charCodeAt(0);
    if (first === 0x20 || first === 0x09) {
      // RFC 6350 §3.2 unfolding: drop the line break and the one whitespace character.
      if (cur) {
        cur.text += l.slice(1);
        cur.raw += newline + l;
      }
      continue;
    }
    cur = { raw: l, text: l, nested: false };
    lines.push(cur);
  }
  return { lines, version, problems, begin, end };
}

// =============================================================================================
// Content lines → properties

interface Prop {
  /** Lower-case property name without the group. */
  name: string;
  /** Lower-case group name, or null. */
  group: string | null;
  params: Params;
  type: string;
  values: unknown[];
}

function toProp(j: unknown): Prop | null {
  if (!Array.isArray(j) || typeof j[0] !== 'string' || typeof j[2] !== 'string') return null;
  const params: Params = {};
  let group: string | null = null;
  const raw: unknown = j[1];
  if (raw !== null && typeof raw === 'object') {
    for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
      if (k === 'group' && typeof v === 'string') group = v.toLowerCase();
      else if (typeof v === 'string') params[k] = v;
      else if (Array.isArray(v)) params[k] = v.map((x) => String(x));
      else if (v !== undefined && v !== null) params[k] = String(v);
    }
  }
  return { name: j[0].toLowerCase(), group, params, type: j[2], values: j.slice(3) };
}

/** The value part of a content line as written (after the first `:` outside quotes), for messages. */
function rawValue(text: string): string {
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') quoted = !quoted;
    else if (c === ':' && !quoted) return text.slice(i + 1).trim();
  }
  return '';
}

function lineName(text: string): string {
  const m = /^(?:[^.;:]*\.)?([^;:]*)/.exec(text);
  return (m?.[1] ?? '').trim().toUpperCase() || 'VCARD';
}

/**
 * ical.js splits structured and list values at any `;`/`,` not directly preceded by a backslash,
 * so an escaped backslash before a separator (`a\\;b`: the text `a\` then a new component) is
 * misread as an escaped separator. Escaped backslash pairs in the value are therefore swapped for a
 * Unicode noncharacter before ical.js parses the line, and swapped back in the values read.
 */
const BACKSLASH_STANDIN = '\ufdd0';
const ESCAPED_BACKSLASH = /\\\\/g;
const STANDIN = /\ufdd0/g;

function shieldBackslashes(text: string): string {
  if (!text.includes('\\\\')) return text;
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') quoted = !quoted;
    else if (c === ':' && !quoted) return text.slice(0, i + 1) + text.slice(i + 1).replace(ESCAPED_BACKSLASH, BACKSLASH_STANDIN);
  }
  return text;
}

function unshield(v: string): string {
  return v.includes(BACKSLASH_STANDIN) ? v.replace(STANDIN, '\\') : v;
}

function parseLine(line: SourceLine, version: VCardVersion, problems: VCardProblem[]): Prop | null {
  try {
    const prop = toProp(ICAL.parse.property(shieldBackslashes(line.text), version === '4.0' ? READ4 : READ3));
    if (prop === null) problems.push({ field: lineName(line.text), message: 'unreadable content line, kept as is' });
    return prop;
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    problems.push({ field: lineName(line.text), message: `unreadable content line, kept as is (${why})` });
    return null;
  }
}

function paramValues(p: Prop, name: string): string[] {
  const v = p.params[name];
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).map(unescapeText);
}

function paramText(p: Prop, name: string): string | undefined {
  const v = paramValues(p, name)[0];
  return v === undefined || v.trim() === '' ? undefined : v;
}

function typesOf(p: Prop): string[] {
  const out: string[] = [];
  for (const v of paramValues(p, 'type')) {
    if (!v.includes(',')) {
      const t = v.trim();
      if (t !== '') out.push(t.toLowerCase());
      continue;
    }
    for (const part of v.split(',')) if (part.trim() !== '') out.push(part.trim().toLowerCase());
  }
  return out;
}

function valueToText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return v.map(valueToText).join(',');
  return v === undefined || v === null ? '' : String(v);
}

/** The whole value as text (a multi-value joined by commas); raw-typed values unescaped. */
function textOf(p: Prop): string {
  const t = p.values.map(valueToText).join(',');
  return unshield(p.type === 'unknown' ? unescapeText(t) : t);
}

/** The values of a multi-valued property (CATEGORIES, NICKNAME). */
function listOf(p: Prop): string[] {
  const out: string[] = [];
  for (const v of p.values) {
    if (Array.isArray(v)) for (const x of v) out.push(valueToText(x));
    else out.push(valueToText(v));
  }
  return (p.type === 'unknown' ? out.flatMap((x) => unescapeText(x).split(',')) : out).map(unshield);
}

/** The components of a structured value, each a list of values (N, ADR, ORG). */
function structuredOf(p: Prop): string[][] {
  const v = p.values[0];
  const comps: unknown[] = Array.isArray(v) ? v : [v];
  return comps.map((c) => (Array.isArray(c) ? c.map((x) => unshield(valueToText(x))) : [unshield(valueToText(c))]));
}

// =============================================================================================
// Mapping tables (RFC 9555 §2.3.20 TYPE, §2.7.6 TEL table 3; RFC 6350 §5.6)

/** vCard TYPE values that convert to JSContact contexts (RFC 9555 §2.3.20; RFC 9554 §5 for ADR). */
const TYPE_TO_CONTEXT: Readonly<Record<string, string>> = { home: 'private', work: 'work', billing: 'billing', delivery: 'delivery' };
const CONTEXT_TO_TYPE: Readonly<Record<string, string>> = { private: 'home', work: 'work', billing: 'billing', delivery: 'delivery' };
/** RFC 9555 §2.7.6 table 3 (TEL TYPE → Phone features); `main` is Apple's spelling. */
const TYPE_TO_FEATURE: Readonly<Record<string, string>> = {
  cell: 'mobile', fax: 'fax', 'main-number': 'main-number', main: 'main-number', pager: 'pager',
  text: 'text', textphone: 'textphone', video: 'video', voice: 'voice',
};
const FEATURE_TO_TYPE: Readonly<Record<string, string>> = {
  mobile: 'cell', fax: 'fax', 'main-number': 'main-number', pager: 'pager', text: 'text',
  textphone: 'textphone', video: 'video', voice: 'voice',
};
const CARD_KINDS: ReadonlySet<string> = new Set(['individual', 'group', 'org', 'location', 'device', 'application']);
/**
 * Apple's built-in labels are written `_$!<Home>!$_` (localised by the client). The model holds the
 * bare word; it is wrapped again on the way out so Apple clients still show their own translation.
 */
const APPLE_LABEL = /^_\$!<(.*)>!\$_$/;
const APPLE_BUILTIN_LABELS: ReadonlySet<string> = new Set([
  'Home', 'Work', 'Other', 'Mobile', 'Main', 'HomeFAX', 'WorkFAX', 'OtherFAX', 'Pager', 'iPhone',
  'HomePage', 'School', 'Anniversary', 'Father', 'Mother', 'Parent', 'Brother', 'Sister', 'Child',
  'Friend', 'Spouse', 'Partner', 'Assistant', 'Manager', 'Sibling',
]);
const ADR_SLOTS: readonly string[] = ['postOfficeBox', 'apartment', 'name', 'locality', 'region', 'postcode', 'country'];
/** Where RFC 9553 address kinds go in the 7 classic ADR components (RFC 9555 §2.6.1 table 2). */
const KIND_TO_ADR_SLOT: Readonly<Record<string, number>> = {
  postOfficeBox: 0, apartment: 1, room: 1, floor: 1, building: 1,
  name: 2, number: 2, block: 2, direction: 2, landmark: 2, subdistrict: 2, district: 2,
  locality: 3, region: 4, postcode: 5, country: 6,
};

function contextsOf(types: readonly string[]): Contexts | undefined {
  let out: Contexts | undefined;
  for (const t of types) {
    const c = TYPE_TO_CONTEXT[t];
    if (c !== undefined) (out ??= {})[c] = true;
  }
  return out;
}

function prefOf(p: Prop, types: readonly string[]): number | undefined {
  const raw = paramText(p, 'pref');
  if (raw !== undefined) {
    const n = Number(raw.trim());
    if (validPref(n)) return n;
  }
  // vCard 3.0 (RFC 2426 §3.3.1) marks the preferred value with TYPE=pref: the top preference.
  return types.includes('pref') ? 1 : undefined;
}

function decodeLabel(label: string | undefined): string | undefined {
  if (label === undefined) return undefined;
  const m = APPLE_LABEL.exec(label.trim());
  const t = (m ? (m[1] ?? '') : label).trim();
  return t === '' ? undefined : t;
}

function encodeLabel(label: string): string {
  return APPLE_BUILTIN_LABELS.has(label) ? `_$!<${label}>!$_` : label;
}

/** Adds contexts, pref and a group label to an element being read. */
function withCommon<T extends object>(el: T, p: Prop, types: readonly string[], label: string | undefined): T & { contexts?: Contexts; pref?: number; label?: string } {
  const out: T & { contexts?: Contexts; pref?: number; label?: string } = el;
  const contexts = contextsOf(types);
  if (contexts) out.contexts = contexts;
  const pref = prefOf(p, types);
  if (pref !== undefined) out.pref = pref;
  if (label !== undefined) out.label = label;
  return out;
}

const MEDIA_SNIFF: readonly (readonly [string, string])[] = [
  ['/9j/', 'image/jpeg'], ['iVBORw0KGgo', 'image/png'], ['R0lGOD', 'image/gif'], ['UklGR', 'image/webp'], ['Qk', 'image/bmp'],
];

/** The media type of a 3.0 binary PHOTO: TYPE=JPEG (RFC 2426 §3.1.4) or a full type; else sniffed. */
function mediaTypeOf(typeParam: string | undefined, base64: string): string {
  const t = typeParam?.trim().toLowerCase();
  if (t) return t.includes('/') ? t : `image/${t}`;
  for (const [prefix, mt] of MEDIA_SNIFF) if (base64.startsWith(prefix)) return mt;
  return 'application/octet-stream';
}

const LOOKS_LIKE_URI = /^[a-z][a-z0-9+.-]*:/i;
const WHITESPACE_ALL = /\s+/g;
const TEL_PREFIX = /^tel:/i;
/** A global number that is a valid RFC 3966 tel URI body: written as `TEL;VALUE=uri:tel:…` in 4.0. */
const TEL_URI_BODY = /^\+[0-9().-]*[0-9][0-9().-]*(?:;ext=[0-9]+)?$/;
const REV_FORM = /^(\d{4})-?(\d{2})-?(\d{2})(?:T(\d{2}):?(\d{2})(?::?(\d{2}))?(?:[.,]\d+)?(Z|[+-]\d{2}(?::?\d{2})?)?)?$/;

/** REV (RFC 6350 §6.7.4 timestamp; RFC 2426 date-time) → RFC 9553 UTCDateTime `YYYY-MM-DDTHH:MM:SSZ`. */
const UTC_EXTENDED = /^\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\dZ$/;

function parseTimestamp(text: string): string | null {
  // Fast path: the form ical.js hands back for REV (and the one we write).
  if (UTC_EXTENDED.test(text)) return text;
  const m = REV_FORM.exec(text.trim());
  if (!m) return null;
  const [y, mo, d, h, mi, sec] = [m[1], m[2], m[3], m[4], m[5], m[6]].map((x) => Number(x ?? '0')) as [number, number, number, number, number, number];
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return null;
  let ms = Date.UTC(y, mo - 1, d, h, mi, sec);
  const zone = m[7];
  if (zone !== undefined && zone !== 'Z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    ms -= sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4) || '0')) * 60_000;
  }
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The IMPP URI written for a service known only by name and user, so it can be recognised again. */
function synthesizedImppUri(service: string | undefined, user: string): string {
  const scheme = (service ?? '').toLowerCase().replace(/[^a-z0-9+.-]/g, '');
  return `${/^[a-z]/.test(scheme) ? scheme : 'x-unknown'}:${user}`;
}

// =============================================================================================
// Properties → Card

type ScalarFamily = 'kind' | 'fn' | 'n' | 'nickname' | 'org' | 'title' | 'role' | 'bday' | 'anniversary' | 'note' | 'photo' | 'categories';
type ElementFamily = 'email' | 'tel' | 'adr' | 'url' | 'impp';
type Family = ScalarFamily | ElementFamily | 'rev' | 'companion' | 'adrlabel';

interface Role {
  family: Family;
  /** The element id in the Card map (element families only). */
  id?: string;
  /** An FN with DERIVED=TRUE (RFC 9554 §4.4): not the person's chosen full name. */
  derived?: boolean;
}

interface ReadCard {
  source: Source;
  card: SourceCard;
  props: (Prop | null)[];
  roles: (Role | null)[];
  result: ParsedVCard;
}

interface Parts {
  uid?: string;
  kind?: { value: NonNullable<Card['kind']>; rank: number };
  full?: { value: string; rank: number };
  components: NameComponent[];
  nicknames: Record<string, Nickname>;
  organizations: Record<string, Organization>;
  titles: Record<string, Title>;
  emails: Record<string, EmailAddress>;
  phones: Record<string, Phone>;
  addresses: Record<string, Address>;
  links: Record<string, Link>;
  onlineServices: Record<string, OnlineService>;
  notes: Record<string, Note>;
  media: Record<string, Media>;
  anniversaries: Record<string, Anniversary>;
  keywords: Partial<Record<string, true>>;
  updated?: string;
  hasN: boolean;
}

function nonEmpty(values: readonly string[]): string[] {
  const out: string[] = [];
  for (const v of values) {
    const t = v.trim();
    if (t !== '') out.push(t);
  }
  return out;
}

function readCard(source: Source, sc: SourceCard, opts: ParseVCardOptions): ReadCard {
  const problems = [...sc.problems];
  const props = sc.lines.map((l) => (l.nested ? null : parseLine(l, sc.version, problems)));
  const roles: (Role | null)[] = props.map(() => null);

  // Apple groups: item1.EMAIL + item1.X-ABLabel (RFC 9555 §2.11.11), item1.ADR + item1.X-ABADR (country code).
  const groupLabel = new Map<string, string>();
  const groupCountry = new Map<string, string>();
  props.forEach((p, i) => {
    if (!p || p.group === null) return;
    if (p.name === 'x-ablabel') {
      roles[i] = { family: 'companion' };
      const label = decodeLabel(textOf(p));
      if (label !== undefined && !groupLabel.has(p.group)) groupLabel.set(p.group, label);
    } else if (p.name === 'x-abadr') {
      roles[i] = { family: 'companion' };
      const cc = textOf(p).trim().toUpperCase();
      if (cc !== '' && !groupCountry.has(p.group)) groupCountry.set(p.group, cc);
    }
  });

  const parts: Parts = {
    components: [], nicknames: {}, organizations: {}, titles: {}, emails: {}, phones: {}, addresses: {},
    links: {}, onlineServices: {}, notes: {}, media: {}, anniversaries: {}, keywords: keywordMap(), hasN: false,
  };
  const counters = new Map<string, number>();
  const nextId = (prefix: string): string => {
    const n = (counters.get(prefix) ?? 0) + 1;
    counters.set(prefix, n);
    return `${prefix}${n}`;
  };
  const problem = (p: Prop, message: string): void => {
    problems.push({ field: p.name.toUpperCase(), message });
  };
  const setKind = (p: Prop, value: string, rank: number): void => {
    const k = value.trim().toLowerCase();
    if (!CARD_KINDS.has(k)) {
      problem(p, `unknown kind "${value.trim()}", ignored`);
      return;
    }
    if (!parts.kind || parts.kind.rank < rank) parts.kind = { value: k as NonNullable<Card['kind']>, rank };
  };
  const readDate = (p: Prop, i: number): PartialDate | null => {
    const d = parsePartialDate(textOf(p));
    if (!d) {
      problem(p, `not a date: "${rawValue(sc.lines[i]?.text ?? '')}"`);
      return null;
    }
    // Apple writes a birthday without a year as 1604-MM-DD with X-APPLE-OMIT-YEAR=1604.
    const omit = paramText(p, 'x-apple-omit-year');
    if (omit !== undefined && d.year !== undefined && Number(omit) === d.year) delete d.year;
    return d;
  };

  props.forEach((p, i) => {
    if (!p || roles[i]) return;
    const label = p.group !== null ? groupLabel.get(p.group) : undefined;
    switch (p.name) {
      case 'uid': {
        if (parts.uid === undefined) parts.uid = textOf(p).trim();
        return;
      }
      case 'kind': // RFC 9555 §2.4.2
        roles[i] = { family: 'kind' };
        setKind(p, textOf(p), 3);
        return;
      case 'x-addressbookserver-kind': // Apple's 3.0 spelling of KIND
        roles[i] = { family: 'kind' };
        setKind(p, textOf(p), 2);
        return;
      case 'x-abshowas': // Apple: a company card
        roles[i] = { family: 'kind' };
        if (textOf(p).trim().toUpperCase() === 'COMPANY') setKind(p, 'org', 1);
        return;
      case 'fn': { // RFC 9555 §2.5.2: the FN with the fewest parameters, preferring no LANGUAGE
        const derived = (paramText(p, 'derived') ?? '').toLowerCase() === 'true';
        roles[i] = { family: 'fn', derived };
        const value = textOf(p).trim();
        if (derived || value === '') return;
        const rank = -Object.keys(p.params).length - (p.params.language !== undefined ? 100 : 0);
        if (!parts.full || parts.full.rank < rank) parts.full = { value, rank };
        return;
      }
      case 'n': { // RFC 9555 §2.5.5 table 1; RFC 9554 §2.2 adds secondary surname and generation
        roles[i] = { family: 'n' };
        if (parts.hasN) return;
        parts.hasN = true;
        const c = structuredOf(p).map(nonEmpty);
        const sur2 = c[5] ?? [];
        const gen = c[6] ?? [];
        const push = (kind: NameComponent['kind'], values: readonly string[]): void => {
          for (const value of values) parts.components.push({ kind, value });
        };
        push('surname', (c[0] ?? []).filter((v) => !sur2.includes(v)));
        push('given', c[1] ?? []);
        push('given2', c[2] ?? []);
        push('title', c[3] ?? []);
        push('credential', (c[4] ?? []).filter((v) => !gen.includes(v)));
        push('surname2', sur2);
        push('generation', gen);
        return;
      }
      case 'nickname': // RFC 9555 §2.5.6: one Nickname per value
        roles[i] = { family: 'nickname' };
        for (const name of nonEmpty(listOf(p))) parts.nicknames[nextId('n')] = { name };
        return;
      case 'org': { // RFC 9555 §2.9.4: organization name, then units
        roles[i] = { family: 'org' };
        const c = structuredOf(p).map((vals) => vals.join(',').trim());
        const org: Organization = {};
        if (c[0]) org.name = c[0];
        const units = c.slice(1).filter((u) => u !== '').map((name) => ({ name }));
        if (units.length > 0) org.units = units;
        if (org.name !== undefined || org.units) parts.organizations[nextId('org')] = org;
        return;
      }
      case 'title':
      case 'role': { // RFC 9555 §2.9.6: Title objects of kind title / role
        roles[i] = { family: p.name };
        const name = textOf(p).trim();
        if (name !== '') parts.titles[nextId('t')] = { name, kind: p.name };
        return;
      }
      case 'bday': { // RFC 9555 §2.5.1: kind birth
        roles[i] = { family: 'bday' };
        const date = readDate(p, i);
        if (date) parts.anniversaries[nextId('d')] = { kind: 'birth', date };
        return;
      }
      case 'anniversary': // RFC 9555 §2.5.1: kind wedding
      case 'x-anniversary': { // its 3.0 spelling (Evolution, KAddressBook)
        roles[i] = { family: 'anniversary' };
        const date = readDate(p, i);
        if (date) parts.anniversaries[nextId('d')] = { kind: 'wedding', date };
        return;
      }
      case 'note': { // RFC 9555 §2.11.4 (a 3.0 NOTE with unescaped commas arrives as a list: rejoin)
        roles[i] = { family: 'note' };
        const note = textOf(p).trim();
        if (note !== '') parts.notes[nextId('note')] = { note };
        return;
      }
      case 'photo': { // RFC 9555 §2.5.7; a 3.0 inline photo becomes a data: URI (RFC 2397)
        roles[i] = { family: 'photo' };
        const encoding = (paramText(p, 'encoding') ?? '').toLowerCase();
        const value = textOf(p).trim();
        if (value === '') return;
        let uri: string;
        if (encoding === 'b' || encoding === 'base64' || (p.type === 'binary' && !LOOKS_LIKE_URI.test(value))) {
          const data = value.replace(WHITESPACE_ALL, '');
          uri = `data:${mediaTypeOf(paramText(p, 'type'), data)};base64,${data}`;
        } else {
          uri = value;
        }
        const media: Media = { kind: 'photo', uri };
        const mt = paramText(p, 'mediatype');
        if (mt !== undefined) media.mediaType = mt;
        parts.media[nextId('m')] = media;
        return;
      }
      case 'categories': // RFC 9555 §2.11.1: one keyword per value
        roles[i] = { family: 'categories' };
        for (const k of nonEmpty(listOf(p))) parts.keywords[k] = true;
        return;
      case 'rev': { // RFC 9555 §2.11.6: updated
        roles[i] = { family: 'rev' };
        const ts = parseTimestamp(textOf(p));
        if (ts === null) problem(p, `not a timestamp: "${rawValue(sc.lines[i]?.text ?? '')}"`);
        else if (parts.updated === undefined) parts.updated = ts;
        return;
      }
      case 'email': { // RFC 9555 §2.7.1
        const id = nextId('e');
        roles[i] = { family: 'email', id };
        const address = textOf(p).trim();
        if (address === '') return;
        if (emailKey(address) === null) problem(p, `not an e-mail address: "${address}" (kept as written)`);
        parts.emails[id] = withCommon({ address }, p, typesOf(p), label);
        return;
      }
      case 'tel': { // RFC 9555 §2.7.6; it keeps a `tel:` URI as the number, we drop the prefix so the number reads the same on every spoke
        const id = nextId('p');
        roles[i] = { family: 'tel', id };
        const number = textOf(p).trim().replace(TEL_PREFIX, '');
        if (number === '') return;
        if (!/\d/.test(number)) problem(p, `no digits in phone number "${number}" (kept as written)`);
        else if (opts.defaultRegion !== undefined && !isPlausiblePhone(number, opts.defaultRegion)) {
          // With a country code the default region played no part: naming it would mislead.
          const where = number.startsWith('+') ? '' : ` for region ${opts.defaultRegion}`;
          problem(p, `"${number}" is not a valid phone number${where} (kept as written)`);
        }
        const types = typesOf(p);
        const el: Phone = { number };
        for (const t of types) {
          const f = TYPE_TO_FEATURE[t];
          if (f !== undefined) (el.features ??= {})[f] = true;
        }
        parts.phones[id] = withCommon(el, p, types, label);
        return;
      }
      case 'adr': { // RFC 9555 §2.6.1 table 2 (the classic 7 components; RFC 9554 ones mirror them)
        const id = nextId('a');
        roles[i] = { family: 'adr', id };
        const c = structuredOf(p);
        const components: AddressComponent[] = [];
        ADR_SLOTS.forEach((kind, slot) => {
          for (const value of nonEmpty(c[slot] ?? [])) components.push({ kind, value });
        });
        const el: Address = {};
        if (components.length > 0) el.components = components;
        const full = paramText(p, 'label');
        if (full !== undefined) el.full = full.trim();
        const cc = paramText(p, 'cc') ?? (p.group !== null ? groupCountry.get(p.group) : undefined);
        if (cc !== undefined) el.countryCode = cc.trim().toUpperCase();
        if (!el.components && el.full === undefined && el.countryCode === undefined) return;
        parts.addresses[id] = withCommon(el, p, typesOf(p), label);
        return;
      }
      case 'label': // vCard 3.0 delivery label (RFC 2426 §3.2.2): belongs with the addresses
        roles[i] = { family: 'adrlabel' };
        return;
      case 'url': { // RFC 9555 §2.11.9
        const id = nextId('l');
        roles[i] = { family: 'url', id };
        const uri = textOf(p).trim();
        if (uri !== '') parts.links[id] = withCommon({ uri }, p, typesOf(p), label);
        return;
      }
      case 'impp': { // RFC 9555 §2.7.2; SERVICE-TYPE/USERNAME from RFC 9554 §4.9/§4.10, X-SERVICE-TYPE is Apple's
        const id = nextId('o');
        roles[i] = { family: 'impp', id };
        const el: OnlineService = {};
        const service = paramText(p, 'service-type') ?? paramText(p, 'x-service-type');
        const user = paramText(p, 'username');
        const uri = textOf(p).trim();
        if (service !== undefined) el.service = service.trim();
        if (uri !== '' && !(user !== undefined && uri === synthesizedImppUri(service, user.trim()))) el.uri = uri;
        if (user !== undefined) el.user = user.trim();
        if (el.uri === undefined && el.user === undefined) return;
        parts.onlineServices[id] = withCommon(el, p, typesOf(p), label);
        return;
      }
      default:
        return;
    }
  });

  const card: Card = { '@type': 'Card', version: '1.0', uid: parts.uid ?? '' };
  if (parts.kind) card.kind = parts.kind.value;
  if (parts.components.length > 0 || parts.full) {
    card.name = {};
    if (parts.components.length > 0) card.name.components = parts.components;
    if (parts.full) card.name.full = parts.full.value;
  }
  const maps = [
    ['nicknames', parts.nicknames], ['organizations', parts.organizations], ['titles', parts.titles],
    ['emails', parts.emails], ['phones', parts.phones], ['addresses', parts.addresses], ['links', parts.links],
    ['onlineServices', parts.onlineServices], ['notes', parts.notes], ['media', parts.media],
    ['anniversaries', parts.anniversaries], ['keywords', parts.keywords],
  ] as const;
  const target = card as unknown as Record<string, unknown>;
  for (const [name, rec] of maps) if (Object.keys(rec).length > 0) target[name] = rec;
  if (parts.updated !== undefined) card.updated = parts.updated;
  return { source, card: sc, props, roles, result: { card, version: sc.version, problems } };
}

function readAll(text: string, opts: ParseVCardOptions): ReadCard[] {
  const source = splitSource(text);
  if (source.cards.length === 0) {
    const head = text.trim().slice(0, 40).replace(/\s+/g, ' ');
    throw new Error(`not a vCard: no BEGIN:VCARD line found${head ? ` (text starts with "${head}")` : ' (empty text)'}`);
  }
  return source.cards.map((sc) => readCard(source, sc, opts));
}

/** Parses every vCard in the text. Throws when the text holds no vCard at all. */
export function parseVCards(text: string, opts: ParseVCardOptions = {}): ParsedVCard[] {
  return readAll(text, opts).map((r) => r.result);
}

/**
 * The text of each vCard in `text`, from its BEGIN line to its END line as written (line breaks,
 * folding, properties this model does not know: nothing is rewritten), each ending with a line
 * break. A card nested in another (a vCard 2.1 AGENT) stays inside it. Empty when the text holds
 * no vCard.
 */
export function splitVCardTexts(text: string): string[] {
  const source = splitSource(text);
  return source.cards.map((c) => `${source.physical.slice(c.begin, c.end < 0 ? source.physical.length : c.end + 1).join(source.newline).replace(/\s+$/, '')}${source.newline}`);
}

/**
 * Parses the first vCard in the text; further cards are reported as a problem, not read. Bad values
 * are reported in `problems` and the rest of the card is returned. Throws when the text holds no
 * vCard at all.
 */
export function parseVCard(text: string, opts: ParseVCardOptions = {}): ParsedVCard {
  const source = splitSource(text);
  const first = source.cards[0];
  if (first === undefined) return parseVCards(text, opts)[0] as ParsedVCard; // throws the message
  const r = readCard(source, first, opts).result;
  if (source.cards.length > 1) {
    r.problems.push({ field: 'VCARD', message: `the text holds ${source.cards.length} vCards; only the first was read` });
  }
  return r;
}

// =============================================================================================
// Card → properties

class GroupAllocator {
  private next = 1;
  private readonly used: Set<string>;

  constructor(used: Iterable<string> = []) {
    this.used = new Set([...used].map((g) => g.toLowerCase()));
    for (const g of this.used) {
      const m = /^item(\d+)$/.exec(g);
      if (m) this.next = Math.max(this.next, Number(m[1]) + 1);
    }
  }

  take(): string {
    while (this.used.has(`item${this.next}`)) this.next++;
    const g = `item${this.next++}`;
    this.used.add(g);
    return g;
  }
}

type WriteVersion = '3.0' | '4.0';

function lf(s: string): string {
  return s.replace(/\r\n?/g, '\n');
}

function typeParam(params: Params, types: readonly string[], version: WriteVersion): void {
  const list = [...new Set(types)].map((t) => (version === '3.0' ? t.toUpperCase() : t));
  if (list.length === 1) params.type = list[0] as string;
  else if (list.length > 1) params.type = list;
}

function contextTypes(contexts: Contexts | undefined): string[] {
  const out: string[] = [];
  for (const [c, on] of Object.entries(contexts ?? {})) {
    const t = on === true ? CONTEXT_TO_TYPE[c] : undefined;
    if (t !== undefined) out.push(t);
  }
  return out.sort();
}

/**
 * Common parameters: TYPE (contexts and extra types), preference, and the label as an Apple group
 * (`itemN.X-ABLabel`, RFC 9555 §2.11.11). vCard 3.0 has only a boolean preference (TYPE=pref): it is
 * used for pref 1; other values go into a PREF parameter, which 3.0 readers ignore and we read back.
 */
function commonProps(
  name: string, type: string, value: unknown, el: { contexts?: Contexts; pref?: number; label?: string },
  extraTypes: readonly string[], extraParams: Params, version: WriteVersion, groups: GroupAllocator,
): JProp[] {
  const params: Params = {};
  const label = el.label?.trim();
  const group = label ? groups.take() : null;
  if (group !== null) params.group = group;
  const types = [...extraTypes, ...contextTypes(el.contexts)];
  const pref = validPref(el.pref) ? el.pref : undefined;
  if (version === '3.0' && pref === 1) types.push('pref');
  typeParam(params, types, version);
  if (pref !== undefined && !(version === '3.0' && pref === 1)) params.pref = String(pref);
  Object.assign(params, extraParams);
  const out: JProp[] = [[name, params, type, value]];
  if (group !== null && label) out.push(['x-ablabel', { group }, 'unknown', escapeText(encodeLabel(lf(label)))]);
  return out;
}

function emailProps(e: EmailAddress, v: WriteVersion, g: GroupAllocator): JProp[] {
  // RFC 2426 §3.3.2: INTERNET is the default 3.0 type; written for older readers, ignored when read.
  return commonProps('email', 'text', lf(e.address), e, v === '3.0' ? ['internet'] : [], {}, v, g);
}

function phoneProps(ph: Phone, v: WriteVersion, g: GroupAllocator): JProp[] {
  const features: string[] = [];
  for (const [f, on] of Object.entries(ph.features ?? {})) {
    const t = on === true ? FEATURE_TO_TYPE[f] : undefined;
    if (t !== undefined) features.push(t);
  }
  features.sort();
  const number = lf(ph.number).trim().replace(TEL_PREFIX, '');
  if (v === '3.0') return commonProps('tel', 'phone-number', number, ph, features, {}, v, g);
  // RFC 6350 §6.4.1: a tel URI where the number is a valid global number, free text otherwise.
  return TEL_URI_BODY.test(number)
    ? commonProps('tel', 'uri', `tel:${number}`, ph, features, {}, v, g)
    : commonProps('tel', 'text', number, ph, features, {}, v, g);
}

function addressProps(a: Address, v: WriteVersion, g: GroupAllocator): JProp[] {
  const slots: string[][] = ADR_SLOTS.map(() => []);
  const comps = [...(a.components ?? [])].filter((c) => c.kind !== 'separator');
  comps.sort((x, y) => compareAddressKinds(x.kind, y.kind));
  for (const c of comps) {
    const value = lf(c.value).trim();
    if (value !== '') slots[KIND_TO_ADR_SLOT[c.kind] ?? 2]?.push(value);
  }
  const value = slots.map((s) => (s.length === 0 ? '' : s.length === 1 ? (s[0] as string) : s));
  const extra: Params = {};
  const full = lf(a.full ?? '').trim();
  if (full !== '') extra.label = escapeParam(full); // RFC 6350 §6.3.1 LABEL parameter (also read back from 3.0)
  const cc = a.countryCode?.trim();
  if (cc) extra.cc = cc; // RFC 8605 §3.1
  return commonProps('adr', 'text', value, a, [], extra, v, g);
}

function linkProps(l: Link, v: WriteVersion, g: GroupAllocator): JProp[] {
  return commonProps('url', 'uri', lf(l.uri).trim().replace(/\n/g, '%0A'), l, [], {}, v, g);
}

function onlineProps(o: OnlineService, v: WriteVersion, g: GroupAllocator): JProp[] {
  const user = o.user?.trim();
  const service = o.service?.trim();
  const uri = o.uri?.trim() || synthesizedImppUri(service, user ?? '');
  const extra: Params = {};
  if (service) extra[v === '4.0' ? 'service-type' : 'x-service-type'] = escapeParam(service);
  if (user) extra.username = escapeParam(user);
  // IMPP is not a 3.0 property in ical.js (RFC 4770 added it): written raw, so escaped here.
  return v === '4.0'
    ? commonProps('impp', 'uri', lf(uri), o, [], extra, v, g)
    : commonProps('impp', 'unknown', escapeText(lf(uri)), o, [], extra, v, g);
}

const DATA_URI = /^data:([^,;]*)((?:;[^,;]*)*),(.*)$/s;

function photoProp(m: Media, v: WriteVersion): JProp {
  const uri = m.uri.trim();
  if (v === '4.0') {
    const params: Params = {};
    if (m.mediaType && !uri.startsWith('data:')) params.mediatype = m.mediaType;
    return ['photo', params, 'uri', uri];
  }
  // vCard 3.0 (RFC 2426 §3.1.4): inline images as ENCODING=b with the image type, links as VALUE=uri.
  const d = DATA_URI.exec(uri);
  if (!d) return ['photo', {}, 'uri', uri];
  const mediaType = (d[1] ?? '').toLowerCase() || 'application/octet-stream';
  const isBase64 = (d[2] ?? '').toLowerCase().split(';').includes('base64');
  let data = d[3] ?? '';
  if (!isBase64) {
    try {
      data = Buffer.from(decodeURIComponent(data), 'utf8').toString('base64');
    } catch {
      data = Buffer.from(data, 'utf8').toString('base64');
    }
  }
  const slash = mediaType.indexOf('/');
  const type = (slash >= 0 && mediaType.startsWith('image/') ? mediaType.slice(slash + 1) : mediaType).toUpperCase();
  return ['photo', { encoding: 'b', type }, 'binary', data.replace(WHITESPACE_ALL, '')];
}

function formatDate(d: PartialDate, v: WriteVersion): string | null {
  const text = formatPartialDate(d);
  if (text === null) return null;
  // vCard 4.0 dates use the basic form (RFC 6350 §4.3.1): 19850412, --0412; YYYY-MM keeps its hyphen.
  if (v === '4.0') {
    if (/^\d{4}-\d{2}-\d{2}$/.test(text)) return text.replace(/-/g, '');
    if (/^--\d{2}-\d{2}$/.test(text)) return `--${text.slice(2, 4)}${text.slice(5)}`;
  }
  return text;
}

function dateProp(name: 'bday' | 'anniversary', d: PartialDate, v: WriteVersion): JProp | null {
  const text = formatDate(d, v);
  if (text === null) return null;
  if (v === '4.0') return [name, {}, 'date-and-or-time', text];
  return name === 'bday' ? ['bday', {}, 'date-time', text] : ['x-anniversary', {}, 'unknown', text];
}

function revProp(updated: string, v: WriteVersion): JProp | null {
  const ts = parseTimestamp(updated);
  if (ts === null) return null;
  return v === '4.0' ? ['rev', {}, 'timestamp', ts.replace(/[-:]/g, '')] : ['rev', {}, 'date-time', ts];
}

/** A full name derived from the other properties, for FN;DERIVED=TRUE (FN is required: RFC 6350 §6.2.1). */
function derivedFullName(card: Card): string {
  const comps = card.name?.components ?? [];
  const order: NameComponent['kind'][] = ['title', 'given', 'given2', 'surname', 'surname2', 'credential', 'generation'];
  const byName = order.flatMap((k) => comps.filter((c) => c.kind === k).map((c) => lf(c.value).trim())).filter((x) => x !== '');
  if (byName.length > 0) return byName.join(' ');
  for (const o of Object.values(card.organizations ?? {})) if (o.name?.trim()) return o.name.trim();
  for (const n of Object.values(card.nicknames ?? {})) if (n.name.trim()) return n.name.trim();
  for (const e of Object.values(card.emails ?? {})) if (e.address.trim()) return e.address.trim();
  for (const p of Object.values(card.phones ?? {})) if (p.number.trim()) return p.number.trim();
  return '';
}

function nameValue(card: Card, v: WriteVersion): JProp | null {
  const comps = card.name?.components ?? [];
  const of = (k: NameComponent['kind']): string[] => comps.filter((c) => c.kind === k).map((c) => lf(c.value).trim()).filter((x) => x !== '');
  const sur2 = of('surname2');
  const gen = of('generation');
  // RFC 9555 §2.5.5 table 1: in 4.0 secondary surnames also go in the family name and generations in
  // the suffix, besides their own components (a reader drops the duplicates). vCard 3.0 has no
  // secondary-surname component, and one merged into the family name would read back as a different
  // surname: it is not written (a 3.0 spoke cannot store name.surname2). Generations go in the suffix,
  // which the field space reads back as name.credential, where it keeps them anyway.
  const family = v === '4.0' ? [...of('surname'), ...sur2] : of('surname');
  const slots = [family, of('given'), of('given2'), of('title'), [...of('credential'), ...gen]];
  if (v === '4.0' && (sur2.length > 0 || gen.length > 0)) slots.push(sur2, gen);
  if (v === '4.0' && slots.every((s) => s.length === 0)) return null;
  // vCard 3.0 requires N (RFC 2426 §3.1.2), even when empty.
  return ['n', {}, 'text', slots.map((s) => (s.length === 0 ? '' : s.length === 1 ? (s[0] as string) : s))];
}

function kindProp(card: Card, v: WriteVersion): JProp | null {
  const k = card.kind;
  if (k === undefined) return null;
  if (v === '4.0') return ['kind', {}, 'text', k];
  if (k === 'individual') return null;
  return k === 'org' ? ['x-abshowas', {}, 'unknown', 'COMPANY'] : ['x-addressbookserver-kind', {}, 'unknown', k];
}

/** The properties of one scalar family (in the order toVCard writes them). */
function familyProps(card: Card, family: ScalarFamily, v: WriteVersion): JProp[] {
  const out: JProp[] = [];
  const push = (p: JProp | null): void => {
    if (p) out.push(p);
  };
  switch (family) {
    case 'kind':
      push(kindProp(card, v));
      break;
    case 'fn': {
      const full = lf(card.name?.full ?? '').trim();
      push(full !== '' ? ['fn', {}, 'text', full] : ['fn', { derived: 'TRUE' }, 'text', derivedFullName(card)]);
      break;
    }
    case 'n':
      push(nameValue(card, v));
      break;
    case 'nickname': {
      const names = Object.values(card.nicknames ?? {}).map((n) => lf(n.name).trim()).filter((x) => x !== '');
      if (names.length > 0) out.push(['nickname', {}, 'text', ...names]);
      break;
    }
    case 'org':
      for (const o of Object.values(card.organizations ?? {})) {
        const units = (o.units ?? []).map((u) => lf(u.name).trim());
        const name = lf(o.name ?? '').trim();
        if (name === '' && units.every((u) => u === '')) continue;
        out.push(['org', {}, 'text', [name, ...units]]);
      }
      break;
    case 'title':
    case 'role':
      for (const t of Object.values(card.titles ?? {})) {
        const isRole = t.kind === 'role';
        if (isRole !== (family === 'role')) continue;
        const name = lf(t.name).trim();
        if (name !== '') out.push([family, {}, 'text', name]);
      }
      break;
    case 'bday':
    case 'anniversary':
      for (const a of Object.values(card.anniversaries ?? {})) {
        if (a.kind !== (family === 'bday' ? 'birth' : 'wedding')) continue;
        push(dateProp(family, a.date, v));
      }
      break;
    case 'note':
      for (const n of Object.values(card.notes ?? {})) {
        const note = lf(n.note).trim();
        if (note !== '') out.push(['note', {}, 'text', note]);
      }
      break;
    case 'photo':
      for (const m of Object.values(card.media ?? {})) if (m.kind === 'photo' && m.uri.trim() !== '') out.push(photoProp(m, v));
      break;
    case 'categories': {
      const names = Object.entries(card.keywords ?? {}).filter(([, on]) => on === true).map(([k]) => lf(k).trim()).filter((k) => k !== '');
      if (names.length > 0) out.push(['categories', {}, 'text', ...names]);
      break;
    }
  }
  return out;
}

const ELEMENT_PATH: Readonly<Record<ElementFamily, SetPath>> = {
  email: 'emails', tel: 'phones', adr: 'addresses', url: 'links', impp: 'online',
};

function elementProps(card: Card, family: ElementFamily, id: string, v: WriteVersion, g: GroupAllocator): JProp[] {
  switch (family) {
    case 'email': {
      const e = card.emails?.[id];
      return e && e.address.trim() !== '' ? emailProps(e, v, g) : [];
    }
    case 'tel': {
      const p = card.phones?.[id];
      return p && p.number.trim() !== '' ? phoneProps(p, v, g) : [];
    }
    case 'adr': {
      const a = card.addresses?.[id];
      return a ? addressProps(a, v, g) : [];
    }
    case 'url': {
      const l = card.links?.[id];
      return l && l.uri.trim() !== '' ? linkProps(l, v, g) : [];
    }
    case 'impp': {
      const o = card.onlineServices?.[id];
      return o && (o.uri?.trim() || o.user?.trim()) ? onlineProps(o, v, g) : [];
    }
  }
}

const ELEMENT_MAP: Readonly<Record<ElementFamily, keyof Card>> = {
  email: 'emails', tel: 'phones', adr: 'addresses', url: 'links', impp: 'onlineServices',
};

function elementIds(card: Card, family: ElementFamily): string[] {
  const rec = card[ELEMENT_MAP[family]];
  return rec !== null && typeof rec === 'object' ? Object.keys(rec) : [];
}

const WRITE_ORDER: readonly (ScalarFamily | ElementFamily)[] = [
  'kind', 'fn', 'n', 'nickname', 'org', 'title', 'role', 'bday', 'anniversary',
  'email', 'tel', 'adr', 'url', 'impp', 'categories', 'note', 'photo',
];
const ELEMENT_FAMILIES: ReadonlySet<string> = new Set(['email', 'tel', 'adr', 'url', 'impp']);

function isElementFamily(f: string): f is ElementFamily {
  return ELEMENT_FAMILIES.has(f);
}

const PRODID = '-//Hubsync//Hubsync//EN';

/**
 * Serialises a Card as a vCard 3.0 or 4.0 (CRLF line endings, folded at 75 octets by ical.js).
 * A Card without `name.full` gets an `FN;DERIVED=TRUE` built from the name components (FN is
 * required; RFC 9554 §4.4 DERIVED lets a reader, including this one, skip it); a 3.0 card always
 * has an N. Labels are written as Apple groups (`item1.EMAIL` + `item1.X-ABLabel`).
 */
export function toVCard(card: Card, opts: { version: WriteVersion }): string {
  const v = opts.version;
  const groups = new GroupAllocator();
  const props: JProp[] = [
    ['version', {}, 'text', v],
    ['prodid', {}, v === '4.0' ? 'unknown' : 'text', PRODID],
  ];
  if (card.uid !== '') props.push(['uid', {}, 'text', card.uid]);
  for (const f of WRITE_ORDER) {
    if (isElementFamily(f)) for (const id of elementIds(card, f)) props.push(...elementProps(card, f, id, v, groups));
    else props.push(...familyProps(card, f, v));
  }
  const rev = card.updated !== undefined ? revProp(card.updated, v) : null;
  if (rev) props.push(rev);
  return ['BEGIN:VCARD', ...props.map((p) => stringifyProp(p, v)), 'END:VCARD', ''].join('\r\n');
}

/** A phone number whose key does not depend on the reader's default region: it has a country code. */
const INTERNATIONAL_NUMBER = /^\+[0-9][0-9 ()./-]*$/;
/** The characters of RFC 3986 §2 (a URI value is not text: a backslash in it would not come back). */
const URI_TEXT = /^[A-Za-z0-9\-._~:/?#[\]@!$&'()*+,;=%]+$/;
const HOLDABLE_NAME_KINDS: ReadonlySet<string> = new Set(['title', 'given', 'given2', 'surname', 'credential']);
const ADR_SLOT_KINDS: ReadonlySet<string> = new Set(ADR_SLOTS);

function commonHolds(el: { contexts?: Contexts; pref?: number; label?: string }): boolean {
  for (const [c, on] of Object.entries(el.contexts ?? {})) if (on !== true || CONTEXT_TO_TYPE[c] === undefined) return false;
  if (el.pref !== undefined && !validPref(el.pref)) return false;
  // A label spelled like Apple's built-in wrapping would be unwrapped when read back.
  return el.label === undefined || !APPLE_LABEL.test(el.label.trim());
}

/**
 * Whether `toVCard(card)`, in 3.0 and in 4.0 alike, read back by `parseVCard` gives `card`'s fields
 * again (`cardToFields`, with any default region), so that a writer can take the card it sent as the
 * stored item's merge base instead of parsing its own output back (most of a first sync's writes
 * are creates of everyday contacts; see docs/benchmarks.md for what that saves).
 *
 * Conservative: true only for the everyday shapes a property test (test/model/vcard.test.ts) shows
 * to come back whole: texts, names without secondary surnames or generations, e-mails, phone
 * numbers with a country code (a national number's key depends on the reader's region), classic
 * addresses, links, dates, notes and categories, with contexts and features vCard has a TYPE for.
 * Anything else (photos, online services, a context like `school`, a preference outside 1–100, an
 * address kind vCard folds into another slot, …) answers false, and the caller parses.
 */
export function vcardHolds(card: Card): boolean {
  for (const c of card.name?.components ?? []) if (!HOLDABLE_NAME_KINDS.has(c.kind)) return false;
  if (Object.keys(card.onlineServices ?? {}).length > 0 || Object.keys(card.media ?? {}).length > 0) return false;
  for (const e of Object.values(card.emails ?? {})) if (!commonHolds(e)) return false;
  for (const p of Object.values(card.phones ?? {})) {
    if (!INTERNATIONAL_NUMBER.test(p.number.trim()) || !commonHolds(p)) return false;
    for (const [f, on] of Object.entries(p.features ?? {})) if (on !== true || FEATURE_TO_TYPE[f] === undefined) return false;
  }
  for (const a of Object.values(card.addresses ?? {})) {
    const kinds = new Set<string>();
    for (const c of a.components ?? []) {
      if (!ADR_SLOT_KINDS.has(c.kind) || kinds.has(c.kind)) return false;
      kinds.add(c.kind);
    }
    if (a.countryCode !== undefined && !/^[A-Z]{2}$/.test(a.countryCode)) return false;
    if (!commonHolds(a)) return false;
  }
  for (const l of Object.values(card.links ?? {})) if (l.kind !== undefined || !URI_TEXT.test(l.uri.trim()) || !commonHolds(l)) return false;
  for (const a of Object.values(card.anniversaries ?? {})) if (a.kind !== 'birth' && a.kind !== 'wedding') return false;
  return true;
}

// =============================================================================================
// updateVCard

const NAME_COMPONENT_PATHS: readonly FieldPath[] = ['name.title', 'name.given', 'name.given2', 'name.surname', 'name.surname2', 'name.credential'];
const FAMILY_PATHS: Readonly<Record<ScalarFamily, readonly FieldPath[]>> = {
  kind: ['kind'], fn: ['name.full'], n: NAME_COMPONENT_PATHS, nickname: ['nickname'], org: ['org.name', 'org.unit'],
  title: ['title'], role: ['role'], bday: ['birthday'], anniversary: ['anniversary'], note: ['note'],
  photo: ['photo'], categories: ['keywords'],
};
const SCALAR_FAMILIES: readonly ScalarFamily[] = ['kind', 'fn', 'n', 'nickname', 'org', 'title', 'role', 'bday', 'anniversary', 'note', 'photo', 'categories'];

function samePath(a: Fields, b: Fields, p: FieldPath): boolean {
  if (isScalarPath(p)) return a.s[p] === b.s[p];
  return stableStringify(a.m[p] ?? {}) === stableStringify(b.m[p] ?? {});
}

/**
 * Rewrites an existing vCard (of any version; a 2.1 card comes back as 3.0) so that the fields in
 * `changed` hold what `card` holds, and keeps everything else as it was: properties the model does
 * not map (X-*, GENDER, X-SOCIALPROFILE, …), properties of unchanged fields, UID, PRODID, the order
 * of lines and their exact text. Only properties whose value really differs are rewritten: for the
 * set fields (emails, phones, addresses, links, online) the comparison is per element, so editing one
 * e-mail rewrites one EMAIL line (and its X-ABLabel), and the other EMAIL lines keep their text and
 * any parameters we do not know. New properties go where the replaced ones were, else at the end.
 * REV is set from `card.updated` when something was rewritten (and left alone otherwise).
 */
export function updateVCard(existing: string, card: Card, changed: readonly FieldPath[] | 'all', opts: UpdateVCardOptions = {}): string {
  const read = readAll(existing, {})[0] as ReadCard;
  const { source, card: sc, props, roles } = read;
  const v: WriteVersion = sc.version === '4.0' ? '4.0' : '3.0';
  const fopts: CardFieldsOptions = { defaultRegion: opts.defaultRegion ?? '' };
  const oldCard = read.result.card;
  const oldF = cardToFields(oldCard, fopts);
  const newF = cardToFields(card, fopts);
  const touched = new Set<FieldPath>(changed === 'all' ? ALL_PATHS : changed);
  const differs = (p: FieldPath): boolean => touched.has(p) && !samePath(oldF, newF, p);

  const n = sc.lines.length;
  const removed = new Set<number>();
  const inserts = new Map<number, JProp[]>();
  const addAt = (at: number, ps: readonly JProp[]): void => {
    if (ps.length === 0) return;
    const list = inserts.get(at);
    if (list) list.push(...ps);
    else inserts.set(at, [...ps]);
  };
  const linesOf = (f: Family): number[] => {
    const out: number[] = [];
    roles.forEach((r, i) => {
      if (r?.family === f) out.push(i);
    });
    return out;
  };
  const groups = new GroupAllocator(props.flatMap((p) => (p?.group ? [p.group] : [])));

  for (const f of SCALAR_FAMILIES) {
    const idx = linesOf(f);
    let paths = FAMILY_PATHS[f];
    // A derived (or missing) FN follows the name components (RFC 9554 §4.4 DERIVED).
    if (f === 'fn' && (idx.length === 0 || idx.every((i) => roles[i]?.derived === true))) paths = [...paths, ...NAME_COMPONENT_PATHS];
    if (!paths.some(differs)) continue;
    for (const i of idx) removed.add(i);
    // Rewritten only because the name components changed: the FN stays derived.
    const props = f === 'fn' && !differs('name.full')
      ? [['fn', { derived: 'TRUE' }, 'text', derivedFullName(card)] satisfies JProp]
      : familyProps(card, f, v);
    addAt(idx[0] ?? n, props);
  }

  for (const f of ['email', 'tel', 'adr', 'url', 'impp'] as const) {
    const path = ELEMENT_PATH[f];
    if (!differs(path)) continue;
    const target = newF.m[path] ?? {};
    const kept = new Set<string>();
    const idx = linesOf(f);
    let firstRemoved: number | undefined;
    for (const i of idx) {
      const id = roles[i]?.id;
      const mini: Card = { '@type': 'Card', version: '1.0', uid: '' };
      const mapName = ELEMENT_MAP[f];
      const el = id !== undefined ? (oldCard[mapName] as Record<string, unknown> | undefined)?.[id] : undefined;
      if (el !== undefined && id !== undefined) (mini as unknown as Record<string, unknown>)[mapName] = { [id]: el };
      const entry = cardEntries(mini, path, fopts)[0];
      const want = entry ? target[entry.key] : undefined;
      if (entry && want && !kept.has(entry.key) && stableStringify(entry.attrs) === stableStringify(want)) {
        kept.add(entry.key);
        continue;
      }
      removed.add(i);
      firstRemoved ??= i;
    }
    const fresh = cardEntries(card, path, fopts).filter((e) => !kept.has(e.key));
    const ps = fresh.flatMap((e) => elementProps(card, f, e.id, v, groups));
    const last = idx[idx.length - 1];
    addAt(firstRemoved ?? (last !== undefined ? last + 1 : n), ps);
  }

  // 3.0 LABEL properties belong with their addresses: grouped ones follow their group (below),
  // ungrouped ones cannot be matched to an address and go whenever the addresses are rewritten.
  if (differs('addresses')) {
    for (const i of linesOf('adrlabel')) if (props[i]?.group === null) removed.add(i);
  }
  // Companions (X-ABLabel, X-ABADR, grouped LABEL) go when every other property of their group went.
  const members = new Map<string, { companions: number[]; others: number[] }>();
  props.forEach((p, i) => {
    if (!p || p.group === null) return;
    const m = members.get(p.group) ?? { companions: [], others: [] };
    const fam = roles[i]?.family;
    if (fam === 'companion' || fam === 'adrlabel') m.companions.push(i);
    else m.others.push(i);
    members.set(p.group, m);
  });
  for (const m of members.values()) {
    if (m.others.length > 0 && m.others.every((i) => removed.has(i))) for (const i of m.companions) removed.add(i);
  }

  if ((removed.size > 0 || inserts.size > 0) && card.updated !== undefined) {
    const rev = revProp(card.updated, v);
    const idx = linesOf('rev');
    if (rev) {
      for (const i of idx) removed.add(i);
      addAt(idx[0] ?? n, [rev]);
    }
  }

  const nl = source.newline;
  const out: string[] = [];
  const emit = (ps: readonly JProp[] | undefined): void => {
    for (const p of ps ?? []) out.push(nl === '\r\n' ? stringifyProp(p, v) : stringifyProp(p, v).replace(/\r\n/g, nl));
  };
  sc.lines.forEach((line, i) => {
    emit(inserts.get(i));
    if (removed.has(i)) return;
    const raw = line.raw ?? ICAL.helpers.foldline(line.text);
    out.push(nl === '\r\n' || line.raw !== null ? raw : raw.replace(/\r\n/g, nl));
  });
  emit(inserts.get(n));

  const physical = source.physical;
  const before = physical.slice(0, sc.begin);
  const beginLine = physical[sc.begin] ?? 'BEGIN:VCARD';
  const endLine = sc.end >= 0 ? (physical[sc.end] ?? 'END:VCARD') : 'END:VCARD';
  const after = sc.end >= 0 ? physical.slice(sc.end + 1) : [''];
  return [...before, beginLine, ...out, endLine, ...after].join(nl);
}
