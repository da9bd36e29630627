/**
 * Accounts: the credentials behind spokes (a Google user, a Microsoft 365 tenant, a CardDAV login).
 * Secrets are sealed with the SecretBox before they reach the store and are opened only to be handed
 * to a token refresh or a connector; nothing here logs them.
 */
import type { Kysely } from 'kysely';
import type { Schema } from '../store/schema.js';
import type { SecretBox } from './secret-box.js';

export type AccountKind = 'user' | 'organization';
export type AccountState = 'ok' | 'needs-sign-in';

/** What is sealed. Providers use the parts they need. */
export interface AccountSecret {
  refreshToken?: string;
  password?: string;
  clientSecret?: string;
  /** PEM private key and certificate, for certificate-based client credentials. */
  certificatePem?: string;
  privateKeyPem?: string;
}

export interface Account {
  id: string;
  provider: string;
  name: string;
  kind: AccountKind;
  settings: Record<string, unknown>;
  state: AccountState;
  lastError: string | null;
  createdAt: number;
  updatedAt: number;
}

type DbLike = Pick<Kysely<Schema>, 'selectFrom' | 'insertInto' | 'updateTable' | 'deleteFrom'>;
type Row = Schema['accounts'];

function fromRow(r: Row): Account {
  return {
    id: r.id,
    provider: r.provider,
    name: r.name,
    kind: r.kind as AccountKind,
    settings: JSON.parse(r.settings) as Record<string, unknown>,
    state: r.state as AccountState,
    lastError: r.last_error,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export class AccountStore {
  constructor(
    private readonly db: DbLike,
    private readonly box: SecretBox,
    private readonly now: () => number = Date.now,
  ) {}

  /** Adds an account, or replaces the credentials of the one with that provider and name. */
  async upsert(a: { id: string; provider: string; name: string; kind: AccountKind; settings: Record<string, unknown>; secret: AccountSecret }): Promise<Account> {
    const existing = await this.db.selectFrom('accounts').select('id').where('provider', '=', a.provider).where('name', '=', a.name).executeTakeFirst();
    const id = existing?.id ?? a.id;
    const sealed = this.box.seal(JSON.stringify(a.secret), id);
    const now = this.now();
    if (existing) {
      await this.db
        .updateTable('accounts')
        .set({ kind: a.kind, settings: JSON.stringify(a.settings), secret: sealed, access_token: null, access_expires_at: null, state: 'ok', last_error: null, updated_at: now })
        .where('id', '=', id)
        .execute();
    } else {
      await this.db
        .insertInto('accounts')
        .values({ id, provider: a.provider, name: a.name, kind: a.kind, settings: JSON.stringify(a.settings), secret: sealed, access_token: null, access_expires_at: null, state: 'ok', last_error: null, created_at: now, updated_at: now })
        .execute();
    }
    return this.get(a.provider, a.name);
  }

  async list(provider?: string): Promise<Account[]> {
    let q = this.db.selectFrom('accounts').selectAll();
    if (provider) q = q.where('provider', '=', provider);
    return (await q.orderBy('provider').orderBy('name').execute()).map(fromRow);
  }

  /** By provider and name, or by id. */
  async get(provider: string | null, nameOrId: string): Promise<Account> {
    let q = this.db.selectFrom('accounts').selectAll();
    if (provider) q = q.where('provider', '=', provider);
    const rows = await q.execute();
    const r = rows.find((x) => x.name === nameOrId) ?? rows.find((x) => x.id === nameOrId);
    if (!r) throw new Error(`No ${provider ?? ''} account "${nameOrId}". \`hubsync account list\` shows the accounts there are.`.replace('  ', ' '));
    return fromRow(r);
  }

  async secret(accountId: string): Promise<AccountSecret> {
    const r = await this.db.selectFrom('accounts').select('secret').where('id', '=', accountId).executeTakeFirstOrThrow();
    return JSON.parse(this.box.open(r.secret, accountId)) as AccountSecret;
  }

  async setSecret(accountId: string, secret: AccountSecret): Promise<void> {
    await this.db
      .updateTable('accounts')
      .set({ secret: this.box.seal(JSON.stringify(secret), accountId), updated_at: this.now() })
      .where('id', '=', accountId)
      .execute();
  }

  async cachedAccessToken(accountId: string): Promise<{ token: string; expiresAt: number } | null> {
    const r = await this.db.selectFrom('accounts').select(['access_token', 'access_expires_at']).where('id', '=', accountId).executeTakeFirst();
    if (!r?.access_token || !r.access_expires_at) return null;
    return { token: this.box.open(r.access_token, `${accountId}:access`), expiresAt: r.access_expires_at };
  }

  async cacheAccessToken(accountId: string, token: string | null, expiresAt: number | null): Promise<void> {
    await this.db
      .updateTable('accounts')
      .set({ access_token: token === null ? null : this.box.seal(token, `${accountId}:access`), access_expires_at: expiresAt })
      .where('id', '=', accountId)
      .execute();
  }

  async setState(accountId: string, state: AccountState, lastError: string | null): Promise<void> {
    await this.db.updateTable('accounts').set({ state, last_error: lastError, updated_at: this.now() }).where('id', '=', accountId).execute();
  }

  async remove(accountId: string): Promise<void> {
    await this.db.deleteFrom('accounts').where('id', '=', accountId).execute();
  }
}
