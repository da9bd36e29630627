/**
 * What a person decides about a hub, outside a sync: confirm or reject held deletions, restore a
 * deleted contact, keep the other side of a conflict, undo a whole run. Each decision is recorded as
 * a run of its own (kind `decision` or `undo`), so the journal says who changed what and it can be
 * undone in turn. The changes reach the spokes on the next sync.
 */
import type { Kysely } from 'kysely';
import type { ConnectorFactory } from '../../connectors/kit/contract.js';
import type { Attrs } from '../../model/fields.js';
import { getHub, listSpokes, type Hub } from '../../store/hubs.js';
import { acquireLease, releaseLease } from '../../store/lease.js';
import type { Schema } from '../../store/schema.js';
import { HubClock } from '../hlc.js';
import type { IdGen } from '../ids.js';
import { currentFields, emptyState, type HubState } from '../plan/hub-state.js';
import { applyChanges, diffFields, type Change } from '../plan/merge.js';
import type { Db, RunContext } from './context.js';
import { loadEntities, loadEntity, saveEntities, type EntityRow, type EntityWrite } from './entities.js';
import { decodeState } from './state-json.js';
import { applySpokeDeletes, lookAgain } from './inbound.js';
import { deleteLink } from './links.js';
import { PlanGuard } from './plan-guard.js';
import { newSpokeReport } from './report.js';

export interface DecisionDeps {
  db: Kysely<Schema>;
  factories: ReadonlyMap<string, ConnectorFactory>;
  now: () => number;
  ids: IdGen;
  holder: string;
}

export class DecisionError extends Error {}

/** Runs `fn` as a decision run of the hub, under its lease, in one transaction. */
async function decide<T>(
  deps: DecisionDeps,
  hubName: string,
  kind: 'decision' | 'undo',
  fn: (ctx: RunContext, db: Db, hub: Hub) => Promise<T>,
): Promise<T & { runId: string }> {
  const hub = await getHub(deps.db, hubName);
  const now = deps.now();
  await acquireLease(deps.db, { hubId: hub.id, hubName: hub.name, holder: deps.holder, now });
  try {
    return await deps.db.transaction().execute(async (db) => {
      const clockRow = await db.selectFrom('hubs').select('clock').where('id', '=', hub.id).executeTakeFirstOrThrow();
      const clock = new HubClock(deps.now, clockRow.clock);
      const runId = deps.ids();
      const ctx: RunContext = {
        db,
        tx: (f) => f(db),
        clock,
        ids: deps.ids,
        hubId: hub.id,
        runId,
        dryRun: false,
        progress: () => undefined,
        guard: new PlanGuard(),
      };
      await db
        .insertInto('runs')
        .values({ id: runId, hub_id: hub.id, kind, started_at: now, finished_at: null, status: 'running', summary: '{}', undone_by: null })
        .execute();
      const out = await fn(ctx, db, hub);
      await db
        .updateTable('runs')
        .set({ finished_at: deps.now(), status: 'ok', summary: JSON.stringify(out) })
        .where('id', '=', runId)
        .execute();
      await db.updateTable('hubs').set({ clock: clock.current }).where('id', '=', hub.id).execute();
      return { ...out, runId };
    });
  } finally {
    await releaseLease(deps.db, { hubId: hub.id, holder: deps.holder });
  }
}

/** A hub-side edit that wins over everything the spokes hold (a person's explicit decision). */
function personEdit(ctx: RunContext, state: HubState, changes: readonly Change[]): HubState {
  return applyChanges(state, changes, { at: ctx.clock.tick(), origin: 'hub', hv: ctx.clock.tick(), seen: Number.MAX_SAFE_INTEGER }).state;
}

/**
 * A person's write to one hub contact. The only deletions written here are an undo's (of contacts the
 * undone run created), and they are not pre-confirmed: they reach the spokes through the outbound
 * mass-delete gate like any deletion of the hub's. Undoing a first sync deletes every contact it
 * brought in, and on every spoke, including the files and cards people had before the hub existed;
 * a person clicking Undo on a run meant "take back what that sync did", and 390 deletions of their
 * own address books (what it did before this gate, found trying the demo) must wait for a second look.
 */
function write(e: EntityRow, state: HubState, action: EntityWrite['action'], deleted: boolean, ctx: RunContext): EntityWrite {
  return {
    id: e.id,
    uid: e.uid,
    state,
    deleted,
    tombstone: deleted ? { at: ctx.clock.nowMs(), origin: 'hub', evidence: 'undo', runId: ctx.runId, confirmed: false } : null,
    before: e,
    action,
    spokeId: null,
  };
}

