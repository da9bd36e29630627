/**
 * Google accounts: "Sign in with Google" (OAuth 2.0 authorization code with PKCE, offline access,
 * for installed apps a loopback redirect) and the token refresher, through openid-client.
 *
 * Endpoints (api-spec §3.1) are configurable so the same code runs against the emulator:
 * `HUBSYNC_GOOGLE_AUTH_URL`, `HUBSYNC_GOOGLE_TOKEN_URL`, `HUBSYNC_GOOGLE_USERINFO_URL`; the client
 * from `HUBSYNC_GOOGLE_CLIENT_ID` / `HUBSYNC_GOOGLE_CLIENT_SECRET`. No `openid` scope is asked
 * for: the account's e-mail comes from the userinfo endpoint, so no id_token needs verifying.
 */
import * as oidc from 'openid-client';
import type { TokenGrant, TokenRefresher } from './access-tokens.js';
import { ConnectorError } from '../connectors/kit/errors.js';

/** Contacts read/write, and the e-mail to name the account (api-spec §3.5). */
export const GOOGLE_SCOPES = ['https://www.googleapis.com/auth/contacts', 'https://www.googleapis.com/auth/userinfo.email'];

export interface GoogleOAuthSettings {
  clientId: string;
  clientSecret: string | undefined;
  authUrl: string;
  tokenUrl: string;
  userinfoUrl: string;
}

/** From the `HUBSYNC_*_URL` and `HUBSYNC_*_CLIENT_*` settings; null when no client id is set. */
export function googleOAuthSettings(endpoints: Record<string, string | undefined>, clients: Record<string, string | undefined>): GoogleOAuthSettings | null {
  const clientId = clients.HUBSYNC_GOOGLE_CLIENT_ID;
  if (!clientId) return null;
  return {
    clientId,
    clientSecret: clients.HUBSYNC_GOOGLE_CLIENT_SECRET || undefined,
    authUrl: endpoints.HUBSYNC_GOOGLE_AUTH_URL ?? 'https://accounts.google.com/o/oauth2/v2/auth',
    tokenUrl: endpoints.HUBSYNC_GOOGLE_TOKEN_URL ?? 'https://oauth2.googleapis.com/token',
    userinfoUrl: endpoints.HUBSYNC_GOOGLE_USERINFO_URL ?? 'https://openidconnect.googleapis.com/v1/userinfo',
  };
}

export function googleConfiguration(s: GoogleOAuthSettings): oidc.Configuration {
  const server: oidc.ServerMetadata = {
    issuer: 'https://accounts.google.com',
    authorization_endpoint: s.authUrl,
    token_endpoint: s.tokenUrl,
    userinfo_endpoint: s.userinfoUrl,
  };
  // Google takes the client secret in the body (client_secret_post); installed apps may have none.
  const config = new oidc.Configuration(server, s.clientId, s.clientSecret ? { client_secret: s.clientSecret } : undefined, s.clientSecret ? oidc.ClientSecretPost(s.clientSecret) : oidc.None());
  // Only an emulator (or a test) is served over plain HTTP.
  if ([s.authUrl, s.tokenUrl, s.userinfoUrl].some((u) => u.startsWith('http:'))) oidc.allowInsecureRequests(config);
  return config;
}

/** openid-client's failures in the closed taxonomy: `invalid_grant` is a revoked or expired grant. */
export function classifyOAuthError(e: unknown, what: string): ConnectorError {
  if (e instanceof ConnectorError) return e;
  if (e instanceof oidc.ResponseBodyError) {
    if (e.error === 'invalid_grant') {
      return new ConnectorError('auth_revoked', `Google refused the sign-in (${e.error}: ${e.error_description ?? 'Token has been expired or revoked.'}); sign in again with \`hubsync account login google\``);
    }
    if (e.status >= 500 || e.status === 429) return new ConnectorError(e.status === 429 ? 'rate_limited' : 'transient', `${what}: HTTP ${e.status} ${e.error}`);
    if (e.error === 'invalid_client' || e.error === 'unauthorized_client') {
      return new ConnectorError('permission', `${what}: Google does not know this OAuth client (${e.error}); check HUBSYNC_GOOGLE_CLIENT_ID and HUBSYNC_GOOGLE_CLIENT_SECRET`);
    }
    return new ConnectorError('invalid_data', `${what}: ${e.error}${e.error_description ? ` (${e.error_description})` : ''}`);
  }
  return new ConnectorError('transient', `${what}: ${(e as Error).message}`, { cause: e });
}

