/**
 * Where `sync -f` fails (an old coreutils or busybox without it, an I/O error), the write worker's
 * batch falls back to an fsync per file, publishes every write all the same, and never tries
 * `syncfs` again in this process (test/support/sync-stub.ts; a process of its own for this file).
 */
import fsp from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeInWorker } from '../../src/connectors/vdir/write-worker.js';
import { syncfsExpected, useSyncStubAndFolder } from '../support/sync-stub.js';

const TEXT = 'BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ann Example\r\nEND:VCARD\r\n';

describe('vdir write worker: a failing syncfs', () => {
  const t = useSyncStubAndFolder({ fail: true });

  it('falls back to per-file fsyncs for that batch and for good', async () => {
    const batch = (tag: string) =>
      Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          writeInWorker({ kind: 'create', tmp: path.join(t.dir, `.${tag}${i}.tmp-1`), final: path.join(t.dir, `${tag}${i}.vcf`), text: `${TEXT}${tag}${i}` }),
        ),
      );
    expect((await batch('a')).map((r) => r?.kind)).toEqual(Array(10).fill('written'));
    expect((await batch('b')).map((r) => r?.kind)).toEqual(Array(10).fill('written'));
    expect(await fsp.readFile(path.join(t.dir, 'a3.vcf'), 'utf8')).toBe(`${TEXT}a3`);
    expect(await fsp.readFile(path.join(t.dir, 'b9.vcf'), 'utf8')).toBe(`${TEXT}b9`);
    expect((await fsp.readdir(t.dir)).filter((n) => n.startsWith('.'))).toEqual([]);
    // Asked once (the first batch), never again.
    expect(t.stub.calls()).toEqual(syncfsExpected() ? [['-f', '--', t.dir]] : []);
  });
});
