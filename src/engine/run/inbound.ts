/**
 * The inbound half of a run for one spoke: read what the spoke holds (or what changed), bring its
 * edits, new contacts and deletions into the hub, and advance the merge bases (sync-design.md §B3).
 *
 * Pages are applied as they arrive, each in one transaction, so memory grows with the changes and
 * not with the address book. The cursor is saved only after the last page: a crash mid-pull re-reads
 * from the old cursor, and re-applying a page is a no-op (I6). Deletions are decided only at the end,
 * once the whole listing is known, and pass through the mass-delete gate.
 */
import { isConnectorError } from '../../connectors/kit/errors.js';
import type { PullPage, RemoteItem } from '../../connectors/kit/contract.js';
import { cardToFields } from '../../model/card-fields.js';
import { hashFields, restrictFields, type Fields } from '../../model/fields.js';
import { inboundGate } from '../plan/gates.js';
import { currentFields, stateFromFields } from '../plan/hub-state.js';
import { applyChanges, changesFromEmpty, diffFields } from '../plan/merge.js';
import { AUTO_LINK_SCORE, identityKeys, matchItems, nameKeyOfFields, type MatchSubject } from '../plan/match.js';
import { BULK_ROWS, HOUR_MS, fullListingDue, type Db, type RunContext } from './context.js';
import {
  entitiesByKeys,
  keyOwnerCounts,
  loadEntities,
  saveEntities,
  type EntityRow,
  type EntityWrite,
  type Tombstone,
} from './entities.js';
import {
  countLinks,
  deleteLink,
  forgetSpokeDeletes,
  insertLinks,
  linkedEntityIds,
  loadLinksByEntity,
  loadLinksByRemote,
  lookupEtags,
  recordConflicts,
  spokeDeletedAmong,
  type LinkRow,
  unlistedRemoteIds,
} from './links.js';
import { ListedIds } from './listed-ids.js';
import { addProblem } from './report.js';
import type { LinkIndexEntry, SpokeRuntime } from './spoke-runtime.js';

export interface Observed {
  item: RemoteItem;
  fields: Fields;
  hash: string;
}

