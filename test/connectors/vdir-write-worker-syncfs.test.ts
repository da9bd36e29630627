/**
 * The write worker's batched flush: the temp files of many writes to one folder are flushed by one
 * `syncfs` (coreutils' `sync -f`) before any of them is published; a lone write fsyncs its own file.
 * A recording `sync` on the PATH shows which happened (test/support/sync-stub.ts); this file has a
 * process of its own (vitest's forks pool), so the worker starts with that PATH.
 */
import fsp from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeInWorker, type WriteReply } from '../../src/connectors/vdir/write-worker.js';
import { syncfsExpected, useSyncStubAndFolder } from '../support/sync-stub.js';

const TEXT = 'BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ann Example\r\nEND:VCARD\r\n';

describe('vdir write worker: one syncfs per batch of temp files', () => {
  const t = useSyncStubAndFolder({ fail: false });
  const at = (name: string) => path.join(t.dir, name);
  const create = (name: string, text: string) => writeInWorker({ kind: 'create', tmp: at(`.${name}.tmp-1`), final: at(name), text });

  it('flushes 40 writes submitted at once with one `sync -f` of their folder, then publishes them all', async () => {
    const before = t.stub.calls().length;
    await fsp.writeFile(at('old.vcf'), 'old');
    const st = await fsp.stat(at('old.vcf'), { bigint: true });
    const names = Array.from({ length: 39 }, (_, i) => `b${i}.vcf`);
    const replies = await Promise.all([
      ...names.map((n, i) => create(n, `${TEXT}${i}`)),
      writeInWorker({ kind: 'replace', tmp: at('.old.vcf.tmp-1'), final: at('old.vcf'), text: TEXT, mode: 0o644, expect: `${st.mtimeNs}-${st.size}` }),
    ]);
    expect(replies.map((r: WriteReply | null) => r?.kind)).toEqual([...names.map(() => 'written'), 'written']);
    expect(await fsp.readFile(at('b17.vcf'), 'utf8')).toBe(`${TEXT}17`);
    expect(await fsp.readFile(at('old.vcf'), 'utf8')).toBe(TEXT);
    expect((await fsp.readdir(t.dir)).filter((n) => n.startsWith('.'))).toEqual([]);
    expect(t.stub.calls().slice(before)).toEqual(syncfsExpected() ? [['-f', '--', t.dir]] : []);
    if (syncfsExpected()) {
      // At the flush, the new files were still temp files and the old one not yet replaced.
      const atFlush = t.stub.listings()[before] ?? [];
      expect(atFlush.filter((n) => n.endsWith('.vcf'))).toEqual(['old.vcf']);
      expect(atFlush.filter((n) => n.startsWith('.b'))).toHaveLength(39);
    }
  });

  it('flushes the writes to two folders of one file system with one `sync -f` (a syncfs flushes the whole file system)', async () => {
    const before = t.stub.calls().length;
    const other = path.join(t.dir, 'other-spoke');
    await fsp.mkdir(other);
    const replies = await Promise.all([
      ...['d1.vcf', 'd2.vcf', 'd3.vcf', 'd4.vcf', 'd5.vcf'].map((n) => create(n, TEXT)),
      ...['e1.vcf', 'e2.vcf', 'e3.vcf', 'e4.vcf', 'e5.vcf'].map((n) =>
        writeInWorker({ kind: 'create', tmp: path.join(other, `.${n}.tmp-1`), final: path.join(other, n), text: TEXT }),
      ),
    ]);
    expect(replies.map((r) => r?.kind)).toEqual(Array.from({ length: 10 }, () => 'written'));
    expect((await fsp.readdir(other)).sort()).toEqual(['e1.vcf', 'e2.vcf', 'e3.vcf', 'e4.vcf', 'e5.vcf']);
    const calls = t.stub.calls().slice(before);
    expect(calls).toHaveLength(syncfsExpected() ? 1 : 0);
    if (syncfsExpected()) expect([t.dir, other]).toContain(calls[0]?.[2]);
  });

  it('fsyncs a lone write itself: no syncfs for one file', async () => {
    const before = t.stub.calls().length;
    const r = await create('alone.vcf', TEXT);
    expect(r?.kind).toBe('written');
    expect(await fsp.readFile(at('alone.vcf'), 'utf8')).toBe(TEXT);
    expect(t.stub.calls().length).toBe(before);
  });

  it('keeps a batch that fails before its flush out of the sync, and answers every job', async () => {
    const before = t.stub.calls().length;
    await fsp.writeFile(at('taken.vcf'), 'theirs');
    const missing = path.join(t.dir, 'no-such-folder');
    const replies = await Promise.all([
      create('taken.vcf', TEXT),
      ...['c1.vcf', 'c2.vcf', 'c3.vcf', 'c4.vcf'].map((n) => create(n, TEXT)),
      writeInWorker({ kind: 'create', tmp: path.join(missing, '.x.vcf.tmp-1'), final: path.join(missing, 'x.vcf'), text: TEXT }),
    ]);
    expect(replies.map((r) => r?.kind)).toEqual(['exists', 'written', 'written', 'written', 'written', 'failed']);
    expect(await fsp.readFile(at('taken.vcf'), 'utf8')).toBe('theirs');
    // The failed folder's job never reached a flush; the others' folder was synced once.
    expect(t.stub.calls().slice(before)).toEqual(syncfsExpected() ? [['-f', '--', t.dir]] : []);
  });
});
