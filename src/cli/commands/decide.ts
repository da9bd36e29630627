import type { Command } from 'commander';
import { conflictOrigins, contactLabels } from '../../app/queries.js';
import { confirmHeld, rejectHeld, resolveConflict, restoreContact, undoRun } from '../../engine/run/decisions.js';
import { getHub, listSpokes } from '../../store/hubs.js';
import { isCut, json, plural, table, when } from '../format.js';
import { CliError } from '../io.js';
import type { CliEnv } from '../main.js';
import { collect, withApp } from './shared.js';

export function registerDecisionCommands(program: Command, env: CliEnv): void {
  program
    .command('held <hub>')
    .description('deletions held by the mass-delete gate: list, confirm or reject them')
    .option('--confirm <id>', 'apply this held deletion (repeatable)', collect)
    .option('--confirm-all', 'apply every held deletion of the hub')
    .option('--reject <id>', 'keep the contact: it is put back where it was deleted (repeatable)', collect)
    .option('--reject-all', 'keep every held contact')
    .option('--json', 'machine-readable output')
    .action(async (hubName: string, opts: { confirm?: string[]; confirmAll?: boolean; reject?: string[]; rejectAll?: boolean; json?: boolean }, cmd: Command) => {
      const acting = Boolean(opts.confirm || opts.confirmAll || opts.reject || opts.rejectAll);
      if ((opts.confirm || opts.confirmAll) && (opts.reject || opts.rejectAll)) throw new CliError('Confirm and reject in separate commands.', 2);
      await withApp(cmd, async (app) => {
        const deps = { ...app.engine };
        if (acting) {
          const confirm = Boolean(opts.confirm || opts.confirmAll);
          const which = opts.confirmAll || opts.rejectAll ? 'all' : ((confirm ? opts.confirm : opts.reject) ?? []);
          const r = confirm ? await confirmHeld(deps, hubName, which) : await rejectHeld(deps, hubName, which);
          if (opts.json) return env.io.out(json(r));
          env.io.out(
            confirm
              ? `Confirmed ${plural(r.decided, 'held deletion')}. The other spokes follow on the next sync: hubsync sync "${hubName}"`
              : `Kept ${plural(r.decided, 'contact')}. They are put back on the next sync: hubsync sync "${hubName}"`,
          );
          return;
        }
        const db = app.store.db;
        const hub = await getHub(db, hubName);
        const spokes = new Map((await listSpokes(db, hub.id)).map((s) => [s.id, s.name]));
        const rows = await db
          .selectFrom('held_deletes')
          .select(['held_deletes.id', 'held_deletes.spoke_id', 'held_deletes.entity_id', 'held_deletes.remote_id', 'held_deletes.direction', 'held_deletes.reason', 'held_deletes.created_at'])
          .where('held_deletes.hub_id', '=', hub.id)
          .where('held_deletes.status', '=', 'held')
          .orderBy('held_deletes.id')
          .execute();
        const labels = await contactLabels(db, rows.map((r) => r.entity_id));
        const out = rows.map((r) => ({
          id: r.id,
          spoke: spokes.get(r.spoke_id) ?? r.spoke_id,
          direction: r.direction,
          reason: r.reason,
          contact: r.entity_id,
          item: r.remote_id,
          label: labels.get(r.entity_id) ?? '',
          heldAt: r.created_at,
        }));
        if (opts.json) return env.io.out(json(out));
        if (out.length === 0) return env.io.out(`No held deletions in hub "${hub.name}".`);
        env.io.out(
          table(
            ['ID', 'SPOKE', 'WHAT', 'CONTACT', 'HELD SINCE'],
            out.map((r) => [r.id, r.spoke, r.direction === 'inbound' ? `deleted there (${r.reason})` : `hub would delete (${r.reason})`, r.label, when(r.heldAt)]),
          ),
        );
        env.io.out(`Apply them with --confirm ID (or --confirm-all); keep the contacts with --reject ID (or --reject-all).`);
      });
    });

  program
    .command('conflicts <hub>')
    .description('values that lost a conflict (kept here, never dropped): list them, or pick the other value')
    .option('--all', 'include resolved conflicts')
    .option('--keep-lost <id>', 'use the value that lost instead (it is sent to every spoke)')
    .option('--resolve <id>', 'accept the value that won')
    .option('--json', 'machine-readable output')
    .action(async (hubName: string, opts: { all?: boolean; keepLost?: string; resolve?: string; json?: boolean }, cmd: Command) => {
      await withApp(cmd, async (app) => {
        if (opts.keepLost || opts.resolve) {
          const id = (opts.keepLost ?? opts.resolve) as string;
          await resolveConflict(app.engine, hubName, id, opts.keepLost ? 'lost' : 'kept');
          return env.io.out(opts.keepLost ? `Conflict ${id}: the other value is used now; it reaches the spokes on the next sync.` : `Conflict ${id} resolved.`);
        }
        const db = app.store.db;
        const hub = await getHub(db, hubName);
        const from = await conflictOrigins(db, hub.id);
        const origin = (o: string) => from(o) ?? '(removed spoke)';
        let q = db.selectFrom('conflicts').select(['conflicts.id', 'conflicts.entity_id', 'conflicts.path', 'conflicts.kept', 'conflicts.lost', 'conflicts.kept_origin', 'conflicts.lost_origin', 'conflicts.at', 'conflicts.status', 'conflicts.run_id']).where('conflicts.hub_id', '=', hub.id);
        if (!opts.all) q = q.where('conflicts.status', '=', 'open');
        const rows = await q.orderBy('conflicts.id').execute();
        const labels = await contactLabels(db, rows.map((r) => r.entity_id));
        const out = rows.map((r) => ({
          id: r.id,
          contact: r.entity_id,
          label: labels.get(r.entity_id) ?? '',
          field: r.path,
          kept: JSON.parse(r.kept) as unknown,
          keptFrom: origin(r.kept_origin),
          lost: JSON.parse(r.lost) as unknown,
          lostFrom: origin(r.lost_origin),
          at: r.at,
          run: r.run_id,
          status: r.status,
        }));
        if (opts.json) return env.io.out(json(out));
        if (out.length === 0) return env.io.out(`No open conflicts in hub "${hub.name}".`);
        const show = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v));
        env.io.out(table(['ID', 'CONTACT', 'FIELD', 'KEPT', 'FROM', 'LOST', 'FROM'], out.map((r) => [r.id, r.label, r.field, show(r.kept), r.keptFrom, show(r.lost), r.lostFrom])));
        if (out.some((r) => isCut(show(r.kept)) || isCut(show(r.lost)))) {
          env.io.out(`Long values are cut short here (…); every value in full: hubsync conflicts "${hub.name}" --json`);
        }
      });
    });

  program
    .command('restore <hub> <contact>')
    .description('bring a deleted contact back (ids: hubsync contacts HUB --deleted)')
    .action(async (hubName: string, contact: string, _opts: unknown, cmd: Command) => {
      await withApp(cmd, async (app) => {
        await restoreContact(app.engine, hubName, contact);
        env.io.out(`Restored contact ${contact}. It is put back on the spokes on the next sync: hubsync sync "${hubName}"`);
      });
    });

  program
    .command('undo <hub>')
    .description('undo a whole sync run: every contact it changed goes back to how it was')
    .requiredOption('--run <id>', 'the run (hubsync history HUB --runs)')
    .action(async (hubName: string, opts: { run: string }, cmd: Command) => {
      await withApp(cmd, async (app) => {
        const r = await undoRun(app.engine, hubName, opts.run);
        env.io.out(`Undid run ${opts.run}: ${plural(r.contacts, 'contact')} put back (as run ${r.runId}). The spokes follow on the next sync: hubsync sync "${hubName}"`);
        if (r.deleted > 0) {
          env.io.out(
            `${plural(r.deleted, 'contact')} that run brought in ${r.deleted === 1 ? 'is' : 'are'} deleted, on every spoke, where ${r.deleted === 1 ? 'it came' : 'they came'} from too. ` +
              `More than max(10, 20 %) of a spoke's contacts at once wait for you first: hubsync held "${hubName}".`,
          );
        }
      });
    });
}
