/**
 * The CardDAV spoke: one address book collection on a CardDAV server (RFC 6352), read and written
 * with plain WebDAV requests (XML by tsdav), tested against Radicale and Xandikos.
 *
 * - Item id: the member's name in the collection, percent-decoded (`3f2a….vcf`); an href outside
 *   the collection (a server that moved an item) keeps its path (`/other/x.vcf`). Etag: the
 *   server's ETag, verbatim (Radicale compares If-Match as an exact string).
 * - Pull without a cursor: one RFC 6578 sync-collection REPORT with an empty token asking for
 *   getetag alone, then addressbook-multiget of the members whose etag the hub does not know, in
 *   batches (vdirsyncer: PROPFIND + multiget). Asking for address-data in the sync-collection
 *   itself saved requests but made the whole book one response, parsed at once: a 5,000-card
 *   Radicale book was a 6.4 MB answer and 112 MB more peak memory than a folder of the same
 *   cards. Items whose etag the hub knows are reported `unchanged`; 404 entries (Radicale lists
 *   hrefs deleted long ago in an initial sync) are ignored. Complete.
 * - Pull with a cursor: sync-collection from the stored token, for etags alone (members really
 *   changed are read by multiget): a no-op is one small REPORT. 404 entries are `deleted`. An
 *   expired token — 403 DAV:valid-sync-token (RFC 6578 §3.2), or Xandikos' 500 — raises
 *   `cursor_invalid`; the engine then lists again.
 * - A server without sync-collection: PROPFIND Depth 1 for etags, then addressbook-multiget of the
 *   changed hrefs in batches; every pull is then a complete listing.
 * - Create: PUT `<marker>.vcf` with `If-None-Match: *` (the `client-id` idempotency; a 412 is
 *   `already_exists`, and the engine adopts the item via `findByMarker`). The card keeps its own
 *   UID; the marker is also stamped as `X-HUBSYNC-ID`, the vdir spoke's convention, so a renamed or
 *   moved item is still recognised. A `Location` in the answer (a server choosing its own href,
 *   pimutils/vdirsyncer#1223) is where the item lives from then on.
 * - Update: the server's current text (from the last pull, else fetched — concurrent fetches are
 *   merged into one multiget) rewritten by `updateVCard`, so everything the model does not know
 *   survives; PUT with `If-Match`. Delete with `If-Match`. A 412 is `conflict`: the engine re-reads
 *   and merges.
 * - A server that rewrites what it stored (Radicale reorders, uppercases and refolds) returns the
 *   ETag of the rewritten bytes, so the next pull sees our own etag and reads nothing: no loop.
 *   Where a PUT answers without an ETag, the item is read back once for it.
 */
import { toVCard, updateVCard, parseVCard } from '../../model/vcard.js';
import type { Card } from '../../model/card.js';
import type {
  Capabilities,
  Connector,
  ConnectorEnv,
  ConnectorFactory,
  ItemProblem,
  PullPage,
  PullRequest,
  RemoteItem,
  UpdateOptions,
  WriteResult,
} from '../kit/contract.js';
import { ConnectorError, isConnectorError } from '../kit/errors.js';
import { isMarker, readMarkerStamp, stampMarker } from '../vdir/names.js';
import { collectionUrl, parseCarddavConfig, type CarddavConfig } from './config.js';
import { multiget, propfind, syncCollection, type DavEntry } from './dav.js';
import { chooseAddressBook, discoverAddressBooks } from './discovery.js';
import { DavTransport } from './transport.js';

export type { CarddavConfig } from './config.js';

/** Items per page handed to the engine. */
const PAGE_ITEMS = 500;
/** Server texts kept for updates (from pulls); beyond this, updates fetch what they need. */
const TEXT_CACHE_MAX = 20_000;

export const carddavCapabilities: Capabilities = {
  readOnly: false,
  incremental: true,
  idempotentCreate: 'client-id',
  markers: true,
  conditionalWrites: true,
  fields: 'all',
  visibilityLagMs: 0,
  // Calls the engine may have in flight. Requests to the server are limited separately by the
  // `concurrency` setting (default 4); many calls in flight let updates share one multiget.
  maxConcurrency: 64,
};

interface Loaded {
  etag: string | null;
  text: string;
}

interface Cursor {
  /** The collection the token belongs to: tokens are content-derived on Radicale and Xandikos (an
   * empty collection has the same token everywhere), so a token is only valid for its own URL. */
  b: string;
  /** The sync token, or null when the server has no sync-collection (every pull is a listing). */
  t: string | null;
}