export async function pullInbound(ctx: RunContext, rt: SpokeRuntime, renew: () => Promise<void>): Promise<void> {
  const { spoke, conn, report } = rt;
  // The listing asks the store for the etags of each batch it lists, and what it showed is kept as
  // fingerprints: what a large spoke costs in memory is 8–16 bytes an item, not its links.
  // Sized for what the spoke held after its last run, and given back at the end (listed-ids.ts).
  let shown = ListedIds.borrow(spoke.status.linked ?? 0);
  // Ids the store answered as linked that no page has shown yet, and how many linked ids the pages
  // showed: when that is every link, a complete listing left nothing out, and the store need not
  // be read again to find what it did not show (a no-op of 100,000 items skips that scan).
  const answeredLinked = new Set<string>();
  let linkedShown = 0;
  const explicitDeleted = new Set<string>();
  let complete = false;
  let nextCursor: string | null = null;
  let listed = 0;

  const knownEtags = async (ids: readonly string[]) => {
    const known = await lookupEtags(ctx.db, spoke.id, ids);
    for (const id of known.keys()) if (!shown.has(id)) answeredLinked.add(id);
    return known;
  };
  const show = (id: string) => {
    if (shown.add(id) && answeredLinked.delete(id)) linkedShown += 1;
  };
  const consume = async (cursor: string | null): Promise<void> => {
    // A full listing says how much of the spoke the hub already holds (as of the last run: a hint,
    // and free): with most of it known, a connector can list versions alone and read only what
    // changed (contract.ts).
    const linked = cursor === null ? (spoke.status.linked ?? 0) : undefined;
    for await (const page of conn.pull({ cursor, knownEtags, ...(linked === undefined ? {} : { linked }) })) {
      await consumePage(page);
      await renew();
    }
  };
  const consumePage = async (page: PullPage): Promise<void> => {
    for (const id of page.unchanged) show(id);
    for (const it of page.items) show(it.id);
    for (const id of page.deleted) explicitDeleted.add(id);
    listed += page.unchanged.length + page.items.length;
    report.pulled.items += page.items.length;
    report.pulled.unchanged += page.unchanged.length;
    for (const p of page.problems) addProblem(report, { item: p.id, ...(p.field ? { field: p.field } : {}), message: p.message, ...(p.remedy ? { remedy: p.remedy } : {}) });
    if (page.complete) complete = true;
    if (page.cursor !== undefined) nextCursor = page.cursor;
    await applyItems(ctx, rt, page.items, (id) => shown.has(id));
    ctx.progress({ spoke: spoke.name, phase: 'pull', done: listed });
  };

  const startedAt = ctx.clock.nowMs();
  // Once a day (or as the spoke's options say) a spoke followed by a cursor is listed in full
  // (design B9, context.ts).
  const fullDue = fullListingDue(spoke, startedAt, ctx.fullListingEveryMs ?? spoke.options.fullListingHours * HOUR_MS);
  const from = fullDue ? null : spoke.cursor;
  try {
    await consume(from);
  } catch (e) {
    if (!(isConnectorError(e, 'cursor_invalid') && from !== null)) throw e;
    // The spoke no longer accepts our cursor (Google's EXPIRED_SYNC_TOKEN, Graph's 410): list
    // everything again. Existing links are matched by remote id, so this makes no duplicate, and
    // missing items still need the gate and a verification before anything is deleted.
    shown.release();
    shown = ListedIds.borrow(spoke.status.linked ?? 0);
    answeredLinked.clear();
    linkedShown = 0;
    listed = 0;
    complete = false;
    await consume(null);
  }
  report.pulled.fullListing = complete;

  const unlisted = complete && linkedShown < (await countLinks(ctx.db, spoke.id)) ? await unlistedRemoteIds(ctx.db, spoke.id, shown) : [];
  // Not needed any more. (A pull that failed before this leaves its table to the garbage collector.)
  shown.release();
  if (rt.caps.visibilityLagMs > 0) {
    // Long after the listings can have caught up (ten lags, at least an hour).
    const horizon = ctx.clock.nowMs() - Math.max(10 * rt.caps.visibilityLagMs, 3_600_000);
    await ctx.tx((db) => forgetSpokeDeletes(db, spoke.id, horizon));
  }
  // A renamed or moved item shows as one id missing and a new one: take the new one as the old,
  // before the missing one can count as a deletion (settleMoves).
  const moved = await settleMoves(ctx, rt, { unlisted, explicitDeleted, complete });
  const short = await applyDeletions(ctx, rt, {
    unlisted: moved.size === 0 ? unlisted : unlisted.filter((id) => !moved.has(id)),
    explicitDeleted: moved.size === 0 ? explicitDeleted : new Set([...explicitDeleted].filter((id) => !moved.has(id))),
    complete,
    listed,
  });

  await ctx.tx(async (db) => {
    await db
      .updateTable('spokes')
      // A listing shown to be short may have left out items its cursor covers: keep the old cursor
      // (an expired one makes the next run list everything again) rather than skip them for good.
      // When the last complete listing started; not known before (a store older than 0007): from now.
      .set({ cursor: short ? spoke.cursor : nextCursor, listed_at: complete && !short ? startedAt : (spoke.listedAt ?? startedAt) })
      .where('id', '=', spoke.id)
      .execute();
  });
}

/** An item as this spoke's fields (what its merge base is compared with), and their hash. */
export function observe(rt: SpokeRuntime, item: RemoteItem): Observed {
  const fields = restrictFields(cardToFields(item.card, { defaultRegion: rt.region }), rt.paths);
  return { item, fields, hash: hashFields(fields) };
}

/** `listed`: whether this pull has shown an id so far (possibly true for one it has not: never false for one it has). */
async function applyItems(ctx: RunContext, rt: SpokeRuntime, items: readonly RemoteItem[], listed: (id: string) => boolean): Promise<void> {
  if (items.length === 0) return;
  const links = await loadLinksByRemote(ctx.db, rt.spoke.id, items.map((i) => i.id));
  const lags = rt.caps.visibilityLagMs > 0;
  const deletedByHub = lags ? await spokeDeletedAmong(ctx.db, rt.spoke.id, items.filter((i) => !links.has(i.id)).map((i) => i.id)) : new Set<string>();
  const edits: Observed[] = [];
  const news: Observed[] = [];
  const sameContent: Observed[] = [];
  for (const item of items) {
    let ob: Observed;
    try {
      ob = observe(rt, item);
    } catch (e) {
      addProblem(rt.report, { item: item.id, message: `could not be read into the hub: ${(e as Error).message}` });
      continue;
    }
    const l = links.get(item.id);
    if (!l) {
      // An unlinked item carrying our marker gets adopted (applyNews). On a spoke whose listings
      // lag behind its writes, the listing may still show an item we deleted: adopting that would
      // link a contact to an item that is gone, and its "disappearance" later would delete the
      // contact in this spoke's name. The same goes for an item a person made there and the hub
      // deleted (it would come back as a new contact, then be deleted again everywhere). Take
      // such an item only if a direct read shows it is there.
      if (lags && (item.marker || deletedByHub.has(item.id)) && !(await rt.conn.get(item.id))) continue;
      news.push(ob);
    } else if (l.baseHash === ob.hash) {
      if (l.etag !== item.etag || l.state === 'held') sameContent.push(ob);
    } else edits.push(ob);
  }
  if (edits.length + news.length + sameContent.length === 0) return;
  if (edits.length + news.length >= BULK_ROWS) ctx.bulk?.();

  await ctx.tx(async (db) => {
    if (sameContent.length > 0) await touchLinks(ctx, db, rt, links, sameContent);
    if (edits.length > 0) await applyEdits(ctx, db, rt, links, edits);
    if (news.length > 0) await applyNews(ctx, db, rt, links, news, listed);
  });
}

