/**
 * First-sync matching (sync-design.md §B8): which hub contact, if any, a spoke item that has no link
 * yet is the same person as.
 *
 * Only strong identifiers link: the same UID, or an e-mail address or phone number that no other hub
 * contact has (a shared family address or a switchboard number is weak evidence and links nothing).
 * Names confirm or veto: the same identifier under two different names is not linked but sent to
 * review. A link is made only for a unique, mutual best match (one candidate strong enough to
 * link, and no other strong one on either side); every other plausible pairing goes to the review
 * list and the spoke item becomes a contact of its own — nothing is merged on a guess,
 * and matches are never chained (A~B, B~C does not link A with C).
 */
import type { Fields } from '../../model/fields.js';
import { nameKeyOfParts } from '../../model/normalize.js';

export interface MatchSubject {
  id: string;
  /** Strong identity keys: `u:<uid>`, `e:<email key>`, `p:<phone key>`. */
  keys: readonly string[];
  name: string | null;
}

export interface MatchCandidate {
  entityId: string;
  score: number;
}

export interface MatchOutcome {
  /** remote id → entity id: unique mutual best matches. */
  links: Map<string, string>;
  /** remote id → plausible candidates, for items that were not linked but resemble hub contacts. */
  reviews: Map<string, MatchCandidate[]>;
}

export const AUTO_LINK_SCORE = 71;
export const PLAUSIBLE_SCORE = 50;

/** Identity keys of a contact, from its fields and UID. Set elements stored raw are not identities. */
export function identityKeys(f: Fields, uid: string | null): string[] {
  const keys: string[] = [];
  if (uid) keys.push(`u:${uid}`);
  for (const k of Object.keys(f.m.emails ?? {})) if (!k.startsWith('raw:')) keys.push(`e:${k}`);
  for (const k of Object.keys(f.m.phones ?? {})) if (!k.startsWith('raw:')) keys.push(`p:${k}`);
  return keys.sort();
}

/** The name comparison key of `normalize.ts` (folded given and family names, sorted tokens). */
export function nameKeyOfFields(f: Fields): string | null {
  return nameKeyOfParts({ names: [f.s['name.given'], f.s['name.surname'], f.s['name.surname2']], full: f.s['name.full'] });
}

export function scorePair(
  item: MatchSubject,
  entity: MatchSubject,
  keyOwners: ReadonlyMap<string, number>,
): number {
  const ek = new Set(entity.keys);
  let uid = false;
  let strong = false;
  let email = false;
  for (const k of item.keys) {
    if (!ek.has(k)) continue;
    if (k.startsWith('u:')) uid = true;
    // An identifier held by several hub contacts says little about which one this is.
    else if ((keyOwners.get(k) ?? 0) <= 1) {
      strong = true;
      if (k.startsWith('e:')) email = true;
    }
  }
  if (uid) return 100;
  if (!strong) return 0;
  if (item.name === null || entity.name === null) return AUTO_LINK_SCORE;
  if (item.name === entity.name) return 99;
  // The same e-mail under another name (a maiden name, a nickname) is worth a person's look; a
  // phone number under another name is usually a shared line (a switchboard, a family landline).
  return email ? PLAUSIBLE_SCORE : 0;
}

/**
 * Matches a batch of unlinked spoke items against candidate hub contacts. Deterministic: the result
 * does not depend on the order of either list.
 */
export function matchItems(
  items: readonly MatchSubject[],
  candidates: readonly MatchSubject[],
  keyOwners: ReadonlyMap<string, number>,
): MatchOutcome {
  const byKey = new Map<string, MatchSubject[]>();
  for (const c of candidates) for (const k of c.keys) {
    const list = byKey.get(k);
    if (list) list.push(c);
    else byKey.set(k, [c]);
  }
  const plausible = new Map<string, MatchCandidate[]>(); // item id → candidates
  const suitors = new Map<string, { itemId: string; score: number }[]>(); // entity id → items
  for (const item of items) {
    const seen = new Set<string>();
    const list: MatchCandidate[] = [];
    for (const k of item.keys) for (const c of byKey.get(k) ?? []) {
      if (seen.has(c.id)) continue;
      seen.add(c.id);
      const score = scorePair(item, c, keyOwners);
      if (score >= PLAUSIBLE_SCORE) list.push({ entityId: c.id, score });
    }
    if (list.length === 0) continue;
    list.sort((a, b) => b.score - a.score || (a.entityId < b.entityId ? -1 : 1));
    plausible.set(item.id, list);
    for (const m of list) {
      const s = suitors.get(m.entityId);
      if (s) s.push({ itemId: item.id, score: m.score });
      else suitors.set(m.entityId, [{ itemId: item.id, score: m.score }]);
    }
  }
  const links = new Map<string, string>();
  const reviews = new Map<string, MatchCandidate[]>();
  const strongSuitors = (entityId: string) => (suitors.get(entityId) ?? []).filter((s) => s.score >= AUTO_LINK_SCORE).length;
  for (const [itemId, list] of [...plausible.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const best = list[0];
    const strongOnes = list.filter((m) => m.score >= AUTO_LINK_SCORE);
    // Unique: one candidate strong enough to link, and no other one strong enough to compete.
    const unique = best !== undefined && strongOnes.length === 1 && strongOnes[0] === best;
    const mutual = unique && strongSuitors(best.entityId) === 1;
    if (unique && mutual) {
      links.set(itemId, best.entityId);
      // Weaker resemblances of a linked item are not duplicates to review.
    } else reviews.set(itemId, list);
  }
  return { links, reviews };
}
