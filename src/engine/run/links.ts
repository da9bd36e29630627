/**
 * Links between hub contacts and spoke items, each with its merge base: the fields the spoke held
 * when it was last reconciled with the hub (I2: always a state the spoke really held).
 */
import type { Fields } from '../../model/fields.js';
import { insertRows, upsertClause } from '../../store/insert-rows.js';
import type { Conflict } from '../plan/merge.js';
import type { ListedIds } from './listed-ids.js';
import { chunks, eachRowOf, jsonOf, type Db, type RunContext } from './context.js';
import type { LinkIndexEntry } from './spoke-runtime.js';

export interface LinkRow {
  spokeId: string;
  entityId: string;
  remoteId: string;
  etag: string | null;
  base: Fields;
  baseHash: string;
  baseVersion: number;
  state: 'active' | 'held';
  observedAt: number;
  /** RemoteItem.raw at `etag` (null when the connector gives none, or the etag is not its own). */
  raw: string | null;
  /** `JSON.stringify(base)`, when the caller made it already. */
  baseJson?: string;
}

/**
 * The etags the hub holds for some of a spoke's remote ids (ids it has no link for are absent):
 * what a listing asks, a batch of listed ids at a time (`PullRequest.knownEtags`). Each chunk is
 * one lookup along the (spoke_id, remote_id, etag) index, so the etags of a large spoke are never
 * all in memory.
 */
export async function lookupEtags(db: Db, spokeId: string, remoteIds: readonly string[]): Promise<Map<string, string | null>> {
  const out = new Map<string, string | null>();
  for (const part of chunks(remoteIds, 500)) {
    if (part.length === 0) continue;
    const rows = await db.selectFrom('links').select(['remote_id', 'etag']).where('spoke_id', '=', spokeId).where('remote_id', 'in', part).execute();
    for (const r of rows) out.set(r.remote_id, r.etag);
  }
  return out;
}

/**
 * The remote ids of a spoke's links that `listed` does not hold: after a complete listing, the
 * items it did not show. Read in pages along the index, so only the unlisted ones are kept.
 */
export async function unlistedRemoteIds(db: Db, spokeId: string, listed: ListedIds, pageSize = 5000): Promise<string[]> {
  const out: string[] = [];
  let after: string | null = null;
  for (;;) {
    let q = db.selectFrom('links').select('remote_id').where('spoke_id', '=', spokeId);
    if (after !== null) q = q.where('remote_id', '>', after);
    const rows = await q.orderBy('remote_id').limit(pageSize).execute();
    for (const r of rows) if (!listed.has(r.remote_id)) out.push(r.remote_id);
    if (rows.length < pageSize) return out;
    after = (rows[rows.length - 1] as { remote_id: string }).remote_id;
  }
}

/** Links of one spoke for the given remote ids, as the inbound pass needs them. */
export async function loadLinksByRemote(db: Db, spokeId: string, remoteIds: readonly string[]): Promise<Map<string, LinkIndexEntry>> {
  const out = new Map<string, LinkIndexEntry>();
  await eachRowOf(
    remoteIds,
    (part) =>
      db
        .selectFrom('links')
        .select(['remote_id', 'entity_id', 'etag', 'base_hash', 'state'])
        .where('spoke_id', '=', spokeId)
        .where('remote_id', 'in', part)
        .execute(),
    (r) => out.set(r.remote_id, { entityId: r.entity_id, etag: r.etag, baseHash: r.base_hash, state: r.state as 'active' | 'held' }),
  );
  return out;
}

type Row = {
  spoke_id: string;
  entity_id: string;
  remote_id: string;
  etag: string | null;
  base: string;
  base_hash: string;
  base_version: number;
  state: string;
  observed_at: number;
  raw: string | null;
};

function fromRow(r: Row): LinkRow {
  // Parsed on first use: a push compares most links by their hash alone.
  let base: Fields | undefined;
  return {
    spokeId: r.spoke_id,
    entityId: r.entity_id,
    remoteId: r.remote_id,
    etag: r.etag,
    get base() {
      return (base ??= jsonOf<Fields>(r.base));
    },
    baseHash: r.base_hash,
    baseVersion: r.base_version,
    state: r.state as 'active' | 'held',
    observedAt: r.observed_at,
    raw: r.raw,
  };
}

