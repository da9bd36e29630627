import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { describeConnectorContract, type ContractHarness } from '../../src/connectors/kit/contract-suite.js';
import type { Connector, ConnectorEnv } from '../../src/connectors/kit/contract.js';
import { isConnectorError, type ConnectorErrorKind } from '../../src/connectors/kit/errors.js';
import { vdirConnectorFactory, type VdirConfig } from '../../src/connectors/vdir/vdir-connector.js';
import { MAX_ITEM_BYTES } from '../../src/connectors/vdir/fs-io.js';
import { writeWorkerUsable } from '../../src/connectors/vdir/write-worker.js';
import type { Card } from '../../src/model/card.js';
import {
  collectPull,
  etagsOf,
  listFolder,
  makeTempVdir,
  makeVcard,
  readVcf,
  vcardOfCard,
  vcfNames,
  writeManyVcards,
  writeVcf,
} from '../support/vdir.js';

const env: ConnectorEnv = { now: () => Date.UTC(2025, 0, 1), defaultRegion: 'DE' };

function card(uid: string, given: string, surname: string, emails: string[] = []): Card {
  const c: Card = {
    '@type': 'Card',
    version: '1.0',
    uid,
    name: {
      components: [
        { kind: 'given', value: given },
        { kind: 'surname', value: surname },
      ],
      full: `${given} ${surname}`,
    },
  };
  if (emails.length > 0) c.emails = Object.fromEntries(emails.map((address, i) => [`e${i + 1}`, { address }]));
  return c;
}

async function expectKind(p: Promise<unknown>, kind: ConnectorErrorKind): Promise<void> {
  const e: unknown = await p.then(
    () => new Error(`expected a ConnectorError(${kind}), but the call succeeded`),
    (err: unknown) => err,
  );
  if (!isConnectorError(e)) throw e;
  expect(e.kind).toBe(kind);
}