class CarddavConnector implements Connector {
  readonly capabilities = carddavCapabilities;
  private readonly t: DavTransport;
  private book: string | null;
  private readonly texts = new Map<string, Loaded>();
  private loadQueue = new Map<string, { resolve: (v: Loaded | null) => void; reject: (e: unknown) => void }[]>();
  private loadScheduled = false;

  constructor(
    private readonly config: CarddavConfig,
    private readonly env: ConnectorEnv,
  ) {
    const a = env.auth;
    this.t = new DavTransport({
      url: config.addressBook ?? config.url,
      credentials: a?.password !== undefined ? { username: a.username ?? '', password: a.password } : null,
      scheme: config.authScheme,
      concurrency: config.concurrency,
      caFile: config.caFile,
      ...(env.fetch ? { fetch: env.fetch } : {}),
    });
    this.book = config.addressBook;
  }

  /** The address book's canonical URL and the username: another login or collection is another spoke. */
  async identity(): Promise<string> {
    return `carddav:${this.env.auth?.username ?? ''}@${await this.ensureBook()}`;
  }

  async *pull(req: PullRequest): AsyncIterable<PullPage> {
    const book = await this.ensureBook();
    let cursor: Cursor | null = null;
    if (req.cursor !== null) {
      cursor = parseCursor(req.cursor);
      if (cursor === null || cursor.b !== book) throw new ConnectorError('cursor_invalid', 'the sync cursor is not one of this address book');
    }
    if (cursor === null || cursor.t === null) {
      yield* this.fullPull(book, req, cursor !== null);
      return;
    }
    let res;
    try {
      // Etags only: most of what a re-sync is told about are the hub's own writes coming back
      // (their etags are known), which need no data. With address-data, the first re-sync after
      // 1,000 creates would download every card just written from Radicale (it sends the data), and
      // Xandikos, which leaves it out of sync-collection (a 404 propstat per member), answered in
      // 80 ms and 384 KB instead of 46 ms and 267 KB. Members really changed are read by multiget.
      res = await syncCollection(this.t, book, cursor.t, { noRetry: true });
    } catch (e) {
      // Xandikos 0.2.8 answers an unknown token with 500 instead of 403 valid-sync-token
      // (test-servers.md §2.2.5); with a stored token, a 5xx means "list again" — the full listing
      // that follows is retried normally, so a real outage still surfaces.
      if (isConnectorError(e, 'transient')) throw new ConnectorError('cursor_invalid', `the server refused the sync token (${e.message})`, { cause: e });
      throw e;
    }
    const page = emptyPage(false);
    const changed: DavEntry[] = [];
    for (const e of res.entries) {
      const id = this.idOf(e.href, book);
      if (id === null) continue;
      if (e.status === 404) page.deleted.push(id);
      else changed.push(e);
    }
    // No token back (or one tsdav turned into a number): a null cursor makes the next pull a full one.
    yield* this.itemPages(book, changed, req, page, res.token === null ? null : JSON.stringify({ b: book, t: res.token } satisfies Cursor));
  }

  /** Every member: sync-collection from an empty token, or PROPFIND where there is none. */
  private async *fullPull(book: string, req: PullRequest, listingOnly: boolean): AsyncIterable<PullPage> {
    let entries: DavEntry[];
    // Without sync-collection the cursor only says "list again" (t: null).
    let next: string | null = JSON.stringify({ b: book, t: null } satisfies Cursor);
    if (!listingOnly) {
      try {
        // Etags alone, then the cards by multiget a batch at a time (see the top of this file):
        // memory follows the batch, not the book; the cards the hub holds are not downloaded.
        const res = await syncCollection(this.t, book, '');
        entries = res.entries;
        next = res.token === null ? null : JSON.stringify({ b: book, t: res.token } satisfies Cursor);
      } catch (e) {
        if (!(isConnectorError(e, 'unsupported') || isConnectorError(e, 'invalid_data') || isConnectorError(e, 'permission'))) throw e;
        entries = await this.listing(book);
      }
    } else {
      entries = await this.listing(book);
    }
    // A 404 in an initial sync is a member deleted earlier (Radicale): not an item.
    const present = entries.filter((e) => e.status !== 404);
    yield* this.itemPages(book, present, req, emptyPage(true), next);
  }

  private async listing(book: string): Promise<DavEntry[]> {
    const all = await propfind(this.t, book, '1', ['d:getetag', 'd:resourcetype']);
    return all.filter((e) => {
      const rt = e.props.resourcetype;
      return !(typeof rt === 'object' && rt !== null && 'collection' in (rt as Record<string, unknown>));
    });
  }

