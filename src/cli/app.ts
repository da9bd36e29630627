/**
 * The CLI's handle on the product: the store, the connector types, the accounts and the engine's
 * dependencies. This is where settings from the environment are read and handed on.
 */
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import { AccessTokens } from '../accounts/access-tokens.js';
import { AccountStore } from '../accounts/accounts.js';
import { loadSecretBox } from '../accounts/secret-box.js';
import type { ConnectorEnv, ConnectorFactory } from '../connectors/kit/contract.js';
import { ConnectorError } from '../connectors/kit/errors.js';
import { builtinConnectors } from '../connectors/registry.js';
import { uuidv7Generator } from '../engine/ids.js';
import type { EngineDeps } from '../engine/run/sync-hub.js';
import type { Spoke } from '../store/hubs.js';
import { openStore, resolveStoreLocation, type Store } from '../store/open.js';
import { resolveDatabaseUrl, resolveDataDir, type GlobalOptions } from './settings.js';

export interface App {
  store: Store;
  dataDir: string;
  factories: Map<string, ConnectorFactory>;
  accounts: AccountStore;
  tokens: AccessTokens;
  engine: EngineDeps;
  close(): Promise<void>;
}

export interface AppExtras {
  factories?: Map<string, ConnectorFactory>;
  env?: NodeJS.ProcessEnv;
}

export async function openApp(opts: GlobalOptions, extra: AppExtras = {}): Promise<App> {
  const env = extra.env ?? process.env;
  const dataDir = resolveDataDir(opts, env);
  const store = await openStore(resolveStoreLocation({ databaseUrl: resolveDatabaseUrl(opts, env), dataDir }));
  const factories = extra.factories ?? builtinConnectors({ endpoints: endpointsFrom(env) });
  const box = loadSecretBox({ envKey: env.HUBSYNC_SECRET_KEY, dataDir });
  const accounts = new AccountStore(store.db, box);
  const tokens = new AccessTokens(accounts, async () => {
    const { tokenRefreshers } = await import('../accounts/providers.js');
    return tokenRefreshers({ endpoints: endpointsFrom(env), clients: oauthClientsFrom(env) });
  });
  const ids = uuidv7Generator();

  const prepareEnv = async (spoke: Spoke): Promise<Partial<ConnectorEnv>> => {
    const provider = factories.get(spoke.type)?.accountProvider;
    if (!provider) return {};
    const name = spoke.config.account;
    if (typeof name !== 'string') throw new Error(`spoke "${spoke.name}" names no account`);
    const account = await accounts.get(provider, name);
    if (account.state === 'needs-sign-in') {
      throw new ConnectorError('auth_revoked', `account ${account.name} needs a sign-in again (${account.lastError ?? 'access was revoked'})`);
    }
    const secret = await accounts.secret(account.id);
    if (secret.password !== undefined) {
      const username = typeof account.settings.username === 'string' ? account.settings.username : account.name;
      return { auth: { username, password: secret.password } };
    }
    return { auth: tokens.authFor(account) };
  };

  const engine: EngineDeps = {
    db: store.db,
    factories,
    now: Date.now,
    ids,
    holder: `${os.hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`,
    prepareEnv,
    bulkWrites: store.bulkWrites,
  };
  return { store, dataDir, factories, accounts, tokens, engine, close: () => store.close() };
}

/** Provider endpoints that can be pointed at an emulator (see docs/configuration.md). */
export function endpointsFrom(env: NodeJS.ProcessEnv): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(env)) if (k.startsWith('HUBSYNC_') && k.endsWith('_URL')) out[k] = v;
  return out;
}

/** OAuth clients of this installation: every `HUBSYNC_*_CLIENT_ID` / `HUBSYNC_*_CLIENT_SECRET` setting. */
export function oauthClientsFrom(env: NodeJS.ProcessEnv): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(env)) if (/^HUBSYNC_.+_CLIENT_(ID|SECRET)$/.test(k)) out[k] = v;
  return out;
}
