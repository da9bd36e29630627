import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { emptyFields, fieldsEqual, type Fields } from '../../src/model/fields.js';
import { currentFields, stateFromFields, type HubState } from '../../src/engine/plan/hub-state.js';
import { applyChanges, changesFromEmpty, diffFields } from '../../src/engine/plan/merge.js';

const f = (s: Fields['s'], m: Fields['m'] = {}): Fields => ({ s, m });
const email = (addr: string, extra: Record<string, string> = {}) => ({ [addr.toLowerCase()]: { address: addr, ...extra } });

/** A hub state built as one spoke's contact, synced to every spoke at hub version 10. */
function synced(fields: Fields): HubState {
  return stateFromFields(fields, { at: 1000, o: 'A', hv: 10 });
}

describe('diffFields', () => {
  it('is empty for equal fields', () => {
    const x = f({ 'name.given': 'Ann' }, { emails: email('ann@x.example') });
    expect(diffFields(x, x)).toEqual([]);
  });
  it('sees a set, a clear, an added, a removed and a relabelled element', () => {
    const base = f({ 'name.given': 'Ann', note: 'hi' }, { emails: { ...email('a@x.example'), ...email('b@x.example') } });
    const cur = f({ 'name.given': 'Anne' }, { emails: { ...email('a@x.example', { label: 'work' }), ...email('c@x.example') } });
    expect(diffFields(base, cur)).toEqual([
      { kind: 'set', path: 'name.given', value: 'Anne' },
      { kind: 'set', path: 'note', value: null },
      { kind: 'attrs', path: 'emails', key: 'a@x.example', attrs: { address: 'a@x.example', label: 'work' } },
      { kind: 'add', path: 'emails', key: 'c@x.example', attrs: { address: 'c@x.example' } },
      { kind: 'remove', path: 'emails', key: 'b@x.example' },
    ]);
  });
  it('only looks at the paths a spoke supports', () => {
    expect(diffFields(f({ note: 'a' }), f({ note: 'b' }), ['name.given'])).toEqual([]);
  });
});

