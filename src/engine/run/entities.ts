/**
 * Reading and writing hub contacts, with their identity keys and the audit journal. Every change
 * of a contact goes through `saveEntity`, which journals it — so any change can be traced to a run
 * and a spoke, a deleted contact restored, and a run undone.
 */
import { sql } from 'kysely';
import type { Card } from '../../model/card.js';
import { fieldsToCard } from '../../model/card-fields.js';
import { emptyFields, hashFields, restrictFields, type Fields } from '../../model/fields.js';
import { currentFields, type HubState } from '../plan/hub-state.js';
import { insertRows } from '../../store/insert-rows.js';
import { identityKeys } from '../plan/match.js';
import { chunks, eachRowOf, jsonOf, type Db, type RunContext } from './context.js';
import { decodeState, encodeState } from './state-json.js';

export interface Tombstone {
  at: number;
  /** The spoke the deletion came from, or `hub` (a person, an undo). */
  origin: string;
  evidence: 'explicit' | 'verified-missing' | 'person' | 'undo';
  runId: string;
  /** A person confirmed it (after a mass-delete hold): it may pass the outbound gate. */
  confirmed: boolean;
}

export interface EntityRow {
  id: string;
  uid: string;
  /** The merged state; parsed on first use (a push that creates the contact elsewhere needs only its fields). */
  readonly state: HubState;
  /** `currentFields(state)`, from the stored fields when the row has them. */
  readonly fields: Fields;
  /** The contact as a JSContact Card (labels, messages): `fieldsToCard(fields, uid)`, made on first use. */
  readonly card: Card;
  deleted: boolean;
  tombstone: Tombstone | null;
  version: number;
  /** `hashFields` of all the contact's current fields; null for rows written before it was kept. */
  fieldsHash: string | null;
  /** The state's stored text (state-json.ts), when the row was read or written by the store. */
  readonly stateText?: string;
}

type Row = { id: string; uid: string | null; state: string; fields: string | null; deleted: number; tombstone: string | null; version: number; fields_hash: string | null };

function entityRow(
  head: Pick<EntityRow, 'id' | 'uid' | 'deleted' | 'tombstone' | 'version' | 'fieldsHash' | 'stateText'>,
  makeState: () => HubState,
  makeFields: (state: () => HubState) => Fields,
): EntityRow {
  let state: HubState | undefined;
  let fields: Fields | undefined;
  let card: Card | undefined;
  const stateOnce = () => (state ??= makeState());
  const fieldsOnce = () => (fields ??= makeFields(stateOnce));
  return {
    ...head,
    get state() {
      return stateOnce();
    },
    get fields() {
      return fieldsOnce();
    },
    get card() {
      return (card ??= fieldsToCard(fieldsOnce(), head.uid));
    },
  };
}

function fromRow(r: Row): EntityRow {
  return entityRow(
    {
      id: r.id,
      // Every row has one since migration 0009 copied the older rows' from their cards.
      uid: r.uid ?? `urn:uuid:${r.id}`,
      deleted: r.deleted === 1,
      tombstone: r.tombstone ? jsonOf<Tombstone>(r.tombstone) : null,
      version: r.version,
      fieldsHash: r.fields_hash,
      stateText: r.state,
    },
    () => decodeState(r.state),
    (state) => (r.fields !== null ? jsonOf<Fields>(r.fields) : currentFields(state())),
  );
}

/** The Card of a stored contact, for readers outside a run (labels, the web app, the CLI). */
export function storedCard(r: { id: string; uid: string | null; fields: string | null; state: string | null }): Card {
  const fields = r.fields !== null ? jsonOf<Fields>(r.fields) : r.state !== null ? currentFields(decodeState(r.state)) : emptyFields();
  return fieldsToCard(fields, r.uid ?? `urn:uuid:${r.id}`);
}

/**
 * The columns `storedCard` needs, for a query on `entities`: the state only for rows written
 * before migration 0009 (without fields), the rest never read it.
 */
export const STORED_CARD_STATE = sql<string | null>`case when fields is null then state end`;

/**
 * Rows of the hub's contacts by id, `select` run on chunks of 500 ids. By primary key alone: with
 * `hub_id = ?` in the WHERE clause SQLite's planner picks the (hub_id, version) index and scans the
 * whole hub on every call (measured: 862 s → 249 s for the 100,000-contact initial sync). The hub is
 * checked here instead.
 */
async function rowsOfHub<R extends { hub_id: string }>(hubId: string, ids: readonly string[], select: (part: string[]) => Promise<R[]>): Promise<R[]> {
  const out: R[] = [];
  await eachRowOf(ids, select, (r) => {
    if (r.hub_id === hubId) out.push(r);
  });
  return out;
}

export async function loadEntities(db: Db, hubId: string, ids: readonly string[]): Promise<Map<string, EntityRow>> {
  const rows = await rowsOfHub(hubId, ids, (part) =>
    db.selectFrom('entities').select(['id', 'hub_id', 'uid', 'state', 'fields', 'deleted', 'tombstone', 'version', 'fields_hash']).where('id', 'in', part).execute(),
  );
  return new Map(rows.map((r) => [r.id, fromRow(r)]));
}

/** What a push decides from before it needs a contact's content (see `loadEntityHeads`). */
export interface EntityHead {
  id: string;
  deleted: boolean;
  version: number;
  /** `hashFields` of all the contact's current fields; null for rows written before it was kept. */
  fieldsHash: string | null;
}

/**
 * Contacts without their content: a push finds most of a hub's contacts in sync with the spoke by
 * comparing `fieldsHash` with the link's base hash, and parses the state of the others only.
 */
