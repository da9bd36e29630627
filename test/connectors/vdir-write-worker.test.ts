/**
 * The vdir spoke's write worker on its own: each answer it gives, and what it leaves in the folder.
 * (The connector's tests in vdir.test.ts go through it too; vdir-in-thread.test.ts runs them without it.)
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { etagOf } from '../../src/connectors/vdir/fs-io.js';
import { writeInWorker, type WriteReply } from '../../src/connectors/vdir/write-worker.js';
import { makeTempVdir } from '../support/vdir.js';

const TEXT = 'BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ann Example\r\nEND:VCARD\r\n';

describe('vdir: writes on the worker thread', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeEach(async () => {
    ({ dir, cleanup } = await makeTempVdir('hubsync-writeworker-'));
  });
  afterEach(() => cleanup());
  const at = (name: string) => path.join(dir, name);
  const written = (r: WriteReply | null) => {
    if (r?.kind !== 'written') throw new Error(`expected a write, got ${JSON.stringify(r)}`);
    return r;
  };

  it('creates the file with its text and answers its etag; the temp file is gone', async () => {
    const r = written(await writeInWorker({ kind: 'create', tmp: at('.a.vcf.tmp-1'), final: at('a.vcf'), text: TEXT }));
    expect(await fsp.readFile(at('a.vcf'), 'utf8')).toBe(TEXT);
    expect(etagOf(r)).toBe(etagOf(fs.statSync(at('a.vcf'), { bigint: true })));
    expect(r.calls).toBeGreaterThan(0);
    expect(await fsp.readdir(dir)).toEqual(['a.vcf']);
  });

  it('never replaces a file on create: "exists", and the file keeps its text', async () => {
    await fsp.writeFile(at('taken.vcf'), 'theirs');
    const r = await writeInWorker({ kind: 'create', tmp: at('.taken.vcf.tmp-1'), final: at('taken.vcf'), text: TEXT });
    expect(r?.kind).toBe('exists');
    expect(await fsp.readFile(at('taken.vcf'), 'utf8')).toBe('theirs');
    expect(await fsp.readdir(dir)).toEqual(['taken.vcf']);
  });

  it('replaces a file whose etag is still the one read, keeping the mode given', async () => {
    await fsp.writeFile(at('b.vcf'), 'old', { mode: 0o600 });
    const before = fs.statSync(at('b.vcf'), { bigint: true });
    const r = written(
      await writeInWorker({ kind: 'replace', tmp: at('.b.vcf.tmp-1'), final: at('b.vcf'), text: TEXT, mode: Number(before.mode), expect: etagOf(before) }),
    );
    const after = fs.statSync(at('b.vcf'), { bigint: true });
    expect(await fsp.readFile(at('b.vcf'), 'utf8')).toBe(TEXT);
    expect(etagOf(r)).toBe(etagOf(after));
    expect(Number(after.mode) & 0o777).toBe(0o600);
    expect(await fsp.readdir(dir)).toEqual(['b.vcf']);
  });

  it('does not replace a file changed since it was read ("changed") or deleted ("gone")', async () => {
    await fsp.writeFile(at('c.vcf'), 'theirs');
    const changed = await writeInWorker({ kind: 'replace', tmp: at('.c.vcf.tmp-1'), final: at('c.vcf'), text: TEXT, mode: 0o644, expect: '1-1' });
    expect(changed?.kind).toBe('changed');
    expect(await fsp.readFile(at('c.vcf'), 'utf8')).toBe('theirs');
    const gone = await writeInWorker({ kind: 'replace', tmp: at('.d.vcf.tmp-1'), final: at('d.vcf'), text: TEXT, mode: 0o644, expect: '1-1' });
    expect(gone?.kind).toBe('gone');
    expect(await fsp.readdir(dir)).toEqual(['c.vcf']);
  });

  it('answers a failed system call with its code, leaving nothing behind', async () => {
    const missing = path.join(dir, 'no-such-folder');
    const r = await writeInWorker({ kind: 'create', tmp: path.join(missing, '.e.vcf.tmp-1'), final: path.join(missing, 'e.vcf'), text: TEXT });
    expect(r?.kind).toBe('failed');
    expect(r?.kind === 'failed' && (r.error as NodeJS.ErrnoException).code).toBe('ENOENT');
    expect(await fsp.readdir(dir)).toEqual([]);
  });

  it('answers each of many writes submitted at once (messages of 64), in order', async () => {
    // 150: three messages, the last one short; a name taken in each.
    const names = Array.from({ length: 150 }, (_, i) => `m${i}.vcf`);
    const taken = new Set(['m7.vcf', 'm70.vcf', 'm140.vcf']);
    for (const n of taken) await fsp.writeFile(at(n), 'theirs');
    const replies = await Promise.all(names.map((n, i) => writeInWorker({ kind: 'create', tmp: at(`.${n}.tmp-${i}`), final: at(n), text: `${TEXT}${i}` })));
    expect(replies.map((r) => r?.kind)).toEqual(names.map((n) => (taken.has(n) ? 'exists' : 'written')));
    for (const i of [3, 64, 100, 149]) expect(await fsp.readFile(at(`m${i}.vcf`), 'utf8')).toBe(`${TEXT}${i}`);
    expect(await fsp.readFile(at('m70.vcf'), 'utf8')).toBe('theirs');
    expect((await fsp.readdir(dir)).sort()).toEqual([...names].sort());
  });

  it('answers writes submitted turn after turn, to two folders, while earlier ones are in flight', async () => {
    const { dir: other, cleanup: cleanOther } = await makeTempVdir('hubsync-writeworker-');
    try {
      // Two folders, as two spokes pushing at once; each turn of the event loop sends one batch.
      const jobs: Promise<WriteReply | null>[] = [];
      for (let i = 0; i < 40; i++) {
        const folder = i % 2 === 0 ? dir : other;
        jobs.push(writeInWorker({ kind: 'create', tmp: path.join(folder, `.t${i}.vcf.tmp-1`), final: path.join(folder, `t${i}.vcf`), text: `${TEXT}${i}` }));
        await new Promise((r) => setImmediate(r));
      }
      const replies = await Promise.all(jobs);
      replies.forEach((r) => written(r));
      for (let i = 0; i < 40; i++) {
        const folder = i % 2 === 0 ? dir : other;
        expect(await fsp.readFile(path.join(folder, `t${i}.vcf`), 'utf8')).toBe(`${TEXT}${i}`);
      }
      expect((await fsp.readdir(dir)).length).toBe(20);
      expect((await fsp.readdir(other)).length).toBe(20);
    } finally {
      await cleanOther();
    }
  });
});
