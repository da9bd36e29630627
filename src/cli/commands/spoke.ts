import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { carddavAccountName, resolveCarddavSpoke } from '../../connectors/carddav/setup.js';
import { applyM365SpokeFlags } from './account-microsoft.js';
import type { SpokeAuth } from '../../connectors/kit/contract.js';
import { MAX_FULL_LISTING_HOURS, defaultSpokeOptions, spokeOptionsSchema, writePolicy, type SpokeOptions } from '../../engine/plan/options.js';
import { parseCondition } from '../../engine/plan/conditions.js';
import { addSpoke, getHub, getSpoke, removeSpoke, setSpokeOptions, spokeOnAddressBook } from '../../store/hubs.js';
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
  fullListingHours?: string;
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
    .option('--region <CC>', 'country for phone numbers without a country code, e.g. FR (default US)')
    .option('--full-listing-hours <n>', `spokes followed by a change feed: list everything every N hours anyway (1–${MAX_FULL_LISTING_HOURS}, default 24)`);
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
  if (f.fullListingHours !== undefined) {
    const hours = Number(f.fullListingHours);
    if (!/^\d+$/.test(f.fullListingHours.trim()) || hours < 1 || hours > MAX_FULL_LISTING_HOURS) {
      throw new CliError(`Invalid --full-listing-hours "${f.fullListingHours}": use a whole number of hours from 1 to ${MAX_FULL_LISTING_HOURS}.`, 2);
    }
    next.fullListingHours = hours;
  }
  return spokeOptionsSchema.parse(next);
}

interface CarddavFlags {
  url?: string;
  username?: string;
  passwordFile?: string;
  passwordEnv?: string;
  addressBook?: string;
  caFile?: string;
  concurrency?: string;
}

