import type { Command } from 'commander';
import { getHub, listSpokes } from '../../store/hubs.js';
import { problemLine, type Counts } from '../../engine/run/report.js';
import { contactLabels, hubContact, hubContacts, hubJournal, hubRuns, hubStatus, runProblems } from '../../app/queries.js';
import { dismissReview, openReviews } from '../../app/reviews.js';
import { json, plural, table, when } from '../format.js';

const counts = (c: Counts): string => `+${c.created} ~${c.updated} -${c.deleted}`;
import { CliError } from '../io.js';
import type { CliEnv } from '../main.js';
import { describeOptions } from './spoke.js';
import { withApp } from './shared.js';

export function registerInspectCommands(program: Command, env: CliEnv): void {
  program
    .command('status <hub>')
    .description('per spoke: last run, counts, errors, held deletes, conflicts')
    .option('--json', 'machine-readable output')
    .action(async (hubName: string, opts: { json?: boolean }, cmd: Command) => {
      await withApp(cmd, async (app) => {
        const db = app.store.db;
        const hub = await getHub(db, hubName);
        const st = await hubStatus(db, hub, app.factories);
        const { contacts, deletedContacts: deleted, openConflicts: conflicts, possibleDuplicates: reviews, lastRun } = st;
        const spokeRows = st.spokes.map((r) => ({
          name: r.spoke.name,
          type: r.spoke.type,
          config: r.spoke.config,
          options: r.spoke.options,
          readOnly: r.readOnly,
          sync: describeOptions(r.spoke.options, r.readOnly, app.factories.get(r.spoke.type)?.capabilities.incremental ?? false),
          state: r.state,
          lastSyncAt: r.lastSyncAt,
          lastOkAt: r.lastOkAt,
          lastError: r.lastError,
          contacts: r.contacts,
          heldDeletes: r.heldDeletes,
        }));
        const out = {
          hub: hub.name,
          object: hub.object,
          contacts,
          deletedContacts: deleted,
          openConflicts: conflicts,
          possibleDuplicates: reviews,
          lastRun,
          spokes: spokeRows,
        };
        if (opts.json) return env.io.out(json(out));
        env.io.out(`Hub "${hub.name}" (${hub.object}): ${contacts} contacts, ${deleted} deleted, ${conflicts} open conflicts, ${reviews} possible duplicates.`);
        env.io.out(`Last run: ${lastRun ? `${when(lastRun.startedAt)} (${lastRun.status}, run ${lastRun.id})` : 'never'}`);
        if (lastRun && lastRun.problems > 0) env.io.out(`It reported ${plural(lastRun.problems, 'problem')} with single contacts: hubsync problems "${hub.name}"`);
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
    .command('problems <hub>')
    .description("items a run could not take as they are (bad data kept as written, unreadable files, refused writes)")
    .option('--run <id>', 'this run (hubsync history HUB --runs); default: the last sync')
    .option('--json', 'machine-readable output')
    .action(async (hubName: string, opts: { run?: string; json?: boolean }, cmd: Command) => {
      await withApp(cmd, async (app) => {
        const hub = await getHub(app.store.db, hubName);
        const r = await runProblems(app.store.db, hub.id, opts.run);
        if (r === null) {
          if (opts.run !== undefined) throw new CliError(`Hub "${hub.name}" has no run ${opts.run} (hubsync history "${hub.name}" --runs).`);
          return env.io.out(`Hub "${hub.name}" has not been synced yet.`);
        }
        if (opts.json) return env.io.out(json(r));
        const total = r.spokes.reduce((n, s) => n + s.count, 0);
        env.io.out(`Run ${r.run.id} (${r.run.kind}, ${when(r.run.startedAt)}): ${plural(total, 'problem')}.`);
        for (const s of r.spokes) {
          if (s.count === 0) continue;
          env.io.out(`${s.name}: ${plural(s.count, 'problem')}`);
          for (const p of s.problems) env.io.out(`  ${problemLine(p)}`);
          if (s.count > s.problems.length) env.io.out(`  … ${s.count - s.problems.length} more were counted but not kept (a run keeps the first ${s.problems.length} of each spoke)`);
        }
        if (total > 0) env.io.out('An item is reported by the run that read it; one that has not changed since is not reported again.');
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
          const rows = await hubRuns(db, hub.id, limit);
          if (opts.json) return env.io.out(json(rows));
          return env.io.out(
            table(
              ['RUN', 'KIND', 'STATUS', 'STARTED', 'HUB', 'SPOKES', 'UNDONE BY'],
              rows.map((r) => [r.id, r.kind, r.status, when(r.startedAt), r.totals ? counts(r.totals.hub) : '', r.totals ? counts(r.totals.spokes) : '', r.undoneBy ?? '']),
            ),
          );
        }
        const out = await hubJournal(db, hub.id, { ...(opts.contact ? { contact: opts.contact } : {}), ...(opts.run ? { run: opts.run } : {}), limit });
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
          const c = await hubContact(db, hub.id, opts.show);
          if (!c) throw new CliError(`Hub "${hub.name}" has no contact ${opts.show}.`);
          return env.io.out(json(c));
        }
        const limit = Number.parseInt(opts.limit, 10);
        const out = (await hubContacts(db, hub.id, { ...(opts.search ? { search: opts.search } : {}), deleted: opts.deleted ?? false, limit })).map((c) => ({ id: c.id, label: c.label }));
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
          if (!(await dismissReview(db, hub.id, opts.dismiss))) throw new CliError(`Hub "${hub.name}" has no possible duplicate ${opts.dismiss}.`);
          return env.io.out(`Dismissed ${opts.dismiss}.`);
        }
        const rows = await openReviews(db, hub.id);
        const spokes = new Map((await listSpokes(db, hub.id)).map((s) => [s.id, s.name]));
        const labels = await contactLabels(db, rows.flatMap((r) => [r.contact, ...r.candidates.map((c) => c.entityId)]));
        const out = rows.map((r) => ({
          id: r.id,
          spoke: spokes.get(r.spokeId) ?? r.spokeId,
          item: r.item,
          contact: r.contact,
          label: labels.get(r.contact) ?? '',
          candidates: r.candidates.map((c) => ({ ...c, label: labels.get(c.entityId) ?? '' })),
        }));
        if (opts.json) return env.io.out(json(out));
        if (out.length === 0) return env.io.out('No possible duplicates to review.');
        for (const r of out) {
          env.io.out(`${r.id}: ${r.label} (${r.item} in ${r.spoke}, contact ${r.contact}) resembles:`);
          for (const c of r.candidates) env.io.out(`    ${c.entityId} ${c.label} (score ${c.score})`);
        }
        env.io.out(
          'Each was kept as a contact of its own. The same person? Put what you want to keep in the other contact, ' +
            'delete this item where it came from, and sync (a deleted contact can be brought back: hubsync restore). ' +
            `Not the same: hubsync review "${hub.name}" --dismiss ID`,
        );
      });
    });
}
