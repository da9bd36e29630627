/**
 * The account providers the web app offers for sign-in, adapted from the provider modules
 * (src/accounts/google.ts, src/accounts/microsoft.ts) to the server's OAuthProvider interface.
 * A provider is offered when its OAuth client is configured (HUBSYNC_GOOGLE_CLIENT_ID,
 * HUBSYNC_MICROSOFT_CLIENT_ID), or emulated in demo mode.
 */
import { finishGoogleLogin, googleOAuthSettings, startGoogleLogin } from '../accounts/google.js';
import { beginUserLogin, finishUserLogin, microsoftEndpoints } from '../accounts/microsoft.js';
import { endpointsFrom, oauthClientsFrom } from '../cli/app.js';
import type { OAuthProvider } from './oauth-provider.js';

export function googleProvider(env: NodeJS.ProcessEnv): OAuthProvider | null {
  const s = googleOAuthSettings(endpointsFrom(env), oauthClientsFrom(env));
  if (!s) return null;
  return {
    id: 'google',
    label: 'Google',
    async begin({ redirectUri, loginHint }) {
      const start = await startGoogleLogin(s, redirectUri, loginHint);
      return {
        url: start.url.toString(),
        state: start.state,
        async finish(callbackUrl) {
          const r = await finishGoogleLogin(s, start, callbackUrl);
          return { email: r.email, kind: 'user', settings: { sub: r.sub, scopes: r.scopes }, secret: { refreshToken: r.refreshToken } };
        },
      };
    },
  };
}

export function microsoftProvider(env: NodeJS.ProcessEnv): OAuthProvider | null {
  const clientId = env.HUBSYNC_MICROSOFT_CLIENT_ID;
  if (!clientId) return null;
  const clientSecret = env.HUBSYNC_MICROSOFT_CLIENT_SECRET || undefined;
  // `organizations`: any work or school account (a multi-tenant app registration); a single tenant's
  // id or domain restricts sign-in to it.
  const tenant = env.HUBSYNC_MICROSOFT_TENANT || 'organizations';
  const ep = microsoftEndpoints(endpointsFrom(env));
  return {
    id: 'microsoft',
    label: 'Microsoft 365',
    async begin({ redirectUri, loginHint }) {
      const s = { tenant, clientId };
      const start = await beginUserLogin(ep, s, redirectUri, loginHint);
      return {
        url: start.url,
        state: start.state,
        async finish(callbackUrl) {
          const r = await finishUserLogin(ep, s, start, callbackUrl, clientSecret);
          return {
            email: r.mailbox,
            kind: 'user',
            settings: { tenant, clientId, mailbox: r.mailbox },
            secret: { ...(r.refreshToken ? { refreshToken: r.refreshToken } : {}), ...(clientSecret ? { clientSecret } : {}) },
            accessToken: { token: r.accessToken, expiresAt: r.expiresAt },
          };
        },
      };
    },
    // A user account's own mailbox, its default contacts folder.
    async choices() {
      return [{ label: 'Contacts', config: { mailbox: 'me' } }];
    },
  };
}

export function configuredProviders(env: NodeJS.ProcessEnv): Map<string, OAuthProvider> {
  const out = new Map<string, OAuthProvider>();
  for (const p of [googleProvider(env), microsoftProvider(env)]) if (p) out.set(p.id, p);
  return out;
}
