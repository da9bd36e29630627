/**
 * The vdir spoke: a local folder with one `.vcf` file per contact, the layout of vdirsyncer's
 * filesystem storage and khard (https://vdirsyncer.pimutils.org/en/stable/vdir.html). Backups,
 * git-tracked address books and the offline way to try Hubsync all go through it.
 *
 * - Item id: the file name (`3f2a….vcf`), never a path. Etag: `${mtimeNs}-${size}` (`etagOf`).
 * - Pull: always a full, `complete` listing with no cursor. Unchanged files (by etag) cost one
 *   `stat` and are never read; changed files are read in batches of 500 (synchronously on a fast
 *   disk, 32 at a time asynchronously on a slow one: `AdaptiveFs`) and returned ~2,000 per page.
 *   Files the hub does not know are read without a `stat` first (the read's `fstat` gives the etag).
 * - Create: `<marker>.vcf`, published with `link()` so that a second create of the same marker fails
 *   with `already_exists` (the `client-id` idempotency). The file also carries `X-HUBSYNC-ID`.
 * - Update/delete: conditional on the etag; updates go through a temp file and an atomic `rename()`
 *   and keep every property the model does not know (`updateVCard`).
 * - The file calls of creates and updates are made on a worker thread while the disk is fast
 *   (write-worker.ts); the vCard is made, and its echo parsed, here.
 */
import fs, { type Dirent } from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { Card } from '../../model/card.js';
import type { FieldPath } from '../../model/fields.js';
import { toVCard, updateVCard, vcardHolds } from '../../model/vcard.js';
import type {
  Capabilities,
  Connector,
  ConnectorEnv,
  ConnectorFactory,
  PullPage,
  PullRequest,
  RemoteItem,
  WriteResult,
} from '../kit/contract.js';
import { ConnectorError } from '../kit/errors.js';
import { parseVdirConfig, type VdirConfig } from './config.js';
import { isErrno, toConnectorError } from './fs-errors.js';
import {
  AdaptiveFs,
  DirSyncer,
  FileTooLargeError,
  NotAFileError,
  WriteFs,
  etagOf,
  readItemFile,
  statOrNull,
  unlinkQuietly,
  writeTempFile,
  type FileRead,
  type ItemStat,
} from './fs-io.js';
import { countVCards, liftVcf } from './lift.js';
import { assertItemId, assertMarker, isItemName, markerFileName, stampMarker, tempFileName } from './names.js';
import { writeInWorker, type WriteJob, type WriteReply } from './write-worker.js';

export type { VdirConfig, VdirVCardVersion } from './config.js';

/** Entries stat'ed (and changed files read) per step of a listing: the size of a synchronous batch. */
const STAT_BATCH = 500;
/** Cards parsed between two yields to the event loop. */
const PARSE_SLICE = 64;
/**
 * A page is handed over once it holds this many items… The engine takes each page into the hub
 * in one transaction, and a first sync's pages insert identity keys and file names at random
 * places of the store's indexes: a commit rewrites every index page it touched, so pages of
 * 2,000 instead of 500 made a 20,000-contact first sync write 564–587 MB instead of 746–763 MB
 * (docs/benchmarks.md). The price is four times the cards held at once: a 10,000-contact first
 * sync peaked at 307 MB instead of 235 MB (a 100,000 one's peak is in its pushes and did not move).
 */
const PAGE_ITEMS = 2000;
/**
 * …or this many unchanged ids: a page per stat batch of a re-sync. Unchanged ids are cheap to hand
 * over, but ids held for 5,000 files lived through enough young-generation collections to be
 * promoted, and the old generation kept them as garbage until the end of the run: an incremental
 * sync of a 100,000-contact hub peaked 20 MB higher (docs/benchmarks.md).
 */
const PAGE_IDS = STAT_BATCH;