/** Content unchanged (a new etag, vdirsyncer's "bogus etag change"), or an item back after a held delete. */
async function touchLinks(ctx: RunContext, db: Db, rt: SpokeRuntime, links: Map<string, LinkIndexEntry>, obs: Observed[]) {
  for (const ob of obs) {
    const l = links.get(ob.item.id);
    if (!l) continue;
    await db
      .updateTable('links')
      .set({ etag: ob.item.etag, raw: ob.item.raw ?? null, state: 'active', observed_at: ctx.clock.nowMs() })
      .where('spoke_id', '=', rt.spoke.id)
      .where('entity_id', '=', l.entityId)
      .execute();
    if (l.state === 'held') {
      await db
        .updateTable('held_deletes')
        .set({ status: 'cancelled', decided_at: ctx.clock.nowMs() })
        .where('spoke_id', '=', rt.spoke.id)
        .where('entity_id', '=', l.entityId)
        .where('status', '=', 'held')
        .execute();
    }
    links.set(ob.item.id, { ...l, etag: ob.item.etag, state: 'active' });
  }
}

async function applyEdits(ctx: RunContext, db: Db, rt: SpokeRuntime, links: Map<string, LinkIndexEntry>, obs: Observed[]) {
  const ids = obs.map((o) => (links.get(o.item.id) as LinkIndexEntry).entityId);
  const entities = await loadEntities(db, ctx.hubId, ids);
  const bases = await loadLinksByEntity(db, rt.spoke.id, ids);
  const writes: EntityWrite[] = [];
  const newLinks: { ob: Observed; entity: EntityRow; link: LinkRow; inSync: boolean }[] = [];
  for (const ob of obs) {
    const entityId = (links.get(ob.item.id) as LinkIndexEntry).entityId;
    const entity = entities.get(entityId);
    const link = bases.get(entityId);
    if (!entity || !link) continue;
    const changes = diffFields(link.base, ob.fields, rt.paths);
    const at = ctx.clock.editTag(ob.item.modifiedAt, link.observedAt);
    const hv = ctx.clock.tick();
    const res = applyChanges(entity.state, changes, { at, origin: rt.spoke.id, hv, seen: link.baseVersion });
    if (res.conflicts.length > 0) {
      await recordConflicts(ctx, db, entityId, res.conflicts);
      rt.report.inbound.conflicts += res.conflicts.length;
    }
    if (entity.deleted) {
      // Edited on this spoke after the hub deleted it elsewhere: the edit wins (§B5), the contact
      // comes back, and the other spokes get it again.
      writes.push({ ...entityWrite(entity, res.state, 'restore', rt.spoke.id), deleted: false, tombstone: null });
      rt.report.inbound.restored += 1;
    } else if (res.changed || changes.length > 0) {
      // Also when the edit left every hub value as it was (it lost its conflicts, or set what the
      // hub holds already): a person edited the contact here, so a deletion from a spoke that had
      // not seen this edit must lose to it (§B5, decided by version in applySpokeDeletes) whichever
      // spoke is pulled first — pulled after the deletion, this edit brings the contact back.
      writes.push(entityWrite(entity, res.state, 'update', rt.spoke.id));
      // Counted as an update of the hub only when a value changed.
      if (res.changed) rt.report.inbound.updated += 1;
    }
    const projected = restrictFields(currentFields(res.state), rt.paths);
    newLinks.push({ ob, entity, link, inSync: hashFields(projected) === ob.hash });
  }
  const saved = new Map((await saveEntities(ctx, db, writes)).map((e) => [e.id, e]));
  for (const { ob, entity, link, inSync } of newLinks) {
    const version = saved.get(entity.id)?.version ?? entity.version;
    // The spoke lacks hub values (its edit lost, or it was adopted without them) and the contact
    // did not change, so the push window would skip it: ask the push to send them.
    if (!inSync && !saved.has(entity.id) && writable(rt)) await lookAgain(ctx, db, rt.spoke.id, entity.id);
    await db
      .updateTable('links')
      .set({
        etag: ob.item.etag,
        raw: ob.item.raw ?? null,
        base: JSON.stringify(ob.fields),
        base_hash: ob.hash,
        // The spoke has seen every hub value only when it now holds exactly the hub's projection.
        base_version: inSync ? version : link.baseVersion,
        state: 'active',
        observed_at: ctx.clock.nowMs(),
      })
      .where('spoke_id', '=', rt.spoke.id)
      .where('entity_id', '=', entity.id)
      .execute();
    links.set(ob.item.id, { entityId: entity.id, etag: ob.item.etag, baseHash: ob.hash, state: 'active' });
  }
}

