import { describe, expect, it } from 'vitest';
import { describeConnectorContract, type ContractHarness } from '../../src/connectors/kit/contract-suite.js';
import type { Connector, ConnectorEnv, PullPage, RemoteItem } from '../../src/connectors/kit/contract.js';
import { ConnectorError, isConnectorError } from '../../src/connectors/kit/errors.js';
import {
  ManualClock,
  MemoryBackend,
  MemoryConnector,
  MemoryRegistry,
  memoryClientId,
  memoryConnectorFactory,
  type MemoryBackendOptions,
} from '../../src/connectors/memory/memory-connector.js';
import type { Card } from '../../src/model/card.js';
import type { FieldPath } from '../../src/model/fields.js';
import { emailsOf, makeCard, nameComponent, notesOf, phonesOf } from '../support/cards.js';
import { knownEtagsFrom, noKnownEtags } from '../../src/connectors/kit/known-etags.js';

const UNKNOWN_KEY = 'X-CONTRACT-SUITE';

/** A harness on a fresh backend, reached through the factory as the engine would. */
function memoryHarness(opts: MemoryBackendOptions): () => Promise<ContractHarness> {
  return async () => {
    const clock = new ManualClock();
    const backend = new MemoryBackend({ ...opts, now: clock.now });
    const factory = memoryConnectorFactory(new MemoryRegistry({ spoke: backend }));
    const connector = factory.create(factory.parseConfig({ backend: 'spoke' }), { now: clock.now, defaultRegion: 'DE' });
    return {
      connector,
      userCreate: async (card) => backend.userCreate(card),
      userUpdate: async (id, card) => backend.userUpdate(id, () => card),
      userDelete: async (id) => {
        backend.userDelete(id);
      },
      count: async () => backend.size,
      userSetUnknownProperty: async (id) => {
        backend.userSetUnknownProperty(id, UNKNOWN_KEY, 'kept');
        return true;
      },
      hasUnknownProperty: async (id) => backend.item(id)?.unknown[UNKNOWN_KEY] === 'kept',
      userCreateBroken: async () => backend.userCreateBroken(),
      settle: async () => clock.advance(backend.capabilities.visibilityLagMs + 1),
      expireCursors: async () => backend.expireCursors(),
      cleanup: async () => {
        await connector.close?.();
      },
    };
  };
}

const NAMES_EMAILS_PHONES: readonly FieldPath[] = ['name.full', 'name.given', 'name.surname', 'emails', 'phones'];

describeConnectorContract('memory (client ids, incremental)', memoryHarness({ clientIds: true, incremental: true, pageSize: 3 }));
describeConnectorContract(
  'memory (server ids, full listings only, names/emails/phones)',
  memoryHarness({ clientIds: false, incremental: false, pageSize: 4, fields: NAMES_EMAILS_PHONES }),
);
describeConnectorContract('memory (read-only)', memoryHarness({ readOnly: true, pageSize: 2 }));
describeConnectorContract(
  'memory (lagged pulls, no markers, no conditional writes, no echo)',
  memoryHarness({ visibilityLagMs: 60_000, markers: false, conditionalWrites: false, echoWrites: false }),
);

// -------------------------------------------------------------------------------------------------

interface Rig {
  clock: ManualClock;
  backend: MemoryBackend;
  connector: Connector;
}

function rig(opts: MemoryBackendOptions = {}): Rig {
  const clock = new ManualClock();
  const backend = new MemoryBackend({ ...opts, now: clock.now });
  const env: ConnectorEnv = { now: clock.now, defaultRegion: 'DE' };
  return { clock, backend, connector: new MemoryConnector(backend, env) };
}

async function pullAll(c: Connector, cursor: string | null = null, known: Record<string, string> = {}): Promise<PullPage[]> {
  const pages: PullPage[] = [];
  for await (const p of c.pull({ cursor, knownEtags: knownEtagsFrom((id) => known[id]) })) pages.push(p);
  return pages;
}

function ids(pages: PullPage[]): string[] {
  return pages.flatMap((p) => p.items.map((i) => i.id));
}

function lastCursor(pages: PullPage[]): string | null {
  return pages.at(-1)?.cursor ?? null;
}

async function caught(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (e: unknown) => e,
  );
}