  /** Turns listed entries into pages: known etags are `unchanged`, others read (multiget if needed). */
  private async *itemPages(book: string, entries: DavEntry[], req: PullRequest, first: PullPage, cursor: string | null): AsyncIterable<PullPage> {
    let page = first;
    const complete = first.complete;
    const seen = new Set<string>();
    const missing: { id: string; href: string }[] = [];
    const withData: { id: string; e: DavEntry }[] = [];
    const known = await req.knownEtags(entries.flatMap((e) => this.idOf(e.href, book) ?? []));
    for (const e of entries) {
      const id = this.idOf(e.href, book);
      if (id === null || seen.has(id)) continue; // duplicate hrefs in one listing count once
      seen.add(id);
      if (e.etag !== null && known.get(id) === e.etag) page.unchanged.push(id);
      else if (e.data !== null) withData.push({ id, e });
      else missing.push({ id, href: e.href });
    }
    const flush = (): PullPage => {
      const out = page;
      page = emptyPage(complete);
      return out;
    };
    for (const { id, e } of withData) {
      this.addItem(page, known, id, e.etag, e.data as string);
      if (page.items.length >= PAGE_ITEMS) yield flush();
    }
    for (let i = 0; i < missing.length; i += this.config.multigetBatch) {
      const batch = missing.slice(i, i + this.config.multigetBatch);
      const got = new Map<string, DavEntry>();
      for (const e of await multiget(this.t, book, batch.map((b) => new URL(b.href, book).pathname))) {
        const id = this.idOf(e.href, book);
        if (id !== null) got.set(id, e);
      }
      for (const b of batch) {
        const e = got.get(b.id);
        // 404: deleted since it was listed, so absent is right.
        if (e?.status === 404) continue;
        if (e === undefined || e.data === null) {
          // Listed but its content did not come: unreadable, not deleted (a complete listing must
          // not make it look gone).
          page.problems.push({ id: b.id, message: `${b.id}: the server listed it but did not return its vCard (status ${e?.status ?? 'none'}); it is left untouched` });
          if (known.has(b.id)) page.unchanged.push(b.id);
          continue;
        }
        this.addItem(page, known, b.id, e.etag, e.data);
        if (page.items.length >= PAGE_ITEMS) yield flush();
      }
    }
    yield { ...page, cursor };
  }

  private addItem(page: PullPage, known: ReadonlyMap<string, string | null>, id: string, etag: string | null, text: string): void {
    const lifted = this.lift(id, etag, text);
    if ('problem' in lifted) {
      page.problems.push(lifted.problem);
      // Listed but unreadable: keep it (a complete listing must not make it look deleted).
      if (known.has(id)) page.unchanged.push(id);
      return;
    }
    page.items.push(lifted.item);
    page.problems.push(...lifted.problems);
    if (etag !== null && this.texts.size < TEXT_CACHE_MAX) this.texts.set(id, { etag, text });
  }

  async get(id: string): Promise<RemoteItem | null> {
    const book = await this.ensureBook();
    const got = await this.fetchOne(id, book);
    if (got === null) return null;
    const lifted = this.lift(id, got.etag, got.text);
    if ('problem' in lifted) throw new ConnectorError('invalid_data', lifted.problem.message, { itemId: id });
    return lifted.item;
  }

  /**
   * GETs `<marker>.vcf`, the name `create` gives. It is this marker's item when its stamp is this
   * marker or when it carries none (with `client-id` creates the name is the claim). A server that
   * moved the item elsewhere is not searched (Xandikos' addressbook-query cannot filter, §2.2.7);
   * the engine's matching by UID links it again on the next pull, where the stamp shows.
   */
  async findByMarker(marker: string): Promise<RemoteItem[]> {
    assertMarker(marker);
    const item = await this.get(`${marker}.vcf`);
    if (item === null) return [];
    if (item.marker === marker) return [item];
    if (item.marker === null || item.marker === undefined) return [{ ...item, marker }];
    return [];
  }

  async create(card: Card, opts: { marker: string }): Promise<WriteResult> {
    const book = await this.ensureBook();
    assertMarker(opts.marker);
    let id = `${opts.marker}.vcf`;
    let text: string;
    try {
      text = stampMarker(toVCard(card, { version: this.config.version }), opts.marker);
    } catch (e) {
      throw new ConnectorError('invalid_data', `Cannot write the contact as a vCard: ${(e as Error).message}`, { cause: e });
    }
    const res = await this.t.request('PUT', this.urlOf(id, book), text, { 'content-type': 'text/vcard; charset=utf-8', 'if-none-match': '*' }, { accept: [412] });
    if (res.status === 412) throw new ConnectorError('already_exists', `${id} already exists`, { itemId: id });
    const location = res.headers.get('location');
    if (location !== null) id = this.idOf(location, book) ?? id;
    return this.written(id, book, res.headers.get('etag'), text);
  }

