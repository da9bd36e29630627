/**
 * The simulated world's contacts: small value domains (so that matches, shared identifiers and
 * collisions are frequent, as vdirsyncer's small UID alphabet makes them), how a generated person
 * becomes a Card on a spoke, and the edits a simulated user makes to a Card.
 *
 * Everything here is plain data plus pure functions, so fast-check can generate, print and shrink
 * it, and a failing case can be pasted into a regression test as it is.
 */
import type { Card, NameComponent } from '../../../src/model/card.js';
import type { FieldPath } from '../../../src/model/fields.js';
import { phoneKey } from '../../../src/model/normalize.js';

export const REGION = 'DE';

export const GIVEN = ['Ann', 'Bob', 'Chloé', 'Dmitri', 'Emma', 'Farid'] as const;
export const FAMILY = ['Lee', 'Müller', 'Novak', 'Okafor', 'Perez', 'Quinn'] as const;
/** Eight addresses; two are shared by nature (a company desk, a family address). */
export const EMAILS = [
  'ann@example.org',
  'bob@example.org',
  'info@acme.example',
  'emma.p@mail.example',
  'farid@example.net',
  'family@home.example',
  'd.novak@work.example',
  'q@quinn.example',
] as const;
/** Eight numbers, each in three formats that all have the same E.164 key in region DE. */
export const PHONES: readonly (readonly [string, string, string])[] = [
  ['+49 30 12345670', '030 12345670', '+493012345670'],
  ['+49 40 5556677', '040 5556677', '+49405556677'],
  ['+49 89 2223344', '089 2223344', '+49892223344'],
  ['+49 171 2345678', '0171 2345678', '+491712345678'],
  ['+49 221 998877', '0221 998877', '+49221998877'],
  ['+49 69 4455667', '069 4455667', '+49694455667'],
  ['+49 511 123456', '0511 123456', '+49511123456'],
  ['+49 351 7654321', '0351 7654321', '+493517654321'],
];
export const ORGS = ['Acme', 'Globex', 'Initech'] as const;
export const NOTES = ['met at the conference', 'call back on Monday', 'VIP'] as const;
export const TITLES = ['CEO', 'Engineer', 'Nurse'] as const;
export const LABELS = ['work', 'home', 'old'] as const;

/** An e-mail address as a person may type it: as is, capitalised, or in upper case. */
export function emailVariant(i: number, v: number): string {
  const a = EMAILS[mod(i, EMAILS.length)] as string;
  switch (mod(v, 3)) {
    case 0:
      return a;
    case 1:
      return a.charAt(0).toUpperCase() + a.slice(1);
    default:
      return a.toUpperCase();
  }
}

export function phoneFormat(i: number, f: number): string {
  const p = PHONES[mod(i, PHONES.length)] as readonly string[];
  return p[mod(f, 3)] as string;
}

export function mod(n: number, m: number): number {
  return ((n % m) + m) % m;
}

/** A person as generated: indexes into the domains (null = no such field). */
export interface PersonSpec {
  given: number | null;
  surname: number | null;
  emails: { i: number; v: number }[];
  phones: { i: number; f: number }[];
  org: number | null;
  note: number | null;
  title: number | null;
}

/** The Card a person types into an address book (ids `e1`, `p1`…, as a provider would number them). */
export function personCard(p: PersonSpec, uid: string): Card {
  const card: Card = { '@type': 'Card', version: '1.0', uid };
  const comps: NameComponent[] = [];
  if (p.given !== null) comps.push({ kind: 'given', value: GIVEN[mod(p.given, GIVEN.length)] as string });
  if (p.surname !== null) comps.push({ kind: 'surname', value: FAMILY[mod(p.surname, FAMILY.length)] as string });
  if (comps.length > 0) card.name = { components: comps };
  const emails = dedupeBy(p.emails.map((e) => emailVariant(e.i, e.v)), (a) => a.toLowerCase());
  if (emails.length > 0) card.emails = Object.fromEntries(emails.map((address, i) => [`e${i + 1}`, { address }]));
  const phones = dedupeBy(p.phones.map((x) => phoneFormat(x.i, x.f)), (n) => phoneKey(n, REGION));
  if (phones.length > 0) card.phones = Object.fromEntries(phones.map((number, i) => [`p${i + 1}`, { number }]));
  if (p.org !== null) card.organizations = { o1: { name: ORGS[mod(p.org, ORGS.length)] as string } };
  if (p.note !== null) card.notes = { n1: { note: NOTES[mod(p.note, NOTES.length)] as string } };
  if (p.title !== null) card.titles = { t1: { name: TITLES[mod(p.title, TITLES.length)] as string, kind: 'title' } };
  return card;
}