const ada = (): Card => makeCard({ uid: 'urn:uuid:ada', given: 'Ada', surname: 'Lovelace', emails: ['ada@example.org'], phones: ['+44 20 7946 0000'] });
const grace = (): Card => makeCard({ uid: 'urn:uuid:grace', given: 'Grace', surname: 'Hopper', emails: ['grace@example.org'] });

describe('memory backend: basics', () => {
  it('assigns ids and etags from counters, deterministically', async () => {
    const run = async (): Promise<unknown> => {
      // The same account: a backend made without one gets an account of its own (`memory-N`).
      const { backend, connector } = rig({ accountId: 'same' });
      const a = await connector.create(ada(), { marker: 'h1' });
      backend.userCreate(grace());
      await connector.update(a.id, makeCard({ uid: 'urn:uuid:ada', given: 'Augusta' }), { ifMatch: a.etag, changed: ['name.given'] });
      return backend.snapshot();
    };
    const first = await run();
    expect(await run()).toEqual(first);
    const { backend, connector } = rig();
    const a = await connector.create(ada(), { marker: 'h1' });
    expect(a).toMatchObject({ id: 'm1', etag: '"e1"' });
    const b = await connector.create(ada(), { marker: 'h1' });
    expect(b.id).toBe('m2');
    expect(backend.size).toBe(2);
  });

  it('derives ids from the marker with clientIds, and refuses a second create of the same marker', async () => {
    const { backend, connector } = rig({ clientIds: true });
    expect(connector.capabilities.idempotentCreate).toBe('client-id');
    const res = await connector.create(ada(), { marker: 'hub-1' });
    expect(res.id).toBe(memoryClientId('hub-1'));
    const err = await caught(connector.create(grace(), { marker: 'hub-1' }));
    expect(isConnectorError(err, 'already_exists')).toBe(true);
    expect((err as ConnectorError).itemId).toBe(res.id);
    expect(backend.size).toBe(1);
    // Once the item is gone the id is free again (as a CardDAV PUT If-None-Match: * would be).
    await connector.delete(res.id, { ifMatch: null });
    await expect(connector.create(ada(), { marker: 'hub-1' })).resolves.toMatchObject({ id: res.id });
  });

  it('echoes the stored item and bumps the etag on every write, user writes included', async () => {
    const { backend, connector } = rig();
    const created = await connector.create(ada(), { marker: 'h' });
    expect(created.echoed?.marker).toBe('h');
    expect(created.echoed?.card).toEqual(ada());
    backend.userUpdate(created.id, (card) => {
      card.notes = { n1: { note: 'met at the conference' } };
    });
    const afterUser = await connector.get(created.id);
    expect(afterUser?.etag).not.toBe(created.etag);
    expect(notesOf((afterUser as RemoteItem).card)).toEqual(['met at the conference']);
    backend.userSetUnknownProperty(created.id, 'X-FOO', 'bar');
    expect((await connector.get(created.id))?.etag).not.toBe(afterUser?.etag);
  });

  it('conditional writes: a stale ifMatch conflicts; null ifMatch writes unconditionally', async () => {
    const { backend, connector } = rig();
    const res = await connector.create(ada(), { marker: 'h' });
    backend.userUpdate(res.id, (c) => ({ ...c, notes: { n1: { note: 'user' } } }));
    const err = await caught(connector.update(res.id, grace(), { ifMatch: res.etag, changed: ['name.given'] }));
    expect(isConnectorError(err, 'conflict')).toBe(true);
    expect(notesOf(backend.item(res.id)?.card as Card)).toEqual(['user']);
    expect(isConnectorError(await caught(connector.delete(res.id, { ifMatch: res.etag })), 'conflict')).toBe(true);
    await connector.update(res.id, grace(), { ifMatch: null, changed: ['name.given'] });
    expect(nameComponent(backend.item(res.id)?.card as Card, 'given')).toBe('Grace');
  });

  it('ignores ifMatch when conditionalWrites is false', async () => {
    const { backend, connector } = rig({ conditionalWrites: false });
    const res = await connector.create(ada(), { marker: 'h' });
    backend.userUpdate(res.id, (c) => c);
    await expect(connector.update(res.id, grace(), { ifMatch: res.etag, changed: [] })).resolves.toMatchObject({ id: res.id });
  });

  it('update of a missing id is not_found; delete of a missing id succeeds', async () => {
    const { connector } = rig();
    expect(isConnectorError(await caught(connector.update('nope', ada(), { ifMatch: null, changed: [] })), 'not_found')).toBe(true);
    await expect(connector.delete('nope', { ifMatch: '"e9"' })).resolves.toBeUndefined();
  });

  it('keeps the stored uid on update, as a CardDAV UID on an href', async () => {
    const { connector } = rig();
    const res = await connector.create(ada(), { marker: 'h' });
    const upd = await connector.update(res.id, { ...grace(), uid: 'urn:uuid:other' }, { ifMatch: null, changed: [] });
    expect(upd.echoed?.card.uid).toBe('urn:uuid:ada');
  });

  it('rejects what is not a Card', async () => {
    const { connector } = rig();
    const notACard = { '@type': 'Card', version: '1.0', uid: '' } as Card;
    expect(isConnectorError(await caught(connector.create(notACard, { marker: 'h' })), 'invalid_data')).toBe(true);
  });

  it('counts calls per method, pulls once per page, and item bodies read', async () => {
    const { backend, connector } = rig({ pageSize: 2 });
    for (let i = 0; i < 5; i += 1) backend.userCreate(makeCard({ uid: `u${i}`, given: `G${i}` }));
    const pages = await pullAll(connector);
    expect(pages).toHaveLength(3);
    await connector.get('m1');
    await connector.identity();
    expect(backend.callCounts()).toEqual({ identity: 1, pull: 3, get: 1, findByMarker: 0, create: 0, update: 0, delete: 0 });
    expect(backend.itemReads).toBe(6);
    const known = Object.fromEntries(pages.flatMap((p) => p.items).map((i) => [i.id, i.etag ?? '']));
    backend.resetCallCounts();
    const again = await pullAll(connector, null, known);
    expect(again.flatMap((p) => p.unchanged)).toHaveLength(5);
    expect(backend.itemReads).toBe(0);
  });

  it('lists in creation order across pages, with the cursor on the last page only', async () => {
    const { backend, connector } = rig({ pageSize: 2 });
    const made = [0, 1, 2, 3, 4].map((i) => backend.userCreate(makeCard({ uid: `u${i}`, given: `G${i}` })));
    const pages = await pullAll(connector);
    expect(ids(pages)).toEqual(made);
    expect(pages.map((p) => 'cursor' in p)).toEqual([false, false, true]);
    expect(typeof lastCursor(pages)).toBe('string');
  });

  it('incremental pulls report changes and deletions since the cursor; a non-incremental spoke refuses cursors', async () => {
    const { backend, connector } = rig();
    const a = backend.userCreate(ada());
    const b = backend.userCreate(grace());
    const cursor = lastCursor(await pullAll(connector));
    backend.userUpdate(a, (c) => c);
    backend.userDelete(b);
    const c = backend.userCreate(makeCard({ uid: 'urn:uuid:c', given: 'C' }));
    const d = backend.userCreate(makeCard({ uid: 'urn:uuid:d', given: 'D' }));
    backend.userDelete(d); // created and deleted in the window: reported as deleted
    const inc = await pullAll(connector, cursor);
    expect(ids(inc)).toEqual([a, c]);
    expect(inc.flatMap((p) => p.deleted)).toEqual([b, d]);
    expect(inc.every((p) => !p.complete)).toBe(true);

    const full = rig({ incremental: false });
    full.backend.userCreate(ada());
    const pages = await pullAll(full.connector);
    expect(lastCursor(pages)).toBeNull();
    expect(isConnectorError(await caught(pullAll(full.connector, 'memory:0:0:memory')), 'unsupported')).toBe(true);
  });

  it('rejects cursors of another account or from the future', async () => {
    const { backend, connector } = rig({ accountId: 'alice' });
    backend.userCreate(ada());
    const cursor = lastCursor(await pullAll(connector)) as string;
    expect(isConnectorError(await caught(pullAll(connector, cursor.replace('alice', 'bob'))), 'cursor_invalid')).toBe(true);
    expect(isConnectorError(await caught(pullAll(connector, 'memory:0:99:alice')), 'cursor_invalid')).toBe(true);
    expect(isConnectorError(await caught(pullAll(connector, 'garbage')), 'cursor_invalid')).toBe(true);
  });

  it('expireCursors makes every older cursor invalid; a full pull gives a fresh one', async () => {
    const { backend, connector } = rig();
    backend.userCreate(ada());
    const old = lastCursor(await pullAll(connector));
    backend.expireCursors();
    expect(isConnectorError(await caught(pullAll(connector, old)), 'cursor_invalid')).toBe(true);
    const fresh = lastCursor(await pullAll(connector));
    expect(ids(await pullAll(connector, fresh))).toEqual([]);
  });

  it('switchAccount empties the spoke, changes its identity and invalidates cursors', async () => {
    const { backend, connector } = rig({ accountId: 'alice' });
    backend.userCreate(ada());
    const cursor = lastCursor(await pullAll(connector));
    const before = await connector.identity();
    backend.switchAccount('bob');
    expect(await connector.identity()).not.toBe(before);
    expect(ids(await pullAll(connector))).toEqual([]);
    expect(isConnectorError(await caught(pullAll(connector, cursor)), 'cursor_invalid')).toBe(true);
  });

  it('userMove renames an item: deleted under the old id, listed under the new', async () => {
    const { backend, connector } = rig();
    const id = backend.userCreate(ada(), { marker: 'h' });
    const cursor = lastCursor(await pullAll(connector));
    const moved = backend.userMove(id, 'renamed');
    expect(moved).toBe('renamed');
    const inc = await pullAll(connector, cursor);
    expect(inc.flatMap((p) => p.deleted)).toEqual([id]);
    expect(ids(inc)).toEqual(['renamed']);
    expect((await connector.findByMarker('h')).map((i) => i.id)).toEqual(['renamed']);
  });

  it('reports broken items as problems; get throws invalid_data; an update repairs one', async () => {
    const { backend, connector } = rig();
    const good = backend.userCreate(ada());
    const bad = backend.userCreateBroken('BEGIN:VCARD without END');
    const pages = await pullAll(connector);
    expect(ids(pages)).toEqual([good]);
    expect(pages.flatMap((p) => p.problems)).toEqual([{ id: bad, message: 'BEGIN:VCARD without END' }]);
    const err = await caught(connector.get(bad));
    expect(isConnectorError(err, 'invalid_data')).toBe(true);
    expect((err as ConnectorError).itemId).toBe(bad);
    await connector.update(bad, grace(), { ifMatch: null, changed: [] });
    expect(nameComponent((await connector.get(bad))?.card as Card, 'given')).toBe('Grace');
  });

  it('refuses calls after close()', async () => {
    const { connector } = rig();
    await connector.close?.();
    await expect(connector.get('m1')).rejects.toThrow(/after close/);
  });
});

