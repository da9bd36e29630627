/**
 * One planner-check case (see test/engine/planner-check.test.ts): the generator and the runner,
 * apart from the test so that a failing case can be replayed from a script or a regression test.
 */
import fc from 'fast-check';
import { currentFields } from '../../../src/engine/plan/hub-state.js';
import { decodeState } from '../../../src/engine/run/state-json.js';
import { diffFields } from '../../../src/engine/plan/merge.js';
import type { Fields } from '../../../src/model/fields.js';
import { checkConverged, checkFirstLinkKept, quiesce } from './checks.js';
import { arbDataset, arbProfiles, arbUserOp, seedSpokes, type Dataset, type UserOp } from './gen.js';
import { Reference } from './reference.js';
import { SimWorld, type SimSpoke, type SpokeProfile } from './world.js';

export interface PlannerCase {
  profiles: SpokeProfile[];
  data: Dataset;
  epochs: { ops: UserOp[]; decision: 'confirm' | 'reject' }[];
}

export const arbPlannerCase: fc.Arbitrary<PlannerCase> = fc.record({
  profiles: arbProfiles,
  data: arbDataset({ maxTruth: 10, maxCopies: 10, maxExtras: 3 }),
  epochs: fc.array(
    fc.record({ ops: fc.array(arbUserOp, { minLength: 1, maxLength: 8 }), decision: fc.constantFrom('confirm' as const, 'reject' as const) }),
    { minLength: 1, maxLength: 4 },
  ),
});

/** Runs one case; returns every violation found (empty: the case passes). */
export async function runPlannerCase(c: PlannerCase, seed = 1, debug = false): Promise<string[]> {
  const world = await SimWorld.create(seed, c.profiles);
  const out: string[] = [];
  try {
    const ref = new Reference(world);
    seedSpokes(world, c.data);
    const initial = world.spokes.flatMap((spoke) => spoke.backend.list().map((it) => ({ spoke, item: it.id, fields: world.itemFields(spoke, it.card) })));
    const first = await quiesce(world, ref, { maxRuns: 10, decision: 'confirm' });
    out.push(...first.violations.map((v) => `initial sync: ${v}`), ...checkConverged(world).map((v) => `initial sync: ${v}`));
    out.push(...checkFirstLinkKept(world, initial));
    for (const [n, epoch] of c.epochs.entries()) {
      if (out.length > 0) break;
      const start = snapshot(world);
      for (const op of epoch.ops) ref.apply(op);
      const end = snapshot(world);
      const q = await quiesce(world, ref, { maxRuns: 10, decision: epoch.decision });
      out.push(...q.violations.map((v) => `epoch ${n}: ${v}`), ...checkConverged(world).map((v) => `epoch ${n}: ${v}`));
      out.push(...epochOracle(world, start, end, epoch.decision, ref.renames).map((v) => `epoch ${n}: ${v}`));
    }
    out.push(...ref.checkFinal(), ...world.violations);
    if (debug) world.debugDump();
    return out;
  } finally {
    await world.close();
  }
}


interface Snap {
  t: number;
  /** Per spoke: remote id → linked contact (null: not linked) and the item's fields. */
  items: Map<string, { entity: string | null; fields: Fields }>[];
}

function snapshot(world: SimWorld): Snap {
  return {
    t: world.clock.now(),
    items: world.spokes.map((s) => {
      const links = world.linksOf(s);
      return new Map(s.backend.list().map((it) => [it.id, { entity: links.get(it.id)?.entity ?? null, fields: world.itemFields(s, it.card) }]));
    }),
  };
}

/**
 * The epoch oracle (C2 P4/P5/P6), for an epoch that starts converged: users change the spokes, then
 * the engine syncs to quiescence. Net changes per item (start → end of the users' turn) are what
 * the engine can see. For every hub contact:
 * - deleted on some spokes and changed on another → it survives (edit wins over delete);
 * - deleted on two-way spokes only, changed nowhere else → it is gone (unless a person rejected
 *   a held deletion in this epoch);
 * - a field changed on exactly one spoke ends with that value; changed on several, it ends with one
 *   of their values, and the others are in the conflict log;
 * - an element added on a spoke and removed nowhere is present; removed on two-way spokes and
 *   added or relabelled nowhere is absent.
 * Contacts that a new item was first-linked to in this epoch follow the first-link rules instead
 * (fill empty fields, keep the hub's values) and are skipped.
 */
