import type { Command } from 'commander';
import { createHub, deleteHub, getHub, listHubs, listSpokes } from '../../store/hubs.js';
import { json, table, when } from '../format.js';
import { CliError } from '../io.js';
import type { CliEnv } from '../main.js';
import { withApp } from './shared.js';

export function registerHubCommands(program: Command, env: CliEnv): void {
  const hub = program.command('hub').description('create, list and remove hubs');

  hub
    .command('create <name>')
    .description('create a hub: the database that holds every contact of its spokes')
    .option('--object <object>', 'what the hub syncs (contacts)', 'contacts')
    .action(async (name: string, opts: { object: string }, cmd: Command) => {
      if (opts.object !== 'contacts') throw new CliError(`Unsupported --object "${opts.object}": this version syncs contacts.`, 2);
      if (!name.trim()) throw new CliError('A hub needs a name.', 2);
      await withApp(cmd, async (app) => {
        const h = await createHub(app.store.db, { id: app.engine.ids(), name: name.trim(), object: 'contacts', now: Date.now() });
        env.io.out(`Created hub "${h.name}". Add spokes with: hubsync spoke add "${h.name}" NAME --type vdir --path DIR`);
      });
    });

  hub
    .command('list')
    .description('list the hubs')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      await withApp(cmd, async (app) => {
        const hubs = await listHubs(app.store.db);
        const rows = [];
        for (const h of hubs) {
          const spokes = await listSpokes(app.store.db, h.id);
          const n = await app.store.db
            .selectFrom('entities')
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .where('hub_id', '=', h.id)
            .where('deleted', '=', 0)
            .executeTakeFirst();
          rows.push({ id: h.id, name: h.name, object: h.object, createdAt: h.createdAt, spokes: spokes.length, contacts: Number(n?.n ?? 0) });
        }
        if (opts.json) return env.io.out(json(rows));
        if (rows.length === 0) return env.io.out('No hubs yet. Create one with: hubsync hub create NAME --object contacts');
        env.io.out(table(['NAME', 'OBJECT', 'SPOKES', 'CONTACTS', 'CREATED'], rows.map((r) => [r.name, r.object, String(r.spokes), String(r.contacts), when(r.createdAt)])));
      });
    });

  hub
    .command('remove <hub>')
    .description('remove a hub and everything the hub store holds for it (the spokes themselves are not touched)')
    .option('--yes', 'confirm')
    .action(async (name: string, opts: { yes?: boolean }, cmd: Command) => {
      if (!opts.yes) throw new CliError(`This forgets hub "${name}", its history and its links (no spoke is changed). Add --yes to confirm.`, 2);
      await withApp(cmd, async (app) => {
        const h = await getHub(app.store.db, name);
        await app.store.db.transaction().execute((db) => deleteHub(db, h.id));
        env.io.out(`Removed hub "${h.name}".`);
      });
    });
}
