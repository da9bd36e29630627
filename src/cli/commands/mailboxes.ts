/**
 * `hubsync mailboxes ACCOUNT`: the mailboxes of a Microsoft 365 organisation account, to pick the
 * ones to add as `m365-contacts` spokes. Graph v1.0 has no mailbox-type property on users: people
 * with a mail address are listed, rooms are marked from `GET /places/microsoft.graph.room`, and a
 * disabled account (how Exchange creates shared mailboxes) is shown as such.
 */
import type { Command } from 'commander';
import { endpointsFrom } from '../app.js';
import { json, table } from '../format.js';
import { CliError } from '../io.js';
import type { CliEnv } from '../main.js';
import { withApp } from './shared.js';

interface UserRow {
  id: string;
  displayName?: string | null;
  mail?: string | null;
  userPrincipalName: string;
  accountEnabled?: boolean | null;
}

export function registerMailboxesCommand(program: Command, env: CliEnv): void {
  program
    .command('mailboxes <account>')
    .description("list the mailboxes of a Microsoft 365 organisation account (for `spoke add --type m365-contacts --mailbox`)")
    .option('--json', 'machine-readable output')
    .action(async (name: string, opts: { json?: boolean }, cmd: Command) => {
      await withApp(cmd, async (app) => {
        const account = await app.accounts.get('microsoft', name);
        if (account.kind !== 'organization') throw new CliError(`"${account.name}" is a personal sign-in: it reaches its own mailbox only (use --mailbox me).`, 2);
        // Loaded here: the OAuth stack they bring is not needed by any other command.
        const [{ microsoftEndpoints }, { GraphClient }] = await Promise.all([import('../../accounts/microsoft.js'), import('../../connectors/m365-kit/graph-client.js')]);
        const graph = new GraphClient({ graphUrl: microsoftEndpoints(endpointsFrom(process.env)).graphUrl, auth: app.tokens.authFor(account) });
        const users: UserRow[] = [];
        let url: string | undefined = '/users?$select=id,displayName,mail,userPrincipalName,accountEnabled&$top=999';
        while (url) {
          const r: { body: { value?: UserRow[]; '@odata.nextLink'?: string } } = await graph.request('GET', url);
          users.push(...(r.body.value ?? []));
          url = r.body['@odata.nextLink'];
        }
        const rooms = new Set(((await graph.request<{ value?: { emailAddress?: string }[] }>('GET', '/places/microsoft.graph.room')).body.value ?? []).map((x) => (x.emailAddress ?? '').toLowerCase()));
        const rows = users
          .filter((u) => u.mail)
          .map((u) => ({
            mailbox: u.userPrincipalName,
            name: u.displayName ?? '',
            mail: u.mail ?? '',
            kind: rooms.has((u.mail ?? '').toLowerCase()) ? 'room' : u.accountEnabled === false ? 'disabled/shared' : 'user',
          }))
          .sort((a, b) => a.mailbox.localeCompare(b.mailbox));
        if (opts.json) return env.io.out(json(rows));
        if (rows.length === 0) return env.io.out('No mailboxes found.');
        env.io.out(table(['MAILBOX', 'NAME', 'MAIL', 'KIND'], rows.map((r) => [r.mailbox, r.name, r.mail, r.kind])));
      });
    });
}
