/**
 * Profile mode's instruments, all outside the engine: a SQLite handle that times every statement,
 * a connector wrapper that times the spoke's calls, and the engine's progress events turned into a
 * timeline. Used to say where a run's time goes; never for the headline numbers.
 */
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { Kysely, SqliteDialect, type SqliteDatabase, type SqliteStatement } from 'kysely';
import type { Connector, ConnectorFactory, PullPage } from '../src/connectors/kit/contract.js';
import type { ProgressEvent } from '../src/engine/run/context.js';
import { migrateToLatest } from '../src/store/migrations.js';
import { applyPragmas, bulkWritesHint } from '../src/store/open.js';
import type { Schema } from '../src/store/schema.js';
import { addToSegment, MB, type Breakdown, type Segment, type SqliteStat } from './common.js';

// ----------------------------------------------------------------------------------------------
// SQLite

/** `select links`, `insert into entities`, `commit`: what a statement does, and to which table. */
export function statementKey(sql: string): string {
  const s = sql.trim().toLowerCase();
  const verb = /^(select|insert into|update|delete from|begin|commit|rollback|savepoint|release|pragma|create|drop|alter)/.exec(s)?.[1] ?? s.slice(0, 20);
  let table: string | undefined;
  if (verb === 'select') table = /\bfrom\s+"?([a-z_]+)"?/.exec(s)?.[1];
  else if (verb === 'insert into' || verb === 'update' || verb === 'delete from') table = /^(?:insert into|update|delete from)\s+"?([a-z_]+)"?/.exec(s)?.[1];
  const upsert = verb === 'insert into' && /\bon conflict\b/.test(s) ? ' (upsert)' : '';
  return table ? `${verb} ${table}${upsert}` : verb;
}

export class SqliteTimer {
  private readonly stats = new Map<string, { calls: number; ms: number; rows: number }>();

  add(key: string, ms: number, rows = 0): void {
    const s = this.stats.get(key);
    if (s) {
      s.calls += 1;
      s.ms += ms;
      s.rows += rows;
    } else this.stats.set(key, { calls: 1, ms, rows });
  }

  summary(top = 15): Breakdown['sqlite'] {
    const all: SqliteStat[] = [...this.stats].map(([statement, s]) => ({ statement, calls: s.calls, ms: s.ms, rows: s.rows }));
    all.sort((a, b) => b.ms - a.ms);
    return {
      ms: all.reduce((a, s) => a + s.ms, 0),
      calls: all.reduce((a, s) => a + s.calls, 0),
      transactions: this.stats.get('commit')?.calls ?? 0,
      top: all.slice(0, top),
    };
  }
}

/**
 * The store `openStore` opens (same file, same pragmas, the same reuse of prepared statements by
 * their text, same migrations), with every statement timed. better-sqlite3 is synchronous, so a
 * statement's time is exactly the time SQLite (and the binding) held the thread.
 */
