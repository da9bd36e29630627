/**
 * Recovery of writes a previous run started but did not finish recording (a crash, a lost
 * response), before anything else happens on the spoke (sync-design.md §B7).
 *
 * State of an intent:  sent ──(response recorded)──▶ removed
 *                        │ (transient error / crash)
 *                        ▼
 *                    uncertain ──(found by marker)──▶ adopted, removed
 *                        │ (not found, safe to retry)
 *                        ▼
 *                      failed  = "look at this contact again": the next push re-plans it from
 *                                the hub and the merge base, and removes the intent.
 */
import { hashFields, type Fields } from '../../model/fields.js';
import type { RunContext } from './context.js';
import { loadEntities } from './entities.js';
import { applyEditsFromSpoke, lookAgain, observe } from './inbound.js';
import { loadLinksByEntity, upsertLink, type LinkRow } from './links.js';
import { addProblem } from './report.js';
import type { SpokeRuntime } from './spoke-runtime.js';

export async function recoverIntents(ctx: RunContext, rt: SpokeRuntime): Promise<void> {
  const { spoke, conn, caps } = rt;
  const open = await ctx.db
    .selectFrom('intents')
    .selectAll()
    .where('spoke_id', '=', spoke.id)
    .where('state', 'in', ['sent', 'uncertain'])
    .orderBy('id')
    .execute();
  for (const it of open) {
    const markFailed = () => ctx.tx((db) => db.updateTable('intents').set({ state: 'failed' }).where('id', '=', it.id).execute());
    if (it.op !== 'create') {
      // The pull that follows shows whether the update or delete happened; the push re-plans it.
      await markFailed();
      continue;
    }
    const payload = JSON.parse(it.payload) as { version: number; fields: Fields };
    const found = caps.markers ? [...(await conn.findByMarker(it.entity_id))].sort((a, b) => (a.id < b.id ? -1 : 1)) : [];
    if (found.length === 0) {
      const age = ctx.clock.nowMs() - it.created_at;
      // Where a create is not idempotent and writes show up late (Google People: minutes), a
      // create we cannot see yet may still exist: wait rather than risk a duplicate.
      if (caps.idempotentCreate === 'none' && age < caps.visibilityLagMs) {
        await ctx.tx((db) => db.updateTable('intents').set({ state: 'uncertain' }).where('id', '=', it.id).execute());
      } else {
        await markFailed();
      }
      continue;
    }
    const linked = (await loadLinksByEntity(ctx.db, spoke.id, [it.entity_id])).get(it.entity_id);
    const keep = (linked && found.find((f) => f.id === linked.remoteId)) || (found[0] as (typeof found)[number]);
    const sentHash = hashFields(payload.fields);
    const entity = (await loadEntities(ctx.db, ctx.hubId, [it.entity_id])).get(it.entity_id);
    await ctx.tx(async (db) => {
      if (!linked && entity?.deleted && !((keep.modifiedAt ?? 0) > (entity.tombstone?.at ?? Infinity))) {
        // Our create went through, and before we found it the hub deleted the contact (a person
        // deleted it on another spoke). The item holds what we sent — as the server stored it,
        // which a normalising server rewrote — and nobody edited it since the deletion: the
        // deletion stands (§B5), as for an item of ours a pull adopts by its marker (applyNews).
        // Linked as it is, so that the push deletes it (conditionally on this etag); taking the
        // server's rewriting for an edit would bring the contact back everywhere.
        const held = observe(rt, keep);
        await upsertLink(db, {
          spokeId: spoke.id,
          entityId: it.entity_id,
          remoteId: keep.id,
          etag: keep.etag,
          base: held.fields,
          baseHash: held.hash,
          baseVersion: entity.version,
          state: 'active',
          observedAt: ctx.clock.nowMs(),
          raw: keep.raw ?? null,
        });
        await lookAgain(ctx, db, spoke.id, it.entity_id);
      } else if (!linked) {
        // Right after our create the item held what we sent, at that version: that is the merge
        // base (I2). What it holds now beyond that — a person's edit made before we found it, or
        // the server's rewriting — is merged as the spoke's change, not taken as already synced
        // (which would leave a person's edit out of the hub for good).
        const link: LinkRow = {
          spokeId: spoke.id,
          entityId: it.entity_id,
          remoteId: keep.id,
          etag: null,
          base: payload.fields,
          baseHash: sentHash,
          baseVersion: payload.version,
          state: 'active',
          observedAt: it.created_at,
          raw: null,
        };
        await upsertLink(db, link);
        await applyEditsFromSpoke(ctx, db, rt, link, keep);
      }
      await db.deleteFrom('intents').where('id', '=', it.id).execute();
    });
    for (const ghost of found) {
      if (ghost.id === keep.id) continue;
      if (observe(rt, ghost).hash === sentHash && rt.policy.delete) {
        await conn.delete(ghost.id, { ifMatch: ghost.etag });
        addProblem(rt.report, { item: ghost.id, message: 'duplicate left by an interrupted create; removed' });
      } else {
        addProblem(rt.report, { item: ghost.id, message: `possible duplicate of ${keep.id} left by an interrupted create; not removed because it was edited` });
      }
    }
  }
}
