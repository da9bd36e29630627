/**
 * The engine end to end on both store dialects, with in-memory spokes: the behaviours a user
 * relies on, each in a small scenario (the randomized simulation lives in simulation.test.ts).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryBackend, MemoryRegistry, memoryConnectorFactory, ManualClock } from '../../src/connectors/memory/memory-connector.js';
import type { ConnectorFactory, RemoteItem } from '../../src/connectors/kit/contract.js';
import { uuidv7Generator } from '../../src/engine/ids.js';
import { defaultSpokeOptions, type SpokeOptions } from '../../src/engine/plan/options.js';
import { fullListingDue } from '../../src/engine/run/context.js';
import { confirmHeld, resolveConflict } from '../../src/engine/run/decisions.js';
import { syncHub, type EngineDeps } from '../../src/engine/run/sync-hub.js';
import { addSpoke, createHub } from '../../src/store/hubs.js';
import { LeaseHeldError } from '../../src/store/lease.js';
import type { Store } from '../../src/store/open.js';
import { emailsOf, makeCard, nameComponent, phonesOf } from '../support/cards.js';
import { useStores } from '../support/stores.js';

const stores = useStores();

describe.each(stores)('sync engine on $dialect', (ts) => {
  let store: Store & { dispose(): Promise<void> };
  let clock: ManualClock;
  let registry: MemoryRegistry;
  let deps: EngineDeps;

  beforeEach(async () => {
    store = await ts.open();
    clock = new ManualClock();
    registry = new MemoryRegistry();
    deps = {
      db: store.db,
      factories: new Map<string, ConnectorFactory>([['memory', memoryConnectorFactory(registry) as ConnectorFactory]]),
      now: clock.now,
      ids: uuidv7Generator(clock.now),
      holder: 'test',
    };
    await createHub(store.db, { id: deps.ids(), name: 'H', object: 'contacts', now: clock.now() });
  });
  afterEach(async () => {
    await store.dispose();
  });

  async function spoke(name: string, backend: MemoryBackend, options: Partial<SpokeOptions> = { allowCreate: true }): Promise<MemoryBackend> {
    registry.add(name, backend);
    const hub = await store.db.selectFrom('hubs').select('id').where('name', '=', 'H').executeTakeFirstOrThrow();
    await addSpoke(store.db, { id: deps.ids(), hubId: hub.id, name, type: 'memory', config: { backend: name }, options: { ...defaultSpokeOptions(), ...options }, now: clock.now() });
    return backend;
  }
  const sync = async (opts: { dryRun?: boolean; spokes?: string[] } = {}) => {
    clock.advance(1000);
    return syncHub(deps, { hub: 'H', ...opts });
  };
  const cards = (b: MemoryBackend) => b.list().map((i) => i.card).filter((c) => c !== null);
  const writes = (b: MemoryBackend) => {
    const n = b.callCounts();
    return n.create + n.update + n.delete;
  };

  it('matches the same person across spokes by e-mail and merges their fields', async () => {
    const a = await spoke('a', new MemoryBackend({ now: clock.now }));
    const b = await spoke('b', new MemoryBackend({ now: clock.now, clientIds: true }));
    a.userCreate(makeCard({ given: 'Ann', surname: 'Lee', emails: ['ann@x.example'], phones: ['+33 6 12 34 56 78'] }));
    b.userCreate(makeCard({ given: 'Ann', surname: 'Lee', emails: ['ANN@x.example'], org: 'Acme' }));
    b.userCreate(makeCard({ given: 'Bob', surname: 'Ray', emails: ['bob@x.example'] }));
    const r = await sync();
    expect(r.status).toBe('ok');
    expect(cards(a)).toHaveLength(2);
    expect(cards(b)).toHaveLength(2);
    const annInA = cards(a).find((c) => nameComponent(c, 'given') === 'Ann');
    expect(annInA?.organizations && Object.values(annInA.organizations)[0]?.name).toBe('Acme');
    const annInB = cards(b).find((c) => nameComponent(c, 'given') === 'Ann');
    expect(phonesOf(annInB ?? makeCard()).map((p) => p.replace(/\D/g, ''))).toEqual(['33612345678']);

    a.resetCallCounts();
    b.resetCallCounts();
    const again = await sync();
    expect(again.totals).toMatchObject({ hub: { created: 0, updated: 0, deleted: 0 }, spokes: { created: 0, updated: 0, deleted: 0 } });
    expect(writes(a) + writes(b)).toBe(0);
  });

  it('keeps both edits of different fields, and logs the loser of a same-field conflict', async () => {
    const a = await spoke('a', new MemoryBackend({ now: clock.now }));
    const b = await spoke('b', new MemoryBackend({ now: clock.now }));
    const id = a.userCreate(makeCard({ given: 'Ann', surname: 'Lee', emails: ['ann@x.example'] }));
    await sync();
    const bId = (b.list()[0] as { id: string }).id;
    clock.advance(10);
    a.userUpdate(id, (c) => ({ ...c, notes: { n: { note: 'from A' } } }));
    clock.advance(10);
    b.userUpdate(bId, (c) => ({ ...c, organizations: { o: { name: 'Acme' } }, notes: { n: { note: 'from B (later)' } } }));
    const r = await sync();
    expect(r.totals.conflicts).toBe(1);
    for (const backend of [a, b]) {
      const c = cards(backend)[0];
      expect(c?.organizations && Object.values(c.organizations)[0]?.name).toBe('Acme');
      expect(c?.notes && Object.values(c.notes)[0]?.note).toBe('from B (later)');
    }
    const conflicts = await store.db.selectFrom('conflicts').selectAll().execute();
    expect(conflicts.map((c) => [c.path, JSON.parse(c.kept), JSON.parse(c.lost)])).toEqual([['note', 'from B (later)', 'from A']]);
    // A person picks the losing value after all: it reaches every spoke.
    await resolveConflict(deps, 'H', (conflicts[0] as { id: string }).id, 'lost');
    await sync();
    for (const backend of [a, b]) expect(Object.values(cards(backend)[0]?.notes ?? {})[0]?.note).toBe('from A');
  });

  it('compares and pushes contacts stored before their fields and fields hash were kept (an upgraded store)', async () => {
    const a = await spoke('a', new MemoryBackend({ now: clock.now }));
    const b = await spoke('b', new MemoryBackend({ now: clock.now }));
    const id = a.userCreate(makeCard({ given: 'Ann', surname: 'Lee', emails: ['ann@x.example'] }));
    await sync();
    const stored = await store.db.selectFrom('entities').select(['uid', 'fields_hash']).executeTakeFirstOrThrow();
    expect(stored.uid).toBe(cards(b)[0]?.uid);
    expect(stored.fields_hash).toMatch(/\S/);
    // As migrations 0008 and 0009 leave the rows written before them (0009 copies their UID).
    await store.db.updateTable('entities').set({ fields: null, fields_hash: null }).execute();
    a.resetCallCounts();
    b.resetCallCounts();
    const again = await sync();
    expect(again.totals.spokes).toEqual({ created: 0, updated: 0, deleted: 0 });
    expect(writes(a) + writes(b)).toBe(0);

    a.userUpdate(id, (c) => ({ ...c, notes: { n: { note: 'from A' } } }));
    await sync();
    expect(Object.values(cards(b)[0]?.notes ?? {})[0]?.note).toBe('from A');
    expect(cards(b)[0]?.uid).toBe(stored.uid);
    const after = await store.db.selectFrom('entities').select(['uid', 'fields_hash']).executeTakeFirstOrThrow();
    expect(after.uid).toBe(stored.uid);
    expect(after.fields_hash).not.toBe(stored.fields_hash);
  });

  it('tells the store when a run writes in bulk, and again when it ends; a small run does not', async () => {
    const hints: boolean[] = [];
    deps = { ...deps, bulkWrites: (on) => hints.push(on) };
    const a = await spoke('a', new MemoryBackend({ now: clock.now }));
    await spoke('b', new MemoryBackend({ now: clock.now }));
    for (let i = 0; i < 250; i++) a.userCreate(makeCard({ given: `P${i}`, emails: [`p${i}@x.example`] }));
    await sync();
    expect(hints).toEqual([true, false]);
    hints.length = 0;
    a.userCreate(makeCard({ given: 'One', emails: ['one@x.example'] }));
    await sync();
    expect(hints).toEqual([]);
  });

  it('an edit beats a concurrent deletion', async () => {
    const a = await spoke('a', new MemoryBackend({ now: clock.now }));
    const b = await spoke('b', new MemoryBackend({ now: clock.now }));
    const id = a.userCreate(makeCard({ given: 'Ann', emails: ['ann@x.example'] }));
    a.userCreate(makeCard({ given: 'Bob', emails: ['bob@x.example'] }));
    await sync();
    a.userUpdate(id, (c) => ({ ...c, emails: { ...c.emails, e9: { address: 'new@x.example' } } }));
    const annInB = b.list().find((i) => i.card && emailsOf(i.card).includes('ann@x.example'));
    b.userDelete((annInB as { id: string }).id);
    const r = await sync();
    expect(r.totals.hub.deleted).toBe(0);
    await sync();
    const ann = (backend: MemoryBackend) => cards(backend).filter((c) => nameComponent(c, 'given') === 'Ann').map((c) => emailsOf(c).sort());
    expect(ann(a)).toEqual([['ann@x.example', 'new@x.example']]);
    expect(ann(b)).toEqual([['ann@x.example', 'new@x.example']]);
    const conflicts = await store.db.selectFrom('conflicts').selectAll().execute();
    expect(conflicts.map((c) => [c.path, JSON.parse(c.kept), JSON.parse(c.lost)])).toEqual([['*', 'edited', 'deleted']]);
  });

  it('a spoke that suddenly lists nothing deletes nothing', async () => {
    const a = await spoke('a', new MemoryBackend({ now: clock.now }));
    const b = await spoke('b', new MemoryBackend({ now: clock.now }));
    for (let i = 0; i < 5; i++) a.userCreate(makeCard({ given: `P${i}`, emails: [`p${i}@x.example`] }));
    await sync();
    for (const item of b.list()) b.userDelete(item.id);
    const r = await sync();
    expect(r.totals.held).toBe(5);
    expect(cards(a)).toHaveLength(5);
    const held = await store.db.selectFrom('held_deletes').selectAll().execute();
    expect(held.every((h) => h.reason === 'spoke-empty')).toBe(true);
    await confirmHeld(deps, 'H', 'all');
    await sync();
    expect(cards(a)).toHaveLength(0);
  });

  it("a held deletion of a contact that is live again is void: confirming it cannot let a later deletion past the gate", async () => {
    const a = await spoke('a', new MemoryBackend({ now: clock.now }));
    await spoke('b', new MemoryBackend({ now: clock.now }));
    a.userCreate(makeCard({ given: 'Ann', emails: ['ann@x.example'] }));
    await sync();
    const ann = await store.db.selectFrom('entities').select('id').executeTakeFirstOrThrow();
    const spokeB = await store.db.selectFrom('spokes').select(['id', 'hub_id']).where('name', '=', 'b').executeTakeFirstOrThrow();
    // A hold left over for a contact that is not deleted (a store from before holds were voided).
    await store.db
      .insertInto('held_deletes')
      .values({ id: deps.ids(), hub_id: spokeB.hub_id, spoke_id: spokeB.id, entity_id: ann.id, remote_id: 'x', direction: 'outbound', reason: 'mass-delete', run_id: 'r', created_at: clock.now(), status: 'confirmed', decided_at: clock.now() })
      .execute();
    await sync();
    expect((await store.db.selectFrom('held_deletes').select('status').executeTakeFirstOrThrow()).status).toBe('cancelled');
  });

  describe.each([
    { listing: 'a change feed (the old id reported deleted)', incremental: true },
    { listing: 'full listings (the old id missing)', incremental: false },
  ])('an item renamed or moved on a spoke with $listing', ({ incremental }) => {
    it('is the same contact: its link follows it, nothing is deleted or created anywhere, and an edit made with the move goes through', async () => {
      const a = await spoke('a', new MemoryBackend({ now: clock.now, incremental }));
      const b = await spoke('b', new MemoryBackend({ now: clock.now }));
      for (let i = 0; i < 4; i++) a.userCreate(makeCard({ given: `P${i}`, surname: 'Lee', emails: [`p${i}@x.example`] }));
      b.userCreate(makeCard({ given: 'Bo', surname: 'Kim', emails: ['bo@x.example'] }));
      await sync();
      const [own, stamped] = [a.list().find((i) => i.marker === null), a.list().find((i) => i.marker !== null)];
      const movedOwn = a.userMove(own?.id as string);
      const movedStamped = a.userMove(stamped?.id as string);
      a.userUpdate(movedOwn, (card) => ({ ...card, titles: { t1: { name: 'Moved and edited', kind: 'title' } } }));
      const r = await sync();
      expect(r.spokes.find((x) => x.name === 'a')?.inbound).toMatchObject({ created: 0, deleted: 0, updated: 1, moved: 2, held: 0 });
      expect(r.totals.spokes).toEqual({ created: 0, updated: 1, deleted: 0 });
      expect(cards(a)).toHaveLength(5);
      expect(cards(b)).toHaveLength(5);
      expect(cards(b).filter((c) => Object.values(c.titles ?? {}).some((t) => t.name === 'Moved and edited'))).toHaveLength(1);
      const links = await store.db.selectFrom('links').select('remote_id').where('remote_id', 'in', [movedOwn, movedStamped]).execute();
      expect(links).toHaveLength(2);
      const again = await sync();
      expect(again.totals).toMatchObject({ hub: { created: 0, updated: 0, deleted: 0 }, spokes: { created: 0, updated: 0, deleted: 0 } });
    });

    it('a copy beside an item that is still there is not a move: it stays a contact of its own, nothing is deleted', async () => {
      const a = await spoke('a', new MemoryBackend({ now: clock.now, incremental }));
      const b = await spoke('b', new MemoryBackend({ now: clock.now }));
      a.userCreate(makeCard({ given: 'Ann', surname: 'Lee', emails: ['ann@x.example'] }));
      await sync();
      a.userCreate(makeCard({ given: 'Ann', surname: 'Lee', emails: ['ann@x.example'] }));
      const r = await sync();
      expect(r.totals.hub).toEqual({ created: 1, updated: 0, deleted: 0 });
      expect(cards(a)).toHaveLength(2);
      expect(cards(b)).toHaveLength(2);
    });
  });

  it('never deletes what a truncated listing merely failed to show', async () => {
    const a = await spoke('a', new MemoryBackend({ now: clock.now, incremental: false }));
    const b = await spoke('b', new MemoryBackend({ now: clock.now }));
    for (let i = 0; i < 6; i++) a.userCreate(makeCard({ given: `P${i}`, emails: [`p${i}@x.example`] }));
    await sync();
    a.truncateNextListing(4);
    const r = await sync();
    expect(r.totals.hub.deleted).toBe(0);
    expect(cards(b)).toHaveLength(6);
  });

  it('lists a spoke followed by a cursor in full once a day, which finds what a short listing left out', async () => {
    const a = await spoke('a', new MemoryBackend({ now: clock.now }));
    const b = await spoke('b', new MemoryBackend({ now: clock.now }));
    for (let i = 0; i < 3; i++) a.userCreate(makeCard({ given: `P${i}`, emails: [`p${i}@x.example`] }));
    a.truncateNextListing(2);
    const full = (r: Awaited<ReturnType<typeof sync>>) => r.spokes.find((s) => s.name === 'a')?.pulled.fullListing;
    expect(full(await sync())).toBe(true);
    expect(cards(b)).toHaveLength(2);
    // The cursor of that listing covers the third item: change lists never mention it.
    expect(full(await sync())).toBe(false);
    expect(cards(b)).toHaveLength(2);
    clock.advance(24 * 3_600_000);
    expect(full(await sync())).toBe(true);
    expect(cards(b)).toHaveLength(3);
    expect(full(await sync())).toBe(false);
    expect(cards(a)).toHaveLength(3);
  });

  it('a lost create response makes no duplicate (server ids, recovery by marker)', async () => {
    const a = await spoke('a', new MemoryBackend({ now: clock.now }));
    const b = await spoke('b', new MemoryBackend({ now: clock.now }));
    a.userCreate(makeCard({ given: 'Ann', emails: ['ann@x.example'] }));
    b.loseNextResponse({ methods: ['create'] });
    const first = await sync();
    expect(first.spokes.find((s) => s.name === 'b')?.outbound.failed).toBe(1);
    expect(cards(b)).toHaveLength(1);
    await sync();
    await sync();
    expect(cards(b)).toHaveLength(1);
    expect(cards(a)).toHaveLength(1);
    const intents = await store.db.selectFrom('intents').selectAll().execute();
    expect(intents).toEqual([]);
  });

  it('a dry run changes nothing in the hub or any spoke', async () => {
    const a = await spoke('a', new MemoryBackend({ now: clock.now }));
    const b = await spoke('b', new MemoryBackend({ now: clock.now }));
    a.userCreate(makeCard({ given: 'Ann', emails: ['ann@x.example'] }));
    const before = [a.snapshot(), b.snapshot()];
    const r = await sync({ dryRun: true });
    expect(r.kind).toBe('dry-run');
    expect(r.spokes.find((s) => s.name === 'b')?.planned).toEqual([expect.objectContaining({ op: 'create' })]);
    expect([a.snapshot(), b.snapshot()]).toEqual(before);
    expect(await store.db.selectFrom('entities').selectAll().execute()).toEqual([]);
    expect(await store.db.selectFrom('leases').selectAll().execute()).toEqual([]);
  });

  it('never writes to a feed-only spoke, and never to a read-only one', async () => {
    const a = await spoke('a', new MemoryBackend({ now: clock.now }), { allowCreate: false });
    const ro = await spoke('ro', new MemoryBackend({ now: clock.now, readOnly: true }), { allowCreate: true });
    const b = await spoke('b', new MemoryBackend({ now: clock.now }));
    a.userCreate(makeCard({ given: 'Ann', emails: ['ann@x.example'] }));
    ro.userCreate(makeCard({ given: 'Dir', emails: ['dir@x.example'] }));
    b.userCreate(makeCard({ given: 'Bob', emails: ['bob@x.example'] }));
    await sync();
    expect(cards(b)).toHaveLength(3);
    expect(writes(a) + writes(ro)).toBe(0);
  });

  it('leaves no request behind for a feed-only spoke whose deletion lost to an edit', async () => {
    const b = await spoke('b', new MemoryBackend({ now: clock.now }));
    const a = await spoke('a', new MemoryBackend({ now: clock.now }), { allowCreate: false });
    const id = a.userCreate(makeCard({ given: 'Ann', emails: ['ann@x.example'] }));
    for (const n of ['Bob', 'Cy', 'Di']) a.userCreate(makeCard({ given: n, emails: [`${n.toLowerCase()}@x.example`] }));
    await sync();
    const inB = b.list().find((i) => i.card && nameComponent(i.card, 'given') === 'Ann')?.id as string;
    b.userUpdate(inB, (c) => ({ ...c, notes: { n1: { '@type': 'Note', note: 'call back' } } }));
    await sync({ spokes: ['b'] });
    a.userDelete(id);
    const r = await sync();
    // The edit wins: the contact stays in the hub and in b; a, which the hub may not write to, is
    // not given the contact again, and nothing waits for a push that will never happen.
    expect(r.totals).toMatchObject({ hub: { deleted: 0 }, conflicts: 1 });
    expect(cards(b)).toHaveLength(4);
    expect(writes(a)).toBe(0);
    const pending = await store.db.selectFrom('intents').select('id').execute();
    expect(pending).toEqual([]);
  });

  it("keeps a spoke's own text of each item and hands it back to the next update of it (`raw`, `previous`)", async () => {
    // A memory spoke dressed as one whose connector gives its stored text (as CardDAV does): the
    // text is "raw@<etag>", so the test sees which version of it an update was given.
    const previous: (string | undefined)[] = [];
    const plain = memoryConnectorFactory(registry) as ConnectorFactory;
    const dressed: ConnectorFactory = {
      ...plain,
      type: 'memory-raw',
      create: (config, env) => {
        const c = plain.create(config, env);
        const tag = (i: RemoteItem): RemoteItem => ({ ...i, raw: `raw@${i.etag}` });
        return {
          capabilities: c.capabilities,
          identity: () => c.identity(),
          async *pull(req) {
            for await (const p of c.pull(req)) yield { ...p, items: p.items.map(tag) };
          },
          get: async (id) => {
            const i = await c.get(id);
            return i && tag(i);
          },
          findByMarker: async (m) => (await c.findByMarker(m)).map(tag),
          create: async (card, o) => {
            const r = await c.create(card, o);
            return { ...r, raw: `raw@${r.etag}` };
          },
          update: async (id, card, o) => {
            previous.push(o.previous);
            const r = await c.update(id, card, o);
            return { ...r, raw: `raw@${r.etag}` };
          },
          delete: (id, o) => c.delete(id, o),
        };
      },
    };
    deps = { ...deps, factories: new Map([...deps.factories, ['memory-raw', dressed]]) };
    const a = await spoke('a', new MemoryBackend({ now: clock.now }));
    const b = new MemoryBackend({ now: clock.now });
    registry.add('b', b);
    const hub = await store.db.selectFrom('hubs').select('id').where('name', '=', 'H').executeTakeFirstOrThrow();
    await addSpoke(store.db, { id: deps.ids(), hubId: hub.id, name: 'b', type: 'memory-raw', config: { backend: 'b' }, options: { ...defaultSpokeOptions(), allowCreate: true }, now: clock.now() });

    const ann = a.userCreate(makeCard({ given: 'Ann', emails: ['ann@x.example'] }));
    await sync();
    const inB = b.list()[0];
    a.userUpdate(ann, (c) => ({ ...c, notes: { n1: { '@type': 'Note', note: 'first' } } }));
    await sync();
    // The text the create left, at the etag the update's If-Match names.
    expect(previous).toEqual([`raw@${inB?.etag}`]);

    b.userUpdate(inB?.id as string, (c) => ({ ...c, titles: { t1: { '@type': 'Title', name: 'Chef' } } }));
    await sync();
    const afterEdit = b.list()[0]?.etag;
    a.userUpdate(ann, (c) => ({ ...c, notes: { n1: { '@type': 'Note', note: 'second' } } }));
    await sync();
    // The text the pull read after the person's edit on b.
    expect(previous.at(-1)).toBe(`raw@${afterEdit}`);
    expect(cards(b)[0]?.titles && Object.values(cards(b)[0]?.titles ?? {})[0]?.name).toBe('Chef');
  });

  it("a create refused as already done adopts the item and keeps the person's edit made on it meanwhile", async () => {
    const a = await spoke('a', new MemoryBackend({ now: clock.now }));
    // Client-chosen ids (a repeated create is refused), and writes that show late everywhere.
    const b = await spoke('b', new MemoryBackend({ now: clock.now, clientIds: true, visibilityLagMs: 3_600_000, immediateFindByMarker: false }));
    const ann = a.userCreate(makeCard({ given: 'Ann', emails: ['ann@x.example'] }));
    b.loseNextResponse({ methods: ['create'] });
    await sync(); // Ann is created in b, but the answer is lost
    const inB = b.list()[0]?.id as string;
    b.userUpdate(inB, (c) => ({ ...c, titles: { t1: { '@type': 'Title', name: 'Chef' } } }));
    // The next run cannot find it by its marker yet, so it sends the create again; by then the
    // item shows, the create is refused as already done, and the item is found by its marker.
    b.onConnectorWrite(() => b.setVisibilityLag(3_600_000, { immediateFindByMarker: true }));
    await sync();
    b.onConnectorWrite(null);
    clock.advance(7_200_000);
    await sync();
    await sync();
    const title = (c: ReturnType<typeof cards>[number] | undefined) => Object.values(c?.titles ?? {})[0]?.name;
    expect(cards(b)).toHaveLength(1);
    expect(title(cards(b)[0])).toBe('Chef');
    expect(title(a.list().find((i) => i.id === ann)?.card ?? undefined)).toBe('Chef');
  });

  it('lets one process at a time sync a hub', async () => {
    await spoke('a', new MemoryBackend({ now: clock.now }));
    const other = { ...deps, holder: 'other' };
    const { acquireLease } = await import('../../src/store/lease.js');
    const hub = await store.db.selectFrom('hubs').select('id').executeTakeFirstOrThrow();
    await acquireLease(store.db, { hubId: hub.id, hubName: 'H', holder: 'other', now: clock.now() });
    await expect(syncHub(deps, { hub: 'H' })).rejects.toBeInstanceOf(LeaseHeldError);
    await expect(syncHub(other, { hub: 'H' })).resolves.toMatchObject({ status: 'ok' });
  });

  it('refuses a second spoke on the same address book: the one added later fails, the first goes on', async () => {
    const a = await spoke('a', new MemoryBackend({ now: clock.now, accountId: 'shared' }));
    clock.advance(1000);
    await spoke('a-again', a);
    a.userCreate(makeCard({ given: 'Ann', emails: ['ann@x.example'] }));
    const r = await sync();
    expect(r.spokes.find((s) => s.name === 'a')).toMatchObject({ status: 'ok' });
    expect(r.spokes.find((s) => s.name === 'a-again')).toMatchObject({
      status: 'error',
      error: 'it is the same address book as spoke "a" (memory:shared); nothing was synced. Remove one of the two.',
    });
    await sync();
    expect(cards(a)).toHaveLength(1);
  });

  it('a failing spoke fails alone', async () => {
    const a = await spoke('a', new MemoryBackend({ now: clock.now }));
    const b = await spoke('b', new MemoryBackend({ now: clock.now }));
    a.userCreate(makeCard({ given: 'Ann', emails: ['ann@x.example'] }));
    b.failNext(100, 'transient', { methods: ['pull'] });
    const r = await sync();
    expect(r.status).toBe('partial');
    expect(r.spokes.find((s) => s.name === 'b')).toMatchObject({ status: 'error' });
    expect(r.spokes.find((s) => s.name === 'a')).toMatchObject({ status: 'ok' });
    b.clearFaults();
    await sync();
    expect(cards(b)).toHaveLength(1);
  });

  it("lists a spoke followed by a cursor in full as often as its fullListingHours option says", async () => {
    const HOUR = 3_600_000;
    await spoke('often', new MemoryBackend({ now: clock.now }), { allowCreate: true, fullListingHours: 2 });
    await spoke('daily', new MemoryBackend({ now: clock.now }));
    const listedAt = async () =>
      Object.fromEntries((await store.db.selectFrom('spokes').select(['name', 'listed_at']).execute()).map((r) => [r.name, Number(r.listed_at)]));
    await sync(); // a first sync lists everything
    await sync(); // then the cursor is followed
    const before = await listedAt();
    clock.advance(2 * HOUR);
    await sync();
    const after = await listedAt();
    expect(after.often).toBeGreaterThan(before.often ?? 0);
    expect(after.daily).toBe(before.daily);
    clock.advance(22 * HOUR);
    await sync();
    expect((await listedAt()).daily).toBeGreaterThan(before.daily ?? 0);
  });
});

describe('the daily full listing of a spoke followed by a cursor', () => {
  const DAY = 24 * 3_600_000;
  const ids = Array.from({ length: 50 }, (_, i) => `0193a0b2-7c4e-7d1f-8a2b-${i.toString(16).padStart(12, '0')}`);

  it('comes between 90 % and 100 % of the interval after the last one, at a moment fixed per spoke', () => {
    const at = (id: string) => {
      for (let pct = 0; pct <= 100; pct++) if (fullListingDue({ id, cursor: 'c', listedAt: 0 }, (DAY * pct) / 100, DAY)) return pct;
      return Infinity;
    };
    const moments = ids.map(at);
    for (const m of moments) {
      expect(m).toBeGreaterThanOrEqual(90);
      expect(m).toBeLessThanOrEqual(100);
    }
    // Spokes added together spread over the window instead of being listed by one run.
    expect(new Set(moments).size).toBeGreaterThan(5);
    expect(ids.map(at)).toEqual(moments);
  });

  it('never for a spoke without a cursor (every listing is full) or whose last full listing is not known', () => {
    expect(fullListingDue({ id: 'a', cursor: null, listedAt: 0 }, 10 * DAY, DAY)).toBe(false);
    expect(fullListingDue({ id: 'a', cursor: 'c', listedAt: null }, 10 * DAY, DAY)).toBe(false);
  });
});
