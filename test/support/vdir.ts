/**
 * Test helpers for vdir folders: throwaway folders, simple vCard 3.0 text, and reading a whole pull.
 */
import { mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Connector, ItemProblem, PullPage, RemoteItem } from '../../src/connectors/kit/contract.js';
import type { Card } from '../../src/model/card.js';
import { knownEtagsFrom } from '../../src/connectors/kit/known-etags.js';

/** A fresh empty folder under the OS temp dir; `cleanup` removes it with everything in it. */
export async function makeTempVdir(prefix = 'hubsync-vdir-'): Promise<{ dir: string; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/**
 * Writes `text` as `dir/name` and returns the path. `mtimeMs` sets the modification time, e.g. to
 * make two versions of a same-size file differ by etag.
 */
export async function writeVcf(dir: string, name: string, text: string, opts: { mtimeMs?: number } = {}): Promise<string> {
  const p = path.join(dir, name);
  await writeFile(p, text, 'utf8');
  if (opts.mtimeMs !== undefined) {
    const t = new Date(opts.mtimeMs);
    await utimes(p, t, t);
  }
  return p;
}

export function readVcf(dir: string, name: string): Promise<string> {
  return readFile(path.join(dir, name), 'utf8');
}

/** Every entry of the folder (hidden ones too), sorted. */
export async function listFolder(dir: string): Promise<string[]> {
  return (await readdir(dir)).sort();
}

export interface SimpleVcard {
  uid?: string;
  given?: string;
  surname?: string;
  /** FN; defaults to "given surname". */
  fn?: string;
  emails?: string[];
  phones?: string[];
  /** Raw content lines added before END:VCARD (`X-CUSTOM:1`, `item1.X-ABLabel:…`). */
  extra?: string[];
}

/** RFC 6350 §3.4 / RFC 2426 §4: backslash, comma, semicolon and newline are escaped in text values. */
function esc(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/,/g, '\\,').replace(/;/g, '\\;').replace(/\r?\n/g, '\\n');
}

/** A simple vCard 3.0 text with CRLF line ends (RFC 2426), as most tools write it. */
export function makeVcard(c: SimpleVcard): string {
  const given = c.given ?? '';
  const surname = c.surname ?? '';
  const fn = c.fn ?? ([given, surname].filter((s) => s !== '').join(' ') || 'Unnamed');
  const lines = ['BEGIN:VCARD', 'VERSION:3.0'];
  if (c.uid !== undefined) lines.push(`UID:${esc(c.uid)}`);
  lines.push(`FN:${esc(fn)}`, `N:${esc(surname)};${esc(given)};;;`);
  for (const e of c.emails ?? []) lines.push(`EMAIL;TYPE=INTERNET:${e}`);
  for (const p of c.phones ?? []) lines.push(`TEL;TYPE=CELL:${p}`);
  lines.push(...(c.extra ?? []), 'END:VCARD');
  return lines.map((l) => `${l}\r\n`).join('');
}

/**
 * A Card's uid, names, e-mails and phones as simple vCard 3.0 text, the way another tool would
 * write it (deliberately not through the model's own serializer).
 */
export function vcardOfCard(card: Card): string {
  const part = (kind: 'given' | 'surname'): string | undefined => card.name?.components?.find((c) => c.kind === kind)?.value;
  return makeVcard({
    uid: card.uid,
    given: part('given'),
    surname: part('surname'),
    fn: card.name?.full,
    emails: Object.values(card.emails ?? {}).map((e) => e.address),
    phones: Object.values(card.phones ?? {}).map((p) => p.number),
  });
}

/** The `.vcf` items in the folder, as the spoke lists them (no hidden files, no subfolders' content). */
export async function vcfNames(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  return entries.filter((d) => d.isFile() && /\.vcf$/i.test(d.name) && !d.name.startsWith('.')).map((d) => d.name).sort();
}

/** Writes `n` simple cards named `<uid>.vcf` (uids `c00000`, `c00001`, …); returns the names. */
export async function writeManyVcards(dir: string, n: number): Promise<string[]> {
  const names: string[] = [];
  for (let i = 0; i < n; i++) {
    const uid = `c${String(i).padStart(5, '0')}`;
    const name = `${uid}.vcf`;
    await writeVcf(dir, name, makeVcard({ uid, given: `Given${i}`, surname: `Surname${i}`, emails: [`p${i}@example.com`] }));
    names.push(name);
  }
  return names;
}

export interface CollectedPull {
  pages: PullPage[];
  items: RemoteItem[];
  unchanged: string[];
  deleted: string[];
  problems: ItemProblem[];
  /** Every page said `complete`. */
  complete: boolean;
  /** The last page's cursor. */
  cursor: string | null | undefined;
}

/** Runs one pull to the end; `known` plays the hub's etag memory (id → etag). */
export async function collectPull(connector: Connector, known: ReadonlyMap<string, string> = new Map()): Promise<CollectedPull> {
  const out: CollectedPull = { pages: [], items: [], unchanged: [], deleted: [], problems: [], complete: true, cursor: undefined };
  for await (const page of connector.pull({ cursor: null, knownEtags: knownEtagsFrom((id) => known.get(id)) })) {
    out.pages.push(page);
    out.items.push(...page.items);
    out.unchanged.push(...page.unchanged);
    out.deleted.push(...page.deleted);
    out.problems.push(...page.problems);
    out.complete &&= page.complete;
    out.cursor = page.cursor;
  }
  return out;
}

/** id → etag of a pull's items and of the ids it listed unchanged (taken from `previous`). */
export function etagsOf(pull: CollectedPull, previous: ReadonlyMap<string, string> = new Map()): Map<string, string> {
  const m = new Map<string, string>();
  for (const id of pull.unchanged) {
    const e = previous.get(id);
    if (e !== undefined) m.set(id, e);
  }
  for (const it of pull.items) if (it.etag !== null) m.set(it.id, it.etag);
  return m;
}