describe('memory backend: fields', () => {
  const fields: readonly FieldPath[] = ['name.given', 'name.surname', 'emails', 'phones'];

  it('reads show only the supported fields; updates keep everything else the backend holds', async () => {
    const { backend, connector } = rig({ fields });
    const full = makeCard({
      uid: 'urn:uuid:ada', given: 'Ada', surname: 'Lovelace', emails: ['ada@example.org'],
      addresses: [{ street: '12 St James Sq', locality: 'London' }], note: 'analyst', org: 'Analytical Engines',
    });
    full.name?.components?.push({ kind: 'generation', value: 'II' });
    const id = backend.userCreate(full, { unknown: { 'X-SHOE-SIZE': '38' } });

    const seen = (await connector.get(id))?.card as Card;
    expect(seen).toEqual(makeCard({ uid: 'urn:uuid:ada', given: 'Ada', surname: 'Lovelace', emails: ['ada@example.org'] }));

    await connector.update(id, makeCard({ uid: 'urn:uuid:ada', given: 'Augusta', phones: ['+441234'] }), {
      ifMatch: null,
      changed: ['name.given', 'name.surname', 'emails', 'phones'],
    });
    const stored = backend.item(id);
    const card = stored?.card as Card;
    expect(nameComponent(card, 'given')).toBe('Augusta');
    expect(nameComponent(card, 'surname')).toBeUndefined();
    expect(nameComponent(card, 'generation')).toBe('II');
    expect(emailsOf(card)).toEqual([]);
    expect(phonesOf(card)).toEqual(['+441234']);
    expect(card.addresses).toEqual(full.addresses);
    expect(notesOf(card)).toEqual(['analyst']);
    expect(card.organizations).toEqual(full.organizations);
    expect(stored?.unknown).toEqual({ 'X-SHOE-SIZE': '38' });
  });

  it("with 'all' fields, an update still keeps parts no field path covers", async () => {
    const { backend, connector } = rig();
    const withSuffix = ada();
    withSuffix.name?.components?.push({ kind: 'generation', value: 'Jr.' });
    withSuffix.anniversaries = { d: { kind: 'death', date: { year: 1852, month: 11, day: 27 } } };
    withSuffix.media = { m1: { kind: 'logo', uri: 'https://example.org/logo.png' }, m2: { kind: 'photo', uri: 'https://example.org/a.jpg' } };
    const id = backend.userCreate(withSuffix);
    await connector.update(id, grace(), { ifMatch: null, changed: ['name.given', 'name.surname', 'name.credential', 'emails', 'phones', 'photo'] });
    const card = backend.item(id)?.card as Card;
    expect(nameComponent(card, 'given')).toBe('Grace');
    // `generation` goes with name.credential (as in card-fields.ts), which the update cleared.
    expect(nameComponent(card, 'generation')).toBeUndefined();
    expect(card.anniversaries).toEqual(withSuffix.anniversaries);
    expect(card.media).toEqual({ m1: { kind: 'logo', uri: 'https://example.org/logo.png' } });
    expect(phonesOf(card)).toEqual([]);
  });

  it('drops unsupported content on create, or rejects it with rejectUnsupportedFields', async () => {
    const lax = rig({ fields });
    const res = await lax.connector.create(makeCard({ uid: 'u', given: 'A', note: 'dropped' }), { marker: 'h' });
    expect(lax.backend.item(res.id)?.card?.notes).toBeUndefined();

    const strict = rig({ fields, rejectUnsupportedFields: true });
    const err = await caught(strict.connector.create(makeCard({ uid: 'u', given: 'A', note: 'x' }), { marker: 'h' }));
    expect(isConnectorError(err, 'invalid_data')).toBe(true);
    expect((err as ConnectorError).field).toBe('note');
    const ok = await strict.connector.create(makeCard({ uid: 'u', given: 'A' }), { marker: 'h' });
    const err2 = await caught(strict.connector.update(ok.id, makeCard({ uid: 'u', given: 'B' }), { ifMatch: null, changed: ['name.given', 'addresses'] }));
    expect(isConnectorError(err2, 'invalid_data')).toBe(true);
    expect(strict.backend.size).toBe(1);
  });
});

