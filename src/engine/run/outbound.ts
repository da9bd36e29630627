/**
 * The outbound half of a run for one spoke: send the hub's changes to it — creates, field-mask
 * updates and deletions — each behind a write-ahead intent (sync-design.md §B7).
 *
 * Only contacts that changed since the spoke's last push are looked at (plus retries), so a no-op
 * re-sync reads nothing and memory grows with the changes, not the hub. Deletions are gathered
 * first and pass the outbound mass-delete gate before any is sent.
 */
import type { RemoteItem, WriteResult } from '../../connectors/kit/contract.js';
import { ConnectorError, isConnectorError } from '../../connectors/kit/errors.js';
import { cardSummary, fieldsToCard } from '../../model/card-fields.js';
import { hashFields, restrictFields, type FieldPath, type Fields } from '../../model/fields.js';
import { inScope } from '../plan/conditions.js';
import { outboundGate } from '../plan/gates.js';
import { changedPaths, diffFields } from '../plan/merge.js';
import { insertRows } from '../../store/insert-rows.js';
import { BULK_ROWS, chunks, type Db, type RunContext } from './context.js';
import { loadEntities, loadEntityHeads, type EntityHead, type EntityRow } from './entities.js';
import { applyEditsFromSpoke, observe } from './inbound.js';
import { countLinks, deleteLink, loadLinkHeadsByEntity, loadLinksByEntity, recordSpokeDeletes, upsertLinks, type LinkRow } from './links.js';
import { addPlanned, addProblem } from './report.js';
import type { SpokeRuntime } from './spoke-runtime.js';

/**
 * The contact a create or update is for: what sending and recording need, not the whole loaded
 * row. A chunk's writes wait for one another and three spokes push at once, so holding each
 * write's parsed hub state and card was a large part of a 100,000-contact first sync's peak memory.
 */
interface Target {
  id: string;
  uid: string;
  version: number;
}

/**
 * `fieldsHash` is `hashFields(fields)` when the hub already holds it (a spoke that takes every
 * field is sent the contact's whole fields, whose hash is stored with it), else null.
 */
type Op =
  | { kind: 'create'; entity: Target; fields: Fields; fieldsHash: string | null }
  | { kind: 'update'; entity: Target; fields: Fields; fieldsHash: string | null; link: LinkRow; changed: FieldPath[] }
  | { kind: 'delete'; entity: EntityRow; link: LinkRow };

function target(entity: EntityRow): Target {
  return { id: entity.id, uid: entity.uid, version: entity.version };
}

/**
 * The contact in messages and dry-run plans (`cardSummary`), made only when one is written: for a
 * create or update from the fields sent (the spoke's share of them), for a delete from the
 * contact's last card.
 */
function labelOf(op: Op): string {
  return cardSummary(op.kind === 'delete' ? op.entity.card : fieldsToCard(op.fields, op.entity.uid));
}

type Outcome =
  | { ok: true; result: WriteResult | null; adopted?: RemoteItem }
  | { ok: false; error: unknown; reread?: RemoteItem | null }
  /** Not sent: the contact came back (another spoke's edit won) after the delete was planned. */
  | { ok: false; error: null; skipped: true };

/**
 * Writes are journalled (intents) and recorded in chunks: two transactions per chunk, so chunks
 * are large. A chunk is a whole multiple of the calls a spoke takes at once, so a connector that
 * coalesces concurrent calls into provider batch requests (Google's batchCreateContacts takes 200)
 * fills every batch.
 */
const MIN_CHUNK = 500;
const chunkSize = (rt: SpokeRuntime): number => {
  const inFlight = Math.max(1, rt.caps.maxConcurrency ?? 1);
  return Math.ceil(MIN_CHUNK / inFlight) * inFlight;
};

