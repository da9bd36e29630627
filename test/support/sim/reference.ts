/**
 * The simulated users, and the reference model of what they did (design C3, L4): simpler than the
 * engine on purpose. It records every user write as (time, spoke, item, hub contact, field, value,
 * the value the item held before), every user deletion, and the first-link merges it saw, and from
 * that alone decides which final hub values are allowed:
 *
 * - A write is *dominated* when a later write replaced it on the same item, or was made on an item
 *   that already showed its value (that user had seen it). A final hub value must be the value of
 *   a write no other write dominates (for concurrent edits any of them may win, by the documented
 *   order), and every such write that did not win must be in the `conflicts` table (I4: a losing
 *   value is never dropped silently).
 * - A set element added by a user and removed by nobody afterwards must be present.
 * - A hub contact deleted by the engine must have been deleted by a user on the spoke its
 *   tombstone names (I3), and no edit a user made after that deletion may have been lost with it
 *   (P6: edit wins over delete).
 *
 * Writes on items the hub has not linked yet (just created by a user) are not attributed to a
 * contact: first-link matching decides that, and first-link merges follow their own rule (fill
 * empty, keep the hub's value and log the other), which the model only tolerates.
 */
import type { Card } from '../../../src/model/card.js';
import type { Fields, ScalarPath, SetPath } from '../../../src/model/fields.js';
import { diffFields } from '../../../src/engine/plan/merge.js';
import { currentFields } from '../../../src/engine/plan/hub-state.js';
import { decodeState } from '../../../src/engine/run/state-json.js';
import { applyUserEdit, mod, pathOfEdit, personCard, type PersonSpec, type UserEdit } from './domain.js';
import { shiftEdit, type UserOp } from './gen.js';
import { STEP_MS, type SimSpoke, type SimWorld, type SyncResult } from './world.js';

export interface ScalarWrite {
  t: number;
  spoke: number;
  item: string;
  entity: string;
  path: ScalarPath;
  value: string | null;
  prior: string | null;
  /** The item was deleted by its user afterwards (its edits may never have reached the hub). */
  voided: boolean;
  /** When a successful sync is known to have seen it (approximately; null: not known). */
  observedAt: number | null;
  /** By the next sync the item held this value again *and* so did its merge base: no change at all. */
  noop?: boolean;
}

export interface ElemWrite {
  t: number;
  spoke: number;
  item: string;
  entity: string;
  path: SetPath;
  key: string;
  kind: 'add' | 'remove' | 'attrs';
  voided: boolean;
  observedAt: number | null;
}

export interface UserDelete {
  t: number;
  spoke: number;
  item: string;
  entity: string | null;
}

interface FirstLink {
  /** The start of the sync that merged the item into an existing contact. */
  t: number;
  entity: string;
  fields: Fields;
}

type Write = ScalarWrite | ElemWrite;

export class Reference {
  readonly scalars: ScalarWrite[] = [];
  readonly elems: ElemWrite[] = [];
  readonly deletes: UserDelete[] = [];
  /** Items users renamed: `from` became `to` on spoke `spoke` (the planner's epoch oracle follows them). */
  readonly renames: { spoke: number; from: string; to: string }[] = [];
  readonly firstLinks: FirstLink[] = [];
  /** Times of decisions that restore contacts (rejected held deletions). */
  readonly restores: number[] = [];
  /** Edits of items the hub had not linked when they were made. */
  readonly unlinkedEdits: { t: number; spoke: number; item: string }[] = [];
  /** Every contact each item (`${spoke} ${remoteId}`) was ever seen linked to, after any sync. */
  readonly linkHistory = new Map<string, Set<string>>();
  private nextUid = 0;

  constructor(private readonly world: SimWorld) {}

  private pickItem(s: SimSpoke, pick: number): { id: string; card: Card | null } | null {
    const items = s.backend.list();
    if (items.length === 0) return null;
    const it = items[mod(pick, items.length)];
    return it ? { id: it.id, card: it.card } : null;
  }

  private touched(s: SimSpoke): void {
    s.visibleAfter = Math.max(s.visibleAfter, this.world.clock.now() + s.backend.capabilities.visibilityLagMs);
  }

  // -----------------------------------------------------------------------------------------------
  // The users

