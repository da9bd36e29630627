/**
 * One whole-engine simulation case (see test/engine/simulation.test.ts): a generated list of
 * commands — users acting on the spokes, syncs, crashes, network and server faults, mass deletions
 * with a person's decision — run against a SimWorld, with the always-on invariants checked after
 * every command and the liveness properties at the end.
 */
import fc from 'fast-check';
import type { MemoryMethod, MemoryWriteMethod } from '../../../src/connectors/memory/memory-connector.js';
import { checkConverged, checkNoDuplicates, quiesce } from './checks.js';
import { mod } from './domain.js';
import { arbDataset, arbProfiles, arbUserOp, seedSpokes, type Dataset, type UserOp } from './gen.js';
import { Reference } from './reference.js';
import { SimWorld, type SimSpoke, type SpokeProfile, type SyncResult } from './world.js';

export type SimCmd =
  | { c: 'user'; op: UserOp }
  /** A sync of every spoke, or of one (`only`). */
  | { c: 'sync'; only: number | null }
  /** A sync during which a user acts on a spoke, right before connector call `at` (between pull and push). */
  | { c: 'syncEdit'; at: number; op: UserOp }
  /** A sync during which the process dies at connector call `at` (before or after the server ran it). */
  | { c: 'crash'; at: number; after: boolean }
  | { c: 'lose'; spoke: number; count: number; method: MemoryWriteMethod | null }
  | { c: 'fail'; spoke: number; n: number; kind: 'transient' | 'rate_limited'; method: MemoryMethod | null }
  | { c: 'truncate'; spoke: number; keep: number }
  | { c: 'expire'; spoke: number }
  | { c: 'flaky'; spoke: number; on: boolean }
  | { c: 'lag'; spoke: number; ms: number; laggyFind: boolean }
  | { c: 'advance'; ms: number }
  /** A user deletes `pct`% of a spoke, a sync runs, and a person confirms or rejects what was held. */
  | { c: 'bulk'; spoke: number; pct: number; confirm: boolean }
  | { c: 'decide'; confirm: boolean };

export interface SimCase {
  profiles: SpokeProfile[];
  data: Dataset;
  cmds: SimCmd[];
  /** The person's decision on deletions still held at the end. */
  finalDecision: 'confirm' | 'reject';
}

const spoke = fc.nat(3);
const READ_METHODS: readonly MemoryMethod[] = ['identity', 'pull', 'get', 'findByMarker', 'create', 'update', 'delete'];