export async function pushOutbound(ctx: RunContext, rt: SpokeRuntime, renew: () => Promise<void>): Promise<void> {
  const { spoke, policy } = rt;
  await cleanGhosts(ctx, rt);
  if (!policy.create && !policy.update && !policy.delete) {
    // "Look at it again" requests (and retries) for a spoke the hub may not write to would wait
    // forever. Dropping them loses nothing: widening the spoke's options restarts its push window
    // from the beginning (setSpokeOptions). Intents of writes whose outcome is unknown stay: the
    // next run's recovery still needs them.
    await ctx.tx(async (db) => {
      await db.deleteFrom('intents').where('spoke_id', '=', spoke.id).where('state', '=', 'failed').execute();
    });
    return;
  }
  const startClock = ctx.clock.current;

  const retryRows = await ctx.db
    .selectFrom('intents')
    .select(['id', 'entity_id', 'state', 'op'])
    .where('spoke_id', '=', spoke.id)
    .execute();
  // Creates whose outcome is still unknown (waiting for the spoke to show them) must not be re-sent.
  const waiting = new Set(retryRows.filter((r) => r.op === 'create' && r.state !== 'failed').map((r) => r.entity_id));
  const retryIntents = retryRows.filter((r) => r.state === 'failed');
  const retries = retryIntents.map((r) => r.entity_id);
  // Held deletions of contacts that are deleted no more are void (saveEntities cancels them when a
  // contact comes back; this catches any left from before it did).
  await ctx.tx(async (db) => {
    await db
      .updateTable('held_deletes')
      .set({ status: 'cancelled', decided_at: ctx.clock.nowMs() })
      .where('spoke_id', '=', spoke.id)
      .where('direction', '=', 'outbound')
      .where('status', 'in', ['held', 'confirmed'])
      .where(({ exists, selectFrom }) => exists(selectFrom('entities').select('entities.id').whereRef('entities.id', '=', 'held_deletes.entity_id').where('entities.deleted', '=', 0)))
      .execute();
  });
  const confirmedHeld = await ctx.db
    .selectFrom('held_deletes')
    .select('entity_id')
    .where('spoke_id', '=', spoke.id)
    .where('direction', '=', 'outbound')
    .where('status', '=', 'confirmed')
    .execute();
  const confirmed = new Set(confirmedHeld.map((r) => r.entity_id));
  const deletes: Extract<Op, { kind: 'delete' }>[] = [];
  // Planned writes wait here until they fill a chunk, so chunks do not follow the 500-contact
  // pages of the push window: a page of 500 creates on a spoke taking 200 at once would otherwise
  // go out as 200 + 200 + 100, and every page would end with a short provider batch.
  let pending: Op[] = [];
  let done = 0;
  const flush = async (all: boolean): Promise<void> => {
    const size = chunkSize(rt);
    while (pending.length >= size || (all && pending.length > 0)) {
      const batch = pending.slice(0, size);
      pending = pending.slice(size);
      await execute(ctx, rt, batch);
      done += batch.length;
      ctx.progress({ spoke: spoke.name, phase: 'push', done });
      await renew();
    }
  };

  /** `known`: the contacts' heads when the caller read them already (the push window does). */
  const processIds = async (ids: string[], known?: Map<string, EntityHead>): Promise<void> => {
    const heads = known ?? (await loadEntityHeads(ctx.db, ctx.hubId, ids));
    const linkHeads = await loadLinkHeadsByEntity(ctx.db, spoke.id, ids);
    const inSync: { entityId: string; version: number }[] = [];
    // Most contacts of a push window are in sync with the spoke or not for it; only the others'
    // content is read (a first sync of 100,000 contacts looks at 100,000 per spoke).
    const toLoad: string[] = [];
    for (const id of ids) {
      const head = heads.get(id);
      if (!head) continue;
      const link = linkHeads.get(id);
      if (head.deleted) {
        if (link && link.state === 'active' && policy.delete) toLoad.push(id);
      } else if (!link) {
        if (policy.create && !waiting.has(id)) toLoad.push(id);
      } else if (link.state !== 'active') {
        continue;
      } else if (rt.paths === 'all' && head.fieldsHash !== null && head.fieldsHash === link.baseHash) {
        if (link.baseVersion < head.version) inSync.push({ entityId: id, version: head.version });
      } else {
        toLoad.push(id);
      }
    }
    // Judged again on what was loaded, not on the head: a concurrent push can delete or bring back
    // a contact between the two reads.
    const entities = await loadEntities(ctx.db, ctx.hubId, toLoad);
    const links = await loadLinksByEntity(ctx.db, spoke.id, toLoad.filter((id) => linkHeads.has(id)));
    const ops = pending;
    for (const id of toLoad) {
      const entity = entities.get(id);
      if (!entity) continue;
      // Judged on the link as read now, as the contact is (a link gone since its head was read is
      // no link).
      const link = links.get(id);
      if (entity.deleted) {
        if (link && link.state === 'active' && policy.delete) deletes.push({ kind: 'delete', entity, link });
        continue;
      }
      const fields = restrictFields(entity.fields, rt.paths);
      const fieldsHash = rt.paths === 'all' ? entity.fieldsHash : null;
      if (!link) {
        if (policy.create && !waiting.has(id) && inScope(fields, policy.conditions)) ops.push({ kind: 'create', entity: target(entity), fields, fieldsHash });
        continue;
      }
      if (link.state !== 'active') continue;
      if ((fieldsHash ?? hashFields(fields)) === link.baseHash) {
        if (link.baseVersion < entity.version) inSync.push({ entityId: id, version: entity.version });
        continue;
      }
      if (!policy.update || !inScope(fields, policy.conditions)) continue;
      const changed = changedPaths(diffFields(link.base, fields, rt.paths));
      ops.push({ kind: 'update', entity: target(entity), fields, fieldsHash, link, changed });
    }
    if (inSync.length > 0) {
      await ctx.tx(async (db) => {
        for (const s of inSync) {
          await db.updateTable('links').set({ base_version: s.version }).where('spoke_id', '=', spoke.id).where('entity_id', '=', s.entityId).execute();
        }
      });
    }
    await flush(false);
  };

  const retryIds = [...new Set([...retries, ...confirmed])];
  const handled = new Set(retryIds);
  for (const part of chunks(retryIds, 500)) await processIds(part);
  // Retries are sent before their intents are dropped below, so a crash leaves them to retry.
  await flush(true);
  if (retryIds.length > 0) {
    // Only the intents read above: this push may have left new ones for the same contacts (an
    // update that found the item gone, a conflict), which the next run must still act on.
    await ctx.tx(async (db) => {
      for (const part of chunks(retryIntents.map((r) => r.id), 500)) {
        await db.deleteFrom('intents').where('id', 'in', part).execute();
      }
    });
  }

  let after = spoke.pushedClock;
  for (;;) {
    // The heads come with the window: the rows are read anyway to find the ids.
    const rows = await ctx.db
      .selectFrom('entities')
      .select(['id', 'version', 'deleted', 'fields_hash'])
      .where('hub_id', '=', ctx.hubId)
      .where('version', '>', after)
      .where('version', '<=', startClock)
      .orderBy('version')
      .limit(500)
      .execute();
    if (rows.length === 0) break;
    after = rows[rows.length - 1]?.version ?? after;
    const heads = new Map<string, EntityHead>();
    for (const r of rows) if (!handled.has(r.id)) heads.set(r.id, { id: r.id, deleted: r.deleted === 1, version: r.version, fieldsHash: r.fields_hash });
    await processIds([...heads.keys()], heads);
  }
  await flush(true);

  if (deletes.length > 0) {
    const byPerson = deletes.filter((d) => d.entity.tombstone?.confirmed || confirmed.has(d.entity.id));
    const unconfirmed = deletes.filter((d) => !(d.entity.tombstone?.confirmed || confirmed.has(d.entity.id)));
    const linked = await countLinks(ctx.db, spoke.id, 'active');
    const verdict = outboundGate({ deletes: unconfirmed.length, linked });
    const toSend = verdict.hold ? byPerson : deletes;
    if (verdict.hold) await holdOutbound(ctx, rt, unconfirmed, verdict.reason);
    for (const batch of chunks(toSend, chunkSize(rt))) {
      await execute(ctx, rt, batch);
      await renew();
    }
    if (confirmed.size > 0) {
      await ctx.tx(async (db) => {
        await db
          .updateTable('held_deletes')
          .set({ status: 'done', decided_at: ctx.clock.nowMs() })
          .where('spoke_id', '=', spoke.id)
          .where('direction', '=', 'outbound')
          .where('status', '=', 'confirmed')
          .execute();
      });
    }
  }
  await ctx.tx(async (db) => {
    await db.updateTable('spokes').set({ pushed_clock: startClock }).where('id', '=', spoke.id).execute();
  });
}

