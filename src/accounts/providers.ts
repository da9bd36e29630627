/**
 * Token refresh per account provider. Each provider module (Google, Microsoft) adds its refresher
 * here; accounts of providers without one (CardDAV: a password) need no refresh.
 */
import type { TokenRefresher } from './access-tokens.js';
import { googleOAuthSettings, googleTokenRefresher } from './google.js';
import { microsoftRefresher } from './microsoft.js';

/**
 * `endpoints`: every `HUBSYNC_*_URL` setting; `clients`: every `HUBSYNC_*_CLIENT_ID` /
 * `HUBSYNC_*_CLIENT_SECRET` setting (OAuth clients of this installation).
 */
export function tokenRefreshers(env: { endpoints: Record<string, string | undefined>; clients?: Record<string, string | undefined> }): Map<string, TokenRefresher> {
  const refreshers = new Map<string, TokenRefresher>();
  refreshers.set('google', googleTokenRefresher(googleOAuthSettings(env.endpoints, env.clients ?? {})));
  refreshers.set('microsoft', microsoftRefresher(env.endpoints));
  return refreshers;
}
