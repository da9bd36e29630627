/**
 * `hubsync account login google` — "Sign in with Google" the way installed apps do it (RFC 8252):
 * a loopback redirect on 127.0.0.1 and a random port, authorization code with PKCE, offline access.
 * `hubsync account add google --email ADDRESS --refresh-token TOKEN` — for automation: checks the
 * token (one refresh, then userinfo) and stores it. Tokens are sealed at rest (secret-box.ts).
 */
import { execFile } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Command } from 'commander';
import type { GoogleOAuthSettings } from '../../accounts/google.js';
import { endpointsFrom, oauthClientsFrom } from '../app.js';
import { CliError } from '../io.js';
import type { CliEnv } from '../main.js';
import type { AccountCommandRegistrar } from './account.js';
import { withApp } from './shared.js';

/** The Google OAuth module, loaded when a command needs it: it brings the OAuth stack (openid-client,
 * jose) that the other commands never use. */
const google = () => import('../../accounts/google.js');

async function settings(): Promise<GoogleOAuthSettings> {
  const { googleOAuthSettings } = await google();
  const s = googleOAuthSettings(endpointsFrom(process.env), oauthClientsFrom(process.env));
  if (!s) {
    throw new CliError('Google sign-in needs an OAuth client of type "Desktop app": set HUBSYNC_GOOGLE_CLIENT_ID and HUBSYNC_GOOGLE_CLIENT_SECRET (see docs/google.md).', 2);
  }
  return s;
}

/** Waits for the browser to come back to the loopback address; resolves with the URL it asked for. */
function loopback(timeoutMs: number): Promise<{ redirectUri: string; result: Promise<URL>; close(): void }> {
  return new Promise((resolve, reject) => {
    let done: (u: URL) => void = () => undefined;
    let fail: (e: Error) => void = () => undefined;
    const result = new Promise<URL>((res, rej) => {
      done = res;
      fail = rej;
    });
    const server = http.createServer((req, res) => {
      const u = new URL(req.url ?? '/', `http://${req.headers.host ?? '127.0.0.1'}`);
      if (u.pathname !== '/callback') {
        res.writeHead(404).end();
        return;
      }
      const denied = u.searchParams.get('error');
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(denied ? '<p>Sign-in cancelled. You can close this window.</p>' : '<p>Signed in to Hubsync. You can close this window and return to the terminal.</p>');
      done(u);
    });
    const timer = setTimeout(() => fail(new CliError(`No answer from the browser within ${Math.round(timeoutMs / 1000)} s; run the command again.`)), timeoutMs);
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as AddressInfo).port;
      resolve({
        redirectUri: `http://127.0.0.1:${port}/callback`,
        result,
        close: () => {
          clearTimeout(timer);
          server.closeAllConnections();
          server.close();
        },
      });
    });
  });
}

export const registerGoogleAccountCommands: AccountCommandRegistrar = ({ login, add }, env: CliEnv) => {
  login
    .command('google')
    .description('sign in with Google in a browser (contacts and e-mail scopes, offline access)')
    .option('--login-hint <email>', 'the account to preselect on the consent page')
    .option('--timeout <seconds>', 'how long to wait for the browser', '300')
    .option('--no-browser', 'only print the URL (do not try to open a browser)')
    .action(async (opts: { loginHint?: string; timeout: string; browser: boolean }, cmd: Command) => {
      const s = await settings();
      const { finishGoogleLogin, startGoogleLogin } = await google();
      await withApp(cmd, async (app) => {
        const lb = await loopback(Math.max(1, Number(opts.timeout) || 300) * 1000);
        try {
          const start = await startGoogleLogin(s, lb.redirectUri, opts.loginHint);
          env.io.out(`Open this address in a browser to sign in with Google:\n\n  ${start.url.toString()}\n\nWaiting for the browser to come back to ${lb.redirectUri} …`);
          // Open a browser only where there is a display; never by force.
          if (opts.browser && process.env.DISPLAY) execFile('xdg-open', [start.url.toString()], () => undefined);
          const back = await lb.result;
          const error = back.searchParams.get('error');
          if (error) throw new CliError(`Google sign-in was not completed (${error}).`);
          const who = await finishGoogleLogin(s, start, back);
          await app.accounts.upsert({
            id: app.engine.ids(),
            provider: 'google',
            name: who.email,
            kind: 'user',
            settings: { email: who.email, sub: who.sub, scopes: who.scopes },
            secret: { refreshToken: who.refreshToken },
          });
          env.io.out(`Signed in: Google account "${who.email}". Add its contacts to a hub with:\n  hubsync spoke add HUB NAME --type google-contacts --account ${who.email} --allow-create`);
        } finally {
          lb.close();
        }
      });
    });

  add
    .command('google')
    .description('add a Google account from a refresh token (for automation)')
    .requiredOption('--email <address>', "the account's e-mail (checked against Google)")
    .requiredOption('--refresh-token <token>', 'an OAuth refresh token with the contacts and e-mail scopes')
    .action(async (opts: { email: string; refreshToken: string }, cmd: Command) => {
      const s = await settings();
      const { GOOGLE_SCOPES, googleUserEmail, refreshGoogleToken } = await google();
      await withApp(cmd, async (app) => {
        let who: { email: string; sub: string };
        try {
          const grant = await refreshGoogleToken(s, opts.refreshToken);
          who = await googleUserEmail(s, grant.accessToken);
        } catch (e) {
          throw new CliError(`The refresh token was not accepted: ${(e as Error).message}`);
        }
        if (who.email.toLowerCase() !== opts.email.toLowerCase()) {
          throw new CliError(`The refresh token belongs to ${who.email}, not ${opts.email}.`, 2);
        }
        await app.accounts.upsert({
          id: app.engine.ids(),
          provider: 'google',
          name: who.email,
          kind: 'user',
          settings: { email: who.email, sub: who.sub, scopes: GOOGLE_SCOPES },
          secret: { refreshToken: opts.refreshToken },
        });
        env.io.out(`Added Google account "${who.email}".`);
      });
    });
};