describe('memory backend: fault injection', () => {
  it('failNext fails the next n calls without applying them, with retryAfterMs', async () => {
    const { backend, connector } = rig();
    backend.failNext(2, 'rate_limited', { retryAfterMs: 1500 });
    const e1 = await caught(connector.create(ada(), { marker: 'h' }));
    expect(isConnectorError(e1, 'rate_limited')).toBe(true);
    expect((e1 as ConnectorError).retryAfterMs).toBe(1500);
    expect(isConnectorError(await caught(connector.get('m1')), 'rate_limited')).toBe(true);
    expect(backend.size).toBe(0);
    await expect(connector.create(ada(), { marker: 'h' })).resolves.toMatchObject({ id: 'm1' });
    expect(backend.callCounts().create).toBe(2);
  });

  it('failNext can target methods, and rules queue in order', async () => {
    const { backend, connector } = rig();
    backend.userCreate(ada());
    backend.failNext(1, 'transient', { methods: ['update'] });
    backend.failNext(1, 'auth_revoked');
    await expect(connector.get('m1')).rejects.toMatchObject({ kind: 'auth_revoked' });
    await expect(connector.update('m1', ada(), { ifMatch: null, changed: [] })).rejects.toMatchObject({ kind: 'transient' });
    await expect(connector.get('m1')).resolves.not.toBeNull();
  });

  it('failNext on pull fails one page mid-listing; the pull can start over', async () => {
    const { backend, connector } = rig({ pageSize: 1 });
    backend.userCreate(ada());
    backend.userCreate(grace());
    const pages: PullPage[] = [];
    const iter = connector.pull({ cursor: null, knownEtags: noKnownEtags })[Symbol.asyncIterator]();
    pages.push((await iter.next()).value as PullPage);
    backend.failNext(1, 'transient', { methods: ['pull'] });
    await expect(iter.next()).rejects.toMatchObject({ kind: 'transient' });
    expect(pages[0]?.cursor).toBeUndefined();
    expect(ids(await pullAll(connector))).toHaveLength(2);
  });

  it('loseNextResponse applies a create and throws transient; findByMarker then finds it (the duplicate case)', async () => {
    const { backend, connector } = rig();
    backend.loseNextResponse();
    const err = await caught(connector.create(ada(), { marker: 'hub-7' }));
    expect(isConnectorError(err, 'transient')).toBe(true);
    expect(backend.size).toBe(1);
    const found = await connector.findByMarker('hub-7');
    expect(found.map((f) => f.marker)).toEqual(['hub-7']);
    // A blind retry on a spoke without client ids makes the duplicate recovery must repair.
    await connector.create(ada(), { marker: 'hub-7' });
    expect((await connector.findByMarker('hub-7')).map((f) => f.id)).toEqual(['m1', 'm2']);
  });

  it('with client ids, a retried create after a lost response gets already_exists', async () => {
    const { backend, connector } = rig({ clientIds: true });
    backend.loseNextResponse();
    await expect(connector.create(ada(), { marker: 'hub-7' })).rejects.toMatchObject({ kind: 'transient' });
    await expect(connector.create(ada(), { marker: 'hub-7' })).rejects.toMatchObject({ kind: 'already_exists' });
    expect(backend.size).toBe(1);
  });

  it('loseNextResponse applies updates and deletes too, and can target methods', async () => {
    const { backend, connector } = rig();
    const id = backend.userCreate(ada());
    backend.loseNextResponse({ methods: ['delete'] });
    await connector.update(id, grace(), { ifMatch: null, changed: [] });
    backend.loseNextResponse({ methods: ['update'] });
    await expect(connector.update(id, ada(), { ifMatch: null, changed: [] })).rejects.toMatchObject({ kind: 'transient' });
    expect(nameComponent(backend.item(id)?.card as Card, 'given')).toBe('Ada');
    await expect(connector.delete(id, { ifMatch: null })).rejects.toMatchObject({ kind: 'transient' });
    expect(backend.size).toBe(0);
  });

  it('loseNextResponse hides a refusal behind transient as well', async () => {
    const { backend, connector } = rig();
    const id = backend.userCreate(ada());
    backend.loseNextResponse();
    await expect(connector.update(id, grace(), { ifMatch: '"stale"', changed: [] })).rejects.toMatchObject({ kind: 'transient' });
    expect(nameComponent(backend.item(id)?.card as Card, 'given')).toBe('Ada');
  });

  it('truncateNextListing returns a prefix claiming complete: true, once; get still finds the rest', async () => {
    const { backend, connector } = rig({ pageSize: 2 });
    const made = [0, 1, 2, 3, 4].map((i) => backend.userCreate(makeCard({ uid: `u${i}`, given: `G${i}` })));
    const cursor = lastCursor(await pullAll(connector));
    backend.truncateNextListing(3);
    // Incremental pulls do not consume the truncation.
    expect(ids(await pullAll(connector, cursor))).toEqual([]);
    const cut = await pullAll(connector);
    expect(ids(cut)).toEqual(made.slice(0, 3));
    expect(cut.every((p) => p.complete)).toBe(true);
    expect(await connector.get(made[4] as string)).not.toBeNull();
    expect(ids(await pullAll(connector))).toEqual(made);
  });

  it('flakyEtags gives a new etag on every read, which becomes the etag ifMatch is checked against', async () => {
    const { backend, connector } = rig();
    const res = await connector.create(ada(), { marker: 'h' });
    backend.flakyEtags(true);
    const g1 = await connector.get(res.id);
    const g2 = await connector.get(res.id);
    expect(g1?.etag).not.toBe(res.etag);
    expect(g2?.etag).not.toBe(g1?.etag);
    const listed = await pullAll(connector, null, { [res.id]: g2?.etag ?? '' });
    expect(ids(listed)).toEqual([res.id]);
    expect(isConnectorError(await caught(connector.update(res.id, grace(), { ifMatch: g2?.etag ?? null, changed: [] })), 'conflict')).toBe(true);
    backend.flakyEtags(false);
    const stable = await connector.get(res.id);
    expect((await connector.get(res.id))?.etag).toBe(stable?.etag);
    // No content changed, so incremental pulls stay quiet.
    const cursor = lastCursor(await pullAll(connector));
    expect(ids(await pullAll(connector, cursor))).toEqual([]);
  });

  it('normalizeOnWrite rewrites what the connector writes; the echo and reads show it', async () => {
    const { backend, connector } = rig();
    backend.normalizeOnWrite((card) => {
      for (const p of Object.values(card.phones ?? {})) p.number = p.number.replace(/[^+\d]/g, '');
      card.notes = { server: { note: 'synced' } };
      return card;
    });
    const res = await connector.create(ada(), { marker: 'h' });
    expect(phonesOf(res.echoed?.card as Card)).toEqual(['+442079460000']);
    expect(notesOf((await connector.get(res.id))?.card as Card)).toEqual(['synced']);
    // User writes are taken as already normalised.
    const u = backend.userCreate(ada());
    expect(phonesOf(backend.item(u)?.card as Card)).toEqual(['+44 20 7946 0000']);
    backend.normalizeOnWrite(null);
    const plain = await connector.update(res.id, ada(), { ifMatch: null, changed: ['phones', 'note'] });
    expect(phonesOf(plain.echoed?.card as Card)).toEqual(['+44 20 7946 0000']);
  });

  it('setReadOnly flips the capability and refuses writes with permission', async () => {
    const { backend, connector } = rig();
    const id = backend.userCreate(ada());
    const caps = connector.capabilities;
    backend.setReadOnly(true);
    expect(caps.readOnly).toBe(false); // an old capabilities object is a snapshot
    expect(connector.capabilities.readOnly).toBe(true);
    await expect(connector.create(grace(), { marker: 'h' })).rejects.toMatchObject({ kind: 'permission' });
    await expect(connector.update(id, grace(), { ifMatch: null, changed: [] })).rejects.toMatchObject({ kind: 'permission' });
    await expect(connector.delete(id, { ifMatch: null })).rejects.toMatchObject({ kind: 'permission' });
    await expect(connector.get(id)).resolves.not.toBeNull();
    backend.setReadOnly(false);
    await expect(connector.delete(id, { ifMatch: null })).resolves.toBeUndefined();
  });

  it('visibility lag: pulls see writes only after the lag; get and findByMarker at once by default', async () => {
    const { clock, connector } = rig({ visibilityLagMs: 1000 });
    expect(connector.capabilities.visibilityLagMs).toBe(1000);
    const before = lastCursor(await pullAll(connector));
    const res = await connector.create(ada(), { marker: 'h' });
    expect(ids(await pullAll(connector))).toEqual([]);
    expect(await connector.get(res.id)).not.toBeNull();
    expect(await connector.findByMarker('h')).toHaveLength(1);
    // The cursor does not move past the invisible write, so it is not lost.
    expect(lastCursor(await pullAll(connector, before))).toBe(before);
    clock.advance(999);
    expect(ids(await pullAll(connector))).toEqual([]);
    clock.advance(1);
    expect(ids(await pullAll(connector))).toEqual([res.id]);
    expect(ids(await pullAll(connector, before))).toEqual([res.id]);
  });

  it('visibility lag: a delete and an update lag too; pulls show the state as of the horizon', async () => {
    const { clock, backend, connector } = rig({ visibilityLagMs: 1000 });
    const id = backend.userCreate(ada());
    clock.advance(1000);
    backend.userUpdate(id, (c) => ({ ...c, notes: { n: { note: 'new' } } }));
    const seen = (await pullAll(connector)).flatMap((p) => p.items);
    expect(notesOf(seen[0]?.card as Card)).toEqual([]);
    backend.userDelete(id);
    clock.advance(500);
    expect(ids(await pullAll(connector))).toEqual([id]);
    clock.advance(500);
    expect(ids(await pullAll(connector))).toEqual([]);
  });

  it('visibility lag: get and findByMarker can be made to lag like pulls', async () => {
    const { clock, backend, connector } = rig();
    backend.setVisibilityLag(1000, { immediateGet: false, immediateFindByMarker: false });
    const res = await connector.create(ada(), { marker: 'h' });
    expect(await connector.get(res.id)).toBeNull();
    expect(await connector.findByMarker('h')).toEqual([]);
    clock.advance(1000);
    expect(await connector.get(res.id)).not.toBeNull();
    expect(await connector.findByMarker('h')).toHaveLength(1);
  });

  it('nullEtagOnWrite and echoWrites(false) model a PUT answered with neither', async () => {
    const { backend, connector } = rig();
    backend.nullEtagOnWrite(true);
    backend.echoWrites(false);
    const res = await connector.create(ada(), { marker: 'h' });
    expect(res).toEqual({ id: 'm1', etag: null });
    expect((await connector.get('m1'))?.etag).toBe('"e1"');
  });

  it('onConnectorWrite sees each connector write before it is applied, and can veto it', async () => {
    const { backend, connector } = rig();
    const seen: string[] = [];
    backend.onConnectorWrite((w) => {
      seen.push(`${w.method}:${w.id ?? '?'}:${w.marker ?? '-'}`);
      if (w.method === 'delete') throw new Error('no intent committed for this delete');
    });
    const res = await connector.create(ada(), { marker: 'h' });
    await connector.update(res.id, grace(), { ifMatch: null, changed: [] });
    await expect(connector.delete(res.id, { ifMatch: null })).rejects.toThrow(/no intent/);
    backend.loseNextResponse();
    await expect(connector.delete(res.id, { ifMatch: null })).rejects.toThrow(/no intent/); // never hidden as transient
    backend.userCreate(grace()); // user writes are not connector writes
    expect(seen).toEqual(['create:?:h', `update:${res.id}:h`, `delete:${res.id}:h`, `delete:${res.id}:h`]);
    expect(backend.size).toBe(2);
  });

  it('clearFaults heals everything armed', async () => {
    const { backend, connector } = rig();
    backend.userCreate(ada());
    backend.failNext(3, 'transient');
    backend.loseNextResponse();
    backend.truncateNextListing(0);
    backend.flakyEtags(true);
    backend.clearFaults();
    expect(ids(await pullAll(connector))).toEqual(['m1']);
    const a = await connector.get('m1');
    expect((await connector.get('m1'))?.etag).toBe(a?.etag);
    await expect(connector.create(grace(), { marker: 'h' })).resolves.toMatchObject({ id: 'm2' });
  });

  it('ConnectorError kinds come from the closed taxonomy', () => {
    const e = new ConnectorError('conflict', 'x', { itemId: 'm1' });
    expect(isConnectorError(e, 'conflict')).toBe(true);
  });
});