  /** Applies one generated user operation; false when it found nothing to act on. */
  apply(op: UserOp): boolean {
    const s = this.world.spokes[mod('spoke' in op ? op.spoke : 0, this.world.spokes.length)] as SimSpoke;
    switch (op.k) {
      case 'edit':
        return this.edit(s, op.item, op.edit);
      case 'delete':
        return this.remove(s, op.item);
      case 'create':
        this.create(s, op.person);
        return true;
      case 'bulkDelete':
        return this.bulkDelete(s, op.pct) > 0;
      case 'move':
        return this.move(s, op.item);
      case 'concurrent': {
        const live = this.world.all<{ id: string }>('select id from entities where deleted = 0 order by id');
        const entity = live[mod(op.entity, Math.max(1, live.length))]?.id;
        if (entity === undefined) return false;
        let acted = false;
        for (const [i, a] of op.acts.entries()) {
          const sp = this.world.spokes[mod(a.spoke, this.world.spokes.length)] as SimSpoke;
          const items = sp.backend.list();
          const links = this.world.linksOf(sp);
          const index = items.findIndex((it) => links.get(it.id)?.entity === entity);
          if (index < 0) continue;
          acted = (a.del ? this.remove(sp, index) : this.edit(sp, index, shiftEdit(op.edit, i, a.other))) || acted;
        }
        return acted;
      }
    }
  }

  /** A user edits one item (picked by index); edits of fields the spoke cannot store are skipped. */
  edit(s: SimSpoke, pick: number, e: UserEdit): boolean {
    const path = pathOfEdit(e);
    if (s.fields !== 'all' && !s.fields.includes(path)) return false;
    const it = this.pickItem(s, pick);
    if (!it) return false;
    this.world.clock.advance(STEP_MS);
    const before = this.world.itemFields(s, it.card);
    s.backend.userUpdate(it.id, (card) => applyUserEdit(card, e));
    const after = this.world.itemFields(s, s.backend.item(it.id)?.card ?? null);
    this.touched(s);
    this.recordEdit(s, it.id, before, after);
    return true;
  }

  /** A user adds a contact; `sameUid` gives it a UID another spoke's copy may share. */
  create(s: SimSpoke, person: PersonSpec, uid?: string): string {
    this.world.clock.advance(STEP_MS);
    const id = s.backend.userCreate(personCard(person, uid ?? `urn:sim:${s.name}:${++this.nextUid}`));
    this.touched(s);
    return id;
  }

  remove(s: SimSpoke, pick: number): boolean {
    const it = this.pickItem(s, pick);
    if (!it) return false;
    this.world.clock.advance(STEP_MS);
    this.recordDelete(s, it.id);
    s.backend.userDelete(it.id);
    this.touched(s);
    return true;
  }

  /**
   * A user renames an item: the same content under a new id. Writes made on it before are followed
   * to the new id (they are still the user's, and must reach the hub as such). The old id is gone
   * from the spoke as if deleted there, which is evidence enough for a deletion when the engine
   * cannot tell the item it became (an item with nothing to match it by: no stamp, no UID or
   * identifier the spoke keeps); when it can, it must not delete (the engine tests check that).
   */
  move(s: SimSpoke, pick: number): boolean {
    const it = this.pickItem(s, pick);
    if (!it) return false;
    this.world.clock.advance(STEP_MS);
    this.deletes.push({ t: this.world.clock.now(), spoke: s.index, item: it.id, entity: this.world.entityOfItem(s, it.id) });
    const to = s.backend.userMove(it.id);
    this.renames.push({ spoke: s.index, from: it.id, to });
    for (const w of [...this.scalars, ...this.elems]) if (w.spoke === s.index && w.item === it.id) w.item = to;
    this.touched(s);
    return true;
  }

  /** A user deletes `pct` percent of the items (at least one), in listing order. */
  bulkDelete(s: SimSpoke, pct: number): number {
    const items = s.backend.list();
    const k = Math.min(items.length, Math.max(1, Math.ceil((items.length * pct) / 100)));
    this.world.clock.advance(STEP_MS);
    for (const it of items.slice(0, k)) {
      this.recordDelete(s, it.id);
      s.backend.userDelete(it.id);
    }
    this.touched(s);
    return k;
  }

  // -----------------------------------------------------------------------------------------------
  // Recording

  recordEdit(s: SimSpoke, item: string, before: Fields, after: Fields): void {
    const entity = this.world.entityOfItem(s, item);
    if (entity === null) {
      // Not attributed (see the module comment) — but remembered as a cause for S5: the hub may
      // have linked the item from a lagging view that did not show this edit yet.
      if (diffFields(before, after, s.fields).length > 0) this.unlinkedEdits.push({ t: this.world.clock.now(), spoke: s.index, item });
      return;
    }
    const t = this.world.clock.now();
    for (const ch of diffFields(before, after, s.fields)) {
      if (ch.kind === 'set') {
        this.scalars.push({ t, spoke: s.index, item, entity, path: ch.path, value: ch.value, prior: before.s[ch.path] ?? null, voided: false, observedAt: null });
      } else {
        const kind = ch.kind === 'remove' ? 'remove' : ch.kind === 'add' ? 'add' : 'attrs';
        this.elems.push({ t, spoke: s.index, item, entity, path: ch.path, key: ch.key, kind, voided: false, observedAt: null });
      }
    }
  }

