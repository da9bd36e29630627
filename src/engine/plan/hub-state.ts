/**
 * A hub contact's merged state: every field with the metadata the merge needs.
 *
 * - `at`: the edit's tag (when the edit happened, engine/hlc.ts) — decides last-writer-wins;
 * - `o`: where it came from (a spoke id, or `hub` for a person's decision or an undo);
 * - `hv`: the hub version at which the hub took the value — tells whether a spoke whose merge base
 *   is older had seen it (a concurrent edit) or not.
 * A cleared scalar keeps its cell with `v: null`, and a removed set element keeps its cell with
 * `del` set (observed-remove), so a late, older write cannot bring a value back.
 */
import {
  emptyFields,
  SCALAR_PATHS,
  SET_PATHS,
  type Attrs,
  type Fields,
  type ScalarPath,
  type SetPath,
} from '../../model/fields.js';

export interface ScalarCell {
  v: string | null;
  at: number;
  o: string;
  hv: number;
}

export interface ElementCell {
  a: Attrs;
  at: number;
  o: string;
  hv: number;
  /** Tag of the (last) add. */
  add: number;
  /** Tag of the removal, when removed after the last add. */
  del: number | null;
}

export interface HubState {
  s: Partial<Record<ScalarPath, ScalarCell>>;
  m: Partial<Record<SetPath, Record<string, ElementCell>>>;
}

export function emptyState(): HubState {
  return { s: {}, m: {} };
}

export function isElementAlive(el: ElementCell): boolean {
  return el.del === null;
}

/** The values a person sees: scalars that are set and elements that are alive. */
export function currentFields(st: HubState): Fields {
  const f = emptyFields();
  for (const p of SCALAR_PATHS) {
    const c = st.s[p];
    if (c && c.v !== null && c.v !== '') f.s[p] = c.v;
  }
  for (const p of SET_PATHS) {
    const els = st.m[p];
    if (!els) continue;
    const out: Record<string, Attrs> = {};
    for (const key of Object.keys(els).sort()) {
      const el = els[key];
      if (el && isElementAlive(el)) out[key] = el.a;
    }
    if (Object.keys(out).length > 0) f.m[p] = out;
  }
  return f;
}

/** A state whose every value came from one source at one moment (a new contact). */
export function stateFromFields(f: Fields, meta: { at: number; o: string; hv: number }): HubState {
  const st = emptyState();
  for (const p of SCALAR_PATHS) {
    const v = f.s[p];
    if (v !== undefined && v !== '') st.s[p] = { v, at: meta.at, o: meta.o, hv: meta.hv };
  }
  for (const p of SET_PATHS) {
    const els = f.m[p];
    if (!els) continue;
    const cells: Record<string, ElementCell> = {};
    for (const [key, a] of Object.entries(els)) {
      cells[key] = { a, at: meta.at, o: meta.o, hv: meta.hv, add: meta.at, del: null };
    }
    if (Object.keys(cells).length > 0) st.m[p] = cells;
  }
  return st;
}

function cloneAttrs(a: Attrs): Attrs {
  const out: Attrs = {};
  for (const k of Object.keys(a)) {
    const v = a[k];
    if (v !== undefined) out[k] = Array.isArray(v) ? [...v] : v;
  }
  return out;
}

/**
 * A deep copy, written out for the state's known shape: `structuredClone` was 1.4 % of a first
 * sync's main thread, for small objects.
 */
export function cloneState(st: HubState): HubState {
  const out = emptyState();
  for (const p of Object.keys(st.s) as ScalarPath[]) {
    const c = st.s[p];
    if (c) out.s[p] = { v: c.v, at: c.at, o: c.o, hv: c.hv };
  }
  for (const p of Object.keys(st.m) as SetPath[]) {
    const els = st.m[p];
    if (!els) continue;
    const cells: Record<string, ElementCell> = {};
    for (const key of Object.keys(els)) {
      const el = els[key];
      if (el) cells[key] = { a: cloneAttrs(el.a), at: el.at, o: el.o, hv: el.hv, add: el.add, del: el.del };
    }
    out.m[p] = cells;
  }
  return out;
}