/** Name and mtime of every entry, to show that nothing was touched. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of await listFolder(dir)) {
    const st = await fsp.stat(path.join(dir, name), { bigint: true });
    out[name] = st.isDirectory() ? `dir ${st.mtimeNs}` : `${st.mtimeNs} ${await fsp.readFile(path.join(dir, name), 'utf8')}`;
  }
  return out;
}

// -------------------------------------------------------------------------------------------------
// The shared contract, on a fresh folder per test; the "user" is another tool editing the files.

const UNKNOWN_LINE = 'X-CONTRACT-SUITE:kept';

async function vdirHarness(opts: { version?: '3.0' | '4.0' } = {}): Promise<ContractHarness> {
  const tmp = await makeTempVdir();
  const connector = vdirConnectorFactory.create(vdirConnectorFactory.parseConfig({ path: tmp.dir, ...opts }), env);
  let seq = 0;
  // Another tool's edits get a fresh mtime each, so their etags differ even on coarse-time file systems.
  const bump = (): number => Date.now() + ++seq * 1000;
  return {
    connector,
    userCreate: async (c) => {
      const id = `user-${++seq}.vcf`;
      await writeVcf(tmp.dir, id, vcardOfCard(c), { mtimeMs: bump() });
      return id;
    },
    userUpdate: async (id, c) => {
      await writeVcf(tmp.dir, id, vcardOfCard(c), { mtimeMs: bump() });
    },
    userDelete: async (id) => {
      await fsp.unlink(path.join(tmp.dir, id));
    },
    count: async () => (await vcfNames(tmp.dir)).length,
    userSetUnknownProperty: async (id) => {
      const text = await readVcf(tmp.dir, id);
      await writeVcf(tmp.dir, id, text.replace(/END:VCARD\r?\n?$/i, `${UNKNOWN_LINE}\r\nEND:VCARD\r\n`), { mtimeMs: bump() });
      return true;
    },
    hasUnknownProperty: async (id) => (await readVcf(tmp.dir, id)).split(/\r?\n/).includes(UNKNOWN_LINE),
    userCreateBroken: async () => {
      const id = `broken-${++seq}.vcf`;
      await writeVcf(tmp.dir, id, 'this is not a vCard\n', { mtimeMs: bump() });
      return id;
    },
    cleanup: async () => {
      await connector.close?.();
      await tmp.cleanup();
    },
  };
}

describeConnectorContract('vdir (vCard 3.0 files)', () => vdirHarness());
describeConnectorContract('vdir (vCard 4.0 files)', () => vdirHarness({ version: '4.0' }));

// -------------------------------------------------------------------------------------------------
// vdir-specific behaviour, on a fresh folder per test.

describe('vdir spoke', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let vdir: Connector;

  function connect(extra: Record<string, unknown> = {}): Connector {
    return vdirConnectorFactory.create(vdirConnectorFactory.parseConfig({ path: dir, ...extra }), env);
  }

  beforeEach(async () => {
    ({ dir, cleanup } = await makeTempVdir());
    vdir = connect();
  });

  afterEach(async () => {
    vi.restoreAllMocks();
    await cleanup();
  });

  describe('vdir: parseConfig', () => {
    it('accepts an absolute path and fills in the defaults', () => {
      const c: VdirConfig = vdirConnectorFactory.parseConfig({ path: `${dir}/` });
      expect(c).toEqual({ path: dir, version: '3.0', createMissing: false });
    });

    it('rejects a relative path, naming the setting', () => {
      expect(() => vdirConnectorFactory.parseConfig({ path: 'contacts' })).toThrow(/"path" must be an absolute path/);
      expect(() => vdirConnectorFactory.parseConfig({ path: './contacts' })).toThrow(/absolute/);
    });

    it('rejects a missing path, a bad version, a non-boolean createMissing and unknown settings', () => {
      expect(() => vdirConnectorFactory.parseConfig({})).toThrow(/"path"/);
      expect(() => vdirConnectorFactory.parseConfig({ path: dir, version: '2.1' })).toThrow(/"version"/);
      expect(() => vdirConnectorFactory.parseConfig({ path: dir, createMissing: 'yes' })).toThrow(/"createMissing"/);
      expect(() => vdirConnectorFactory.parseConfig({ path: dir, createmissing: true })).toThrow(/"createmissing"/);
    });

    it('accepts createMissing as a boolean or as the text a --config key=value gives', () => {
      expect(vdirConnectorFactory.parseConfig({ path: dir, createMissing: true }).createMissing).toBe(true);
      expect(vdirConnectorFactory.parseConfig({ path: dir, createMissing: 'true' }).createMissing).toBe(true);
      expect(vdirConnectorFactory.parseConfig({ path: dir, createMissing: 'false' }).createMissing).toBe(false);
    });

    it('re-parses its own output unchanged (the engine parses the stored config again)', () => {
      const c = vdirConnectorFactory.parseConfig({ path: dir, version: 4, createMissing: 'true' });
      expect(vdirConnectorFactory.parseConfig({ ...c })).toEqual(c);
    });

    it('accepts version 4.0 as a string or a number', () => {
      expect(vdirConnectorFactory.parseConfig({ path: dir, version: '4.0' }).version).toBe('4.0');
      expect(vdirConnectorFactory.parseConfig({ path: dir, version: 4 }).version).toBe('4.0');
    });

    it('declares the vdir capabilities', () => {
      expect(vdirConnectorFactory.type).toBe('vdir');
      expect(vdirConnectorFactory.label).toBe('Local vCard folder');
      expect(vdirConnectorFactory.capabilities).toEqual({
        readOnly: false,
        incremental: false,
        idempotentCreate: 'client-id',
        markers: true,
        conditionalWrites: true,
        fields: 'all',
        visibilityLagMs: 0,
        maxConcurrency: 128,
      });
    });
  });

  describe('vdir: identity and the folder itself', () => {
    it('is the real path, stable across calls and across a folder re-created at the same path', async () => {
      const real = await fsp.realpath(dir);
      const id1 = await vdir.identity();
      expect(id1).toBe(`vdir:${real}`);
      expect(await vdir.identity()).toBe(id1);
      // Re-created (or re-mounted) at the same path: the same address book as far as the spoke goes;
      // what it holds is judged by the engine's gates, not by inode numbers that change per mount.
      await fsp.rename(dir, `${dir}-old`);
      try {
        await fsp.mkdir(dir);
        expect(await vdir.identity()).toBe(id1);
      } finally {
        await fsp.rm(`${dir}-old`, { recursive: true, force: true });
      }
    });

    it('reports a missing folder as not_found naming it, never as an empty listing', async () => {
      const missing = path.join(dir, 'nope');
      const c = vdirConnectorFactory.create(vdirConnectorFactory.parseConfig({ path: missing }), env);
      const err: unknown = await collectPull(c).catch((e: unknown) => e);
      expect(isConnectorError(err, 'not_found')).toBe(true);
      expect((err as Error).message).toContain(missing);
      await expectKind(c.identity(), 'not_found');
      await expectKind(c.get('x.vcf'), 'not_found');
      // "Already deleted" must not be claimed while the folder is gone (an unplugged drive).
      await expectKind(c.delete('x.vcf', { ifMatch: null }), 'not_found');
      await expectKind(c.create(card('u1', 'A', 'B'), { marker: 'm1' }), 'not_found');
    });

    it('creates the folder (but not its parents) with createMissing', async () => {
      const sub = path.join(dir, 'book');
      const c = vdirConnectorFactory.create(vdirConnectorFactory.parseConfig({ path: sub, createMissing: true }), env);
      const pull = await collectPull(c);
      expect(pull.items).toEqual([]);
      expect(pull.complete).toBe(true);
      expect((await fsp.stat(sub)).isDirectory()).toBe(true);

      const deep = path.join(dir, 'a', 'b');
      const d = vdirConnectorFactory.create(vdirConnectorFactory.parseConfig({ path: deep, createMissing: true }), env);
      await expectKind(d.identity(), 'not_found');
    });
  });

  describe('vdir: pull', () => {
    it('lists .vcf files as items named by file name, with etag, card and no cursor', async () => {
      await writeVcf(dir, 'alice.vcf', makeVcard({ uid: 'uid-alice', given: 'Alice', surname: 'Archer', emails: ['alice@example.com'] }));
      await writeVcf(dir, 'bob.vcf', makeVcard({ uid: 'uid-bob', given: 'Bob', surname: 'Baker' }));
      const pull = await collectPull(vdir);
      expect(pull.complete).toBe(true);
      expect(pull.cursor).toBeNull();
      expect(pull.items.map((i) => i.id).sort()).toEqual(['alice.vcf', 'bob.vcf']);
      const alice = pull.items.find((i) => i.id === 'alice.vcf');
      expect(alice?.card.uid).toBe('uid-alice');
      expect(alice?.marker).toBeNull();
      expect(alice?.etag).toMatch(/^\d+-\d+$/);
      expect(typeof alice?.modifiedAt).toBe('number');
      expect(pull.problems).toEqual([]);
    });

    it('ignores and never touches other files, hidden files, temp files and subfolders', async () => {
      await writeVcf(dir, 'real.vcf', makeVcard({ uid: 'r', given: 'Real', surname: 'One' }));
      await writeVcf(dir, 'notes.txt', 'not a contact');
      await writeVcf(dir, '.hidden.vcf', makeVcard({ uid: 'h', given: 'Hidden', surname: 'File' }));
      // What a crash between "write temp" and "rename" leaves behind.
      await writeVcf(dir, '.real.vcf.tmp-0123456789ab', makeVcard({ uid: 'r', given: 'Half', surname: 'Written' }));
      await writeVcf(dir, '.displayname', 'My contacts');
      await fsp.mkdir(path.join(dir, 'sub'));
      await writeVcf(path.join(dir, 'sub'), 'nested.vcf', makeVcard({ uid: 'n', given: 'Nested', surname: 'Card' }));
      await fsp.mkdir(path.join(dir, 'folder.vcf'));
      const before = await snapshot(dir);

      const pull = await collectPull(vdir);
      expect(pull.items.map((i) => i.id)).toEqual(['real.vcf']);
      expect(pull.problems).toEqual([]);

      // Writes go to their own file only.
      const created = await vdir.create(card('u-new', 'New', 'Person'), { marker: 'hub1' });
      await vdir.update('real.vcf', card('r', 'Real', 'Two'), { ifMatch: pull.items[0]?.etag ?? null, changed: ['name.surname'] });
      await vdir.delete(created.id, { ifMatch: created.etag });
      const after = await snapshot(dir);
      for (const name of Object.keys(before).filter((n) => n !== 'real.vcf')) expect(after[name]).toBe(before[name]);
      expect(Object.keys(after).sort()).toEqual(Object.keys(before).sort());
      expect(await listFolder(path.join(dir, 'sub'))).toEqual(['nested.vcf']);
    });

    it('reports an unparseable file by name, leaves it alone, and keeps it as unchanged when the hub knows it', async () => {
      await writeVcf(dir, 'good.vcf', makeVcard({ uid: 'g', given: 'Good', surname: 'Card' }));
      await writeVcf(dir, 'broken.vcf', makeVcard({ uid: 'b', given: 'Broken', surname: 'Card' }));
      const first = await collectPull(vdir);
      const known = etagsOf(first);
      expect(known.size).toBe(2);

      // Someone saves garbage over it.
      await writeVcf(dir, 'broken.vcf', 'this is not a vCard at all\n', { mtimeMs: Date.now() + 5000 });
      const before = await snapshot(dir);
      const second = await collectPull(vdir, known);
      expect(second.items.map((i) => i.id)).toEqual([]);
      expect(second.unchanged.sort()).toEqual(['broken.vcf', 'good.vcf']); // not a deletion candidate
      expect(second.problems).toHaveLength(1);
      expect(second.problems[0]?.id).toBe('broken.vcf');
      expect(second.problems[0]?.message).toContain('broken.vcf');

      // Never rewritten or deleted through the connector either.
      await expectKind(vdir.get('broken.vcf'), 'invalid_data');
      await expectKind(vdir.update('broken.vcf', card('b', 'X', 'Y'), { ifMatch: known.get('broken.vcf') ?? null, changed: ['name.given'] }), 'conflict');
      await expectKind(vdir.update('broken.vcf', card('b', 'X', 'Y'), { ifMatch: null, changed: ['name.given'] }), 'invalid_data');
      await expectKind(vdir.delete('broken.vcf', { ifMatch: known.get('broken.vcf') ?? null }), 'conflict');
      expect(await snapshot(dir)).toEqual(before);

      // A new unparseable file the hub does not know is only reported.
      const fresh = await collectPull(vdir, new Map([['good.vcf', known.get('good.vcf') ?? '']]));
      expect(fresh.unchanged).toEqual(['good.vcf']);
      expect(fresh.problems.map((p) => p.id)).toEqual(['broken.vcf']);
    });

    it('lists a file with a bad BDAY, naming the file and the property in its problem', async () => {
      await writeVcf(dir, 'bday.vcf', makeVcard({ uid: 'bd', given: 'Bad', surname: 'Birthday', extra: ['BDAY:the thirty-second of Smarch'] }));
      const pull = await collectPull(vdir);
      expect(pull.items.map((i) => i.id)).toEqual(['bday.vcf']);
      expect(pull.items[0]?.card.name?.components).toContainEqual({ kind: 'given', value: 'Bad' });
      const p = pull.problems.find((x) => x.id === 'bday.vcf');
      expect(p).toBeDefined();
      expect(p?.field ?? '').toMatch(/bday|birthday/i);
    });

    it('reports a file it cannot read by name, keeps it if the hub knows it, and lists the rest', async () => {
      await writeManyVcards(dir, 3);
      const first = await collectPull(vdir);
      const known = etagsOf(first);
      // Bigger than one vCard can be (an address book export dropped in): never read.
      const huge = Buffer.alloc(MAX_ITEM_BYTES + 1, 0x41);
      await fsp.writeFile(path.join(dir, 'c00001.vcf'), huge); // known to the hub: stays listed, not deleted
      await fsp.writeFile(path.join(dir, 'export.vcf'), huge); // new: only reported
      const pull = await collectPull(vdir, known);
      expect(pull.items).toEqual([]);
      expect(pull.unchanged.sort()).toEqual(['c00000.vcf', 'c00001.vcf', 'c00002.vcf']);
      expect(pull.problems.map((p) => p.id).sort()).toEqual(['c00001.vcf', 'export.vcf']);
      for (const p of pull.problems) expect(p.message).toMatch(new RegExp(`^${p.id}: file is ${MAX_ITEM_BYTES + 1} bytes.*left untouched`));
    });

    it('does not read files whose etag the hub knows (one stat each, no open)', async () => {
      await writeManyVcards(dir, 50);
      const first = await collectPull(vdir);
      expect(first.items).toHaveLength(50);
      const known = etagsOf(first);

      // Every way Node opens or reads a file, synchronous or not.
      const opens = [vi.spyOn(fs, 'openSync'), vi.spyOn(fs, 'open'), vi.spyOn(fsp, 'open')];
      const reads = [vi.spyOn(fs, 'readFileSync'), vi.spyOn(fs, 'readFile'), vi.spyOn(fsp, 'readFile')];
      const opened = (): string[] => opens.flatMap((s) => s.mock.calls.map((c) => path.basename(String(c[0]))));
      const second = await collectPull(vdir, known);
      expect(second.items).toEqual([]);
      expect(second.unchanged).toHaveLength(50);
      expect(opened()).toEqual([]);
      for (const r of reads) expect(r).not.toHaveBeenCalled();

      // One changed file: exactly that one is read.
      await writeVcf(dir, 'c00007.vcf', makeVcard({ uid: 'c00007', given: 'Changed', surname: 'Person' }), { mtimeMs: Date.now() + 5000 });
      const third = await collectPull(vdir, known);
      expect(third.items.map((i) => i.id)).toEqual(['c00007.vcf']);
      expect(third.unchanged).toHaveLength(49);
      expect(opened()).toEqual(['c00007.vcf']);
    });

    it('returns pages of about 2,000 items or 500 unchanged ids, every one complete, the cursor on the last', async () => {
      await writeManyVcards(dir, 4321);
      const pull = await collectPull(vdir);
      expect(pull.items).toHaveLength(4321);
      expect(new Set(pull.items.map((i) => i.id)).size).toBe(4321);
      expect(pull.pages.length).toBeGreaterThanOrEqual(2);
      for (const p of pull.pages) {
        expect(p.complete).toBe(true);
        // A page is handed over at 2,000 items, which a listing step of 500 files can overshoot.
        expect(p.items.length).toBeLessThanOrEqual(2500);
      }
      // Items are not handed over in smaller pages: the engine commits once a page.
      expect(pull.pages.slice(0, -1).every((p) => p.items.length >= 2000)).toBe(true);
      expect(pull.pages.slice(0, -1).every((p) => p.cursor === undefined)).toBe(true);
      expect(pull.cursor).toBeNull();

      // A re-sync where nothing changed hands over its unchanged ids a listing step at a time.
      const again = await collectPull(vdir, etagsOf(pull));
      expect(again.items).toEqual([]);
      expect(new Set(again.unchanged).size).toBe(4321);
      expect(again.pages.length).toBeGreaterThanOrEqual(9);
      for (const p of again.pages) expect(p.unchanged.length).toBeLessThanOrEqual(500);
    });

    it('keeps a symbolic link to a missing file (an unmounted drive) instead of calling it deleted', async () => {
      const target = path.join(dir, 'sub', 'elsewhere.vcf');
      await fsp.mkdir(path.dirname(target));
      await writeVcf(path.dirname(target), 'elsewhere.vcf', makeVcard({ uid: 'l', given: 'Linked', surname: 'Card' }));
      await fsp.symlink(target, path.join(dir, 'linked.vcf'));
      const first = await collectPull(vdir);
      expect(first.items.map((i) => i.id)).toEqual(['linked.vcf']);

      await fsp.rm(path.dirname(target), { recursive: true });
      const second = await collectPull(vdir, etagsOf(first));
      expect(second.unchanged).toEqual(['linked.vcf']);
      expect(second.problems.map((p) => p.id)).toEqual(['linked.vcf']);
      await expectKind(vdir.get('linked.vcf'), 'invalid_data');
      await expectKind(vdir.delete('linked.vcf', { ifMatch: null }), 'invalid_data');
      expect((await fsp.lstat(path.join(dir, 'linked.vcf'))).isSymbolicLink()).toBe(true);
    });

    it('ignores what a crash mid-write leaves: the old file stays the item, the temp file is skipped', async () => {
      const old = makeVcard({ uid: 'k', given: 'Kept', surname: 'Version' });
      await writeVcf(dir, 'k.vcf', old);
      await writeVcf(dir, '.k.vcf.tmp-a1b2c3d4e5f6', makeVcard({ uid: 'k', given: 'Never', surname: 'Renamed' }));
      await writeVcf(dir, '.hub1.vcf.tmp-0f0f0f0f0f0f', makeVcard({ uid: 'h', given: 'Never', surname: 'Linked' }));
      const pull = await collectPull(vdir);
      expect(pull.items.map((i) => [i.id, i.card.name?.components?.find((c) => c.kind === 'surname')?.value])).toEqual([['k.vcf', 'Version']]);
      expect(pull.problems).toEqual([]);
      // The create the crash interrupted can simply be made again.
      expect(await vdir.findByMarker('hub1')).toEqual([]);
      const res = await vdir.create(card('h', 'Made', 'Again'), { marker: 'hub1' });
      expect(res.id).toBe('hub1.vcf');
      expect(await listFolder(dir)).toEqual(['.hub1.vcf.tmp-0f0f0f0f0f0f', '.k.vcf.tmp-a1b2c3d4e5f6', 'hub1.vcf', 'k.vcf']);
    });

    it('lists an empty folder as one complete, empty page', async () => {
      const pull = await collectPull(vdir);
      expect(pull.pages).toHaveLength(1);
      expect(pull.pages[0]).toMatchObject({ items: [], unchanged: [], deleted: [], problems: [], complete: true, cursor: null });
    });

    it('reads a file that is not UTF-8 as Windows-1252 and says so', async () => {
      const text = makeVcard({ uid: 'latin', given: 'Jürgen', surname: 'Müller' });
      await fsp.writeFile(path.join(dir, 'latin.vcf'), Buffer.from(text, 'latin1'));
      const pull = await collectPull(vdir);
      expect(pull.items[0]?.card.name?.components).toContainEqual({ kind: 'given', value: 'Jürgen' });
      expect(pull.problems.map((p) => p.message).join('\n')).toMatch(/UTF-8/);
    });
  });

  describe('vdir: get', () => {
    it('returns null for an absent file and the item for a present one', async () => {
      expect(await vdir.get('absent.vcf')).toBeNull();
      await writeVcf(dir, 'here.vcf', makeVcard({ uid: 'h', given: 'Here', surname: 'Now' }));
      const item = await vdir.get('here.vcf');
      expect(item?.id).toBe('here.vcf');
      expect(item?.card.uid).toBe('h');
    });

    it('rejects ids that could leave the folder or name a file the listing ignores', async () => {
      for (const id of ['../x.vcf', 'a/b.vcf', '/etc/passwd', '.hidden.vcf', '..', 'notes.txt', '', 'a\\b.vcf']) {
        await expectKind(vdir.get(id), 'invalid_data');
        await expectKind(vdir.delete(id, { ifMatch: null }), 'invalid_data');
        await expectKind(vdir.update(id, card('u', 'A', 'B'), { ifMatch: null, changed: [] }), 'invalid_data');
      }
    });
  });

  describe('vdir: create', () => {
    it('writes <marker>.vcf with the UID and the marker stamp, and echoes it only when the vCard cannot hold the card as sent', async () => {
      const res = await vdir.create(card('uid-1', 'Carla', 'Cruz', ['carla@example.com']), { marker: 'hub_Entity-1' });
      expect(res.id).toBe('hub_Entity-1.vcf');
      const text = await readVcf(dir, res.id);
      expect(text).toMatch(/^BEGIN:VCARD\r?\n/);
      expect(text).toMatch(/\r?\nVERSION:3\.0\r?\n/);
      expect(text).toMatch(/\r?\nUID:uid-1\r?\n/);
      expect(text).toMatch(/\r?\nX-HUBSYNC-ID:hub_Entity-1\r?\nEND:VCARD\r?\n$/);
      // Read back, it is the card sent (vcardHolds): the engine takes what it sent as the base.
      expect(res.echoed).toBeUndefined();

      // A national phone number's key depends on the reader's region: the file is parsed back.
      const lossy = card('uid-2', 'Dora', 'Diaz');
      lossy.phones = { p1: { number: '06 12 34 56 78' } };
      const echoed = await vdir.create(lossy, { marker: 'hub_Entity-2' });
      expect(echoed.echoed?.marker).toBe('hub_Entity-2');
      expect(echoed.echoed?.card.uid).toBe('uid-2');
      expect(echoed.echoed?.card.phones).toEqual({ p1: { number: '06 12 34 56 78' } });
      await vdir.delete(echoed.id, { ifMatch: echoed.etag });

      const pull = await collectPull(vdir);
      expect(pull.items).toHaveLength(1);
      expect(pull.items[0]?.etag).toBe(res.etag);
      expect(pull.items[0]?.marker).toBe('hub_Entity-1');
      expect(await listFolder(dir)).toEqual(['hub_Entity-1.vcf']); // no temp file left
    });

    it('folds the stamp of a long marker at 75 octets and reads it back', async () => {
      const marker = 'm'.repeat(180);
      const res = await vdir.create(card('uid-long', 'Long', 'Marker'), { marker });
      const text = await readVcf(dir, res.id);
      for (const line of text.split('\r\n')) expect(Buffer.byteLength(line)).toBeLessThanOrEqual(75);
      expect((await vdir.get(res.id))?.marker).toBe(marker);
      expect((await vdir.findByMarker(marker)).map((i) => i.id)).toEqual([res.id]);
    });

    it('writes vCard 4.0 when configured', async () => {
      const v4 = connect({ version: '4.0' });
      const res = await v4.create(card('uid-4', 'Four', 'Oh'), { marker: 'm4' });
      expect(await readVcf(dir, res.id)).toMatch(/\r?\nVERSION:4\.0\r?\n/);
    });

    it('fails with already_exists for an existing marker and leaves the one file as it was', async () => {
      const first = await vdir.create(card('uid-1', 'First', 'Version'), { marker: 'dup' });
      const before = await snapshot(dir);
      await expectKind(vdir.create(card('uid-1', 'Second', 'Version'), { marker: 'dup' }), 'already_exists');
      expect(await snapshot(dir)).toEqual(before);
      expect(await listFolder(dir)).toEqual([first.id]);
    });

    it('rejects a marker that is not a safe file name', async () => {
      for (const marker of ['../evil', 'a/b', 'with space', '', 'dot.ted', 'x'.repeat(201)]) {
        await expectKind(vdir.create(card('u', 'A', 'B'), { marker }), 'invalid_data');
        await expectKind(vdir.findByMarker(marker), 'invalid_data');
      }
      expect(await listFolder(dir)).toEqual([]);
    });

    // These tests stand in for the file system by spying on this thread's `fs`, which the write
    // worker's calls do not go through: they run in vdir-in-thread.test.ts, without the worker.
    // The worker makes the same checks (write-worker.ts) and has tests of its own.
    it.runIf(!writeWorkerUsable())('still creates exclusively where hard links are not supported (FAT, some SMB mounts)', async () => {
      const eperm = Object.assign(new Error('operation not permitted'), { code: 'EPERM' });
      // Synchronous calls on a fast disk, promises on a slow one (WriteFs): refuse links either way.
      const links = [
        vi.spyOn(fs, 'linkSync').mockImplementation(() => {
          throw eperm;
        }),
        vi.spyOn(fsp, 'link').mockRejectedValue(eperm),
      ];
      const res = await vdir.create(card('u1', 'No', 'Links'), { marker: 'nolink' });
      expect(links.reduce((n, spy) => n + spy.mock.calls.length, 0)).toBe(1);
      expect(await listFolder(dir)).toEqual(['nolink.vcf']);
      expect((await vdir.get(res.id))?.etag).toBe(res.etag);
      await expectKind(vdir.create(card('u1', 'No', 'Links'), { marker: 'nolink' }), 'already_exists');
      expect(await listFolder(dir)).toEqual(['nolink.vcf']);
    });
  });

  describe('vdir: findByMarker', () => {
    it('finds the file create made, and nothing for an unknown marker', async () => {
      const res = await vdir.create(card('uid-f', 'Find', 'Me'), { marker: 'findme' });
      const found = await vdir.findByMarker('findme');
      expect(found.map((i) => [i.id, i.marker, i.etag])).toEqual([[res.id, 'findme', res.etag]]);
      expect(await vdir.findByMarker('other')).toEqual([]);
    });

    it('does not search for a renamed file; the pull still reports its marker from the stamp', async () => {
      await vdir.create(card('uid-r', 'Re', 'Named'), { marker: 'renamed' });
      await fsp.rename(path.join(dir, 'renamed.vcf'), path.join(dir, 'Re Named.vcf'));
      expect(await vdir.findByMarker('renamed')).toEqual([]);
      const pull = await collectPull(vdir);
      expect(pull.items.map((i) => [i.id, i.marker])).toEqual([['Re Named.vcf', 'renamed']]);
    });

    it('does not claim <marker>.vcf when it is stamped with another marker', async () => {
      await vdir.create(card('uid-a', 'A', 'A'), { marker: 'aaa' });
      await fsp.rename(path.join(dir, 'aaa.vcf'), path.join(dir, 'bbb.vcf'));
      expect(await vdir.findByMarker('bbb')).toEqual([]);
    });
  });

  describe('vdir: update', () => {
    it('keeps properties the model does not know (X-CUSTOM, grouped item1.X-ABLabel)', async () => {
      await writeVcf(
        dir,
        'apple.vcf',
        makeVcard({
          uid: 'apple-1',
          given: 'Anna',
          surname: 'Apple',
          extra: ['X-CUSTOM:keep me', 'item1.EMAIL;TYPE=INTERNET:anna@example.com', 'item1.X-ABLabel:_$!<Other>!$_'],
        }),
      );
      const item = await vdir.get('apple.vcf');
      expect(item).not.toBeNull();
      const next = card('apple-1', 'Anna', 'Appleby', ['anna@example.com']);
      const res = await vdir.update('apple.vcf', next, { ifMatch: item?.etag ?? null, changed: ['name.surname'] });
      expect(res.id).toBe('apple.vcf');
      const text = await readVcf(dir, 'apple.vcf');
      expect(text).toMatch(/^X-CUSTOM:keep me\r?$/m);
      expect(text).toMatch(/^item1\.X-ABLabel:_\$!<Other>!\$_\r?$/im);
      expect(text).toContain('Appleby');
      expect(res.echoed?.card.name?.components).toContainEqual({ kind: 'surname', value: 'Appleby' });
      expect((await vdir.get('apple.vcf'))?.etag).toBe(res.etag);
      expect(await listFolder(dir)).toEqual(['apple.vcf']);
    });

    it('keeps the marker stamp of a hub-created file', async () => {
      const created = await vdir.create(card('uid-s', 'Stamp', 'Keeper'), { marker: 'stamped' });
      const res = await vdir.update(created.id, card('uid-s', 'Stamp', 'Holder'), { ifMatch: created.etag, changed: ['name.surname'] });
      expect(await readVcf(dir, created.id)).toMatch(/^X-HUBSYNC-ID:stamped\r?$/m);
      expect(res.echoed?.marker).toBe('stamped');
    });

    it('fails with conflict on a stale etag and leaves the file and no temp file behind', async () => {
      await writeVcf(dir, 'c.vcf', makeVcard({ uid: 'c', given: 'Con', surname: 'Flict' }));
      const item = await vdir.get('c.vcf');
      await writeVcf(dir, 'c.vcf', makeVcard({ uid: 'c', given: 'Con', surname: 'Edited' }), { mtimeMs: Date.now() + 5000 });
      const before = await snapshot(dir);
      await expectKind(vdir.update('c.vcf', card('c', 'Con', 'Mine'), { ifMatch: item?.etag ?? null, changed: ['name.surname'] }), 'conflict');
      expect(await snapshot(dir)).toEqual(before);
    });

    it.runIf(!writeWorkerUsable())('does not overwrite a change made while the update was being written', async () => {
      await writeVcf(dir, 'race.vcf', makeVcard({ uid: 'race', given: 'Ra', surname: 'Ce' }));
      const item = await vdir.get('race.vcf');
      const theirs = makeVcard({ uid: 'race', given: 'Ra', surname: 'Theirs' });
      // Another tool saves the file just as the connector opens its temp file (synchronously on a
      // fast disk, with a callback on a slow one: see WriteFs).
      const theirsSaved = (p: unknown): void => {
        if (!String(p).includes('.tmp-')) return;
        const target = path.join(dir, 'race.vcf');
        fs.writeFileSync(target, theirs);
        const t = new Date(Date.now() + 5000);
        fs.utimesSync(target, t, t);
      };
      const realOpenSync = fs.openSync.bind(fs);
      const realOpen = fs.open.bind(fs) as (...a: unknown[]) => void;
      vi.spyOn(fs, 'openSync').mockImplementation((...args: Parameters<typeof fs.openSync>) => {
        theirsSaved(args[0]);
        return realOpenSync(...args);
      });
      vi.spyOn(fs, 'open').mockImplementation(((...args: unknown[]) => {
        theirsSaved(args[0]);
        realOpen(...args);
      }) as typeof fs.open);
      await expectKind(vdir.update('race.vcf', card('race', 'Ra', 'Mine'), { ifMatch: item?.etag ?? null, changed: ['name.surname'] }), 'conflict');
      expect(await readVcf(dir, 'race.vcf')).toBe(theirs);
      expect(await listFolder(dir)).toEqual(['race.vcf']);
    });

    it('fails with not_found for a missing file', async () => {
      await expectKind(vdir.update('missing.vcf', card('m', 'Miss', 'Ing'), { ifMatch: null, changed: ['name.given'] }), 'not_found');
      expect(await listFolder(dir)).toEqual([]);
    });

    it('keeps the permissions of the file it replaces', async () => {
      const p = await writeVcf(dir, 'private.vcf', makeVcard({ uid: 'p', given: 'Pri', surname: 'Vate' }));
      await fsp.chmod(p, 0o600);
      const item = await vdir.get('private.vcf');
      await vdir.update('private.vcf', card('p', 'Pri', 'Vater'), { ifMatch: item?.etag ?? null, changed: ['name.surname'] });
      expect((await fsp.stat(p)).mode & 0o777).toBe(0o600);
    });
  });

  describe('vdir: delete', () => {
    it('deletes with a matching etag, refuses a stale one, and treats a missing file as deleted', async () => {
      await writeVcf(dir, 'd.vcf', makeVcard({ uid: 'd', given: 'Del', surname: 'Ete' }));
      const item = await vdir.get('d.vcf');
      await expectKind(vdir.delete('d.vcf', { ifMatch: 'stale-etag' }), 'conflict');
      expect(await listFolder(dir)).toEqual(['d.vcf']);
      await vdir.delete('d.vcf', { ifMatch: item?.etag ?? null });
      expect(await listFolder(dir)).toEqual([]);
      await vdir.delete('d.vcf', { ifMatch: item?.etag ?? null });
      expect(await vdir.get('d.vcf')).toBeNull();
    });
  });

  describe('vdir: a slow file system', () => {
    it.runIf(!writeWorkerUsable())('goes on with asynchronous calls once synchronous ones are slow, and every write stays whole', async () => {
      // Every synchronous open takes 3 ms, as a round trip to a file server would.
      const realOpenSync = fs.openSync.bind(fs);
      vi.spyOn(fs, 'openSync').mockImplementation((...args: Parameters<typeof fs.openSync>) => {
        const until = performance.now() + 3;
        while (performance.now() < until) {
          // busy: a synchronous call blocks the thread
        }
        return realOpenSync(...args);
      });
      const asyncOpens = vi.spyOn(fs, 'open');
      const created = [];
      for (let i = 0; i < 20; i++) created.push(await vdir.create(card(`u${i}`, 'Slow', `Disk${i}`), { marker: `slow${i}` }));
      expect(asyncOpens).toHaveBeenCalled();

      const pull = await collectPull(vdir);
      expect(pull.items.map((i) => [i.id, i.etag]).sort()).toEqual(created.map((r) => [r.id, r.etag]).sort());
      const first = created[0];
      if (first === undefined) throw new Error('nothing created');
      const updated = await vdir.update(first.id, card('u0', 'Slow', 'Renamed'), { ifMatch: first.etag, changed: ['name.surname'] });
      const got = await vdir.get(first.id);
      expect(got?.etag).toBe(updated.etag);
      expect(got?.card.name?.components).toContainEqual({ kind: 'surname', value: 'Renamed' });
      await expectKind(vdir.create(card('u1', 'Slow', 'Again'), { marker: 'slow1' }), 'already_exists');
      await vdir.delete(first.id, { ifMatch: updated.etag });
      // No temp file is left behind.
      expect(await listFolder(dir)).toEqual(created.slice(1).map((r) => r.id).sort());
    });
  });
});