/** See SyncSpec.plannerFix. */
export function plannerFix(sql: string): string {
  return sql.replace(/^(select .* from "entities" where )"hub_id" = \? and "id" in \(/, '$1+"hub_id" = ? and "id" in (');
}

export async function openTimedStore(
  file: string,
  timer: SqliteTimer,
  opts: { plannerFix?: boolean } = {},
): Promise<{ db: Kysely<Schema>; bulkWrites: (on: boolean) => void; close: () => Promise<void> }> {
  const sqlite = new Database(file);
  applyPragmas(sqlite);
  const raw: SqliteDatabase = sqlite;
  // As openStore's cacheStatements: reuse statements by their text, at most 1000 of them.
  const cache = new Map<string, SqliteStatement>();
  const timed: SqliteDatabase = {
    close: () => raw.close(),
    prepare(original: string): SqliteStatement {
      let cached = cache.get(original);
      if (!cached) {
        if (cache.size >= 1000) cache.clear();
        cached = prepareTimed(original);
        cache.set(original, cached);
      }
      return cached;
    },
  };
  function prepareTimed(original: string): SqliteStatement {
    const sql = opts.plannerFix ? plannerFix(original) : original;
    const st = raw.prepare(sql);
    const key = `${statementKey(sql)}${sql !== original ? ' (planner fix)' : ''}`;
    return {
      reader: st.reader,
      all: (p) => {
        const t0 = performance.now();
        const rows = st.all(p);
        timer.add(key, performance.now() - t0, rows.length);
        return rows;
      },
      run: (p) => {
        const t0 = performance.now();
        const r = st.run(p);
        timer.add(key, performance.now() - t0);
        return r;
      },
      iterate: (p) => st.iterate(p),
    };
  }
  const db = new Kysely<Schema>({ dialect: new SqliteDialect({ database: timed }) });
  await migrateToLatest(db as unknown as Kysely<unknown>);
  return { db, bulkWrites: bulkWritesHint(sqlite), close: () => db.destroy() };
}

// ----------------------------------------------------------------------------------------------
// Connector calls

export class ConnectorTimer {
  pullMs = 0;
  pullPages = 0;
  private readonly calls = new Map<string, { calls: number; ms: number }>();
  private inFlight = 0;
  private busySince = 0;
  private busyMs = 0;

  async track<T>(op: string, fn: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    if (this.inFlight++ === 0) this.busySince = t0;
    try {
      return await fn();
    } finally {
      const t1 = performance.now();
      if (--this.inFlight === 0) this.busyMs += t1 - this.busySince;
      const s = this.calls.get(op);
      if (s) {
        s.calls += 1;
        s.ms += t1 - t0;
      } else this.calls.set(op, { calls: 1, ms: t1 - t0 });
    }
  }

  async *pull(src: AsyncIterable<PullPage>): AsyncGenerator<PullPage> {
    const it = src[Symbol.asyncIterator]();
    let done = false;
    try {
      for (;;) {
        const t0 = performance.now();
        const r = await it.next();
        this.pullMs += performance.now() - t0;
        if (r.done) {
          done = true;
          return;
        }
        this.pullPages += 1;
        yield r.value;
      }
    } finally {
      if (!done) await it.return?.();
    }
  }

  summary(): Breakdown['connector'] {
    return {
      pullMs: this.pullMs,
      pullPages: this.pullPages,
      writeBusyMs: this.busyMs,
      calls: [...this.calls].map(([op, s]) => ({ op, calls: s.calls, ms: s.ms })).sort((a, b) => b.ms - a.ms),
    };
  }
}

function timedConnector(c: Connector, t: ConnectorTimer): Connector {
  return {
    capabilities: c.capabilities,
    identity: () => c.identity(),
    pull: (req) => t.pull(c.pull(req)),
    get: (id) => t.track('get', () => c.get(id)),
    findByMarker: (m) => t.track('findByMarker', () => c.findByMarker(m)),
    create: (card, opts) => t.track('create', () => c.create(card, opts)),
    update: (id, card, opts) => t.track('update', () => c.update(id, card, opts)),
    delete: (id, opts) => t.track('delete', () => c.delete(id, opts)),
    close: async () => {
      await c.close?.();
    },
  };
}

export function timedFactories(factories: ReadonlyMap<string, ConnectorFactory>, t: ConnectorTimer): Map<string, ConnectorFactory> {
  const out = new Map<string, ConnectorFactory>();
  for (const [type, f] of factories) {
    out.set(type, { ...f, create: (config, env) => timedConnector(f.create(config, env), t) });
  }
  return out;
}

// ----------------------------------------------------------------------------------------------
// Timeline from progress events (always on: one memoryUsage() per event, a few hundred per run)

function cpuMsSince(cpu0: NodeJS.CpuUsage): number {
  const c = process.cpuUsage(cpu0);
  return (c.user + c.system) / 1000;
}

export class Timeline {
  private readonly segs: { label: string; last: number; lastCpu: number; events: number; peakRss: number; peakHeap: number; peakLive: number }[] = [];
  private readonly gc: (() => void) | undefined;

  /** `liveHeap`: run a full GC at each event (needs `node --expose-gc`) and record what is left. */
  constructor(
    private readonly t0: number,
    liveHeap = false,
    private readonly cpu0: NodeJS.CpuUsage = process.cpuUsage(),
  ) {
    this.gc = liveHeap ? (globalThis as { gc?: () => void }).gc : undefined;
  }

  onProgress = (ev: ProgressEvent): void => {
    const label = `${ev.phase} ${ev.spoke}`;
    const now = performance.now();
    const mem = process.memoryUsage();
    const cpu = cpuMsSince(this.cpu0);
    let cur = this.segs[this.segs.length - 1];
    if (!cur || cur.label !== label) {
      cur = { label, last: now, lastCpu: cpu, events: 0, peakRss: 0, peakHeap: 0, peakLive: 0 };
      this.segs.push(cur);
    }
    cur.last = now;
    cur.lastCpu = cpu;
    cur.events += 1;
    if (mem.rss > cur.peakRss) cur.peakRss = mem.rss;
    if (mem.heapUsed > cur.peakHeap) cur.peakHeap = mem.heapUsed;
    if (this.gc) {
      this.gc();
      const live = process.memoryUsage().heapUsed;
      if (live > cur.peakLive) cur.peakLive = live;
    }
  };

  /**
   * Segments by label, in order of first appearance; whatever follows the last event is "finish".
   * The engine pushes to several spokes at once, so a label can come back: its stretches are added
   * up (each stretch belongs to the spoke whose event ended it), and `interleaved` says so.
   */
  segments(end: number): { segments: Segment[]; interleaved: boolean } {
    const out = new Map<string, Segment>();
    let prev = this.t0;
    let prevCpu = 0;
    let interleaved = false;
    let prevLabel = '';
    for (const s of this.segs) {
      const m = out.get(s.label);
      if (m && prevLabel !== s.label) interleaved = true;
      prevLabel = s.label;
      const g: Segment = {
        label: s.label,
        ms: s.last - prev,
        cpuMs: s.lastCpu - prevCpu,
        events: s.events,
        peakRssMB: s.peakRss / MB,
        peakHeapMB: s.peakHeap / MB,
        ...(this.gc ? { peakLiveMB: s.peakLive / MB } : {}),
      };
      prev = s.last;
      prevCpu = s.lastCpu;
      if (!m) {
        out.set(s.label, g);
        continue;
      }
      addToSegment(m, g);
    }
    const finish: Segment = { label: 'finish', ms: end - prev, cpuMs: cpuMsSince(this.cpu0) - prevCpu, events: 0, peakRssMB: 0, peakHeapMB: 0 };
    return { segments: [...out.values(), finish], interleaved };
  }
}
