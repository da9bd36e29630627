/**
 * What the web app needs from an account provider (Google, Microsoft) to offer "Sign in with …":
 * the authorization URL of the OAuth 2.0 authorization-code flow with PKCE (RFC 6749 §4.1,
 * RFC 7636 S256), the code exchange, and who signed in. Provider modules (src/accounts/google.ts,
 * src/accounts/microsoft.ts) supply these details; the server stays generic: a spoke type's
 * `accountProvider` names the provider whose sign-in the wizard offers.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { AccountKind, AccountSecret } from '../accounts/accounts.js';

export interface OAuthGrant {
  /** The signed-in address, as the provider's userinfo states it (the account's name). */
  email: string;
  displayName?: string;
  kind?: AccountKind;
  /** Non-secret settings kept with the account (tenant id, granted scopes). */
  settings?: Record<string, unknown>;
  /** What is sealed: the refresh token. */
  secret: AccountSecret;
  /** The first access token, when the exchange returned one (saves a refresh). */
  accessToken?: { token: string; expiresAt: number };
}

/** A sign-in in progress: where to send the browser, and how to finish when it comes back. */
export interface PendingSignIn {
  /** The provider's consent page. */
  url: string;
  /** The `state` the provider echoes on the redirect (RFC 6749 §4.1.1); the server files the sign-in under it. */
  state: string;
  /** Exchanges the code on the redirect URL (checking state and PKCE) and says who signed in. */
  finish(callbackUrl: URL): Promise<OAuthGrant>;
}

export interface OAuthProvider {
  /** The provider name connector factories use in `accountProvider`: `google`, `microsoft`. */
  id: string;
  /** Shown on the button: "Sign in with {label}". */
  label: string;
  /** Starts the authorization-code flow with PKCE; `loginHint` preselects an account (OIDC Core §3.1.2.1). */
  begin(p: { redirectUri: string; loginHint?: string }): Promise<PendingSignIn>;
  /**
   * Where the spoke needs a choice after sign-in (a Microsoft 365 tenant's mailboxes, a contact
   * folder): the options, each with the connector settings it stands for.
   */
  choices?(grant: { email: string; accountId: string }): Promise<{ label: string; config: Record<string, unknown> }[]>;
}

/** A PKCE verifier and its S256 challenge (RFC 7636 §4.1-4.2). */
export function pkcePair(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  return { verifier, challenge };
}
