/**
 * The benchmark's address books: three folders of .vcf files ("phone", "laptop", "backup") whose
 * union is N distinct people, as three devices that were never synced would hold them.
 *
 * - Each person is in one folder (55 %) or two (45 %), so the first sync has to match the people
 *   two folders share, merge them, and create every missing person in every folder.
 * - The same person has a different file name and UID in each folder, so matching works on the
 *   e-mail addresses and phone numbers (UIDs never match across folders).
 * - A quarter of the shared people differ between their two folders: a phone written in the
 *   national format, another job title, an extra e-mail address, or a note.
 *
 * Everything is deterministic from the seed. Generation is not part of any measurement.
 */
import { createHash } from 'node:crypto';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { sampleContact, sampleVcard, seededRandom, type SampleContact } from '../src/demo/sample-contacts.js';

export const FOLDERS = ['phone', 'laptop', 'backup'] as const;
export type FolderIndex = 0 | 1 | 2;

export type Variant = 'national-phone' | 'title' | 'extra-email' | 'note';
const VARIANTS: readonly Variant[] = ['national-phone', 'title', 'extra-email', 'note'];

export interface Placement {
  folders: FolderIndex[];
  /** How the copy in the second folder differs, if it does. */
  variant: Variant | null;
}

/** People created by the incremental rounds are numbered from here (never clashes with 0…N-1). */
const CREATED_BASE = 50_000_000;
/** Concurrent file writes while generating. */
const WRITE_CONCURRENCY = 64;