function dedupeBy<T>(xs: readonly T[], key: (x: T) => string): T[] {
  const seen = new Set<string>();
  const out: T[] = [];
  for (const x of xs) {
    const k = key(x);
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(x);
  }
  return out;
}

/**
 * A copy of a "truth" person on one spoke, perturbed (design C2: states derived by perturbing one
 * truth, so that they are correlated): `p` is a bit set of perturbations.
 */
export interface CopySpec {
  t: number;
  p: number;
  /** Carries the truth's UID (a CardDAV copy of the same vCard) instead of a spoke-local one. */
  sameUid: boolean;
}

export const PERTURB = {
  dropFirstEmail: 1,
  emailCase: 2,
  phoneFormat: 4,
  dropFirstPhone: 8,
  dropGiven: 16,
  otherOrg: 32,
  addNote: 64,
  otherGiven: 128,
} as const;

export function perturb(truth: PersonSpec, p: number): PersonSpec {
  const out: PersonSpec = structuredClone(truth);
  if (p & PERTURB.dropFirstEmail) out.emails = out.emails.slice(1);
  if (p & PERTURB.emailCase) out.emails = out.emails.map((e) => ({ i: e.i, v: e.v + 1 }));
  if (p & PERTURB.phoneFormat) out.phones = out.phones.map((x) => ({ i: x.i, f: x.f + 1 }));
  if (p & PERTURB.dropFirstPhone) out.phones = out.phones.slice(1);
  if (p & PERTURB.dropGiven) out.given = null;
  else if (p & PERTURB.otherGiven && out.given !== null) out.given = out.given + 1;
  if (p & PERTURB.otherOrg) out.org = (out.org ?? 0) + 1;
  if (p & PERTURB.addNote) out.note = out.note ?? 0;
  return out;
}

// ---------------------------------------------------------------------------------------------
// What a simulated user does to one item

export type ScalarUserPath = 'name.given' | 'name.surname' | 'org.name' | 'note' | 'title';
export const SCALAR_USER_PATHS: readonly ScalarUserPath[] = ['name.given', 'name.surname', 'org.name', 'note', 'title'];

export type UserEdit =
  | { op: 'set'; path: ScalarUserPath; value: number }
  | { op: 'clear'; path: ScalarUserPath }
  | { op: 'addEmail'; email: number; variant: number }
  | { op: 'removeEmail'; pick: number }
  | { op: 'labelEmail'; pick: number; label: number }
  | { op: 'addPhone'; phone: number; format: number }
  | { op: 'removePhone'; pick: number };

/** The field path an edit touches (an edit of a path the spoke cannot store is skipped). */
export function pathOfEdit(e: UserEdit): FieldPath {
  switch (e.op) {
    case 'set':
    case 'clear':
      return e.path;
    case 'addEmail':
    case 'removeEmail':
    case 'labelEmail':
      return 'emails';
    case 'addPhone':
    case 'removePhone':
      return 'phones';
  }
}

function scalarDomain(path: ScalarUserPath): readonly string[] {
  switch (path) {
    case 'name.given':
      return GIVEN;
    case 'name.surname':
      return FAMILY;
    case 'org.name':
      return ORGS;
    case 'note':
      return NOTES;
    case 'title':
      return TITLES;
  }
}