  async update(id: string, card: Card, opts: UpdateOptions): Promise<WriteResult> {
    const book = await this.ensureBook();
    assertId(id);
    // The text to rewrite: the one the hub kept for this etag (`previous`), else one this run read,
    // else a read (shared with the other updates of the moment). If-Match below makes a stale text
    // harmless: the server refuses the PUT and the engine re-reads and merges.
    const cached = this.texts.get(id);
    const current =
      opts.previous !== undefined && opts.ifMatch !== null
        ? { etag: opts.ifMatch, text: opts.previous }
        : cached !== undefined && (opts.ifMatch === null || cached.etag === opts.ifMatch)
          ? cached
          : await this.load(id);
    if (current === null) throw new ConnectorError('not_found', `${id} does not exist in ${book}`, { itemId: id });
    if (opts.ifMatch !== null && current.etag !== null && current.etag !== opts.ifMatch) throw conflict(id);
    let next: string;
    try {
      // The server's text, not a re-serialisation: X-*, grouped item1.X-ABLabel, PHOTO and the
      // stamp survive.
      next = updateVCard(current.text, card, opts.changed, { defaultRegion: this.env.defaultRegion });
    } catch (e) {
      throw new ConnectorError('invalid_data', `${id} is not a readable vCard (${(e as Error).message}); it was left untouched`, { itemId: id, cause: e });
    }
    if (next === current.text) return { id, etag: current.etag, raw: current.text };
    const headers: Record<string, string> = { 'content-type': 'text/vcard; charset=utf-8' };
    if (current.etag !== null) headers['if-match'] = current.etag;
    const res = await this.t.request('PUT', this.urlOf(id, book), next, headers, { accept: [404, 412] });
    this.texts.delete(id);
    if (res.status === 404) throw new ConnectorError('not_found', `${id} was deleted meanwhile`, { itemId: id });
    if (res.status === 412) throw conflict(id);
    return this.written(id, book, res.headers.get('etag'), next);
  }

  async delete(id: string, opts: { ifMatch: string | null }): Promise<void> {
    const book = await this.ensureBook();
    assertId(id);
    const headers: Record<string, string> = {};
    if (opts.ifMatch !== null) headers['if-match'] = opts.ifMatch;
    const res = await this.t.request('DELETE', this.urlOf(id, book), undefined, headers, { accept: [404, 410, 412] });
    this.texts.delete(id);
    if (res.status === 412) {
      // RFC 9110 §13.1.1: If-Match on a resource that does not exist fails too; already gone is deleted.
      if ((await this.fetchOne(id, book)) === null) return;
      throw conflict(id);
    }
  }

  async close(): Promise<void> {
    this.texts.clear();
  }

  // ---------------------------------------------------------------------------------------------

  private async ensureBook(): Promise<string> {
    if (this.book !== null) return this.book;
    const found = await discoverAddressBooks(this.t, this.config.url);
    this.book = chooseAddressBook(found, this.config.addressBookName, this.config.url).url;
    return this.book;
  }

  /**
   * After a PUT: the etag the server gave, else the item read back once (RFC 7231 lets a PUT omit
   * it). A server that stores other octets than it was sent must not return an ETag for the PUT
   * (RFC 6352 §6.3.2.3), so with an ETag the text sent is the text stored.
   */
  private async written(id: string, book: string, etag: string | null, sent: string): Promise<WriteResult> {
    if (etag !== null) return { id, etag, raw: sent };
    const back = await this.fetchOne(id, book);
    if (back === null) return { id, etag: null };
    const lifted = this.lift(id, back.etag, back.text);
    return { id, etag: back.etag, raw: back.text, ...('item' in lifted ? { echoed: lifted.item } : {}) };
  }

  private async fetchOne(id: string, book: string): Promise<Loaded | null> {
    assertId(id);
    const res = await this.t.request('GET', this.urlOf(id, book), undefined, { accept: 'text/vcard, text/x-vcard;q=0.9, */*;q=0.1' }, { accept: [404, 410] });
    if (res.status === 404 || res.status === 410) return null;
    return { etag: res.headers.get('etag'), text: res.text };
  }

