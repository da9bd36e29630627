/**
 * fast-check generators for the planner check and the simulation: spoke line-ups, a correlated
 * initial dataset (one "truth" perturbed per spoke), and what users do between syncs.
 */
import fc from 'fast-check';
import {
  SCALAR_USER_PATHS,
  personCard,
  perturb,
  type CopySpec,
  type PersonSpec,
  type UserEdit,
} from './domain.js';
import { SPOKE_KINDS, type SimWorld, type SpokeKind, type SpokeProfile } from './world.js';

export const arbPerson: fc.Arbitrary<PersonSpec> = fc.record({
  given: fc.option(fc.nat(5), { nil: null, freq: 6 }),
  surname: fc.option(fc.nat(5), { nil: null, freq: 4 }),
  emails: fc.array(fc.record({ i: fc.nat(7), v: fc.nat(2) }), { maxLength: 2 }),
  phones: fc.array(fc.record({ i: fc.nat(7), f: fc.nat(2) }), { maxLength: 2 }),
  org: fc.option(fc.nat(2), { nil: null }),
  note: fc.option(fc.nat(2), { nil: null, freq: 2 }),
  title: fc.option(fc.nat(2), { nil: null, freq: 2 }),
});

export const arbCopy: fc.Arbitrary<CopySpec> = fc.record({
  t: fc.nat(15),
  p: fc.oneof({ weight: 2, arbitrary: fc.constant(0) }, { weight: 3, arbitrary: fc.nat(255) }),
  sameUid: fc.boolean(),
});

/** Per spoke: copies of truth persons (perturbed), plus persons only that spoke has. */
export interface SpokeData {
  copies: CopySpec[];
  extras: PersonSpec[];
}

export interface Dataset {
  truth: PersonSpec[];
  spokes: SpokeData[];
}

export function arbDataset(opts: { maxTruth: number; maxCopies: number; maxExtras: number }): fc.Arbitrary<Dataset> {
  return fc.record({
    truth: fc.array(arbPerson, { minLength: 1, maxLength: opts.maxTruth }),
    spokes: fc.array(
      fc.record({
        copies: fc.array(arbCopy, { maxLength: opts.maxCopies }),
        extras: fc.array(arbPerson, { maxLength: opts.maxExtras }),
      }),
      { minLength: 4, maxLength: 4 },
    ),
  });
}

/** 2–4 spokes of different families, in a random order (the engine syncs them in that order). */
export const arbProfiles: fc.Arbitrary<SpokeProfile[]> = fc
  .record({ kinds: fc.shuffledSubarray([...SPOKE_KINDS], { minLength: 2 }), feedReadOnly: fc.boolean() })
  .map(({ kinds, feedReadOnly }) => kinds.map((kind: SpokeKind) => (kind === 'feed' ? { kind, readOnly: feedReadOnly } : { kind })));

/** Puts the dataset on the spokes as users would have typed it (before any sync). */
export function seedSpokes(world: SimWorld, data: Dataset): void {
  for (const s of world.spokes) {
    const d = data.spokes[s.index];
    if (!d) continue;
    for (const [i, c] of d.copies.entries()) {
      const truth = data.truth[c.t % data.truth.length] as PersonSpec;
      const uid = c.sameUid ? `urn:sim:truth:${c.t % data.truth.length}` : `urn:sim:${s.name}:copy${i}`;
      s.backend.userCreate(personCard(perturb(truth, c.p), uid));
    }
    for (const [i, p] of d.extras.entries()) s.backend.userCreate(personCard(p, `urn:sim:${s.name}:extra${i}`));
  }
}

const arbScalarPath = fc.constantFrom(...SCALAR_USER_PATHS);

export const arbEdit: fc.Arbitrary<UserEdit> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('set' as const), path: arbScalarPath, value: fc.nat(5) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('clear' as const), path: arbScalarPath }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('addEmail' as const), email: fc.nat(7), variant: fc.nat(2) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('removeEmail' as const), pick: fc.nat(3) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('labelEmail' as const), pick: fc.nat(3), label: fc.nat(2) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('addPhone' as const), phone: fc.nat(7), format: fc.nat(2) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('removePhone' as const), pick: fc.nat(3) }) },
);

/**
 * The `i`-th user's version of an edit, for concurrent edits of one contact on several spokes:
 * the same field with another value (so that they collide), the same e-mail or phone in another
 * spelling — or, with `other`, another one.
 */
export function shiftEdit(e: UserEdit, i: number, other: boolean): UserEdit {
  switch (e.op) {
    case 'set':
      return { ...e, value: e.value + i };
    case 'addEmail':
      return { ...e, variant: e.variant + i, email: other ? e.email + i : e.email };
    case 'labelEmail':
      return { ...e, label: e.label + i };
    case 'addPhone':
      return { ...e, format: e.format + i, phone: other ? e.phone + i : e.phone };
    default:
      return e;
  }
}

/** What users do to the spokes between syncs. `spoke` and `item` are picked modulo what exists. */
export type UserOp =
  | { k: 'edit'; spoke: number; item: number; edit: UserEdit }
  | { k: 'delete'; spoke: number; item: number }
  | { k: 'create'; spoke: number; person: PersonSpec }
  | { k: 'bulkDelete'; spoke: number; pct: number }
  /** A user renames an item (a file renamed, a card given a new href): same content, a new id. */
  | { k: 'move'; spoke: number; item: number }
  /**
   * Users on several spokes act on the same hub contact (picked by index among the live ones)
   * before the next sync: concurrent edits of one field, edit against delete (P4, P5, P6).
   */
  | { k: 'concurrent'; entity: number; edit: UserEdit; acts: { spoke: number; other: boolean; del: boolean }[] };

export const arbUserOp: fc.Arbitrary<UserOp> = fc.oneof(
  { weight: 12, arbitrary: fc.record({ k: fc.constant('edit' as const), spoke: fc.nat(3), item: fc.nat(40), edit: arbEdit }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('delete' as const), spoke: fc.nat(3), item: fc.nat(40) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('create' as const), spoke: fc.nat(3), person: arbPerson }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('bulkDelete' as const), spoke: fc.nat(3), pct: fc.integer({ min: 10, max: 100 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('move' as const), spoke: fc.nat(3), item: fc.nat(40) }) },
  {
    weight: 6,
    arbitrary: fc.record({
      k: fc.constant('concurrent' as const),
      entity: fc.nat(40),
      edit: arbEdit,
      acts: fc.array(fc.record({ spoke: fc.nat(3), other: fc.boolean(), del: fc.nat(5).map((n) => n === 0) }), {
        minLength: 2,
        maxLength: 3,
      }),
    }),
  },
);