function mix(seed: number, i: number, salt: number): number {
  let h = Math.imul(i ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(seed + salt, 0xc2b2ae35);
  h ^= h >>> 16;
  h = Math.imul(h, 0x27d4eb2d);
  return (h ^ (h >>> 15)) >>> 0;
}

export function placement(seed: number, i: number): Placement {
  const r = seededRandom(mix(seed, i, 1));
  const first = Math.floor(r() * 3) as FolderIndex;
  if (r() < 0.55) return { folders: [first], variant: null };
  const second = ((first + 1 + Math.floor(r() * 2)) % 3) as FolderIndex;
  const variant = r() < 0.25 ? (VARIANTS[Math.floor(r() * VARIANTS.length)] as Variant) : null;
  return { folders: [first, second], variant };
}

function hex(...parts: (string | number)[]): string {
  return createHash('sha1').update(parts.join(':')).digest('hex');
}

function uuidOf(h: string): string {
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

function slug(s: string): string {
  return s
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .replace(/[^A-Za-z0-9]+/g, '')
    .toLowerCase();
}

/** The file name and UID person `i` has in a folder: every device names its files its own way. */
export function fileOf(seed: number, folder: FolderIndex, c: SampleContact, i: number): { name: string; uid: string } {
  const h = hex(seed, folder, i);
  switch (folder) {
    case 0: // a phone: UUID file names and UIDs
      return { name: `${uuidOf(h)}.vcf`, uid: uuidOf(h) };
    case 1: // a desktop program: readable file names, its own UID scheme
      return { name: `${slug(c.given) || 'x'}-${slug(c.surname) || 'x'}-${i.toString(36)}.vcf`, uid: `laptop-${h.slice(0, 16)}@bench.example` };
    default: // a backup tool: opaque names, urn:uuid UIDs
      return { name: `${h.slice(0, 24)}.vcf`, uid: `urn:uuid:${uuidOf(hex('uid', seed, i))}` };
  }
}

function applyVariant(c: SampleContact, v: Variant, i: number): SampleContact {
  const d: SampleContact = { ...c, emails: [...c.emails], phones: [...c.phones], categories: [...c.categories] };
  switch (v) {
    case 'national-phone':
      d.phones[0] = (d.phones[0] ?? '').replace(/^\+33 /, '0');
      break;
    case 'title':
      d.title = 'Board member';
      break;
    case 'extra-email':
      d.emails.push(`${slug(c.given) || 'x'}.${i}@other.example`);
      break;
    case 'note':
      d.note = 'Met again at the 2024 conference.';
      break;
  }
  return d;
}

async function forEachBounded<T>(xs: Iterable<T>, limit: number, fn: (x: T) => Promise<void>): Promise<void> {
  const it = xs[Symbol.iterator]();
  const worker = async (): Promise<void> => {
    for (let n = it.next(); !n.done; n = it.next()) await fn(n.value);
  };
  await Promise.all(Array.from({ length: limit }, worker));
}

export interface GenerationStats {
  people: number;
  files: number[];
  inTwoFolders: number;
  withVariant: number;
  bytes: number;
  ms: number;
}

/** A company switchboard number, shared by every sample person of that company who has one. */
const SWITCHBOARD = /^\+33 1 44 55 /;

/**
 * Writes the three folders (which must exist and be empty). `sharedPhones: false` (an experiment)
 * drops the company switchboard numbers, the identifiers many people share.
 */
export async function generateFolders(dirs: readonly string[], seed: number, n: number, opts: { sharedPhones?: boolean } = {}): Promise<GenerationStats> {
  const t0 = performance.now();
  const stats: GenerationStats = { people: n, files: [0, 0, 0], inTwoFolders: 0, withVariant: 0, bytes: 0, ms: 0 };
  function* jobs(): Generator<{ file: string; text: string }> {
    for (let i = 0; i < n; i++) {
      const sample = sampleContact(seed, i);
      const base = opts.sharedPhones === false ? { ...sample, phones: sample.phones.filter((p) => !SWITCHBOARD.test(p)) } : sample;
      const p = placement(seed, i);
      if (p.folders.length > 1) stats.inTwoFolders += 1;
      if (p.variant) stats.withVariant += 1;
      for (let k = 0; k < p.folders.length; k++) {
        const folder = p.folders[k] as FolderIndex;
        const c = k === 1 && p.variant ? applyVariant(base, p.variant, i) : base;
        const { name, uid } = fileOf(seed, folder, c, i);
        const text = sampleVcard({ ...c, uid });
        stats.files[folder] = (stats.files[folder] ?? 0) + 1;
        stats.bytes += Buffer.byteLength(text);
        yield { file: path.join(dirs[folder] as string, name), text };
      }
    }
  }
  await forEachBounded(jobs(), WRITE_CONCURRENCY, async (j) => {
    await fsp.writeFile(j.file, j.text, { flag: 'wx' });
  });
  stats.ms = performance.now() - t0;
  return stats;
}

/** The item files of a folder, as the vdir spoke lists them (.vcf, not hidden), sorted. */
export async function listVcf(dir: string): Promise<string[]> {
  const names = await fsp.readdir(dir);
  return names.filter((s) => /\.vcf$/i.test(s) && !s.startsWith('.')).sort();
}

/** Person number from a card's text: every generated e-mail address is `….<i>@…`. */
function personOf(text: string): string | null {
  const m = /\.(\d+)@/.exec(text);
  return m ? (m[1] as string) : null;
}

/** Replaces the NOTE (and its folded continuation lines) with a new one. */
export function withNote(text: string, note: string): string {
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  const lines = text.split(/\r?\n/);
  const out: string[] = [];
  let skipping = false;
  for (const line of lines) {
    if (skipping && /^[ \t]/.test(line)) continue;
    skipping = /^(?:[A-Za-z0-9-]+\.)?NOTE[;:]/i.test(line);
    if (skipping) continue;
    if (/^END:VCARD$/i.test(line)) out.push(`NOTE:${note}`);
    out.push(line);
  }
  return out.join(eol);
}

export interface MutationPlan {
  edits: number;
  creates: number;
  deletes: number;
}

export interface MutationResult {
  edited: number;
  created: number;
  deleted: number;
  /** [edits, creates, deletes] per folder. */
  perFolder: [number, number, number][];
}

/**
 * One round of changes made "by people" on the devices between two syncs, spread over the three
 * folders: edits (a new note), new contacts, deletions. Each touches a different person, so no
 * two folders edit the same contact in one round (that would be a conflict, not an edit).
 */
export async function mutate(dirs: readonly string[], seed: number, round: number, plan: MutationPlan): Promise<MutationResult> {
  const r = seededRandom(mix(seed, round, 7));
  const listings = await Promise.all(dirs.map(listVcf));
  const used = new Set<string>();
  const res: MutationResult = { edited: 0, created: 0, deleted: 0, perFolder: dirs.map(() => [0, 0, 0]) };

  const pick = async (folder: number): Promise<{ file: string; text: string } | null> => {
    const names = listings[folder] as string[];
    for (let attempt = 0; attempt < 100 && names.length > 0; attempt++) {
      const idx = Math.floor(r() * names.length);
      const name = names[idx] as string;
      const file = path.join(dirs[folder] as string, name);
      const text = await fsp.readFile(file, 'utf8');
      const person = personOf(text);
      if (person === null || used.has(person)) continue;
      used.add(person);
      names.splice(idx, 1);
      return { file, text };
    }
    return null;
  };

  for (let k = 0; k < plan.edits; k++) {
    const folder = k % dirs.length;
    const got = await pick(folder);
    if (!got) throw new Error(`bench: found no file to edit in ${dirs[folder]}`);
    await fsp.writeFile(got.file, withNote(got.text, `Bench edit, round ${round}, #${k}`));
    res.edited += 1;
    (res.perFolder[folder] as [number, number, number])[0] += 1;
  }
  for (let k = 0; k < plan.deletes; k++) {
    const folder = (k + 1) % dirs.length;
    const got = await pick(folder);
    if (!got) throw new Error(`bench: found no file to delete in ${dirs[folder]}`);
    await fsp.unlink(got.file);
    res.deleted += 1;
    (res.perFolder[folder] as [number, number, number])[2] += 1;
  }
  for (let k = 0; k < plan.creates; k++) {
    const folder = ((k + 2) % dirs.length) as FolderIndex;
    const i = CREATED_BASE + round * 10_000 + k;
    const c = sampleContact(seed, i);
    const { name, uid } = fileOf(seed, folder, c, i);
    await fsp.writeFile(path.join(dirs[folder] as string, name), sampleVcard({ ...c, uid }), { flag: 'wx' });
    res.created += 1;
    (res.perFolder[folder] as [number, number, number])[1] += 1;
  }
  return res;
}

/** A digest of a folder's item files (name, size, mtime in ns): equal digests, untouched folder. */
export async function folderDigest(dir: string): Promise<{ files: number; digest: string }> {
  const names = await listVcf(dir);
  const h = createHash('sha1');
  for (const name of names) {
    const st = await fsp.stat(path.join(dir, name), { bigint: true });
    h.update(`${name}\0${st.size}\0${st.mtimeNs}\n`);
  }
  return { files: names.length, digest: h.digest('hex') };
}