async function holdOutbound(ctx: RunContext, rt: SpokeRuntime, ops: Extract<Op, { kind: 'delete' }>[], reason: string) {
  await ctx.tx(async (db) => {
    const already = new Set(
      (
        await db
          .selectFrom('held_deletes')
          .select('entity_id')
          .where('spoke_id', '=', rt.spoke.id)
          .where('direction', '=', 'outbound')
          .where('status', '=', 'held')
          .execute()
      ).map((r) => r.entity_id),
    );
    for (const op of ops) {
      if (already.has(op.entity.id)) continue;
      await db
        .insertInto('held_deletes')
        .values({
          id: ctx.ids(),
          hub_id: ctx.hubId,
          spoke_id: rt.spoke.id,
          entity_id: op.entity.id,
          remote_id: op.link.remoteId,
          direction: 'outbound',
          reason,
          run_id: ctx.runId,
          created_at: ctx.clock.nowMs(),
          status: 'held',
          decided_at: null,
        })
        .execute();
    }
  });
  rt.report.outbound.held += ops.length;
}

/** Write-ahead: the intents are durable before any call; outcomes are recorded after (§B7). */
async function execute(ctx: RunContext, rt: SpokeRuntime, ops: Op[]): Promise<void> {
  if (ops.length === 0) return;
  if (ops.length >= BULK_ROWS) ctx.bulk?.();
  const intentIds = ops.map(() => ctx.ids());
  // What each write sends, as the intent keeps it and (when the spoke echoes nothing) as its link's
  // merge base: serialised once.
  const sentJson = ops.map((op) => (op.kind === 'delete' ? null : JSON.stringify(op.fields)));
  await ctx.tx(async (db) => {
    await insertRows(
      db,
      'intents',
      ops.map((op, i) => ({
        id: intentIds[i] as string,
        hub_id: ctx.hubId,
        spoke_id: rt.spoke.id,
        entity_id: op.entity.id,
        run_id: ctx.runId,
        op: op.kind,
        state: 'sent',
        remote_id: op.kind === 'create' ? null : op.link.remoteId,
        // JSON.stringify({ version, fields }), the fields' text made once above.
        payload: `{"version":${JSON.stringify(op.entity.version)},"fields":${sentJson[i] ?? 'null'}}`,
        created_at: ctx.clock.nowMs(),
      })),
      500,
    );
  });

  const outcomes = await mapLimit(ops, rt.caps.maxConcurrency ?? 1, (op) => call(ctx, rt, op));

  const recordAll = () =>
    ctx.tx(async (db) => {
      const done: Recorded = { links: [], unlinked: [], intents: [], gone: [] };
      for (let i = 0; i < ops.length; i++) {
        await record(ctx, db, rt, ops[i] as Op, outcomes[i] as Outcome, intentIds[i] as string, sentJson[i] ?? null, done);
      }
      // The writes that went through, recorded a chunk at a time (three statements per write were
      // a tenth of a first sync).
      for (const part of chunks(done.unlinked, 500)) {
        await db.deleteFrom('links').where('spoke_id', '=', rt.spoke.id).where('entity_id', 'in', part).execute();
      }
      await upsertLinks(db, done.links);
      for (const part of chunks(done.intents, 500)) await db.deleteFrom('intents').where('id', 'in', part).execute();
      await recordSpokeDeletes(db, rt.spoke.id, done.gone, ctx.clock.nowMs());
    });
  // Merging a re-read or adopted item changes hub contacts, which a concurrent push's delete may
  // have just checked (plan-guard.ts).
  const mergesSpokeEdits = outcomes.some((o) => (o.ok && o.adopted !== undefined) || (!o.ok && 'reread' in o && o.reread));
  await (mergesSpokeEdits ? ctx.guard.exclusive(recordAll) : recordAll());
}

