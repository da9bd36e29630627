/**
 * Read models shared by the CLI (`status`, `history`, `contacts`) and the web app: what a hub
 * holds, how each spoke is doing, what runs changed. Plain queries; no decisions here.
 */
import type { Kysely } from 'kysely';
import type { ConnectorFactory } from '../connectors/kit/contract.js';
import { STORED_CARD_STATE, storedCard } from '../engine/run/entities.js';
import { decodeState } from '../engine/run/state-json.js';
import type { ItemProblemReport, RunSummary, RunTotals } from '../engine/run/report.js';
import type { Card } from '../model/card.js';
import { cardSummary } from '../model/card-fields.js';
import { listSpokes, type Hub, type Spoke } from '../store/hubs.js';
import { openReviews } from './reviews.js';
import type { Schema } from '../store/schema.js';

type Db = Kysely<Schema>;

/** The Card of a stored contact, or null when its row does not read (never a crash of the page). */
function cardOrNull(r: Parameters<typeof storedCard>[0]): Card | null {
  try {
    return storedCard(r);
  } catch {
    return null;
  }
}

/** How each of these hub contacts is shown in lists (`cardSummary`), by id; '' for one not found. */
export async function contactLabels(db: Db, ids: readonly string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const unique = [...new Set(ids)];
  for (let i = 0; i < unique.length; i += 500) {
    const rows = await db
      .selectFrom('entities')
      .select(['id', 'uid', 'fields', STORED_CARD_STATE.as('state')])
      .where('id', 'in', unique.slice(i, i + 500))
      .execute();
    for (const r of rows) {
      const card = cardOrNull(r);
      out.set(r.id, card ? cardSummary(card) : '');
    }
  }
  return out;
}

const count = async (q: Promise<{ n: number } | undefined>): Promise<number> => Number((await q)?.n ?? 0);

export interface SpokeStatusRow {
  spoke: Spoke;
  readOnly: boolean;
  state: string;
  lastSyncAt: number | null;
  lastOkAt: number | null;
  lastError: string | null;
  contacts: number;
  heldDeletes: number;
}

export interface HubStatus {
  hub: Hub;
  contacts: number;
  deletedContacts: number;
  openConflicts: number;
  possibleDuplicates: number;
  /** The hub's last sync; `problems`: how many per-item problems it reported (`runProblems`). */
  lastRun: { id: string; startedAt: number; finishedAt: number | null; status: string; problems: number } | null;
  spokes: SpokeStatusRow[];
}

export async function hubStatus(db: Db, hub: Hub, factories: ReadonlyMap<string, ConnectorFactory>): Promise<HubStatus> {
  const spokes = await listSpokes(db, hub.id);
  const contacts = await count(db.selectFrom('entities').select((eb) => eb.fn.countAll<number>().as('n')).where('hub_id', '=', hub.id).where('deleted', '=', 0).executeTakeFirst());
  const deletedContacts = await count(db.selectFrom('entities').select((eb) => eb.fn.countAll<number>().as('n')).where('hub_id', '=', hub.id).where('deleted', '=', 1).executeTakeFirst());
  const openConflicts = await count(db.selectFrom('conflicts').select((eb) => eb.fn.countAll<number>().as('n')).where('hub_id', '=', hub.id).where('status', '=', 'open').executeTakeFirst());
  const possibleDuplicates = (await openReviews(db, hub.id)).length;
  const lastRun = await db.selectFrom('runs').selectAll().where('hub_id', '=', hub.id).where('kind', '=', 'sync').orderBy('started_at', 'desc').limit(1).executeTakeFirst();
  const rows: SpokeStatusRow[] = [];
  for (const s of spokes) {
    const linked = await count(db.selectFrom('links').select((eb) => eb.fn.countAll<number>().as('n')).where('spoke_id', '=', s.id).executeTakeFirst());
    const held = await count(db.selectFrom('held_deletes').select((eb) => eb.fn.countAll<number>().as('n')).where('spoke_id', '=', s.id).where('status', '=', 'held').executeTakeFirst());
    rows.push({
      spoke: s,
      readOnly: factories.get(s.type)?.capabilities.readOnly ?? false,
      state: s.status.state ?? 'never synced',
      lastSyncAt: s.status.lastSyncAt ?? null,
      lastOkAt: s.status.lastOkAt ?? null,
      lastError: s.status.lastError || null,
      contacts: linked,
      heldDeletes: held,
    });
  }
  return {
    hub,
    contacts,
    deletedContacts,
    openConflicts,
    possibleDuplicates,
    lastRun: lastRun
      ? { id: lastRun.id, startedAt: lastRun.started_at, finishedAt: lastRun.finished_at, status: lastRun.status, problems: (JSON.parse(lastRun.summary) as Partial<RunSummary>).totals?.problems ?? 0 }
      : null,
    spokes: rows,
  };
}

