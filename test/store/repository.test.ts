import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HubClock } from '../../src/engine/hlc.js';
import { uuidv7Generator } from '../../src/engine/ids.js';
import { defaultSpokeOptions } from '../../src/engine/plan/options.js';
import { stateFromFields } from '../../src/engine/plan/hub-state.js';
import type { RunContext } from '../../src/engine/run/context.js';
import { keyOwnerCounts, loadEntity, saveEntities } from '../../src/engine/run/entities.js';
import {
  forgetSpokeDeletes,
  loadLinksByEntity,
  loadLinksByRemote,
  lookupEtags,
  recordSpokeDeletes,
  spokeDeletedAmong,
  unlistedRemoteIds,
  upsertLink,
} from '../../src/engine/run/links.js';
import { ListedIds } from '../../src/engine/run/listed-ids.js';
import { PlanGuard } from '../../src/engine/run/plan-guard.js';
import { addSpoke, createHub, getHub, getSpoke, listHubs, removeSpoke, setSpokeOptions } from '../../src/store/hubs.js';
import { insertRows, upsertClause } from '../../src/store/insert-rows.js';
import { acquireLease, LeaseHeldError, releaseLease } from '../../src/store/lease.js';
import { migrateToLatest } from '../../src/store/migrations.js';
import { SQLITE_CACHE_KIB, type Store } from '../../src/store/open.js';
import { sql, type Kysely } from 'kysely';
import { useStores } from '../support/stores.js';

const stores = useStores();