describe('applyChanges', () => {
  const base = f({ 'name.given': 'Ann', 'org.name': 'Acme' }, { emails: email('ann@x.example') });

  it('keeps edits of different fields made on two spokes', () => {
    const fromB = applyChanges(synced(base), diffFields(base, f({ ...base.s, 'name.given': 'Anne' }, base.m)), { at: 2000, origin: 'B', hv: 11, seen: 10 });
    const fromC = applyChanges(fromB.state, diffFields(base, f({ ...base.s, 'org.name': 'Globex' }, base.m)), { at: 1500, origin: 'C', hv: 12, seen: 10 });
    expect(currentFields(fromC.state).s).toEqual({ 'name.given': 'Anne', 'org.name': 'Globex' });
    expect(fromC.conflicts).toEqual([]);
  });

  it('lets the later of two concurrent edits of one field win and logs the loser', () => {
    const b = applyChanges(synced(base), [{ kind: 'set', path: 'name.given', value: 'Anne' }], { at: 2000, origin: 'B', hv: 11, seen: 10 });
    const c = applyChanges(b.state, [{ kind: 'set', path: 'name.given', value: 'Annie' }], { at: 1500, origin: 'C', hv: 12, seen: 10 });
    expect(currentFields(c.state).s['name.given']).toBe('Anne');
    expect(c.conflicts).toEqual([{ path: 'name.given', kept: 'Anne', lost: 'Annie', keptOrigin: 'B', lostOrigin: 'C' }]);
    const c2 = applyChanges(b.state, [{ kind: 'set', path: 'name.given', value: 'Annie' }], { at: 2500, origin: 'C', hv: 12, seen: 10 });
    expect(currentFields(c2.state).s['name.given']).toBe('Annie');
    expect(c2.conflicts).toEqual([{ path: 'name.given', kept: 'Annie', lost: 'Anne', keptOrigin: 'C', lostOrigin: 'B' }]);
  });

  it('does not call identical concurrent edits a conflict', () => {
    const b = applyChanges(synced(base), [{ kind: 'set', path: 'name.given', value: 'Anne' }], { at: 2000, origin: 'B', hv: 11, seen: 10 });
    const c = applyChanges(b.state, [{ kind: 'set', path: 'name.given', value: 'Anne' }], { at: 1500, origin: 'C', hv: 12, seen: 10 });
    expect(c.conflicts).toEqual([]);
    expect(c.changed).toBe(false);
  });

  it('an identical later write it had not seen takes the value over, so that a third concurrent edit is judged against it', () => {
    const b = applyChanges(synced(base), [{ kind: 'set', path: 'name.given', value: 'Anne' }], { at: 2000, origin: 'B', hv: 11, seen: 10 });
    // C had not seen B's "Anne" and typed the same, later: the value is C's write now.
    const c = applyChanges(b.state, [{ kind: 'set', path: 'name.given', value: 'Anne' }], { at: 2500, origin: 'C', hv: 12, seen: 10 });
    expect(c.conflicts).toEqual([]);
    expect(c.changed).toBe(true);
    expect(c.state.s['name.given']).toEqual({ v: 'Anne', at: 2500, o: 'C', hv: 12 });
    // D had seen B's "Anne" (base at 11), not C's: its "Annie" is concurrent with C's and is logged.
    const d = applyChanges(c.state, [{ kind: 'set', path: 'name.given', value: 'Annie' }], { at: 2400, origin: 'D', hv: 13, seen: 11 });
    expect(currentFields(d.state).s['name.given']).toBe('Anne');
    expect(d.conflicts).toEqual([{ path: 'name.given', kept: 'Anne', lost: 'Annie', keptOrigin: 'C', lostOrigin: 'D' }]);
    // Having seen the value, or writing it earlier than the hub's, changes nothing.
    expect(applyChanges(b.state, [{ kind: 'set', path: 'name.given', value: 'Anne' }], { at: 2500, origin: 'C', hv: 12, seen: 11 }).changed).toBe(false);
  });

  it('an edit made after seeing the hub value wins whatever the clocks say', () => {
    const b = applyChanges(synced(base), [{ kind: 'set', path: 'name.given', value: 'Anne' }], { at: 9000, origin: 'B', hv: 11, seen: 10 });
    // C saw B's value (its base is at version 11) and changed it, with a clock far behind.
    const c = applyChanges(b.state, [{ kind: 'set', path: 'name.given', value: 'Annie' }], { at: 100, origin: 'C', hv: 12, seen: 11 });
    expect(currentFields(c.state).s['name.given']).toBe('Annie');
    expect(c.conflicts).toEqual([]);
  });

  it('merges e-mails element by element; a concurrent add survives a remove', () => {
    const addB = applyChanges(synced(base), [{ kind: 'add', path: 'emails', key: 'b@x.example', attrs: { address: 'b@x.example' } }], { at: 2000, origin: 'B', hv: 11, seen: 10 });
    const removeC = applyChanges(
      addB.state,
      [
        { kind: 'remove', path: 'emails', key: 'ann@x.example' },
        { kind: 'remove', path: 'emails', key: 'b@x.example' }, // C never saw it: not C's to remove
      ],
      { at: 3000, origin: 'C', hv: 12, seen: 10 },
    );
    expect(Object.keys(currentFields(removeC.state).m.emails ?? {})).toEqual(['b@x.example']);
  });

  it('re-adding a removed element brings it back', () => {
    const removed = applyChanges(synced(base), [{ kind: 'remove', path: 'emails', key: 'ann@x.example' }], { at: 2000, origin: 'B', hv: 11, seen: 10 });
    expect(currentFields(removed.state).m.emails).toBeUndefined();
    const back = applyChanges(removed.state, [{ kind: 'add', path: 'emails', key: 'ann@x.example', attrs: { address: 'Ann@x.example' } }], { at: 3000, origin: 'C', hv: 12, seen: 11 });
    expect(currentFields(back.state).m.emails).toEqual({ 'ann@x.example': { address: 'Ann@x.example' } });
  });

  it('on a first link fills empty fields, unions elements and keeps the hub value on a difference', () => {
    const spoke = f({ 'name.given': 'Annie', title: 'CFO' }, { emails: email('other@x.example') });
    const r = applyChanges(synced(base), changesFromEmpty(spoke), { at: 5000, origin: 'B', hv: 11, seen: -1, firstLink: true });
    const cur = currentFields(r.state);
    expect(cur.s).toEqual({ 'name.given': 'Ann', 'org.name': 'Acme', title: 'CFO' });
    expect(Object.keys(cur.m.emails ?? {}).sort()).toEqual(['ann@x.example', 'other@x.example']);
    expect(r.conflicts).toEqual([{ path: 'name.given', kept: 'Ann', lost: 'Annie', keptOrigin: 'A', lostOrigin: 'B' }]);
  });

  it('does not modify its input', () => {
    const st = synced(base);
    const copy = structuredClone(st);
    applyChanges(st, [{ kind: 'set', path: 'name.given', value: 'X' }, { kind: 'remove', path: 'emails', key: 'ann@x.example' }], { at: 2000, origin: 'B', hv: 11, seen: 10 });
    expect(st).toEqual(copy);
  });
});

