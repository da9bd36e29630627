/**
 * The Microsoft identity platform's v2.0 endpoints, as the emulator answers them (api-spec.md §5):
 * `/{tenant}/oauth2/v2.0/authorize` (consent auto-approved, PKCE recorded), `/{tenant}/oauth2/v2.0/token`
 * (authorization_code + PKCE, refresh_token with rotation, client_credentials with `.default` only, by
 * client secret or certificate assertion), `/{tenant}/adminconsent`, OIDC discovery and JWKS, and
 * AADSTS-style error bodies (`error`, `error_description`, `error_codes`, `timestamp`, `trace_id`,
 * `correlation_id`). Access tokens are opaque (clients must not parse Graph tokens); id_tokens are
 * RS256 JWTs.
 */
import { createHash, createPublicKey, generateKeyPairSync, randomBytes, randomUUID, sign, verify, X509Certificate, type KeyObject } from 'node:crypto';
import type { Principal } from './graph.js';
import type { GraphState } from './state.js';

export interface IdentityResponse {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

interface CodeGrant {
  clientId: string;
  userId: string;
  redirectUri: string;
  scope: string;
  challenge: string | null;
  method: string;
  expires: number;
}

interface RefreshGrant {
  clientId: string;
  userId: string;
  scope: string;
}

export function aadError(status: number, error: string, code: number, message: string): IdentityResponse {
  const now = new Date().toISOString().replace('T', ' ').slice(0, 19) + 'Z';
  const trace = randomUUID();
  const correlation = randomUUID();
  return {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8' },
    body: {
      error,
      error_description: `AADSTS${code}: ${message}\r\nTrace ID: ${trace}\r\nCorrelation ID: ${correlation}\r\nTimestamp: ${now}`,
      error_codes: [code],
      timestamp: now,
      trace_id: trace,
      correlation_id: correlation,
    },
  };
}

const GRAPH = 'https://graph.microsoft.com';

export class IdentityApi {
  private readonly codes = new Map<string, CodeGrant>();
  private readonly refreshTokens = new Map<string, RefreshGrant>();
  readonly accessTokens = new Map<string, { principal: Principal; expires: number }>();
  private readonly key = generateKeyPairSync('rsa', { modulusLength: 2048 });
  private readonly kid = randomBytes(8).toString('hex');
  /** Access-token lifetime in seconds (3599 like the real service). */
  tokenLifetime = 3599;
  /** Counts of grants by type, for tests. */
  readonly grants: Record<string, number> = {};

  constructor(
    private readonly state: GraphState,
    private readonly baseUrl: () => string,
    private readonly now: () => number = Date.now,
  ) {}

  /** Access denied to every refresh token issued so far (a revoked consent). */
  revokeRefreshTokens(): void {
    this.refreshTokens.clear();
  }

  principalOf(authorization: string | undefined): Principal | null {
    const m = /^Bearer (.+)$/i.exec(authorization ?? '');
    const t = m ? this.accessTokens.get(m[1] as string) : undefined;
    if (!t || t.expires <= this.now()) return null;
    return t.principal;
  }

  /** Mints an app-only token directly (tests that do not exercise the token endpoint). */
  issueAppToken(clientId: string): string {
    const t = `eyJ0eXAiOi.${randomBytes(24).toString('base64url')}`;
    this.accessTokens.set(t, { principal: { kind: 'app', clientId }, expires: this.now() + this.tokenLifetime * 1000 });
    return t;
  }

  handle(method: string, url: URL, form: URLSearchParams): IdentityResponse {
    const segs = url.pathname.split('/').filter((s) => s !== '');
    const tenant = segs[0] ?? '';
    const rest = segs.slice(1).join('/');
    if (rest === 'v2.0/.well-known/openid-configuration' && method === 'GET') return this.discovery(tenant);
    if (rest === 'discovery/v2.0/keys' && method === 'GET') return this.jwks();
    if (!this.knownTenant(tenant)) return aadError(400, 'invalid_request', 90002, `Tenant '${tenant}' not found.`);
    if (rest === 'oauth2/v2.0/authorize' && method === 'GET') return this.authorize(url.searchParams);
    if ((rest === 'adminconsent' || rest === 'v2.0/adminconsent') && method === 'GET') return this.adminConsent(url.searchParams);
    if (rest === 'oauth2/v2.0/token' && method === 'POST') return this.token(tenant, form);
    return { status: 404, body: { error: 'not_found' } };
  }