export interface HeldDecision {
  decided: number;
  applied: number;
}

/**
 * Confirms held deletions: an inbound one deletes the contact in the hub now (and the deletion then
 * reaches the other spokes, past the gate, on the next sync); an outbound one is sent on the next sync.
 */
export async function confirmHeld(deps: DecisionDeps, hubName: string, ids: readonly string[] | 'all'): Promise<HeldDecision & { runId: string }> {
  return decide(deps, hubName, 'decision', async (ctx, db, hub) => {
    const rows = await heldRows(db, hub.id, ids);
    const spokes = new Map((await listSpokes(db, hub.id)).map((s) => [s.id, s]));
    let applied = 0;
    for (const [spokeId, group] of groupBy(rows.filter((r) => r.direction === 'inbound'), (r) => r.spoke_id)) {
      const spoke = spokes.get(spokeId);
      if (!spoke) continue;
      const factory = deps.factories.get(spoke.type);
      const report = newSpokeReport(spoke);
      await applySpokeDeletes(ctx, db, { spoke, paths: factory?.capabilities.fields ?? 'all', report }, group.map((r) => ({ remoteId: r.remote_id, entityId: r.entity_id, evidence: 'verified-missing' as const })), true);
      applied += report.inbound.deleted;
    }
    for (const r of rows) {
      await db
        .updateTable('held_deletes')
        .set({ status: r.direction === 'inbound' ? 'done' : 'confirmed', decided_at: ctx.clock.nowMs() })
        .where('id', '=', r.id)
        .execute();
    }
    return { decided: rows.length, applied };
  });
}

/**
 * Rejects held deletions: the contacts stay in the hub. Inbound: the spoke lost them, so they are
 * offered to it again (created anew where the hub may create). Outbound: the hub's deletion is
 * undone, and the contact comes back wherever it was deleted.
 */
export async function rejectHeld(deps: DecisionDeps, hubName: string, ids: readonly string[] | 'all'): Promise<HeldDecision & { runId: string }> {
  return decide(deps, hubName, 'decision', async (ctx, db, hub) => {
    const rows = await heldRows(db, hub.id, ids);
    let applied = 0;
    const restore = new Set<string>();
    for (const r of rows) {
      if (r.direction === 'inbound') {
        await deleteLink(db, r.spoke_id, r.entity_id);
        await lookAgain(ctx, db, r.spoke_id, r.entity_id);
        applied += 1;
      } else {
        restore.add(r.entity_id);
      }
      await db.updateTable('held_deletes').set({ status: 'rejected', decided_at: ctx.clock.nowMs() }).where('id', '=', r.id).execute();
    }
    const entities = await loadEntities(db, hub.id, [...restore]);
    const writes = [...entities.values()].filter((e) => e.deleted).map((e) => write(e, personEdit(ctx, e.state, []), 'restore', false, ctx));
    await saveEntities(ctx, db, writes);
    return { decided: rows.length, applied: applied + writes.length };
  });
}

async function heldRows(db: Db, hubId: string, ids: readonly string[] | 'all') {
  let q = db.selectFrom('held_deletes').selectAll().where('hub_id', '=', hubId).where('status', '=', 'held');
  if (ids !== 'all') {
    if (ids.length === 0) return [];
    q = q.where('id', 'in', [...ids]);
  }
  const rows = await q.orderBy('id').execute();
  if (ids !== 'all') {
    const found = new Set(rows.map((r) => r.id));
    const missing = ids.filter((id) => !found.has(id));
    if (missing.length > 0) throw new DecisionError(`No held deletion with id ${missing.join(', ')} (\`hubsync held HUB\` lists them).`);
  }
  return rows;
}

/** Brings a deleted contact back with its last content; it reaches the spokes on the next sync. */
export async function restoreContact(deps: DecisionDeps, hubName: string, entityId: string): Promise<{ restored: string; runId: string }> {
  return decide(deps, hubName, 'decision', async (ctx, db, hub) => {
    const e = await loadEntity(db, hub.id, entityId);
    if (!e) throw new DecisionError(`Hub "${hub.name}" has no contact ${entityId}.`);
    if (!e.deleted) throw new DecisionError(`Contact ${entityId} is not deleted; there is nothing to restore.`);
    await saveEntities(ctx, db, [write(e, personEdit(ctx, e.state, []), 'restore', false, ctx)]);
    return { restored: entityId };
  });
}

