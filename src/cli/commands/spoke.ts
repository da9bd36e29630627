import path from 'node:path';
import type { Command } from 'commander';
import { defaultSpokeOptions, spokeOptionsSchema, writePolicy, type SpokeOptions } from '../../engine/plan/options.js';
import { parseCondition } from '../../engine/plan/conditions.js';
import { addSpoke, getHub, getSpoke, removeSpoke, setSpokeOptions } from '../../store/hubs.js';
import { CliError } from '../io.js';
import type { CliEnv } from '../main.js';
import { collect, withApp } from './shared.js';

interface OptionFlags {
  allowCreate?: boolean;
  direction?: string;
  allowUpdate?: boolean;
  allowDelete?: boolean;
  condition?: string[];
  clearConditions?: boolean;
  region?: string;
}

function withOptionFlags(cmd: Command): Command {
  return cmd
    .option('--allow-create', 'Allow Hub to create and sync items in this spoke (two-way sync)')
    .option('--no-allow-create', 'the spoke only feeds the hub: nothing is written to it')
    .option('--direction <direction>', 'two-way, or to-hub (the spoke only ever feeds the hub)')
    .option('--allow-update', 'the hub may update contacts in this spoke (default)')
    .option('--no-allow-update', 'the hub never updates contacts in this spoke')
    .option('--allow-delete', 'the hub may delete contacts in this spoke (default)')
    .option('--no-allow-delete', 'the hub never deletes contacts in this spoke')
    .option('--condition <expr>', 'only send contacts that meet EXPR, e.g. "email-domain = example.com" (repeatable)', collect)
    .option('--region <CC>', 'country for phone numbers without a country code, e.g. FR (default US)');
}

function applyOptionFlags(base: SpokeOptions, f: OptionFlags): SpokeOptions {
  const next: SpokeOptions = { ...base };
  if (f.allowCreate !== undefined) next.allowCreate = f.allowCreate;
  if (f.direction !== undefined) {
    if (f.direction !== 'two-way' && f.direction !== 'to-hub') throw new CliError(`Invalid --direction "${f.direction}": use two-way or to-hub.`, 2);
    next.direction = f.direction;
  }
  if (f.allowUpdate !== undefined) next.allowUpdate = f.allowUpdate;
  if (f.allowDelete !== undefined) next.allowDelete = f.allowDelete;
  if (f.clearConditions) next.conditions = [];
  if (f.condition) {
    for (const c of f.condition) {
      try {
        parseCondition(c);
      } catch (e) {
        throw new CliError((e as Error).message, 2);
      }
    }
    next.conditions = f.clearConditions ? f.condition : [...next.conditions, ...f.condition];
  }
  if (f.region !== undefined) {
    const region = f.region.toUpperCase();
    if (!/^[A-Z]{2}$/.test(region)) throw new CliError(`Invalid --region "${f.region}": use a two-letter country code such as FR or US.`, 2);
    next.defaultRegion = region;
  }
  return spokeOptionsSchema.parse(next);
}

export function describeOptions(o: SpokeOptions, readOnly: boolean): string {
  if (readOnly) return 'read-only source (never written to)';
  if (o.direction === 'to-hub') return 'feeds the hub only (direction to-hub)';
  if (!o.allowCreate) return 'feeds the hub only (Allow Hub to create and sync items: off)';
  const parts = ['two-way'];
  if (!o.allowUpdate) parts.push('no updates');
  if (!o.allowDelete) parts.push('no deletes');
  if (o.conditions.length > 0) parts.push(`only contacts where ${o.conditions.join(' and ')}`);
  return parts.join(', ');
}

