/**
 * Microsoft accounts (Microsoft identity platform v2.0, api-spec.md §5), through openid-client:
 *
 * - `organization`: an app registration with **application** permissions, admin-consented in the
 *   tenant; tokens come from the client-credentials grant (`scope=https://graph.microsoft.com/.default`)
 *   with a client secret or a certificate (RFC 7523 assertion with the certificate's SHA-1 thumbprint
 *   in `x5t`, `aud` = the token endpoint). Client credentials have no refresh token: "refreshing" is
 *   asking again (§5.4).
 * - `user`: "Sign in with Microsoft" — authorization code + PKCE (S256) on a loopback redirect
 *   (RFC 8252), delegated scopes with `offline_access`; refreshed with the refresh-token grant, and a
 *   rotated refresh token replaces the stored one (§5.3; AccessTokens stores it).
 *
 * Endpoints: `HUBSYNC_MS_LOGIN_URL` stands in for https://login.microsoftonline.com and
 * `HUBSYNC_GRAPH_URL` for https://graph.microsoft.com (the emulator, or a national cloud).
 * `invalid_grant`, `invalid_client` and `unauthorized_client` mean the credentials are gone for good
 * → ConnectorError('auth_revoked'), and the account is marked "needs sign-in".
 */
import { createHash, createPrivateKey, webcrypto, X509Certificate } from 'node:crypto';
import * as oidc from 'openid-client';
import { ConnectorError } from '../connectors/kit/errors.js';
import type { TokenGrant, TokenRefresher } from './access-tokens.js';
import type { Account, AccountSecret } from './accounts.js';

export const MS_LOGIN_URL = 'https://login.microsoftonline.com';
export const MS_GRAPH_URL = 'https://graph.microsoft.com';
/** Delegated scopes of "Sign in with Microsoft" (Graph resource; `offline_access` for a refresh token). */
export const MS_USER_SCOPES = ['offline_access', 'User.Read', 'Contacts.ReadWrite'];

export interface MicrosoftEndpoints {
  loginUrl: string;
  graphUrl: string;
}

export function microsoftEndpoints(endpoints: Record<string, string | undefined>): MicrosoftEndpoints {
  return {
    loginUrl: (endpoints.HUBSYNC_MS_LOGIN_URL || MS_LOGIN_URL).replace(/\/+$/, ''),
    graphUrl: (endpoints.HUBSYNC_GRAPH_URL || MS_GRAPH_URL).replace(/\/+$/, ''),
  };
}

export interface MicrosoftSettings {
  tenant: string;
  clientId: string;
  /** For user accounts: the signed-in mailbox (userPrincipalName). */
  mailbox?: string;
}

export function settingsOf(a: Account): MicrosoftSettings {
  const tenant = a.settings.tenant;
  const clientId = a.settings.clientId;
  if (typeof tenant !== 'string' || typeof clientId !== 'string') throw new ConnectorError('auth_revoked', `Microsoft account ${a.name} has no tenant or client id: add it again.`);
  return { tenant, clientId, ...(typeof a.settings.mailbox === 'string' ? { mailbox: a.settings.mailbox } : {}) };
}

/** The graph scope URL for a delegated scope name. */
function graphScope(s: string): string {
  // Scopes name the real resource even against an emulator: the audience is a name, not an address.
  return s === 'offline_access' || s === 'openid' || s.includes('/') ? s : `${MS_GRAPH_URL}/${s}`;
}

async function clientAuth(secret: AccountSecret, tokenEndpoint: string): Promise<oidc.ClientAuth> {
  if (secret.clientSecret) return oidc.ClientSecretPost(secret.clientSecret);
  if (secret.certificatePem && secret.privateKeyPem) {
    const cert = new X509Certificate(secret.certificatePem);
    const x5t = Buffer.from(cert.fingerprint.replace(/:/g, ''), 'hex').toString('base64url');
    const der = createPrivateKey(secret.privateKeyPem).export({ type: 'pkcs8', format: 'der' });
    const key = await webcrypto.subtle.importKey('pkcs8', der, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, false, ['sign']);
    return oidc.PrivateKeyJwt(key, {
      [oidc.modifyAssertion]: (header: Record<string, unknown>, payload: Record<string, unknown>) => {
        // Entra ID finds the certificate by `x5t` and wants the token endpoint as audience.
        header.x5t = x5t;
        payload.aud = tokenEndpoint;
      },
    });
  }
  return oidc.None();
}

export async function msConfiguration(ep: MicrosoftEndpoints, s: MicrosoftSettings, secret: AccountSecret): Promise<oidc.Configuration> {
  const base = `${ep.loginUrl}/${encodeURIComponent(s.tenant)}`;
  const tokenEndpoint = `${base}/oauth2/v2.0/token`;
  const config = new oidc.Configuration(
    { issuer: `${base}/v2.0`, token_endpoint: tokenEndpoint, authorization_endpoint: `${base}/oauth2/v2.0/authorize` },
    s.clientId,
    {},
    await clientAuth(secret, tokenEndpoint),
  );
  if (ep.loginUrl.startsWith('http://')) oidc.allowInsecureRequests(config);
  return config;
}

