/**
 * Field-level three-way merge (sync-design.md §B4).
 *
 * A spoke's change is the difference between what it holds now and its merge base (what it held
 * when it was last reconciled with the hub). Only that difference is applied to the hub, field by
 * field and, for multi-valued fields, element by element, so edits of different fields made on
 * different spokes both survive. When the hub took another value for the same field after the
 * spoke's base (a true concurrent edit), the later edit wins and the other value is returned as a
 * conflict so it can be kept in the conflict log — a losing value is never dropped silently.
 */
import {
  SCALAR_PATHS,
  SET_PATHS,
  isScalarPath,
  stableStringify,
  type Attrs,
  type FieldPath,
  type Fields,
  type ScalarPath,
  type SetPath,
} from '../../model/fields.js';
import { cloneState, isElementAlive, type ElementCell, type HubState, type ScalarCell } from './hub-state.js';

export type Change =
  | { kind: 'set'; path: ScalarPath; value: string | null }
  | { kind: 'add'; path: SetPath; key: string; attrs: Attrs }
  | { kind: 'remove'; path: SetPath; key: string }
  | { kind: 'attrs'; path: SetPath; key: string; attrs: Attrs };

export interface Conflict {
  /** `name.given`, or `emails/ann@example.com` for one element of a set. */
  path: string;
  kept: string | Attrs | null;
  lost: string | Attrs | null;
  keptOrigin: string;
  lostOrigin: string;
}

export interface EditMeta {
  /** The edit's tag (engine/hlc.ts). */
  at: number;
  /** Where the edit comes from (a spoke id). */
  origin: string;
  /** The hub version being written (a fresh tick). */
  hv: number;
  /**
   * The hub version the spoke's merge base was reconciled with: a hub value written after it is
   * one the spoke had not seen. `-1` for a first link, where the spoke had seen nothing.
   */
  seen: number;
  /**
   * First link (no base): both sides are concurrent by definition; empty fields are filled from
   * the spoke, but a differing non-empty hub value is kept (the spoke's value goes to the log).
   */
  firstLink?: boolean;
}

function pathsOf(paths: 'all' | readonly FieldPath[]): { s: readonly ScalarPath[]; m: readonly SetPath[] } {
  if (paths === 'all') return { s: SCALAR_PATHS, m: SET_PATHS };
  return {
    s: paths.filter(isScalarPath),
    m: paths.filter((p): p is SetPath => !isScalarPath(p)),
  };
}

const attrsEqual = (a: Attrs, b: Attrs): boolean => stableStringify(a) === stableStringify(b);

/** What changed from `base` to `cur`, over the given paths. `diffFields(b, b)` is empty. */
export function diffFields(base: Fields, cur: Fields, paths: 'all' | readonly FieldPath[] = 'all'): Change[] {
  const out: Change[] = [];
  const ps = pathsOf(paths);
  for (const p of ps.s) {
    const b = base.s[p] ?? null;
    const c = cur.s[p] ?? null;
    if ((b || null) !== (c || null)) out.push({ kind: 'set', path: p, value: c || null });
  }
  for (const p of ps.m) {
    const b = base.m[p] ?? {};
    const c = cur.m[p] ?? {};
    for (const key of Object.keys(c).sort()) {
      const ca = c[key] as Attrs;
      const ba = b[key];
      if (!ba) out.push({ kind: 'add', path: p, key, attrs: ca });
      else if (!attrsEqual(ba, ca)) out.push({ kind: 'attrs', path: p, key, attrs: ca });
    }
    for (const key of Object.keys(b).sort()) if (!(key in c)) out.push({ kind: 'remove', path: p, key });
  }
  return out;
}

/** The paths a list of changes touches (for a field-mask update). */
export function changedPaths(changes: readonly Change[]): FieldPath[] {
  return [...new Set(changes.map((c) => c.path))];
}

/** Total order of writes: tag, then origin (deterministic tie-break). */
function wins(a: { at: number; o: string }, b: { at: number; o: string }): boolean {
  return a.at > b.at || (a.at === b.at && a.o > b.o);
}

export interface MergeResult {
  state: HubState;
  conflicts: Conflict[];
  /** False when the changes left every value as it was. */
  changed: boolean;
}

