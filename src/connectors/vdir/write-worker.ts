/**
 * The file system calls of the vdir spoke's writes, made on a worker thread.
 *
 * A create is open, write, fsync, fstat, close, link and unlink; an update adds a stat and a
 * rename. On the main thread these were a tenth of a 100,000-contact first sync's time there
 * (`perf` of the benchmark: `openat` 4 %, `link` 2.4 %, `unlink` 1.4 %, … of its samples, mostly
 * ext4's directory work in folders of 100,000 entries), while the second core idled; the main
 * thread is busy for the whole sync, so what it does not do is time saved. Here a worker does them,
 * a batch of jobs per message: the jobs that the spoke's concurrent writes submit in one turn of
 * the event loop. Only strings cross the thread boundary (the text written, stat numbers as
 * decimal strings, error codes); the vCard itself is still made, and its echo parsed, by the caller.
 *
 * Each job runs the same steps, in the same order and with the same guarantees, as the
 * main-thread path in vdir-connector.ts and fs-io.ts (which stays for when no worker can be had):
 * the temp file is fsynced before it is published, `link` never replaces a file, an update checks
 * the etag again just before its `rename`, and the temp file is removed on every failure. Its
 * fsync goes through the thread pool (a callback), so the fsyncs of concurrent writes overlap as
 * before; the other calls are synchronous inside the worker.
 *
 * One worker per process (eval-worker.ts), shared by every vdir spoke; it only needs `node:fs`.
 */
import { EvalWorker } from './eval-worker.js';

/** Publish a new file under `final` (never replacing one): the `client-id` create. */
export interface CreateJob {
  kind: 'create';
  tmp: string;
  final: string;
  text: string;
}

/** Replace `final`, if its etag is still `expect`, keeping `mode`. */
export interface ReplaceJob {
  kind: 'replace';
  tmp: string;
  final: string;
  text: string;
  mode: number;
  expect: string;
}

export type WriteJob = CreateJob | ReplaceJob;

/**
 * - `written`: done; the temp file's stat after its fsync (its etag is the item's).
 * - `exists`: `final` was there already (a create only); nothing was published.
 * - `gone` / `changed`: an update's file was deleted or changed since it was read; nothing was written.
 * - `failed`: a system call failed (`error` carries its `code`); nothing was published.
 * `syncMs`/`calls`: time spent in the synchronous calls, for `WriteFs`'s fast-disk judgement.
 */
export type WriteReply = (
  | { kind: 'written'; mtimeNs: bigint; size: bigint }
  | { kind: 'exists' | 'gone' | 'changed' }
  | { kind: 'failed'; error: Error }
) & { syncMs: number; calls: number };

