/**
 * A worker thread that runs a string of plain `node:fs` code, for the vdir spoke's stat and write
 * workers. The code is a string run with `eval` so that it runs the same from the TypeScript sources
 * (tests), the compiled output and the bundled CLI, none of which agree on where a worker file is.
 *
 * One thread per `EvalWorker`, made on first use and `unref`'d while idle (it never keeps the
 * process alive). Requests carry an id, answers echo it. Once the thread fails to start or dies,
 * `usable` is false for good and `ask` answers null: callers then do the work on their own thread.
 */
import { Worker } from 'node:worker_threads';

export class EvalWorker<Answer extends { id: number }> {
  private worker: Worker | null = null;
  private broken = false;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (a: Answer) => void; reject: (e: Error) => void }>();

  /** `name` is for the error of a thread that exits: "the stat worker exited (code 1)". */
  constructor(
    private readonly source: string,
    private readonly name: string,
  ) {}

  /** False once the thread could not be started or died (and not before anyone tried). */
  get usable(): boolean {
    return !this.broken;
  }

  /**
   * Sends `message` (with an `id` added) and waits for its answer. Null when no thread can be had;
   * rejects when the thread dies before answering (whatever it was doing may or may not be done).
   */
  async ask(message: Record<string, unknown>): Promise<Answer | null> {
    const w = this.thread();
    if (!w) return null;
    const id = this.nextId++;
    try {
      return await new Promise<Answer>((resolve, reject) => {
        this.waiting.set(id, { resolve, reject });
        // The thread holds no reference to the process while idle; while it works, it must.
        w.ref();
        w.postMessage({ ...message, id });
      });
    } finally {
      if (this.waiting.size === 0) this.worker?.unref();
    }
  }

  private thread(): Worker | null {
    if (this.broken) return null;
    if (this.worker) return this.worker;
    try {
      const w = new Worker(this.source, { eval: true });
      w.unref();
      w.on('message', (a: Answer) => {
        const p = this.waiting.get(a.id);
        this.waiting.delete(a.id);
        p?.resolve(a);
      });
      const fail = (e: Error) => {
        this.broken = true;
        this.worker = null;
        for (const p of this.waiting.values()) p.reject(e);
        this.waiting.clear();
      };
      w.on('error', fail);
      w.on('exit', (code) => fail(new Error(`the ${this.name} exited (code ${code})`)));
      this.worker = w;
      return w;
    } catch {
      this.broken = true;
      return null;
    }
  }
}
