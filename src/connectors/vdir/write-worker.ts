/**
 * The file system calls of the vdir spoke's writes, made on a worker thread.
 *
 * A create is open, write, flush, fstat, close, link and unlink; an update adds a stat and a
 * rename. On the main thread these were a tenth of a 100,000-contact first sync's time there
 * (`perf` of the benchmark: `openat` 4 %, `link` 2.4 %, `unlink` 1.4 %, … of its samples, mostly
 * ext4's directory work in folders of 100,000 entries), while the second core idled; the main
 * thread is busy for the whole sync, so what it does not do is time saved. Here a worker does them,
 * a batch of jobs per message: the jobs that the spoke's concurrent writes submit in one turn of
 * the event loop, up to `MAX_JOBS_PER_MESSAGE` a message. Only strings cross the thread boundary
 * (the text written, stat numbers as decimal strings, error codes); the vCard itself is still made,
 * and its echo parsed, by the caller.
 *
 * Each job runs the same steps, in the same order and with the same guarantees, as the
 * main-thread path in vdir-connector.ts and fs-io.ts (which stays for when no worker can be had):
 * the temp file is flushed to the disk before it is published, `link` never replaces a file, an
 * update checks the etag again just before its `rename`, and the temp file is removed on every
 * failure. The flush is where the worker differs: the temp files of a message's jobs are written
 * first, then flushed together by one `syncfs` per file system (below) and published after it; a
 * folder's jobs fewer than `SYNCFS_MIN_BATCH`, or any where `syncfs` cannot be had, fsync their own
 * files through the thread pool (a callback, so the fsyncs of concurrent writes overlap). The other
 * calls are synchronous inside the worker.
 *
 * One worker per process (eval-worker.ts), shared by every vdir spoke; it needs only Node's own
 * modules (and, for `syncfs`, a shell and coreutils' `sync`).
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
 * - `written`: done; the temp file's stat after its flush (its etag is the item's).
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

/**
 * A folder's temp files in one message are flushed by one `syncfs` from this many on; fewer fsync
 * each file (a syncfs flushes the whole file system, and one fsync is as cheap as one syncfs).
 */
const SYNCFS_MIN_BATCH = 4;

// Replies travel as plain arrays: [kind, a, b, syncMs, calls], where a/b are mtimeNs/size for
// 'written' and code/message for 'failed'.
const SOURCE = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { performance } = require('node:perf_hooks');
const LINK_UNSUPPORTED = ['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS'];
const MIN_BATCH = ${SYNCFS_MIN_BATCH};
parentPort.on('message', ({ id, jobs }) => {
  const out = new Array(jobs.length);
  let left = jobs.length;
  const replyTo = (i) => (r) => {
    out[i] = r;
    if (--left === 0) parentPort.postMessage({ id, out });
  };
  const byFolder = new Map();
  jobs.forEach((job, i) => {
    const dir = path.dirname(job.final);
    const group = byFolder.get(dir);
    if (group) group.push(i);
    else byFolder.set(dir, [i]);
  });
  for (const [dir, indexes] of byFolder) {
    const staged = [];
    for (const i of indexes) {
      const s = stage(jobs[i], replyTo(i));
      if (s !== null) staged.push(s);
    }
    if (staged.length >= MIN_BATCH && syncfs.usableFor(dir)) {
      syncfs.request(dir, (ok) => staged.forEach((s) => (ok ? fs.fdatasync(s.fd, (err) => finish(s, err)) : fsyncThenFinish(s))));
    } else {
      staged.forEach(fsyncThenFinish);
    }
  }
  syncfs.start();
});

