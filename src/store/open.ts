/**
 * Opening the hub store: SQLite in a data folder (the embedded default) or PostgreSQL from a URL.
 * Both dialects run the same migrations and the same repository code.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect, sql } from 'kysely';
import { migrateToLatest } from './migrations.js';
import type { Schema } from './schema.js';

export type Dialect = 'sqlite' | 'postgres';

export interface Store {
  db: Kysely<Schema>;
  dialect: Dialect;
  /** Where the data lives, for messages ("/home/ann/.hubsync/hubsync.db", "postgres://host/db"). */
  location: string;
  /**
   * Tells the store that a run is about to write many rows (a first sync, a large push), or that
   * it is done. SQLite's page cache is small by default and grows for bulk writes (see below).
   */
  bulkWrites(on: boolean): void;
  close(): Promise<void>;
}

export type StoreLocation =
  | { kind: 'sqlite'; file: string }
  | { kind: 'postgres'; url: string; schema?: string };


/** `postgres://…` → PostgreSQL; anything else is a data folder for the embedded SQLite store. */
export function resolveStoreLocation(opts: { databaseUrl?: string | undefined; dataDir: string }): StoreLocation {
  if (opts.databaseUrl && /^postgres(ql)?:\/\//.test(opts.databaseUrl)) return { kind: 'postgres', url: opts.databaseUrl };
  if (opts.databaseUrl) throw new Error(`Unsupported database URL "${redactUrl(opts.databaseUrl)}": use postgres://… or leave it unset for the embedded store.`);
  return { kind: 'sqlite', file: path.join(opts.dataDir, 'hubsync.db') };
}

export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}

/**
 * Kysely's SQLite driver prepares every query anew; compiling the same SQL again and again was a
 * large share of a sync's CPU time. Statements are reused by their text (bounded: multi-row inserts
 * of varying sizes produce many texts). Safe because the driver runs one query at a time on this
 * connection and never keeps an iterator open across queries.
 */
function cacheStatements(sqlite: Database.Database): void {
  const prepare = sqlite.prepare.bind(sqlite);
  const cache = new Map<string, Database.Statement>();
  sqlite.prepare = ((source: string) => {
    let st = cache.get(source);
    if (!st) {
      if (cache.size >= 1000) cache.clear();
      st = prepare(source);
      cache.set(source, st);
    }
    return st;
  }) as typeof sqlite.prepare;
}

/**
 * The connection settings of the embedded store (also used by the benchmark's timed store, so that
 * profiles measure the same thing).
 */
export function applyPragmas(sqlite: Database.Database): void {
  // WAL lets readers (status, the web UI) work during a sync; NORMAL is durable across process
  // crashes, which is what the write-ahead intents rely on.
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  // The page cache is SQLite's default 2 MiB, and 16 MiB while a run writes in bulk
  // (`bulkWritesHint`): a first sync inserts into indexes spread over the whole file, and with
  // 2 MiB many of those pages are read back from the OS on every write. A run that writes little
  // mostly looks up link etags, and would fill 16 MiB with index pages it reads once: the cache
  // counts in the process's memory (an incremental sync of a 100,000-contact hub peaked at 174 MB
  // with it and 155–159 MB without, measured when the pull still scanned every etag).
  sqlite.pragma(`cache_size = ${SQLITE_CACHE_KIB.normal}`);
  // A multi-row statement inside a transaction keeps a statement journal (the pages it changed,
  // so that a failing statement can be undone alone), and past 64 KiB SQLite spills it to a temp
  // file (https://sqlite.org/tempfiles.html §2.5). The engine's multi-row inserts made 131 such files
  // and 494 MB of writes in a 20,000-contact first sync, for a 174 MB store. In memory, each lives
  // for one statement.
  sqlite.pragma('temp_store = MEMORY');
  // Checkpoint every 64 MiB of WAL instead of every 4 MiB (the default 1,000 pages): a page that
  // several commits change in between (index pages, contacts merged by the next spoke) is copied
  // into the database once, and the checkpoint's fsyncs happen 16× less often. With the line above,
  // a 100,000-contact first sync wrote 6.1 GB instead of 11.8 GB. The WAL file is cut back to
  // that size after a checkpoint rather than keeping its largest size on disk.
  sqlite.pragma('wal_autocheckpoint = 16384');
  sqlite.pragma(`journal_size_limit = ${64 * 1024 * 1024}`);
}

/** SQLite `cache_size` values (negative: KiB). */
export const SQLITE_CACHE_KIB = { normal: -2048, bulk: -16384 } as const;

/**
 * `Store.bulkWrites` for a SQLite connection. Counted: the web app's scheduler can sync several
 * hubs at once on the one connection, and the first to finish must not shrink the cache under
 * another still writing in bulk.
 */
export function bulkWritesHint(sqlite: Database.Database): (on: boolean) => void {
  let writers = 0;
  return (on) => {
    writers = Math.max(0, writers + (on ? 1 : -1));
    sqlite.pragma(`cache_size = ${writers > 0 ? SQLITE_CACHE_KIB.bulk : SQLITE_CACHE_KIB.normal}`);
  };
}

export async function openStore(loc: StoreLocation): Promise<Store> {
  if (loc.kind === 'sqlite') {
    mkdirSync(path.dirname(loc.file), { recursive: true });
    const sqlite = new Database(loc.file);
    applyPragmas(sqlite);
    cacheStatements(sqlite);
    const db = new Kysely<Schema>({ dialect: new SqliteDialect({ database: sqlite }) });
    await migrateToLatest(db as unknown as Kysely<unknown>);
    return { db, dialect: 'sqlite', location: loc.file, bulkWrites: bulkWritesHint(sqlite), close: () => db.destroy() };
  }
  // Loaded only for a PostgreSQL store: the embedded default starts faster without it.
  const { default: pg } = await import('pg');
  // PostgreSQL returns int8 as text by default; our int8 columns hold epoch milliseconds and HLC
  // tags, both far below 2^53, so numbers are exact.
  pg.types.setTypeParser(20, (v: string) => Number(v));
  const pool = new pg.Pool({
    connectionString: loc.url,
    max: 4,
    ...(loc.schema ? { options: `-c search_path=${loc.schema}` } : {}),
  });
  // node-postgres emits an error on the pool when an idle client's connection dies (a server
  // restart, an administrator's termination); unhandled, that would end the process. The pool drops
  // such a client by itself and the next query gets a new connection.
  pool.on('error', () => undefined);
  const db = new Kysely<Schema>({ dialect: new PostgresDialect({ pool }) });
  if (loc.schema) await sql`create schema if not exists ${sql.id(loc.schema)}`.execute(db);
  await migrateToLatest(db as unknown as Kysely<unknown>);
  // PostgreSQL's buffers are the server's, sized by its administrator.
  return { db, dialect: 'postgres', location: redactUrl(loc.url), bulkWrites: () => undefined, close: () => db.destroy() };
}
