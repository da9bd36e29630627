/**
 * The field space the sync engine merges in: a flat, normalised view of a Card.
 *
 * - A scalar path holds one string; an absent path means "empty". Clearing a field is a real change
 *   (the path disappears), distinct from a spoke that cannot store the path at all — that is told by
 *   the connector's `capabilities.fields`, never by an absent value.
 * - A set path holds elements keyed by the element's identity (`normalize.ts`: e-mail in lower case
 *   with an IDNA domain, phone in E.164, …). Two spokes that write the same address with different
 *   case or formatting therefore hold the same element, and the merge works element by element.
 *   An element's attributes (display form, labels, pref) are compared and merged as one value.
 *
 * Everything here is pure and JSON-safe, so a Fields value can be stored as a link's merge base.
 */
import { createHash } from 'node:crypto';

export const SCALAR_PATHS = [
  'kind',
  'name.full',
  'name.title',
  'name.given',
  'name.given2',
  'name.surname',
  'name.surname2',
  'name.credential',
  'nickname',
  'org.name',
  'org.unit',
  'title',
  'role',
  'birthday',
  'anniversary',
  'note',
  'photo',
] as const;

export const SET_PATHS = ['emails', 'phones', 'addresses', 'links', 'online', 'keywords'] as const;

export type ScalarPath = (typeof SCALAR_PATHS)[number];
export type SetPath = (typeof SET_PATHS)[number];
export type FieldPath = ScalarPath | SetPath;

export const ALL_PATHS: readonly FieldPath[] = [...SCALAR_PATHS, ...SET_PATHS];

/** Attributes of one set element. Flat and JSON-safe; list-valued attributes are sorted. */
export type Attrs = Record<string, string | number | boolean | string[]>;

export interface Fields {
  /** Scalar values, by path. */
  s: Partial<Record<ScalarPath, string>>;
  /** Set elements, by path, then by element key. */
  m: Partial<Record<SetPath, Record<string, Attrs>>>;
}

export function emptyFields(): Fields {
  return { s: {}, m: {} };
}

export function isScalarPath(p: string): p is ScalarPath {
  return (SCALAR_PATHS as readonly string[]).includes(p);
}

export function isSetPath(p: string): p is SetPath {
  return (SET_PATHS as readonly string[]).includes(p);
}

/** JSON with object keys sorted, so equal values always give equal text (and hashes). */
export function stableStringify(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${stableStringify(obj[k])}`).join(',')}}`;
}

/** Drops empty scalars and empty sets so that "absent" has one representation. */
export function compactFields(f: Fields): Fields {
  const out = emptyFields();
  for (const p of SCALAR_PATHS) {
    const v = f.s[p];
    if (v !== undefined && v !== '') out.s[p] = v;
  }
  for (const p of SET_PATHS) {
    const els = f.m[p];
    if (els && Object.keys(els).length > 0) out.m[p] = els;
  }
  return out;
}

const SORTED_SCALARS = [...SCALAR_PATHS].sort();
const SORTED_SETS = [...SET_PATHS].sort();

/**
 * `stableStringify(compactFields(f))`, character for character (hashes stored as merge bases stay
 * valid; card-fields.test.ts checks the two agree), without the generic walk over the outer
 * levels: the paths' order is known ahead, and nothing is copied. Hashing fields was 8 % of a
 * first sync's main thread.
 */
export function canonicalFields(f: Fields): string {
  let m = '';
  for (const p of SORTED_SETS) {
    const els = f.m[p];
    if (!els) continue;
    const keys = Object.keys(els);
    if (keys.length === 0) continue;
    keys.sort();
    let body = '';
    for (const k of keys) {
      const a = els[k];
      if (a === undefined) continue;
      body += `${body === '' ? '' : ','}${JSON.stringify(k)}:${stableStringify(a)}`;
    }
    m += `${m === '' ? '' : ','}"${p}":{${body}}`;
  }
  let s = '';
  for (const p of SORTED_SCALARS) {
    const v = f.s[p];
    if (v !== undefined && v !== '') s += `${s === '' ? '' : ','}"${p}":${JSON.stringify(v) ?? 'null'}`;
  }
  return `{"m":{${m}},"s":{${s}}}`;
}

export function hashFields(f: Fields): string {
  return createHash('sha256').update(canonicalFields(f)).digest('base64url').slice(0, 22);
}

export function fieldsEqual(a: Fields, b: Fields): boolean {
  return canonicalFields(a) === canonicalFields(b);
}

/** Keeps only the paths a spoke can store (`'all'` keeps everything). */
export function restrictFields(f: Fields, paths: 'all' | readonly FieldPath[]): Fields {
  if (paths === 'all') return compactFields(f);
  const out = emptyFields();
  for (const p of paths) {
    if (isScalarPath(p)) {
      const v = f.s[p];
      if (v !== undefined && v !== '') out.s[p] = v;
    } else {
      const els = f.m[p];
      if (els && Object.keys(els).length > 0) out.m[p] = els;
    }
  }
  return out;
}
