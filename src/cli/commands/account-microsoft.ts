/**
 * Microsoft accounts on the command line (docs/microsoft365.md):
 *
 * - `hubsync account login microsoft [--tenant T] [--client-id ID] [--name NAME]` — "Sign in with
 *   Microsoft" for one's own mailbox: authorization code + PKCE on a loopback redirect (RFC 8252).
 * - `hubsync account add microsoft --tenant ID --client-id ID (--client-secret S | --certificate FILE)
 *   [--name NAME]` — an organisation: client credentials with application permissions, after admin
 *   consent; then any mailbox of the tenant can be a spoke without its user signing in. The account's
 *   name defaults to the tenant id. The credentials are checked (a token, then one directory read)
 *   before they are stored, sealed.
 */
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Command } from 'commander';
import type { MicrosoftEndpoints } from '../../accounts/microsoft.js';
import type { AccountSecret } from '../../accounts/accounts.js';
import { endpointsFrom } from '../app.js';
import { CliError } from '../io.js';
import type { CliEnv } from '../main.js';
import type { AccountCommandRegistrar } from './account.js';
import { withApp } from './shared.js';

/** The Microsoft OAuth module, loaded when a command needs it: it brings the OAuth stack
 * (openid-client, jose) that the other commands never use. */
const microsoft = () => import('../../accounts/microsoft.js');

async function endpoints(): Promise<MicrosoftEndpoints> {
  const { microsoftEndpoints } = await microsoft();
  return microsoftEndpoints(endpointsFrom(process.env));
}

/** A one-shot loopback listener for the browser's redirect (RFC 8252 §7.3). */
async function loopback(timeoutMs: number): Promise<{ redirectUri: string; result: Promise<URL>; close(): void }> {
  let done: (u: URL) => void = () => undefined;
  let fail: (e: Error) => void = () => undefined;
  const result = new Promise<URL>((res, rej) => {
    done = res;
    fail = rej;
  });
  let base = 'http://127.0.0.1';
  const server = http.createServer((req, res) => {
    // The redirect URI's own origin (with the port): the token request must repeat it exactly.
    const u = new URL(req.url ?? '/', base);
    if (u.pathname !== '/callback') return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<p>Done. You can close this window and return to the terminal.</p>');
    done(u);
  });
  const timer = setTimeout(() => fail(new CliError(`No answer from the browser within ${Math.round(timeoutMs / 1000)} s; run the command again.`)), timeoutMs);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    redirectUri: `${base}/callback`,
    result,
    close: () => {
      clearTimeout(timer);
      server.closeAllConnections();
      server.close();
    },
  };
}

