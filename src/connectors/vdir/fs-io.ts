/**
 * The file operations the vdir spoke is built from: cheap listing stats, consistent reads, durable
 * temp files and batched directory fsyncs.
 */
import fs, { type BigIntStats } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { isErrno } from './fs-errors.js';
import { tempFileName } from './names.js';
import { statInWorker, statWorkerUsable, type ListedStat } from './stat-worker.js';

/** What an item's etag and modification time are made of (a `BigIntStats`, or the write worker's numbers). */
export type ItemStat = Pick<BigIntStats, 'mtimeNs' | 'size'>;

/**
 * The etag of a file: modification time in nanoseconds and size (`stat` with `bigint: true`, so
 * nanoseconds are not rounded away by a double). A rename does not change a file's mtime, so the
 * etag of a temp file is the etag of the item it becomes.
 *
 * Caveat: timestamps are only as fine as the file system and kernel make them (FAT: 2 s, HFS+: 1 s;
 * Linux stamps ext4/XFS/btrfs writes from its coarse clock, one tick of 1–4 ms). A second write of
 * the same size within one tick keeps the etag, so it goes unnoticed until the next change.
 * vdirsyncer adds the inode number to catch writers that replace files by rename; this etag does
 * not, because FAT/exFAT inode numbers change at every mount and would make every file look
 * changed after replugging a drive.
 */
export function etagOf(st: ItemStat): string {
  return `${st.mtimeNs}-${st.size}`;
}

export function modifiedAtOf(st: ItemStat): number {
  return Number(st.mtimeNs / 1_000_000n);
}

/** Maps with at most `limit` calls in flight; results keep the input order. */
export async function mapBounded<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** One listed entry's stat: what a listing needs of it, `'gone'` (vanished since readdir), or the error. */
export type StatOutcome = ListedStat | 'gone' | { error: unknown };

function listedStat(st: BigIntStats): ListedStat {
  return { file: st.isFile(), size: st.size, etag: etagOf(st) };
}

/** One listed file's content: read, `'gone'` (deleted, or no longer a regular file), or the error. */
export type ReadOutcome = FileRead | 'gone' | { error: unknown };

/**
 * The largest file read as a vCard. Photos make real cards up to a few MB; a bigger `.vcf` is
 * almost certainly not one contact (an export of a whole address book dropped into the folder),
 * and parallel reads of it must not exhaust memory.
 */
export const MAX_ITEM_BYTES = 10 * 1024 * 1024;

export class FileTooLargeError extends Error {
  constructor(readonly size: bigint) {
    super(`file is ${size} bytes, more than the ${MAX_ITEM_BYTES} bytes read as one vCard`);
    this.name = 'FileTooLargeError';
  }
}

export class NotAFileError extends Error {
  constructor() {
    super('not a regular file');
    this.name = 'NotAFileError';
  }
}

export interface FileRead {
  text: string;
  /** The stat of the very file read (same descriptor): its etag belongs to `text`. */
  stat: BigIntStats;
  /** The bytes were not UTF-8 and were read as Windows-1252. */
  notUtf8: boolean;
}

/** A batch of synchronous calls taking longer than this means a slow (network) file system. */
const SLOW_BATCH_MS = 25;
const ASYNC_STAT_CONCURRENCY = 64;
/** Asynchronous reads in flight: enough to hide disk latency, few enough to bound memory and fds. */
const ASYNC_READ_CONCURRENCY = 32;
/** Bigger files are read asynchronously even in sync mode (a large PHOTO must not stall the loop). */
const MAX_SYNC_READ_BYTES = 256 * 1024;
const MAX_SYNC_READ_BYTES_N = BigInt(MAX_SYNC_READ_BYTES);