/** Merges one item re-read from the spoke (after a refused conditional write) into the hub. */
export async function applyEditsFromSpoke(ctx: RunContext, db: Db, rt: SpokeRuntime, link: LinkRow, item: RemoteItem): Promise<void> {
  const links = new Map<string, LinkIndexEntry>([
    [item.id, { entityId: link.entityId, etag: link.etag, baseHash: link.baseHash, state: link.state }],
  ]);
  const ob = observe(rt, item);
  if (ob.hash === link.baseHash) await touchLinks(ctx, db, rt, links, [ob]);
  else await applyEdits(ctx, db, rt, links, [ob]);
}

function entityWrite(e: EntityRow, state: EntityRow['state'], action: EntityWrite['action'], spokeId: string | null): EntityWrite {
  return { id: e.id, uid: e.uid, state, deleted: e.deleted, tombstone: e.tombstone, before: e, action, spokeId };
}

/**
 * New items deferred as possible moves per spoke and run, at most: beyond this (a mass rename of a
 * large folder) the items are taken at once as before — marker-stamped ones as duplicates of our own
 * creates (whose removal checks that the original is still there), the others as new contacts.
 */
const MAX_DEFERRED_MOVES = 20_000;

/** `entityIds`: the contacts it may be the moved item of (one whose item is gone is, if only one is). */
function deferMove(rt: SpokeRuntime, ob: Observed, entityIds: string[], how: 'marker' | 'match'): boolean {
  if (rt.moves.length >= MAX_DEFERRED_MOVES || entityIds.length === 0) return false;
  rt.moves.push({ ob, entityIds, how });
  return true;
}

/**
 * `listed`: the ids this pull has shown so far; an item is deferred as a possible move only when its
 * contact's linked item is not among them (a linked item already listed is there: no move). Null
 * when the items come back from `settleMoves` (their contact's item is still there): they are taken
 * as the first-sync rules say, without deferring them again.
 */