async function call(ctx: RunContext, rt: SpokeRuntime, op: Op): Promise<Outcome> {
  if (op.kind === 'delete') {
    // Pushes to several spokes run at once, and a push can bring a contact back (a spoke's edit
    // that conflicted with our delete wins over it): never send a delete planned before that.
    return ctx.guard.shared(async () => {
      const now = await loadEntities(ctx.db, ctx.hubId, [op.entity.id]);
      if (now.get(op.entity.id)?.deleted !== true) return { ok: false, error: null, skipped: true };
      return send(rt, op);
    });
  }
  return send(rt, op);
}

async function send(rt: SpokeRuntime, op: Op): Promise<Outcome> {
  const { conn } = rt;
  try {
    if (op.kind === 'create') {
      const card = fieldsToCard(op.fields, op.entity.uid);
      try {
        return { ok: true, result: await conn.create(card, { marker: op.entity.id }) };
      } catch (e) {
        // The create happened before (a crash, a lost response): adopt it rather than duplicate.
        if (!isConnectorError(e, 'already_exists')) throw e;
        const found = await conn.findByMarker(op.entity.id);
        if (found[0]) return { ok: true, result: null, adopted: found[0] };
        throw e;
      }
    }
    if (op.kind === 'update') {
      const card = fieldsToCard(op.fields, op.entity.uid);
      // The text the hub kept for the item at this etag spares the connector a read (contract.ts).
      const previous = op.link.raw !== null && op.link.etag !== null ? { previous: op.link.raw } : {};
      return { ok: true, result: await conn.update(op.link.remoteId, card, { ifMatch: op.link.etag, changed: op.changed, ...previous }) };
    }
    await conn.delete(op.link.remoteId, { ifMatch: op.link.etag });
    return { ok: true, result: null };
  } catch (error) {
    if (isConnectorError(error, 'conflict') && op.kind !== 'create') {
      // Changed on the spoke since we read it: read it again so its edit is merged, not overwritten.
      try {
        return { ok: false, error, reread: await conn.get(op.link.remoteId) };
      } catch {
        return { ok: false, error };
      }
    }
    return { ok: false, error };
  }
}

