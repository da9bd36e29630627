/**
 * The contract every connector passes (sync-design.md C4): one suite, run against every spoke type
 * (the memory fake, vdir; later Google, Microsoft, CardDAV against recorded fixtures or sandboxes).
 *
 * A connector is judged only by its declared `capabilities`: where a test depends on one (writes on a
 * read-only spoke, `client-id` creates, conditional writes, incremental pulls), it checks the behaviour
 * the capability promises, and for the other value it asserts that value and says so in an annotation.
 * No test is skipped: a reader of the report sees every branch that was checked.
 *
 * Usage, in a test file:
 *
 * ```ts
 * describeConnectorContract('vdir', async () => { ...; return harness; });
 * ```
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Card } from '../../model/card.js';
import type { FieldPath } from '../../model/fields.js';
import type { Capabilities, Connector, PullPage, RemoteItem } from './contract.js';
import { isConnectorError } from './errors.js';
import { knownEtagsFrom } from './known-etags.js';

/**
 * What a connector's test gives the suite: the connector under test, on a store the suite may fill
 * and empty, and hooks that act on that store *out of band*, as a user in the provider's own UI would
 * (so the connector does not see them coming).
 *
 * Invariants the suite relies on:
 * - `setup()` returns a fresh harness per test; what one test writes is not seen by the next (or the
 *   suite only counts relative to `count()` at the start);
 * - the store has no faults armed (no injected failures, stable etags, no normalisation that touches
 *   given names, surnames or lower-case e-mail addresses);
 * - after `settle()` (when given) every write so far, by the connector or the hooks, shows in pulls.
 */
export interface ContractHarness {
  connector: Connector;
  /** Creates an item as a user would; returns the id the connector knows it by. */
  userCreate(card: Card): Promise<string>;
  /** Replaces an item's content as a user would (the item gets a new etag). */
  userUpdate(id: string, card: Card): Promise<void>;
  userDelete(id: string): Promise<void>;
  /** How many items the store holds now. */
  count(): Promise<number>;
  /**
   * Plants a property the model does not know on the item (a vCard `X-` property, a provider-only
   * field). Returns false when the store has no such notion: then the suite passes the "keeps unknown
   * properties" test only for a connector whose `fields` is `'all'`, since one that stores a subset
   * necessarily sits on a store holding more than it maps.
   */
  userSetUnknownProperty(id: string): Promise<boolean>;
  /** Whether the property planted by `userSetUnknownProperty` is still there. */
  hasUnknownProperty(id: string): Promise<boolean>;
  /**
   * Plants an item the connector cannot read (malformed vCard, a value the mapper rejects); returns
   * its id, or null when the store cannot hold a broken item (the test then asserts that declaration).
   */
  userCreateBroken(): Promise<string | null>;
  /** Makes every write so far visible to pulls (advance a fake clock, wait out a lag). */
  settle?(): Promise<void>;
  /** Invalidates every cursor handed out so far; without it, the suite uses a bogus cursor. */
  expireCursors?(): Promise<void>;
  /** Releases the store and the connector (closing it is the harness's job). */
  cleanup(): Promise<void>;
}