async function applyNews(ctx: RunContext, db: Db, rt: SpokeRuntime, links: Map<string, LinkIndexEntry>, obs: Observed[], listed: ((id: string) => boolean) | null) {
  const spokeId = rt.spoke.id;
  const byId = new Map(obs.map((o) => [o.item.id, o]));
  const deferred = new Set<string>();
  const settling = listed === null;
  // Entities linked on this spoke whose item this listing has not shown yet: the only ones an item
  // under a new id can be a move of.
  const unseenLinked = async (entityIds: readonly string[]): Promise<Set<string>> => {
    if (listed === null || entityIds.length === 0) return new Set();
    const rows = await loadLinksByEntity(db, spokeId, entityIds);
    return new Set([...rows].filter(([, l]) => l.state === 'active' && !listed(l.remoteId)).map(([id]) => id));
  };

  // Items this hub created earlier (a crash lost the link): re-adopt by marker, never duplicate.
  const markerIds = obs.map((o) => o.item.marker).filter((m): m is string => !!m);
  const markerEntities = await loadEntities(db, ctx.hubId, markerIds);
  const alreadyLinked = await linkedEntityIds(db, spokeId, markerIds);
  const movable = await unseenLinked([...alreadyLinked]);
  const adopt = new Map<string, string>();
  const adopted = new Set<string>();
  const ghosts = new Set<string>();
  for (const o of obs) {
    const m = o.item.marker;
    if (!m || !markerEntities.has(m)) continue;
    // Our stamp on an item under another id than the one linked: the linked item renamed or moved,
    // if that one is gone by the end of the listing; else a ghost (below).
    if (movable.has(m) && !adopted.has(m) && deferMove(rt, o, [m], 'marker')) {
      deferred.add(o.item.id);
      continue;
    }
    if (alreadyLinked.has(m) || adopted.has(m)) {
      // A second item carrying the marker of a contact this spoke already holds: a ghost left by a
      // create that was retried after its response was lost. Never imported as a new contact.
      ghosts.add(o.item.id);
      rt.ghosts.push({ item: o.item, entityId: m, hash: o.hash });
      continue;
    }
    adopt.set(o.item.id, m);
    adopted.add(m);
  }

  // First-sync matching for the rest.
  let subjects: MatchSubject[] = [];
  for (const o of obs) {
    if (adopt.has(o.item.id) || ghosts.has(o.item.id) || deferred.has(o.item.id)) continue;
    subjects.push({ id: o.item.id, keys: identityKeys(o.fields, o.item.card.uid || null), name: nameKeyOfFields(o.fields) });
  }
  const allKeys = subjects.flatMap((s) => s.keys);
  const owners = await keyOwnerCounts(db, ctx.hubId, allKeys);
  // Only a UID or an identifier held by one hub contact can make a match (scorePair): contacts
  // reachable only through shared identifiers (a switchboard number held by a thousand people)
  // would score 0, so they are not loaded at all.
  const telling = [...owners].filter(([k, n]) => n === 1 || k.startsWith('u:')).map(([k]) => k);
  const holders = await entitiesByKeys(db, ctx.hubId, telling);
  const linkedHere = await linkedEntityIds(db, spokeId, [...holders.keys()]);
  const movableHere = settling ? new Set<string>() : await unseenLinked([...linkedHere]);
  if (movableHere.size > 0) {
    // An item that matches, by the first-sync rules, a contact this spoke already holds under
    // another id not listed yet may be that item renamed or moved: settled at the end of the listing.
    const rows = await loadEntities(db, ctx.hubId, [...movableHere]);
    const held: MatchSubject[] = [];
    for (const id of movableHere) {
      const e = rows.get(id);
      if (e && !e.deleted) held.push({ id, keys: holders.get(id) ?? [], name: nameKeyOfFields(e.fields) });
    }
    // Several strong resemblances (a UID shared by copies of one person) are settled too: the one
    // whose item is gone, if only one is.
    const found = matchItems(subjects, held, owners);
    const strong = new Map<string, string[]>();
    for (const [itemId, entityId] of found.links) strong.set(itemId, [entityId]);
    for (const [itemId, list] of found.reviews) strong.set(itemId, list.filter((c) => c.score >= AUTO_LINK_SCORE).map((c) => c.entityId));
    for (const [itemId, entityIds] of strong) {
      if (deferMove(rt, byId.get(itemId) as Observed, entityIds, 'match')) deferred.add(itemId);
    }
    if (deferred.size > 0) subjects = subjects.filter((x) => !deferred.has(x.id));
  }
  const candidateIds = [...holders.keys()].filter((id) => !linkedHere.has(id));
  const candidateRows = await loadEntities(db, ctx.hubId, candidateIds);
  const candidates: MatchSubject[] = [];
  for (const id of candidateIds) {
    const e = candidateRows.get(id);
    if (!e || e.deleted) continue;
    candidates.push({ id, keys: holders.get(id) ?? [], name: nameKeyOfFields(e.fields) });
  }
  const outcome = matchItems(subjects, candidates, owners);

  const targets = new Map<string, string>([...adopt, ...outcome.links]);
  const targetRows = new Map([...markerEntities, ...candidateRows]);
  const writes: EntityWrite[] = [];
  const pendingLinks: { ob: Observed; entityId: string; inSyncWith: Fields; preVersion: number }[] = [];
  for (const [remoteId, entityId] of [...targets].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const ob = byId.get(remoteId) as Observed;
    const entity = targetRows.get(entityId);
    if (!entity) continue;
    if (entity.deleted && adopt.has(remoteId) && !((ob.item.modifiedAt ?? 0) > (entity.tombstone?.at ?? Infinity))) {
      // Our own item of a contact the hub deleted, not changed since the deletion (a listing that
      // lags behind our delete, or a delete that was never sent after its link was dropped): the
      // deletion stands (§B5). Link it, so that the push deletes it; only an edit made after the
      // deletion (a newer modifiedAt) brings the contact back.
      rt.report.inbound.linked += 1;
      pendingLinks.push({ ob, entityId, inSyncWith: ob.fields, preVersion: entity.version });
      // The contact itself did not change, so the push would not look at it: ask it to.
      await lookAgain(ctx, db, spokeId, entityId);
      continue;
    }
    const hv = ctx.clock.tick();
    const at = ctx.clock.editTag(ob.item.modifiedAt, 0);
    const res = applyChanges(entity.state, changesFromEmpty(ob.fields, rt.paths), {
      at,
      origin: spokeId,
      hv,
      seen: -1,
      firstLink: true,
    });
    if (res.conflicts.length > 0) {
      await recordConflicts(ctx, db, entityId, res.conflicts);
      rt.report.inbound.conflicts += res.conflicts.length;
    }
    if (entity.deleted) {
      writes.push({ ...entityWrite(entity, res.state, 'restore', spokeId), deleted: false, tombstone: null });
      rt.report.inbound.restored += 1;
    } else if (res.changed) {
      writes.push(entityWrite(entity, res.state, 'update', spokeId));
    }
    rt.report.inbound.linked += 1;
    pendingLinks.push({ ob, entityId, inSyncWith: restrictFields(currentFields(res.state), rt.paths), preVersion: entity.version });
  }

  for (const ob of obs) {
    if (targets.has(ob.item.id) || ghosts.has(ob.item.id) || deferred.has(ob.item.id)) continue;
    const id = ctx.ids();
    const hv = ctx.clock.tick();
    const at = ctx.clock.editTag(ob.item.modifiedAt, 0);
    const state = stateFromFields(ob.fields, { at, o: spokeId, hv });
    writes.push({
      id,
      uid: ob.item.card.uid || `urn:uuid:${id}`,
      state,
      deleted: false,
      tombstone: null,
      before: undefined,
      action: 'create',
      spokeId,
      // The item's own fields, all of them: its hash is the new contact's.
      ...(rt.paths === 'all' ? { fieldsHash: ob.hash } : {}),
    });
    rt.report.inbound.created += 1;
    pendingLinks.push({ ob, entityId: id, inSyncWith: ob.fields, preVersion: -1 });
    const review = outcome.reviews.get(ob.item.id);
    if (review) {
      await db
        .insertInto('reviews')
        .values({
          id: ctx.ids(),
          hub_id: ctx.hubId,
          spoke_id: spokeId,
          remote_id: ob.item.id,
          entity_id: id,
          candidates: JSON.stringify(review),
          reason: 'possible-duplicate',
          status: 'open',
          created_at: ctx.clock.nowMs(),
        })
        .execute();
      rt.report.inbound.reviews += 1;
    }
  }

  const saved = new Map((await saveEntities(ctx, db, writes)).map((e) => [e.id, e]));
  const rows: LinkRow[] = [];
  for (const p of pendingLinks) {
    const version = saved.get(p.entityId)?.version ?? p.preVersion;
    // A new contact made from the item, or a link to a contact left as it was: the item's own fields.
    const inSync = p.inSyncWith === p.ob.fields || hashFields(p.inSyncWith) === p.ob.hash;
    // Linked to a contact the item does not fully show, and the contact did not change: the push
    // window would skip it, so ask the push to send the hub's values (first link, marker adoption).
    if (!inSync && !saved.has(p.entityId) && writable(rt)) await lookAgain(ctx, db, spokeId, p.entityId);
    rows.push({
      spokeId,
      entityId: p.entityId,
      remoteId: p.ob.item.id,
      etag: p.ob.item.etag,
      base: p.ob.fields,
      baseHash: p.ob.hash,
      baseVersion: inSync ? version : p.preVersion,
      state: 'active',
      observedAt: ctx.clock.nowMs(),
      raw: p.ob.item.raw ?? null,
    });
    links.set(p.ob.item.id, { entityId: p.entityId, etag: p.ob.item.etag, baseHash: p.ob.hash, state: 'active' });
  }
  await insertLinks(db, rows);
}