/** The merge base of a write: what the spoke echoed, or else what was sent; and its hash. */
function baseOf(rt: SpokeRuntime, op: Extract<Op, { fields: Fields }>, r: { echoed?: RemoteItem | undefined } | null): { fields: Fields; hash: string } {
  if (r?.echoed) return observe(rt, r.echoed);
  return { fields: op.fields, hash: op.fieldsHash ?? hashFields(op.fields) };
}

/** Outcomes of writes that went through, for `execute` to store together. */
interface Recorded {
  links: LinkRow[];
  /** Contacts whose item was deleted from the spoke. */
  unlinked: string[];
  /** Intents fulfilled. */
  intents: string[];
  /** Remote ids deleted from a spoke whose listings lag (see `spoke_deletes`). */
  gone: string[];
}

async function record(ctx: RunContext, db: Db, rt: SpokeRuntime, op: Op, out: Outcome, intentId: string, sentJson: string | null, done: Recorded): Promise<void> {
  const report = rt.report;
  const dropIntent = () => db.deleteFrom('intents').where('id', '=', intentId).execute();
  const keepForRetry = (state: 'failed' | 'uncertain') => db.updateTable('intents').set({ state }).where('id', '=', intentId).execute();
  if (ctx.dryRun && out.ok) {
    addPlanned(report, {
      op: op.kind,
      contact: op.entity.id,
      label: labelOf(op),
      ...(op.kind === 'update' ? { fields: op.changed } : {}),
    });
  }

  if (!out.ok && 'skipped' in out) {
    await dropIntent();
    return;
  }
  if (out.ok) {
    if (op.kind === 'delete') {
      done.unlinked.push(op.entity.id);
      // Its listings may show the item for a while yet, and without a link it would look new.
      if (rt.caps.visibilityLagMs > 0) done.gone.push(op.link.remoteId);
      report.outbound.deleted += 1;
    } else if (out.adopted) {
      // Our earlier create of it happened (its answer was lost) and the item was found by its
      // marker. Right after that create it held what we sent, at this version: that is the merge
      // base (I2). What it holds now beyond that — a person's edit made meanwhile, or the server's
      // rewriting — is merged as the spoke's change, as recoverIntents does; taking the item as the
      // base would make the next push overwrite that edit.
      const link: LinkRow = {
        spokeId: rt.spoke.id,
        entityId: op.entity.id,
        remoteId: out.adopted.id,
        etag: null,
        base: op.fields,
        baseHash: op.fieldsHash ?? hashFields(op.fields),
        baseVersion: op.entity.version,
        state: 'active',
        observedAt: ctx.clock.nowMs(),
        raw: null,
      };
      await upsertLinks(db, [link]);
      await applyEditsFromSpoke(ctx, db, rt, link, out.adopted);
      report.outbound.created += 1;
    } else {
      const base = baseOf(rt, op, out.result);
      done.links.push({
        ...(base.fields === op.fields && sentJson !== null ? { baseJson: sentJson } : {}),
        spokeId: rt.spoke.id,
        entityId: op.entity.id,
        remoteId: out.result?.id ?? '',
        etag: out.result?.etag ?? null,
        base: base.fields,
        baseHash: base.hash,
        baseVersion: op.entity.version,
        state: 'active',
        observedAt: ctx.clock.nowMs(),
        raw: (out.result?.raw ?? out.result?.echoed?.raw) ?? null,
      });
      if (op.kind === 'create') report.outbound.created += 1;
      else report.outbound.updated += 1;
    }
    done.intents.push(intentId);
    return;
  }

  const e = out.error;
  const kind = isConnectorError(e) ? e.kind : 'transient';
  if (kind === 'auth_revoked') throw e;
  report.outbound.failed += 1;
  const field = isConnectorError(e) ? e.field : undefined;
  const what = op.kind === 'create' ? 'create' : op.kind === 'update' ? 'update' : 'delete';
  const item = op.kind === 'create' ? op.entity.id : op.link.remoteId;

  if (kind === 'conflict' && op.kind !== 'create') {
    if (out.reread) {
      // Merge what the person changed on the spoke; the hub's change goes out again next run.
      await applyEditsFromSpoke(ctx, db, rt, op.link, out.reread);
      addProblem(report, { item, message: `${what} of ${labelOf(op)} deferred: it changed on the spoke meanwhile; the change was merged and will be sent next run` });
    }
    await keepForRetry('failed');
    return;
  }
  if (kind === 'not_found' && op.kind === 'update') {
    // Gone from the spoke while the hub had changes for it: the edit wins, the contact is offered again.
    await deleteLink(db, rt.spoke.id, op.entity.id);
    await keepForRetry('failed');
    addProblem(report, { item, message: `${labelOf(op)} was deleted on the spoke while it was being updated; it will be created again` });
    return;
  }
  if (kind === 'transient' || kind === 'rate_limited') {
    // The outcome is unknown (the write may have happened): the next run checks before retrying.
    await keepForRetry('uncertain');
  } else {
    // Refused for this item (invalid data, permission, unsupported): retried when the contact changes.
    await dropIntent();
  }
  addProblem(report, {
    item,
    ...(field ? { field } : {}),
    message: `${what} of ${labelOf(op)} failed: ${e instanceof Error ? e.message : String(e)}`,
  });
}