  private knownTenant(t: string): boolean {
    return ['common', 'organizations', this.state.tenantId, this.state.domain].includes(t);
  }

  private issuer(): string {
    return `${this.baseUrl()}/${this.state.tenantId}/v2.0`;
  }

  private discovery(tenant: string): IdentityResponse {
    const b = `${this.baseUrl()}/${tenant}`;
    return {
      status: 200,
      headers: { 'content-type': 'application/json' },
      body: {
        issuer: this.issuer(),
        authorization_endpoint: `${b}/oauth2/v2.0/authorize`,
        token_endpoint: `${b}/oauth2/v2.0/token`,
        jwks_uri: `${b}/discovery/v2.0/keys`,
        response_types_supported: ['code', 'id_token', 'code id_token'],
        subject_types_supported: ['pairwise'],
        id_token_signing_alg_values_supported: ['RS256'],
        token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
        code_challenge_methods_supported: ['S256', 'plain'],
        scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
      },
    };
  }

  private jwks(): IdentityResponse {
    const jwk = this.key.publicKey.export({ format: 'jwk' });
    return { status: 200, headers: { 'content-type': 'application/json' }, body: { keys: [{ ...jwk, kid: this.kid, use: 'sig', alg: 'RS256' }] } };
  }

  private redirect(uri: string, params: Record<string, string>): IdentityResponse {
    const u = new URL(uri);
    for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
    return { status: 302, headers: { location: u.toString() } };
  }

  private redirectAllowed(clientId: string, uri: string): boolean {
    const app = this.state.apps.get(clientId);
    if (!app) return false;
    if (app.redirectUris && app.redirectUris.length > 0) return app.redirectUris.includes(uri);
    // Without registered URIs, loopback redirects are allowed (native apps, RFC 8252 §7.3).
    try {
      const u = new URL(uri);
      return u.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname);
    } catch {
      return false;
    }
  }

  private authorize(q: URLSearchParams): IdentityResponse {
    const clientId = q.get('client_id') ?? '';
    const redirectUri = q.get('redirect_uri') ?? '';
    if (!this.state.apps.has(clientId)) return aadError(400, 'unauthorized_client', 700016, `Application with identifier '${clientId}' was not found in the directory.`);
    if (!this.redirectAllowed(clientId, redirectUri)) return aadError(400, 'invalid_request', 50011, `The redirect URI '${redirectUri}' specified in the request does not match the redirect URIs configured for the application '${clientId}'.`);
    const state = q.get('state');
    const extra: Record<string, string> = state === null ? {} : { state };
    if (q.get('response_type') !== 'code') return this.redirect(redirectUri, { error: 'unsupported_response_type', error_description: 'AADSTS700054: response_type is not enabled for the application.', ...extra });
    const hint = q.get('login_hint');
    const user = hint ? this.state.findUser(hint) : [...this.state.users.values()].find((u) => this.state.mailboxType.get(u.id) === 'user');
    if (!user) return this.redirect(redirectUri, { error: 'access_denied', error_description: 'the user canceled the authentication', ...extra });
    const code = `0.A${randomBytes(32).toString('base64url')}`;
    this.codes.set(code, {
      clientId,
      userId: user.id,
      redirectUri,
      scope: q.get('scope') ?? '',
      challenge: q.get('code_challenge'),
      method: q.get('code_challenge_method') ?? 'plain',
      expires: this.now() + 10 * 60_000,
    });
    return this.redirect(redirectUri, { code, ...extra });
  }

  private adminConsent(q: URLSearchParams): IdentityResponse {
    const clientId = q.get('client_id') ?? '';
    const redirectUri = q.get('redirect_uri') ?? '';
    const app = this.state.apps.get(clientId);
    if (!app) return aadError(400, 'unauthorized_client', 700016, `Application with identifier '${clientId}' was not found in the directory.`);
    if (!this.redirectAllowed(clientId, redirectUri)) return aadError(400, 'invalid_request', 50011, `The redirect URI '${redirectUri}' does not match the redirect URIs configured for the application.`);
    app.consented = true;
    const state = q.get('state');
    return this.redirect(redirectUri, { tenant: this.state.tenantId, admin_consent: 'True', ...(state === null ? {} : { state }) });
  }