/**
 * Settles the items `applyNews` deferred as possible moves, now that the listing is complete: an
 * item whose contact's linked item is gone from this spoke (missing from a complete listing and
 * confirmed by a direct read, or reported deleted) is that item under its new id — a renamed file,
 * a card moved to a new href. Its link takes the new id, and a change of content is an edit. Before
 * this, renaming four files of a folder deleted their four contacts on every spoke, and renaming all
 * of them made every stamped file look like a duplicate of our own create and removed it. The others
 * are taken as before: stamped ones as ghosts, the rest as new contacts. Returns the old ids settled.
 */
async function settleMoves(
  ctx: RunContext,
  rt: SpokeRuntime,
  p: { unlisted: readonly string[]; explicitDeleted: ReadonlySet<string>; complete: boolean },
): Promise<Set<string>> {
  const moves = rt.moves.sort((a, b) => (a.ob.item.id < b.ob.item.id ? -1 : a.ob.item.id > b.ob.item.id ? 1 : 0));
  rt.moves = [];
  const settled = new Set<string>();
  if (moves.length === 0) return settled;
  const gone = new Set([...p.explicitDeleted, ...(p.complete ? p.unlisted : [])]);
  const links = await loadLinksByEntity(ctx.db, rt.spoke.id, [...new Set(moves.flatMap((m) => m.entityIds))]);
  const rest: typeof moves = [];
  for (const mv of moves) {
    const left = mv.entityIds.flatMap((id) => {
      const l = links.get(id);
      return l && l.state === 'active' && gone.has(l.remoteId) && !settled.has(l.remoteId) ? [l] : [];
    });
    const link = left.length === 1 ? left[0] : undefined;
    const old = link?.remoteId;
    if (!link || old === undefined) {
      rest.push(mv);
      continue;
    }
    // A listing can be short: the old item counts as gone only once a direct read says so.
    if (!p.explicitDeleted.has(old) && (await rt.conn.get(old)) !== null) {
      rest.push(mv);
      continue;
    }
    settled.add(old);
    await ctx.tx(async (db) => {
      await db.updateTable('links').set({ remote_id: mv.ob.item.id }).where('spoke_id', '=', rt.spoke.id).where('entity_id', '=', link.entityId).execute();
      const entry = new Map([[mv.ob.item.id, { entityId: link.entityId, etag: link.etag, baseHash: link.baseHash, state: 'active' as const }]]);
      if (mv.ob.hash === link.baseHash) await touchLinks(ctx, db, rt, entry, [mv.ob]);
      else await applyEdits(ctx, db, rt, entry, [mv.ob]);
    });
    rt.report.inbound.moved += 1;
  }
  for (const mv of rest) if (mv.how === 'marker') rt.ghosts.push({ item: mv.ob.item, entityId: mv.entityIds[0] as string, hash: mv.ob.hash });
  const news = rest.filter((mv) => mv.how === 'match').map((mv) => mv.ob);
  if (news.length > 0) await ctx.tx((db) => applyNews(ctx, db, rt, new Map(), news, null));
  return settled;
}