/** Ghost duplicates of our own creates (see inbound.ts): deleted when provably ours and untouched. */
async function cleanGhosts(ctx: RunContext, rt: SpokeRuntime): Promise<void> {
  if (rt.ghosts.length === 0) return;
  const entities = await loadEntities(ctx.db, ctx.hubId, rt.ghosts.map((g) => g.entityId));
  const links = await loadLinksByEntity(ctx.db, rt.spoke.id, rt.ghosts.map((g) => g.entityId));
  for (const g of rt.ghosts) {
    const e = entities.get(g.entityId);
    const ours = e && !e.deleted && hashFields(restrictFields(e.fields, rt.paths)) === g.hash;
    // A duplicate only beside its original: a stamped item whose original is gone is that item
    // renamed (settleMoves relinks those; one past its limit is left alone, never removed).
    const link = links.get(g.entityId);
    const original = ours && link && link.state === 'active' && link.remoteId !== g.item.id ? await rt.conn.get(link.remoteId) : null;
    if (ours && original && rt.policy.delete && !rt.caps.readOnly) {
      try {
        await rt.conn.delete(g.item.id, { ifMatch: g.item.etag });
        addProblem(rt.report, { item: g.item.id, message: 'duplicate left by an interrupted create; removed' });
        continue;
      } catch (err) {
        if (!(err instanceof ConnectorError)) throw err;
      }
    }
    addProblem(rt.report, {
      item: g.item.id,
      message: `looks like a duplicate of contact ${g.entityId} left by an interrupted create; not imported — delete it if it is`,
    });
  }
  rt.ghosts = [];
}

async function mapLimit<T, R>(xs: readonly T[], limit: number, fn: (x: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(xs.length);
  let next = 0;
  const worker = async () => {
    while (next < xs.length) {
      const i = next++;
      out[i] = await fn(xs[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, xs.length)) }, worker));
  return out;
}