export const arbSimCmd: fc.Arbitrary<SimCmd> = fc.oneof(
  { weight: 10, arbitrary: arbUserOp.map((op): SimCmd => ({ c: 'user', op })) },
  { weight: 5, arbitrary: fc.record({ c: fc.constant('sync' as const), only: fc.option(spoke, { nil: null, freq: 4 }) }) },
  { weight: 2, arbitrary: fc.record({ c: fc.constant('crash' as const), at: fc.integer({ min: 1, max: 30 }), after: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ c: fc.constant('syncEdit' as const), at: fc.integer({ min: 1, max: 30 }), op: arbUserOp }) },
  {
    weight: 1,
    arbitrary: fc.record({
      c: fc.constant('lose' as const),
      spoke,
      count: fc.integer({ min: 1, max: 2 }),
      method: fc.option(fc.constantFrom<MemoryWriteMethod>('create', 'update', 'delete'), { nil: null }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      c: fc.constant('fail' as const),
      spoke,
      n: fc.integer({ min: 1, max: 3 }),
      kind: fc.constantFrom('transient' as const, 'rate_limited' as const),
      method: fc.option(fc.constantFrom(...READ_METHODS), { nil: null }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ c: fc.constant('truncate' as const), spoke, keep: fc.nat(6) }) },
  { weight: 1, arbitrary: fc.record({ c: fc.constant('expire' as const), spoke }) },
  { weight: 1, arbitrary: fc.record({ c: fc.constant('flaky' as const), spoke, on: fc.boolean() }) },
  {
    weight: 1,
    arbitrary: fc.record({ c: fc.constant('lag' as const), spoke, ms: fc.constantFrom(0, 30_000, 300_000), laggyFind: fc.boolean() }),
  },
  { weight: 1, arbitrary: fc.record({ c: fc.constant('advance' as const), ms: fc.constantFrom(1_000, 60_000, 3_600_000) }) },
  { weight: 1, arbitrary: fc.record({ c: fc.constant('bulk' as const), spoke, pct: fc.integer({ min: 20, max: 100 }), confirm: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ c: fc.constant('decide' as const), confirm: fc.boolean() }) },
);

export const arbSimCase: fc.Arbitrary<SimCase> = fc.record({
  profiles: arbProfiles,
  data: arbDataset({ maxTruth: 12, maxCopies: 12, maxExtras: 3 }),
  cmds: fc.array(arbSimCmd, { minLength: 1, maxLength: 25 }),
  finalDecision: fc.constantFrom('confirm' as const, 'reject' as const),
});

export interface SimOutcome {
  violations: string[];
  /** What the case exercised (for coverage statistics). */
  stats: Record<string, number>;
  /** Digest of every backend and every store table at the end (the determinism check). */
  hash: string;
  trace: string[];
}

/** A spoke may fail a run only for a fault the simulation injected (never for an engine error). */
const INJECTED = /memory backend: (injected|.* response lost)/;

export async function runSimCase(c: SimCase, seed = 1, debug = false): Promise<SimOutcome> {
  const world = await SimWorld.create(seed, c.profiles);
  const out: string[] = [];
  const deletedSince = new Map<string, number>();
  const stats: Record<string, number> = { crashes: 0, syncs: 0 };
  try {
    const ref = new Reference(world);
    seedSpokes(world, c.data);
    const pick = (i: number): SimSpoke => world.spokes[mod(i, world.spokes.length)] as SimSpoke;
    const checkRun = (r: SyncResult, what: string): void => {
      for (const s of r.summary?.spokes ?? []) {
        if (s.status !== 'ok' && !INJECTED.test(s.error ?? '')) out.push(`${what}: spoke ${s.name} failed for no injected fault: ${s.error ?? s.status}`);
      }
    };
    for (const [n, cmd] of c.cmds.entries()) {
      const what = `command ${n} ${JSON.stringify(cmd)}`;
      switch (cmd.c) {
        case 'user':
          ref.apply(cmd.op);
          break;
        case 'sync':
          checkRun(await ref.around(() => world.sync(cmd.only === null ? {} : { only: [mod(cmd.only, world.spokes.length)] })), what);
          break;
        case 'syncEdit':
          checkRun(await ref.around(() => world.sync({ during: { at: cmd.at, act: () => void ref.apply(cmd.op) } })), what);
          break;
        case 'crash': {
          const r = await ref.around(() => world.sync({ crash: { at: cmd.at, after: cmd.after } }));
          if (r.crashed) stats.crashes = (stats.crashes ?? 0) + 1;
          checkRun(r, what);
          break;
        }
        case 'lose':
          pick(cmd.spoke).backend.loseNextResponse({ count: cmd.count, ...(cmd.method ? { methods: [cmd.method] } : {}) });
          break;
        case 'fail':
          pick(cmd.spoke).backend.failNext(cmd.n, cmd.kind, cmd.method ? { methods: [cmd.method] } : {});
          break;
        case 'truncate':
          world.truncateNextListing(pick(cmd.spoke), cmd.keep);
          break;
        case 'expire':
          pick(cmd.spoke).backend.expireCursors();
          break;
        case 'flaky':
          pick(cmd.spoke).backend.flakyEtags(cmd.on);
          break;
        case 'lag': {
          const s = pick(cmd.spoke);
          s.backend.setVisibilityLag(cmd.ms, { immediateFindByMarker: !cmd.laggyFind });
          if (cmd.laggyFind) s.laggyFind = true;
          break;
        }
        case 'advance':
          world.clock.advance(cmd.ms);
          break;
        case 'bulk': {
          ref.bulkDelete(pick(cmd.spoke), cmd.pct);
          checkRun(await ref.around(() => world.sync()), what);
          if ((await world.decideHeld(cmd.confirm)) && !cmd.confirm) ref.restores.push(world.clock.now());
          break;
        }
        case 'decide':
          if ((await world.decideHeld(cmd.confirm)) && !cmd.confirm) ref.restores.push(world.clock.now());
          break;
      }
      out.push(...checkNoDuplicates(world).map((v) => `${what}: ${v}`));
      // S5: a contact that comes back from deletion needs a cause.
      for (const e of world.all<{ id: string; deleted: number }>('select id, deleted from entities')) {
        const since = deletedSince.get(e.id);
        if (e.deleted === 1 && since === undefined) deletedSince.set(e.id, world.clock.now());
        if (e.deleted === 0 && since !== undefined) {
          deletedSince.delete(e.id);
          if (!ref.resurrectionCause(e.id, since)) out.push(`${what}: S5: contact ${e.id} came back from deletion with no user edit and no decision`);
        }
      }
      if (world.violations.length > 0) {
        out.push(...world.violations.map((v) => `${what}: ${v}`));
        world.violations.length = 0;
      }
      if (out.length > 0) break;
    }
    if (out.length === 0) {
      const q = await quiesce(world, ref, { maxRuns: 8, decision: c.finalDecision });
      out.push(...q.violations.map((v) => `quiescence: ${v}`), ...checkConverged(world).map((v) => `quiescence: ${v}`));
      out.push(...ref.checkFinal(), ...world.violations);
    }
    if (debug) world.debugDump();
    const count = (sql: string): number => world.one<{ n: number }>(sql)?.n ?? 0;
    stats.conflicts = count('select count(*) as n from conflicts');
    stats.held = count('select count(*) as n from held_deletes');
    stats.reviews = count('select count(*) as n from reviews');
    stats.restored = count("select count(*) as n from journal where action = 'restore'");
    stats.deleted = count('select count(*) as n from entities where deleted = 1');
    stats.ghosts = [...world.reported].length;
    return { violations: out, stats, hash: world.hash(), trace: world.trace };
  } finally {
    await world.close();
  }
}
