/**
 * Stats for folder listings, made on a worker thread.
 *
 * A no-op sync of three 100,000-file folders is 300,000 stats: ≈1.3 s of the main thread's ≈5 s
 * (the system calls, and Node building a `BigIntStats` with four `Date`s for each), while the
 * second core idles. The listing asks the hub for the etags it knows of a batch (a store lookup,
 * main thread) and needs the batch's stats: here the worker stats a batch while the main thread
 * looks its ids up, so the two overlap.
 *
 * One worker per process (eval-worker.ts), shared by every listing; it only calls `fs.statSync`.
 * When a worker cannot be had, `statInWorker` answers null and the caller stats on its own thread
 * as before.
 */
import { EvalWorker } from './eval-worker.js';

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

const worker = new EvalWorker<Answer>(SOURCE, 'stat worker');

/** False once a worker could not be started or died (and not before anyone tried). */
export function statWorkerUsable(): boolean {
  return worker.usable;
}

/**
 * Stats `paths` on the worker thread. Null when no worker can be had or the worker failed: the
 * caller stats on its own thread then (nothing of a listing is lost, only the overlap).
 */
export async function statInWorker(paths: readonly string[]): Promise<WorkerStat[] | null> {
  const a = await worker.ask({ paths }).catch(() => null);
  if (a === null) return null;
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
