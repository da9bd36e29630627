import { describe, expect, it } from 'vitest';
import { PlanGuard } from '../../src/engine/run/plan-guard.js';

/** A promise and the function that settles it, to hold a section open from the test. */
function gate(): { open: Promise<void>; release: () => void } {
  let release = () => undefined as void;
  const open = new Promise<void>((r) => (release = r));
  return { open, release };
}
const ticks = async (n = 5) => {
  for (let i = 0; i < n; i++) await Promise.resolve();
};

describe('PlanGuard (concurrent pushes: deletes against hub merges)', () => {
  it('lets shared holders run together and keeps the exclusive holder out until they are done', async () => {
    const g = new PlanGuard();
    const log: string[] = [];
    const a = gate();
    const b = gate();
    const r1 = g.shared(async () => {
      log.push('r1 in');
      await a.open;
      log.push('r1 out');
    });
    const r2 = g.shared(async () => {
      log.push('r2 in');
      await b.open;
      log.push('r2 out');
    });
    const w = g.exclusive(async () => {
      log.push('w in');
    });
    await ticks();
    expect(log).toEqual(['r1 in', 'r2 in']);
    a.release();
    await ticks();
    expect(log).toEqual(['r1 in', 'r2 in', 'r1 out']);
    b.release();
    await Promise.all([r1, r2, w]);
    expect(log).toEqual(['r1 in', 'r2 in', 'r1 out', 'r2 out', 'w in']);
  });

  it('queues new shared holders behind a waiting exclusive one, so a stream of deletes cannot starve a merge', async () => {
    const g = new PlanGuard();
    const log: string[] = [];
    const a = gate();
    const r1 = g.shared(async () => {
      await a.open;
      log.push('r1');
    });
    const w = g.exclusive(async () => {
      log.push('w');
    });
    const r2 = g.shared(async () => {
      log.push('r2');
    });
    await ticks();
    expect(log).toEqual([]);
    a.release();
    await Promise.all([r1, w, r2]);
    expect(log).toEqual(['r1', 'w', 'r2']);
  });

  it('releases the hold when the section throws', async () => {
    const g = new PlanGuard();
    await expect(g.exclusive(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(g.shared(async () => 'ok')).resolves.toBe('ok');
    await expect(g.exclusive(async () => 'done')).resolves.toBe('done');
  });
});
