/**
 * The "server side" of the in-memory spoke: what a provider holds, how it answers requests, and the
 * faults the engine's deterministic simulation injects (sync-design.md C1.3 "Faithful fakes", C3).
 *
 * Everything here is deterministic: ids and etags come from counters, time from an injected clock,
 * and every fault is armed explicitly by the test (no randomness inside). The same sequence of calls
 * always gives the same state, so `snapshot()` can feed the simulation's determinism hash.
 *
 * Model:
 * - The backend stores a full Card per item, plus `unknown` properties the model has no notion of
 *   (think vCard `X-` properties or provider-only fields). Connector reads show only the slices of
 *   `fields` (see `card-slices.ts`); connector writes replace only them. Unknown properties are
 *   never shown to, nor touched by, the connector.
 * - Every write (by the connector or by a simulated user) appends an entry to a change log with the
 *   next sequence number and gives the item a new etag. A cursor is "the last sequence number seen";
 *   incremental pulls replay the log after it.
 * - A write becomes visible to pulls `visibilityLagMs` after it happened (Google People: "incremental
 *   syncs are not intended for read-after-write"). `get` and `findByMarker` see writes at once by
 *   default; `immediateGet: false` / `immediateFindByMarker: false` make them lag like pulls.
 */
import type { Card } from '../../model/card.js';
import type { FieldPath } from '../../model/fields.js';
import type {
  Capabilities,
  ItemProblem,
  PullPage,
  PullRequest,
  RemoteItem,
  WriteResult,
} from '../kit/contract.js';
import { ConnectorError, type ConnectorErrorKind } from '../kit/errors.js';
import { overlayFields, pickFields, unsupportedContent } from './card-slices.js';

/** The connector calls the backend counts and can fail. A pull counts once per page requested. */
export type MemoryMethod = 'identity' | 'pull' | 'get' | 'findByMarker' | 'create' | 'update' | 'delete';
export type MemoryWriteMethod = 'create' | 'update' | 'delete';

export const MEMORY_METHODS: readonly MemoryMethod[] = [
  'identity', 'pull', 'get', 'findByMarker', 'create', 'update', 'delete',
];

/** 2024-01-01T00:00:00Z: where a `ManualClock` starts unless told otherwise. */
export const DEFAULT_EPOCH_MS = 1_704_067_200_000;