async function applyDeletions(
  ctx: RunContext,
  rt: SpokeRuntime,
  p: { unlisted: readonly string[]; explicitDeleted: ReadonlySet<string>; complete: boolean; listed: number },
): Promise<boolean> {
  const { spoke, report, conn } = rt;
  const suspects = [...p.explicitDeleted, ...(p.complete ? p.unlisted.filter((id) => !p.explicitDeleted.has(id)) : [])];
  if (suspects.length === 0) return false;
  const links = await loadLinksByRemote(ctx.db, spoke.id, suspects);
  const candidates: { remoteId: string; entityId: string; evidence: Tombstone['evidence'] }[] = [];
  for (const remoteId of suspects) {
    const l = links.get(remoteId);
    if (!l || l.state !== 'active') continue;
    candidates.push({ remoteId, entityId: l.entityId, evidence: p.explicitDeleted.has(remoteId) ? 'explicit' : 'verified-missing' });
  }
  if (candidates.length === 0) return false;

  // A listing can be silently short (a pagination bug, a throttled response, a write not yet
  // visible): an item missing from it is a deletion only once a direct read confirms it is gone.
  // This comes first, before the gate (a person is never asked to confirm or reject the deletion
  // of contacts that are still there) and before echoes are dropped (the link of a deleted
  // contact whose item is still there is how its deletion still gets sent).
  const verified: typeof candidates = [];
  let checked = 0;
  let short = false;
  for (const c of candidates) {
    if (c.evidence === 'verified-missing') {
      const still = await conn.get(c.remoteId);
      ctx.progress({ spoke: spoke.name, phase: 'verify', done: ++checked, total: candidates.length });
      if (still) {
        short = true;
        addProblem(report, { item: c.remoteId, message: 'was missing from the listing but is still there; not deleted' });
        continue;
      }
    }
    verified.push(c);
  }
  if (verified.length === 0) return short;

  // Links of contacts the hub already deleted are just the echo of our own deletion.
  const entities = await loadEntities(ctx.db, ctx.hubId, verified.map((c) => c.entityId));
  const echoes = verified.filter((c) => entities.get(c.entityId)?.deleted !== false);
  const confirmed = verified.filter((c) => entities.get(c.entityId)?.deleted === false);
  if (echoes.length > 0) {
    await ctx.tx(async (db) => {
      for (const c of echoes) await deleteLink(db, spoke.id, c.entityId);
    });
  }
  if (confirmed.length === 0) return short;

  const linked = await countLinks(ctx.db, spoke.id, 'active');
  // "Lists nothing": a complete listing that is empty, or a change list that deletes every linked
  // contact and brings nothing else.
  const emptied = !short && p.listed === 0 && (p.complete || confirmed.length >= linked);
  const verdict = inboundGate({ deletes: confirmed.length, linked, listedNone: emptied });
  if (verdict.hold) {
    await holdInbound(ctx, rt, confirmed, verdict.reason);
    return short;
  }

  await ctx.tx(async (db) => {
    await applySpokeDeletes(ctx, db, rt, confirmed, false);
  });
  return short;
}

