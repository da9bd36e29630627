/**
 * Hubs and their spokes: creation, lookup by name, options and status.
 */
import type { Kysely } from 'kysely';
import { spokeOptionsSchema, type SpokeOptions } from '../engine/plan/options.js';
import type { Schema } from './schema.js';

export interface Hub {
  id: string;
  name: string;
  object: 'contacts';
  createdAt: number;
  clock: number;
}

export interface SpokeStatus {
  lastRunId?: string;
  lastSyncAt?: number;
  lastOkAt?: number;
  /** ok | error | needs-sign-in */
  state?: 'ok' | 'error' | 'needs-sign-in';
  lastError?: string;
  /** Contacts linked to this spoke after the last run. */
  linked?: number;
}

export interface Spoke {
  id: string;
  hubId: string;
  name: string;
  type: string;
  config: Record<string, unknown>;
  options: SpokeOptions;
  createdAt: number;
  cursor: string | null;
  identity: string | null;
  pushedClock: number;
  /** When the last complete listing started (ms); null when not known. */
  listedAt: number | null;
  status: SpokeStatus;
}

type DbLike = Pick<Kysely<Schema>, 'selectFrom' | 'insertInto' | 'updateTable' | 'deleteFrom'>;

export class NotFoundError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NotFoundError';
  }
}

type SpokeRow = Schema['spokes'];

function spokeFromRow(r: SpokeRow): Spoke {
  return {
    id: r.id,
    hubId: r.hub_id,
    name: r.name,
    type: r.type,
    config: JSON.parse(r.config) as Record<string, unknown>,
    options: spokeOptionsSchema.parse(JSON.parse(r.options)),
    createdAt: r.created_at,
    cursor: r.cursor,
    identity: r.identity,
    pushedClock: r.pushed_clock,
    listedAt: r.listed_at === null || r.listed_at === undefined ? null : Number(r.listed_at),
    status: JSON.parse(r.status) as SpokeStatus,
  };
}

export async function createHub(db: DbLike, h: { id: string; name: string; object: 'contacts'; now: number }): Promise<Hub> {
  const existing = await db.selectFrom('hubs').select('id').where('name', '=', h.name).executeTakeFirst();
  if (existing) throw new Error(`A hub named "${h.name}" already exists.`);
  await db
    .insertInto('hubs')
    .values({ id: h.id, name: h.name, object: h.object, created_at: h.now, clock: 0, settings: '{}' })
    .execute();
  return { id: h.id, name: h.name, object: h.object, createdAt: h.now, clock: 0 };
}

export async function listHubs(db: DbLike): Promise<Hub[]> {
  const rows = await db.selectFrom('hubs').selectAll().orderBy('created_at').orderBy('name').execute();
  return rows.map((r) => ({ id: r.id, name: r.name, object: 'contacts', createdAt: r.created_at, clock: r.clock }));
}

export async function getHub(db: DbLike, nameOrId: string): Promise<Hub> {
  const r =
    (await db.selectFrom('hubs').selectAll().where('name', '=', nameOrId).executeTakeFirst()) ??
    (await db.selectFrom('hubs').selectAll().where('id', '=', nameOrId).executeTakeFirst());
  if (!r) throw new NotFoundError(`No hub named "${nameOrId}". \`hubsync hub list\` shows the hubs there are.`);
  return { id: r.id, name: r.name, object: 'contacts', createdAt: r.created_at, clock: r.clock };
}

export async function deleteHub(db: DbLike, hubId: string): Promise<void> {
  for (const t of ['held_deletes', 'conflicts', 'reviews', 'journal', 'runs', 'intents', 'leases'] as const) {
    await db.deleteFrom(t).where('hub_id', '=', hubId).execute();
  }
  await db.deleteFrom('entity_keys').where('hub_id', '=', hubId).execute();
  const spokes = await db.selectFrom('spokes').select('id').where('hub_id', '=', hubId).execute();
  for (const s of spokes) {
    await db.deleteFrom('links').where('spoke_id', '=', s.id).execute();
    await db.deleteFrom('spoke_deletes').where('spoke_id', '=', s.id).execute();
  }
  await db.deleteFrom('spokes').where('hub_id', '=', hubId).execute();
  await db.deleteFrom('entities').where('hub_id', '=', hubId).execute();
  await db.deleteFrom('hubs').where('id', '=', hubId).execute();
}