export const registerMicrosoftAccountCommands: AccountCommandRegistrar = ({ login, add }, env: CliEnv) => {
  login
    .command('microsoft')
    .description('sign in with Microsoft (your own mailbox, delegated permissions)')
    .option('--tenant <id>', 'tenant id or domain (default: organizations)', 'organizations')
    .option('--client-id <id>', 'the app registration (default: $HUBSYNC_MS_CLIENT_ID)')
    .option('--name <name>', 'the account\'s name (default: the mailbox address)')
    .option('--login-hint <address>', 'pre-fill the sign-in page with this address')
    .option('--timeout <seconds>', 'how long to wait for the browser', '300')
    .action(async (opts: { tenant: string; clientId?: string; name?: string; loginHint?: string; timeout: string }, cmd: Command) => {
      const clientId = opts.clientId ?? process.env.HUBSYNC_MS_CLIENT_ID;
      if (!clientId) throw new CliError('Sign-in needs an app registration: give --client-id or set HUBSYNC_MS_CLIENT_ID (docs/microsoft365.md).', 2);
      const ep = await endpoints();
      const { beginUserLogin, finishUserLogin } = await microsoft();
      const settings = { tenant: opts.tenant, clientId };
      const lb = await loopback(Number(opts.timeout) * 1000);
      try {
        const start = await beginUserLogin(ep, settings, lb.redirectUri, opts.loginHint);
        env.io.out('Open this address in a browser and sign in with Microsoft:');
        env.io.out(`  ${start.url}`);
        const back = await lb.result;
        const err = back.searchParams.get('error');
        if (err) throw new CliError(`Sign-in refused: ${back.searchParams.get('error_description') ?? err}`);
        const done = await finishUserLogin(ep, settings, start, back, process.env.HUBSYNC_MS_CLIENT_SECRET);
        if (!done.refreshToken) throw new CliError('Microsoft returned no refresh token (was offline_access consented?).');
        await withApp(cmd, async (app) => {
          const a = await app.accounts.upsert({
            id: app.engine.ids(),
            provider: 'microsoft',
            name: opts.name ?? done.mailbox,
            kind: 'user',
            settings: { ...settings, mailbox: done.mailbox },
            secret: { refreshToken: done.refreshToken as string, ...(process.env.HUBSYNC_MS_CLIENT_SECRET ? { clientSecret: process.env.HUBSYNC_MS_CLIENT_SECRET } : {}) },
          });
          await app.accounts.cacheAccessToken(a.id, done.accessToken, done.expiresAt);
          env.io.out(`Signed in as ${done.mailbox}: Microsoft account "${a.name}". Add its contacts with:`);
          env.io.out(`  hubsync spoke add HUB NAME --type m365-contacts --account "${a.name}" --mailbox me`);
        });
      } finally {
        lb.close();
      }
    });

  add
    .command('microsoft')
    .description('add a Microsoft 365 organisation (app-only access to every mailbox; needs admin consent)')
    .requiredOption('--tenant <id>', 'the tenant id (GUID) or its domain')
    .requiredOption('--client-id <id>', 'the app registration\'s application (client) id')
    .option('--client-secret <secret>', 'a client secret of the app registration')
    .option('--certificate <file>', 'a PEM file holding the app\'s certificate and its private key')
    .option('--name <name>', 'the account\'s name (default: the tenant id)')
    .action(async (opts: { tenant: string; clientId: string; clientSecret?: string; certificate?: string; name?: string }, cmd: Command) => {
      if ((opts.clientSecret === undefined) === (opts.certificate === undefined)) throw new CliError('Give exactly one of --client-secret or --certificate.', 2);
      const { adminConsentUrl, clientCredentialsToken, splitPem } = await microsoft();
      let secret: AccountSecret;
      if (opts.certificate !== undefined) {
        try {
          secret = splitPem(await readFile(path.resolve(opts.certificate), 'utf8'));
        } catch (e) {
          throw new CliError(`--certificate ${opts.certificate}: ${(e as Error).message}`, 2);
        }
      } else secret = { clientSecret: opts.clientSecret as string };
      const ep = await endpoints();
      const settings = { tenant: opts.tenant, clientId: opts.clientId };
      let grant;
      try {
        grant = await clientCredentialsToken(ep, settings, secret);
      } catch (e) {
        throw new CliError(`Microsoft refused the credentials: ${(e as Error).message}`);
      }
      // One directory read tells whether an admin has consented to the application permissions.
      const probe = await fetch(`${ep.graphUrl}/v1.0/users?$select=id&$top=1`, { headers: { authorization: `Bearer ${grant.accessToken}` } });
      if (probe.status === 401 || probe.status === 403) {
        env.io.err('The app has no admin consent in this tenant yet. A tenant administrator opens this address once:');
        env.io.err(`  ${adminConsentUrl(ep, opts.tenant, opts.clientId, 'http://localhost')}`);
        throw new CliError('Not added: run the command again after the consent.');
      }
      if (!probe.ok) throw new CliError(`Microsoft Graph answered ${probe.status} to a directory read.`);
      await withApp(cmd, async (app) => {
        const a = await app.accounts.upsert({ id: app.engine.ids(), provider: 'microsoft', name: opts.name ?? opts.tenant, kind: 'organization', settings, secret });
        await app.accounts.cacheAccessToken(a.id, grant.accessToken, grant.expiresAt);
        env.io.out(`Added Microsoft 365 organisation "${a.name}" (${opts.certificate ? 'certificate' : 'client secret'}). List its mailboxes with: hubsync mailboxes "${a.name}"`);
      });
    });
};

/** `spoke add --type m365-contacts|m365-gal` flags → connector settings. */
export function applyM365SpokeFlags(
  f: { mailbox?: string; folder?: string; department?: string[]; domain?: string[]; includeDisabled?: boolean; withoutOrgContacts?: boolean },
  raw: Record<string, unknown>,
): void {
  if (f.mailbox !== undefined) raw.mailbox = f.mailbox;
  if (f.folder !== undefined) raw.folder = f.folder;
  if (f.department) raw.departments = f.department.join(',');
  if (f.domain) raw.domains = f.domain.join(',');
  if (f.includeDisabled) raw.enabledOnly = 'false';
  if (f.withoutOrgContacts) raw.orgContacts = 'false';
}