export interface RunRow {
  id: string;
  kind: string;
  status: string;
  startedAt: number;
  finishedAt: number | null;
  undoneBy: string | null;
  totals: RunTotals | null;
}

export async function hubRuns(db: Db, hubId: string, limit: number, since?: number): Promise<RunRow[]> {
  let q = db.selectFrom('runs').selectAll().where('hub_id', '=', hubId);
  if (since !== undefined) q = q.where('started_at', '>=', since);
  const runs = await q.orderBy('started_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
  return runs.map((r) => {
    const s = JSON.parse(r.summary) as Partial<RunSummary>;
    return { id: r.id, kind: r.kind, status: r.status, startedAt: r.started_at, finishedAt: r.finished_at, undoneBy: r.undone_by, totals: s.totals ?? null };
  });
}

export interface RunProblems {
  run: { id: string; kind: string; status: string; startedAt: number };
  spokes: { name: string; problems: ItemProblemReport[]; count: number }[];
}

/**
 * The per-item problems a run reported (bad data kept as written, files that could not be read,
 * refused writes), as stored with its summary: at most `MAX_PROBLEMS` per spoke, with the full
 * count. Without `runId`, the hub's last finished sync (the run `hubStatus` calls the last one, unless
 * that is still running). Null when there is no such run. A problem is reported by the run that
 * read the item: an item that has not changed since is not read again, so a later run does not
 * repeat it.
 */
export async function runProblems(db: Db, hubId: string, runId?: string): Promise<RunProblems | null> {
  let q = db.selectFrom('runs').selectAll().where('hub_id', '=', hubId);
  q = runId !== undefined ? q.where('id', '=', runId) : q.where('kind', '=', 'sync').where('status', '!=', 'running');
  const row = await q.orderBy('started_at', 'desc').orderBy('id', 'desc').limit(1).executeTakeFirst();
  if (!row) return null;
  const s = JSON.parse(row.summary) as Partial<RunSummary>;
  return {
    run: { id: row.id, kind: row.kind, status: row.status, startedAt: row.started_at },
    spokes: (s.spokes ?? []).map((sp) => ({ name: sp.name, problems: sp.problems ?? [], count: sp.problemCount ?? sp.problems?.length ?? 0 })),
  };
}

export interface JournalRow {
  id: string;
  at: number;
  run: string;
  from: string;
  contact: string;
  label: string;
  action: string;
  before: unknown;
  after: unknown;
}

export async function hubJournal(db: Db, hubId: string, opts: { contact?: string; run?: string; limit: number }): Promise<JournalRow[]> {
  let q = db.selectFrom('journal').selectAll().where('hub_id', '=', hubId);
  if (opts.contact) q = q.where('entity_id', '=', opts.contact);
  if (opts.run) q = q.where('run_id', '=', opts.run);
  const rows = await q.orderBy('id', 'desc').limit(opts.limit).execute();
  const spokes = new Map((await listSpokes(db, hubId)).map((s) => [s.id, s.name]));
  const labels = await contactLabels(db, rows.map((r) => r.entity_id));
  return rows.map((r) => ({
    id: r.id,
    at: r.at,
    run: r.run_id,
    from: r.spoke_id ? (spokes.get(r.spoke_id) ?? r.spoke_id) : 'hub',
    contact: r.entity_id,
    label: labels.get(r.entity_id) ?? '',
    action: r.action,
    // Every cell whole, whichever form the store holds (state-json.ts).
    before: r.before ? decodeState(r.before) : null,
    after: r.after ? decodeState(r.after) : null,
  }));
}

export async function hubContacts(db: Db, hubId: string, opts: { search?: string; deleted?: boolean; limit: number }): Promise<{ id: string; label: string; card: Card }[]> {
  const needle = opts.search?.toLowerCase();
  const out: { id: string; label: string; card: Card }[] = [];
  let after = '';
  // Scans in pages so a large hub is never loaded at once.
  while (out.length < opts.limit) {
    const rows = await db
      .selectFrom('entities')
      .select(['id', 'uid', 'fields', STORED_CARD_STATE.as('state')])
      .where('hub_id', '=', hubId)
      .where('deleted', '=', opts.deleted ? 1 : 0)
      .where('id', '>', after)
      .orderBy('id')
      .limit(1000)
      .execute();
    if (rows.length === 0) break;
    after = rows[rows.length - 1]?.id ?? after;
    for (const r of rows) {
      // The search looks at the stored values (the fields' JSON; for a row older than migration
      // 0009, the Card's), not at the merge state with its tags and spoke ids. The Card is made
      // only for the contacts shown.
      let card: Card | null | undefined;
      if (needle && !(r.fields ?? JSON.stringify((card = cardOrNull(r)))).toLowerCase().includes(needle)) continue;
      card = card === undefined ? cardOrNull(r) : card;
      if (!card) continue;
      out.push({ id: r.id, label: cardSummary(card), card });
      if (out.length >= opts.limit) break;
    }
  }
  return out;
}

export async function hubContact(db: Db, hubId: string, id: string) {
  const e = await db.selectFrom('entities').selectAll().where('hub_id', '=', hubId).where('id', '=', id).executeTakeFirst();
  if (!e) return null;
  const links = await db
    .selectFrom('links')
    .innerJoin('spokes', 'spokes.id', 'links.spoke_id')
    .select(['spokes.name as spoke', 'links.remote_id', 'links.state'])
    .where('links.entity_id', '=', e.id)
    .execute();
  return { id: e.id, deleted: e.deleted === 1, tombstone: e.tombstone ? (JSON.parse(e.tombstone) as unknown) : null, card: storedCard(e), links };
}

/**
 * Where a value of a conflict came from, as people know it: the spoke's name, `hub` for a choice
 * made in Hubsync (a conflict picked, an undo), or null for a spoke removed since (its values stay).
 * The store keeps the spoke's id.
 */
export async function conflictOrigins(db: Db, hubId: string): Promise<(origin: string) => string | null> {
  const names = new Map((await listSpokes(db, hubId)).map((s) => [s.id, s.name]));
  return (origin) => (origin === 'hub' ? 'hub' : (names.get(origin) ?? null));
}

export async function openConflicts(db: Db, hubId: string) {
  const rows = await db.selectFrom('conflicts').selectAll().where('hub_id', '=', hubId).where('status', '=', 'open').orderBy('at', 'desc').limit(200).execute();
  const labels = await contactLabels(db, rows.map((r) => r.entity_id));
  const from = await conflictOrigins(db, hubId);
  return rows.map((r) => ({
    id: r.id,
    contact: r.entity_id,
    label: labels.get(r.entity_id) ?? '',
    path: r.path,
    kept: JSON.parse(r.kept) as unknown,
    lost: JSON.parse(r.lost) as unknown,
    keptFrom: from(r.kept_origin),
    lostFrom: from(r.lost_origin),
    at: r.at,
  }));
}

export async function heldDeletes(db: Db, hubId: string) {
  const rows = await db.selectFrom('held_deletes').selectAll().where('hub_id', '=', hubId).where('status', '=', 'held').orderBy('created_at', 'desc').limit(1000).execute();
  const spokes = new Map((await listSpokes(db, hubId)).map((s) => [s.id, s.name]));
  const labels = await contactLabels(db, rows.map((r) => r.entity_id));
  return rows.map((r) => ({ id: r.id, spoke: spokes.get(r.spoke_id) ?? r.spoke_id, contact: r.entity_id, label: labels.get(r.entity_id) ?? '', direction: r.direction, reason: r.reason, at: r.created_at }));
}