export async function addSpoke(
  db: DbLike,
  s: { id: string; hubId: string; name: string; type: string; config: Record<string, unknown>; options: SpokeOptions; now: number },
): Promise<Spoke> {
  const existing = await db
    .selectFrom('spokes')
    .select('id')
    .where('hub_id', '=', s.hubId)
    .where('name', '=', s.name)
    .executeTakeFirst();
  if (existing) throw new Error(`The hub already has a spoke named "${s.name}".`);
  await db
    .insertInto('spokes')
    .values({
      id: s.id,
      hub_id: s.hubId,
      name: s.name,
      type: s.type,
      config: JSON.stringify(s.config),
      options: JSON.stringify(s.options),
      created_at: s.now,
      cursor: null,
      identity: null,
      pushed_clock: 0,
      listed_at: null,
      status: '{}',
    })
    .execute();
  return getSpoke(db, s.hubId, s.name);
}

export async function listSpokes(db: DbLike, hubId: string): Promise<Spoke[]> {
  const rows = await db.selectFrom('spokes').selectAll().where('hub_id', '=', hubId).orderBy('created_at').orderBy('name').execute();
  return rows.map(spokeFromRow);
}

/**
 * The hub's spoke already on this address book (`identity()`, recorded at a spoke's first sync), if
 * any; with `addedBefore`, only one added before that spoke. One address book is one spoke of a hub.
 */
export async function spokeOnAddressBook(db: DbLike, hubId: string, identity: string, addedBefore?: Spoke): Promise<{ name: string } | undefined> {
  let q = db.selectFrom('spokes').select('name').where('hub_id', '=', hubId).where('identity', '=', identity);
  if (addedBefore) {
    const s = addedBefore;
    q = q
      .where('id', '!=', s.id)
      .where((eb) => eb.or([eb('created_at', '<', s.createdAt), eb.and([eb('created_at', '=', s.createdAt), eb('name', '<', s.name)])]));
  }
  return q.orderBy('created_at').orderBy('name').executeTakeFirst();
}

export async function getSpoke(db: DbLike, hubId: string, nameOrId: string): Promise<Spoke> {
  const rows = await db.selectFrom('spokes').selectAll().where('hub_id', '=', hubId).execute();
  const r = rows.find((x) => x.name === nameOrId) ?? rows.find((x) => x.id === nameOrId);
  if (!r) throw new NotFoundError(`The hub has no spoke named "${nameOrId}". \`hubsync status HUB\` lists its spokes.`);
  return spokeFromRow(r);
}

export async function setSpokeOptions(db: DbLike, spoke: Spoke, options: SpokeOptions): Promise<Spoke> {
  const before = spoke.options;
  // A spoke that starts receiving contacts (or receives others because its conditions changed) has
  // to be compared with the whole hub once, not only with what changed since its last push.
  const widened =
    (options.allowCreate && !before.allowCreate) ||
    (options.direction === 'two-way' && before.direction !== 'two-way') ||
    (options.allowUpdate && !before.allowUpdate) ||
    (options.allowDelete && !before.allowDelete) ||
    JSON.stringify(options.conditions) !== JSON.stringify(before.conditions);
  await db
    .updateTable('spokes')
    .set({ options: JSON.stringify(options), ...(widened ? { pushed_clock: 0 } : {}) })
    .where('id', '=', spoke.id)
    .execute();
  return { ...spoke, options, pushedClock: widened ? 0 : spoke.pushedClock };
}

export async function removeSpoke(db: DbLike, spoke: Spoke): Promise<void> {
  await db.deleteFrom('links').where('spoke_id', '=', spoke.id).execute();
  await db.deleteFrom('intents').where('spoke_id', '=', spoke.id).execute();
  await db.deleteFrom('held_deletes').where('spoke_id', '=', spoke.id).execute();
  await db.deleteFrom('spoke_deletes').where('spoke_id', '=', spoke.id).execute();
  await db.deleteFrom('spokes').where('id', '=', spoke.id).execute();
}

export async function updateSpokeStatus(db: DbLike, spokeId: string, patch: SpokeStatus): Promise<void> {
  const r = await db.selectFrom('spokes').select('status').where('id', '=', spokeId).executeTakeFirst();
  const status = { ...(r ? (JSON.parse(r.status) as SpokeStatus) : {}), ...patch };
  await db.updateTable('spokes').set({ status: JSON.stringify(status) }).where('id', '=', spokeId).execute();
}