// Merge algebra (sync-design.md §C2, P11), over small value domains so collisions are frequent.
const scalar = fc.constantFrom('Ann', 'Bob', 'Cy', '');
const fieldsArb: fc.Arbitrary<Fields> = fc
  .record({
    given: scalar,
    org: scalar,
    note: scalar,
    emails: fc.subarray(['a@x.example', 'b@x.example', 'c@x.example', 'd@x.example']),
    label: fc.constantFrom('work', 'home'),
  })
  .map(({ given, org, note, emails, label }) => {
    const out = emptyFields();
    if (given) out.s['name.given'] = given;
    if (org) out.s['org.name'] = org;
    if (note) out.s.note = note;
    if (emails.length > 0) out.m.emails = Object.fromEntries(emails.map((e) => [e, { address: e, label }]));
    return out;
  });

describe('merge algebra (property-based)', () => {
  it('diff(b, b) is empty, and applying diff(b, x) to a state of b gives x', () => {
    fc.assert(
      fc.property(fieldsArb, fieldsArb, (b, x) => {
        expect(diffFields(b, b)).toEqual([]);
        const r = applyChanges(synced(b), diffFields(b, x), { at: 2000, origin: 'B', hv: 11, seen: 10 });
        expect(fieldsEqual(currentFields(r.state), x)).toBe(true);
      }),
    );
  });

  it("applying a spoke's changes twice is the same as once", () => {
    fc.assert(
      fc.property(fieldsArb, fieldsArb, (b, x) => {
        const meta = { at: 2000, origin: 'B', hv: 11, seen: 10 };
        const once = applyChanges(synced(b), diffFields(b, x), meta);
        const twice = applyChanges(once.state, diffFields(b, x), { ...meta, hv: 12 });
        expect(currentFields(twice.state)).toEqual(currentFields(once.state));
      }),
    );
  });

  it('two spokes editing disjoint fields give the same result in either order', () => {
    fc.assert(
      fc.property(fieldsArb, scalar, scalar, (b, given, org) => {
        const x = { s: { ...b.s, 'name.given': given }, m: b.m };
        const y = { s: { ...b.s, 'org.name': org }, m: b.m };
        const dx = diffFields(b, x);
        const dy = diffFields(b, y);
        const xy = applyChanges(applyChanges(synced(b), dx, { at: 2000, origin: 'B', hv: 11, seen: 10 }).state, dy, { at: 2100, origin: 'C', hv: 12, seen: 10 });
        const yx = applyChanges(applyChanges(synced(b), dy, { at: 2100, origin: 'C', hv: 11, seen: 10 }).state, dx, { at: 2000, origin: 'B', hv: 12, seen: 10 });
        expect(fieldsEqual(currentFields(xy.state), currentFields(yx.state))).toBe(true);
      }),
    );
  });

  it('concurrent edits of one field converge to the same winner in either order, and the loser is logged', () => {
    fc.assert(
      fc.property(fieldsArb, scalar, scalar, fc.integer({ min: 1500, max: 2500 }), fc.integer({ min: 1500, max: 2500 }), (b, v1, v2, t1, t2) => {
        fc.pre(v1 !== v2 && v1 !== (b.s['name.given'] ?? '') && v2 !== (b.s['name.given'] ?? ''));
        const c1 = [{ kind: 'set' as const, path: 'name.given' as const, value: v1 || null }];
        const c2 = [{ kind: 'set' as const, path: 'name.given' as const, value: v2 || null }];
        const ab = applyChanges(applyChanges(synced(b), c1, { at: t1, origin: 'B', hv: 11, seen: 10 }).state, c2, { at: t2, origin: 'C', hv: 12, seen: 10 });
        const ba = applyChanges(applyChanges(synced(b), c2, { at: t2, origin: 'C', hv: 11, seen: 10 }).state, c1, { at: t1, origin: 'B', hv: 12, seen: 10 });
        expect(currentFields(ab.state).s['name.given']).toEqual(currentFields(ba.state).s['name.given']);
        const winner = t2 > t1 || (t2 === t1 && 'C' > 'B') ? v2 : v1;
        expect(currentFields(ab.state).s['name.given'] ?? '').toBe(winner);
        expect(ab.conflicts).toHaveLength(1);
      }),
    );
  });
});
