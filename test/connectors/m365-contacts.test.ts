import { afterEach, describe, expect, it } from 'vitest';
import { describeConnectorContract, type ContractHarness } from '../../src/connectors/kit/contract-suite.js';
import type { ConnectorEnv } from '../../src/connectors/kit/contract.js';
import { cardToContact } from '../../src/connectors/m365-contacts/mapping.js';
import { M365ContactsConnector, MARKER_PROPERTY, parseM365ContactsConfig } from '../../src/connectors/m365-contacts/m365-contacts-connector.js';
import { startMicrosoftEmulator, type MicrosoftEmulator } from '../../src/emulators/microsoft/server.js';
import type { Card } from '../../src/model/card.js';
import type { Json } from '../../src/emulators/microsoft/state.js';
import { noKnownEtags } from '../../src/connectors/kit/known-etags.js';

const CLIENT = '11111111-2222-4333-8444-555555555555';

export async function emulatorWithMailbox(opts: { latencyMs?: number } = {}): Promise<MicrosoftEmulator> {
  return startMicrosoftEmulator({
    seed: {
      tenant: { id: 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee', domain: 'contoso.example' },
      apps: [{ clientId: CLIENT, clientSecret: 's3cret', consented: true }],
      users: [{ userPrincipalName: 'adele@contoso.example', givenName: 'Adele', surname: 'Vance' }],
    },
    ...opts,
  });
}

function connectorFor(emu: MicrosoftEmulator, folder: string | null, extra: Partial<ConnectorEnv> = {}): M365ContactsConnector {
  const token = emu.identity.issueAppToken(CLIENT);
  const env: ConnectorEnv & { graphUrl: string } = { now: Date.now, defaultRegion: 'US', auth: { accessToken: async () => token }, graphUrl: emu.url, ...extra };
  return new M365ContactsConnector(parseM365ContactsConfig({ account: `acct-${emu.url}`, mailbox: 'adele@contoso.example', ...(folder ? { folder } : {}) }), env);
}

function stripNulls(c: Json): Json {
  return Object.fromEntries(Object.entries(c).filter(([, v]) => v !== null && !(Array.isArray(v) && v.length === 0)));
}

async function harness(folder: string | null): Promise<ContractHarness> {
  const emu = await emulatorWithMailbox();
  const connector = connectorFor(emu, folder);
  const mb = () => emu.state.mailbox('adele@contoso.example')!;
  const folderId = (): string => {
    if (folder === null) return mb().defaultFolderId;
    const f = [...mb().folders.values()].find((x) => x.displayName === folder);
    return f ? f.id : emu.state.createFolder(mb().userId, folder).id;
  };
  const contact = (id: string) => {
    const c = mb().contacts.get(id);
    if (!c) throw new Error(`no contact ${id}`);
    return c;
  };
  return {
    connector,
    userCreate: async (card: Card) => emu.state.createContact(mb().userId, folderId(), stripNulls(cardToContact(card))).immutableId,
    userUpdate: async (id, card) => emu.state.updateContact(mb().userId, contact(id), cardToContact(card)),
    userDelete: async (id) => emu.state.deleteContact(mb().userId, contact(id)),
    count: async () => [...mb().contacts.values()].filter((c) => c.folderId === folderId()).length,
    userSetUnknownProperty: async (id) => {
      emu.state.updateContact(mb().userId, contact(id), { spouseName: 'kept by the contract suite' });
      return true;
    },
    hasUnknownProperty: async (id) => contact(id).props.spouseName === 'kept by the contract suite',
    // The service handing out a malformed row: written past the API's validation.
    userCreateBroken: async () => emu.state.createContact(mb().userId, folderId(), { givenName: 'Broken', emailAddresses: 'not-a-list' }).immutableId,
    expireCursors: async () => emu.state.expireDeltaTokens(),
    cleanup: async () => {
      await emu.close();
    },
  };
}

describeConnectorContract('m365-contacts (default folder, Graph emulator)', () => harness(null));
describeConnectorContract('m365-contacts (dedicated folder created on demand, Graph emulator)', () => harness('Hubsync'));

describe('m365-contacts specifics', () => {
  let emu: MicrosoftEmulator;
  afterEach(async () => {
    await emu?.close();
  });

  const card = (given: string, surname: string, email: string): Card => ({
    '@type': 'Card',
    version: '1.0',
    uid: `urn:uuid:${given}`,
    name: { components: [{ kind: 'given', value: given }, { kind: 'surname', value: surname }] },
    emails: { e1: { address: email } },
  });

  async function pullAll(c: M365ContactsConnector, cursor: string | null) {
    const pages = [];
    for await (const p of c.pull({ cursor, knownEtags: noKnownEtags })) pages.push(p);
    return pages;
  }

  it('a contact moved to another folder is not reported as deleted; a deleted one is', async () => {
    emu = await emulatorWithMailbox();
    const c = connectorFor(emu, null);
    const mb = emu.state.mailbox('adele@contoso.example')!;
    const a = emu.state.createContact(mb.userId, mb.defaultFolderId, { givenName: 'Moved', surname: 'Away' });
    const b = emu.state.createContact(mb.userId, mb.defaultFolderId, { givenName: 'Really', surname: 'Gone' });
    const cursor = (await pullAll(c, null)).at(-1)?.cursor ?? null;
    const other = emu.state.createFolder(mb.userId, 'Archive');
    emu.state.moveContact(mb.userId, a, other.id);
    emu.state.deleteContact(mb.userId, b);
    const inc = await pullAll(c, cursor);
    expect(inc.flatMap((p) => p.deleted)).toEqual([b.immutableId]);
    const problems = inc.flatMap((p) => p.problems);
    expect(problems.map((p) => p.id)).toEqual([a.immutableId]);
    expect(problems[0]?.message).toMatch(/moved/);
    // The immutable id still reaches the contact after the move.
    expect((await c.get(a.immutableId))?.card.name?.components?.[0]?.value).toBe('Moved');
  });

  it('sends Prefer IdType="ImmutableId" on every request, PATCHes only changed properties with If-Match', async () => {
    emu = await emulatorWithMailbox();
    const seen: { method: string; url: string; prefer: string | null; body: string | null; ifMatch: string | null }[] = [];
    const spy: typeof fetch = async (input, init) => {
      const h = new Headers(init?.headers);
      seen.push({ method: init?.method ?? 'GET', url: String(input), prefer: h.get('prefer'), body: typeof init?.body === 'string' ? init.body : null, ifMatch: h.get('if-match') });
      return fetch(input, init);
    };
    const c = connectorFor(emu, null, { fetch: spy });
    const res = await c.create(card('Ada', 'Lovelace', 'ada@example.org'), { marker: 'm-1' });
    await c.update(res.id, card('Ada', 'King', 'ada@example.org'), { ifMatch: res.etag, changed: ['name.surname'] });
    await pullAll(c, null);
    for (const s of seen) expect(s.prefer).toContain('IdType="ImmutableId"');
    const batches = seen.filter((s) => s.url.endsWith('/$batch')).map((s) => JSON.parse(s.body ?? '{}') as { requests: { method: string; headers: Record<string, string>; body?: Record<string, unknown> }[] });
    const patch = batches.flatMap((b) => b.requests).find((r) => r.method === 'PATCH');
    expect(Object.keys(patch?.body ?? {}).sort()).toEqual(['displayName', 'surname']);
    expect(patch?.headers['if-match']).toBe(res.etag);
    for (const r of batches.flatMap((b) => b.requests)) expect(r.headers.prefer).toContain('IdType="ImmutableId"');
    const stored = [...emu.state.mailbox('adele@contoso.example')!.contacts.values()][0]!;
    expect(stored.ext.get(MARKER_PROPERTY)).toBe('m-1');
  });

  it('coalesces concurrent writes into $batch requests of at most 20, with at most 4 in flight per mailbox', async () => {
    emu = await emulatorWithMailbox({ latencyMs: 5 });
    const c1 = connectorFor(emu, null);
    const c2 = connectorFor(emu, null); // two connectors of one mailbox share the gate
    await Promise.all(Array.from({ length: 90 }, (_, i) => (i % 2 ? c1 : c2).create(card(`P${i}`, 'Batch', `p${i}@example.org`), { marker: `m${i}` })));
    expect(emu.state.mailbox('adele@contoso.example')!.contacts.size).toBe(90);
    expect(emu.counts.get('POST /$batch')).toBeGreaterThanOrEqual(5);
    expect(emu.counts.get('POST /$batch')).toBeLessThanOrEqual(9);
    expect(emu.counts.concurrencyRejections).toBe(0);
    expect(emu.counts.highestInFlight()).toBeLessThanOrEqual(4);
  });

  it('429 and 5xx inside and around $batch are retried; the writes land once', async () => {
    emu = await emulatorWithMailbox();
    emu.faults.add({ status: 429, scope: 'item', retryAfter: 0, times: 3, code: 'ApplicationThrottled', message: 'Application is over its MailboxConcurrency limit.' });
    emu.faults.add({ status: 503, path: '/$batch', scope: 'request', retryAfter: 0, times: 1 });
    emu.faults.add({ status: 503, scope: 'item', retryAfter: 0, times: 2 });
    emu.faults.add({ status: 500, scope: 'item', method: 'PATCH', times: 2 });
    const c = connectorFor(emu, null);
    const made = await Promise.all(Array.from({ length: 10 }, (_, i) => c.create(card(`R${i}`, 'Retry', `r${i}@example.org`), { marker: `r${i}` })));
    expect(emu.state.mailbox('adele@contoso.example')!.contacts.size).toBe(10);
    await Promise.all(made.map((m, i) => c.update(m.id, card(`R${i}`, 'Again', `r${i}@example.org`), { ifMatch: m.etag, changed: ['name.surname'] })));
    expect([...emu.state.mailbox('adele@contoso.example')!.contacts.values()].every((x) => x.props.surname === 'Again')).toBe(true);
  });

  it('a 500 on a create is not repeated by the connector (it may have been applied): transient, for the engine to recover by marker', async () => {
    emu = await emulatorWithMailbox();
    emu.faults.add({ status: 500, scope: 'item', method: 'POST', times: 1 });
    const c = connectorFor(emu, null);
    await expect(c.create(card('Once', 'Only', 'once@example.org'), { marker: 'once' })).rejects.toMatchObject({ kind: 'transient' });
    expect(emu.state.mailbox('adele@contoso.example')!.contacts.size).toBe(0);
  });

  it('a 400 on one item fails that item with invalid_data and a clear message; the rest of the batch lands', async () => {
    emu = await emulatorWithMailbox();
    const c = connectorFor(emu, null);
    const bad = { ...card('Bad', 'Date', 'bad@example.org'), anniversaries: { b: { kind: 'birth', date: { year: 2020, month: 2, day: 31 } } } } as Card;
    const results = await Promise.allSettled([c.create(card('Good', 'One', 'g1@example.org'), { marker: 'g1' }), c.create(bad, { marker: 'b1' }), c.create(card('Good', 'Two', 'g2@example.org'), { marker: 'g2' })]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    const err = (results[1] as PromiseRejectedResult).reason as { kind: string; message: string };
    expect(err.kind).toBe('invalid_data');
    expect(err.message).toMatch(/DateTimeOffset|birthday|2020-02-31/);
  });

  it('an expired delta link answers 410 and becomes cursor_invalid', async () => {
    emu = await emulatorWithMailbox();
    const c = connectorFor(emu, null);
    const cursor = (await pullAll(c, null)).at(-1)?.cursor ?? null;
    emu.state.expireDeltaTokens();
    await expect(pullAll(c, cursor)).rejects.toMatchObject({ kind: 'cursor_invalid' });
  });

  it('an updated row with only the changed properties is read whole: nothing looks cleared', async () => {
    emu = await emulatorWithMailbox();
    emu.graph.minimalDeltaUpdates = true;
    const c = connectorFor(emu, null);
    const mb = emu.state.mailbox('adele@contoso.example')!;
    const x = emu.state.createContact(mb.userId, mb.defaultFolderId, { givenName: 'Part', surname: 'Ial', emailAddresses: [{ address: 'part@example.org', name: 'P' }] });
    const cursor = (await pullAll(c, null)).at(-1)?.cursor ?? null;
    emu.state.updateContact(mb.userId, x, { jobTitle: 'Tester' });
    const items = (await pullAll(c, cursor)).flatMap((p) => p.items);
    expect(items).toHaveLength(1);
    expect(items[0]?.card).toMatchObject({ emails: { e1: { address: 'part@example.org' } }, titles: { t1: { name: 'Tester' } } });
    expect(emu.counts.batchItems.get('GET /users/{id}/contacts/{id}')).toBe(1);
  });

  it('photos go both ways', async () => {
    emu = await emulatorWithMailbox();
    const c = connectorFor(emu, null);
    const png = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex').toString('base64');
    const withPhoto: Card = { ...card('Pic', 'Ture', 'pic@example.org'), media: { p: { kind: 'photo', uri: `data:image/png;base64,${png}` } } };
    const res = await c.create(withPhoto, { marker: 'ph' });
    const stored = emu.state.mailbox('adele@contoso.example')!.contacts.get(res.id)!;
    expect(stored.photo?.contentType).toBe('image/png');
    expect(res.echoed?.card.media?.ph?.uri).toBe(`data:image/png;base64,${png}`);
    const listed = (await pullAll(c, null)).flatMap((p) => p.items);
    expect(listed[0]?.card.media?.ph?.uri).toBe(`data:image/png;base64,${png}`);
  });
});