  /** Client authentication: secret (post or Basic) or a certificate-signed assertion (RFC 7523). */
  private authenticateClient(form: URLSearchParams, tokenUrl: string, requireCredential: boolean): { clientId: string } | IdentityResponse {
    const clientId = form.get('client_id') ?? '';
    const app = this.state.apps.get(clientId);
    if (!app) return aadError(400, 'unauthorized_client', 700016, `Application with identifier '${clientId}' was not found in the directory.`);
    const secret = form.get('client_secret');
    const assertion = form.get('client_assertion');
    if (secret !== null) {
      if (!app.clientSecret || secret !== app.clientSecret) return aadError(401, 'invalid_client', 7000215, 'Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.');
      return { clientId };
    }
    if (assertion !== null) {
      if (form.get('client_assertion_type') !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer') return aadError(400, 'invalid_request', 50027, 'Invalid client_assertion_type.');
      if (!app.certificatePem) return aadError(401, 'invalid_client', 700027, 'Client assertion failed signature validation: no certificate is registered.');
      const problem = checkAssertion(assertion, app.certificatePem, clientId, tokenUrl, this.now());
      if (problem) return aadError(401, 'invalid_client', 700027, `Client assertion failed validation: ${problem}`);
      return { clientId };
    }
    if (requireCredential) return aadError(401, 'invalid_client', 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.");
    return { clientId };
  }

  private token(tenant: string, form: URLSearchParams): IdentityResponse {
    const grant = form.get('grant_type') ?? '';
    this.grants[grant] = (this.grants[grant] ?? 0) + 1;
    const tokenUrl = `${this.baseUrl()}/${tenant}/oauth2/v2.0/token`;
    if (grant === 'client_credentials') {
      if (tenant === 'common' || tenant === 'organizations') return aadError(400, 'invalid_request', 700016, 'Use a tenant-specific endpoint for client credentials.');
      const auth = this.authenticateClient(form, tokenUrl, true);
      if ('status' in auth) return auth;
      const scope = form.get('scope') ?? '';
      if (!/\/\.default$/.test(scope.trim()) || scope.trim().split(/\s+/).length !== 1) {
        return aadError(400, 'invalid_scope', 1002012, `The provided value for scope ${scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`);
      }
      return this.tokens({ kind: 'app', clientId: auth.clientId }, scope, false, false);
    }
    if (grant === 'authorization_code') {
      const auth = this.authenticateClient(form, tokenUrl, false);
      if ('status' in auth) return auth;
      const code = this.codes.get(form.get('code') ?? '');
      this.codes.delete(form.get('code') ?? '');
      if (!code || code.expires < this.now() || code.clientId !== auth.clientId) return aadError(400, 'invalid_grant', 70008, 'The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.');
      if (form.get('redirect_uri') !== code.redirectUri) return aadError(400, 'invalid_grant', 50148, 'The redirect_uri does not match the one in the authorization request.');
      if (code.challenge !== null) {
        const verifier = form.get('code_verifier') ?? '';
        const computed = code.method === 'S256' ? createHash('sha256').update(verifier).digest('base64url') : verifier;
        if (computed !== code.challenge) return aadError(400, 'invalid_grant', 501481, 'The Code_Verifier does not match the code_challenge supplied in the authorization request.');
      }
      return this.tokens({ kind: 'user', clientId: auth.clientId, userId: code.userId }, code.scope, /\boffline_access\b/.test(code.scope), /\bopenid\b/.test(code.scope));
    }
    if (grant === 'refresh_token') {
      const auth = this.authenticateClient(form, tokenUrl, false);
      if ('status' in auth) return auth;
      const rt = form.get('refresh_token') ?? '';
      const g = this.refreshTokens.get(rt);
      if (!g || g.clientId !== auth.clientId) return aadError(400, 'invalid_grant', 700082, 'The refresh token has expired due to inactivity.');
      // Rotation: a new refresh token is returned; the old one keeps working (api-spec.md §5.3).
      return this.tokens({ kind: 'user', clientId: g.clientId, userId: g.userId }, form.get('scope') ?? g.scope, true, false);
    }
    return aadError(400, 'unsupported_grant_type', 70003, `The app requested an unsupported grant type '${grant}'.`);
  }

  private tokens(principal: Principal, scope: string, refresh: boolean, idToken: boolean): IdentityResponse {
    const access = `eyJ0eXAiOi.${randomBytes(24).toString('base64url')}`;
    this.accessTokens.set(access, { principal, expires: this.now() + this.tokenLifetime * 1000 });
    const body: Record<string, unknown> = { token_type: 'Bearer', expires_in: this.tokenLifetime, ext_expires_in: this.tokenLifetime, access_token: access };
    if (principal.kind === 'user') body.scope = scope.split(/\s+/).filter((s) => s !== 'offline_access' && s !== 'openid').map((s) => (s.startsWith('http') ? s : `${GRAPH}/${s}`)).join(' ');
    if (refresh && principal.userId) {
      const rt = `1.A${randomBytes(40).toString('base64url')}`;
      this.refreshTokens.set(rt, { clientId: principal.clientId, userId: principal.userId, scope });
      body.refresh_token = rt;
    }
    if (idToken && principal.userId) body.id_token = this.idToken(principal.clientId, principal.userId);
    return { status: 200, headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' }, body };
  }

  private idToken(clientId: string, userId: string): string {
    const u = this.state.users.get(userId);
    const now = Math.floor(this.now() / 1000);
    const header = { typ: 'JWT', alg: 'RS256', kid: this.kid };
    const payload = {
      aud: clientId,
      iss: this.issuer(),
      iat: now,
      nbf: now,
      exp: now + 3600,
      sub: createHash('sha256').update(`${clientId}:${userId}`).digest('base64url').slice(0, 43),
      oid: userId,
      tid: this.state.tenantId,
      preferred_username: u?.userPrincipalName,
      name: u?.displayName,
      ver: '2.0',
    };
    const enc = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
    const input = `${enc(header)}.${enc(payload)}`;
    return `${input}.${sign('sha256', Buffer.from(input), this.key.privateKey).toString('base64url')}`;
  }
}

/** Checks an RFC 7523 client assertion against a registered certificate (x5t, signature, aud, iss/sub, exp). */
function checkAssertion(jwt: string, certPem: string, clientId: string, tokenUrl: string, now: number): string | null {
  const parts = jwt.split('.');
  if (parts.length !== 3) return 'not a JWT';
  let header: Record<string, unknown>;
  let payload: Record<string, unknown>;
  try {
    header = JSON.parse(Buffer.from(parts[0] as string, 'base64url').toString('utf8')) as Record<string, unknown>;
    payload = JSON.parse(Buffer.from(parts[1] as string, 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    return 'not a JWT';
  }
  let publicKey: KeyObject;
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
    publicKey = createPublicKey(cert.publicKey.export({ format: 'pem', type: 'spki' }));
  } catch {
    return 'the registered certificate is unreadable';
  }
  // Entra ID finds the key by the certificate's SHA-1 thumbprint in `x5t` (base64url).
  const thumb = Buffer.from(cert.fingerprint.replace(/:/g, ''), 'hex').toString('base64url');
  if (header.x5t !== thumb && header['x5t#S256'] !== Buffer.from(cert.fingerprint256.replace(/:/g, ''), 'hex').toString('base64url')) {
    return 'the x5t header does not name a registered certificate';
  }
  if (header.alg !== 'RS256' && header.alg !== 'PS256') return `unsupported alg ${String(header.alg)}`;
  const ok = header.alg === 'PS256'
    ? verify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`), { key: publicKey, padding: 6, saltLength: 32 }, Buffer.from(parts[2] as string, 'base64url'))
    : verify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`), publicKey, Buffer.from(parts[2] as string, 'base64url'));
  if (!ok) return 'signature';
  if (payload.iss !== clientId || payload.sub !== clientId) return 'iss and sub must be the client id';
  const aud = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
  if (!aud.includes(tokenUrl) && !aud.some((a) => typeof a === 'string' && tokenUrl.startsWith(a.replace(/\/+$/, '')))) return `aud must be the token endpoint (${tokenUrl})`;
  if (typeof payload.exp !== 'number' || payload.exp * 1000 < now) return 'expired';
  return null;
}