/** Applies one spoke's changes to a hub state (a pure function: the input is not modified). */
export function applyChanges(input: HubState, changes: readonly Change[], meta: EditMeta): MergeResult {
  const st = cloneState(input);
  const conflicts: Conflict[] = [];
  let changed = false;
  const cand = { at: meta.at, o: meta.origin };
  // A hub value the spoke had seen: written before its base was reconciled, or written by the spoke
  // itself (a value it sent and may since have changed again).
  const seen = (c: { hv: number; o: string }): boolean => !meta.firstLink && (c.hv <= meta.seen || c.o === meta.origin);

  for (const ch of changes) {
    if (ch.kind === 'set') {
      const cur: ScalarCell | undefined = st.s[ch.path];
      const curV = cur?.v ?? null;
      if (curV === ch.value) {
        // The spoke wrote the value the hub holds without having seen the hub's write of it (a
        // spoke the hub does not write to, a person typing the same thing): a write of its own,
        // concurrent with the hub's. When it is the later one it takes the cell's tag, origin and
        // version, so that a write made elsewhere at the same time is judged against it and the
        // loser of the two is logged (P4) — left as it was, the older write would have been seen
        // by that spoke and lost to it without a trace.
        if (cur && !meta.firstLink && !seen(cur) && wins(cand, cur)) {
          st.s[ch.path] = { v: curV, at: meta.at, o: meta.origin, hv: meta.hv };
          changed = true;
        }
        continue;
      }
      const next: ScalarCell = { v: ch.value, at: meta.at, o: meta.origin, hv: meta.hv };
      if (!cur || (curV === null && seen(cur))) {
        st.s[ch.path] = next;
        changed = true;
        continue;
      }
      if (meta.firstLink) {
        if (curV === null) {
          st.s[ch.path] = next;
          changed = true;
        } else if (ch.value !== null) {
          conflicts.push({ path: ch.path, kept: curV, lost: ch.value, keptOrigin: cur.o, lostOrigin: meta.origin });
        }
        continue;
      }
      if (seen(cur)) {
        // The spoke had seen the hub's value and changed it: causally later, whatever the clocks say.
        next.at = Math.max(meta.at, cur.at + 1);
        st.s[ch.path] = next;
        changed = true;
      } else if (wins(cand, cur)) {
        conflicts.push({ path: ch.path, kept: ch.value, lost: curV, keptOrigin: meta.origin, lostOrigin: cur.o });
        st.s[ch.path] = next;
        changed = true;
      } else {
        conflicts.push({ path: ch.path, kept: curV, lost: ch.value, keptOrigin: cur.o, lostOrigin: meta.origin });
      }
      continue;
    }

    const els = (st.m[ch.path] ??= {});
    const el: ElementCell | undefined = els[ch.key];
    const elPath = `${ch.path}/${ch.key}`;
    if (ch.kind === 'add' || ch.kind === 'attrs') {
      if (!el || !isElementAlive(el)) {
        // An add (or an edit of an element the hub had removed concurrently) wins over a removal.
        els[ch.key] = { a: ch.attrs, at: meta.at, o: meta.origin, hv: meta.hv, add: meta.at, del: null };
        changed = true;
        continue;
      }
      if (attrsEqual(el.a, ch.attrs)) continue;
      if (meta.firstLink) continue; // union of elements; the hub's labels stay
      if (seen(el)) {
        els[ch.key] = { ...el, a: ch.attrs, at: Math.max(meta.at, el.at + 1), o: meta.origin, hv: meta.hv };
        changed = true;
      } else if (wins(cand, el)) {
        conflicts.push({ path: elPath, kept: ch.attrs, lost: el.a, keptOrigin: meta.origin, lostOrigin: el.o });
        els[ch.key] = { ...el, a: ch.attrs, at: meta.at, o: meta.origin, hv: meta.hv };
        changed = true;
      } else {
        conflicts.push({ path: elPath, kept: el.a, lost: ch.attrs, keptOrigin: el.o, lostOrigin: meta.origin });
      }
      continue;
    }
    // remove: observed-remove — only what the spoke had seen goes; a concurrent re-add or edit stays.
    if (!el || !isElementAlive(el)) continue;
    if (!seen(el)) continue;
    els[ch.key] = { ...el, del: Math.max(meta.at, el.add + 1), o: meta.origin, hv: meta.hv };
    changed = true;
  }
  for (const p of SET_PATHS) if (st.m[p] && Object.keys(st.m[p] ?? {}).length === 0) delete st.m[p];
  return { state: st, conflicts, changed };
}

/** Changes that bring an empty base to `f` (a first link, or a brand-new contact). */
export function changesFromEmpty(f: Fields, paths: 'all' | readonly FieldPath[] = 'all'): Change[] {
  return diffFields({ s: {}, m: {} }, f, paths);
}
