import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { etagOf } from '../../src/connectors/vdir/fs-io.js';
import { statInWorker } from '../../src/connectors/vdir/stat-worker.js';
import { makeTempVdir } from '../support/vdir.js';

describe('vdir: stats on the worker thread', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeEach(async () => {
    ({ dir, cleanup } = await makeTempVdir('hubsync-statworker-'));
  });
  afterEach(() => cleanup());

  it('answers what a stat on this thread says: the same etag, size and kind; gone; the error with its code', async () => {
    const file = path.join(dir, 'a.vcf');
    await fsp.writeFile(file, 'BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ann\r\nEND:VCARD\r\n');
    await fsp.mkdir(path.join(dir, 'folder.vcf'));
    await fsp.symlink(path.join(dir, 'nowhere.vcf'), path.join(dir, 'dangling.vcf'));
    const notDir = path.join(file, 'x.vcf'); // a path through a file: ENOTDIR
    const paths = [file, path.join(dir, 'missing.vcf'), path.join(dir, 'folder.vcf'), path.join(dir, 'dangling.vcf'), notDir];
    const got = await statInWorker(paths);
    expect(got).not.toBeNull();
    const st = fs.statSync(file, { bigint: true });
    expect(got?.[0]).toEqual({ file: true, size: st.size, etag: etagOf(st) });
    expect(got?.[1]).toBe('gone');
    expect(got?.[2]).toMatchObject({ file: false });
    expect(got?.[3]).toBe('gone'); // a symbolic link is followed, like fs.statSync
    const err = got?.[4] as { error: NodeJS.ErrnoException };
    expect(err.error.code).toBe('ENOTDIR');
  });

  it('keeps requests made at once apart', async () => {
    const names = Array.from({ length: 40 }, (_, i) => path.join(dir, `${i}.vcf`));
    await Promise.all(names.map((p, i) => fsp.writeFile(p, 'x'.repeat(i + 1))));
    const answers = await Promise.all(names.map((p) => statInWorker([p])));
    expect(answers.map((a) => (a?.[0] as { size: bigint }).size)).toEqual(names.map((_, i) => BigInt(i + 1)));
  });
});