/** Links of one spoke for the given hub contacts, by entity id. */
export async function loadLinksByEntity(db: Db, spokeId: string, entityIds: readonly string[]): Promise<Map<string, LinkRow>> {
  const out = new Map<string, LinkRow>();
  await eachRowOf(
    entityIds,
    (part) => db.selectFrom('links').selectAll().where('spoke_id', '=', spokeId).where('entity_id', 'in', part).execute(),
    (r) => out.set(r.entity_id, fromRow(r)),
  );
  return out;
}

/** A link without its merge base and text: what a push decides from for most contacts. */
export type LinkHead = Pick<LinkRow, 'remoteId' | 'etag' | 'baseHash' | 'baseVersion' | 'state'>;

/**
 * Links of one spoke for the given hub contacts, by entity id, without the base and text columns:
 * a push finds most links in sync by their hash, and reading those columns for every linked
 * contact of its window copied two texts per contact out of the store (three spokes × the whole hub
 * in a first sync) to use them for the few that changed.
 */
export async function loadLinkHeadsByEntity(db: Db, spokeId: string, entityIds: readonly string[]): Promise<Map<string, LinkHead>> {
  const out = new Map<string, LinkHead>();
  await eachRowOf(
    entityIds,
    (part) =>
      db
        .selectFrom('links')
        .select(['entity_id', 'remote_id', 'etag', 'base_hash', 'base_version', 'state'])
        .where('spoke_id', '=', spokeId)
        .where('entity_id', 'in', part)
        .execute(),
    (r) => out.set(r.entity_id, { remoteId: r.remote_id, etag: r.etag, baseHash: r.base_hash, baseVersion: r.base_version, state: r.state as 'active' | 'held' }),
  );
  return out;
}

/** Which of the given hub contacts are linked to the spoke. */
export async function linkedEntityIds(db: Db, spokeId: string, entityIds: readonly string[]): Promise<Set<string>> {
  const out = new Set<string>();
  await eachRowOf(
    entityIds,
    (part) => db.selectFrom('links').select('entity_id').where('spoke_id', '=', spokeId).where('entity_id', 'in', part).execute(),
    (r) => out.add(r.entity_id),
  );
  return out;
}

export async function allLinksOfEntity(db: Db, entityId: string): Promise<LinkRow[]> {
  const rows = await db.selectFrom('links').selectAll().where('entity_id', '=', entityId).execute();
  return rows.map(fromRow);
}

export async function upsertLink(db: Db, l: LinkRow): Promise<void> {
  await upsertLinks(db, [l]);
}

/**
 * Inserts or replaces links, many per statement. One spoke item belongs to one hub contact (I1):
 * another contact's link that holds one of these remote ids is dropped; when the list itself
 * gives a remote id twice, the later row wins, as if the rows were written one after another.
 */
export async function upsertLinks(db: Db, ls: readonly LinkRow[]): Promise<void> {
  const byRemote = new Map<string, LinkRow>();
  for (const l of ls) {
    const key = `${l.spokeId}\n${l.remoteId}`;
    byRemote.delete(key);
    byRemote.set(key, l);
  }
  const bySpoke = new Map<string, LinkRow[]>();
  for (const l of byRemote.values()) {
    const list = bySpoke.get(l.spokeId);
    if (list) list.push(l);
    else bySpoke.set(l.spokeId, [l]);
  }
  const kept = new Set(byRemote.values());
  for (const [spokeId, rows] of bySpoke) {
    // A contact whose row lost to a later one for the same remote id keeps no link here.
    const dropped = ls.filter((l) => l.spokeId === spokeId && !kept.has(l)).map((l) => l.entityId);
    for (const part of chunks(dropped, 500)) {
      await db.deleteFrom('links').where('spoke_id', '=', spokeId).where('entity_id', 'in', part).execute();
    }
    for (const part of chunks(rows, 200)) {
      // Rows holding these remote ids (their own contact's included, rewritten just below).
      await db
        .deleteFrom('links')
        .where('spoke_id', '=', spokeId)
        .where(
          'remote_id',
          'in',
          part.map((l) => l.remoteId),
        )
        .execute();
      await insertRows(db, 'links', part.map(linkValues), 200, LINK_UPSERT);
    }
  }
}

