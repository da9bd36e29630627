/**
 * Identity keys and normalisers: the element keys of the field space (`fields.ts`) and the weak
 * matching keys of first sync (design memo A5/B8). Pure functions; lookup tables and regular
 * expressions are built once at module load, because these run for every element of every card.
 *
 * Key formats (the engine stores them, so they are part of the contract):
 * - e-mail: `local@domain`, all lower case (NFC), domain in ASCII (IDNA / punycode);
 * - phone: E.164 (`+33612345678`), with `;ext=123` when there is an extension; numbers that
 *   libphonenumber cannot read as a possible number fall back to their digits (keeping a leading
 *   `+`), so that distinct junk stays distinct;
 * - URL: `host/path?query#fragment` for http(s) (the scheme is dropped: http and https name the same
 *   page for matching purposes), the WHATWG-normalised href for other schemes;
 * - address: `kind=folded value` pairs in a fixed kind order, joined by ` | `;
 * - keyword and name: `foldName` text.
 *
 * A key function returns null when its input is not that kind of thing at all (an e-mail without
 * `@`); `card-fields.ts` then keeps the element under `raw:<text>` (see `rawKey`).
 */
import { domainToASCII } from 'node:url';
import { isSupportedCountry, parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js';
import type { Address, Card, OnlineService } from './card.js';

/** Prefix of the key of an element whose text is not a valid value of its kind (kept as written). */
export const RAW_KEY_PREFIX = 'raw:';

export function rawKey(text: string): string {
  return RAW_KEY_PREFIX + text.trim();
}

// ---------------------------------------------------------------------------------------------
// E-mail

const MAILTO = /^mailto:/i;
const WHITESPACE = /\s/u;
const ASCII_DOMAIN = /^[a-z0-9-]+(?:\.[a-z0-9-]+)*\.?$/;

/**
 * The identity of an e-mail address: trimmed, `mailto:` (RFC 6068) stripped with any `?query`,
 * NFC, lower case, and the domain in ASCII via IDNA (`ÄÖ@Bücher.example` → `äö@xn--bcher-kva.example`).
 * Lower-casing the local part is not strictly RFC 5321, but every real mailbox provider treats it
 * case-insensitively and two spokes that differ only in case must hold one element (hard case 6).
 * Null when it is not an address: no `@`, empty local part or domain, whitespace, or a domain IDNA
 * rejects. Gmail dots and `+tags` are deliberately not folded (a weak signal only, memo §d.6).
 */
export function emailKey(address: string): string | null {
  let t = address.trim();
  if (MAILTO.test(t)) {
    t = t.slice(7);
    const q = t.indexOf('?');
    if (q >= 0) t = t.slice(0, q);
  }
  if (t === '' || WHITESPACE.test(t)) return null;
  const at = t.lastIndexOf('@');
  if (at <= 0 || at === t.length - 1) return null;
  // A second `@` is only legal inside a quoted local part.
  if (t.indexOf('@') !== at && !t.startsWith('"')) return null;
  const local = t.slice(0, at).normalize('NFC').toLowerCase();
  let domain = t.slice(at + 1).toLowerCase();
  if (domain.endsWith('.')) domain = domain.slice(0, -1);
  if (!ASCII_DOMAIN.test(domain)) {
    domain = domainToASCII(domain.normalize('NFC'));
    if (domain === '') return null;
  }
  return `${local}@${domain}`;
}

// ---------------------------------------------------------------------------------------------
// Phone

const TEL_URI = /^tel:/i;
const NON_DIGITS = /\D+/g;

function toRegion(defaultRegion: string): CountryCode | undefined {
  const r = defaultRegion.trim().toUpperCase();
  return r.length === 2 && isSupportedCountry(r) ? r : undefined;
}

/**
 * The identity of a phone number: E.164 via libphonenumber with the account's default region for
 * numbers written without a country code (`06 12 34 56 78` in FR → `+33612345678`), the extension
 * kept as `;ext=123` (RFC 3966 syntax). A `tel:` URI prefix is accepted. When libphonenumber cannot
 * read a possible number (short codes such as `112`, internal extensions, junk), the key is the
 * digits with a leading `+` if written, so distinct junk stays distinct; an input without any digit
 * gives `''` (the caller keeps it as a raw element). Never throws; an unknown region is ignored.
 */
export function phoneKey(number: string, defaultRegion: string): string {
  const e164 = readPhone(number, defaultRegion);
  if (e164 !== null) return e164;
  let t = number.trim();
  if (TEL_URI.test(t)) t = t.slice(4);
  const digits = t.replace(NON_DIGITS, '');
  if (digits === '') return '';
  return t.startsWith('+') ? `+${digits}` : digits;
}

/**
 * Whether libphonenumber reads the text as a phone number for the region (the rule of `phoneKey`);
 * used to report doubtful TEL values as problems. Short codes and internal extensions fail, so this
 * is a hint for people, never a reason to drop a value.
 */
export function isPlausiblePhone(number: string, defaultRegion: string): boolean {
  return readPhone(number, defaultRegion) !== null;
}

/**
 * libphonenumber costs 5-20 µs per number (it tries every country of a shared calling code such as
 * +1), and the same numbers are read several times per sync (parse, pull, base, echo), so readings
 * are memoised. The memo is bounded and simply cleared when full: a reading is a pure function of
 * its input, so this changes nothing but speed.
 */
const PHONE_MEMO_MAX = 50_000;
const phoneMemo = new Map<string, string | null>();

/**
 * libphonenumber's reading of a number as E.164 (with `;ext=`), when we trust it, else null: a
 * number written in international format (`+…`) must be possible (the right length for its
 * country); a national number must be valid for the default region, because the region is only a
 * guess (`06 12 34 56 78` is a possible US length, but no US number: read with region US it must not
 * become `+10612345678`).
 */
function readPhone(number: string, defaultRegion: string): string | null {
  const memoKey = `${defaultRegion}\u0000${number}`;
  const hit = phoneMemo.get(memoKey);
  if (hit !== undefined) return hit;
  let t = number.trim();
  if (TEL_URI.test(t)) t = t.slice(4);
  let out: string | null = null;
  try {
    const region = toRegion(defaultRegion);
    const parsed = region ? parsePhoneNumberFromString(t, region) : parsePhoneNumberFromString(t);
    if (parsed !== undefined && (t.startsWith('+') ? parsed.isPossible() : parsed.isValid())) {
      out = parsed.ext ? `${parsed.number};ext=${parsed.ext}` : parsed.number;
    }
  } catch {
    // libphonenumber-js documents no throw for parsePhoneNumberFromString; stay total anyway.
  }
  if (phoneMemo.size >= PHONE_MEMO_MAX) phoneMemo.clear();
  phoneMemo.set(memoKey, out);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Names and free text

/** Format characters (Cf): zero-width space/joiners, word joiner, BOM, soft hyphen, bidi controls. */
const FORMAT_CHARS = /\p{Cf}/gu;
/** Combining marks (Mn, Mc, Me): diacritics once decomposed, variation selectors. */
const MARKS = /\p{M}/gu;
const SPACES = /\s+/gu;
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;
/**
 * Full case folding differs from lower-casing for a few letters (Unicode CaseFolding.txt):
 * ß → ss, final sigma → sigma. Turkish dotless ı has no case folding to i, but people type I/ı/i
 * interchangeably in names, so it is folded too (memo §d.7). The dotted İ lowercases to i + U+0307,
 * whose mark is stripped below.
 */
const EXTRA_FOLDS: Readonly<Record<string, string>> = { 'ı': 'i', 'ß': 'ss', 'ς': 'σ' };
const EXTRA_FOLD_CHARS = /[ıßς]/g;

/**
 * Folds text for matching: NFKC, case folding, diacritics removed (NFD, drop marks), zero-width and
 * other format characters removed, whitespace collapsed and trimmed, result in NFC. Emoji and
 * non-Latin scripts are kept (their marks are dropped, which is what a matching key wants).
 */
export function foldName(s: string): string {
  if (PRINTABLE_ASCII.test(s)) return s.toLowerCase().replace(SPACES, ' ').trim();
  // toLowerCase is the locale-independent Unicode default mapping (same as toLocaleLowerCase('und')).
  let t = s.normalize('NFKC').toLowerCase();
  t = t.replace(EXTRA_FOLD_CHARS, (c) => EXTRA_FOLDS[c] ?? c);
  t = t.normalize('NFD').replace(MARKS, '').replace(FORMAT_CHARS, '');
  return t.replace(SPACES, ' ').trim().normalize('NFC');
}

const NAME_TOKEN_SEPARATORS = /[\s\-‐‑‒–—,.]+/u;

function sortedTokens(text: string): string | null {
  const tokens = foldName(text).split(NAME_TOKEN_SEPARATORS).filter((x) => x !== '');
  if (tokens.length === 0) return null;
  tokens.sort();
  return tokens.join(' ');
}

/**
 * A weak matching key from the name (memo B8 "name collation key"): the folded given name and
 * surnames, split into tokens (on spaces, hyphens, commas, dots) and sorted, so "Smith John",
 * "John Smith" and "JOHN SMITH" match, as do "Dubois-Château" and "dubois chateau". Titles, middle
 * names and credentials are left out on purpose. Falls back to the full name, tokenised the same
 * way; null when the card has no name text.
 */
export function nameKey(card: Card): string | null {
  const name = card.name;
  if (!name) return null;
  const parts: string[] = [];
  for (const c of name.components ?? []) {
    if (c.kind === 'given' || c.kind === 'surname' || c.kind === 'surname2') parts.push(c.value);
  }
  return nameKeyOfParts({ names: parts, full: name.full });
}

/** `nameKey` from name parts already taken apart (the engine's field space). */
export function nameKeyOfParts(p: { names: readonly (string | undefined)[]; full?: string | undefined }): string | null {
  return sortedTokens(p.names.filter((x): x is string => !!x).join(' ')) ?? sortedTokens(p.full ?? '');
}

/**
 * Set elements are keyed by identity in plain objects, where `__proto__` cannot be a key by
 * assignment (it sets the prototype, and the element was lost). That one text gets a leading
 * space, which no trimmed key has. Only keywords and online services can come out as it: the
 * other keys hold an `@`, digits, a `=`, a URL or the raw prefix.
 */
function objectKey(k: string): string {
  return k === '__proto__' ? ' __proto__' : k;
}

/** A keyword's identity: its folded text; null when empty. */
export function keywordKey(keyword: string): string | null {
  const k = foldName(keyword);
  return k === '' ? null : objectKey(k);
}

// ---------------------------------------------------------------------------------------------
// URLs and online services

const HAS_SCHEME = /^[a-z][a-z0-9+.-]*:/i;
/** `example.com:8080/x` or `localhost:3000`: a host and port written without a scheme. */
const LOOKS_LIKE_HOST_PORT = /^(?:localhost|[^/:]*\.[^/:]*):\d+(?:[/?#]|$)/i;

/**
 * A URL's identity: WHATWG URL normalisation (lower-case scheme and host, IDNA host, default port
 * dropped, dot segments resolved). A URL written without a scheme (`www.example.com/x`) is read as
 * http. For http(s) the scheme and a bare trailing `/` are dropped, so `http://Example.com/` and
 * `https://example.com` are one link. Null when empty or unparseable.
 */
export function urlKey(uri: string): string | null {
  const t = uri.trim();
  if (t === '') return null;
  const candidate = HAS_SCHEME.test(t) && !LOOKS_LIKE_HOST_PORT.test(t) ? t : `http://${t}`;
  let u: URL;
  try {
    u = new URL(candidate);
  } catch {
    return null;
  }
  if (u.protocol === 'http:' || u.protocol === 'https:') {
    if (u.hostname === '') return null;
    const path = u.pathname === '/' ? '' : u.pathname;
    return `${u.host}${path}${u.search}${u.hash}`;
  }
  return u.href;
}

/**
 * An online service's identity (IMPP and friends): the trimmed, lower-cased URI (`xmpp:Ann@X.org` →
 * `xmpp:ann@x.org`), else `service:user` folded (`Skype`/`Ann` → `skype:ann`, which matches the URI
 * form `skype:ann`). Null when there is neither a URI nor a user.
 */
export function onlineKey(svc: OnlineService): string | null {
  const uri = svc.uri?.trim() ?? '';
  if (uri !== '') return objectKey(uri.toLowerCase());
  const user = svc.user?.trim() ?? '';
  if (user === '') return null;
  const service = foldName(svc.service ?? '');
  return `${service}:${user.toLowerCase()}`;
}

// ---------------------------------------------------------------------------------------------
// Postal addresses

/**
 * RFC 9553 §2.5.1.2 component kinds in the order of an ADR value (RFC 6350 §6.3.1, extended by
 * RFC 9554 §2.1), so keys and rebuilt components come out in one order whatever order a spoke used.
 */
export const ADDRESS_KIND_ORDER: readonly string[] = [
  'postOfficeBox', 'apartment', 'room', 'floor', 'building', 'number', 'name', 'block', 'direction',
  'landmark', 'subdistrict', 'district', 'locality', 'region', 'postcode', 'country',
];
const ADDRESS_KIND_RANK = new Map(ADDRESS_KIND_ORDER.map((k, i) => [k, i]));

/** Orders address component kinds: known kinds in ADR order, others after them alphabetically. */
export function compareAddressKinds(a: string, b: string): number {
  const ra = ADDRESS_KIND_RANK.get(a) ?? ADDRESS_KIND_ORDER.length;
  const rb = ADDRESS_KIND_RANK.get(b) ?? ADDRESS_KIND_ORDER.length;
  return ra !== rb ? ra - rb : a < b ? -1 : a > b ? 1 : 0;
}

/**
 * An address's identity: each component kind with its folded text (several values of one kind
 * joined by a space), in ADR order: `name=1 main st | locality=springfield | country=usa`. An
 * address with no component text is keyed by its folded `full` text (`full=...`). Null when the
 * address holds no text at all. Separators (`kind: separator`) carry no identity and are skipped.
 */
export function addressKey(address: Address): string | null {
  const byKind = new Map<string, string[]>();
  for (const c of address.components ?? []) {
    if (c.kind === 'separator') continue;
    const v = foldName(c.value);
    if (v === '') continue;
    const list = byKind.get(c.kind);
    if (list) list.push(v);
    else byKind.set(c.kind, [v]);
  }
  if (byKind.size > 0) {
    return [...byKind.keys()]
      .sort(compareAddressKinds)
      .map((k) => `${k}=${(byKind.get(k) ?? []).join(' ')}`)
      .join(' | ');
  }
  const full = foldName(address.full ?? '');
  return full === '' ? null : `full=${full}`;
}
