/**
 * Lifting one `.vcf` file into a `RemoteItem`. Pure: the text and its stat come in, the item and
 * its problems go out.
 */
import { parseVCard } from '../../model/vcard.js';
import type { ItemProblem, RemoteItem } from '../kit/contract.js';
import { etagOf, modifiedAtOf, type ItemStat } from './fs-io.js';
import { readMarkerStamp } from './names.js';

export type LiftResult =
  | { kind: 'item'; item: RemoteItem; problems: ItemProblem[] }
  /** Not a vCard at all: reported, and the file is left as it is. */
  | { kind: 'unparseable'; problem: ItemProblem };

export interface LiftInput {
  id: string;
  text: string;
  stat: ItemStat;
  notUtf8?: boolean;
  defaultRegion: string;
  /** The marker stamped in `text`, when the caller stamped it itself (spares looking for it). */
  marker?: string;
}

export function liftVcf({ id, text, stat, notUtf8 = false, defaultRegion, marker }: LiftInput): LiftResult {
  let parsed: ReturnType<typeof parseVCard>;
  try {
    parsed = parseVCard(text, { defaultRegion });
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    return {
      kind: 'unparseable',
      problem: { id, message: `${id} is not a readable vCard (${why}); the file is left untouched` },
    };
  }
  const problems: ItemProblem[] = parsed.problems.map((p) => ({ id, field: p.field, message: `${id}: ${p.message}` }));
  // An export of a whole address book: `parseVCard` read its first card and said so; say what to do.
  for (const [i, p] of parsed.problems.entries()) {
    const many = p.field === 'VCARD' ? /holds (\d+) vCards/.exec(p.message) : null;
    if (!many) continue;
    problems[i] = {
      id,
      field: 'VCARD',
      message: `${id}: holds ${many[1]} contacts; only the first was read (a vCard folder holds one contact per file: \`hubsync split-vcards ${id}\` writes each to a file of its own)`,
      // split-export.ts; the web app's problems page offers it.
      remedy: 'split-file',
    };
  }
  if (notUtf8) {
    problems.push({
      id,
      message: `${id} is not UTF-8 (RFC 6350 §3.1 requires it); it was read as Windows-1252 and is written back as UTF-8`,
    });
  }
  return {
    kind: 'item',
    item: { id, etag: etagOf(stat), card: parsed.card, marker: marker ?? readMarkerStamp(text), modifiedAt: modifiedAtOf(stat) },
    problems,
  };
}

/**
 * How many `BEGIN:VCARD` lines the text has (cheap: only scans when there could be a second one).
 * The vdir format stores one item per file; `parseVCard` reads the first card of a file holding
 * more and reports the rest, and `update` refuses to rewrite such a file so that none is lost.
 */
export function countVCards(text: string): number {
  const first = text.search(/BEGIN:VCARD/i);
  if (first < 0) return 0;
  if (!/BEGIN:VCARD/i.test(text.slice(first + 11))) return 1;
  return text.match(/^BEGIN:VCARD/gim)?.length ?? 1;
}