export async function loadEntityHeads(db: Db, hubId: string, ids: readonly string[]): Promise<Map<string, EntityHead>> {
  const rows = await rowsOfHub(hubId, ids, (part) =>
    db.selectFrom('entities').select(['id', 'hub_id', 'deleted', 'version', 'fields_hash']).where('id', 'in', part).execute(),
  );
  return new Map(rows.map((r) => [r.id, { id: r.id, deleted: r.deleted === 1, version: r.version, fieldsHash: r.fields_hash }]));
}

export async function loadEntity(db: Db, hubId: string, id: string): Promise<EntityRow | undefined> {
  return (await loadEntities(db, hubId, [id])).get(id);
}

export type JournalAction = 'create' | 'update' | 'delete' | 'restore';

export interface EntityWrite {
  id: string;
  uid: string;
  state: HubState;
  deleted: boolean;
  tombstone: Tombstone | null;
  /** The row as it was, or undefined for a new contact. */
  before: EntityRow | undefined;
  action: JournalAction;
  /** The spoke the change came from; null for the hub itself. */
  spokeId: string | null;
  /** `hashFields` of all of `currentFields(state)`, when the caller has it already. */
  fieldsHash?: string;
}

/**
 * Writes contacts, their identity keys and journal rows. Each write gets a fresh hub version, so
 * every spoke sees it as a change to consider. Call inside a transaction.
 */
export async function saveEntities(ctx: RunContext, db: Db, writes: readonly EntityWrite[]): Promise<EntityRow[]> {
  const now = ctx.clock.nowMs();
  const saved: EntityRow[] = [];
  const newRows = [];
  const journal = [];
  const keyRows: { hub_id: string; key: string; entity_id: string }[] = [];
  const touched: string[] = [];
  const revived: string[] = [];
  for (const w of writes) {
    if (w.before?.deleted && !w.deleted) revived.push(w.id);
    const version = ctx.clock.tick();
    const fields = currentFields(w.state);
    const row = {
      id: w.id,
      hub_id: ctx.hubId,
      uid: w.uid,
      state: encodeState(w.state),
      fields: JSON.stringify(fields),
      fields_hash: w.fieldsHash ?? hashFields(restrictFields(fields, 'all')),
      deleted: w.deleted ? 1 : 0,
      tombstone: w.tombstone ? JSON.stringify(w.tombstone) : null,
      version,
      updated_at: now,
    };
    if (w.before) {
      await db
        .updateTable('entities')
        .set({
          uid: row.uid,
          state: row.state,
          fields: row.fields,
          fields_hash: row.fields_hash,
          deleted: row.deleted,
          tombstone: row.tombstone,
          version,
          updated_at: now,
        })
        .where('id', '=', w.id)
        .execute();
      touched.push(w.id);
    } else {
      newRows.push({ ...row, created_at: now });
    }
    if (!w.deleted) for (const key of identityKeys(fields, w.uid)) keyRows.push({ hub_id: ctx.hubId, key, entity_id: w.id });
    journal.push({
      id: ctx.ids(),
      hub_id: ctx.hubId,
      run_id: ctx.runId,
      spoke_id: w.spokeId,
      entity_id: w.id,
      action: w.action,
      // The text read from the store, not written again: the state is never changed in place.
      before: w.before ? (w.before.stateText ?? encodeState(w.before.state)) : null,
      after: row.state,
      at: now,
    });
    saved.push(
      entityRow(
        { id: w.id, uid: w.uid, deleted: w.deleted, tombstone: w.tombstone, version, fieldsHash: row.fields_hash, stateText: row.state },
        () => w.state,
        () => fields,
      ),
    );
  }
  await insertRows(db, 'entities', newRows, 200);
  for (const part of chunks(touched, 500)) await db.deleteFrom('entity_keys').where('entity_id', 'in', part).execute();
  await insertRows(db, 'entity_keys', keyRows, 300);
  await insertRows(db, 'journal', journal, 200);
  // A contact deleted no more (restored, kept by an edit, an undo undone) voids the hub's held
  // deletions of it: they must not be listed, and confirming one must not later let another deletion
  // of the contact past the gate.
  for (const part of chunks(revived, 500)) {
    await db
      .updateTable('held_deletes')
      .set({ status: 'cancelled', decided_at: now })
      .where('hub_id', '=', ctx.hubId)
      .where('direction', '=', 'outbound')
      .where('status', 'in', ['held', 'confirmed'])
      .where('entity_id', 'in', part)
      .execute();
  }
  return saved;
}

/** How many hub contacts hold each key (a key held by several is weak evidence for matching). */
export async function keyOwnerCounts(db: Db, hubId: string, keys: readonly string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  await eachRowOf(
    keys,
    (part) =>
      db
        .selectFrom('entity_keys')
        .select((eb) => ['key', eb.fn.countAll<number>().as('n')])
        .where('hub_id', '=', hubId)
        .where('key', 'in', part)
        .groupBy('key')
        .execute(),
    (r) => out.set(r.key, Number(r.n)),
  );
  return out;
}

/** Hub contacts holding any of the keys, with the keys they hold. */
export async function entitiesByKeys(db: Db, hubId: string, keys: readonly string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  await eachRowOf(
    keys,
    (part) => db.selectFrom('entity_keys').select(['key', 'entity_id']).where('hub_id', '=', hubId).where('key', 'in', part).execute(),
    (r) => {
      const list = out.get(r.entity_id);
      if (list) list.push(r.key);
      else out.set(r.entity_id, [r.key]);
    },
  );
  return out;
}
