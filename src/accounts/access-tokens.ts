/**
 * OAuth access tokens for accounts: cached (sealed) in the store so processes share them, and
 * refreshed once at a time per account — concurrent callers wait for the one refresh in flight.
 * A refresh the provider refuses for good (revoked consent, expired refresh token) marks the
 * account "needs sign-in" and fails with ConnectorError('auth_revoked'); the spokes on that account
 * stop with that state and the others go on.
 */
import type { SpokeAuth } from '../connectors/kit/contract.js';
import { ConnectorError, isConnectorError } from '../connectors/kit/errors.js';
import type { Account, AccountSecret, AccountStore } from './accounts.js';

export interface TokenGrant {
  accessToken: string;
  /** Milliseconds since the epoch. */
  expiresAt: number;
  /** A rotated refresh token (Microsoft rotates them; Google may not send one). */
  refreshToken?: string;
}

/**
 * The provider-specific part: turns an account's secret into a fresh access token. Throws
 * ConnectorError('auth_revoked') when the provider says the grant is gone (`invalid_grant`), other
 * kinds (transient, rate_limited) when it may work later.
 */
export type TokenRefresher = (account: Account, secret: AccountSecret) => Promise<TokenGrant>;

/** Refresh this long before expiry, so a token does not expire mid-request. */
const EARLY_MS = 60_000;

export class AccessTokens {
  private readonly inFlight = new Map<string, Promise<string>>();
  private loaded: Promise<ReadonlyMap<string, TokenRefresher>> | undefined;

  /**
   * `refreshers` by provider, or a function that loads them on the first refresh: they bring the
   * OAuth stack (openid-client, jose), which a run of CardDAV or vdir spokes never needs, and the
   * CLI would otherwise load it at every start.
   */
  constructor(
    private readonly store: AccountStore,
    private readonly refreshers: ReadonlyMap<string, TokenRefresher> | (() => Promise<ReadonlyMap<string, TokenRefresher>>),
    private readonly now: () => number = Date.now,
  ) {}

  /** The SpokeAuth a connector on this account gets. */
  authFor(account: Account): SpokeAuth {
    return {
      accessToken: () => this.token(account),
      invalidateAccessToken: () => void this.store.cacheAccessToken(account.id, null, null),
    };
  }

  async token(account: Account): Promise<string> {
    const cached = await this.store.cachedAccessToken(account.id);
    if (cached && cached.expiresAt - EARLY_MS > this.now()) return cached.token;
    const running = this.inFlight.get(account.id);
    if (running) return running;
    const p = this.refresh(account).finally(() => this.inFlight.delete(account.id));
    this.inFlight.set(account.id, p);
    return p;
  }

  private async refresh(account: Account): Promise<string> {
    const refreshers = typeof this.refreshers === 'function' ? await (this.loaded ??= this.refreshers()) : this.refreshers;
    const refresher = refreshers.get(account.provider);
    if (!refresher) throw new ConnectorError('unsupported', `No token refresh for ${account.provider} accounts.`);
    const secret = await this.store.secret(account.id);
    let grant: TokenGrant;
    try {
      grant = await refresher(account, secret);
    } catch (e) {
      if (isConnectorError(e, 'auth_revoked')) {
        await this.store.setState(account.id, 'needs-sign-in', e.message);
        await this.store.cacheAccessToken(account.id, null, null);
      }
      throw e;
    }
    if (grant.refreshToken && grant.refreshToken !== secret.refreshToken) {
      await this.store.setSecret(account.id, { ...secret, refreshToken: grant.refreshToken });
    }
    await this.store.cacheAccessToken(account.id, grant.accessToken, grant.expiresAt);
    if (account.state !== 'ok') await this.store.setState(account.id, 'ok', null);
    return grant.accessToken;
  }
}