describe('memory connector factory and registry', () => {
  const env: ConnectorEnv = { now: new ManualClock().now, defaultRegion: 'DE' };

  it('creates connectors by backend name, with the backend capabilities', async () => {
    const backend = new MemoryBackend({ clientIds: true, incremental: false, maxConcurrency: 4 });
    const factory = memoryConnectorFactory(new MemoryRegistry([['phone', backend]]));
    expect(factory.type).toBe('memory');
    expect(factory.capabilities).toMatchObject({ idempotentCreate: 'none', incremental: true });
    const c = factory.create(factory.parseConfig({ backend: ' phone ' }), env);
    expect(c.capabilities).toMatchObject({ idempotentCreate: 'client-id', incremental: false, maxConcurrency: 4 });
    expect(factory.capabilities.maxConcurrency).toBeUndefined();
    await c.create(ada(), { marker: 'h' });
    expect(backend.size).toBe(1);
  });

  it('parseConfig names the bad setting', () => {
    const factory = memoryConnectorFactory(new MemoryRegistry({ phone: new MemoryBackend() }));
    expect(() => factory.parseConfig({})).toThrow(/"backend"/);
    expect(() => factory.parseConfig({ backend: 3 })).toThrow(/"backend"/);
    expect(() => factory.parseConfig({ backend: 'laptop' })).toThrow(/"backend".*laptop.*known: phone/);
    expect(() => factory.parseConfig({ backend: 'phone', colour: 'red' })).toThrow(/"colour"/);
  });

  it('refuses two backends under one name', () => {
    const registry = new MemoryRegistry();
    registry.add('a', new MemoryBackend());
    expect(() => registry.add('a', new MemoryBackend())).toThrow(/exists/);
    expect(registry.names()).toEqual(['a']);
  });
});
