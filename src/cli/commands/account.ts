/**
 * `hubsync account …`: the accounts spokes act through. Provider-specific subcommands
 * (`account login google`, `account add microsoft`, …) live in their own modules and are
 * registered in `ACCOUNT_PROVIDERS` below.
 */
import type { Command } from 'commander';
import { json, table, when } from '../format.js';
import type { CliEnv } from '../main.js';
import { registerGoogleAccountCommands } from './account-google.js';
import { registerMicrosoftAccountCommands } from './account-microsoft.js';
import { withApp } from './shared.js';

/** Each provider module adds its `login` / `add` subcommands to the two groups given. */
export type AccountCommandRegistrar = (groups: { login: Command; add: Command }, env: CliEnv) => void;

export const ACCOUNT_PROVIDERS: AccountCommandRegistrar[] = [registerGoogleAccountCommands, registerMicrosoftAccountCommands];

export function registerAccountCommands(program: Command, env: CliEnv): void {
  const account = program.command('account').description('the accounts (Google, Microsoft 365, CardDAV logins) spokes act through');
  const login = account.command('login').description('sign in interactively (opens the provider\'s consent page)');
  const add = account.command('add').description('add an account from existing credentials (for automation)');
  for (const register of ACCOUNT_PROVIDERS) register({ login, add }, env);

  account
    .command('list')
    .description('list the accounts and their state')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      await withApp(cmd, async (app) => {
        const list = await app.accounts.list();
        const rows = list.map((a) => ({ provider: a.provider, name: a.name, kind: a.kind, state: a.state, lastError: a.lastError, updatedAt: a.updatedAt }));
        if (opts.json) return env.io.out(json(rows));
        if (rows.length === 0) return env.io.out('No accounts yet.');
        env.io.out(table(['PROVIDER', 'NAME', 'KIND', 'STATE', 'UPDATED'], rows.map((r) => [r.provider, r.name, r.kind, r.state, when(r.updatedAt)])));
        for (const r of rows) if (r.state !== 'ok') env.io.out(`${r.provider} ${r.name}: ${r.lastError ?? r.state} — sign in again.`);
      });
    });

  account
    .command('remove <provider> <name>')
    .description('forget an account and its credentials (spokes using it stop syncing)')
    .action(async (provider: string, name: string, _opts: unknown, cmd: Command) => {
      await withApp(cmd, async (app) => {
        const a = await app.accounts.get(provider, name);
        await app.accounts.remove(a.id);
        env.io.out(`Removed ${provider} account "${a.name}".`);
      });
    });
}