function epochOracle(world: SimWorld, start: Snap, end: Snap, decision: 'confirm' | 'reject', renames: readonly { spoke: number; from: string; to: string }[]): string[] {
  const out: string[] = [];
  type Touch = { spoke: SimSpoke; deleted: boolean; fields: Fields; before: Fields };
  const touches = new Map<string, Touch[]>();
  // A renamed item is not deleted: it is the item under its last name (renamed again, maybe).
  const renamed = new Map(renames.map((r) => [`${r.spoke} ${r.from}`, r.to]));
  const lastName = (spoke: number, id: string): string => {
    let cur = id;
    for (let next = renamed.get(`${spoke} ${cur}`); next !== undefined; next = renamed.get(`${spoke} ${cur}`)) cur = next;
    return cur;
  };
  for (const s of world.spokes) {
    const a = start.items[s.index] ?? new Map();
    const b = end.items[s.index] ?? new Map();
    for (const [id, x] of a) {
      if (x.entity === null) continue;
      const after = b.get(lastName(s.index, id));
      const t: Touch = { spoke: s, deleted: !after, fields: after?.fields ?? x.fields, before: x.fields };
      if (!t.deleted && diffFields(x.fields, t.fields, s.fields).length === 0) continue;
      touches.set(x.entity, [...(touches.get(x.entity) ?? []), t]);
    }
  }
  const firstLinked = new Set<string>();
  for (const s of world.spokes) {
    for (const [id, l] of world.linksOf(s)) {
      if ((start.items[s.index] ?? new Map()).has(id)) continue;
      if (s.backend.item(id)?.marker !== l.entity) firstLinked.add(l.entity);
    }
  }
  const rejectedHold =
    decision === 'reject' && (world.one<{ n: number }>('select count(*) as n from held_deletes where created_at > ?', start.t)?.n ?? 0) > 0;
  const conflicts = world.all<{ entity_id: string; path: string; lost: string; at: number }>('select entity_id, path, lost, at from conflicts where at > ?', start.t);
  for (const [entity, ts] of touches) {
    const e = world.one<{ state: string; deleted: number }>('select state, deleted from entities where id = ?', entity);
    if (!e) continue;
    const deleters = ts.filter((t) => t.deleted);
    const editors = ts.filter((t) => !t.deleted);
    if (deleters.length > 0) {
      if (editors.length > 0 && e.deleted === 1) {
        out.push(`P6: contact ${entity} was deleted on ${deleters.map((t) => t.spoke.name).join(', ')} and edited on ${editors.map((t) => t.spoke.name).join(', ')}, and the delete won`);
      }
      // A contact a new item first-linked to in this epoch took that item's values: they are a
      // change made elsewhere, and an edit wins over a delete (first-link rules, below).
      if (editors.length === 0 && e.deleted === 0 && deleters.every((t) => t.spoke.twoWay) && !rejectedHold && !firstLinked.has(entity)) {
        out.push(`P6: contact ${entity} was deleted on ${deleters.map((t) => t.spoke.name).join(', ')}, changed nowhere else, and is still in the hub`);
      }
    }
    if (e.deleted === 1 || firstLinked.has(entity) || editors.length === 0) continue;
    const hub = currentFields(decodeState(e.state));
    const scalarPaths = new Set(editors.flatMap((t) => diffFields(t.before, t.fields, t.spoke.fields).filter((c) => c.kind === 'set').map((c) => c.path)));
    for (const path of scalarPaths) {
      const writers = editors.filter((t) => (t.before.s[path as keyof Fields['s']] ?? null) !== (t.fields.s[path as keyof Fields['s']] ?? null));
      const values = [...new Set(writers.map((t) => t.fields.s[path as keyof Fields['s']] ?? null))];
      const final = hub.s[path as keyof Fields['s']] ?? null;
      if (!values.includes(final)) {
        out.push(`P4: contact ${entity} ${path} is ${JSON.stringify(final)}; it was changed to ${values.map((v) => JSON.stringify(v)).join(' / ')} on ${writers.map((t) => t.spoke.name).join(', ')}`);
        continue;
      }
      for (const v of values) {
        if (v === final) continue;
        if (!conflicts.some((c) => c.entity_id === entity && c.path === path && c.lost === JSON.stringify(v))) {
          out.push(`P4/I4: contact ${entity} ${path}: the concurrent value ${JSON.stringify(v)} lost to ${JSON.stringify(final)} and is not in the conflict log`);
        }
      }
    }
    const keys = new Set(editors.flatMap((t) => diffFields(t.before, t.fields, t.spoke.fields).filter((c) => c.kind !== 'set').map((c) => `${c.path}\n${'key' in c ? c.key : ''}`)));
    for (const pk of keys) {
      const [path = '', key = ''] = pk.split('\n');
      const has = (f: Fields) => key in ((f.m as Record<string, Record<string, unknown> | undefined>)[path] ?? {});
      const adders = editors.filter((t) => has(t.fields) && (!has(t.before) || JSON.stringify((t.fields.m as Record<string, Record<string, unknown>>)[path]?.[key]) !== JSON.stringify((t.before.m as Record<string, Record<string, unknown>>)[path]?.[key])));
      const removers = editors.filter((t) => has(t.before) && !has(t.fields));
      const present = has(hub);
      if (adders.length > 0 && removers.length === 0 && !present) {
        out.push(`P5: contact ${entity} ${path} ${key} was added on ${adders.map((t) => t.spoke.name).join(', ')}, removed nowhere, and is missing`);
      }
      if (removers.length > 0 && adders.length === 0 && present && removers.every((t) => t.spoke.twoWay)) {
        out.push(`P5: contact ${entity} ${path} ${key} was removed on ${removers.map((t) => t.spoke.name).join(', ')}, added nowhere, and is still there`);
      }
    }
  }
  return out;
}