function setNameComponent(card: Card, kind: 'given' | 'surname', value: string | null): void {
  const comps = (card.name?.components ?? []).filter((c) => c.kind !== kind);
  if (value !== null) comps.push({ kind, value });
  if (comps.length > 0) card.name = { ...(card.name ?? {}), components: comps };
  else if (card.name) {
    delete card.name.components;
    if (card.name.full === undefined) delete card.name;
  }
}

function setScalar(card: Card, path: ScalarUserPath, value: string | null): void {
  switch (path) {
    case 'name.given':
      setNameComponent(card, 'given', value);
      return;
    case 'name.surname':
      setNameComponent(card, 'surname', value);
      return;
    case 'org.name':
      if (value === null) delete card.organizations;
      else card.organizations = { o1: { name: value } };
      return;
    case 'note':
      if (value === null) delete card.notes;
      else card.notes = { n1: { note: value } };
      return;
    case 'title':
      if (value === null) delete card.titles;
      else card.titles = { t1: { name: value, kind: 'title' } };
      return;
  }
}

function freeId(rec: Record<string, unknown> | undefined, prefix: string): string {
  for (let n = 1; ; n++) if (!rec || !(`${prefix}${n}` in rec)) return `${prefix}${n}`;
}

/** Applies a user's edit to a copy of a stored card (in place). */
export function applyUserEdit(card: Card, e: UserEdit): void {
  switch (e.op) {
    case 'set': {
      const dom = scalarDomain(e.path);
      setScalar(card, e.path, dom[mod(e.value, dom.length)] as string);
      return;
    }
    case 'clear':
      setScalar(card, e.path, null);
      return;
    case 'addEmail': {
      const address = emailVariant(e.email, e.variant);
      const have = Object.values(card.emails ?? {}).some((x) => x.address.toLowerCase() === address.toLowerCase());
      if (have) return;
      card.emails = { ...(card.emails ?? {}), [freeId(card.emails, 'e')]: { address } };
      return;
    }
    case 'removeEmail': {
      const ids = Object.keys(card.emails ?? {});
      if (ids.length === 0) return;
      const id = ids[mod(e.pick, ids.length)] as string;
      const next = { ...(card.emails ?? {}) };
      delete next[id];
      if (Object.keys(next).length > 0) card.emails = next;
      else delete card.emails;
      return;
    }
    case 'labelEmail': {
      const ids = Object.keys(card.emails ?? {});
      if (ids.length === 0 || !card.emails) return;
      const id = ids[mod(e.pick, ids.length)] as string;
      const el = card.emails[id];
      if (el) card.emails[id] = { ...el, label: LABELS[mod(e.label, LABELS.length)] as string };
      return;
    }
    case 'addPhone': {
      const number = phoneFormat(e.phone, e.format);
      const have = Object.values(card.phones ?? {}).some((x) => phoneKey(x.number, REGION) === phoneKey(number, REGION));
      if (have) return;
      card.phones = { ...(card.phones ?? {}), [freeId(card.phones, 'p')]: { number } };
      return;
    }
    case 'removePhone': {
      const ids = Object.keys(card.phones ?? {});
      if (ids.length === 0) return;
      const id = ids[mod(e.pick, ids.length)] as string;
      const next = { ...(card.phones ?? {}) };
      delete next[id];
      if (Object.keys(next).length > 0) card.phones = next;
      else delete card.phones;
      return;
    }
  }
}

/**
 * What the normalising spoke's server does to what the engine writes (hard case 13): phone numbers
 * rewritten in E.164, e-mail addresses in lower case. The element keys do not change; the texts do.
 */
export function serverNormalize(card: Card): Card {
  const out = structuredClone(card);
  if (out.phones) {
    for (const p of Object.values(out.phones)) {
      const k = phoneKey(p.number, REGION);
      if (k.startsWith('+')) p.number = k;
    }
  }
  if (out.emails) for (const e of Object.values(out.emails)) e.address = e.address.toLowerCase();
  return out;
}