/** A settable clock for the backend (and, if the test wants one timeline, for the engine's env). */
export class ManualClock {
  private t: number;
  constructor(startMs: number = DEFAULT_EPOCH_MS) {
    this.t = startMs;
  }
  /** A bound function, so it can be handed around as `ConnectorEnv.now`. */
  readonly now = (): number => this.t;
  set(ms: number): void {
    this.t = ms;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

/**
 * How the simulated provider behaves. Each option is a property of the *server* (whether it accepts
 * client-chosen ids, keeps sync tokens, honours If-Match…), so it lives on the backend and every
 * connector made on it declares matching capabilities.
 */
export interface MemoryBackendOptions {
  /**
   * Names the account and collection; `identity()` is derived from it. Default: `memory-N`, one per
   * backend, as two servers are two address books (the engine refuses two spokes of one hub on one).
   */
  accountId?: string;
  /** The server's clock (ms since the epoch). Default: a `ManualClock` at `DEFAULT_EPOCH_MS`. */
  now?: () => number;
  /**
   * Ids derived from the create marker (`memoryClientId`), and a second create of a marker whose
   * item exists fails with `already_exists` (capability `idempotentCreate: 'client-id'`). Otherwise
   * ids come from a counter and a repeated create makes a duplicate. Default false.
   */
  clientIds?: boolean;
  /** Pulls with a cursor return only what changed (capability `incremental`). Default true. */
  incremental?: boolean;
  /** `ifMatch` is checked on update and delete (capability `conditionalWrites`). Default true. */
  conditionalWrites?: boolean;
  /** Markers are stored and `findByMarker` works (capability `markers`). Default true. */
  markers?: boolean;
  /** The field paths the provider stores (capability `fields`). Default `'all'`. */
  fields?: 'all' | readonly FieldPath[];
  /** Every connector write is refused with `permission` (capability `readOnly`). Default false. */
  readOnly?: boolean;
  /** Items (plus ids reported unchanged, deleted or with problems) per pull page. Default 50. */
  pageSize?: number;
  /** How long a write takes to show in pulls (capability `visibilityLagMs`). Default 0. */
  visibilityLagMs?: number;
  /** `get` sees writes at once, ignoring the lag. Default true (Google People: reads are fresh). */
  immediateGet?: boolean;
  /** `findByMarker` sees writes at once, ignoring the lag. Default true. */
  immediateFindByMarker?: boolean;
  /** Writes answer with the stored item (`WriteResult.echoed`). Default true. */
  echoWrites?: boolean;
  /**
   * Declared as capability `maxConcurrency` (left out when not given: the engine then calls one at
   * a time). Declared only: each memory call completes within its own turn, so nothing overlaps.
   */
  maxConcurrency?: number;
  /**
   * A connector write carrying content outside `fields` (or naming such a path in `changed`) fails
   * with `invalid_data`, to catch an engine that ignores `capabilities.fields`. Default false: such
   * content is dropped, as a provider's mapping would.
   */
  rejectUnsupportedFields?: boolean;
}

/** An item as the backend holds it: the full Card, not a connector's view of it. */
export interface BackendItem {
  id: string;
  etag: string;
  /** Null for an item planted by `userCreateBroken`. */
  card: Card | null;
  /** Why the item cannot be read, for a broken item; else null. */
  broken: string | null;
  marker: string | null;
  modifiedAt: number;
  /** Properties the model does not know (never shown to or written by the connector). */
  unknown: Record<string, string>;
}

/** JSON-safe, key-ordered dump of the whole server state, for determinism checks. */
export interface MemorySnapshot {
  accountId: string;
  seq: number;
  cursorGeneration: number;
  /** Sorted by id. */
  items: BackendItem[];
}

/**
 * Called when the server receives a connector write (after injected failures and the read-only
 * check, before it looks at the item): the simulation checks there that an intent was committed
 * before the call (sync-design.md C3, S2). Throwing fails the call with that error.
 */
export type WriteObserver = (write: {
  method: MemoryWriteMethod;
  /** Null for a create on a server that assigns ids. */
  id: string | null;
  marker: string | null;
  ifMatch: string | null;
}) => void;

/** The id a client-id backend gives the item created with `marker`. */
export function memoryClientId(marker: string): string {
  return `c-${marker}`;
}

/** One stored state of an item. Immutable except `etag`, which flaky etags rotate on reads. */
interface Version {
  readonly id: string;
  etag: string;
  readonly card: Card | null;
  readonly broken: string | null;
  readonly marker: string | null;
  readonly modifiedAt: number;
  readonly unknown: Readonly<Record<string, string>>;
  /** Sequence number of the create of this incarnation: listings are in creation order. */
  readonly createdSeq: number;
}

interface LogEntry {
  readonly seq: number;
  readonly id: string;
  /** When pulls may see it (write time + lag at the time of the write). */
  readonly visibleAt: number;
  /** The item after the write; null for a delete. */
  readonly version: Version | null;
}

interface FailRule {
  remaining: number;
  kind: ConnectorErrorKind;
  retryAfterMs: number | undefined;
  methods: ReadonlySet<MemoryMethod> | null;
}

interface LoseRule {
  remaining: number;
  methods: ReadonlySet<MemoryWriteMethod> | null;
}

type PageEntry =
  | { kind: 'item'; version: Version }
  | { kind: 'deleted'; id: string };

const CURSOR_RE = /^memory:(\d+):(\d+):(.*)$/s;

/** Backends made so far: the default account of each is its own (`memory-N`). */
let backendsMade = 0;

/**
 * The in-memory provider. The simulation keeps a handle on it to act as a user (`user*` methods),
 * inspect it (`list`, `item`, `snapshot`, `callCounts`) and inject faults; the engine reaches it only
 * through a `MemoryConnector` (whose methods call the `serve*` methods here).
 */
export class MemoryBackend {
  private accountIdValue: string;
  private readonly clockNow: () => number;
  private readonly clientIds: boolean;
  private readonly incremental: boolean;
  private readonly conditionalWrites: boolean;
  private readonly markers: boolean;
  private readonly fields: 'all' | readonly FieldPath[];
  private readonly pageSize: number;
  private readonly rejectUnsupported: boolean;
  private readonly maxConcurrency: number | undefined;
  private readOnlyValue: boolean;
  private lagMs: number;
  private immediateGet: boolean;
  private immediateFind: boolean;
  private echo: boolean;
  private nullEtags = false;
  private flaky = false;
  private normalizer: ((card: Card) => Card) | null = null;
  private truncateKeep: number | null = null;
  private failRules: FailRule[] = [];
  private loseRules: LoseRule[] = [];
  private writeObserver: WriteObserver | null = null;
  private capabilitiesCache: Capabilities | null = null;

  /** Current state by id (latest write, visible or not). Map order is irrelevant: listings sort. */
  private readonly items = new Map<string, Version>();
  /** Change log; `log[i].seq === logBase + i + 1`. */
  private log: LogEntry[] = [];
  private logBase = 0;
  /** Entries written with a lag, the only ones that can be invisible: keeps the horizon cheap. */
  private lagged: LogEntry[] = [];
  private seq = 0;
  private etagCounter = 0;
  private idCounter = 0;
  /** Bumped by `expireCursors` and `switchAccount`; a cursor from an older generation is invalid. */
  private cursorGeneration = 0;
  private calls: Record<MemoryMethod, number> = zeroCalls();
  private cardReads = 0;

  constructor(opts: MemoryBackendOptions = {}) {
    this.accountIdValue = opts.accountId ?? `memory-${++backendsMade}`;
    this.clockNow = opts.now ?? new ManualClock().now;
    this.clientIds = opts.clientIds ?? false;
    this.incremental = opts.incremental ?? true;
    this.conditionalWrites = opts.conditionalWrites ?? true;
    this.markers = opts.markers ?? true;
    this.fields = opts.fields === undefined || opts.fields === 'all' ? 'all' : [...opts.fields];
    this.readOnlyValue = opts.readOnly ?? false;
    this.pageSize = opts.pageSize ?? 50;
    if (!Number.isInteger(this.pageSize) || this.pageSize < 1) throw new Error(`pageSize must be a positive integer, got ${this.pageSize}`);
    this.lagMs = checkLag(opts.visibilityLagMs ?? 0);
    this.immediateGet = opts.immediateGet ?? true;
    this.immediateFind = opts.immediateFindByMarker ?? true;
    this.echo = opts.echoWrites ?? true;
    this.rejectUnsupported = opts.rejectUnsupportedFields ?? false;
    this.maxConcurrency = opts.maxConcurrency;
    if (this.maxConcurrency !== undefined && (!Number.isInteger(this.maxConcurrency) || this.maxConcurrency < 1)) {
      throw new Error(`maxConcurrency must be a positive integer, got ${this.maxConcurrency}`);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Capabilities and identity

  /**
   * What a connector on this backend declares. Reflects the current `setReadOnly` and
   * `setVisibilityLag` settings (a new frozen object after each change), so an engine that reads
   * capabilities each cycle sees a spoke that became read-only; one that cached them gets
   * `permission` errors, as from a real provider whose share was downgraded.
   */
  get capabilities(): Capabilities {
    this.capabilitiesCache ??= Object.freeze({
      readOnly: this.readOnlyValue,
      incremental: this.incremental,
      idempotentCreate: this.clientIds ? 'client-id' : 'none',
      markers: this.markers,
      conditionalWrites: this.conditionalWrites,
      fields: this.fields,
      visibilityLagMs: this.lagMs,
      ...(this.maxConcurrency === undefined ? {} : { maxConcurrency: this.maxConcurrency }),
    });
    return this.capabilitiesCache;
  }

  get accountId(): string {
    return this.accountIdValue;
  }

  /** The server's current time. */
  now(): number {
    return this.clockNow();
  }

  // ---------------------------------------------------------------------------------------------
  // Fault injection and settings (the simulation's "environment" commands)

  /**
   * The next `n` connector calls (of `methods`, default every method) throw `ConnectorError(kind)`
   * without reaching the server: nothing is applied (a request lost before the server, a 5xx, a 429).
   * Rules queue up: each call is charged to the first armed rule that matches its method.
   */
  failNext(
    n: number,
    kind: ConnectorErrorKind,
    opts: { retryAfterMs?: number; methods?: readonly MemoryMethod[] } = {},
  ): void {
    if (!Number.isInteger(n) || n < 0) throw new Error(`failNext: n must be a non-negative integer, got ${n}`);
    if (n === 0) return;
    this.failRules.push({
      remaining: n,
      kind,
      retryAfterMs: opts.retryAfterMs,
      methods: opts.methods === undefined ? null : new Set(opts.methods),
    });
  }

  /**
   * The next `count` (default 1) connector writes (of `methods`, default create/update/delete) run
   * on the server and then throw `ConnectorError('transient')`: the response was lost. This is the
   * key case for duplicates: the engine cannot tell whether its create happened. A write the server
   * refuses (conflict, not_found…) also comes back as `transient`: its response was lost too.
   */
  loseNextResponse(opts: { count?: number; methods?: readonly MemoryWriteMethod[] } = {}): void {
    const count = opts.count ?? 1;
    if (!Number.isInteger(count) || count < 0) throw new Error(`loseNextResponse: count must be a non-negative integer, got ${count}`);
    if (count === 0) return;
    this.loseRules.push({ remaining: count, methods: opts.methods === undefined ? null : new Set(opts.methods) });
  }

  /**
   * The next full pull (cursor null) silently lists only its first `keep` items, yet still claims
   * `complete: true` (a pagination bug or a throttled partial response). `get` still finds the rest.
   */
  truncateNextListing(keep: number): void {
    if (!Number.isInteger(keep) || keep < 0) throw new Error(`truncateNextListing: keep must be a non-negative integer, got ${keep}`);
    this.truncateKeep = keep;
  }

  /**
   * While on, every read (a listing entry, `get`, `findByMarker`) gives the item a new etag although
   * nothing changed, as vdirsyncer's test machine does. The new etag is the item's real etag from
   * then on (an `ifMatch` with the previous one conflicts); the change log is not touched, so
   * incremental pulls do not report such an item.
   */
  flakyEtags(on: boolean): void {
    this.flaky = on;
  }

  /**
   * From now on the server rewrites what the connector writes (after keeping unsupported slices):
   * `fn` gets a copy of the card about to be stored and returns what is stored. Write echoes and
   * later reads show the normalised card. User writes are taken as already normalised. `null` stops.
   */
  normalizeOnWrite(fn: ((card: Card) => Card) | null): void {
    this.normalizer = fn;
  }

  /** Makes the spoke read-only (or writable again): capability `readOnly`, and writes refused with `permission`. */
  setReadOnly(on: boolean): void {
    this.readOnlyValue = on;
    this.capabilitiesCache = null;
  }

  /**
   * Writes from now on take `ms` to show in pulls (writes already made keep their visibility time).
   * Optionally changes whether `get` / `findByMarker` see writes at once.
   */
  setVisibilityLag(ms: number, opts: { immediateGet?: boolean; immediateFindByMarker?: boolean } = {}): void {
    this.lagMs = checkLag(ms);
    if (opts.immediateGet !== undefined) this.immediateGet = opts.immediateGet;
    if (opts.immediateFindByMarker !== undefined) this.immediateFind = opts.immediateFindByMarker;
    this.capabilitiesCache = null;
  }

  /** Writes answer with `etag: null` (a CardDAV PUT without an ETag header). */
  nullEtagOnWrite(on: boolean): void {
    this.nullEtags = on;
  }

  /** Whether writes answer with the stored item (`WriteResult.echoed`). */
  echoWrites(on: boolean): void {
    this.echo = on;
  }

  /** Calls `observer` before each connector write is applied; if it throws, the call throws that. */
  onConnectorWrite(observer: WriteObserver | null): void {
    this.writeObserver = observer;
  }

  /** Every cursor handed out so far becomes invalid: pulls with it throw `cursor_invalid`. */
  expireCursors(): void {
    this.cursorGeneration += 1;
  }

  /** Heals every armed fault (failures, lost responses, truncation, flaky etags, normaliser, null etags). */
  clearFaults(): void {
    this.failRules = [];
    this.loseRules = [];
    this.truncateKeep = null;
    this.flaky = false;
    this.normalizer = null;
    this.nullEtags = false;
  }

  /**
   * The spoke now points at another, empty account (a re-link or a wiped account): the identity
   * changes, every item and old cursor is gone. Call counters are kept.
   */
  switchAccount(accountId: string): void {
    this.accountIdValue = accountId;
    this.items.clear();
    this.logBase = this.seq;
    this.log = [];
    this.lagged = [];
    this.cursorGeneration += 1;
  }

  // ---------------------------------------------------------------------------------------------
  // The simulated user, acting on the server directly (no faults, no read-only, no call counts)

  /**
   * Creates an item as a user would in the provider's UI; returns its id. `id` picks the id (it must
   * be free); otherwise the server assigns one. `marker` stamps one (to model a copy of a hub item).
   */
  userCreate(card: Card, opts: { id?: string; marker?: string; unknown?: Record<string, string> } = {}): string {
    const id = opts.id ?? this.nextServerId();
    if (this.items.has(id)) throw new Error(`userCreate: id ${id} is taken`);
    this.write(id, { card: structuredClone(card), broken: null, marker: opts.marker ?? null, unknown: { ...opts.unknown } }, null);
    return id;
  }

  /**
   * Edits an item as a user would. `mutate` gets a copy of the stored card and either changes it in
   * place or returns the new card. A broken item gets a bare card (`@type`, `version`, `uid` = id),
   * so editing it repairs it. Throws when the id does not exist.
   */
  userUpdate(id: string, mutate: (card: Card) => Card | void): void {
    const cur = this.requireItem('userUpdate', id);
    const draft = cur.card === null ? bareCard(id) : structuredClone(cur.card);
    const next = mutate(draft) ?? draft;
    this.write(id, { card: structuredClone(next), broken: null, marker: cur.marker, unknown: cur.unknown }, cur);
  }

  /** Deletes an item as a user would; returns whether it existed. */
  userDelete(id: string): boolean {
    if (!this.items.has(id)) return false;
    this.remove(id);
    return true;
  }

  /** Sets a property the model does not know (a vCard `X-` property, a provider-only field). */
  userSetUnknownProperty(id: string, key: string, value: string): void {
    const cur = this.requireItem('userSetUnknownProperty', id);
    this.write(id, { card: cur.card, broken: cur.broken, marker: cur.marker, unknown: { ...cur.unknown, [key]: value } }, cur);
  }

  /** Plants an item the connector cannot read: pulls report it in `problems`, `get` throws `invalid_data`. */
  userCreateBroken(message = 'unreadable item (memory backend: planted by userCreateBroken)'): string {
    const id = this.nextServerId();
    this.write(id, { card: null, broken: message, marker: null, unknown: {} }, null);
    return id;
  }

  /**
   * Gives an item a new id without changing its content (a renamed href, an id change on a folder
   * move). Returns the new id. The change log shows a delete of the old id and a create of the new.
   */
  userMove(id: string, newId?: string): string {
    const cur = this.requireItem('userMove', id);
    const target = newId ?? this.nextServerId();
    if (this.items.has(target)) throw new Error(`userMove: id ${target} is taken`);
    this.remove(id);
    this.write(target, { card: cur.card, broken: cur.broken, marker: cur.marker, unknown: cur.unknown }, null);
    return target;
  }

  // ---------------------------------------------------------------------------------------------
  // Inspection (the truth, ignoring visibility lag and field support)

  /** Every item as stored, in creation order. Copies. */
  list(): BackendItem[] {
    return [...this.items.values()].sort(byCreation).map(toBackendItem);
  }

  /** One item as stored, or undefined. A copy. */
  item(id: string): BackendItem | undefined {
    const v = this.items.get(id);
    return v === undefined ? undefined : toBackendItem(v);
  }

  get size(): number {
    return this.items.size;
  }

  /** The whole state, JSON-safe, with items sorted by id: equal histories give equal snapshots. */
  snapshot(): MemorySnapshot {
    const items = [...this.items.values()].map(toBackendItem).sort((a, b) => compareStrings(a.id, b.id));
    return { accountId: this.accountIdValue, seq: this.seq, cursorGeneration: this.cursorGeneration, items };
  }

  /** Connector calls per method since creation or the last reset (a pull counts once per page). */
  callCounts(): Readonly<Record<MemoryMethod, number>> {
    return { ...this.calls };
  }

  /** How many item bodies connector reads have served (listings skip those with a known etag). */
  get itemReads(): number {
    return this.cardReads;
  }

  resetCallCounts(): void {
    this.calls = zeroCalls();
    this.cardReads = 0;
  }

  // ---------------------------------------------------------------------------------------------
  // The wire: what a MemoryConnector calls. Each call is one request to the server.

  /** @see Connector.identity */
  serveIdentity(): string {
    this.enter('identity');
    return `memory:${this.accountIdValue}`;
  }

  /**
   * @see Connector.pull. The listing is taken when the first page is requested (a consistent
   * snapshot, like a sync token pins one); each page is one request and may fail on its own.
   */
  async *servePull(req: PullRequest): AsyncGenerator<PullPage> {
    this.enter('pull');
    let entries: PageEntry[];
    let complete: boolean;
    const horizon = this.horizon();
    if (req.cursor === null) {
      entries = this.visibleItems(horizon).map((version) => ({ kind: 'item', version }));
      if (this.truncateKeep !== null) {
        entries = entries.slice(0, this.truncateKeep);
        this.truncateKeep = null;
      }
      complete = true;
    } else {
      if (!this.incremental) {
        throw new ConnectorError('unsupported', 'memory backend: this spoke is not incremental; pull with cursor null');
      }
      entries = this.changesSince(this.parseCursor(req.cursor), horizon);
      complete = false;
    }
    const cursor = this.incremental ? this.cursorFor(horizon) : null;

    for (let start = 0, first = true; first || start < entries.length; start += this.pageSize, first = false) {
      if (!first) this.enter('pull');
      const page: PullPage = { items: [], unchanged: [], deleted: [], problems: [], complete };
      const slice = entries.slice(start, start + this.pageSize);
      const known = await req.knownEtags(slice.flatMap((e) => (e.kind === 'deleted' ? [] : [e.version.id])));
      for (const e of slice) {
        if (e.kind === 'deleted') {
          page.deleted.push(e.id);
          continue;
        }
        const v = e.version;
        this.rotateIfFlaky(v);
        if (known.get(v.id) === v.etag) page.unchanged.push(v.id);
        else if (v.broken !== null) page.problems.push(problemOf(v));
        else page.items.push(this.read(v));
      }
      if (start + this.pageSize >= entries.length) page.cursor = cursor;
      yield page;
    }
  }

  /** @see Connector.get */
  serveGet(id: string): RemoteItem | null {
    this.enter('get');
    const v = this.immediateGet ? this.items.get(id) : this.visibleVersion(id, this.horizon());
    if (v === undefined) return null;
    this.rotateIfFlaky(v);
    if (v.broken !== null) {
      throw new ConnectorError('invalid_data', `memory backend: item ${id} cannot be read: ${v.broken}`, { itemId: id });
    }
    return this.read(v);
  }

  /** @see Connector.findByMarker */
  serveFindByMarker(marker: string): RemoteItem[] {
    this.enter('findByMarker');
    if (!this.markers) throw new ConnectorError('unsupported', 'memory backend: this spoke keeps no markers');
    const pool = this.immediateFind ? [...this.items.values()].sort(byCreation) : this.visibleItems(this.horizon());
    const found = pool.filter((v) => v.marker === marker && v.broken === null);
    return found.map((v) => {
      this.rotateIfFlaky(v);
      return this.read(v);
    });
  }

  /** @see Connector.create */
  serveCreate(card: Card, opts: { marker: string }): WriteResult {
    this.enter('create');
    return this.respond('create', () => {
      this.checkWritable();
      this.checkCard(card, null);
      const id = this.clientIds ? memoryClientId(opts.marker) : null;
      this.writeObserver?.({ method: 'create', id, marker: opts.marker, ifMatch: null });
      if (id !== null && this.items.has(id)) {
        throw new ConnectorError('already_exists', `memory backend: item ${id} for marker ${opts.marker} exists`, { itemId: id });
      }
      const stored = this.normalise(pickFields(card, this.fields));
      const v = this.write(id ?? this.nextServerId(), { card: stored, broken: null, marker: opts.marker, unknown: {} }, null);
      return this.writeResult(v);
    });
  }

  /** @see Connector.update */
  serveUpdate(id: string, card: Card, opts: { ifMatch: string | null; changed: readonly FieldPath[] }): WriteResult {
    this.enter('update');
    return this.respond('update', () => {
      this.checkWritable();
      this.checkCard(card, opts.changed);
      this.writeObserver?.({ method: 'update', id, marker: this.items.get(id)?.marker ?? null, ifMatch: opts.ifMatch });
      const cur = this.items.get(id);
      if (cur === undefined) throw new ConnectorError('not_found', `memory backend: item ${id} does not exist`, { itemId: id });
      this.checkIfMatch(cur, opts.ifMatch);
      // A broken item has nothing readable to keep: the write replaces it (uid from the new card).
      const base = cur.card ?? { ...bareCard(id), uid: card.uid };
      const stored = this.normalise(overlayFields(base, card, this.fields));
      const v = this.write(id, { card: stored, broken: null, marker: cur.marker, unknown: cur.unknown }, cur);
      return this.writeResult(v);
    });
  }

  /** @see Connector.delete */
  serveDelete(id: string, opts: { ifMatch: string | null }): void {
    this.enter('delete');
    this.respond('delete', () => {
      this.checkWritable();
      this.writeObserver?.({ method: 'delete', id, marker: this.items.get(id)?.marker ?? null, ifMatch: opts.ifMatch });
      const cur = this.items.get(id);
      if (cur === undefined) return; // already gone: counts as deleted
      this.checkIfMatch(cur, opts.ifMatch);
      this.remove(id);
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Internals

  /** Counts the request and fires an armed failure for it. */
  private enter(method: MemoryMethod): void {
    this.calls[method] += 1;
    const rule = this.failRules.find((r) => r.remaining > 0 && (r.methods === null || r.methods.has(method)));
    if (rule === undefined) return;
    rule.remaining -= 1;
    this.failRules = this.failRules.filter((r) => r.remaining > 0);
    throw new ConnectorError(rule.kind, `memory backend: injected ${rule.kind} on ${method}`, {
      ...(rule.retryAfterMs === undefined ? {} : { retryAfterMs: rule.retryAfterMs }),
    });
  }

  /** Runs a write on the server, then loses its response if a lose rule is armed for it. */
  private respond<T>(method: MemoryWriteMethod, run: () => T): T {
    const rule = this.loseRules.find((r) => r.remaining > 0 && (r.methods === null || r.methods.has(method)));
    if (rule === undefined) return run();
    rule.remaining -= 1;
    this.loseRules = this.loseRules.filter((r) => r.remaining > 0);
    let outcome = 'applied';
    try {
      run();
    } catch (e) {
      // Anything else (a write observer's assertion) is the test's failure, not the server's answer.
      if (!(e instanceof ConnectorError)) throw e;
      // The server's refusal is lost with the response: the client sees the same "no answer".
      outcome = `refused (${e.kind})`;
    }
    throw new ConnectorError('transient', `memory backend: ${method} ${outcome} on the server, response lost`);
  }

  private checkWritable(): void {
    if (this.readOnlyValue) throw new ConnectorError('permission', 'memory backend: this spoke is read-only');
  }

  private checkCard(card: Card, changed: readonly FieldPath[] | null): void {
    // Runtime checks on typed input: the engine may build cards from stored JSON.
    const c = card as Partial<Card> | null;
    if (c === null || typeof c !== 'object' || c['@type'] !== 'Card' || typeof c.uid !== 'string' || c.uid === '') {
      throw new ConnectorError('invalid_data', 'memory backend: not a Card with a uid');
    }
    if (!this.rejectUnsupported || this.fields === 'all') return;
    const supported = this.fields;
    const extra = [...unsupportedContent(card, supported), ...(changed ?? []).filter((p) => !supported.includes(p))];
    if (extra.length > 0) {
      throw new ConnectorError('invalid_data', `memory backend: this spoke does not store ${[...new Set(extra)].join(', ')}`, {
        field: extra[0],
      });
    }
  }

  private checkIfMatch(cur: Version, ifMatch: string | null): void {
    if (!this.conditionalWrites || ifMatch === null || ifMatch === cur.etag) return;
    throw new ConnectorError('conflict', `memory backend: item ${cur.id} has etag ${cur.etag}, not ${ifMatch}`, { itemId: cur.id });
  }

  private normalise(card: Card): Card {
    return this.normalizer === null ? card : structuredClone(this.normalizer(structuredClone(card)));
  }

  private writeResult(v: Version): WriteResult {
    const res: WriteResult = { id: v.id, etag: this.nullEtags ? null : v.etag };
    if (this.echo) res.echoed = this.toRemote(v);
    return res;
  }

  /** An item body served to the connector: counted, then lifted into the connector's view. */
  private read(v: Version): RemoteItem {
    this.cardReads += 1;
    return this.toRemote(v);
  }

  private toRemote(v: Version): RemoteItem {
    if (v.card === null) throw new Error(`memory backend: item ${v.id} is broken`);
    return {
      id: v.id,
      etag: v.etag,
      card: pickFields(v.card, this.fields),
      marker: this.markers ? v.marker : null,
      modifiedAt: v.modifiedAt,
    };
  }

  private rotateIfFlaky(v: Version): void {
    if (this.flaky) v.etag = this.nextEtag();
  }

  private nextEtag(): string {
    this.etagCounter += 1;
    return `"e${this.etagCounter}"`;
  }

  private nextServerId(): string {
    // Skips ids taken by `userCreate({ id })` or `userMove`.
    let id: string;
    do {
      this.idCounter += 1;
      id = `m${this.idCounter}`;
    } while (this.items.has(id));
    return id;
  }

  private requireItem(op: string, id: string): Version {
    const v = this.items.get(id);
    if (v === undefined) throw new Error(`${op}: no item ${id}`);
    return v;
  }

  /** Stores a new version of `id` (a create when `prev` is null) and logs it. */
  private write(
    id: string,
    content: { card: Card | null; broken: string | null; marker: string | null; unknown: Readonly<Record<string, string>> },
    prev: Version | null,
  ): Version {
    const seq = this.seq + 1;
    const v: Version = {
      id,
      etag: this.nextEtag(),
      card: content.card,
      broken: content.broken,
      marker: content.marker,
      modifiedAt: this.clockNow(),
      unknown: { ...content.unknown },
      createdSeq: prev === null ? seq : prev.createdSeq,
    };
    this.items.set(id, v);
    this.append(seq, id, v);
    return v;
  }

  private remove(id: string): void {
    this.items.delete(id);
    this.append(this.seq + 1, id, null);
  }

  private append(seq: number, id: string, version: Version | null): void {
    this.seq = seq;
    const entry: LogEntry = { seq, id, visibleAt: this.clockNow() + this.lagMs, version };
    this.log.push(entry);
    if (this.lagMs > 0) this.lagged.push(entry);
  }

  /**
   * The highest sequence number up to which every write is visible to pulls now. Writes past it are
   * left out of listings and cursors even when some of them are already visible, so that a cursor
   * always means "everything up to here was delivered".
   */
  private horizon(): number {
    const now = this.clockNow();
    let first = Infinity;
    for (const e of this.lagged) if (e.visibleAt > now && e.seq < first) first = e.seq;
    return first === Infinity ? this.seq : first - 1;
  }

  /** Live items as of sequence `upTo`, in creation order. */
  private visibleItems(upTo: number): Version[] {
    if (upTo === this.seq) return [...this.items.values()].sort(byCreation);
    const state = new Map<string, Version | null>();
    for (const e of this.log.slice(0, upTo - this.logBase)) state.set(e.id, e.version);
    return [...state.values()].filter((v): v is Version => v !== null).sort(byCreation);
  }

  private visibleVersion(id: string, upTo: number): Version | undefined {
    if (upTo === this.seq) return this.items.get(id);
    for (let i = upTo - this.logBase - 1; i >= 0; i -= 1) {
      const e = this.log[i];
      if (e?.id === id) return e.version ?? undefined;
    }
    return undefined;
  }

  /** What changed in (after, upTo]: the last state of each id touched, in order of that last change. */
  private changesSince(after: number, upTo: number): PageEntry[] {
    const last = new Map<string, LogEntry>();
    for (const e of this.log.slice(after - this.logBase, Math.max(after, upTo) - this.logBase)) {
      last.delete(e.id); // re-insert so iteration follows the order of last changes
      last.set(e.id, e);
    }
    return [...last.values()].map((e): PageEntry =>
      e.version === null ? { kind: 'deleted', id: e.id } : { kind: 'item', version: e.version },
    );
  }

  private cursorFor(seq: number): string {
    return `memory:${this.cursorGeneration}:${seq}:${this.accountIdValue}`;
  }

  private parseCursor(cursor: string): number {
    const m = CURSOR_RE.exec(cursor);
    const gen = m === null ? NaN : Number(m[1]);
    const seq = m === null ? NaN : Number(m[2]);
    if (m === null || m[3] !== this.accountIdValue || gen !== this.cursorGeneration || seq < this.logBase || seq > this.seq) {
      throw new ConnectorError('cursor_invalid', `memory backend: cursor ${cursor} is no longer accepted; pull from scratch`);
    }
    return seq;
  }
}

function zeroCalls(): Record<MemoryMethod, number> {
  return { identity: 0, pull: 0, get: 0, findByMarker: 0, create: 0, update: 0, delete: 0 };
}

function checkLag(ms: number): number {
  if (!Number.isFinite(ms) || ms < 0) throw new Error(`visibilityLagMs must be a non-negative number, got ${ms}`);
  return ms;
}

function bareCard(uid: string): Card {
  return { '@type': 'Card', version: '1.0', uid };
}

function byCreation(a: Version, b: Version): number {
  return a.createdSeq - b.createdSeq;
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function problemOf(v: Version): ItemProblem {
  return { id: v.id, message: v.broken ?? 'unreadable item' };
}

function toBackendItem(v: Version): BackendItem {
  return {
    id: v.id,
    etag: v.etag,
    card: v.card === null ? null : structuredClone(v.card),
    broken: v.broken,
    marker: v.marker,
    modifiedAt: v.modifiedAt,
    unknown: { ...v.unknown },
  };
}