/** Maps openid-client failures to the connector taxonomy. */
export function toConnectorError(e: unknown, what: string): ConnectorError {
  if (e instanceof ConnectorError) return e;
  if (e instanceof oidc.ResponseBodyError) {
    const desc = e.error_description?.split('\r\n')[0] ?? '';
    if (['invalid_grant', 'invalid_client', 'unauthorized_client', 'interaction_required', 'consent_required'].includes(e.error)) {
      return new ConnectorError('auth_revoked', `${what}: ${e.error}${desc ? ` (${desc})` : ''}`, { cause: e });
    }
    if (e.status === 429) return new ConnectorError('rate_limited', `${what}: ${e.error}`, { cause: e });
    if (e.status >= 500 || e.error === 'temporarily_unavailable') return new ConnectorError('transient', `${what}: ${e.error}`, { cause: e });
    return new ConnectorError('invalid_data', `${what}: ${e.error}${desc ? ` (${desc})` : ''}`, { cause: e });
  }
  return new ConnectorError('transient', `${what}: ${(e as Error).message}`, { cause: e });
}

function grantOf(r: oidc.TokenEndpointResponse, now: number): TokenGrant {
  return {
    accessToken: r.access_token,
    expiresAt: now + (r.expires_in ?? 3599) * 1000,
    ...(typeof r.refresh_token === 'string' ? { refreshToken: r.refresh_token } : {}),
  };
}

/** A client-credentials token for an organisation account (secret or certificate). */
export async function clientCredentialsToken(ep: MicrosoftEndpoints, s: MicrosoftSettings, secret: AccountSecret, now = Date.now): Promise<TokenGrant> {
  try {
    const config = await msConfiguration(ep, s, secret);
    const r = await oidc.clientCredentialsGrant(config, { scope: `${MS_GRAPH_URL}/.default` });
    return grantOf(r, now());
  } catch (e) {
    throw toConnectorError(e, 'Microsoft client credentials');
  }
}

/** The refresher for `microsoft` accounts (both kinds). */
export function microsoftRefresher(endpoints: Record<string, string | undefined>, now: () => number = Date.now): TokenRefresher {
  const ep = microsoftEndpoints(endpoints);
  return async (account, secret) => {
    const s = settingsOf(account);
    if (account.kind === 'organization') return clientCredentialsToken(ep, s, secret, now);
    if (!secret.refreshToken) throw new ConnectorError('auth_revoked', `Microsoft account ${account.name} has no refresh token: sign in again.`);
    try {
      const config = await msConfiguration(ep, s, secret);
      const r = await oidc.refreshTokenGrant(config, secret.refreshToken, { scope: MS_USER_SCOPES.map(graphScope).join(' ') });
      return grantOf(r, now());
    } catch (e) {
      throw toConnectorError(e, 'Microsoft token refresh');
    }
  };
}

// -------------------------------------------------------------------------------------------------
// Interactive sign-in (authorization code + PKCE on a loopback redirect)

export interface LoginStart {
  url: string;
  verifier: string;
  state: string;
  redirectUri: string;
}

export async function beginUserLogin(ep: MicrosoftEndpoints, s: MicrosoftSettings, redirectUri: string, loginHint?: string): Promise<LoginStart> {
  const config = await msConfiguration(ep, s, {});
  const verifier = oidc.randomPKCECodeVerifier();
  const challenge = await oidc.calculatePKCECodeChallenge(verifier);
  const state = oidc.randomState();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    response_type: 'code',
    response_mode: 'query',
    scope: MS_USER_SCOPES.map(graphScope).join(' '),
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state,
    prompt: 'select_account',
    ...(loginHint ? { login_hint: loginHint } : {}),
  });
  return { url: url.toString(), verifier, state, redirectUri };
}

export async function finishUserLogin(ep: MicrosoftEndpoints, s: MicrosoftSettings, start: LoginStart, callbackUrl: URL, clientSecret?: string): Promise<TokenGrant & { mailbox: string }> {
  try {
    const config = await msConfiguration(ep, s, clientSecret ? { clientSecret } : {});
    const r = await oidc.authorizationCodeGrant(config, callbackUrl, { pkceCodeVerifier: start.verifier, expectedState: start.state });
    const grant = grantOf(r, Date.now());
    // Which mailbox signed in: ask Graph (id_token claims are display-only, §5.6).
    const me = await fetch(`${ep.graphUrl}/v1.0/me?$select=mail,userPrincipalName`, { headers: { authorization: `Bearer ${grant.accessToken}` } });
    if (!me.ok) throw new ConnectorError('permission', `Graph /me answered ${me.status}`);
    const body = (await me.json()) as { mail?: string | null; userPrincipalName?: string };
    return { ...grant, mailbox: body.userPrincipalName ?? body.mail ?? 'me' };
  } catch (e) {
    throw toConnectorError(e, 'Microsoft sign-in');
  }
}

/** The admin-consent URL an administrator opens once for an organisation app (§5.5). */
export function adminConsentUrl(ep: MicrosoftEndpoints, tenant: string, clientId: string, redirectUri: string): string {
  const u = new URL(`${ep.loginUrl}/${encodeURIComponent(tenant)}/adminconsent`);
  u.searchParams.set('client_id', clientId);
  u.searchParams.set('redirect_uri', redirectUri);
  u.searchParams.set('state', createHash('sha256').update(`${tenant}:${clientId}`).digest('hex').slice(0, 16));
  return u.toString();
}

/** Splits a PEM bundle into its certificate and private key. */
export function splitPem(text: string): { certificatePem: string; privateKeyPem: string } {
  const cert = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(text)?.[0];
  const key = /-----BEGIN (?:RSA |EC )?PRIVATE KEY-----[\s\S]+?-----END (?:RSA |EC )?PRIVATE KEY-----/.exec(text)?.[0];
  if (!cert || !key) throw new Error('The certificate file must hold a PEM certificate and its private key.');
  return { certificatePem: `${cert}\n`, privateKeyPem: `${key}\n` };
}