/** Keeps the losing value of a conflict after all. */
export async function resolveConflict(
  deps: DecisionDeps,
  hubName: string,
  conflictId: string,
  keep: 'kept' | 'lost',
): Promise<{ conflict: string; runId: string }> {
  return decide(deps, hubName, 'decision', async (ctx, db, hub) => {
    const c = await db.selectFrom('conflicts').selectAll().where('hub_id', '=', hub.id).where('id', '=', conflictId).executeTakeFirst();
    if (!c) throw new DecisionError(`Hub "${hub.name}" has no conflict ${conflictId} (\`hubsync conflicts HUB\` lists them).`);
    if (keep === 'lost' && c.path !== '*') {
      const e = await loadEntity(db, hub.id, c.entity_id);
      if (!e || e.deleted) throw new DecisionError(`The contact of conflict ${conflictId} was deleted; restore it first.`);
      const value = JSON.parse(c.lost) as string | Attrs | null;
      const [path, key] = c.path.split('/') as [string, string | undefined];
      const cur = currentFields(e.state);
      const next = structuredClone(cur);
      if (key === undefined) {
        if (typeof value === 'string') (next.s as Record<string, string>)[path] = value;
        else delete (next.s as Record<string, string>)[path];
      } else if (value && typeof value === 'object') {
        ((next.m as Record<string, Record<string, Attrs>>)[path] ??= {})[key] = value;
      }
      await saveEntities(ctx, db, [write(e, personEdit(ctx, e.state, diffFields(cur, next)), 'update', false, ctx)]);
    }
    await db.updateTable('conflicts').set({ status: 'resolved' }).where('id', '=', c.id).execute();
    return { conflict: c.id };
  });
}

/**
 * Undoes a run: every contact it changed goes back to how it was before the run — contacts it
 * created are deleted, contacts it deleted come back, edits are reverted — and the next sync
 * carries that to every spoke. The undo is itself a run, and can be undone.
 */
export async function undoRun(deps: DecisionDeps, hubName: string, runId: string): Promise<{ undone: string; contacts: number; deleted: number; runId: string }> {
  return decide(deps, hubName, 'undo', async (ctx, db, hub) => {
    const run = await db.selectFrom('runs').selectAll().where('hub_id', '=', hub.id).where('id', '=', runId).executeTakeFirst();
    if (!run) throw new DecisionError(`Hub "${hub.name}" has no run ${runId} (\`hubsync history ${hub.name} --runs\` lists them).`);
    if (run.undone_by) throw new DecisionError(`Run ${runId} was already undone by run ${run.undone_by}.`);
    if (run.kind === 'dry-run') throw new DecisionError(`Run ${runId} was a dry run; it changed nothing.`);
    const rows = await db.selectFrom('journal').selectAll().where('run_id', '=', runId).orderBy('id').execute();
    // The first journal row of each contact in the run holds its state before the run.
    const first = new Map<string, (typeof rows)[number]>();
    for (const r of rows) if (!first.has(r.entity_id)) first.set(r.entity_id, r);
    const entities = await loadEntities(db, hub.id, [...first.keys()]);
    const writes: EntityWrite[] = [];
    for (const [entityId, r] of first) {
      const e = entities.get(entityId);
      if (!e) continue;
      const existedBefore = r.action === 'update' || r.action === 'delete';
      if (!existedBefore) {
        if (!e.deleted) writes.push(write(e, e.state, 'delete', true, ctx));
        continue;
      }
      const before = r.before ? decodeState(r.before) : emptyState();
      const cur = currentFields(e.state);
      const state = personEdit(ctx, e.state, diffFields(cur, currentFields(before)));
      writes.push(write(e, state, e.deleted ? 'restore' : 'update', false, ctx));
    }
    // Every write gets a new hub version, so each spoke's next push looks at these contacts again.
    await saveEntities(ctx, db, writes);
    await db.updateTable('runs').set({ undone_by: ctx.runId }).where('id', '=', runId).execute();
    return { undone: runId, contacts: writes.length, deleted: writes.filter((w) => w.deleted).length };
  });
}

function groupBy<T, K>(xs: readonly T[], key: (x: T) => K): Map<K, T[]> {
  const m = new Map<K, T[]>();
  for (const x of xs) {
    const k = key(x);
    const list = m.get(k);
    if (list) list.push(x);
    else m.set(k, [x]);
  }
  return m;
}
