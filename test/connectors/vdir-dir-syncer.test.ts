/**
 * The folder fsyncs that make a vdir write's new name durable: concurrent writes share them, and a
 * write never rests on a sync that started before it.
 */
import fs from 'node:fs';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DirSyncer } from '../../src/connectors/vdir/fs-io.js';
import { makeTempVdir } from '../support/vdir.js';

describe('vdir: DirSyncer', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let fsyncs: number;
  beforeEach(async () => {
    ({ dir, cleanup } = await makeTempVdir('hubsync-dirsync-'));
    fsyncs = 0;
    const real = fs.fsync;
    vi.spyOn(fs, 'fsync').mockImplementation(((fd: number, cb: (e: NodeJS.ErrnoException | null) => void) => {
      fsyncs += 1;
      real(fd, cb);
    }) as typeof fs.fsync);
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    await cleanup();
  });

  it('the callers of one turn of the event loop share one fsync', async () => {
    // The write worker answers a batch in one message: every write of it asks in the same turn.
    const s = new DirSyncer(dir);
    await Promise.all(Array.from({ length: 64 }, () => s.sync()));
    expect(fsyncs).toBe(1);
  });

  it('a caller arriving after a sync started waits for the next one, which callers of its turn share', async () => {
    const s = new DirSyncer(dir);
    const first = s.sync();
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    // The first sync has started (it starts one turn after it is asked for): later callers cannot rest on it.
    const order: string[] = [];
    void first.then(() => order.push('first'));
    const later = Promise.all([s.sync(), s.sync(), s.sync()]).then(() => order.push('later'));
    await Promise.all([first, later]);
    expect(fsyncs).toBe(2);
    expect(order).toEqual(['first', 'later']);
  });
});
