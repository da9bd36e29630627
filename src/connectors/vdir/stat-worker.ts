/**
 * Stats for folder listings, made on a worker thread.
 *
 * A no-op sync of three 100,000-file folders is 300,000 stats: ≈1.3 s of the main thread's ≈5 s
 * (the system calls, and Node building a `BigIntStats` with four `Date`s for each), while the
 * second core idles. The listing asks the hub for the etags it knows of a batch (a store lookup,
 * main thread) and needs the batch's stats: here the worker stats a batch while the main thread
 * looks its ids up, so the two overlap.
 *
 * One worker per process, made on first use and `unref`'d (it never keeps the process alive), shared
 * by every listing (each request carries its own id). Its code is a string (`eval`): it must run
 * the same from the TypeScript sources (tests), the compiled output and the bundled CLI, and it
 * only calls `fs.statSync`. When a worker cannot be had, `statInWorker` answers null and the
 * caller stats on its own thread as before.
 */
import { Worker } from 'node:worker_threads';

/** What a listing needs of one entry's stat (fs-io.ts builds the same on the main thread). */
export interface ListedStat {
  file: boolean;
  size: bigint;
  /** `etagOf` of the stat: `<mtime ns>-<size>`. */
  etag: string;
}

export type WorkerStat = ListedStat | 'gone' | { error: Error };

// Answers per path: 0 gone, 1 file, 2 other (a folder, a socket), 3 error; etags (`mtimeNs-size`)
// and sizes as strings, errors as [code, message]. Plain arrays clone cheaply.
const SOURCE = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
parentPort.on('message', ({ id, paths }) => {
  const kinds = new Uint8Array(paths.length);
  const etags = new Array(paths.length);
  const errors = [];
  for (let i = 0; i < paths.length; i++) {
    try {
      const st = fs.statSync(paths[i], { bigint: true, throwIfNoEntry: false });
      if (st === undefined) { kinds[i] = 0; etags[i] = ''; continue; }
      kinds[i] = st.isFile() ? 1 : 2;
      etags[i] = st.mtimeNs + '-' + st.size;
    } catch (e) {
      kinds[i] = 3;
      etags[i] = '';
      errors.push([i, e && e.code, e && e.message]);
    }
  }
  parentPort.postMessage({ id, kinds, etags, errors });
});
`;

interface Answer {
  id: number;
  kinds: Uint8Array;
  etags: string[];
  errors: [number, string | undefined, string | undefined][];
}

let worker: Worker | null = null;
/** Set once a worker failed to start or died: the callers stat on their own thread from then on. */
let broken = false;
let nextId = 1;
const waiting = new Map<number, { resolve: (a: Answer) => void; reject: (e: Error) => void }>();

function theWorker(): Worker | null {
  if (broken) return null;
  if (worker) return worker;
  try {
    const w = new Worker(SOURCE, { eval: true });
    w.unref();
    w.on('message', (a: Answer) => {
      const p = waiting.get(a.id);
      waiting.delete(a.id);
      p?.resolve(a);
    });
    const fail = (e: Error) => {
      broken = true;
      worker = null;
      for (const p of waiting.values()) p.reject(e);
      waiting.clear();
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`the stat worker exited (code ${code})`)));
    worker = w;
    return w;
  } catch {
    broken = true;
    return null;
  }
}

/** False once a worker could not be started or died (and not before anyone tried). */
export function statWorkerUsable(): boolean {
  return !broken;
}

/**
 * Stats `paths` on the worker thread. Null when no worker can be had or the worker failed: the
 * caller stats on its own thread then (nothing of a listing is lost, only the overlap).
 */
export async function statInWorker(paths: readonly string[]): Promise<WorkerStat[] | null> {
  const w = theWorker();
  if (!w) return null;
  const id = nextId++;
  let a: Answer;
  try {
    a = await new Promise<Answer>((resolve, reject) => {
      waiting.set(id, { resolve, reject });
      // The worker holds no reference to the process while idle; while it answers, it must.
      w.ref();
      w.postMessage({ id, paths });
    });
  } catch {
    return null;
  } finally {
    if (waiting.size === 0) worker?.unref();
  }
  const out = new Array<WorkerStat>(paths.length);
  for (let i = 0; i < paths.length; i++) {
    const kind = a.kinds[i];
    if (kind === 0) out[i] = 'gone';
    else if (kind !== 3) {
      const etag = a.etags[i] as string;
      out[i] = { file: kind === 1, size: BigInt(etag.slice(etag.lastIndexOf('-') + 1)), etag };
    }
  }
  for (const [i, code, message] of a.errors) out[i] = { error: Object.assign(new Error(message ?? 'stat failed'), code ? { code } : {}) };
  return out;
}