export const vdirCapabilities: Capabilities = {
  readOnly: false,
  incremental: false,
  idempotentCreate: 'client-id',
  markers: true,
  conditionalWrites: true,
  fields: 'all',
  visibilityLagMs: 0,
  // Calls on different files are independent, and parallel writes share directory fsyncs
  // (DirSyncer) and, on the write worker, one syncfs per batch (write-worker.ts): the writes in
  // flight are the batch. Measured on ext4 (bench/vdir-connector.ts, 20,000 creates): 16 in flight
  // make ≈2,600 files/s against ≈650/s one at a time; with the batched flush, 64 in flight took
  // 4.7–7.8 s against 9.1–10.3 s for 16 with an fsync per file, and 128 or 256 in one batch were no
  // faster (docs/benchmarks.md, session 14). 128 in flight, sent to the worker as batches of 64
  // (write-worker.ts), keep a second batch staged while the first waits for its flush: the pushes
  // of a 100,000-contact first sync took 29.3–31.3 s against 33.4–33.9 s with 64 (session 18).
  // Two conditional writes to one file are kept apart by the etag check (up to the
  // stat-then-rename window described in `update`).
  maxConcurrency: 128,
};

class VdirConnector implements Connector {
  readonly capabilities = vdirCapabilities;
  private readonly folder: string;
  private readonly dirSync: DirSyncer;
  /** The per-file calls of `get` and writes: synchronous while the disk is fast (see `WriteFs`). */
  private readonly io = new WriteFs();
  private folderReady = false;

  constructor(
    private readonly config: VdirConfig,
    private readonly env: ConnectorEnv,
  ) {
    this.folder = config.path;
    this.dirSync = new DirSyncer(config.path, this.io);
  }