  /**
   * The current text of an item for an update. Calls made in the same tick (the engine runs many
   * updates at once) are merged into one addressbook-multiget, so N updates cost one read.
   */
  private load(id: string): Promise<Loaded | null> {
    return new Promise((resolve, reject) => {
      const waiting = this.loadQueue.get(id);
      if (waiting) waiting.push({ resolve, reject });
      else this.loadQueue.set(id, [{ resolve, reject }]);
      if (!this.loadScheduled) {
        this.loadScheduled = true;
        setImmediate(() => void this.flushLoads());
      }
    });
  }

  private async flushLoads(): Promise<void> {
    const queue = this.loadQueue;
    this.loadQueue = new Map();
    this.loadScheduled = false;
    const ids = [...queue.keys()];
    const settle = (id: string, v: Loaded | null): void => {
      for (const w of queue.get(id) ?? []) w.resolve(v);
    };
    try {
      const book = await this.ensureBook();
      if (ids.length === 1) {
        const id = ids[0] as string;
        settle(id, await this.fetchOne(id, book));
        return;
      }
      for (let i = 0; i < ids.length; i += this.config.multigetBatch) {
        const batch = ids.slice(i, i + this.config.multigetBatch);
        const got = new Map<string, Loaded>();
        for (const e of await multiget(this.t, book, batch.map((id) => new URL(this.urlOf(id, book)).pathname))) {
          const id = this.idOf(e.href, book);
          if (id !== null && e.status !== 404 && e.data !== null) got.set(id, { etag: e.etag, text: e.data });
        }
        for (const id of batch) settle(id, got.get(id) ?? null);
      }
    } catch (e) {
      for (const id of ids) for (const w of queue.get(id) ?? []) w.reject(e);
    }
  }

  private lift(id: string, etag: string | null, text: string): { item: RemoteItem; problems: ItemProblem[] } | { problem: ItemProblem } {
    try {
      const parsed = parseVCard(text, { defaultRegion: this.env.defaultRegion });
      return {
        item: { id, etag, card: parsed.card, marker: readMarkerStamp(text), raw: text },
        problems: parsed.problems.map((p) => ({ id, field: p.field, message: `${id}: ${p.message}` })),
      };
    } catch (e) {
      return { problem: { id, message: `${id} is not a readable vCard (${(e as Error).message}); it is left untouched` } };
    }
  }

  /**
   * The id of a member href: its decoded name when it is a direct member of the collection, else
   * its (encoded) path. Null for the collection itself.
   */
  private idOf(href: string, book: string): string | null {
    const u = new URL(href, book);
    const base = new URL(book).pathname;
    if (u.pathname === base || `${u.pathname}/` === base) return null;
    if (u.pathname.startsWith(base)) {
      const rest = u.pathname.slice(base.length);
      if (rest !== '' && !rest.includes('/')) {
        let name: string;
        try {
          name = decodeURIComponent(rest);
        } catch {
          return u.pathname;
        }
        if (!name.includes('/') && !name.startsWith('/')) return name;
      }
    }
    return u.pathname;
  }

  private urlOf(id: string, book: string): string {
    return id.startsWith('/') ? new URL(id, book).href : `${book}${encodeURIComponent(id)}`;
  }
}

function emptyPage(complete: boolean): PullPage {
  return { items: [], unchanged: [], deleted: [], problems: [], complete };
}

function parseCursor(s: string): Cursor | null {
  try {
    const c = JSON.parse(s) as unknown;
    if (typeof c === 'object' && c !== null && typeof (c as Cursor).b === 'string' && (typeof (c as Cursor).t === 'string' || (c as Cursor).t === null)) return c as Cursor;
  } catch {
    // not ours
  }
  return null;
}

function assertMarker(marker: string): void {
  if (typeof marker !== 'string' || !isMarker(marker)) {
    throw new ConnectorError('invalid_data', `carddav: marker ${JSON.stringify(marker)} cannot name a resource (expected 1 to 200 characters of [A-Za-z0-9_-])`);
  }
}

function assertId(id: string): void {
  if (typeof id !== 'string' || id === '' || id.includes('\0') || id === '.' || id === '..') {
    throw new ConnectorError('invalid_data', `carddav: ${JSON.stringify(id)} is not an item of an address book`, { itemId: String(id) });
  }
}

function conflict(id: string): ConnectorError {
  return new ConnectorError('conflict', `${id} changed on the server since it was last read`, { itemId: id });
}

export const carddavConnectorFactory: ConnectorFactory<CarddavConfig> = {
  type: 'carddav',
  label: 'CardDAV address book',
  parseConfig: parseCarddavConfig,
  capabilities: carddavCapabilities,
  accountProvider: 'carddav',
  create: (config, env) => new CarddavConnector(config, env),
};

export { collectionUrl };