/** The password from `--password-file` (its first line) or `--password-env`; never printed. */
async function readPassword(f: CarddavFlags, fail: (m: string) => never): Promise<string> {
  if (f.passwordFile !== undefined) {
    try {
      return (await readFile(path.resolve(f.passwordFile), 'utf8')).split(/\r?\n/)[0] ?? '';
    } catch (e) {
      return fail(`cannot read --password-file ${f.passwordFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
  const v = process.env[f.passwordEnv as string];
  if (v === undefined) return fail(`the environment variable ${f.passwordEnv} is not set.`);
  return v;
}

/**
 * `spoke add … --type carddav`: reads the password (never printed), finds the address book, then
 * stores the login as a `carddav` account `<username>@<host>` with the password sealed, and puts
 * the account's name and the address book's URL into the spoke's settings.
 */
async function carddavSpoke(app: Parameters<Parameters<typeof withApp>[1]>[0], name: string, f: CarddavFlags, raw: Record<string, unknown>): Promise<SpokeAuth> {
  const fail = (m: string): never => {
    throw new CliError(`Spoke "${name}" (carddav): ${m}`, 2);
  };
  if (f.url === undefined) fail('--url is required (the server or the address book URL).');
  if (f.username === undefined) fail('--username is required.');
  if ((f.passwordFile === undefined) === (f.passwordEnv === undefined)) fail('give the password with exactly one of --password-file FILE or --password-env VARIABLE.');
  const password = await readPassword(f, fail);
  const url = f.url as string;
  const username = f.username as string;
  const caFile = f.caFile === undefined ? null : path.resolve(f.caFile);
  let found;
  try {
    found = await resolveCarddavSpoke({ url, username, password, addressBookName: f.addressBook ?? null, caFile });
  } catch (e) {
    throw new CliError(`Spoke "${name}" (carddav) cannot be reached: ${(e as Error).message}`);
  }
  const account = carddavAccountName(url, username);
  await app.accounts.upsert({ id: app.engine.ids(), provider: 'carddav', name: account, kind: 'user', settings: { username, url }, secret: { password } });
  Object.assign(raw, { url, addressBook: found.addressBook, account, authScheme: found.authScheme });
  if (caFile !== null) raw.caFile = caFile;
  if (f.concurrency !== undefined) raw.concurrency = f.concurrency;
  return { username, password };
}

export function describeOptions(o: SpokeOptions, readOnly: boolean, incremental = false): string {
  // Only spokes followed by a change feed are listed in full on a schedule; the default goes unsaid.
  const listing = incremental && o.fullListingHours !== defaultSpokeOptions().fullListingHours ? `; listed in full every ${o.fullListingHours} h` : '';
  return describeSync(o, readOnly) + listing;
}

function describeSync(o: SpokeOptions, readOnly: boolean): string {
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
      .requiredOption('--type <type>', 'the kind of address book: vdir (a folder of .vcf files), carddav, google-contacts, m365-contacts (a mailbox) or m365-gal (the directory, read-only)')
      .option('--path <dir>', 'vdir: the folder')
      .option('--create-folder', 'vdir: create the folder if it does not exist')
      .option('--vcard-version <v>', 'vdir, carddav: vCard version of contacts the hub creates (3.0 or 4.0)')
      .option('--url <url>', 'carddav: the server (discovery) or the address book URL')
      .option('--username <name>', 'carddav: the login')
      .option('--password-file <file>', 'carddav: a file holding the password (its first line)')
      .option('--password-env <var>', 'carddav: an environment variable holding the password')
      .option('--address-book <name>', 'carddav: which address book, when the server has several')
      .option('--ca-file <file>', 'carddav: PEM file of CA certificates to trust for this server')
      .option('--concurrency <n>', 'carddav: requests in flight at once (default 4)')
      .option('--account <name>', 'google-contacts (and other account-based types): the account, e.g. an e-mail (see `hubsync account list`)')
      .option('--mailbox <address>', 'm365-contacts: the mailbox (userPrincipalName; "me" for a personal sign-in)')
      .option('--folder <name>', 'm365-contacts: a contacts folder, created if missing (default: the mailbox\'s Contacts folder)')
      .option('--department <name>', 'm365-gal: only people of this department (repeatable)', collect)
      .option('--domain <domain>', 'm365-gal: only addresses in this mail domain (repeatable)', collect)
      .option('--include-disabled', 'm365-gal: also list disabled accounts (shared mailboxes)')
      .option('--without-org-contacts', 'm365-gal: leave out organisational (mail) contacts')
      .option('--config <key=value>', 'a connector setting (repeatable)', collect),
  ).action(async (hubName: string, name: string, flags: OptionFlags & CarddavFlags & { type: string; path?: string; createFolder?: boolean; vcardVersion?: string; config?: string[] }, cmd: Command) => {
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
      if ((flags as { account?: string }).account !== undefined) raw.account = (flags as { account?: string }).account;
      if (flags.type.startsWith('m365-')) applyM365SpokeFlags(flags as Parameters<typeof applyM365SpokeFlags>[0], raw);
      if (factory.accountProvider && typeof raw.account === 'string') await app.accounts.get(factory.accountProvider, raw.account);
      let auth: SpokeAuth | undefined;
      if (flags.type === 'carddav') auth = await carddavSpoke(app, name, flags, raw);
      let config: unknown;
      try {
        config = factory.parseConfig(raw);
      } catch (e) {
        throw new CliError(`Spoke "${name}" (${flags.type}): ${(e as Error).message}`, 2);
      }
      const options = applyOptionFlags(defaultSpokeOptions(), flags);
      // Check that the address book can be reached before the spoke is saved.
      const conn = factory.create(config, { now: Date.now, defaultRegion: options.defaultRegion, ...(auth ? { auth } : {}) });
      let identity: string;
      try {
        identity = await conn.identity();
      } catch (e) {
        throw new CliError(`Spoke "${name}" (${flags.type}) cannot be reached: ${(e as Error).message}`);
      } finally {
        await conn.close?.();
      }
      const twin = await spokeOnAddressBook(app.store.db, hub.id, identity);
      if (twin) throw new CliError(`Spoke "${twin.name}" of hub "${hub.name}" already syncs this address book (${identity}).`);
      const s = await addSpoke(app.store.db, {
        id: app.engine.ids(),
        hubId: hub.id,
        name,
        type: flags.type,
        config: config as Record<string, unknown>,
        options,
        now: Date.now(),
      });
      env.io.out(`Added spoke "${s.name}" (${factory.label}) to hub "${hub.name}": ${describeOptions(s.options, factory.capabilities.readOnly, factory.capabilities.incremental)}.`);
      if (!writePolicy(s.options, factory.capabilities).create && !factory.capabilities.readOnly && s.options.direction === 'two-way') {
        env.io.out(`It feeds the hub only until you allow two-way sync: hubsync spoke set "${hub.name}" "${s.name}" --allow-create`);
      }
    });
  });

  withOptionFlags(
    spoke
      .command('set <hub> <name>')
      .description("change a spoke's sync options")
      .option('--clear-conditions', 'remove every condition (before adding the --condition ones given)')
      .option('--password-file <file>', 'carddav: store a new password for the spoke\'s login (first line of FILE)')
      .option('--password-env <var>', 'carddav: store a new password for the spoke\'s login from this environment variable'),
  ).action(async (hubName: string, name: string, flags: OptionFlags & CarddavFlags, cmd: Command) => {
    await withApp(cmd, async (app) => {
      const hub = await getHub(app.store.db, hubName);
      const s = await getSpoke(app.store.db, hub.id, name);
      if (flags.passwordFile !== undefined || flags.passwordEnv !== undefined) {
        // A changed password: the spoke keeps its links; only the sealed secret is replaced.
        const fail = (m: string): never => {
          throw new CliError(`Spoke "${s.name}": ${m}`, 2);
        };
        if (typeof s.config.account !== 'string' || app.factories.get(s.type)?.accountProvider !== 'carddav') fail('--password-file and --password-env apply to carddav spokes only.');
        if (flags.passwordFile !== undefined && flags.passwordEnv !== undefined) fail('give only one of --password-file and --password-env.');
        const account = await app.accounts.get('carddav', s.config.account as string);
        await app.accounts.upsert({ id: account.id, provider: 'carddav', name: account.name, kind: account.kind, settings: account.settings, secret: { password: await readPassword(flags, fail) } });
        env.io.out(`Stored a new password for ${account.name}.`);
      }
      const factory = app.factories.get(s.type);
      const next = applyOptionFlags(s.options, flags);
      const saved = await setSpokeOptions(app.store.db, s, next);
      env.io.out(`Spoke "${s.name}" of hub "${hub.name}": ${describeOptions(saved.options, factory?.capabilities.readOnly ?? false, factory?.capabilities.incremental ?? false)}.`);
      const added = saved.options.conditions.filter((c) => !s.options.conditions.includes(c));
      if (added.length > 0) {
        // A filter never deletes: what it would take away are often the spoke's own contacts.
        env.io.out(`Contacts already in "${s.name}" that do not meet the conditions stay there as they are, and are no longer updated by the hub.`);
      }
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