export function registerSpokeCommands(program: Command, env: CliEnv): void {
  const spoke = program.command('spoke').description('add, change and remove the spokes of a hub');

  withOptionFlags(
    spoke
      .command('add <hub> <name>')
      .description('add a spoke (an address book) to a hub')
      .requiredOption('--type <type>', 'the kind of address book: vdir (a folder of .vcf files)')
      .option('--path <dir>', 'vdir: the folder')
      .option('--create-folder', 'vdir: create the folder if it does not exist')
      .option('--vcard-version <v>', 'vdir: vCard version of files the hub creates (3.0 or 4.0)')
      .option('--config <key=value>', 'a connector setting (repeatable)', collect),
  ).action(async (hubName: string, name: string, flags: OptionFlags & { type: string; path?: string; createFolder?: boolean; vcardVersion?: string; config?: string[] }, cmd: Command) => {
    await withApp(cmd, async (app) => {
      const hub = await getHub(app.store.db, hubName);
      const factory = app.factories.get(flags.type);
      if (!factory) throw new CliError(`Unknown spoke type "${flags.type}". Known types: ${[...app.factories.keys()].join(', ')}.`, 2);
      const raw: Record<string, unknown> = {};
      for (const kv of flags.config ?? []) {
        const i = kv.indexOf('=');
        if (i <= 0) throw new CliError(`Invalid --config "${kv}": write key=value.`, 2);
        raw[kv.slice(0, i)] = kv.slice(i + 1);
      }
      if (flags.path !== undefined) raw.path = path.resolve(flags.path);
      if (flags.createFolder) raw.createMissing = true;
      if (flags.vcardVersion !== undefined) raw.version = flags.vcardVersion;
      let config: unknown;
      try {
        config = factory.parseConfig(raw);
      } catch (e) {
        throw new CliError(`Spoke "${name}" (${flags.type}): ${(e as Error).message}`, 2);
      }
      const options = applyOptionFlags(defaultSpokeOptions(), flags);
      // Check that the address book can be reached before the spoke is saved.
      const conn = factory.create(config, { now: Date.now, defaultRegion: options.defaultRegion });
      try {
        await conn.identity();
      } catch (e) {
        throw new CliError(`Spoke "${name}" (${flags.type}) cannot be reached: ${(e as Error).message}`);
      } finally {
        await conn.close?.();
      }
      const s = await addSpoke(app.store.db, {
        id: app.engine.ids(),
        hubId: hub.id,
        name,
        type: flags.type,
        config: config as Record<string, unknown>,
        options,
        now: Date.now(),
      });
      env.io.out(`Added spoke "${s.name}" (${factory.label}) to hub "${hub.name}": ${describeOptions(s.options, factory.capabilities.readOnly)}.`);
      if (!writePolicy(s.options, factory.capabilities).create && !factory.capabilities.readOnly && s.options.direction === 'two-way') {
        env.io.out(`It feeds the hub only until you allow two-way sync: hubsync spoke set "${hub.name}" "${s.name}" --allow-create`);
      }
    });
  });

  withOptionFlags(
    spoke
      .command('set <hub> <name>')
      .description("change a spoke's sync options")
      .option('--clear-conditions', 'remove every condition (before adding the --condition ones given)'),
  ).action(async (hubName: string, name: string, flags: OptionFlags, cmd: Command) => {
    await withApp(cmd, async (app) => {
      const hub = await getHub(app.store.db, hubName);
      const s = await getSpoke(app.store.db, hub.id, name);
      const factory = app.factories.get(s.type);
      const next = applyOptionFlags(s.options, flags);
      const saved = await setSpokeOptions(app.store.db, s, next);
      env.io.out(`Spoke "${s.name}" of hub "${hub.name}": ${describeOptions(saved.options, factory?.capabilities.readOnly ?? false)}.`);
    });
  });

  spoke
    .command('remove <hub> <name>')
    .description('remove a spoke from a hub (its address book is not touched; the hub keeps its contacts)')
    .action(async (hubName: string, name: string, _opts: unknown, cmd: Command) => {
      await withApp(cmd, async (app) => {
        const hub = await getHub(app.store.db, hubName);
        const s = await getSpoke(app.store.db, hub.id, name);
        await app.store.db.transaction().execute((db) => removeSpoke(db, s));
        env.io.out(`Removed spoke "${s.name}" from hub "${hub.name}".`);
      });
    });
}
