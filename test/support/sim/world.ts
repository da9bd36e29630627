/**
 * The simulated world the planner check and the whole-engine simulation drive: one hub in a SQLite
 * store in a temp folder, 2–4 in-memory spokes of different capability families, one manual clock
 * for everyone, and the engine (`syncHub`, `decisions.ts`) with seeded ids.
 *
 * What it adds around the engine, and why:
 * - Every connector the engine makes is wrapped (`SimConnector`). The wrapper numbers every call
 *   (so a crash can be injected at call N, before or after the server ran it) and checks each write
 *   against the *committed* store through a second, read-only SQLite connection: a write-ahead
 *   intent must exist (S2), a delete must target a tombstoned contact or a ghost (S3), nothing is
 *   written to a spoke the hub may not write (S3), and outbound deletes are counted for the gate
 *   check (S4). Violations are collected, not thrown, so the engine cannot swallow them.
 * - A crash is a process death: from call N on, every connector call and every store query throws
 *   `SimCrash` (a Kysely plugin refuses queries; an open transaction rolls back). Backends and the
 *   committed store survive; the next sync runs as a new process (new lease holder, new id
 *   generator, clock moved past the dead run's lease).
 * - Everything is deterministic: ids come from a seeded stream, time from the manual clock, and the
 *   backends are deterministic; `hash()` digests every backend and every store table.
 */