export async function refreshGoogleToken(s: GoogleOAuthSettings, refreshToken: string, now: () => number = Date.now): Promise<TokenGrant> {
  let t: oidc.TokenEndpointResponse;
  try {
    t = await oidc.refreshTokenGrant(googleConfiguration(s), refreshToken);
  } catch (e) {
    throw classifyOAuthError(e, 'Google token refresh');
  }
  return {
    accessToken: t.access_token,
    expiresAt: now() + (typeof t.expires_in === 'number' ? t.expires_in : 3599) * 1000,
    // Google normally sends no new refresh token on refresh (api-spec §3.3); keep it if it does.
    ...(t.refresh_token ? { refreshToken: t.refresh_token } : {}),
  };
}

/** The refresher `AccessTokens` calls, once at a time per account. */
export function googleTokenRefresher(s: GoogleOAuthSettings | null): TokenRefresher {
  return async (account, secret) => {
    if (!s) throw new ConnectorError('permission', 'Google accounts need an OAuth client: set HUBSYNC_GOOGLE_CLIENT_ID (and HUBSYNC_GOOGLE_CLIENT_SECRET)');
    if (!secret.refreshToken) throw new ConnectorError('auth_revoked', `Google account ${account.name} has no refresh token; sign in again`);
    return refreshGoogleToken(s, secret.refreshToken);
  };
}

/** The e-mail of the account behind an access token (userinfo; api-spec §3.4). */
export async function googleUserEmail(s: GoogleOAuthSettings, accessToken: string): Promise<{ email: string; sub: string }> {
  let info: oidc.UserInfoResponse;
  try {
    info = await oidc.fetchUserInfo(googleConfiguration(s), accessToken, oidc.skipSubjectCheck);
  } catch (e) {
    throw classifyOAuthError(e, 'Google userinfo');
  }
  if (typeof info.email !== 'string' || info.email === '') throw new ConnectorError('permission', 'Google did not say which e-mail this account has (the userinfo.email scope was not granted)');
  return { email: info.email, sub: info.sub };
}

export interface LoginStart {
  url: URL;
  verifier: string;
  state: string;
}

/** The consent URL: code flow with PKCE (S256), offline access, consent forced so a refresh token comes back. */
export async function startGoogleLogin(s: GoogleOAuthSettings, redirectUri: string, loginHint?: string): Promise<LoginStart> {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const url = oidc.buildAuthorizationUrl(googleConfiguration(s), {
    redirect_uri: redirectUri,
    scope: GOOGLE_SCOPES.join(' '),
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    access_type: 'offline',
    prompt: 'consent',
    ...(loginHint ? { login_hint: loginHint } : {}),
  });
  return { url, verifier, state };
}

/** Exchanges the code the redirect brought back; returns the tokens and the account's e-mail. */
export async function finishGoogleLogin(
  s: GoogleOAuthSettings,
  start: LoginStart,
  redirectedTo: URL,
): Promise<{ email: string; sub: string; refreshToken: string; scopes: string[] }> {
  let t: oidc.TokenEndpointResponse;
  try {
    t = await oidc.authorizationCodeGrant(googleConfiguration(s), redirectedTo, { pkceCodeVerifier: start.verifier, expectedState: start.state });
  } catch (e) {
    throw classifyOAuthError(e, 'Google sign-in');
  }
  if (!t.refresh_token) throw new ConnectorError('permission', 'Google sent no refresh token (offline access was not granted); try again');
  const scopes = (t.scope ?? GOOGLE_SCOPES.join(' ')).split(' ').filter(Boolean);
  // Granular consent: the person may have left the contacts box unticked.
  if (!scopes.includes('https://www.googleapis.com/auth/contacts')) {
    throw new ConnectorError('permission', 'Google did not grant access to contacts; sign in again and allow "See, edit, download and permanently delete your contacts"');
  }
  const who = await googleUserEmail(s, t.access_token);
  return { ...who, refreshToken: t.refresh_token, scopes };
}
