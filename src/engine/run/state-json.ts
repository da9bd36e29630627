/**
 * How a contact's merge state (plan/hub-state.ts) is stored: the `entities.state` column and the
 * journal's `before`/`after`.
 *
 * Written out cell by cell, most of a state is the same three values again: the values a contact
 * got in one edit share its tag (`at`), origin (`o`, a 36-character spoke id) and hub version
 * (`hv`), and an element's `add` is its `at` until it is removed and added back. So the stored
 * form names the most common (at, o, hv) once, under `d`, and a cell writes only what differs
 * from it; an element omits `add` when it equals its `at`, and `del` when it is null. The
 * benchmark's contacts (stored twice: the contact and its journal row) averaged 1,234 bytes of
 * state written out and 546 in this form (docs/benchmarks.md, session 12).
 *
 * A state stored before this form (no `d`) has every cell whole and is read as it is, so stores
 * need no migration: a contact takes the short form the next time it is written.
 */
import type { ElementCell, HubState, ScalarCell } from '../plan/hub-state.js';

interface Meta {
  at: number;
  o: string;
  hv: number;
}

type StoredScalar = { v: string | null } & Partial<Meta>;
type StoredElement = { a: ElementCell['a']; add?: number; del?: number } & Partial<Meta>;

interface StoredState {
  d?: Meta;
  s: Record<string, StoredScalar | ScalarCell>;
  m: Record<string, Record<string, StoredElement | ElementCell>>;
}

/** The (at, o, hv) that most of the state's cells carry; the first such in cell order on a tie. */
function commonMeta(st: HubState): Meta | null {
  let best: Meta | null = null;
  let bestCount = 0;
  // Nearly every state has one or two distinct triples: a short list beats a Map keyed by text.
  const seen: { m: Meta; n: number }[] = [];
  const count = (c: Meta) => {
    let e = seen.find((x) => x.m.at === c.at && x.m.hv === c.hv && x.m.o === c.o);
    if (!e) seen.push((e = { m: c, n: 0 }));
    e.n += 1;
    if (e.n > bestCount) {
      best = e.m;
      bestCount = e.n;
    }
  };
  for (const c of Object.values(st.s)) if (c) count(c);
  for (const els of Object.values(st.m)) if (els) for (const c of Object.values(els)) count(c);
  return best;
}

/** What of a cell's (at, o, hv) differs from the common one: all a stored cell writes of them. */
function metaDiff(c: Meta, d: Meta): Partial<Meta> {
  const out: Partial<Meta> = {};
  if (c.at !== d.at) out.at = c.at;
  if (c.o !== d.o) out.o = c.o;
  if (c.hv !== d.hv) out.hv = c.hv;
  return out;
}

/** A stored cell's (at, o, hv), the common one filling what it leaves out. */
function metaOf(c: Partial<Meta>, d: Meta): Meta {
  return { at: c.at ?? d.at, o: c.o ?? d.o, hv: c.hv ?? d.hv };
}

/** The stored text of a state. */
export function encodeState(st: HubState): string {
  const d = commonMeta(st);
  if (d === null) return JSON.stringify(st);
  const out: StoredState = { d: { at: d.at, o: d.o, hv: d.hv }, s: {}, m: {} };
  for (const [p, c] of Object.entries(st.s)) {
    if (!c) continue;
    out.s[p] = { v: c.v, ...metaDiff(c, d) };
  }
  for (const [p, els] of Object.entries(st.m)) {
    if (!els) continue;
    const cells: Record<string, StoredElement> = {};
    for (const [key, c] of Object.entries(els)) {
      const ec: StoredElement = { a: c.a, ...metaDiff(c, d) };
      if (c.add !== c.at) ec.add = c.add;
      if (c.del !== null) ec.del = c.del;
      cells[key] = ec;
    }
    out.m[p] = cells;
  }
  return JSON.stringify(out);
}

/** A state from its stored text, in either form. */
export function decodeState(text: string): HubState {
  const raw = JSON.parse(text) as StoredState;
  const d = raw.d;
  if (d === undefined) return raw as HubState;
  const st: HubState = { s: {}, m: {} };
  const s = st.s as Record<string, ScalarCell>;
  for (const [p, c] of Object.entries(raw.s)) {
    s[p] = { v: c.v, ...metaOf(c, d) };
  }
  const m = st.m as Record<string, Record<string, ElementCell>>;
  for (const [p, els] of Object.entries(raw.m)) {
    const cells: Record<string, ElementCell> = {};
    for (const [key, c] of Object.entries(els)) {
      const meta = metaOf(c, d);
      cells[key] = { a: c.a, ...meta, add: c.add ?? meta.at, del: c.del ?? null };
    }
    m[p] = cells;
  }
  return st;
}