// Replies travel as plain arrays: [kind, a, b, syncMs, calls], where a/b are mtimeNs/size for
// 'written' and code/message for 'failed'.
const SOURCE = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const { performance } = require('node:perf_hooks');
const LINK_UNSUPPORTED = ['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS'];
parentPort.on('message', ({ id, jobs }) => {
  const out = new Array(jobs.length);
  let left = jobs.length;
  jobs.forEach((job, i) => run(job, (r) => {
    out[i] = r;
    if (--left === 0) parentPort.postMessage({ id, out });
  }));
});
function quietUnlink(p) { try { fs.unlinkSync(p); } catch {} }
function quietClose(fd) { try { fs.closeSync(fd); } catch {} }
// Publishes the fsynced temp file under its final name, never replacing a file: 'written', 'exists'
// or the error.
function publish(job, timed) {
  try {
    timed(() => fs.linkSync(job.tmp, job.final));
    return 'written';
  } catch (e) {
    if (e && e.code === 'EEXIST') return 'exists';
    if (!(e && LINK_UNSUPPORTED.includes(e.code))) return e;
  }
  // No hard links here (FAT, exFAT, some SMB mounts): check the name, then rename.
  try {
    if (timed(() => fs.lstatSync(job.final, { throwIfNoEntry: false })) !== undefined) return 'exists';
    timed(() => fs.renameSync(job.tmp, job.final));
    return 'written';
  } catch (e) {
    return e;
  }
}
function run(job, reply) {
  let ms = 0, calls = 0;
  const timed = (fn) => { const t0 = performance.now(); try { return fn(); } finally { ms += performance.now() - t0; calls++; } };
  const answer = (kind, a, b) => reply([kind, a, b, ms, calls]);
  const failed = (e) => answer('failed', e && e.code, e && e.message);
  let fd;
  try {
    fd = timed(() => fs.openSync(job.tmp, 'wx'));
  } catch (e) { return failed(e); }
  try {
    timed(() => {
      if (job.kind === 'replace') fs.fchmodSync(fd, job.mode & 0o7777);
      fs.writeFileSync(fd, job.text, 'utf8');
    });
  } catch (e) { quietClose(fd); quietUnlink(job.tmp); return failed(e); }
  fs.fsync(fd, (err) => {
    let st;
    try {
      if (err) throw err;
      st = timed(() => fs.fstatSync(fd, { bigint: true }));
    } catch (e) { quietClose(fd); quietUnlink(job.tmp); return failed(e); }
    try { timed(() => fs.closeSync(fd)); } catch (e) { quietUnlink(job.tmp); return failed(e); }
    const written = () => answer('written', String(st.mtimeNs), String(st.size));
    if (job.kind === 'create') {
      // The temp name is removed before answering, so the caller's directory fsync covers it too.
      const result = publish(job, timed);
      timed(() => quietUnlink(job.tmp));
      return result === 'written' ? written() : result === 'exists' ? answer('exists') : failed(result);
    }
    try {
      const now = timed(() => fs.statSync(job.final, { bigint: true, throwIfNoEntry: false }));
      if (now === undefined) { quietUnlink(job.tmp); return answer('gone'); }
      if (now.mtimeNs + '-' + now.size !== job.expect) { quietUnlink(job.tmp); return answer('changed'); }
      timed(() => fs.renameSync(job.tmp, job.final));
      return written();
    } catch (e) {
      quietUnlink(job.tmp);
      return failed(e);
    }
  });
}
`;

type RawReply = [kind: WriteReply['kind'], a: string | undefined, b: string | undefined, syncMs: number, calls: number];

const worker = new EvalWorker<{ id: number; out: RawReply[] }>(SOURCE, 'write worker');
let queued: { job: WriteJob; resolve: (r: WriteReply | null) => void }[] = [];
let flushScheduled = false;

/** False once a worker could not be started or died (and not before anyone tried). */
export function writeWorkerUsable(): boolean {
  return worker.usable;
}

function decode([kind, a, b, syncMs, calls]: RawReply): WriteReply {
  const t = { syncMs, calls };
  if (kind === 'written') return { kind, mtimeNs: BigInt(a as string), size: BigInt(b as string), ...t };
  if (kind === 'failed') return { kind, error: Object.assign(new Error(b ?? 'write failed'), a ? { code: a } : {}), ...t };
  return { kind, ...t };
}

function flush(): void {
  flushScheduled = false;
  const batch = queued;
  queued = [];
  worker.ask({ jobs: batch.map((q) => q.job) }).then(
    (a) => batch.forEach((q, i) => q.resolve(a === null ? null : decode(a.out[i] as RawReply))),
    // The worker died mid-batch: whether a job's file was published is unknown. Answer with a
    // failure rather than null, so the caller does not write the same item again on its own
    // thread; the engine treats the write as uncertain and its intent finds out (a `client-id`
    // create that happened is found by its marker).
    (e: Error) => batch.forEach((q) => q.resolve({ kind: 'failed', error: e, syncMs: 0, calls: 0 })),
  );
}

/**
 * Runs a write's file calls on the worker thread. Null when no worker can be had (before anything
 * was done): the caller makes the write on its own thread then.
 */
export function writeInWorker(job: WriteJob): Promise<WriteReply | null> {
  if (!worker.usable) return Promise.resolve(null);
  return new Promise((resolve) => {
    queued.push({ job, resolve });
    if (!flushScheduled) {
      flushScheduled = true;
      // Every write the spoke's concurrent calls submit in this turn of the event loop goes in one message.
      setImmediate(flush);
    }
  });
}
