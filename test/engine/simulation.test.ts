/**
 * Level 2 of the engine's test plan (sync-design.md §C3): the whole engine — syncHub and the
 * decisions, on the SQLite store — in a deterministic simulated world (test/support/sim/), driven
 * by a generated list of commands:
 *   users on the spokes (edit a field, add/remove/relabel e-mails and phones, clear, delete, create,
 *   rename an item),
 *   sync (all spokes or one), crash (the process dies at connector call N, before or after the server
 *   ran it: store and backends persist, the next sync runs as a new process and must recover),
 *   loseNextResponse, failNext (transient / rate_limited), truncateNextListing, expireCursors,
 *   flakyEtags, setVisibilityLag (also a lagging findByMarker) and clock advances,
 *   bulkDelete(p%) followed by a sync and a person's confirm or reject (decisions.ts).
 * Always on, after every command:
 *   S1 no duplicate items per marker once intents are settled;
 *   S2 every create/update reaches a spoke only after its intent was committed;
 *   S3 no write to a feed-only/read-only spoke, no delete without a hub tombstone (or of a non-ghost);
 *   S4 at most max(10, 20%) unconfirmed deletions per run and spoke, in and out;
 *   S5 no contact comes back from deletion without a user's edit or a person's decision;
 *   no spoke fails a run except for an injected fault.
 * At the end, quiescence (faults healed, clock past every lag, at most K = 8 runs until two in a row
 * write nothing): L1 convergence, L2 termination, L3 no intent left, L4 no lost edit (reference model
 * in test/support/sim/reference.ts), plus P7/I2 (every item linked once, every base honest).
 * Determinism: every case runs twice from the same data and seed; the digests of every backend and
 * every store table must be equal.
 *
 * Runs: HUBSYNC_SIM_RUNS (default 150, for `npm test`; `.ci/run` runs 2,000).
 * Replay a failure — fast-check prints `seed` and `path`:
 *   HUBSYNC_SIM_SEED=<seed> HUBSYNC_SIM_PATH=<path> npx vitest run test/engine/simulation.test.ts
 * (add HUBSYNC_SIM_DEBUG=1 to print the connector-call trace and the store of the failing case).
 * Engine gaps found here are fixed, each with its case kept below as a regression test; the
 * randomized runs tolerate no known symptom.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { arbSimCase, runSimCase, type SimCase } from '../support/sim/sim.js';

const RUNS = Number(process.env.HUBSYNC_SIM_RUNS ?? 150);
// CI explores a fixed set of cases (the same every run, so a red CI is never luck); elsewhere each
// run draws new ones. `HUBSYNC_SIM_SEED=random` draws in CI too; a number replays that seed.
const SEED = seedFrom(process.env.HUBSYNC_SIM_SEED);
const PATH = process.env.HUBSYNC_SIM_PATH;
const DEBUG = process.env.HUBSYNC_SIM_DEBUG === '1';

describe('whole-engine simulation (sync-design.md C3)', () => {
  it(`keeps its invariants under users, crashes and faults, converges, and is deterministic (${RUNS} cases)`, { timeout: 3_600_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(arbSimCase, fc.integer({ min: 1, max: 2 ** 31 - 1 }), async (c: SimCase, seed: number) => {
        const first = await runSimCase(c, seed, DEBUG && PATH !== undefined);
        expect(first.violations).toEqual([]);
        const again = await runSimCase(c, seed);
        expect(again.hash, 'the same case and seed must give the same backends and store').toBe(first.hash);
      }),
      { numRuns: RUNS, ...(SEED === undefined ? {} : { seed: SEED }), ...(PATH === undefined ? {} : { path: PATH, endOnFailure: true }) },
    );
  });
});

/** Cases the simulation found, shrunk, kept as regression tests (replayed through the same runner). */
describe('simulation regressions', () => {
  const empty = { given: null, surname: null, emails: [], phones: [], org: null, note: null, title: null };
  const noData = { copies: [], extras: [] };

  it('a contact imported by a run that then crashed still reaches the other spokes (L1)', async () => {
    // The crash comes after dav's first page was applied (the contact is committed with a fresh
    // version) but before the run stored the hub clock. The next run started its clock from the
    // stored, older value, so its push window (pushed_clock, clock] ended below the contact's
    // version and norm never got the contact while nothing else changed in the hub.
    const c: SimCase = {
      profiles: [{ kind: 'dav' }, { kind: 'norm' }],
      data: { truth: [empty], spokes: [{ copies: [], extras: [empty] }, noData, noData, noData] },
      cmds: [{ c: 'crash', at: 3, after: false }],
      finalDecision: 'confirm',
    };
    expect((await runSimCase(c)).violations).toEqual([]);
  });

  it('a short listing does not hold deletions of contacts that are still there; a user edit made meanwhile is kept (L1, L4)', async () => {
    // dav's cursor expires and its next full listing is truncated to nothing. The engine took that
    // for "the spoke was emptied" and held the deletion of the contact without checking it (a GET
    // finds it). The person rejects the hold ("restore to the spoke"): the link is dropped and the
    // contact created again; dav answers "already exists" and the engine adopted the item as it is,
    // with the user's edit as merge base — so the edit never reached the hub and dav diverged.
    const c: SimCase = {
      profiles: [{ kind: 'dav' }, { kind: 'feed', readOnly: false }],
      data: { truth: [empty], spokes: [noData, { copies: [{ t: 0, p: 0, sameUid: false }], extras: [] }, noData, noData] },
      cmds: [
        { c: 'sync', only: null },
        { c: 'truncate', spoke: 0, keep: 0 },
        { c: 'expire', spoke: 0 },
        { c: 'user', op: { k: 'edit', spoke: 0, item: 0, edit: { op: 'set', path: 'name.given', value: 0 } } },
        { c: 'sync', only: null },
      ],
      finalDecision: 'reject',
    };
    expect((await runSimCase(c)).violations).toEqual([]);
  });

  it("a user's edit of an item whose create response was lost reaches the hub (L1, L4)", async () => {
    // The hub creates the contact on dav; the response is lost (the intent stays uncertain). The
    // user adds an e-mail to the new item. The next run finds the item by its marker and linked it
    // with its current content as merge base, so the pull saw no change: the e-mail never reached
    // the hub, and dav kept differing from it.
    const c: SimCase = {
      profiles: [{ kind: 'dav' }, { kind: 'people' }],
      data: { truth: [empty], spokes: [noData, { copies: [], extras: [empty] }, noData, noData] },
      cmds: [
        { c: 'lose', spoke: 0, count: 1, method: 'create' },
        { c: 'sync', only: null },
        { c: 'user', op: { k: 'edit', spoke: 0, item: 0, edit: { op: 'addEmail', email: 0, variant: 0 } } },
      ],
      finalDecision: 'confirm',
    };
    expect((await runSimCase(c)).violations).toEqual([]);
  });

  it('a contact whose retried update finds the item deleted is created again (L1)', async () => {
    // A crash leaves norm's update of the contact failed; it is retried in the next run, after the
    // user deleted the item (the deletion is not visible to pulls yet: 5 minutes of lag). The update
    // gets not_found: the link is dropped and a new "look again" intent is written — which the same
    // run then deleted with the retried ones (by contact, not by id), so norm never got it back.
    const c: SimCase = {
      profiles: [{ kind: 'norm' }, { kind: 'people' }],
      data: {
        truth: [{ ...empty, phones: [{ i: 0, f: 0 }] }],
        spokes: [
          { copies: [{ t: 15, p: 120, sameUid: true }, { t: 0, p: 0, sameUid: false }], extras: [] },
          { copies: [{ t: 0, p: 0, sameUid: true }], extras: [] },
          noData,
          noData,
        ],
      },
      cmds: [
        { c: 'user', op: { k: 'delete', spoke: 0, item: 3 } },
        { c: 'crash', at: 7, after: false },
        { c: 'lag', spoke: 0, ms: 300_000, laggyFind: false },
        { c: 'bulk', spoke: 0, pct: 20, confirm: false },
      ],
      finalDecision: 'confirm',
    };
    expect((await runSimCase(c)).violations).toEqual([]);
  });

  it('a lagging listing that still shows an item of a deleted contact does not bring the contact back (S5, I3)', async () => {
    // feed's user deletes a contact; the hub deletes it and sends the delete to people, whose pulls
    // lag 5 minutes. people's next full listing still shows the item, now unlinked, carrying the
    // hub's marker: the engine adopted it by marker and restored the deleted contact ("edit wins"
    // although nobody edited it). When the lag passed, the item was missing, and the contact was
    // deleted a second time — now in people's name.
    const c: SimCase = {
      profiles: [{ kind: 'people' }, { kind: 'feed', readOnly: false }],
      data: { truth: [empty], spokes: [noData, { copies: [{ t: 0, p: 0, sameUid: false }, { t: 0, p: 0, sameUid: false }], extras: [] }, noData, noData] },
      cmds: [
        { c: 'sync', only: null },
        { c: 'lag', spoke: 0, ms: 300_000, laggyFind: false },
        { c: 'bulk', spoke: 1, pct: 20, confirm: false },
        { c: 'sync', only: null },
      ],
      finalDecision: 'confirm',
    };
    expect((await runSimCase(c)).violations).toEqual([]);
  });

  it('a short listing does not drop the link of a deleted contact whose item is still there; the item is deleted (L1)', async () => {
    // norm's user deletes a contact; in the same run dav's cursor has expired and its full listing
    // comes back truncated to nothing. The hub took dav's missing item of the now deleted contact
    // for the echo of its own deletion and dropped the link without checking — so it never sent
    // the delete, and dav kept the contact for good.
    const c: SimCase = {
      profiles: [{ kind: 'norm' }, { kind: 'dav' }],
      data: { truth: [empty], spokes: [{ copies: [], extras: [empty] }, { copies: [{ t: 0, p: 0, sameUid: false }], extras: [] }, noData, noData] },
      cmds: [
        { c: 'sync', only: null },
        { c: 'expire', spoke: 1 },
        { c: 'user', op: { k: 'delete', spoke: 0, item: 0 } },
        { c: 'truncate', spoke: 1, keep: 0 },
        { c: 'sync', only: null },
      ],
      finalDecision: 'confirm',
    };
    expect((await runSimCase(c)).violations).toEqual([]);
  });

  it('an item adopted by its marker after a crash gets the hub values it lacks (L1)', async () => {
    // dav's creates are applied but the process dies before recording them; dav's findByMarker
    // lags, so the next run cannot find them, retries, gets "already exists" and gives up. Later a
    // pull shows the items and the hub adopts them by marker — but one of them lacks a name a user
    // set meanwhile on people, and since the contact itself did not change, no push ever sent it.
    const six = Array.from({ length: 6 }, () => ({ t: 0, p: 0, sameUid: false }));
    const c: SimCase = {
      profiles: [{ kind: 'dav' }, { kind: 'norm' }, { kind: 'people' }],
      data: { truth: [empty], spokes: [noData, { copies: [{ t: 0, p: 0, sameUid: false }], extras: [] }, { copies: six, extras: [] }, noData] },
      cmds: [
        { c: 'lag', spoke: 0, ms: 300_000, laggyFind: true },
        { c: 'crash', at: 12, after: true },
        {
          c: 'user',
          op: {
            k: 'concurrent',
            entity: 8,
            edit: { op: 'set', path: 'name.given', value: 0 },
            acts: [
              { spoke: 2, other: false, del: false },
              { spoke: 0, other: false, del: true },
            ],
          },
        },
        { c: 'sync', only: null },
        { c: 'lag', spoke: 0, ms: 0, laggyFind: false },
      ],
      finalDecision: 'confirm',
    };
    expect((await runSimCase(c)).violations).toEqual([]);
  });

  it('a lagging listing that still shows an item the hub itself deleted does not delete the contact again (I3)', async () => {
    // During a sync, a user adds a phone to a contact on norm while another deletes it on dav. dav's
    // delete is applied; people gets the delete; norm's delete conflicts with the user's edit, which
    // wins and restores the contact. people's pulls lag 30 s: its next listing still shows the item
    // the hub deleted, which the hub adopted by its marker; once the deletion showed, the item was
    // "missing" and the contact was deleted again, in people's name, though nobody deleted it there.
    const c: SimCase = {
      profiles: [{ kind: 'norm' }, { kind: 'dav' }, { kind: 'feed', readOnly: false }, { kind: 'people' }],
      data: {
        truth: [empty],
        spokes: [noData, noData, { copies: [{ t: 0, p: 0, sameUid: false }, { t: 0, p: 0, sameUid: false }], extras: [empty, empty] }, noData],
      },
      cmds: [
        { c: 'bulk', spoke: 0, pct: 20, confirm: false },
        { c: 'lag', spoke: 3, ms: 30_000, laggyFind: false },
        {
          c: 'syncEdit',
          at: 3,
          op: {
            k: 'concurrent',
            entity: 0,
            edit: { op: 'addPhone', phone: 0, format: 0 },
            acts: [
              { spoke: 0, other: false, del: false },
              { spoke: 1, other: false, del: true },
            ],
          },
        },
        { c: 'crash', at: 12, after: false },
        { c: 'sync', only: null },
      ],
      finalDecision: 'confirm',
    };
    expect((await runSimCase(c)).violations).toEqual([]);
  });

  it('a delete planned before another spoke\'s push brought the contact back is not sent (S3)', async () => {
    // dav's user deletes three contacts; people's user had edited one of them (people lags 5 min,
    // so the hub has not seen it). With pushes to several spokes at once (PARALLEL_PUSHES > 1),
    // people's delete conflicts with the edit, which wins and restores the contact — while norm's
    // push, planned before, still sent its delete of the now live contact.
    const c: SimCase = {
      profiles: [{ kind: 'people' }, { kind: 'dav' }, { kind: 'norm' }],
      data: {
        truth: [empty, { ...empty, phones: [{ i: 0, f: 0 }] }],
        spokes: [
          { copies: [...Array.from({ length: 5 }, () => ({ t: 0, p: 0, sameUid: false })), { t: 7, p: 0, sameUid: false }], extras: [] },
          noData,
          { copies: Array.from({ length: 3 }, () => ({ t: 0, p: 0, sameUid: false })), extras: [empty, empty, { ...empty, phones: [{ i: 1, f: 0 }, { i: 0, f: 0 }] }] },
          noData,
        ],
      },
      cmds: [
        { c: 'lag', spoke: 0, ms: 300_000, laggyFind: false },
        { c: 'user', op: { k: 'edit', spoke: 0, item: 0, edit: { op: 'addEmail', email: 0, variant: 0 } } },
        { c: 'bulk', spoke: 1, pct: 20, confirm: false },
        { c: 'bulk', spoke: 1, pct: 20, confirm: false },
      ],
      finalDecision: 'confirm',
    };
    expect((await runSimCase(c)).violations).toEqual([]);
  });

  // Found by the simulation (a random draw outside CI) and fixed: recovering the create a crashed
  // run sent adopted the item by its marker after the contact had been deleted elsewhere, and took
  // the normalising server's rewriting of it for a person's edit, which brought the contact back.
  it('a create recovered after a crash does not bring back a contact deleted meanwhile (S5)', async () => {
    const copy = { t: 0, p: 0, sameUid: false };
    const c: SimCase = {
      profiles: [{ kind: 'feed', readOnly: false }, { kind: 'norm' }, { kind: 'dav' }],
      data: {
        truth: [{ ...empty, phones: [{ i: 0, f: 0 }] }],
        spokes: [
          { copies: [copy, copy, copy], extras: [empty, empty] },
          noData,
          { copies: Array.from({ length: 8 }, () => copy), extras: [empty] },
          noData,
        ],
      },
      cmds: [
        { c: 'crash', at: 12, after: false },
        { c: 'user', op: { k: 'bulkDelete', spoke: 0, pct: 10 } },
        { c: 'sync', only: 0 },
        { c: 'bulk', spoke: 0, pct: 20, confirm: false },
      ],
      finalDecision: 'confirm',
    };
    expect((await runSimCase(c)).violations).toEqual([]);
  });

  // Found by the simulation as a gap (design B9) and fixed: a spoke followed by a cursor is listed
  // in full once a day, which finds what a short listing left out of the cursor's reach.
  it('an item left out of the first, truncated, listing of an incremental spoke is imported eventually (P7)', async () => {
    // The listing claims to be complete and comes with a cursor that covers the item it left out;
    // nothing is linked yet, so no verification can tell the listing was short, and the following
    // change lists never mention the item again until someone edits it. The periodic full listing
    // (quiescence moves the clock past it) does.
    const c: SimCase = {
      profiles: [{ kind: 'dav' }, { kind: 'feed', readOnly: false }],
      data: { truth: [empty], spokes: [noData, { copies: [{ t: 0, p: 0, sameUid: false }], extras: [] }, noData, noData] },
      cmds: [{ c: 'truncate', spoke: 1, keep: 0 }, { c: 'sync', only: null }],
      finalDecision: 'confirm',
    };
    expect((await runSimCase(c)).violations).toEqual([]);
  });

  // Found by the simulation as a gap and fixed: the hub remembers what it deleted from a spoke whose
  // listings lag (`spoke_deletes`, design B5) and reads such an item back before taking it as new.
  it('a listing that lags behind the hub\'s own delete does not bring the deleted item back as a new contact (I3)', async () => {
    // norm's user deletes a contact; the hub deletes its copy on people, whose listings lag 30 s.
    // people's next listing still shows the item. Unlinked, it used to be imported as a new contact
    // and created on every spoke — then, once the listing caught up, deleted again in people's name.
    const two = [{ t: 0, p: 0, sameUid: false }, { t: 0, p: 0, sameUid: false }];
    const c: SimCase = {
      profiles: [{ kind: 'norm' }, { kind: 'dav' }, { kind: 'feed', readOnly: false }, { kind: 'people' }],
      data: { truth: [empty], spokes: [noData, noData, { copies: two, extras: [empty, empty] }, { copies: two, extras: [] }] },
      cmds: [
        { c: 'sync', only: null },
        { c: 'lag', spoke: 3, ms: 30_000, laggyFind: false },
        {
          c: 'syncEdit',
          at: 1,
          op: { k: 'concurrent', entity: 10, edit: { op: 'addPhone', phone: 0, format: 0 }, acts: [{ spoke: 0, other: false, del: true }] },
        },
        { c: 'sync', only: null },
      ],
      finalDecision: 'confirm',
    };
    expect((await runSimCase(c)).violations).toEqual([]);
  });
});

function seedFrom(v: string | undefined): number | undefined {
  if (v === 'random') return undefined;
  if (v !== undefined) return Number(v);
  return process.env.CI ? 20261126 : undefined;
}