describe.each(stores)('hub store on $dialect', (ts) => {
  let store: Store & { dispose(): Promise<void> };
  const ids = uuidv7Generator();
  beforeEach(async () => {
    store = await ts.open();
  });
  afterEach(async () => {
    await store.dispose();
  });

  it('sizes SQLite\'s page cache for bulk writes only while a run asks for it', async () => {
    const cacheSize = async () => Number(((await sql<{ cache_size: number }>`pragma cache_size`.execute(store.db)).rows[0] as { cache_size: number }).cache_size);
    store.bulkWrites(true);
    if (store.dialect === 'sqlite') expect(await cacheSize()).toBe(SQLITE_CACHE_KIB.bulk);
    store.bulkWrites(false);
    if (store.dialect === 'sqlite') expect(await cacheSize()).toBe(SQLITE_CACHE_KIB.normal);
  });

  it('migrates idempotently', async () => {
    await migrateToLatest(store.db as unknown as Kysely<unknown>);
    expect(await listHubs(store.db)).toEqual([]);
  });

  it('still runs a migration the store has not recorded (an older store) on the next open', async () => {
    const db = store.db as unknown as Kysely<unknown>;
    // As a store made before 0005: no links.raw, no spoke_deletes, no spokes.listed_at, no
    // entities.uid or fields_hash, the card stored instead of the fields, no record of them.
    await db.schema.dropTable('spoke_deletes').execute();
    await db.schema.alterTable('links').dropColumn('raw').execute();
    await db.schema.alterTable('spokes').dropColumn('listed_at').execute();
    await db.schema.alterTable('entities').dropColumn('uid').execute();
    await db.schema.alterTable('entities').dropColumn('fields_hash').execute();
    await db.schema.alterTable('entities').dropColumn('fields').execute();
    await db.schema.alterTable('entities').addColumn('card', 'text', (c) => c.notNull().defaultTo('{}')).execute();
    await sql`delete from kysely_migration where name in ('0005-link-raw', '0006-spoke-deletes', '0007-spoke-listed-at', '0008-entity-heads', '0009-entity-fields')`.execute(db);
    const h = await createHub(store.db, { id: ids(), name: 'Old', object: 'contacts', now: 1 });
    const state = JSON.stringify(stateFromFields({ s: { 'name.given': 'Ann' }, m: {} }, { at: 1, o: 's', hv: 1 }));
    for (const [id, card] of [
      ['e-old', JSON.stringify({ '@type': 'Card', version: '1.0', uid: 'urn:uuid:ann-from-2025' })],
      ['e-bad', 'not json'],
    ] as const) {
      await sql`insert into entities (id, hub_id, state, card, deleted, tombstone, version, created_at, updated_at) values (${id}, ${h.id}, ${state}, ${card}, 0, null, 1, 1, 1)`.execute(db);
    }
    await migrateToLatest(db);
    const names = (await sql<{ name: string }>`select name from kysely_migration order by name`.execute(db)).rows.map((r) => r.name);
    expect(names.slice(-5)).toEqual(['0005-link-raw', '0006-spoke-deletes', '0007-spoke-listed-at', '0008-entity-heads', '0009-entity-fields']);
    await sql`select raw from links`.execute(db);
    await sql`select remote_id from spoke_deletes`.execute(db);
    await sql`select listed_at from spokes`.execute(db);
    await sql`select uid, fields_hash, fields from entities`.execute(db);
    // The UIDs the old rows kept in their cards survive the card column.
    const old = await loadEntity(store.db, h.id, 'e-old');
    expect(old?.uid).toBe('urn:uuid:ann-from-2025');
    expect(old?.card.uid).toBe('urn:uuid:ann-from-2025');
    expect(old?.fields.s['name.given']).toBe('Ann');
    expect((await loadEntity(store.db, h.id, 'e-bad'))?.uid).toBe('urn:uuid:e-bad');
  });

  it('creates hubs with unique names and finds them by name or id', async () => {
    const h = await createHub(store.db, { id: ids(), name: 'Family', object: 'contacts', now: 1 });
    await expect(createHub(store.db, { id: ids(), name: 'Family', object: 'contacts', now: 2 })).rejects.toThrow(/already exists/);
    expect((await getHub(store.db, 'Family')).id).toBe(h.id);
    expect((await getHub(store.db, h.id)).name).toBe('Family');
    await expect(getHub(store.db, 'Nope')).rejects.toThrow(/No hub named "Nope"/);
  });

  it('keeps spoke options and re-plans a spoke whose options widen', async () => {
    const h = await createHub(store.db, { id: ids(), name: 'H', object: 'contacts', now: 1 });
    const s = await addSpoke(store.db, { id: ids(), hubId: h.id, name: 'work', type: 'vdir', config: { path: '/x' }, options: defaultSpokeOptions(), now: 1 });
    expect(s.options.allowCreate).toBe(false);
    await store.db.updateTable('spokes').set({ pushed_clock: 500 }).where('id', '=', s.id).execute();
    const before = await getSpoke(store.db, h.id, 'work');
    const after = await setSpokeOptions(store.db, before, { ...before.options, allowCreate: true, conditions: ['company = Acme'] });
    expect(after.pushedClock).toBe(0);
    const reread = await getSpoke(store.db, h.id, 'work');
    expect(reread.options).toMatchObject({ allowCreate: true, conditions: ['company = Acme'] });
    await expect(addSpoke(store.db, { id: ids(), hubId: h.id, name: 'work', type: 'vdir', config: {}, options: defaultSpokeOptions(), now: 1 })).rejects.toThrow(/already has a spoke/);
  });

  it('gives a hub lease to one holder at a time, and to another once expired or released', async () => {
    const h = await createHub(store.db, { id: ids(), name: 'H', object: 'contacts', now: 1 });
    await acquireLease(store.db, { hubId: h.id, hubName: 'H', holder: 'a', now: 1000, ttlMs: 100 });
    await expect(acquireLease(store.db, { hubId: h.id, hubName: 'H', holder: 'b', now: 1050, ttlMs: 100 })).rejects.toBeInstanceOf(LeaseHeldError);
    await acquireLease(store.db, { hubId: h.id, hubName: 'H', holder: 'a', now: 1060, ttlMs: 100 }); // re-entrant
    await acquireLease(store.db, { hubId: h.id, hubName: 'H', holder: 'b', now: 1200, ttlMs: 100 }); // expired
    await releaseLease(store.db, { hubId: h.id, holder: 'a' }); // not a's any more: no effect
    await expect(acquireLease(store.db, { hubId: h.id, hubName: 'H', holder: 'c', now: 1210 })).rejects.toBeInstanceOf(LeaseHeldError);
    await releaseLease(store.db, { hubId: h.id, holder: 'b' });
    await acquireLease(store.db, { hubId: h.id, hubName: 'H', holder: 'c', now: 1220 });
  });

  it('lets exactly one of many concurrent claimants take a free lease', async () => {
    const h = await createHub(store.db, { id: ids(), name: 'H', object: 'contacts', now: 1 });
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) => acquireLease(store.db, { hubId: h.id, hubName: 'H', holder: `w${i}`, now: 5000 })),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
  });

  it('saves contacts with identity keys and a journal row per change, and keeps links one-to-one', async () => {
    const h = await createHub(store.db, { id: ids(), name: 'H', object: 'contacts', now: 1 });
    const s = await addSpoke(store.db, { id: ids(), hubId: h.id, name: 'a', type: 'vdir', config: {}, options: defaultSpokeOptions(), now: 1 });
    const clock = new HubClock(() => 1_700_000_000_000, 0);
    const ctx: RunContext = { db: store.db, tx: (fn) => store.db.transaction().execute(fn), clock, ids, hubId: h.id, runId: 'run-1', dryRun: false, progress: () => undefined, guard: new PlanGuard() };
    const fields = { s: { 'name.given': 'Ann', 'name.surname': 'Lee' }, m: { emails: { 'ann@x.example': { address: 'Ann@x.example' } } } };
    const id = ids();
    await ctx.tx((db) =>
      saveEntities(ctx, db, [{ id, uid: 'u-1', state: stateFromFields(fields, { at: 1, o: s.id, hv: 1 }), deleted: false, tombstone: null, before: undefined, action: 'create', spokeId: s.id }]),
    );
    const e = await loadEntity(store.db, h.id, id);
    expect(e?.card.emails && Object.values(e.card.emails)[0]?.address).toBe('Ann@x.example');
    expect(await keyOwnerCounts(store.db, h.id, ['e:ann@x.example', 'u:u-1', 'e:bob@x.example'])).toEqual(new Map([['e:ann@x.example', 1], ['u:u-1', 1]]));
    const journal = await store.db.selectFrom('journal').selectAll().where('entity_id', '=', id).execute();
    expect(journal.map((j) => [j.action, j.run_id, j.spoke_id])).toEqual([['create', 'run-1', s.id]]);

    const link = { spokeId: s.id, entityId: id, remoteId: 'r1', etag: 'e1', base: fields, baseHash: 'h', baseVersion: 1, state: 'active' as const, observedAt: 1, raw: 'BEGIN:VCARD…' };
    await upsertLink(store.db, link);
    expect((await loadLinksByEntity(store.db, s.id, [id])).get(id)?.raw).toBe('BEGIN:VCARD…');
    await upsertLink(store.db, { ...link, etag: 'e2', raw: null });
    expect((await loadLinksByEntity(store.db, s.id, [id])).get(id)?.raw).toBeNull();
    expect([...(await lookupEtags(store.db, s.id, ['r1', 'r2'])).entries()]).toEqual([['r1', 'e2']]);
    const byRemote = await loadLinksByRemote(store.db, s.id, ['r1', 'r2']);
    expect([...byRemote.entries()]).toEqual([['r1', { entityId: id, etag: 'e2', baseHash: 'h', state: 'active' }]]);
  });

  it("looks up a spoke's link etags by remote id, and finds the links a listing did not show, only that spoke's", async () => {
    const h = await createHub(store.db, { id: ids(), name: 'H', object: 'contacts', now: 1 });
    const s = await addSpoke(store.db, { id: ids(), hubId: h.id, name: 'a', type: 'vdir', config: {}, options: defaultSpokeOptions(), now: 1 });
    const other = await addSpoke(store.db, { id: ids(), hubId: h.id, name: 'b', type: 'vdir', config: {}, options: defaultSpokeOptions(), now: 1 });
    const clock = new HubClock(() => 1_700_000_000_000, 0);
    const ctx: RunContext = { db: store.db, tx: (fn) => store.db.transaction().execute(fn), clock, ids, hubId: h.id, runId: 'run-1', dryRun: false, progress: () => undefined, guard: new PlanGuard() };
    const fields = { s: { 'name.given': 'Ann' }, m: {} };
    const entityIds = Array.from({ length: 7 }, () => ids());
    await ctx.tx((db) =>
      saveEntities(ctx, db, entityIds.map((id) => ({ id, uid: id, state: stateFromFields(fields, { at: 1, o: s.id, hv: 1 }), deleted: false, tombstone: null, before: undefined, action: 'create' as const, spokeId: s.id }))),
    );
    const link = (spokeId: string, entityId: string, remoteId: string, etag: string | null) => ({ spokeId, entityId, remoteId, etag, base: fields, baseHash: 'h', baseVersion: 1, state: 'active' as const, observedAt: 1, raw: null });
    for (const [i, id] of entityIds.entries()) await upsertLink(store.db, link(s.id, id, `r${i}.vcf`, i === 3 ? null : `e${i}`));
    await upsertLink(store.db, link(other.id, entityIds[0] as string, 'other.vcf', 'x'));

    // 600 ids: more than one query's worth; unknown ids and the other spoke's are absent, a link
    // without an etag answers null.
    const asked = [...entityIds.map((_, i) => `r${i}.vcf`), 'other.vcf', ...Array.from({ length: 592 }, (_, i) => `nope${i}.vcf`)];
    const etags = await lookupEtags(store.db, s.id, asked);
    expect([...etags.entries()].sort()).toEqual(entityIds.map((_, i) => [`r${i}.vcf`, i === 3 ? null : `e${i}`]));

    const shown = new ListedIds();
    for (const id of ['r0.vcf', 'r2.vcf', 'r3.vcf', 'r6.vcf', 'other.vcf', 'new.vcf']) shown.add(id);
    expect((await unlistedRemoteIds(store.db, s.id, shown, 2)).sort()).toEqual(['r1.vcf', 'r4.vcf', 'r5.vcf']); // pages of 2: 4 queries
    for (const id of ['r1.vcf', 'r4.vcf', 'r5.vcf']) shown.add(id);
    expect(await unlistedRemoteIds(store.db, s.id, shown, 2)).toEqual([]);
    expect(await unlistedRemoteIds(store.db, other.id, new ListedIds())).toEqual(['other.vcf']);
  });

  it('remembers what the hub deleted from a lagging spoke, per spoke, and forgets it when told or with the spoke', async () => {
    const h = await createHub(store.db, { id: ids(), name: 'H', object: 'contacts', now: 1 });
    const s = await addSpoke(store.db, { id: ids(), hubId: h.id, name: 'people', type: 'memory', config: {}, options: defaultSpokeOptions(), now: 1 });
    const other = await addSpoke(store.db, { id: ids(), hubId: h.id, name: 'other', type: 'memory', config: {}, options: defaultSpokeOptions(), now: 1 });
    await recordSpokeDeletes(store.db, s.id, ['people/c1', 'people/c2'], 1_000);
    await recordSpokeDeletes(store.db, s.id, ['people/c2', 'people/c3'], 5_000); // c2 again: the later time counts
    await recordSpokeDeletes(store.db, other.id, ['people/c4'], 1_000);
    expect([...(await spokeDeletedAmong(store.db, s.id, ['people/c1', 'people/c2', 'people/c4', 'people/c9']))].sort()).toEqual(['people/c1', 'people/c2']);
    await forgetSpokeDeletes(store.db, s.id, 2_000);
    expect([...(await spokeDeletedAmong(store.db, s.id, ['people/c1', 'people/c2', 'people/c3']))].sort()).toEqual(['people/c2', 'people/c3']);
    expect([...(await spokeDeletedAmong(store.db, other.id, ['people/c4']))]).toEqual(['people/c4']);
    await removeSpoke(store.db, await getSpoke(store.db, h.id, 'other'));
    expect(await store.db.selectFrom('spoke_deletes').select('remote_id').where('spoke_id', '=', other.id).execute()).toEqual([]);
  });

  it('stores 64-bit clock values exactly', async () => {
    const h = await createHub(store.db, { id: ids(), name: 'H', object: 'contacts', now: 1 });
    const big = 1_900_000_000_000 * 1024 + 1023;
    await store.db.updateTable('hubs').set({ clock: big }).where('id', '=', h.id).execute();
    expect((await getHub(store.db, h.id)).clock).toBe(big);
  });

  it('inserts rows in bulk, whatever their count, inside a transaction, and upserts with the clause', async () => {
    const h = await createHub(store.db, { id: ids(), name: 'H', object: 'contacts', now: 1 });
    const s = await addSpoke(store.db, { id: ids(), hubId: h.id, name: 'a', type: 'vdir', config: {}, options: defaultSpokeOptions(), now: 1 });
    const keyRows = (n: number, tag: string) => Array.from({ length: n }, (_, i) => ({ hub_id: h.id, key: `${tag}${i}`, entity_id: `e${i}` }));
    const entities = Array.from({ length: 137 }, (_, i) => ({
      id: `e${i}`, hub_id: h.id, uid: `u${i}`, state: '{}', fields: null, fields_hash: null, deleted: 0, tombstone: null, version: i + 1, created_at: 1, updated_at: 1,
    }));
    // 137 rows by 50: 50, 50, then 32, 4, 1.
    await insertRows(store.db, 'entities', entities, 50);
    await insertRows(store.db, 'entity_keys', keyRows(137, 'k'), 300);
    await insertRows(store.db, 'entity_keys', [], 300);
    expect(Number((await store.db.selectFrom('entities').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n)).toBe(137);
    const keys = await store.db.selectFrom('entity_keys').select(['key', 'entity_id']).orderBy('entity_id').orderBy('key').execute();
    expect(keys).toHaveLength(137);
    expect(keys.find((k) => k.key === 'k136')?.entity_id).toBe('e136');

    // Rolled back with the transaction it ran in.
    await expect(
      store.db.transaction().execute(async (tx) => {
        await insertRows(tx, 'entity_keys', keyRows(3, 'rolled-back-'), 300);
        throw new Error('abort');
      }),
    ).rejects.toThrow('abort');
    expect(await store.db.selectFrom('entity_keys').select('key').where('key', 'like', 'rolled-back-%').execute()).toEqual([]);

    const link = (entity: string, etag: string) => ({
      spoke_id: s.id, entity_id: entity, remote_id: `${entity}.vcf`, etag, base: '{}', base_hash: 'h', base_version: 1, state: 'active', observed_at: 1, raw: null,
    });
    const upsert = upsertClause(['spoke_id', 'entity_id'], ['remote_id', 'etag', 'base', 'base_hash', 'base_version', 'state', 'observed_at', 'raw']);
    await insertRows(store.db, 'links', [link('e1', 'one'), link('e2', 'one')], 200, upsert);
    await insertRows(store.db, 'links', [link('e2', 'two'), link('e3', 'two')], 200, upsert);
    expect(await store.db.selectFrom('links').select(['entity_id', 'etag']).orderBy('entity_id').execute()).toEqual([
      { entity_id: 'e1', etag: 'one' },
      { entity_id: 'e2', etag: 'two' },
      { entity_id: 'e3', etag: 'two' },
    ]);

    await expect(insertRows(store.db, 'entity_keys', [...keyRows(1, 'x'), { hub_id: h.id, key: 'y' } as never], 300)).rejects.toThrow(/entity_keys.*row 1/);
  });
});
