/**
 * Realistic sample contacts, generated deterministically from a seed: for the demo that
 * `npm start` sets up, and for the benchmarks. Names and places are varied (accents, non-Latin
 * scripts, apostrophes), e-mails and phones are unique per person, and a few people share a
 * company switchboard number — as real address books do.
 */

export interface SampleContact {
  uid: string;
  given: string;
  surname: string;
  org?: string;
  title?: string;
  emails: string[];
  phones: string[];
  city?: string;
  note?: string;
  categories: string[];
}

const GIVEN = ['Anne', 'Bruno', 'Chloé', 'David', 'Émilie', 'François', 'Gaëlle', 'Hugo', 'Inès', 'Jean', 'Karim', 'Léa', 'Mathis', 'Noémie', 'Oscar', 'Pauline', 'Quentin', 'Rose', 'Sacha', 'Théo', 'Ulla', 'Victor', 'Wen', 'Xavier', 'Yasmine', 'Zoé', 'Ana', 'Björn', 'Çelik', 'Dmitri', 'Søren', 'Łukasz', 'Ngozi', 'Priya', 'José', 'Mei', 'Ørjan', 'Aoife', 'Siobhán', 'Yuki'];
const SURNAME = ['Martin', 'Bernard', 'Dubois', 'Thomas', 'Robert', 'Richard', 'Petit', 'Durand', 'Leroy', 'Moreau', 'Simon', 'Laurent', 'Lefèvre', 'Michel', 'García', 'David', 'Bertrand', 'Roux', 'Vincent', 'Fournier', "O'Brien", 'Müller', 'Schmidt', 'Nguyen', 'Kowalski', 'Rossi', 'Andersson', 'Tanaka', 'Okafor', 'Patel', 'Smith', 'Jones', 'Da Silva', 'Van der Berg', 'Öztürk', 'Ivanova', 'Haddad', 'Cohen', 'Larsen', 'Fernández'];
const ORGS = ['Acme', 'Globex', 'Initech', 'Umbrella', 'Hooli', 'Stark Industries', 'Wayne Enterprises', 'Soylent', 'Cyberdyne', 'Tyrell'];
const TITLES = ['Sales', 'Engineering', 'Accounting', 'Support', 'Marketing', 'Legal'];
const CITIES = ['Paris', 'Lyon', 'Montréal', 'Genève', 'Bruxelles', 'Berlin', 'London', 'New York', 'Tōkyō', 'São Paulo'];
const CATEGORIES = ['Family', 'Friends', 'Work', 'Clients', 'Suppliers', 'Golf club'];

/** A small, fast, seedable PRNG (mulberry32): the same seed gives the same contacts everywhere. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;

function ascii(s: string): string {
  return s
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .replace(/[^A-Za-z0-9]+/g, '')
    .toLowerCase();
}

/** Person number `i` of a seeded population: the same (seed, i) always gives the same person. */
export function sampleContact(seed: number, i: number): SampleContact {
  const r = seededRandom(seed * 1_000_003 + i);
  const given = pick(r, GIVEN);
  const surname = pick(r, SURNAME);
  const work = r() < 0.6;
  const org = work ? pick(r, ORGS) : undefined;
  const emails = [`${ascii(given)}.${ascii(surname)}.${i}@${work ? `${ascii(org ?? 'mail')}.example` : 'mail.example'}`];
  if (r() < 0.3) emails.push(`${ascii(given)}${i}@home.example`);
  const phones = [`+33 6 ${String(10_000_000 + ((i * 7919) % 89_999_999)).replace(/(\d{2})(?=\d)/g, '$1 ')}`];
  if (work && r() < 0.2) phones.push(`+33 1 44 55 ${String(10 + ORGS.indexOf(org ?? '')).padStart(2, '0')} 00`);
  const c: SampleContact = {
    uid: `sample-${seed}-${i}`,
    given,
    surname,
    emails,
    phones,
    categories: r() < 0.4 ? [pick(r, CATEGORIES)] : [],
  };
  if (org) c.org = org;
  if (work) c.title = pick(r, TITLES);
  if (r() < 0.5) c.city = pick(r, CITIES);
  if (r() < 0.1) c.note = `Met at the ${pick(r, CITIES)} fair; prefers e-mail.`;
  return c;
}

const esc = (s: string) => s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/([,;])/g, '\\$1');

/** A vCard 3.0 text for a sample contact (RFC 2426), as a phone or a desktop program would write it. */
export function sampleVcard(c: SampleContact): string {
  const lines = [
    'BEGIN:VCARD',
    'VERSION:3.0',
    `UID:${c.uid}`,
    `FN:${esc(`${c.given} ${c.surname}`)}`,
    `N:${esc(c.surname)};${esc(c.given)};;;`,
  ];
  if (c.org) lines.push(`ORG:${esc(c.org)}`);
  if (c.title) lines.push(`TITLE:${esc(c.title)}`);
  c.emails.forEach((e, k) => lines.push(`EMAIL;TYPE=${k === 0 && c.org ? 'WORK' : 'HOME'}:${e}`));
  c.phones.forEach((p, k) => lines.push(`TEL;TYPE=${k === 0 ? 'CELL' : 'WORK'}:${p}`));
  if (c.city) lines.push(`ADR;TYPE=HOME:;;;${esc(c.city)};;;`);
  if (c.note) lines.push(`NOTE:${esc(c.note)}`);
  if (c.categories.length > 0) lines.push(`CATEGORIES:${c.categories.map(esc).join(',')}`);
  lines.push('END:VCARD');
  return `${lines.join('\r\n')}\r\n`;
}
