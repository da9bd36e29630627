/**
 * The worker-thread plumbing the vdir spoke's stat and write workers share: answers by id, and what
 * callers see when the thread dies (a rejection for what was in flight, then null for good, so that
 * they do the work on their own thread).
 */
import { describe, expect, it } from 'vitest';
import { EvalWorker } from '../../src/connectors/vdir/eval-worker.js';

// Echoes `n * 2`, answers out of order (the larger n first), and exits when asked to.
const SOURCE = `
const { parentPort } = require('node:worker_threads');
parentPort.on('message', (m) => {
  if (m.exit) process.exit(3);
  setTimeout(() => parentPort.postMessage({ id: m.id, doubled: m.n * 2 }), m.n > 5 ? 0 : 20);
});
`;

describe('vdir: EvalWorker', () => {
  it('answers each request with its own answer, whatever order they come back in', async () => {
    const w = new EvalWorker<{ id: number; doubled: number }>(SOURCE, 'test worker');
    const answers = await Promise.all([1, 10, 3].map((n) => w.ask({ n })));
    expect(answers.map((a) => a?.doubled)).toEqual([2, 20, 6]);
    expect(w.usable).toBe(true);
  });

  it('rejects what was in flight when the thread dies, then answers null for good', async () => {
    const w = new EvalWorker<{ id: number; doubled: number }>(SOURCE, 'test worker');
    const slow = w.ask({ n: 1 });
    const exit = w.ask({ exit: true });
    await expect(exit).rejects.toThrow(/the test worker exited \(code 3\)/);
    await expect(slow).rejects.toThrow(/exited/);
    expect(w.usable).toBe(false);
    expect(await w.ask({ n: 2 })).toBeNull();
  });

  it('is unusable, not throwing, when its code cannot run', async () => {
    const w = new EvalWorker<{ id: number }>('this is not javascript', 'broken worker');
    await expect(w.ask({})).rejects.toThrow();
    expect(w.usable).toBe(false);
    expect(await w.ask({})).toBeNull();
  });
});