  /**
   * The folder's real path. Device and inode numbers are deliberately left out: they change across
   * mounts on NFS, FUSE, overlay and btrfs subvolumes (and FAT/exFAT directory inodes on every
   * mount), and a spoke that stopped syncing after each reboot would be worse than the risk they
   * guard against. Pointing the same path at other contents is caught by the engine's gates: a
   * folder that lists nothing deletes nothing, and a mass deletion waits for a person.
   */
  async identity(): Promise<string> {
    await this.ensureFolder('reading the folder identity');
    try {
      const real = await fsp.realpath(this.folder);
      const st = await fsp.stat(real);
      if (!st.isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
      return `vdir:${real}`;
    } catch (e) {
      throw toConnectorError(e, { folder: this.folder, action: 'reading the folder identity' });
    }
  }

  /**
   * A full listing. `req.cursor` is ignored: this spoke is not incremental, so every listing is
   * complete and truthfully says so (there is no cursor of ours that could have expired).
   */
  async *pull(req: PullRequest): AsyncIterable<PullPage> {
    const action = 'listing the folder';
    await this.ensureFolder(action);
    const folderAtStart = await this.folderStat(action);

    const io = new AdaptiveFs();
    let page = emptyPage();
    const dirPrefix = this.folder + path.sep;
    // The folder is read a batch at a time (opendir), not into one array that holds every Dirent
    // for the whole pull (≈13 MB of heap for 100,000 entries): memory follows the batch, not the folder.
    for await (const entries of direntBatches(this.folder, STAT_BATCH, io, (e) => toConnectorError(e, { folder: this.folder, action }))) {
      // Subfolders, other extensions, hidden and temp files are not items and are never touched.
      const listed = entries.filter((d) => !d.isDirectory() && isItemName(d.name));
      // Where a worker thread can stat, it stats the whole batch while the hub looks up its etags.
      const ahead = io.statAhead(listed.map((d) => dirPrefix + d.name));
      const known = await req.knownEtags(listed.map((d) => d.name));
      const toRead: string[] = [];
      const sizes: (bigint | undefined)[] = [];
      // A regular file the hub does not know is read whatever its stat says, and the read's own
      // fstat gives its etag: no separate stat (a first sync reads every file). Symbolic links and
      // entries of unknown type are stat'ed first, so a link to a missing file is told apart.
      const batch: Dirent[] = [];
      const batchAt: number[] = [];
      listed.forEach((d, i) => {
        if (d.isFile() && !known.has(d.name)) {
          toRead.push(d.name);
          sizes.push(undefined);
        } else {
          batch.push(d);
          batchAt.push(i);
        }
      });
      const early = ahead === null ? null : await ahead;
      const stats = early === null ? await io.statAll(batch.map((d) => dirPrefix + d.name)) : batchAt.map((i) => early[i]);
      batch.forEach((d, k) => {
        const st = stats[k];
        if (st === undefined) return;
        if (st === 'gone') {
          // Deleted since readdir: absent, which is right. But a symlink whose target is missing
          // (a file on an unmounted drive) is still there and must not count as a deletion.
          if (d.isSymbolicLink()) keepUnreadable(page, known, d.name, `${d.name} is a symbolic link to a missing file`);
          return;
        }
        if ('error' in st) {
          keepUnreadable(page, known, d.name, `${d.name} cannot be examined (${describe(st.error)})`);
          return;
        }
        if (!st.file) return; // a folder or socket named *.vcf is not an item
        if (known.get(d.name) === st.etag) page.unchanged.push(d.name);
        else {
          toRead.push(d.name);
          sizes.push(st.size);
        }
      });

      const reads = await io.readAll(
        toRead.map((name) => dirPrefix + name),
        sizes,
      );
      for (const [k, r] of reads.entries()) {
        const name = toRead[k] as string;
        if (r === undefined || r === 'gone') continue; // deleted since it was listed
        if ('error' in r) {
          // Out of descriptors or memory is the process's trouble, not the file's: fail the pull
          // rather than mark the file as broken.
          if (isErrno(r.error, 'EMFILE', 'ENFILE', 'ENOMEM')) {
            throw toConnectorError(r.error, { folder: this.folder, action: `reading ${name}` });
          }
          keepUnreadable(page, known, name, unreadableMessage(name, r.error));
          continue;
        }
        const lifted = this.lift(name, r);
        if (lifted.kind === 'unparseable') keepUnreadable(page, known, name, lifted.problem.message);
        else {
          page.items.push(lifted.item);
          page.problems.push(...lifted.problems);
        }
        // Parsing is CPU work (≈75 µs a card); let the event loop in every so often.
        if (k % PARSE_SLICE === PARSE_SLICE - 1) await yieldToEventLoop();
      }

      if (page.items.length >= PAGE_ITEMS || page.unchanged.length >= PAGE_IDS) {
        yield page;
        page = emptyPage();
      }
    }

    // The last page makes the listing complete, and "absent from a complete listing" means
    // "deleted". If the folder vanished or was swapped mid-listing (a drive unplugged, a mount point
    // left empty), files looked deleted one by one; refuse to claim completeness then.
    const folderAtEnd = await this.folderStat(action);
    if (folderAtEnd.dev !== folderAtStart.dev || folderAtEnd.ino !== folderAtStart.ino) {
      throw new ConnectorError('not_found', `vCard folder ${this.folder} was replaced while it was being listed`);
    }
    yield { ...page, cursor: null };
  }

  async get(id: string): Promise<RemoteItem | null> {
    assertItemId(id);
    const action = `reading ${id}`;
    const r = await this.readForWrite(id, action);
    if (r === null) return null;
    const lifted = this.lift(id, r);
    if (lifted.kind === 'unparseable') {
      throw new ConnectorError('invalid_data', lifted.problem.message, { itemId: id });
    }
    return lifted.item;
  }

  /**
   * Looks only at `<marker>.vcf`, the name `create` gives. A hub-created file that someone renamed
   * is not searched for: scanning the folder means reading every changed file, which is what a
   * pull does anyway, and the engine's normal matching (by UID and identity keys, then the
   * `X-HUBSYNC-ID` stamp the pull reports as `marker`) links it again.
   *
   * `<marker>.vcf` counts as this marker's item when its stamp is this marker or when it has no stamp:
   * with `client-id` creates the name is the claim, and the stamp can only be missing if a person
   * or tool dropped it. A file of that name stamped with another marker is not claimed.
   */
  async findByMarker(marker: string): Promise<RemoteItem[]> {
    assertMarker(marker);
    const item = await this.get(markerFileName(marker));
    if (item === null) return [];
    if (item.marker === marker) return [item];
    if (item.marker === null || item.marker === undefined) return [{ ...item, marker }];
    return [];
  }

  async create(card: Card, opts: { marker: string }): Promise<WriteResult> {
    const { marker } = opts;
    assertMarker(marker);
    const id = markerFileName(marker);
    const action = `creating ${id}`;
    await this.ensureFolder(action);

    let text: string;
    try {
      // toVCard writes UID from card.uid; the stamp lets a renamed file be recognised as ours.
      text = stampMarker(toVCard(card, { version: this.config.version }), marker);
    } catch (e) {
      throw new ConnectorError('invalid_data', `Cannot write the contact as a vCard: ${describe(e)}`, { cause: e });
    }

    const final = path.join(this.folder, id);
    let written: ItemStat;
    const inWorker = await this.inWorker({ kind: 'create', tmp: path.join(this.folder, tempFileName(id)), final, text });
    if (inWorker !== null) {
      if (inWorker.kind === 'exists') throw alreadyExists(id);
      if (inWorker.kind !== 'written') throw toConnectorError(failure(inWorker), { folder: this.folder, action, itemId: id });
      written = inWorker;
    } else {
      const tmp = await this.wrap(action, id, () => writeTempFile(this.folder, id, text, this.io));
      try {
        await this.publishNew(tmp.path, final, id, action);
      } finally {
        await unlinkQuietly(tmp.path, this.io);
      }
      written = tmp.stat;
    }
    await this.wrap(action, id, () => this.dirSync.sync());
    // A file that reads back as exactly the card sent needs no echo: the engine then takes what it
    // sent as the merge base, and our own text is not parsed again (most creates of a first sync).
    if (vcardHolds(card)) return { id, etag: etagOf(written) };
    return { id, etag: etagOf(written), ...this.echo(id, text, { stat: written }, marker) };
  }

  async update(
    id: string,
    card: Card,
    opts: { ifMatch: string | null; changed: readonly FieldPath[] },
  ): Promise<WriteResult> {
    assertItemId(id);
    const action = `updating ${id}`;
    const final = path.join(this.folder, id);

    const current = await this.readForWrite(id, action);
    if (current === null) throw new ConnectorError('not_found', `${id} does not exist in ${this.folder}`, { itemId: id });
    const etag = etagOf(current.stat);
    if (opts.ifMatch !== null && opts.ifMatch !== etag) throw conflict(id);

    const count = countVCards(current.text);
    if (count > 1) {
      throw new ConnectorError(
        'invalid_data',
        `${id} holds ${count} vCards; it is not rewritten, so that none of them is lost`,
        { itemId: id },
      );
    }
    let next: string;
    try {
      // The current text, not a re-serialisation of the card: every property the model does not
      // know (X-*, grouped item1.X-ABLabel, PRODID, the stamp) survives the write.
      next = updateVCard(current.text, card, opts.changed, { defaultRegion: this.env.defaultRegion });
    } catch (e) {
      throw new ConnectorError('invalid_data', `${id} is not a readable vCard (${describe(e)}); it was left untouched`, {
        itemId: id,
        cause: e,
      });
    }
    if (next === current.text) {
      // Nothing to write; leaving the file alone also leaves its etag (and other tools' caches) be.
      return { id, etag, ...this.echo(id, current.text, { stat: current.stat }) };
    }

    // Same permissions as the file replaced (a user may keep contacts 0600).
    const mode = Number(current.stat.mode);
    let written: ItemStat;
    const inWorker = await this.inWorker({ kind: 'replace', tmp: path.join(this.folder, tempFileName(id)), final, text: next, mode, expect: etag });
    if (inWorker !== null) {
      if (inWorker.kind === 'gone') throw new ConnectorError('not_found', `${id} was deleted meanwhile`, { itemId: id });
      if (inWorker.kind === 'changed') throw conflict(id);
      if (inWorker.kind !== 'written') throw toConnectorError(failure(inWorker), { folder: this.folder, action, itemId: id });
      written = inWorker;
    } else {
      const tmp = await this.wrap(action, id, () => writeTempFile(this.folder, id, next, this.io, mode));
      try {
        // Check again just before the rename: the text was merged into what we read, so a change
        // since then (another tool, a person) must not be overwritten. A writer slipping in between
        // this stat and the rename is not caught; vdirsyncer has the same window, and no lock exists
        // that other vdir tools would honour. (The write worker makes the same check.)
        const now = await statOrNull(final, this.io);
        if (now === null) throw new ConnectorError('not_found', `${id} was deleted meanwhile`, { itemId: id });
        if (etagOf(now) !== etag) throw conflict(id);
        // Synchronous too, although replacing a file frees the old inode (≈0.2 ms on ext4): on the
        // thread pool it contends for the folder's lock with the creates and made updates slower.
        await this.io.op(
          () => fs.renameSync(tmp.path, final),
          () => fsp.rename(tmp.path, final),
        );
      } catch (e) {
        await unlinkQuietly(tmp.path, this.io);
        throw toConnectorError(e, { folder: this.folder, action, itemId: id });
      }
      written = tmp.stat;
    }
    await this.wrap(action, id, () => this.dirSync.sync());
    return { id, etag: etagOf(written), ...this.echo(id, next, { stat: written }) };
  }

  async delete(id: string, opts: { ifMatch: string | null }): Promise<void> {
    assertItemId(id);
    const action = `deleting ${id}`;
    const final = path.join(this.folder, id);
    const st = await this.wrap(action, id, () => statOrNull(final, this.io));
    if (st === null) {
      // Already gone counts as deleted, but only if the folder is there: with the folder missing
      // (an unmounted drive) "deleted" would be a lie that resurfaces when it comes back.
      await this.folderStat(action);
      await this.refuseDanglingLink(id);
      return;
    }
    if (!st.isFile()) throw new ConnectorError('invalid_data', `${id} is not a file`, { itemId: id });
    if (opts.ifMatch !== null && etagOf(st) !== opts.ifMatch) throw conflict(id);
    try {
      await this.io.op(
        () => fs.unlinkSync(final),
        () => fsp.unlink(final),
      );
    } catch (e) {
      if (!isErrno(e, 'ENOENT')) throw toConnectorError(e, { folder: this.folder, action, itemId: id });
    }
    await this.wrap(action, id, () => this.dirSync.sync());
  }

  // ---------------------------------------------------------------------------------------------

  private lift(id: string, read: { text: string; stat: ItemStat; notUtf8?: boolean }, marker?: string) {
    const { defaultRegion } = this.env;
    return liftVcf({ id, text: read.text, stat: read.stat, notUtf8: read.notUtf8 ?? false, defaultRegion, ...(marker === undefined ? {} : { marker }) });
  }

  /**
   * The echo of a write, parsed from the text written; omitted if it does not parse back. It is the
   * engine's merge base for this item, so it must be what a later read of the file gives, not the
   * card that was sent: a vCard cannot hold everything a Card can (RFC 9555 §3: a 3.0 file has no
   * slot for a second surname, and RFC 6350 §5.3 allows no PREF outside 1–100). A base claiming
   * more would make the next edit of the file look like a person deleting what it never held.
   * Parsing it back is about a third of a create's JavaScript time (`bench/vdir-connector.ts` under
   * `--cpu-prof`); sparing it safely needs the model to return, with the text, the card it wrote.
   */
  private echo(id: string, text: string, written: { stat: ItemStat }, marker?: string): { echoed?: RemoteItem } {
    const lifted = this.lift(id, { text, stat: written.stat }, marker);
    return lifted.kind === 'item' ? { echoed: lifted.item } : {};
  }

  /**
   * A write's file calls on the write worker (write-worker.ts) while this folder's calls are fast;
   * null when they are slow (a network file system: there they go through the thread pool, many at
   * once) or no worker can be had, and the caller makes them on this thread.
   */
  private async inWorker(job: WriteJob): Promise<WriteReply | null> {
    if (!this.io.fast) return null;
    const reply = await writeInWorker(job);
    if (reply !== null) this.io.account(reply.syncMs, reply.calls);
    return reply;
  }

  /**
   * Publishes a complete temp file under its final name without ever replacing a file: `link()`
   * fails with EEXIST when the name is taken, atomically. File systems without hard links (FAT,
   * exFAT, some SMB mounts) refuse with EPERM/ENOTSUP; there the name is checked and the temp file
   * renamed, which is atomic for the content but not for the existence check. The hub is the only
   * writer of `<marker>.vcf` names and never creates one marker twice at once, so that gap is only
   * theoretical. (EPERM here cannot be a permission problem: the temp file was just created in the
   * same folder.)
   */
  private async publishNew(tmp: string, final: string, id: string, action: string): Promise<void> {
    try {
      await this.io.op(
        () => fs.linkSync(tmp, final),
        () => fsp.link(tmp, final),
      );
      return;
    } catch (e) {
      if (isErrno(e, 'EEXIST')) throw alreadyExists(id);
      if (!isErrno(e, 'EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS')) {
        throw toConnectorError(e, { folder: this.folder, action, itemId: id });
      }
    }
    await this.wrap(action, id, async () => {
      const existing = await this.io.op(
        () => fs.lstatSync(final, { throwIfNoEntry: false }) ?? null,
        () =>
          fsp.lstat(final).catch((e: unknown) => {
            if (isErrno(e, 'ENOENT')) return null;
            throw e;
          }),
      );
      if (existing !== null) throw alreadyExists(id);
      await this.io.op(
        () => fs.renameSync(tmp, final),
        () => fsp.rename(tmp, final),
      );
    });
  }

  /**
   * Reads an item for `get`/`update`: null when the file is absent (after checking that the folder
   * itself is there, so a missing folder is `not_found`, never "item gone").
   */
  private async readForWrite(id: string, action: string): Promise<FileRead | null> {
    try {
      return await readItemFile(path.join(this.folder, id), this.io);
    } catch (e) {
      if (isErrno(e, 'ENOENT')) {
        await this.folderStat(action);
        await this.refuseDanglingLink(id);
        return null;
      }
      if (e instanceof NotAFileError) return null;
      if (e instanceof FileTooLargeError) throw new ConnectorError('invalid_data', `${id}: ${e.message}`, { itemId: id });
      throw toConnectorError(e, { folder: this.folder, action, itemId: id });
    }
  }


  /**
   * A symbolic link whose target is missing (a file on an unmounted drive) is not an absent item:
   * the pull keeps it as unreadable, so `get`/`update`/`delete` must not call it gone either.
   */
  private async refuseDanglingLink(id: string): Promise<void> {
    const link = await fsp.lstat(path.join(this.folder, id)).catch(() => null);
    if (link?.isSymbolicLink()) {
      throw new ConnectorError('invalid_data', `${id} is a symbolic link to a missing file; it is left as it is`, {
        itemId: id,
      });
    }
  }

  /** Stats the folder itself; `not_found` naming the folder when it is missing or not a folder. */
  private async folderStat(action: string) {
    try {
      const st = await fsp.stat(this.folder, { bigint: true });
      if (!st.isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
      return st;
    } catch (e) {
      throw toConnectorError(e, { folder: this.folder, action });
    }
  }

  /**
   * With `createMissing`, creates the folder (not its parents) once per connector. Once the folder
   * exists this instance never creates it again: a folder that disappears mid-life is reported as
   * missing, not silently replaced by an empty one.
   */
  private async ensureFolder(action: string): Promise<void> {
    if (this.folderReady || !this.config.createMissing) return;
    try {
      await fsp.mkdir(this.folder);
      // Make the new folder's own entry durable before files are put in it.
      await new DirSyncer(path.dirname(this.folder)).sync();
    } catch (e) {
      if (isErrno(e, 'ENOENT')) {
        throw new ConnectorError(
          'not_found',
          `The parent of vCard folder ${this.folder} does not exist (createMissing creates only the folder itself)`,
          { cause: e },
        );
      }
      if (!isErrno(e, 'EEXIST')) throw toConnectorError(e, { folder: this.folder, action });
    }
    this.folderReady = true;
  }

  private async wrap<T>(action: string, itemId: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw toConnectorError(e, { folder: this.folder, action, itemId });
    }
  }
}

function emptyPage(): PullPage {
  return { items: [], unchanged: [], deleted: [], problems: [], complete: true };
}

/**
 * A file that is present but cannot be read or parsed is reported in `problems` and, when the hub
 * already knows it, listed as `unchanged`. The engine treats an id missing from a complete listing
 * as a deletion candidate; listing it as unchanged keeps its link as it is, so a file that became
 * unreadable (a bad edit, a permission change, a half-written file from another tool) never turns
 * into a delete on the other spokes, and the file itself is never rewritten or deleted (writes to
 * it fail: its etag no longer matches, or it does not parse). A file the hub does not know yet is
 * only reported: there is no link to keep. The contract has no "unreadable" list, and this spoke
 * may not change the contract.
 */
function keepUnreadable(page: PullPage, known: ReadonlyMap<string, string | null>, id: string, message: string): void {
  page.problems.push({ id, message });
  if (known.has(id)) page.unchanged.push(id);
}

function unreadableMessage(name: string, e: unknown): string {
  if (e instanceof FileTooLargeError) return `${name}: ${e.message}; the file is left untouched`;
  return `${name} cannot be read (${describe(e)}); the file is left untouched`;
}

function failure(r: WriteReply): Error {
  return r.kind === 'failed' ? r.error : new Error(`unexpected answer of the write worker: ${r.kind}`);
}

function conflict(id: string): ConnectorError {
  return new ConnectorError('conflict', `${id} changed since it was last read`, { itemId: id });
}

function alreadyExists(id: string): ConnectorError {
  return new ConnectorError('already_exists', `${id} already exists`, { itemId: id });
}

function describe(e: unknown): string {
  if (typeof e === 'object' && e !== null && 'code' in e && typeof e.code === 'string') return e.code;
  return e instanceof Error ? e.message : String(e);
}

/**
 * The folder's entries in batches of about `size`, as `opendir` reads them (the order of the
 * directory, like `readdir`). An error opening or reading the folder goes through `wrap`.
 */
async function* direntBatches(folder: string, size: number, io: AdaptiveFs, wrap: (e: unknown) => Error): AsyncGenerator<Dirent[]> {
  let dir: fs.Dir;
  try {
    dir = await fsp.opendir(folder, { bufferSize: 1024 });
  } catch (e) {
    throw wrap(e);
  }
  try {
    for (;;) {
      let batch: Dirent[];
      try {
        batch = await io.readDir(dir, size);
      } catch (e) {
        throw wrap(e);
      }
      if (batch.length > 0) yield batch;
      if (batch.length < size) return;
    }
  } finally {
    await dir.close().catch(() => undefined);
  }
}

/** The vdir spoke type: a local folder of `.vcf` files (vdirsyncer, khard). */
export const vdirConnectorFactory: ConnectorFactory<VdirConfig> = {
  type: 'vdir',
  label: 'Local vCard folder',
  parseConfig: parseVdirConfig,
  capabilities: vdirCapabilities,
  create(config: VdirConfig, env: ConnectorEnv): Connector {
    return new VdirConnector(config, env);
  },
};
