/**
 * The hub store on both dialects, for suites that must pass on each (the repository suite, the
 * engine's end-to-end tests). Call `useStores()` at the top level of a test file.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openStore, type Store } from '../../src/store/open.js';
import { createTestDatabase, usePostgres } from './postgres.js';

export interface TestStore {
  dialect: 'sqlite' | 'postgres';
  /** A fresh, empty store; `dispose` drops it. */
  open(): Promise<Store & { dispose(): Promise<void> }>;
}

export function useStores(): TestStore[] {
  const pgUrl = usePostgres();
  return [
    {
      dialect: 'sqlite',
      async open() {
        const dir = mkdtempSync(path.join(os.tmpdir(), 'hubsync-store-'));
        const store = await openStore({ kind: 'sqlite', file: path.join(dir, 'hubsync.db') });
        return {
          ...store,
          async dispose() {
            await store.close();
            rmSync(dir, { recursive: true, force: true });
          },
        };
      },
    },
    {
      dialect: 'postgres',
      async open() {
        const db = await createTestDatabase(pgUrl);
        const store = await openStore({ kind: 'postgres', url: db.url });
        return {
          ...store,
          async dispose() {
            await store.close();
            await db.drop();
          },
        };
      },
    },
  ];
}