async function holdInbound(
  ctx: RunContext,
  rt: SpokeRuntime,
  items: { remoteId: string; entityId: string }[],
  reason: string,
): Promise<void> {
  await ctx.tx(async (db) => {
    for (const c of items) {
      await db
        .updateTable('links')
        .set({ state: 'held' })
        .where('spoke_id', '=', rt.spoke.id)
        .where('entity_id', '=', c.entityId)
        .execute();
      await db
        .insertInto('held_deletes')
        .values({
          id: ctx.ids(),
          hub_id: ctx.hubId,
          spoke_id: rt.spoke.id,
          entity_id: c.entityId,
          remote_id: c.remoteId,
          direction: 'inbound',
          reason,
          run_id: ctx.runId,
          created_at: ctx.clock.nowMs(),
          status: 'held',
          decided_at: null,
        })
        .execute();
    }
  });
  rt.report.inbound.held += items.length;
}

/** The hub may write to the spoke at all (else a push never looks at anything). */
function writable(rt: SpokeRuntime): boolean {
  return rt.policy.create || rt.policy.update || rt.policy.delete;
}

/**
 * Asks the spoke's next push to look at a contact that did not change (an intent in state `failed`
 * means "look at it again", see intents.ts): its push window would otherwise skip it.
 */
export async function lookAgain(ctx: RunContext, db: Db, spokeId: string, entityId: string): Promise<void> {
  await db
    .insertInto('intents')
    .values({
      id: ctx.ids(),
      hub_id: ctx.hubId,
      spoke_id: spokeId,
      entity_id: entityId,
      run_id: ctx.runId,
      op: 'create',
      state: 'failed',
      remote_id: null,
      payload: '{}',
      created_at: ctx.clock.nowMs(),
    })
    .execute();
}

/**
 * Deletions a spoke made, applied to the hub. If the hub holds changes the spoke never saw, the
 * edit wins (§B5): the contact stays, unlinked from this spoke (and is offered to it again);
 * otherwise it becomes a tombstone that keeps its last content.
 */
export async function applySpokeDeletes(
  ctx: RunContext,
  db: Db,
  rt: Pick<SpokeRuntime, 'spoke' | 'paths' | 'report'>,
  items: readonly { remoteId: string; entityId: string; evidence: Tombstone['evidence'] }[],
  confirmedByPerson: boolean,
): Promise<void> {
  const entities = await loadEntities(db, ctx.hubId, items.map((i) => i.entityId));
  const bases = await loadLinksByEntity(db, rt.spoke.id, items.map((i) => i.entityId));
  const writes: EntityWrite[] = [];
  for (const it of items) {
    const e = entities.get(it.entityId);
    const link = bases.get(it.entityId);
    await deleteLink(db, rt.spoke.id, it.entityId);
    if (!e || e.deleted || !link) continue;
    // The hub changed the contact after the version this spoke's base was reconciled with (§B5
    // `E.version > L.baseHubVersion`): the spoke deleted a contact it had not seen in full. Any
    // change counts — also of fields the spoke cannot store, so the outcome does not depend on
    // which spoke's changes were applied first — and a server's rewriting of what the hub wrote
    // (a base that differs from the hub's text) does not.
    if (e.version > link.baseVersion) {
      await recordConflicts(ctx, db, e.id, [
        {
          path: '*',
          kept: 'edited',
          lost: 'deleted',
          keptOrigin: 'hub',
          lostOrigin: rt.spoke.id,
        },
      ]);
      rt.report.inbound.conflicts += 1;
      // The contact did not change now, so the next push would not look at it: ask it to, so that
      // the spoke gets the contact again.
      await lookAgain(ctx, db, rt.spoke.id, e.id);
      continue;
    }
    writes.push({
      ...entityWrite(e, e.state, 'delete', rt.spoke.id),
      deleted: true,
      tombstone: { at: ctx.clock.nowMs(), origin: rt.spoke.id, evidence: it.evidence, runId: ctx.runId, confirmed: confirmedByPerson },
    });
    rt.report.inbound.deleted += 1;
  }
  // saveEntities also drops a deleted contact's identity keys: it is no longer a match candidate.
  await saveEntities(ctx, db, writes);
}
