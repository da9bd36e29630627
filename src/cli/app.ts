/**
 * The CLI's handle on the product: the store, the connector types, the engine's dependencies.
 */
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import type { ConnectorFactory } from '../connectors/kit/contract.js';
import { builtinConnectors } from '../connectors/registry.js';
import { uuidv7Generator } from '../engine/ids.js';
import type { EngineDeps } from '../engine/run/sync-hub.js';
import { openStore, resolveStoreLocation, type Store } from '../store/open.js';
import { resolveDatabaseUrl, resolveDataDir, type GlobalOptions } from './settings.js';

export interface App {
  store: Store;
  dataDir: string;
  factories: Map<string, ConnectorFactory>;
  engine: EngineDeps;
  close(): Promise<void>;
}

export async function openApp(opts: GlobalOptions, extra?: { factories?: Map<string, ConnectorFactory> }): Promise<App> {
  const dataDir = resolveDataDir(opts);
  const store = await openStore(resolveStoreLocation({ databaseUrl: resolveDatabaseUrl(opts), dataDir }));
  const factories = extra?.factories ?? builtinConnectors();
  const ids = uuidv7Generator();
  const engine: EngineDeps = {
    db: store.db,
    factories,
    now: Date.now,
    ids,
    holder: `${os.hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`,
  };
  return { store, dataDir, factories, engine, close: () => store.close() };
}