import { createHash } from 'node:crypto';
import { accessSync, constants, copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import type {
  Kysely,
  KyselyPlugin,
  PluginTransformQueryArgs,
  PluginTransformResultArgs,
  QueryResult,
  RootOperationNode,
  UnknownRow,
} from 'kysely';
import type { Card } from '../../../src/model/card.js';
import type {
  Connector,
  ConnectorFactory,
  PullPage,
  PullRequest,
  RemoteItem,
  WriteResult,
} from '../../../src/connectors/kit/contract.js';
import {
  ManualClock,
  MemoryBackend,
  MemoryRegistry,
  memoryConnectorFactory,
  type MemoryBackendOptions,
  type MemoryConnectorConfig,
} from '../../../src/connectors/memory/memory-connector.js';
import { uuidv7Generator } from '../../../src/engine/ids.js';
import { defaultSpokeOptions } from '../../../src/engine/plan/options.js';
import { confirmHeld, rejectHeld, type DecisionDeps } from '../../../src/engine/run/decisions.js';
import type { RunSummary } from '../../../src/engine/run/report.js';
import { syncHub, type EngineDeps } from '../../../src/engine/run/sync-hub.js';
import { cardToFields } from '../../../src/model/card-fields.js';
import { restrictFields, type FieldPath, type Fields } from '../../../src/model/fields.js';
import { LEASE_TTL_MS } from '../../../src/store/lease.js';
import { addSpoke, createHub } from '../../../src/store/hubs.js';
import { openStore, type Store } from '../../../src/store/open.js';
import type { Schema } from '../../../src/store/schema.js';
import { REGION, serverNormalize } from './domain.js';
import { seededBytes } from './rng.js';

export const HUB = 'sim';

/**
 * Where the simulated stores live: a RAM-backed temp folder when there is one (thousands of small
 * SQLite files are made and dropped), else the system's temp folder; HUBSYNC_SIM_TMP overrides.
 */
function simTmpRoot(): string {
  const env = process.env.HUBSYNC_SIM_TMP;
  if (env) return env;
  try {
    accessSync('/dev/shm', constants.W_OK);
    return '/dev/shm';
  } catch {
    return os.tmpdir();
  }
}

let template: Promise<string> | undefined;

/** An empty, migrated store file, made once per process and copied for every world. */
function migratedTemplate(): Promise<string> {
  template ??= (async () => {
    const dir = mkdtempSync(path.join(simTmpRoot(), 'hubsync-sim-template-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'template.db');
    const store = await openStore({ kind: 'sqlite', file });
    await store.close(); // checkpoints the WAL into the file
    return file;
  })();
  return template;
}

/** Time a user operation or a sync takes in the simulated world (keeps edit times distinct). */
export const STEP_MS = 1_000;

/** The four capability families of the design's test plan (C2, C3). */
export type SpokeKind = 'dav' | 'people' | 'norm' | 'feed';
export const SPOKE_KINDS: readonly SpokeKind[] = ['dav', 'people', 'norm', 'feed'];

export const NAMES_EMAILS_PHONES: readonly FieldPath[] = ['name.full', 'name.given', 'name.surname', 'emails', 'phones'];

export interface SpokeProfile {
  kind: SpokeKind;
  /** Feed spokes only: the connector itself is read-only (else only the option forbids writes). */
  readOnly?: boolean;
}

function backendOptions(p: SpokeProfile, now: () => number): MemoryBackendOptions {
  switch (p.kind) {
    case 'dav': // CardDAV-like: client-chosen ids (idempotent creates), sync tokens.
      return { now, accountId: 'dav', clientIds: true, incremental: true, pageSize: 7 };
    case 'people': // Google-People-like: server ids, full listings only, names/e-mails/phones only.
      return { now, accountId: 'people', clientIds: false, incremental: false, pageSize: 5, fields: NAMES_EMAILS_PHONES };
    case 'norm': // A server that rewrites phone numbers and e-mail addresses on write.
      return { now, accountId: 'norm', clientIds: false, incremental: true, pageSize: 6 };
    case 'feed': // Feeds the hub only (allowCreate off); optionally a read-only connector too.
      return { now, accountId: 'feed', clientIds: false, incremental: true, pageSize: 8, readOnly: p.readOnly ?? false };
  }
}

export interface SimSpoke {
  index: number;
  name: string;
  kind: SpokeKind;
  /** The hub's spoke id. */
  id: string;
  backend: MemoryBackend;
  fields: 'all' | readonly FieldPath[];
  /** The hub writes to it (allowCreate on, connector writable). */
  twoWay: boolean;
  /** findByMarker was made to lag at some point (ghost duplicates become possible). */
  laggyFind: boolean;
  /** Latest time at which every write made so far on this spoke is visible to pulls. */
  visibleAfter: number;
}

/**
 * The simulated engine lists a spoke followed by a cursor in full every hour of simulated time
 * (a day in production, context.ts): the `advance` command reaches it within a case, and
 * quiescence moves the clock past it (design B9).
 */
export const SIM_FULL_LISTING_EVERY_MS = 3_600_000;

/** A process death injected by the simulation (never a ConnectorError: nothing may handle it). */
export class SimCrash extends Error {
  constructor(where: string) {
    super(`simulated crash (${where})`);
    this.name = 'SimCrash';
  }
}

/** Refuses every store query once the process is "dead" (a rollback is not a query: it still runs). */
class CrashSwitch implements KyselyPlugin {
  on = false;
  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    if (this.on) throw new SimCrash('store query after the crash');
    return args.node;
  }
  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    return args.result;
  }
}

export interface CrashPlan {
  /** 1-based number of the connector call (in this sync) at which the process dies. */
  at: number;
  /** Die after the server ran the call (its response is lost with the process), else before. */
  after: boolean;
}

/** A user acting on a spoke while a sync runs: right before connector call `at` (hard case 21). */
export interface DuringPlan {
  at: number;
  act: () => void;
}

export interface SyncResult {
  summary: RunSummary | null;
  crashed: boolean;
  runId: string | null;
  /** Connector writes (create/update/delete requests, from the backends' call counts) per spoke. */
  writes: number[];
  /** Hub journal rows written by the run (changes to hub contacts). */
  hubChanges: number;
  calls: number;
}

type Row = Record<string, unknown>;

/**
 * The deletion budget of the design (B6, P8), written out here rather than imported from the
 * engine, so that the check does not trust the code it checks: max(10, 20% of the linked contacts).
 */
export function deletionBudget(linked: number): number {
  return Math.max(10, Math.floor(linked * 0.2));
}

export class SimWorld {
  readonly clock = new ManualClock();
  readonly spokes: SimSpoke[] = [];
  /** Invariant violations seen by the connector wrapper and the checks; the tests assert it is empty. */
  readonly violations: string[] = [];
  /** `${spokeId} ${remoteId}` of items a run reported as (possible) duplicates left by an interrupted create. */
  readonly reported = new Set<string>();
  /** Everything the engine asked the spokes, in order (for failure messages). */
  readonly trace: string[] = [];
  hubId = '';
  private store!: Store;
  private dir = '';
  private obs!: Database.Database;
  private readonly crashSwitch = new CrashSwitch();
  private readonly registry = new MemoryRegistry();
  private readonly bytes: (n: number) => Uint8Array;
  private generation = 0;
  private deps!: EngineDeps;
  private crashPlan: CrashPlan | null = null;
  private duringPlan: DuringPlan | null = null;
  private callNo = 0;
  /** Unconfirmed outbound deletes sent in the current sync, per spoke. */
  private runDeletes: number[] = [];

  private constructor(seed: number) {
    this.bytes = seededBytes(seed);
  }

  static async create(seed: number, profiles: readonly SpokeProfile[]): Promise<SimWorld> {
    const w = new SimWorld(seed);
    await w.init(profiles);
    return w;
  }

  private async init(profiles: readonly SpokeProfile[]): Promise<void> {
    this.dir = mkdtempSync(path.join(simTmpRoot(), 'hubsync-sim-'));
    const file = path.join(this.dir, 'hub.db');
    copyFileSync(await migratedTemplate(), file);
    this.store = await openStore({ kind: 'sqlite', file });
    this.obs = new Database(file, { readonly: true, fileMustExist: true });
    this.newProcess();
    const ids = this.deps.ids;
    this.hubId = ids();
    await createHub(this.store.db, { id: this.hubId, name: HUB, object: 'contacts', now: this.clock.now() });
    for (const [index, p] of profiles.entries()) {
      const name = `${p.kind}${index}`;
      // Each simulated server is an account of its own (two spokes on one would be refused).
      const backend = this.registry.add(name, new MemoryBackend({ ...backendOptions(p, this.clock.now), accountId: name }));
      if (p.kind === 'norm') backend.normalizeOnWrite(serverNormalize);
      const twoWay = p.kind !== 'feed';
      const spoke = await addSpoke(this.store.db, {
        id: ids(),
        hubId: this.hubId,
        name,
        type: 'memory',
        config: { backend: name },
        options: { ...defaultSpokeOptions(), allowCreate: twoWay, defaultRegion: REGION },
        now: this.clock.now() + index,
      });
      this.spokes.push({
        index,
        name,
        kind: p.kind,
        id: spoke.id,
        backend,
        fields: backend.capabilities.fields,
        twoWay: twoWay && !backend.capabilities.readOnly,
        laggyFind: false,
        visibleAfter: 0,
      });
    }
  }

  /** A (re)started engine process: new lease holder, new id generator; the store and backends stay. */
  private newProcess(): void {
    this.generation += 1;
    const inner = memoryConnectorFactory(this.registry);
    const factory: ConnectorFactory<MemoryConnectorConfig> = {
      ...inner,
      create: (config, env) => new SimConnector(inner.create(config, env), this.spokeNamed(config.backend), this),
    };
    this.deps = {
      db: this.store.db.withPlugin(this.crashSwitch) as Kysely<Schema>,
      factories: new Map([['memory', factory as ConnectorFactory]]),
      now: this.clock.now,
      ids: uuidv7Generator(this.clock.now, this.bytes),
      holder: `sim-process-${this.generation}`,
      fullListingEveryMs: SIM_FULL_LISTING_EVERY_MS,
    };
  }

  private spokeNamed(name: string): SimSpoke {
    const s = this.spokes.find((x) => x.name === name);
    if (!s) throw new Error(`no simulated spoke ${name}`);
    return s;
  }

  get decisionDeps(): DecisionDeps {
    const { db, factories, now, ids, holder } = this.deps;
    return { db, factories, now, ids, holder };
  }

  async close(): Promise<void> {
    this.obs.close();
    await this.store.close();
    rmSync(this.dir, { recursive: true, force: true });
  }

  // -----------------------------------------------------------------------------------------------
  // Reading the committed store

  all<T = Row>(sql: string, ...params: unknown[]): T[] {
    return this.obs.prepare(sql).all(...params) as T[];
  }

  one<T = Row>(sql: string, ...params: unknown[]): T | undefined {
    return this.obs.prepare(sql).get(...params) as T | undefined;
  }

  /** The spoke's view of an item: its card projected into the spoke's field space. */
  itemFields(s: SimSpoke, card: Card | null): Fields {
    return restrictFields(cardToFields(card ?? { '@type': 'Card', version: '1.0', uid: 'x' }, { defaultRegion: REGION }), s.fields);
  }

  /** remote id → entity id, for one spoke's links. */
  linksOf(s: SimSpoke): Map<string, { entity: string; state: string; baseHash: string }> {
    const rows = this.all<{ remote_id: string; entity_id: string; state: string; base_hash: string }>(
      'select remote_id, entity_id, state, base_hash from links where spoke_id = ?',
      s.id,
    );
    return new Map(rows.map((r) => [r.remote_id, { entity: r.entity_id, state: r.state, baseHash: r.base_hash }]));
  }

  entityOfItem(s: SimSpoke, remoteId: string): string | null {
    return this.one<{ entity_id: string }>('select entity_id from links where spoke_id = ? and remote_id = ?', s.id, remoteId)?.entity_id ?? null;
  }

  violate(msg: string): void {
    this.violations.push(msg);
  }

  // -----------------------------------------------------------------------------------------------
  // The connector wrapper's hooks

  /** One connector call: numbered, traced, and the place where a crash is injected. */
  async call<T>(s: SimSpoke, method: string, fn: () => Promise<T>): Promise<T> {
    if (this.crashSwitch.on) throw new SimCrash(`${s.name}.${method} after the crash`);
    this.callNo += 1;
    this.trace.push(`${this.callNo}:${s.name}.${method}`);
    if (this.duringPlan?.at === this.callNo) {
      this.trace.push('(user acts)');
      this.duringPlan.act();
    }
    const plan = this.crashPlan;
    const dieHere = plan !== null && plan.at === this.callNo;
    if (dieHere && !plan.after) this.die(`${s.name}.${method} #${this.callNo}, before the request`);
    let out: T;
    try {
      out = await fn();
    } catch (e) {
      if (dieHere) this.die(`${s.name}.${method} #${this.callNo}, after the server answered ${(e as Error).name}`);
      throw e;
    }
    if (dieHere) this.die(`${s.name}.${method} #${this.callNo}, after the server applied it`);
    return out;
  }

  private die(where: string): never {
    this.crashSwitch.on = true;
    this.trace.push(`CRASH at ${where}`);
    throw new SimCrash(where);
  }

  /** A write is about to be sent (S2, S3, S4 are checked against the committed store). */
  beforeWrite(s: SimSpoke, method: 'create' | 'update' | 'delete', target: { marker?: string; id?: string }): void {
    if (this.crashSwitch.on) return;
    if (!s.twoWay) this.violate(`S3: ${method} sent to ${s.name}, which the hub may not write (feed-only or read-only)`);
    const lagEnd = this.clock.now() + s.backend.capabilities.visibilityLagMs;
    if (method === 'create') {
      const n = this.one<{ n: number }>(
        "select count(*) as n from intents where spoke_id = ? and entity_id = ? and op = 'create' and state = 'sent'",
        s.id,
        target.marker,
      );
      if (!n || n.n === 0) this.violate(`S2: create on ${s.name} for contact ${target.marker} without a committed intent`);
    } else if (method === 'update') {
      const n = this.one<{ n: number }>(
        "select count(*) as n from intents where spoke_id = ? and remote_id = ? and op = 'update' and state = 'sent'",
        s.id,
        target.id,
      );
      if (!n || n.n === 0) this.violate(`S2: update of ${s.name}/${target.id} without a committed intent`);
    } else {
      this.checkDelete(s, target.id ?? '');
    }
    s.visibleAfter = Math.max(s.visibleAfter, lagEnd);
  }

  private checkDelete(s: SimSpoke, remoteId: string): void {
    const intent = this.one<{ entity_id: string }>(
      "select entity_id from intents where spoke_id = ? and remote_id = ? and op = 'delete' and state = 'sent'",
      s.id,
      remoteId,
    );
    if (intent) {
      const e = this.one<{ deleted: number; tombstone: string | null }>('select deleted, tombstone from entities where id = ?', intent.entity_id);
      if (!e || e.deleted !== 1) {
        this.violate(`S3: delete of ${s.name}/${remoteId} (contact ${intent.entity_id}) although the hub contact is not deleted`);
        return;
      }
      const confirmedTomb = e.tombstone ? (JSON.parse(e.tombstone) as { confirmed?: boolean }).confirmed === true : false;
      const confirmedHold = this.one(
        "select 1 from held_deletes where spoke_id = ? and entity_id = ? and direction = 'outbound' and status = 'confirmed'",
        s.id,
        intent.entity_id,
      );
      if (!confirmedTomb && !confirmedHold) this.runDeletes[s.index] = (this.runDeletes[s.index] ?? 0) + 1;
      return;
    }
    // Without an intent, only the clean-up of a ghost (a duplicate of our own create) is allowed:
    // the item carries the marker of a contact that this spoke holds as another, linked item.
    const item = s.backend.item(remoteId);
    const marker = item?.marker ?? null;
    const link = marker ? this.one<{ remote_id: string }>('select remote_id from links where spoke_id = ? and entity_id = ?', s.id, marker) : undefined;
    if (!marker || !link || link.remote_id === remoteId) {
      this.violate(`S3: delete of ${s.name}/${remoteId} without an intent, and it is not a ghost of a linked contact`);
    }
  }

  // -----------------------------------------------------------------------------------------------
  // Running the engine

  async sync(opts: { only?: readonly number[]; crash?: CrashPlan; during?: DuringPlan } = {}): Promise<SyncResult> {
    this.clock.advance(STEP_MS);
    const before = this.spokes.map((s) => s.backend.callCounts());
    const linksBefore = this.spokes.map((s) => this.linksOf(s).size);
    const journalBefore = this.one<{ n: number }>('select count(*) as n from journal')?.n ?? 0;
    this.crashPlan = opts.crash ?? null;
    this.duringPlan = opts.during ?? null;
    this.callNo = 0;
    this.runDeletes = this.spokes.map(() => 0);
    const names = opts.only ? [...new Set(opts.only.map((i) => this.spokes[i]?.name ?? ''))] : undefined;
    let summary: RunSummary | null = null;
    let crashed = false;
    this.trace.push(`-- sync${names ? ` ${names.join(',')}` : ''}${opts.crash ? ` (crash at call ${opts.crash.at}${opts.crash.after ? ' after' : ''})` : ''} @${this.clock.now()}`);
    try {
      summary = await syncHub(this.deps, { hub: HUB, ...(names ? { spokes: names } : {}) });
    } catch (e) {
      if (!(e instanceof SimCrash && this.crashSwitch.on)) throw e;
      crashed = true;
    } finally {
      this.crashPlan = null;
      this.duringPlan = null;
    }
    const calls = this.callNo;
    if (crashed) {
      // The process died: its lease stays until it expires; the next run is a new process.
      this.crashSwitch.on = false;
      this.clock.advance(LEASE_TTL_MS + 1);
      this.newProcess();
    }
    const runId =
      summary?.runId ?? this.one<{ id: string }>("select id from runs where kind = 'sync' order by rowid desc limit 1")?.id ?? null;
    for (const r of summary?.spokes ?? []) {
      for (const p of r.problems) if (/duplicate/i.test(p.message)) this.reported.add(`${r.spokeId} ${p.item}`);
    }
    const writes = this.spokes.map((s, i) => {
      const a = s.backend.callCounts();
      const b = before[i] as Record<string, number>;
      return a.create - (b.create ?? 0) + (a.update - (b.update ?? 0)) + (a.delete - (b.delete ?? 0));
    });
    const hubChanges = (this.one<{ n: number }>('select count(*) as n from journal')?.n ?? 0) - journalBefore;
    this.checkGates(runId, linksBefore);
    return { summary, crashed, runId, writes, hubChanges, calls };
  }

  /** S4 / P8: per run and spoke, at most max(10, 20% of linked) deletions without a confirmation. */
  private checkGates(runId: string | null, linksBefore: readonly number[]): void {
    for (const s of this.spokes) {
      const budget = deletionBudget((linksBefore[s.index] ?? 0) + s.backend.size);
      const out = this.runDeletes[s.index] ?? 0;
      if (out > budget) this.violate(`S4: ${out} unconfirmed deletes sent to ${s.name} in one run (budget ${budget})`);
      if (runId === null) continue;
      const inbound = this.one<{ n: number }>(
        "select count(*) as n from journal where run_id = ? and spoke_id = ? and action = 'delete'",
        runId,
        s.id,
      );
      if ((inbound?.n ?? 0) > budget) this.violate(`S4: ${inbound?.n} hub contacts deleted from ${s.name} in one run (budget ${budget})`);
    }
  }

  heldCount(): number {
    return this.one<{ n: number }>("select count(*) as n from held_deletes where status = 'held'")?.n ?? 0;
  }

  /** A person confirms or rejects every held deletion; false when there was none. */
  async decideHeld(confirm: boolean): Promise<boolean> {
    if (this.heldCount() === 0) return false;
    this.clock.advance(STEP_MS);
    this.trace.push(`-- ${confirm ? 'confirm' : 'reject'} held deletions`);
    if (confirm) await confirmHeld(this.decisionDeps, HUB, 'all');
    else await rejectHeld(this.decisionDeps, HUB, 'all');
    return true;
  }

  /** Arms `truncateNextListing` on a spoke: its next full listing shows only `keep` items. */
  truncateNextListing(s: SimSpoke, keep: number): void {
    s.backend.truncateNextListing(keep);
  }

  get crashed(): boolean {
    return this.crashSwitch.on;
  }

  /** Heals every injected fault; server properties (normalisation) stay. */
  heal(): void {
    for (const s of this.spokes) {
      s.backend.clearFaults();
      if (s.kind === 'norm') s.backend.normalizeOnWrite(serverNormalize);
    }
  }

  // -----------------------------------------------------------------------------------------------
  // Determinism

  /** Every backend and every store table, in a canonical order. */
  dump(): string {
    const tables = ['hubs', 'spokes', 'entities', 'entity_keys', 'links', 'intents', 'spoke_deletes', 'held_deletes', 'conflicts', 'reviews', 'journal', 'runs', 'leases'];
    const parts: string[] = [];
    for (const t of tables) parts.push(t, JSON.stringify(this.all(`select * from ${t} order by rowid`)));
    for (const s of this.spokes) parts.push(s.name, JSON.stringify(s.backend.snapshot()));
    return parts.join('\n');
  }

  /** Prints the call trace and the store's bookkeeping tables (for replaying a failure by hand). */
  debugDump(): void {
    console.log(this.trace.join('\n'));
    for (const t of ['spokes', 'entities', 'links', 'intents', 'held_deletes', 'conflicts', 'journal']) {
      console.log(`== ${t}`);
      for (const r of this.all(`select * from ${t} order by rowid`)) console.log(JSON.stringify(r));
    }
    for (const s of this.spokes) console.log(`== ${s.name}`, JSON.stringify(s.backend.list()));
  }

  hash(): string {
    return createHash('sha256').update(this.dump()).digest('hex');
  }
}

/** The connector the engine gets: the memory connector, numbered, crashable and watched. */
class SimConnector implements Connector {
  constructor(
    private readonly inner: Connector,
    private readonly spoke: SimSpoke,
    private readonly world: SimWorld,
  ) {}

  get capabilities() {
    return this.inner.capabilities;
  }

  identity(): Promise<string> {
    return this.world.call(this.spoke, 'identity', () => this.inner.identity());
  }

  async *pull(req: PullRequest): AsyncGenerator<PullPage> {
    const it = this.inner.pull(req)[Symbol.asyncIterator]();
    for (;;) {
      const r = await this.world.call(this.spoke, 'pull', () => it.next());
      if (r.done) return;
      yield r.value;
    }
  }

  get(id: string): Promise<RemoteItem | null> {
    return this.world.call(this.spoke, 'get', () => this.inner.get(id));
  }

  findByMarker(marker: string): Promise<RemoteItem[]> {
    return this.world.call(this.spoke, 'findByMarker', () => this.inner.findByMarker(marker));
  }

  create(card: Card, opts: { marker: string }): Promise<WriteResult> {
    return this.world.call(this.spoke, 'create', async () => {
      this.world.beforeWrite(this.spoke, 'create', { marker: opts.marker });
      return this.inner.create(card, opts);
    });
  }

  update(id: string, card: Card, opts: { ifMatch: string | null; changed: readonly FieldPath[] }): Promise<WriteResult> {
    return this.world.call(this.spoke, 'update', async () => {
      this.world.beforeWrite(this.spoke, 'update', { id });
      return this.inner.update(id, card, opts);
    });
  }

  delete(id: string, opts: { ifMatch: string | null }): Promise<void> {
    return this.world.call(this.spoke, 'delete', async () => {
      this.world.beforeWrite(this.spoke, 'delete', { id });
      await this.inner.delete(id, opts);
    });
  }

  close(): Promise<void> {
    return this.inner.close?.() ?? Promise.resolve();
  }
}