// One syncfs(2) for a batch of temp files instead of a flush of the disk per file. Node has no
// binding for it, so a small shell runs coreutils' 'sync -f DIR' per request, one line in and one
// line out. Each fsync of a new file waits for its own flush of the disk's write cache (on ext4
// with a journal, its own journal commit); a 100,000-contact first sync made 166,000 of them and
// its pushes waited for the disk (docs/benchmarks.md). After the syncfs each file still gets an
// fdatasync of its own, which finds its data already written: it is there for its error. syncfs
// reports only the errors seen since its own descriptor was opened (syncfs(2), Linux 5.8 and later;
// none at all before), and 'sync -f' opens the folder after our writes, so a background writeback
// failing in between would go unseen; the fdatasync of a descriptor opened before the write reports
// it (the same errseq check an fsync makes). A syncfs flushes a whole file system, so requests are
// kept per file system (the folder's st_dev, read at each request), not per folder: the spokes of a
// hub whose folders share a disk share its syncs, which the one shell makes one after another.
// Requests made while a sync of their file system runs wait for the next one (their files may have
// been written after it started). Any failure (no sh, a sync without -f, an error) sends this batch
// and every later one back to per-file fsyncs.
const syncfs = {
  broken: process.platform !== 'linux',
  proc: null,
  answers: [],
  devices: new Map(),
  usableFor(dir) {
    return !this.broken && !dir.includes('\\n');
  },
  request(dir, done) {
    // Unknown (the stat failed): a sync of its own, which then reports the trouble.
    let key = 'folder:' + dir;
    try { key = 'dev:' + fs.statSync(dir).dev; } catch {}
    let d = this.devices.get(key);
    if (!d) this.devices.set(key, (d = { running: false, next: [], dir }));
    // Any folder of the file system names it to 'sync -f'; the one asked last is the likeliest
    // to be there still.
    d.dir = dir;
    d.next.push(done);
  },
  // After a message's folders are all staged: one sync per file system with requests waiting.
  start() {
    for (const d of this.devices.values()) if (!d.running && d.next.length > 0) this.send(d);
  },
  send(d) {
    const waiting = d.next;
    d.next = [];
    d.running = true;
    this.ask(d.dir, (ok) => {
      d.running = false;
      if (d.next.length > 0) this.send(d);
      waiting.forEach((done) => done(ok));
    });
  },
  ask(dir, answer) {
    const proc = this.helper();
    if (proc === null) return answer(false);
    this.answers.push(answer);
    proc.stdin.write(dir + '\\n');
  },
  helper() {
    if (this.broken) return null;
    if (this.proc !== null) return this.proc;
    const script = 'while IFS= read -r d; do if sync -f -- "$d" 2>/dev/null; then echo 0; else echo 1; fi; done';
    let proc;
    try {
      proc = spawn('sh', ['-c', script], { stdio: ['pipe', 'pipe', 'ignore'] });
    } catch {
      this.broken = true;
      return null;
    }
    const fail = () => {
      this.broken = true;
      this.proc = null;
      this.answers.splice(0).forEach((answer) => answer(false));
      try { proc.kill(); } catch {}
    };
    let buffered = '';
    proc.stdout.setEncoding('utf8');
    proc.stdout.on('data', (chunk) => {
      buffered += chunk;
      let nl;
      while ((nl = buffered.indexOf('\\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (line !== '0') return fail();
        const answer = this.answers.shift();
        if (answer) answer(true);
      }
    });
    proc.on('error', fail);
    proc.on('exit', fail);
    proc.stdin.on('error', fail);
    this.proc = proc;
    return proc;
  },
};
function quietUnlink(p) { try { fs.unlinkSync(p); } catch {} }
function quietClose(fd) { try { fs.closeSync(fd); } catch {} }
// Publishes the flushed temp file under its final name, never replacing a file: 'written', 'exists'
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
// Writes the job's temp file, left open for its flush: { job, fd, timed, answer, failed }, or null
// when it failed (and was answered).
function stage(job, reply) {
  let ms = 0, calls = 0;
  const timed = (fn) => { const t0 = performance.now(); try { return fn(); } finally { ms += performance.now() - t0; calls++; } };
  const answer = (kind, a, b) => reply([kind, a, b, ms, calls]);
  const failed = (e) => answer('failed', e && e.code, e && e.message);
  let fd;
  try {
    fd = timed(() => fs.openSync(job.tmp, 'wx'));
  } catch (e) { failed(e); return null; }
  try {
    timed(() => {
      if (job.kind === 'replace') fs.fchmodSync(fd, job.mode & 0o7777);
      fs.writeFileSync(fd, job.text, 'utf8');
    });
  } catch (e) { quietClose(fd); quietUnlink(job.tmp); failed(e); return null; }
  return { job, fd, timed, answer, failed };
}
// The fsync goes through the thread pool (a callback), so the fsyncs of concurrent writes overlap.
function fsyncThenFinish(s) {
  fs.fsync(s.fd, (err) => finish(s, err));
}
// After the temp file's flush: its stat (on NFS the server stamps the time at the flush), then the
// create's link or the update's etag check and rename.
function finish({ job, fd, timed, answer, failed }, err) {
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
}
`;

type RawReply = [kind: WriteReply['kind'], a: string | undefined, b: string | undefined, syncMs: number, calls: number];

/**
 * A turn's writes go to the worker in messages of at most this many. A message is answered when
 * its last file is flushed and published, so one message per spoke left the worker idle while the
 * flush ran and the spoke idle until all of it was done; with two, the worker stages the second's
 * files while the first's `syncfs` runs, and their flush follows right after.
 */
const MAX_JOBS_PER_MESSAGE = 64;

const worker = new EvalWorker<{ id: number; out: RawReply[] }>(SOURCE, 'write worker');
const queued: { job: WriteJob; resolve: (r: WriteReply | null) => void }[] = [];
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
  while (queued.length > 0) send(queued.splice(0, MAX_JOBS_PER_MESSAGE));
}

function send(batch: typeof queued): void {
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
      // The writes the spoke's concurrent calls submit in this turn of the event loop go together.
      setImmediate(flush);
    }
  });
}