  recordDelete(s: SimSpoke, item: string): void {
    const entity = this.world.entityOfItem(s, item);
    this.deletes.push({ t: this.world.clock.now(), spoke: s.index, item, entity });
    for (const w of [...this.scalars, ...this.elems]) if (w.spoke === s.index && w.item === item) w.voided = true;
  }

  /** Call around every sync: notes which writes it could see and which first-link merges it made. */
  async around(run: () => Promise<SyncResult>): Promise<SyncResult> {
    const w = this.world;
    const start = w.clock.now() + STEP_MS; // sync() advances the clock first
    const candidates: Write[] = [];
    for (const x of [...this.scalars, ...this.elems]) {
      if (x.voided || x.observedAt !== null) continue;
      const s = w.spokes[x.spoke] as SimSpoke;
      if (start < s.visibleAfter) continue;
      const item = s.backend.item(x.item);
      if (!item) continue;
      const f = w.itemFields(s, item.card);
      // Seen by the next pull only if the item still shows it and it differs from the merge base
      // (a value added and removed again before a sync is no change).
      const baseRow = w.one<{ base: string }>('select base from links where spoke_id = ? and remote_id = ?', s.id, x.item);
      const base = baseRow ? (JSON.parse(baseRow.base) as Fields) : { s: {}, m: {} };
      const holds =
        'value' in x
          ? (f.s[x.path] ?? null) === x.value && (base.s[x.path] ?? null) !== x.value
          : x.kind === 'remove'
            ? !(x.key in (f.m[x.path] ?? {})) && x.key in (base.m[x.path] ?? {})
            : x.key in (f.m[x.path] ?? {}) &&
              JSON.stringify((f.m[x.path] ?? {})[x.key]) !== JSON.stringify((base.m[x.path] ?? {})[x.key]);
      if (holds) candidates.push(x);
      else if ('value' in x && x.noop === undefined && (f.s[x.path] ?? null) === x.value) x.noop = true;
    }
    const entitiesBefore = new Set(w.all<{ id: string }>('select id from entities').map((r) => r.id));
    const unlinked = w.spokes.map((s) => {
      const links = w.linksOf(s);
      return s.backend.list().filter((it) => !links.has(it.id)).map((it) => ({ id: it.id, fields: w.itemFields(s, it.card) }));
    });
    const res = await run();
    this.noteLinks();
    const ok = new Set((res.summary?.spokes ?? []).filter((r) => r.status === 'ok').map((r) => r.spokeId));
    for (const x of candidates) if (ok.has((w.spokes[x.spoke] as SimSpoke).id)) x.observedAt = start;
    for (const s of w.spokes) {
      const links = w.linksOf(s);
      for (const it of unlinked[s.index] ?? []) {
        const l = links.get(it.id);
        if (l && entitiesBefore.has(l.entity)) this.firstLinks.push({ t: start, entity: l.entity, fields: it.fields });
      }
    }
    return res;
  }

  /** Records the current links (a user may delete an item before the hub linked it from a lagging view). */
  noteLinks(): void {
    for (const s of this.world.spokes) {
      for (const [remoteId, l] of this.world.linksOf(s)) {
        const k = `${s.index} ${remoteId}`;
        const set = this.linkHistory.get(k) ?? new Set<string>();
        set.add(l.entity);
        this.linkHistory.set(k, set);
      }
    }
  }

  /** Whether a user deleted, on spoke `spoke`, an item that was (then or later) linked to `entity`. */
  private deletedBy(entity: string, spoke: number): UserDelete[] {
    return this.deletes.filter((d) => d.spoke === spoke && (d.entity === entity || this.linkHistory.get(`${spoke} ${d.item}`)?.has(entity)));
  }

  // -----------------------------------------------------------------------------------------------
  // The final verdict (call at quiescence)

