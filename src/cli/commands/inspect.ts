import type { Command } from 'commander';
import type { Card } from '../../model/card.js';
import { cardSummary } from '../../model/card-fields.js';
import { getHub, listSpokes } from '../../store/hubs.js';
import type { Counts, RunTotals } from '../../engine/run/report.js';
import { json, table, when } from '../format.js';

const counts = (c: Counts): string => `+${c.created} ~${c.updated} -${c.deleted}`;
import { CliError } from '../io.js';
import type { CliEnv } from '../main.js';
import { describeOptions } from './spoke.js';
import { withApp } from './shared.js';

const labelOf = (cardJson: string | null | undefined): string => {
  if (!cardJson) return '';
  try {
    return cardSummary(JSON.parse(cardJson) as Card);
  } catch {
    return '';
  }
};

export function registerInspectCommands(program: Command, env: CliEnv): void {
  program
    .command('status <hub>')
    .description('per spoke: last run, counts, errors, held deletes, conflicts')
    .option('--json', 'machine-readable output')
    .action(async (hubName: string, opts: { json?: boolean }, cmd: Command) => {
      await withApp(cmd, async (app) => {
        const db = app.store.db;
        const hub = await getHub(db, hubName);
        const spokes = await listSpokes(db, hub.id);
        const count = async (q: Promise<{ n: number } | undefined>) => Number((await q)?.n ?? 0);
        const contacts = await count(db.selectFrom('entities').select((eb) => eb.fn.countAll<number>().as('n')).where('hub_id', '=', hub.id).where('deleted', '=', 0).executeTakeFirst());
        const deleted = await count(db.selectFrom('entities').select((eb) => eb.fn.countAll<number>().as('n')).where('hub_id', '=', hub.id).where('deleted', '=', 1).executeTakeFirst());
        const conflicts = await count(db.selectFrom('conflicts').select((eb) => eb.fn.countAll<number>().as('n')).where('hub_id', '=', hub.id).where('status', '=', 'open').executeTakeFirst());
        const reviews = await count(db.selectFrom('reviews').select((eb) => eb.fn.countAll<number>().as('n')).where('hub_id', '=', hub.id).where('status', '=', 'open').executeTakeFirst());
        const lastRun = await db.selectFrom('runs').selectAll().where('hub_id', '=', hub.id).where('kind', '=', 'sync').orderBy('started_at', 'desc').limit(1).executeTakeFirst();
        const spokeRows = [];
        for (const s of spokes) {
          const linked = await count(db.selectFrom('links').select((eb) => eb.fn.countAll<number>().as('n')).where('spoke_id', '=', s.id).executeTakeFirst());
          const held = await count(db.selectFrom('held_deletes').select((eb) => eb.fn.countAll<number>().as('n')).where('spoke_id', '=', s.id).where('status', '=', 'held').executeTakeFirst());
          const factory = app.factories.get(s.type);
          spokeRows.push({
            name: s.name,
            type: s.type,
            config: s.config,
            options: s.options,
            readOnly: factory?.capabilities.readOnly ?? false,
            sync: describeOptions(s.options, factory?.capabilities.readOnly ?? false),
            state: s.status.state ?? 'never synced',
            lastSyncAt: s.status.lastSyncAt ?? null,
            lastOkAt: s.status.lastOkAt ?? null,
            lastError: s.status.lastError || null,
            contacts: linked,
            heldDeletes: held,
          });
        }
        const out = {
          hub: hub.name,
          object: hub.object,
          contacts,
          deletedContacts: deleted,
          openConflicts: conflicts,
          possibleDuplicates: reviews,
          lastRun: lastRun ? { id: lastRun.id, startedAt: lastRun.started_at, finishedAt: lastRun.finished_at, status: lastRun.status } : null,
          spokes: spokeRows,
        };
        if (opts.json) return env.io.out(json(out));
        env.io.out(`Hub "${hub.name}" (${hub.object}): ${contacts} contacts, ${deleted} deleted, ${conflicts} open conflicts, ${reviews} possible duplicates.`);
        env.io.out(`Last run: ${lastRun ? `${when(lastRun.started_at)} (${lastRun.status}, run ${lastRun.id})` : 'never'}`);
        if (spokeRows.length === 0) return env.io.out(`No spokes yet: hubsync spoke add "${hub.name}" NAME --type vdir --path DIR`);
        env.io.out(
          table(
            ['SPOKE', 'TYPE', 'STATE', 'CONTACTS', 'HELD', 'LAST SYNC', 'SYNC'],
            spokeRows.map((s) => [s.name, s.type, s.state, String(s.contacts), String(s.heldDeletes), when(s.lastSyncAt), s.sync]),
          ),
        );
        for (const s of spokeRows) if (s.lastError) env.io.out(`${s.name}: last error: ${s.lastError}`);
        for (const s of spokeRows) if (s.heldDeletes > 0) env.io.out(`${s.name}: ${s.heldDeletes} deletions held — review with: hubsync held "${hub.name}"`);
      });
    });

  program
    .command('history <hub>')
    .description('the audit journal: what each run changed, and where it came from')
    .option('--contact <id>', 'only this contact')
    .option('--run <id>', 'only this run')
    .option('--runs', 'list the runs instead of the changes')
    .option('--limit <n>', 'at most N rows', '50')
    .option('--json', 'machine-readable output')
    .action(async (hubName: string, opts: { contact?: string; run?: string; runs?: boolean; limit: string; json?: boolean }, cmd: Command) => {
      const limit = Number.parseInt(opts.limit, 10);
      if (!Number.isFinite(limit) || limit <= 0) throw new CliError(`Invalid --limit "${opts.limit}".`, 2);
      await withApp(cmd, async (app) => {
        const db = app.store.db;
        const hub = await getHub(db, hubName);
        if (opts.runs) {
          const runs = await db.selectFrom('runs').selectAll().where('hub_id', '=', hub.id).orderBy('started_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
          const rows = runs.map((r) => {
            const s = JSON.parse(r.summary) as { totals?: RunTotals };
            return { id: r.id, kind: r.kind, status: r.status, startedAt: r.started_at, finishedAt: r.finished_at, undoneBy: r.undone_by, totals: s.totals ?? null };
          });
          if (opts.json) return env.io.out(json(rows));
          return env.io.out(
            table(
              ['RUN', 'KIND', 'STATUS', 'STARTED', 'HUB', 'SPOKES', 'UNDONE BY'],
              rows.map((r) => [r.id, r.kind, r.status, when(r.startedAt), r.totals ? counts(r.totals.hub) : '', r.totals ? counts(r.totals.spokes) : '', r.undoneBy ?? '']),
            ),
          );
        }
        let q = db.selectFrom('journal').selectAll().where('hub_id', '=', hub.id);
        if (opts.contact) q = q.where('entity_id', '=', opts.contact);
        if (opts.run) q = q.where('run_id', '=', opts.run);
        const rows = await q.orderBy('id', 'desc').limit(limit).execute();
        const spokes = new Map((await listSpokes(db, hub.id)).map((s) => [s.id, s.name]));
        const entityIds = [...new Set(rows.map((r) => r.entity_id))];
        const cards = new Map<string, string>();
        for (let i = 0; i < entityIds.length; i += 500) {
          const part = entityIds.slice(i, i + 500);
          for (const e of await db.selectFrom('entities').select(['id', 'card']).where('id', 'in', part).execute()) cards.set(e.id, e.card);
        }
        const out = rows.map((r) => ({
          id: r.id,
          at: r.at,
          run: r.run_id,
          from: r.spoke_id ? (spokes.get(r.spoke_id) ?? r.spoke_id) : 'hub',
          contact: r.entity_id,
          label: labelOf(cards.get(r.entity_id)),
          action: r.action,
          before: r.before ? JSON.parse(r.before) : null,
          after: r.after ? JSON.parse(r.after) : null,
        }));
        if (opts.json) return env.io.out(json(out));
        if (out.length === 0) return env.io.out('No changes recorded.');
        env.io.out(table(['WHEN', 'ACTION', 'FROM', 'CONTACT', 'NAME', 'RUN'], out.map((r) => [when(r.at), r.action, r.from, r.contact, r.label, r.run])));
      });
    });

  program
    .command('contacts <hub>')
    .description("list the hub's contacts (to find one to restore, or to look at)")
    .option('--search <text>', 'only contacts whose name, e-mail or phone contains TEXT')
    .option('--deleted', 'list deleted contacts instead')
    .option('--show <id>', "one contact's card and links, as JSON")
    .option('--limit <n>', 'at most N rows', '100')
    .option('--json', 'machine-readable output')
    .action(async (hubName: string, opts: { search?: string; deleted?: boolean; show?: string; limit: string; json?: boolean }, cmd: Command) => {
      await withApp(cmd, async (app) => {
        const db = app.store.db;
        const hub = await getHub(db, hubName);
        if (opts.show) {
          const e = await db.selectFrom('entities').selectAll().where('hub_id', '=', hub.id).where('id', '=', opts.show).executeTakeFirst();
          if (!e) throw new CliError(`Hub "${hub.name}" has no contact ${opts.show}.`);
          const links = await db.selectFrom('links').innerJoin('spokes', 'spokes.id', 'links.spoke_id').select(['spokes.name as spoke', 'links.remote_id', 'links.state']).where('links.entity_id', '=', e.id).execute();
          return env.io.out(json({ id: e.id, deleted: e.deleted === 1, tombstone: e.tombstone ? JSON.parse(e.tombstone) : null, card: JSON.parse(e.card), links }));
        }
        const limit = Number.parseInt(opts.limit, 10);
        const needle = opts.search?.toLowerCase();
        const out: { id: string; label: string }[] = [];
        let after = '';
        // Scans in pages so a large hub is never loaded at once.
        while (out.length < limit) {
          const rows = await db
            .selectFrom('entities')
            .select(['id', 'card'])
            .where('hub_id', '=', hub.id)
            .where('deleted', '=', opts.deleted ? 1 : 0)
            .where('id', '>', after)
            .orderBy('id')
            .limit(1000)
            .execute();
          if (rows.length === 0) break;
          after = rows[rows.length - 1]?.id ?? after;
          for (const r of rows) {
            if (needle && !r.card.toLowerCase().includes(needle)) continue;
            out.push({ id: r.id, label: labelOf(r.card) });
            if (out.length >= limit) break;
          }
        }
        if (opts.json) return env.io.out(json(out));
        if (out.length === 0) return env.io.out(opts.deleted ? 'No deleted contacts.' : 'No contacts.');
        env.io.out(table(['ID', 'CONTACT'], out.map((r) => [r.id, r.label])));
      });
    });

  program
    .command('review <hub>')
    .description('possible duplicates that were not merged automatically')
    .option('--dismiss <id>', 'mark a possible duplicate as reviewed')
    .option('--json', 'machine-readable output')
    .action(async (hubName: string, opts: { dismiss?: string; json?: boolean }, cmd: Command) => {
      await withApp(cmd, async (app) => {
        const db = app.store.db;
        const hub = await getHub(db, hubName);
        if (opts.dismiss) {
          const r = await db.updateTable('reviews').set({ status: 'dismissed' }).where('hub_id', '=', hub.id).where('id', '=', opts.dismiss).executeTakeFirst();
          if (Number(r.numUpdatedRows) === 0) throw new CliError(`Hub "${hub.name}" has no possible duplicate ${opts.dismiss}.`);
          return env.io.out(`Dismissed ${opts.dismiss}.`);
        }
        const rows = await db.selectFrom('reviews').selectAll().where('hub_id', '=', hub.id).where('status', '=', 'open').orderBy('id').execute();
        const spokes = new Map((await listSpokes(db, hub.id)).map((s) => [s.id, s.name]));
        const ids = [...new Set(rows.flatMap((r) => [r.entity_id, ...(JSON.parse(r.candidates) as { entityId: string }[]).map((c) => c.entityId)]))];
        const cards = new Map<string, string>();
        for (let i = 0; i < ids.length; i += 500) {
          for (const e of await db.selectFrom('entities').select(['id', 'card']).where('id', 'in', ids.slice(i, i + 500)).execute()) cards.set(e.id, e.card);
        }
        const out = rows.map((r) => ({
          id: r.id,
          spoke: spokes.get(r.spoke_id) ?? r.spoke_id,
          item: r.remote_id,
          contact: r.entity_id,
          label: labelOf(cards.get(r.entity_id)),
          candidates: (JSON.parse(r.candidates) as { entityId: string; score: number }[]).map((c) => ({ ...c, label: labelOf(cards.get(c.entityId)) })),
        }));
        if (opts.json) return env.io.out(json(out));
        if (out.length === 0) return env.io.out('No possible duplicates to review.');
        for (const r of out) {
          env.io.out(`${r.id}: ${r.label} (from ${r.spoke}, contact ${r.contact}) resembles:`);
          for (const c of r.candidates) env.io.out(`    ${c.entityId} ${c.label} (score ${c.score})`);
        }
      });
    });
}
