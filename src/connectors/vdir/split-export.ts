/**
 * One `.vcf` holding many contacts (what Google Contacts, Outlook and iCloud export) written as one
 * file per contact beside it, which is how a vCard folder spoke reads them (the vdir layout: one
 * item per file). A vdir spoke reads only the first card of such a file and reports the rest
 * (lift.ts); `hubsync split-vcards FILE` and the web app's problems page bring them all in.
 *
 * Each card is copied as written (nothing is parsed and rewritten), under a name made from its UID;
 * existing files are never overwritten. The original is renamed to `FILE.split` only once every card
 * is written, so that its first card is not read twice; if a write fails, it stays as it was.
 */
import { createHash } from 'node:crypto';
import { readFile, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseVCard, splitVCardTexts } from '../../model/vcard.js';

export type SplitOutcome =
  /** No BEGIN:VCARD line at all. */
  | { kind: 'none' }
  /** One card: nothing to do. */
  | { kind: 'one' }
  | { kind: 'split'; cards: number; dir: string; aside: string };

/** A file name from a card's UID (`urn:uuid:` dropped, other characters made safe), or its text's hash. */
function baseName(cardText: string): string {
  let uid = '';
  try {
    uid = parseVCard(cardText).card.uid;
  } catch {
    // Not readable alone: named by its hash, and the sync reports what is wrong with it.
  }
  const safe = uid
    .replace(/^urn:uuid:/i, '')
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^[.-]+/, '')
    .slice(0, 100);
  return safe !== '' ? safe : createHash('sha1').update(cardText).digest('hex').slice(0, 20);
}

async function exists(p: string): Promise<boolean> {
  return (await stat(p).catch(() => null)) !== null;
}

/** Splits `source` (an absolute path). Throws an Error whose message says what was done and what failed. */
export async function splitExport(source: string): Promise<SplitOutcome> {
  let bytes: Buffer;
  try {
    bytes = await readFile(source);
  } catch (e) {
    throw new Error(`Cannot read ${source}: ${(e as Error).message}`);
  }
  // Read and written back byte for byte (latin1 maps each byte to one character and back): an
  // export in Windows-1252 or with 2.1 CHARSET parameters is copied as it is, not decoded as
  // UTF-8 and damaged. A UTF-8 byte order mark is left out (it would hide the first BEGIN line).
  const bom = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  const cards = splitVCardTexts(bytes.subarray(bom).toString('latin1'));
  if (cards.length === 0) return { kind: 'none' };
  if (cards.length === 1) return { kind: 'one' };
  const dir = path.dirname(source);
  const taken = new Set<string>();
  let written = 0;
  for (const card of cards) {
    const base = baseName(card);
    let name = `${base}.vcf`;
    for (let n = 2; taken.has(name.toLowerCase()) || (await exists(path.join(dir, name))); n++) name = `${base}-${n}.vcf`;
    taken.add(name.toLowerCase());
    try {
      // 'wx': never over a file that appeared meanwhile.
      await writeFile(path.join(dir, name), Buffer.from(card, 'latin1'), { flag: 'wx' });
    } catch (e) {
      throw new Error(
        `Wrote ${written} of ${cards.length} contacts, then could not write ${path.join(dir, name)}: ${(e as Error).message}. ` +
          `${path.basename(source)} was left as it is; the files written are kept.`,
      );
    }
    written += 1;
  }
  let aside = `${source}.split`;
  for (let n = 2; await exists(aside); n++) aside = `${source}.split-${n}`;
  await rename(source, aside);
  return { kind: 'split', cards: cards.length, dir, aside };
}