  checkFinal(): string[] {
    const w = this.world;
    const out: string[] = [];
    const rows = w.all<{ id: string; state: string; deleted: number; tombstone: string | null }>('select id, state, deleted, tombstone from entities');
    const entities = new Map(rows.map((r) => [r.id, r]));
    const conflicts = w.all<{ entity_id: string; path: string; lost: string; kept: string }>('select entity_id, path, lost, kept from conflicts');
    const logged = (entity: string, path: string, value: string | null): boolean =>
      conflicts.some((c) => c.entity_id === entity && c.path === path && c.lost === JSON.stringify(value));

    // Scalars: the final value is a maximal write's; every other maximal write is in the log.
    const byField = groupBy(this.scalars, (x) => `${x.entity}\n${x.path}`);
    for (const ws of byField.values()) {
      const first = ws[0] as ScalarWrite;
      const e = entities.get(first.entity);
      if (!e || e.deleted === 1) continue;
      const final = currentFields(decodeState(e.state)).s[first.path] ?? null;
      const live = ws.filter((x) => !x.voided);
      const undominated = live.filter((x) => !live.some((y) => y.t > x.t && ((y.spoke === x.spoke && y.item === x.item) || y.prior === x.value)));
      // A user who typed a field back to what the hub last saw from that item changed nothing.
      const maximal = undominated.filter((x) => x.noop !== true);
      if (maximal.length === 0) continue;
      const allowed = new Set<string | null>(undominated.map((x) => x.value));
      for (const x of ws) if (x.voided) allowed.add(x.value);
      const firstT = Math.min(...maximal.map((x) => x.t));
      for (const fl of this.firstLinks) if (fl.entity === first.entity && fl.t >= firstT) allowed.add(fl.fields.s[first.path] ?? null);
      if (!allowed.has(final)) {
        out.push(
          `L4 lost edit: contact ${first.entity} ${first.path} is ${JSON.stringify(final)}, but the users' last writes were ` +
            maximal.map((x) => `${JSON.stringify(x.value)} (spoke ${x.spoke} @${x.t})`).join(', '),
        );
        continue;
      }
      for (const x of maximal) {
        if (x.value === final || logged(x.entity, x.path, x.value)) continue;
        if (this.firstLinks.some((fl) => fl.entity === x.entity && fl.t >= x.t)) continue;
        out.push(`I4 silent loss: contact ${x.entity} ${x.path}: ${JSON.stringify(x.value)} (spoke ${x.spoke} @${x.t}) lost to ${JSON.stringify(final)} and is not in the conflict log`);
      }
    }

    // Set elements: added and removed by nobody afterwards → present.
    const byElem = groupBy(this.elems, (x) => `${x.entity}\n${x.path}\n${x.key}`);
    for (const ws of byElem.values()) {
      const first = ws[0] as ElemWrite;
      const e = entities.get(first.entity);
      if (!e || e.deleted === 1) continue;
      const final = currentFields(decodeState(e.state)).m[first.path] ?? {};
      const adds = ws.filter((x) => x.kind !== 'remove' && !x.voided);
      const removes = ws.filter((x) => x.kind === 'remove');
      const needed = adds.find((a) => !removes.some((r) => r.t > a.t));
      if (needed && !(first.key in final)) {
        out.push(`L4/P5 lost element: contact ${first.entity} ${first.path} ${first.key} was added on spoke ${needed.spoke} @${needed.t}, removed by nobody later, and is missing`);
      }
    }

    // Deletions: evidence (I3), and no later edit lost with them (P6).
    for (const e of rows) {
      if (e.deleted !== 1) continue;
      const tomb = e.tombstone ? (JSON.parse(e.tombstone) as { origin: string; evidence: string; confirmed?: boolean }) : null;
      const origin = tomb ? w.spokes.find((s) => s.id === tomb.origin) : undefined;
      if (!origin) {
        out.push(`P6/I3 contact ${e.id} was deleted with origin ${tomb?.origin ?? '?'}, which is no spoke (no person deleted it in the hub)`);
        continue;
      }
      const dels = this.deletedBy(e.id, origin.index);
      // A person confirmed a held deletion: that is a user's delete in the hub (I3), even when the
      // held items were never verified to be gone (see the report on spoke-empty holds).
      if (dels.length === 0 && tomb?.confirmed === true) continue;
      if (dels.length === 0) {
        out.push(`P6/I3 contact ${e.id} was deleted from ${origin.name} (${tomb?.evidence}) although no user deleted it there`);
        continue;
      }
      const td = Math.max(...dels.map((d) => d.t));
      const later = [...this.scalars, ...this.elems].find((x) => x.entity === e.id && x.spoke !== origin.index && x.t > td && !x.voided && x.observedAt !== null);
      if (later) {
        out.push(
          `P6 edit lost to a delete: contact ${e.id} deleted on ${origin.name} @${td}, but spoke ${later.spoke} edited ${later.path} @${later.t} after that (edit wins)`,
        );
      }
    }
    return out;
  }

  /** S5: a contact that came back from deletion needs a cause: a user's edit, or a person's decision. */
  resurrectionCause(entity: string, deletedSeenAt: number): boolean {
    if (this.restores.some((t) => t >= deletedSeenAt)) return true;
    if (this.unlinkedEdits.some((u) => this.linkHistory.get(`${u.spoke} ${u.item}`)?.has(entity))) return true;
    return [...this.scalars, ...this.elems].some(
      (x) => x.entity === entity && !x.voided && (x.t >= deletedSeenAt || x.observedAt === null || x.observedAt >= deletedSeenAt),
    );
  }
}

export function groupBy<T>(xs: readonly T[], key: (x: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const x of xs) {
    const k = key(x);
    const list = m.get(k);
    if (list) list.push(x);
    else m.set(k, [x]);
  }
  return m;
}