/** Registers the contract tests for one connector configuration. */
export function describeConnectorContract(name: string, setup: () => Promise<ContractHarness>): void {
  describe(`connector contract: ${name}`, () => {
    let h: ContractHarness;
    let caps: Capabilities;
    let c: Connector;

    beforeEach(async () => {
      h = await setup();
      c = h.connector;
      caps = c.capabilities;
    });

    afterEach(async () => {
      await h.cleanup();
    });

    const settle = async (): Promise<void> => {
      await h.settle?.();
    };

    it('declares coherent capabilities', () => {
      expect(['client-id', 'none']).toContain(caps.idempotentCreate);
      expect(caps.visibilityLagMs).toBeGreaterThanOrEqual(0);
      if (caps.fields !== 'all') expect(caps.fields.length).toBeGreaterThan(0);
    });

    it('identity() is stable across calls', async () => {
      const first = await c.identity();
      expect(typeof first).toBe('string');
      expect(first).not.toBe('');
      expect(await c.identity()).toBe(first);
      await h.userCreate(sampleCard(1));
      await collect(c, null);
      expect(await c.identity()).toBe(first);
    });

    it('a full pull lists every item once, complete, with the cursor on the last page only', async () => {
      const before = await h.count();
      const ids: string[] = [];
      for (let i = 0; i < 7; i += 1) ids.push(await h.userCreate(sampleCard(i)));
      await settle();

      const pages = await collect(c, null);
      expect(pages.length).toBeGreaterThan(0);
      for (const p of pages.slice(0, -1)) expect(p.cursor).toBeUndefined();
      const last = pages.at(-1);
      expect(last?.cursor).not.toBeUndefined();
      if (caps.incremental) expect(typeof last?.cursor).toBe('string');
      else expect(last?.cursor).toBeNull();
      for (const p of pages) {
        expect(p.complete).toBe(true);
        expect(p.deleted).toEqual([]);
      }
      const listed = pages.flatMap((p) => [...p.items.map((i) => i.id), ...p.unchanged, ...p.problems.map((x) => x.id)]);
      expect(new Set(listed).size).toBe(listed.length);
      expect(listed).toEqual(expect.arrayContaining(ids));
      expect(listed.length).toBe(await h.count());
      expect(listed.length).toBe(before + ids.length);
    });

    it('knownEtags puts unchanged items in `unchanged` without their card; a changed one comes back', async ({ annotate }) => {
      const ids = [await h.userCreate(sampleCard(10)), await h.userCreate(sampleCard(11)), await h.userCreate(sampleCard(12))];
      await settle();
      const listed = (await collect(c, null)).flatMap((p) => p.items);
      const etags = new Map<string, string>();
      for (const i of listed) if (i.etag !== null) etags.set(i.id, i.etag);
      if (listed.every((i) => i.etag === null)) {
        // RemoteItem.etag is null "when the spoke has none": then there is nothing to skip by.
        await annotate('the spoke lists no etags: knownEtags cannot apply');
        return;
      }
      for (const id of ids) expect(etags.has(id), `item ${id} listed with an etag`).toBe(true);

      const [changed, ...same] = ids as [string, ...string[]];
      await h.userUpdate(changed, sampleCard(13));
      await settle();
      const pages = await collect(c, null, (id) => etags.get(id));
      const items = pages.flatMap((p) => p.items.map((i) => i.id));
      const unchanged = pages.flatMap((p) => p.unchanged);
      for (const id of same) {
        expect(unchanged).toContain(id);
        expect(items).not.toContain(id);
      }
      expect(items).toContain(changed);
      expect(unchanged).not.toContain(changed);
    });

    it('create, then get and findByMarker return the item with its marker (read-only: refused)', async ({ annotate }) => {
      const marker = nextMarker();
      const card = sampleCard(20);
      if (caps.readOnly) {
        const before = await h.count();
        await expectRefused(c.create(card, { marker }));
        expect(await h.count()).toBe(before);
        await annotate('read-only connector: create refused, nothing written');
        return;
      }
      const res = await c.create(card, { marker });
      expect(typeof res.id).toBe('string');
      if (res.echoed !== undefined) expect(res.echoed.id).toBe(res.id);

      const got = await c.get(res.id);
      expect(got).not.toBeNull();
      expectSampleContent(got as RemoteItem, card, caps);
      if (caps.markers) expect(got?.marker).toBe(marker);

      await settle();
      if (caps.markers) {
        const found = await c.findByMarker(marker);
        expect(found.map((f) => f.id)).toEqual([res.id]);
        expect(found[0]?.marker).toBe(marker);
      } else {
        await annotate('markers: false, findByMarker not checked');
      }
    });

    it("create with the same marker twice: already_exists with one item where idempotentCreate is 'client-id', else a duplicate", async ({ annotate }) => {
      if (caps.readOnly) {
        await expectRefused(c.create(sampleCard(30), { marker: nextMarker() }));
        await annotate('read-only connector: create refused');
        return;
      }
      const marker = nextMarker();
      const before = await h.count();
      const first = await c.create(sampleCard(30), { marker });
      if (caps.idempotentCreate === 'client-id') {
        const err = await c.create(sampleCard(30), { marker }).then(
          () => null,
          (e: unknown) => e,
        );
        expect(isConnectorError(err, 'already_exists'), `second create threw ${String(err)}`).toBe(true);
        expect(await h.count()).toBe(before + 1);
        if (caps.markers) {
          await settle();
          expect((await c.findByMarker(marker)).map((f) => f.id)).toEqual([first.id]);
        }
      } else {
        // The documented hazard of `none`: a repeat duplicates, and recovery finds both by marker.
        const second = await c.create(sampleCard(30), { marker });
        expect(second.id).not.toBe(first.id);
        expect(await h.count()).toBe(before + 2);
        if (caps.markers) {
          await settle();
          expect((await c.findByMarker(marker)).map((f) => f.id).sort()).toEqual([first.id, second.id].sort());
        }
        await annotate("idempotentCreate: 'none': a repeated create made a duplicate, as declared");
      }
    });

    it('update replaces the supported fields (read-only: refused, item untouched)', async () => {
      const id = await h.userCreate(sampleCard(40));
      const current = await c.get(id);
      expect(current).not.toBeNull();
      const next = { ...sampleCard(41), uid: (current as RemoteItem).card.uid };
      if (caps.readOnly) {
        await expectRefused(c.update(id, next, { ifMatch: current?.etag ?? null, changed: changedPaths(caps) }));
        expectSampleContent((await c.get(id)) as RemoteItem, sampleCard(40), caps);
        return;
      }
      const res = await c.update(id, next, { ifMatch: current?.etag ?? null, changed: changedPaths(caps) });
      expect(res.id).toBe(id);
      if (res.echoed !== undefined) expectSampleContent(res.echoed, next, caps);
      const got = await c.get(id);
      expect(got).not.toBeNull();
      expectSampleContent(got as RemoteItem, next, caps);
      if (res.etag !== null && current?.etag != null) expect(res.etag).not.toBe(current.etag);
    });

    it('update keeps a property the model does not know', async ({ annotate }) => {
      const id = await h.userCreate(sampleCard(50));
      const planted = await h.userSetUnknownProperty(id);
      if (!planted) {
        // A store with no such notion is acceptable only if the connector maps all of it.
        expect(
          caps.fields,
          'the connector stores a subset of fields, so its store holds what the model does not know: the harness must plant an unknown property',
        ).toBe('all');
        await annotate('the harness declares its store has no properties beyond the model');
        return;
      }
      expect(await h.hasUnknownProperty(id)).toBe(true);
      if (caps.readOnly) {
        await annotate('read-only connector: no update to check');
        return;
      }
      const current = await c.get(id);
      const next = { ...sampleCard(51), uid: (current as RemoteItem).card.uid };
      await c.update(id, next, { ifMatch: current?.etag ?? null, changed: changedPaths(caps) });
      expect(await h.hasUnknownProperty(id)).toBe(true);
      expectSampleContent((await c.get(id)) as RemoteItem, next, caps);
    });

    it('update and delete with a stale ifMatch throw conflict and leave the item as the user left it', async ({ annotate }) => {
      if (!caps.conditionalWrites || caps.readOnly) {
        await annotate(caps.readOnly ? 'read-only connector: no writes' : 'conditionalWrites: false, the engine must not rely on ifMatch');
        expect(caps.readOnly || !caps.conditionalWrites).toBe(true);
        return;
      }
      const id = await h.userCreate(sampleCard(60));
      const stale = (await c.get(id))?.etag ?? null;
      expect(stale, 'a spoke with conditional writes has etags').not.toBeNull();
      const userCard = { ...sampleCard(61), uid: ((await c.get(id)) as RemoteItem).card.uid };
      await h.userUpdate(id, userCard);

      const upd = await c.update(id, { ...sampleCard(62), uid: userCard.uid }, { ifMatch: stale, changed: changedPaths(caps) }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(isConnectorError(upd, 'conflict'), `update threw ${String(upd)}`).toBe(true);
      expectSampleContent((await c.get(id)) as RemoteItem, userCard, caps);

      const del = await c.delete(id, { ifMatch: stale }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(isConnectorError(del, 'conflict'), `delete threw ${String(del)}`).toBe(true);
      expectSampleContent((await c.get(id)) as RemoteItem, userCard, caps);
    });

    it('update of a missing item throws not_found', async ({ annotate }) => {
      const id = await h.userCreate(sampleCard(70));
      const card = ((await c.get(id)) as RemoteItem).card;
      await h.userDelete(id);
      const err = await c.update(id, card, { ifMatch: null, changed: changedPaths(caps) }).then(
        () => null,
        (e: unknown) => e,
      );
      if (caps.readOnly) {
        expect(isConnectorError(err, 'permission') || isConnectorError(err, 'unsupported'), `update threw ${String(err)}`).toBe(true);
        await annotate('read-only connector: update refused');
      } else {
        expect(isConnectorError(err, 'not_found'), `update threw ${String(err)}`).toBe(true);
      }
      expect(await c.get(id)).toBeNull();
    });

    it('delete removes the item; deleting a missing item does not throw (read-only: refused)', async ({ annotate }) => {
      const id = await h.userCreate(sampleCard(80));
      const before = await h.count();
      const etag = (await c.get(id))?.etag ?? null;
      if (caps.readOnly) {
        await expectRefused(c.delete(id, { ifMatch: etag }));
        expect(await h.count()).toBe(before);
        expect(await c.get(id)).not.toBeNull();
        await annotate('read-only connector: delete refused, item kept');
        return;
      }
      await c.delete(id, { ifMatch: etag });
      expect(await c.get(id)).toBeNull();
      expect(await h.count()).toBe(before - 1);
      await expect(c.delete(id, { ifMatch: null })).resolves.toBeUndefined();
      await expect(c.delete(id, { ifMatch: etag })).resolves.toBeUndefined();
    });

    it('a deleted item is missing from the next full pull, and in `deleted` of an incremental pull', async ({ annotate }) => {
      const keep = await h.userCreate(sampleCard(90));
      const gone = await h.userCreate(sampleCard(91));
      await settle();
      const first = await collect(c, null);
      const cursor = first.at(-1)?.cursor ?? null;
      await h.userDelete(gone);
      await settle();

      if (caps.incremental) {
        expect(cursor).not.toBeNull();
        const inc = await collect(c, cursor);
        for (const p of inc) expect(p.complete).toBe(false);
        expect(inc.flatMap((p) => p.deleted)).toContain(gone);
        expect(inc.flatMap((p) => [...p.items.map((i) => i.id), ...p.unchanged])).not.toContain(gone);
      } else {
        await annotate('incremental: false, only full pulls checked');
      }
      const full = await collect(c, null);
      const listed = full.flatMap((p) => [...p.items.map((i) => i.id), ...p.unchanged]);
      expect(listed).not.toContain(gone);
      expect(listed).toContain(keep);
      expect(full.flatMap((p) => p.deleted)).toEqual([]);
    });

    it('an incremental pull returns what changed since the cursor, and its own cursor', async ({ annotate }) => {
      const a = await h.userCreate(sampleCard(100));
      const b = await h.userCreate(sampleCard(101));
      await settle();
      const cursor = (await collect(c, null)).at(-1)?.cursor ?? null;
      if (!caps.incremental) {
        expect(cursor).toBeNull();
        await annotate('incremental: false, the full pull gave a null cursor as declared');
        return;
      }
      await h.userUpdate(b, sampleCard(102));
      const created = await h.userCreate(sampleCard(103));
      await settle();
      const inc = await collect(c, cursor);
      const changed = inc.flatMap((p) => [...p.items.map((i) => i.id), ...p.unchanged]);
      expect(changed).toEqual(expect.arrayContaining([b, created]));
      expect(changed).not.toContain(a);
      for (const p of inc.slice(0, -1)) expect(p.cursor).toBeUndefined();
      const next = inc.at(-1)?.cursor;
      expect(typeof next).toBe('string');
      const again = await collect(c, next ?? null);
      expect(again.flatMap((p) => [...p.items, ...p.unchanged, ...p.deleted])).toEqual([]);
    });

    it('a cursor the spoke no longer accepts raises cursor_invalid, never a silent full listing', async ({ annotate }) => {
      if (!caps.incremental) {
        await annotate('incremental: false, no cursors');
        expect(caps.incremental).toBe(false);
        return;
      }
      await h.userCreate(sampleCard(110));
      await settle();
      let cursor = (await collect(c, null)).at(-1)?.cursor ?? null;
      if (h.expireCursors !== undefined) await h.expireCursors();
      else cursor = 'hubsync-contract-suite:bogus-cursor';
      const err = await collect(c, cursor).then(
        () => null,
        (e: unknown) => e,
      );
      expect(isConnectorError(err, 'cursor_invalid'), `pull threw ${String(err)}`).toBe(true);
    });

    it('a broken item is reported in `problems` by id while the other items come through', async ({ annotate }) => {
      const good = [await h.userCreate(sampleCard(120)), await h.userCreate(sampleCard(121))];
      const broken = await h.userCreateBroken();
      if (broken === null) {
        expect(broken, 'the harness declares its store cannot hold a broken item').toBeNull();
        await annotate('the harness declares its store cannot hold a broken item: problems not checked');
        return;
      }
      await settle();
      const pages = await collect(c, null);
      const problems = pages.flatMap((p) => p.problems);
      expect(problems.map((p) => p.id)).toContain(broken);
      for (const p of problems) expect(p.message).not.toBe('');
      const items = pages.flatMap((p) => p.items.map((i) => i.id));
      expect(items).toEqual(expect.arrayContaining(good));
      expect(items).not.toContain(broken);
    });

    it('writes on a read-only connector are refused with permission or unsupported', async ({ annotate }) => {
      if (!caps.readOnly) {
        expect(caps.readOnly).toBe(false);
        await annotate('writable connector: writes are checked by the other tests');
        return;
      }
      const id = await h.userCreate(sampleCard(130));
      const before = await h.count();
      const item = (await c.get(id)) as RemoteItem;
      await expectRefused(c.create(sampleCard(131), { marker: nextMarker() }));
      await expectRefused(c.update(id, item.card, { ifMatch: item.etag, changed: changedPaths(caps) }));
      await expectRefused(c.delete(id, { ifMatch: item.etag }));
      expect(await h.count()).toBe(before);
      expect(await c.get(id)).not.toBeNull();
    });
  });
}

// -------------------------------------------------------------------------------------------------
// Helpers (kept here, not in test/, so that the suite ships with the connector kit)

async function collect(
  c: Connector,
  cursor: string | null,
  knownEtag: (id: string) => string | undefined = () => undefined,
): Promise<PullPage[]> {
  const pages: PullPage[] = [];
  for await (const p of c.pull({ cursor, knownEtags: knownEtagsFrom(knownEtag) })) pages.push(p);
  return pages;
}

async function expectRefused(p: Promise<unknown>): Promise<void> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(
    isConnectorError(err, 'permission') || isConnectorError(err, 'unsupported'),
    `expected ConnectorError permission or unsupported, got ${String(err)}`,
  ).toBe(true);
}

let markerCounter = 0;

/** Markers shaped like hub ids (UUIDs), which every provider accepts in its marker slot. */
function nextMarker(): string {
  markerCounter += 1;
  return `00000000-0000-4000-8000-${markerCounter.toString(16).padStart(12, '0')}`;
}

const GIVEN = ['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Donald', 'Frances', 'John'];
const SURNAME = ['Lovelace', 'Hopper', 'Turing', 'Dijkstra', 'Liskov', 'Knuth', 'Allen', 'Backus'];

/**
 * The n-th sample contact: a given name, a surname and one lower-case e-mail, values no provider
 * normalises. The uid is fixed by n.
 */
function sampleCard(n: number): Card {
  const given = `${GIVEN[n % GIVEN.length] ?? 'Ada'}${n}`;
  const surname = SURNAME[n % SURNAME.length] ?? 'Lovelace';
  return {
    '@type': 'Card',
    version: '1.0',
    uid: `urn:uuid:00000000-0000-4000-9000-${n.toString(16).padStart(12, '0')}`,
    name: { components: [{ kind: 'given', value: given }, { kind: 'surname', value: surname }] },
    emails: { e1: { address: `${given.toLowerCase()}@example.org` } },
  };
}

function supports(caps: Capabilities, path: FieldPath): boolean {
  return caps.fields === 'all' || caps.fields.includes(path);
}

/** The paths `sampleCard` fills that the connector stores. */
function changedPaths(caps: Capabilities): FieldPath[] {
  return (['name.given', 'name.surname', 'emails'] as const).filter((p) => supports(caps, p));
}

/** The item shows the sample card's given name, surname and e-mail, as far as the spoke stores them. */
function expectSampleContent(item: RemoteItem, card: Card, caps: Capabilities): void {
  const component = (x: Card, kind: 'given' | 'surname'): string | undefined =>
    x.name?.components?.find((k) => k.kind === kind)?.value;
  const emails = (x: Card): string[] => Object.values(x.emails ?? {}).map((e) => e.address.toLowerCase()).sort();
  if (supports(caps, 'name.given')) expect(component(item.card, 'given')).toBe(component(card, 'given'));
  if (supports(caps, 'name.surname')) expect(component(item.card, 'surname')).toBe(component(card, 'surname'));
  if (supports(caps, 'emails')) expect(emails(item.card)).toEqual(emails(card));
}