/**
 * Stats and reads the files of one listing, synchronously in small batches while the file system
 * is fast, asynchronously once it is not.
 *
 * A no-op sync of 100,000 files is 100,000 stats, and a first sync 100,000 reads. On a local disk
 * these are system calls of a few microseconds, and queueing each on libuv's 4-thread pool costs
 * more than the call. Measured on the dev box (ext4, 2 vCPU, warm cache), 100,000 stats take
 * ≈0.24 s synchronously in batches of 500, ≈0.55 s through `fs.stat` callbacks 64 at a time and
 * ≈1 s through `fs.promises.stat`; 30,000 small reads (open, fstat, read, close) take ≈0.15 s
 * synchronously, ≈0.6 s with callbacks 32–64 at a time and ≈1.7 s with `fs.promises` FileHandles
 * 32 at a time. So batches (≤ 500 files, the caller's page step) run synchronously and yield to
 * the event loop between batches; a batch of 500 stats blocks it for ≈1.5 ms, less than parsing
 * the changed cards does anyway. When a batch is slow — a network file system, a cold spinning
 * disk — the rest of the listing switches to asynchronous calls so that the event loop is not held
 * up by the file server's latency.
 *
 * Where a worker thread is available, a listing's stats are made there instead (`statAhead`,
 * stat-worker.ts), while this thread looks the batch up in the hub: a no-op of 300,000 files went
 * from 3.9 to 3.1 s. `statAll` is what remains when there is no worker.
 */
export class AdaptiveFs {
  private useSync = true;

  /**
   * Starts the stats of `paths` on the worker thread (stat-worker.ts), for the caller to do other
   * work meanwhile; null when there is no worker (then `statAll`, on this thread, after).
   */
  statAhead(paths: readonly string[]): Promise<StatOutcome[] | null> | null {
    return statWorkerUsable() ? statInWorker(paths) : null;
  }

  async statAll(paths: readonly string[]): Promise<StatOutcome[]> {
    if (!this.useSync) return mapBounded(paths, ASYNC_STAT_CONCURRENCY, statAsync);
    const t0 = performance.now();
    const out = paths.map(statSync);
    this.afterSyncBatch(t0);
    await yieldToEventLoop();
    return out;
  }

  /**
   * The next `size` entries of an open folder (fewer only at its end). `fs.Dir.read()` is one
   * promise per entry and a trip to the thread pool per 1,024: a no-op listing of 300,000 files
   * spent ≈0.4 s of it waiting.
   */
  async readDir(dir: fs.Dir, size: number): Promise<fs.Dirent[]> {
    const out: fs.Dirent[] = [];
    if (this.useSync) {
      const t0 = performance.now();
      while (out.length < size) {
        const d = dir.readSync();
        if (d === null) break;
        out.push(d);
      }
      this.afterSyncBatch(t0);
      return out;
    }
    while (out.length < size) {
      const d = await dir.read();
      if (d === null) break;
      out.push(d);
    }
    return out;
  }

  /**
   * Reads files; `sizes` (from the listing stat, undefined when there was none) sends big files to
   * the asynchronous path.
   */
  async readAll(paths: readonly string[], sizes: readonly (bigint | undefined)[]): Promise<ReadOutcome[]> {
    const out = new Array<ReadOutcome>(paths.length);
    const later: number[] = [];
    if (this.useSync) {
      const t0 = performance.now();
      paths.forEach((p, i) => {
        const size = sizes[i];
        if (size !== undefined && size > MAX_SYNC_READ_BYTES_N) later.push(i);
        else {
          // Without a listing stat, the read's fstat says whether the file is small enough.
          const r = readOutcome(() => readFileWithStatSync(p, MAX_SYNC_READ_BYTES));
          if (r === null) later.push(i);
          else out[i] = r;
        }
      });
      this.afterSyncBatch(t0);
    } else {
      later.push(...paths.keys());
    }
    await mapBounded(later, ASYNC_READ_CONCURRENCY, async (i) => {
      out[i] = await readFileWithStat(paths[i] as string).then(
        (r): ReadOutcome => r,
        (error: unknown) => readFailure(error),
      );
    });
    if (later.length === 0) await yieldToEventLoop();
    return out;
  }

  private afterSyncBatch(t0: number): void {
    if (performance.now() - t0 > SLOW_BATCH_MS) this.useSync = false;
  }
}

