/**
 * Token refresh per account provider. Each provider module (Google, Microsoft) adds its refresher
 * here; accounts of providers without one (CardDAV: a password) need no refresh.
 */
import type { TokenRefresher } from './access-tokens.js';

export function tokenRefreshers(_env: { endpoints: Record<string, string | undefined> }): Map<string, TokenRefresher> {
  return new Map<string, TokenRefresher>();
}
