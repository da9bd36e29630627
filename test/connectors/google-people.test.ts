/**
 * What the Google Contacts connector does beyond the shared contract, against the emulator: batched
 * and sequential writes, field masks, sync-token expiry whatever its status, propagation delay,
 * markers, groups, photos, throttling, and bad data from the API handled item by item.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { refreshGoogleToken, googleTokenRefresher } from '../../src/accounts/google.js';
import type { PullPage, RemoteItem } from '../../src/connectors/kit/contract.js';
import { isConnectorError } from '../../src/connectors/kit/errors.js';
import type { UserState } from '../../src/emulators/google/state.js';
import type { Card } from '../../src/model/card.js';
import { makeCard } from '../support/cards.js';
import { googleRig, oauthSettings, type GoogleRig } from './google-support.js';
import { knownEtagsFrom } from '../../src/connectors/kit/known-etags.js';

let rig: GoogleRig | null = null;
afterEach(async () => {
  await rig?.close();
  rig = null;
});

async function pullAll(r: GoogleRig, cursor: string | null = null, known: Record<string, string> = {}): Promise<PullPage[]> {
  const pages: PullPage[] = [];
  for await (const p of r.connector.pull({ cursor, knownEtags: knownEtagsFrom((id) => known[id]) })) pages.push(p);
  return pages;
}

const person = (i: number): Card => makeCard({ uid: `urn:uuid:p${i}`, given: `Given${i}`, surname: `Family${i}`, emails: [`p${i}@example.org`] });

const calls = (r: GoogleRig, path: string) => r.sent.filter((s) => s.path.startsWith(path)).length;

function userOf(r: GoogleRig): UserState {
  return r.emu.state.userByEmail(r.email) as UserState;
}

describe('google-contacts: writes', () => {
  it('coalesces concurrent creates into batchCreateContacts of at most 200, one request in flight per account', async () => {
    rig = await googleRig();
    const results = await Promise.all(Array.from({ length: 450 }, (_, i) => rig?.connector.create(person(i), { marker: `m-${i}` })));
    expect(calls(rig, '/v1/people:batchCreateContacts')).toBe(3);
    expect(rig.maxMutatesInFlight()).toBe(1);
    expect(new Set(results.map((r) => r?.id)).size).toBe(450);
    // Each caller got its own contact back, with its marker.
    expect(results[17]?.echoed?.marker).toBe('m-17');
    expect(results[17]?.echoed?.card.name?.components).toContainEqual({ kind: 'given', value: 'Given17' });
    const bodies = rig.sent.filter((s) => s.path.startsWith('/v1/people:batchCreateContacts')).map((s) => (s.body as { contacts: unknown[] }).contacts.length);
    expect(bodies).toEqual([200, 200, 50]);
  });

  it('updates send the etag and a mask of only the changed fields, batched per mask', async () => {
    rig = await googleRig();
    const a = await rig.connector.create(person(1), { marker: 'a' });
    const b = await rig.connector.create(person(2), { marker: 'b' });
    rig.sent.length = 0;
    const next = (c: Card): Card => ({ ...c, titles: { t: { name: 'Engineer', kind: 'title' } } });
    await Promise.all([
      rig.connector.update(a.id, next(person(1)), { ifMatch: a.etag, changed: ['title'] }),
      rig.connector.update(b.id, next(person(2)), { ifMatch: b.etag, changed: ['title'] }),
    ]);
    const sent = rig.sent.filter((s) => s.path.startsWith('/v1/people:batchUpdateContacts'));
    expect(sent).toHaveLength(1);
    const body = sent[0]?.body as { updateMask: string; contacts: Record<string, { etag: string; names?: unknown }> };
    expect(body.updateMask).toBe('organizations');
    expect(body.contacts[a.id]?.etag).toBe(a.etag?.split('|')[0]);
    expect(body.contacts[a.id]?.names).toBeUndefined();
  });

  it('an etag mismatch is a conflict for that item only; the others of the batch are written', async () => {
    rig = await googleRig();
    const a = await rig.connector.create(person(1), { marker: 'a' });
    const b = await rig.connector.create(person(2), { marker: 'b' });
    const user = userOf(rig);
    const rec = rig.emu.state.current(user, a.id.slice(7));
    if (!rec) throw new Error('missing');
    rig.emu.state.updateContact(user, a.id.slice(7), { etag: rig.emu.state.etagOf(rec), nicknames: [{ value: 'Someone else edited me' }] }, ['nicknames']);
    const out = await Promise.allSettled([
      rig.connector.update(a.id, { ...person(1), nicknames: { n: { name: 'Hub' } } }, { ifMatch: a.etag, changed: ['nickname'] }),
      rig.connector.update(b.id, { ...person(2), nicknames: { n: { name: 'Hub' } } }, { ifMatch: b.etag, changed: ['nickname'] }),
    ]);
    expect(out[0]?.status).toBe('rejected');
    expect(isConnectorError((out[0] as PromiseRejectedResult).reason, 'conflict')).toBe(true);
    expect(out[1]?.status).toBe('fulfilled');
    expect((await rig.connector.get(a.id))?.card.nicknames).toEqual({ nickname: { name: 'Someone else edited me' } });
    expect((await rig.connector.get(b.id))?.card.nicknames).toEqual({ nickname: { name: 'Hub' } });
  });

  it('deletes go in batchDeleteContacts (≤ 500) after one etag check; missing ones count as deleted', async () => {
    rig = await googleRig();
    const made = await Promise.all(Array.from({ length: 30 }, (_, i) => rig?.connector.create(person(i), { marker: `d${i}` })));
    rig.emu.state.deleteContact(userOf(rig), (made[0]?.id ?? '').slice(7));
    rig.sent.length = 0;
    await Promise.all(made.map((m) => rig?.connector.delete(m?.id ?? '', { ifMatch: m?.etag ?? null })));
    expect(calls(rig, '/v1/people:batchGet')).toBe(1);
    expect(calls(rig, '/v1/people:batchDeleteContacts')).toBe(1);
    expect(rig.emu.state.contactsOf(rig.email)).toHaveLength(0);
  });

  it('a 5xx on a batch create is not retried (creates are not idempotent): the outcome is left uncertain', async () => {
    rig = await googleRig();
    rig.emu.faults.failNext(1, { status: 503, route: 'people.batchCreateContacts' });
    const err = await rig.connector.create(person(1), { marker: 'x' }).catch((e: unknown) => e);
    expect(isConnectorError(err, 'transient')).toBe(true);
    expect(calls(rig, '/v1/people:batchCreateContacts')).toBe(1);
  });

  it('429 RESOURCE_EXHAUSTED is waited out (Retry-After honoured) and the create goes through once', async () => {
    rig = await googleRig();
    rig.emu.faults.failNext(2, { status: 429, route: 'people.batchCreateContacts', retryAfterSeconds: 0 });
    const res = await rig.connector.create(person(1), { marker: 'y' });
    expect(res.id).toMatch(/^people\/c/);
    expect(calls(rig, '/v1/people:batchCreateContacts')).toBe(3);
    expect(rig.emu.state.contactsOf(rig.email)).toHaveLength(1);
  });

  it('keywords become contact groups (created when missing); photos go both ways', async () => {
    rig = await googleRig({ users: [{ email: 'ada@example.org', groups: ['Family'] }] });
    const png = Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000', 'hex');
    const card: Card = { ...person(1), keywords: { Family: true, Golf: true }, media: { p: { kind: 'photo', uri: `data:image/png;base64,${png.toString('base64')}` } } };
    const res = await rig.connector.create(card, { marker: 'g' });
    expect(calls(rig, '/v1/contactGroups')).toBe(2); // one list, one create ("Golf")
    const got = (await rig.connector.get(res.id)) as RemoteItem;
    expect(got.card.keywords).toEqual({ Family: true, Golf: true });
    expect(got.card.media?.photo?.uri).toBe(`data:image/png;base64,${png.toString('base64')}`);
    expect(res.echoed?.card.media?.photo?.uri).toBe(got.card.media?.photo?.uri);
    await rig.connector.update(res.id, person(1), { ifMatch: got.etag, changed: ['photo', 'keywords'] });
    const after = (await rig.connector.get(res.id)) as RemoteItem;
    expect(after.card.media).toBeUndefined();
    expect(after.card.keywords).toBeUndefined();
  });
});

describe('google-contacts: reading', () => {
  it('EXPIRED_SYNC_TOKEN is cursor_invalid whatever the status (FAILED_PRECONDITION or INVALID_ARGUMENT)', async () => {
    for (const status of ['FAILED_PRECONDITION', 'INVALID_ARGUMENT'] as const) {
      rig = await googleRig({ users: [{ email: 'ada@example.org', contacts: [{ names: [{ givenName: 'A' }] }] }], options: { expiredTokenStatus: status } });
      const cursor = (await pullAll(rig)).at(-1)?.cursor ?? null;
      rig.emu.state.expireSyncTokens();
      const err = await pullAll(rig, cursor).catch((e: unknown) => e);
      expect(isConnectorError(err, 'cursor_invalid'), `${status}: ${String(err)}`).toBe(true);
      await rig.close();
      rig = null;
    }
  });

  it('tokens expire 7 days after the full sync', async () => {
    let now = Date.now();
    rig = await googleRig({ users: [{ email: 'ada@example.org', contacts: [{ names: [{ givenName: 'A' }] }] }] });
    rig.emu.state.now = () => now;
    let cursor = (await pullAll(rig)).at(-1)?.cursor ?? null;
    now += 6 * 24 * 3600_000;
    cursor = (await pullAll(rig, cursor)).at(-1)?.cursor ?? null;
    now += 2 * 24 * 3600_000;
    const err = await pullAll(rig, cursor).catch((e: unknown) => e);
    expect(isConnectorError(err, 'cursor_invalid')).toBe(true);
  });

  it('writes show in sync results only after the propagation delay; a full read still finds them by marker', async () => {
    let now = Date.now();
    rig = await googleRig({ users: [{ email: 'ada@example.org' }], options: { propagationDelayMs: 120_000 } });
    rig.emu.state.now = () => now;
    const cursor = (await pullAll(rig)).at(-1)?.cursor ?? null;
    const made = await rig.connector.create(person(1), { marker: 'late' });
    expect((await pullAll(rig, cursor)).flatMap((p) => p.items)).toEqual([]);
    expect((await rig.connector.findByMarker('late')).map((i) => i.id)).toEqual([made.id]);
    now += 121_000;
    expect((await pullAll(rig, cursor)).flatMap((p) => p.items.map((i) => i.id))).toEqual([made.id]);
  });

  it('a listing that still shows an older version than ours (our update not yet visible) is not taken for an edit', async () => {
    let now = Date.now();
    rig = await googleRig({ users: [{ email: 'ada@example.org' }], options: { propagationDelayMs: 120_000 } });
    rig.emu.state.now = () => now;
    const cursor = (await pullAll(rig)).at(-1)?.cursor ?? null;
    const made = await rig.connector.create(person(1), { marker: 'v' });
    now += 1000;
    const upd = await rig.connector.update(made.id, { ...person(1), nicknames: { n: { name: 'New' } } }, { ifMatch: made.etag, changed: ['nickname'] });
    now += 119_500; // the create is visible to sync requests, the update not yet
    const pages = await pullAll(rig, cursor, { [made.id]: upd.etag ?? '' });
    expect(pages.flatMap((p) => p.items)).toEqual([]);
    expect(pages.flatMap((p) => p.unchanged)).toEqual([made.id]);
    now += 1000; // now it is: same version as the hub's, still unchanged
    expect((await pullAll(rig, cursor, { [made.id]: upd.etag ?? '' })).flatMap((p) => p.unchanged)).toEqual([made.id]);
  });

  it('after an expired token, the full re-listing does not bring back a person we just deleted (not yet visible)', async () => {
    let now = Date.now();
    rig = await googleRig({ users: [{ email: 'ada@example.org', contacts: [{ names: [{ givenName: 'Keep' }] }, { names: [{ givenName: 'Gone' }] }] }], options: { propagationDelayMs: 120_000 } });
    rig.emu.state.now = () => now;
    now += 200_000;
    const first = await pullAll(rig);
    const cursor = first.at(-1)?.cursor ?? null;
    const known = Object.fromEntries(first.flatMap((p) => p.items).map((i) => [i.id, i.etag ?? '']));
    const gone = first.flatMap((p) => p.items).find((i) => i.card.name?.components?.[0]?.value === 'Gone') as RemoteItem;
    await rig.connector.delete(gone.id, { ifMatch: gone.etag });
    delete known[gone.id]; // the hub dropped its link after the delete
    rig.emu.state.expireSyncTokens();
    const err = await pullAll(rig, cursor, known).catch((e: unknown) => e);
    expect(isConnectorError(err, 'cursor_invalid')).toBe(true);
    const again = await pullAll(rig, null, known);
    expect(again.flatMap((p) => p.items.map((i) => i.id))).toEqual([]);
    expect(again.flatMap((p) => p.unchanged)).toHaveLength(1);
  });

  it('a no-op incremental pull is one request', async () => {
    rig = await googleRig({ users: [{ email: 'ada@example.org', contacts: Array.from({ length: 50 }, (_, i) => ({ names: [{ givenName: `N${i}` }] })) }] });
    const cursor = (await pullAll(rig)).at(-1)?.cursor ?? null;
    rig.sent.length = 0;
    const pages = await pullAll(rig, cursor);
    expect(rig.sent).toHaveLength(1);
    expect(pages.flatMap((p) => [...p.items, ...p.unchanged, ...p.deleted])).toEqual([]);
  });

  it('bad data from the API is handled per item: unexpected fields, no name, a 10,000-character note, an invalid e-mail, a malformed person', async () => {
    const note = 'n'.repeat(10_000);
    rig = await googleRig({
      users: [
        {
          email: 'ada@example.org',
          contacts: [
            { names: [{ givenName: 'Odd' }], emailAddresses: [{ value: 'odd@example.org' }], ...({ someFutureField: [{ x: 1 }] } as object) },
            { emailAddresses: [{ value: 'no-name@example.org' }] },
            { names: [{ givenName: 'Long' }], biographies: [{ value: note }] },
            { names: [{ givenName: 'Bad' }], emailAddresses: [{ value: 'not an e-mail' }] },
            { names: [{ givenName: 'Broken' }] },
          ],
        },
      ],
    });
    const user = userOf(rig);
    const broken = [...user.contacts.values()].at(-1);
    if (!broken) throw new Error('no broken person');
    (rig.emu.state.latest(broken).person as Record<string, unknown>).phoneNumbers = [42];
    const pages = await pullAll(rig);
    const items = pages.flatMap((p) => p.items);
    expect(items).toHaveLength(4);
    const problems = pages.flatMap((p) => p.problems);
    expect(problems).toEqual([{ id: `people/${broken.id}`, message: expect.stringContaining('phoneNumbers') as unknown as string }]);
    expect(items.find((i) => i.card.name?.components?.[0]?.value === 'Long')?.card.notes?.note?.note).toHaveLength(10_000);
    expect(items.some((i) => i.card.emails?.e1?.address === 'not an e-mail')).toBe(true);
    expect(items.some((i) => i.card.name === undefined && i.card.emails?.e1?.address === 'no-name@example.org')).toBe(true);
  });
});

describe('google accounts: token refresh', () => {
  it('refreshes through the token endpoint; a revoked refresh token is auth_revoked (invalid_grant)', async () => {
    rig = await googleRig();
    const refresh = rig.emu.state.mintRefreshToken(rig.email, 'hubsync-test-client');
    const grant = await refreshGoogleToken(oauthSettings(rig.emu.url), refresh);
    expect(grant.accessToken).toMatch(/^ya29\./);
    expect(grant.expiresAt).toBeGreaterThan(Date.now() + 3000_000);
    rig.emu.state.revokeUser(rig.email);
    const refresher = googleTokenRefresher(oauthSettings(rig.emu.url));
    const account = { id: 'a', provider: 'google', name: rig.email, kind: 'user' as const, settings: {}, state: 'ok' as const, lastError: null, createdAt: 0, updatedAt: 0 };
    const err = await refresher(account, { refreshToken: refresh }).catch((e: unknown) => e);
    expect(isConnectorError(err, 'auth_revoked')).toBe(true);
  });
});