function statSync(p: string): StatOutcome {
  try {
    // throwIfNoEntry: false avoids building an exception for a file deleted since readdir.
    const st = fs.statSync(p, { bigint: true, throwIfNoEntry: false });
    return st === undefined ? 'gone' : listedStat(st);
  } catch (error) {
    return { error };
  }
}

function statAsync(p: string): Promise<StatOutcome> {
  // The callback API: measurably cheaper per call than fs.promises (no FileHandle/promise plumbing).
  return new Promise((resolve) => {
    fs.stat(p, { bigint: true }, (error, st) => {
      if (error) resolve(isErrno(error, 'ENOENT') ? 'gone' : { error });
      else resolve(listedStat(st));
    });
  });
}

function readOutcome(read: () => FileRead | null): ReadOutcome | null {
  try {
    return read();
  } catch (error) {
    return readFailure(error);
  }
}

function readFailure(error: unknown): ReadOutcome {
  return isErrno(error, 'ENOENT') || error instanceof NotAFileError ? 'gone' : { error };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const cp1252 = new TextDecoder('latin1');

/**
 * Decodes a vCard file. RFC 6350 §3.1 makes UTF-8 the only charset of vCard 4.0, but 2.1 and 3.0
 * exports from older tools (Outlook, old phones) are often Windows-1252; rather than filling names
 * with U+FFFD, such bytes are read as Windows-1252 and the caller reports it. A UTF-8 BOM is dropped.
 */
export function decodeVcf(buf: Uint8Array): { text: string; notUtf8: boolean } {
  try {
    return { text: utf8.decode(buf), notUtf8: false };
  } catch {
    return { text: cp1252.decode(buf), notUtf8: true };
  }
}

function checkReadable(st: BigIntStats): void {
  if (!st.isFile()) throw new NotAFileError();
  if (st.size > BigInt(MAX_ITEM_BYTES)) throw new FileTooLargeError(st.size);
}

/**
 * Reads a file and the stat of the very file read (one open descriptor), so the etag always belongs
 * to the content: writers that replace files by rename (us, vdirsyncer) swap the inode, and the open
 * descriptor keeps the one that was stat'ed. Throws ENOENT when the file is absent.
 */
export function readFileWithStatSync(p: string): FileRead;
/** …or null, without reading, when the file is bigger than `maxBytes` (to be read asynchronously). */
export function readFileWithStatSync(p: string, maxBytes: number): FileRead | null;
export function readFileWithStatSync(p: string, maxBytes?: number): FileRead | null {
  const fd = fs.openSync(p, 'r');
  try {
    const stat = fs.fstatSync(fd, { bigint: true });
    checkReadable(stat);
    if (maxBytes !== undefined && stat.size > BigInt(maxBytes)) return null;
    return { stat, ...decodeVcf(fs.readFileSync(fd)) };
  } finally {
    fs.closeSync(fd);
  }
}

/** The asynchronous `readFileWithStatSync`, on the callback API (see `AdaptiveFs` for why). */
export async function readFileWithStat(p: string): Promise<FileRead> {
  const fd = await new Promise<number>((res, rej) => fs.open(p, 'r', (e, v) => (e ? rej(e) : res(v))));
  try {
    const stat = await new Promise<BigIntStats>((res, rej) =>
      fs.fstat(fd, { bigint: true }, (e, v) => (e ? rej(e) : res(v))),
    );
    checkReadable(stat);
    const buf = await new Promise<Buffer>((res, rej) => fs.readFile(fd, (e, v) => (e ? rej(e) : res(v))));
    return { stat, ...decodeVcf(buf) };
  } finally {
    await new Promise<void>((res) => fs.close(fd, () => res()));
  }
}

/** Stats a path; null when it does not exist. */
export async function statOrNull(p: string, io: WriteFs): Promise<BigIntStats | null> {
  return io.op(
    () => fs.statSync(p, { bigint: true, throwIfNoEntry: false }) ?? null,
    () =>
      new Promise((resolve, reject) => {
        fs.stat(p, { bigint: true }, (e, st) => (e ? (isErrno(e, 'ENOENT') ? resolve(null) : reject(e)) : resolve(st)));
      }),
  );
}

export async function unlinkQuietly(p: string, io: WriteFs): Promise<void> {
  try {
    await io.op(
      () => fs.unlinkSync(p),
      () => new Promise<void>((res, rej) => fs.unlink(p, (e) => (e ? rej(e) : res()))),
    );
  } catch {
    // Best effort: a temp file that cannot be removed is hidden and ignored by listings.
  }
}

/** Synchronous operations are given up once they take longer than this on average… */
const SLOW_SYNC_MEAN_MS = 0.5;
/** …over at least this many (the first calls of a process are slower, and one can wait long). */
const SYNC_SAMPLE = 64;

/**
 * Runs the small file operations of `get` and of writes (open, write, stat, link, rename, unlink,
 * close) synchronously while the file system is fast, and asynchronously for good once it is not:
 * the trade `AdaptiveFs` makes for listings, one call at a time. Through `fs.promises`, each of
 * these calls is a round trip through libuv's thread pool plus a FileHandle and promises; a create
 * made 7–8 of them, for system calls of a few microseconds on a local disk. `fsync` is the
 * exception and always goes through the pool (`fsyncFd`): it waits for the disk, and parallel
 * writes overlap their fsyncs there.
 *
 * The decision is on the mean time of a call, not on single slow calls: on a local disk busy with
 * fsyncs, creating a file now and then waits for a journal commit (milliseconds), while its mean
 * stays around 0.1 ms (measured on ext4 under load); a network file system pays a round trip on
 * every call.
 */
export class WriteFs {
  private calls = 0;
  private totalMs = 0;
  private useSync = true;

  /** True while calls are fast enough to be made synchronously (here or on the write worker). */
  get fast(): boolean {
    return this.useSync;
  }

  /** Counts synchronous calls made elsewhere (the write worker) towards the same judgement. */
  account(ms: number, calls: number): void {
    this.totalMs += ms;
    this.calls += calls;
    if (this.calls >= SYNC_SAMPLE && this.totalMs > SLOW_SYNC_MEAN_MS * this.calls) this.useSync = false;
  }

  op<T>(sync: () => T, async: () => Promise<T>): T | Promise<T> {
    if (!this.useSync) return async();
    const t0 = performance.now();
    try {
      return sync();
    } finally {
      this.account(performance.now() - t0, 1);
    }
  }
}

/** fsync on the thread pool (callback API: no FileHandle needed for a descriptor we hold). */
export function fsyncFd(fd: number): Promise<void> {
  return new Promise((res, rej) => fs.fsync(fd, (e) => (e ? rej(e) : res())));
}

function closeFd(fd: number, io: WriteFs): void | Promise<void> {
  return io.op(
    () => fs.closeSync(fd),
    () => new Promise<void>((res, rej) => fs.close(fd, (e) => (e ? rej(e) : res()))),
  );
}

/**
 * Reads an item for `get`/`update` like `readFileWithStatSync`, synchronously while the file system
 * is fast. A file bigger than `MAX_SYNC_READ_BYTES` (a large PHOTO) is read asynchronously.
 */
export async function readItemFile(p: string, io: WriteFs): Promise<FileRead> {
  const small = await io.op(
    () => readFileWithStatSync(p, MAX_SYNC_READ_BYTES),
    async () => null,
  );
  return small ?? readFileWithStat(p);
}

export interface TempFile {
  path: string;
  /** The stat after writing and fsync: its etag is the final item's etag. */
  stat: BigIntStats;
}

/**
 * Writes `text` to a new hidden temp file beside `finalName` and fsyncs it, so that the later
 * `link`/`rename` publishes complete content even after a power cut (without the fsync, a crash
 * can leave the new name pointing at an empty file on ext4/XFS with delayed allocation).
 * `mode` copies the permissions of the file being replaced. The temp file is removed on failure.
 *
 * The stat is taken after the fsync: on NFS the server stamps the modification time when the data
 * reaches it, i.e. at the flush, so an earlier stat could give the item a stale etag.
 */
export async function writeTempFile(folder: string, finalName: string, text: string, io: WriteFs, mode?: number): Promise<TempFile> {
  const tmp = path.join(folder, tempFileName(finalName));
  // 'wx': O_CREAT|O_EXCL, so a name clash can never overwrite anything.
  const fd = await io.op(
    () => fs.openSync(tmp, 'wx'),
    () => new Promise<number>((res, rej) => fs.open(tmp, 'wx', (e, v) => (e ? rej(e) : res(v)))),
  );
  let open = true;
  try {
    await io.op(
      () => {
        if (mode !== undefined) fs.fchmodSync(fd, mode & 0o7777);
        fs.writeFileSync(fd, text, 'utf8');
      },
      async () => {
        if (mode !== undefined) await new Promise<void>((res, rej) => fs.fchmod(fd, mode & 0o7777, (e) => (e ? rej(e) : res())));
        await new Promise<void>((res, rej) => fs.writeFile(fd, text, 'utf8', (e) => (e ? rej(e) : res())));
      },
    );
    await fsyncFd(fd);
    const stat = await io.op(
      () => fs.fstatSync(fd, { bigint: true }),
      () => new Promise<BigIntStats>((res, rej) => fs.fstat(fd, { bigint: true }, (e, v) => (e ? rej(e) : res(v)))),
    );
    open = false;
    await closeFd(fd, io);
    return { path: tmp, stat };
  } catch (e) {
    if (open) {
      try {
        await closeFd(fd, io);
      } catch {
        // The write failed already; that error is the one to report.
      }
    }
    await unlinkQuietly(tmp, io);
    throw e;
  }
}

/**
 * fsyncs a directory so that a created, renamed or removed name survives a crash (POSIX makes the
 * entry durable only when the directory is synced). Concurrent writers share syncs: a call made
 * while a sync runs waits for the next one, which covers every change made before it started, and
 * the calls of one turn of the event loop share one, so N parallel writes cost about one directory
 * fsync instead of N.
 *
 * Where a directory cannot be opened or synced (Windows, some network file systems), syncing is
 * skipped for good: the write itself has already happened and the rename is still atomic.
 */
export class DirSyncer {
  /** The fsync under way, settled (never rejects) when it ends. */
  private running: Promise<void> | null = null;
  /** The next fsync, not started yet: every caller until it starts shares it. */
  private next: Promise<void> | null = null;
  private supported = true;

  constructor(
    private readonly dir: string,
    private readonly io: WriteFs = new WriteFs(),
  ) {}

  sync(): Promise<void> {
    if (!this.supported) return Promise.resolve();
    // A sync starts one turn of the event loop after it is asked for (and after the one under way),
    // so that the callers of that turn share it: the write worker answers a batch of writes in one
    // message, and when the first answer started the fsync at once, the batch's other writes waited
    // for a second one and finished later than the first, which the spoke's next writes then
    // followed as a batch of one and a batch of the rest.
    this.next ??= (this.running ?? Promise.resolve())
      .then(() => new Promise<void>((resolve) => setImmediate(resolve)))
      .then(() => {
        this.next = null;
        if (!this.supported) return;
        const run = this.run();
        const settled: Promise<void> = run.then(
          () => undefined,
          () => undefined,
        ).then(() => {
          if (this.running === settled) this.running = null;
        });
        this.running = settled;
        return run;
      });
    return this.next;
  }

  private async run(): Promise<void> {
    let fd: number;
    try {
      fd = await this.io.op(
        () => fs.openSync(this.dir, 'r'),
        () => new Promise<number>((res, rej) => fs.open(this.dir, 'r', (e, v) => (e ? rej(e) : res(v)))),
      );
    } catch (e) {
      if (isErrno(e, 'EISDIR', 'EPERM', 'EACCES', 'ENOTSUP', 'EOPNOTSUPP', 'EINVAL')) {
        this.supported = false;
        return;
      }
      throw e;
    }
    try {
      await fsyncFd(fd);
    } catch (e) {
      if (isErrno(e, 'EINVAL', 'ENOTSUP', 'EOPNOTSUPP', 'EBADF', 'EPERM')) this.supported = false;
      else throw e;
    } finally {
      await closeFd(fd, this.io);
    }
  }
}