const LINK_UPSERT = upsertClause(
  ['spoke_id', 'entity_id'],
  ['remote_id', 'etag', 'base', 'base_hash', 'base_version', 'state', 'observed_at', 'raw'],
);

function linkValues(l: LinkRow) {
  return {
    spoke_id: l.spokeId,
    entity_id: l.entityId,
    remote_id: l.remoteId,
    etag: l.etag,
    base: l.baseJson ?? JSON.stringify(l.base),
    base_hash: l.baseHash,
    base_version: l.baseVersion,
    state: l.state,
    observed_at: l.observedAt,
    raw: l.raw,
  };
}

export async function insertLinks(db: Db, ls: readonly LinkRow[]): Promise<void> {
  await insertRows(db, 'links', ls.map(linkValues), 200);
}

/** Links of a spoke: all of them, or only the active ones (not waiting on a held delete). */
export async function countLinks(db: Db, spokeId: string, only?: 'active'): Promise<number> {
  let q = db
    .selectFrom('links')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('spoke_id', '=', spokeId);
  if (only) q = q.where('state', '=', only);
  const r = await q.executeTakeFirst();
  return Number(r?.n ?? 0);
}

export async function deleteLink(db: Db, spokeId: string, entityId: string): Promise<void> {
  await db.deleteFrom('links').where('spoke_id', '=', spokeId).where('entity_id', '=', entityId).execute();
}

export async function recordConflicts(
  ctx: RunContext,
  db: Db,
  entityId: string,
  conflicts: readonly Conflict[],
): Promise<void> {
  if (conflicts.length === 0) return;
  const at = ctx.clock.nowMs();
  await db
    .insertInto('conflicts')
    .values(
      conflicts.map((c) => ({
        id: ctx.ids(),
        hub_id: ctx.hubId,
        entity_id: entityId,
        path: c.path,
        kept: JSON.stringify(c.kept),
        lost: JSON.stringify(c.lost),
        kept_origin: c.keptOrigin,
        lost_origin: c.lostOrigin,
        run_id: ctx.runId,
        at,
        status: 'open',
      })),
    )
    .execute();
}

/**
 * Remembers items the hub deleted from a spoke whose listings lag behind its writes (Google
 * People shows a deleted person in listings for minutes): a listing that still shows one is
 * checked with a direct read before it counts as a new item (`spokeDeletedAmong`).
 */
export async function recordSpokeDeletes(db: Db, spokeId: string, remoteIds: readonly string[], at: number): Promise<void> {
  for (const part of chunks(remoteIds, 500)) {
    await db
      .insertInto('spoke_deletes')
      .values(part.map((remote_id) => ({ spoke_id: spokeId, remote_id, deleted_at: at })))
      .onConflict((oc) => oc.columns(['spoke_id', 'remote_id']).doUpdateSet({ deleted_at: at }))
      .execute();
  }
}

/** Which of these remote ids the hub deleted from the spoke (and still remembers). */
export async function spokeDeletedAmong(db: Db, spokeId: string, remoteIds: readonly string[]): Promise<Set<string>> {
  const out = new Set<string>();
  for (const part of chunks(remoteIds, 500)) {
    const rows = await db.selectFrom('spoke_deletes').select('remote_id').where('spoke_id', '=', spokeId).where('remote_id', 'in', part).execute();
    for (const r of rows) out.add(r.remote_id);
  }
  return out;
}

/** Forgets deletes older than `before`: by then the spoke's listings have caught up with them. */
export async function forgetSpokeDeletes(db: Db, spokeId: string, before: number): Promise<void> {
  await db.deleteFrom('spoke_deletes').where('spoke_id', '=', spokeId).where('deleted_at', '<', before).execute();
}
