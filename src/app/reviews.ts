/**
 * Possible duplicates: contacts that first-sync matching kept apart because they resemble others
 * (it links only a unique, mutual best match; docs/sync-engine.md). Listed by `hubsync review` and
 * on the hub's page, where a person dismisses them.
 */
import type { Kysely } from 'kysely';
import type { Schema } from '../store/schema.js';

type Db = Kysely<Schema>;

export interface OpenReview {
  id: string;
  spokeId: string;
  /** The spoke's item the contact came from. */
  item: string;
  contact: string;
  candidates: { entityId: string; score: number }[];
}

/**
 * Possible duplicates still worth a look: open, with the contact and at least one of the contacts
 * it resembles not deleted. A person who settles one by deleting a copy (what `hubsync review`
 * suggests) should not find it listed still.
 */
export async function openReviews(db: Db, hubId: string): Promise<OpenReview[]> {
  const rows = await db
    .selectFrom('reviews')
    .innerJoin('entities', 'entities.id', 'reviews.entity_id')
    .select(['reviews.id', 'reviews.spoke_id', 'reviews.remote_id', 'reviews.entity_id', 'reviews.candidates'])
    .where('reviews.hub_id', '=', hubId)
    .where('reviews.status', '=', 'open')
    .where('entities.deleted', '=', 0)
    .orderBy('reviews.id')
    .execute();
  const all = rows.map((r) => ({ id: r.id, spokeId: r.spoke_id, item: r.remote_id, contact: r.entity_id, candidates: JSON.parse(r.candidates) as { entityId: string; score: number }[] }));
  const ids = [...new Set(all.flatMap((r) => r.candidates.map((c) => c.entityId)))];
  const live = new Set<string>();
  for (let i = 0; i < ids.length; i += 500) {
    const found = await db.selectFrom('entities').select('id').where('id', 'in', ids.slice(i, i + 500)).where('deleted', '=', 0).execute();
    for (const e of found) live.add(e.id);
  }
  return all.map((r) => ({ ...r, candidates: r.candidates.filter((c) => live.has(c.entityId)) })).filter((r) => r.candidates.length > 0);
}

/** Marks a possible duplicate of this hub as looked at; false when the hub has no such entry. */
export async function dismissReview(db: Db, hubId: string, id: string): Promise<boolean> {
  const r = await db.updateTable('reviews').set({ status: 'dismissed' }).where('hub_id', '=', hubId).where('id', '=', id).executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}
