/**
 * The Google emulator answers as the documentation says (api-spec §1, §3): statuses, error bodies,
 * limits and sync-token rules, checked over plain HTTP.
 */
import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startDemoGoogle, startGoogle, type GoogleEmulator } from '../../src/emulators/google/index.js';

let emu: GoogleEmulator;
let token: string;

beforeEach(async () => {
  emu = await startGoogle({
    seed: {
      users: [{ email: 'ada@example.org', contacts: [{ names: [{ givenName: 'Ada' }] }, { names: [{ givenName: 'Grace' }] }, { names: [{ givenName: 'Alan' }] }] }],
      options: { readsPerMinute: 50 },
    },
  });
  const rt = emu.state.mintRefreshToken('ada@example.org', 'c');
  const r = await post('/token', new URLSearchParams({ grant_type: 'refresh_token', refresh_token: rt, client_id: 'c' }));
  token = ((await r.json()) as { access_token: string }).access_token;
});
afterEach(() => emu.close());

function post(path: string, body: URLSearchParams): Promise<Response> {
  return fetch(`${emu.url}${path}`, { method: 'POST', body });
}

async function api(method: string, path: string, json?: unknown): Promise<{ status: number; body: { error?: { code: number; status: string; message: string; details?: { reason?: string }[] } } & Record<string, unknown> }> {
  const r = await fetch(`${emu.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(json === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(json === undefined ? {} : { body: JSON.stringify(json) }),
  });
  return { status: r.status, body: (await r.json()) as never };
}

describe('Google emulator: People API', () => {
  it('requires a bearer token (401 UNAUTHENTICATED) and personFields (400 INVALID_ARGUMENT)', async () => {
    const r = await fetch(`${emu.url}/v1/people/me/connections?personFields=names`);
    expect(r.status).toBe(401);
    expect(((await r.json()) as { error: { status: string } }).error.status).toBe('UNAUTHENTICATED');
    const m = await api('GET', '/v1/people/me/connections');
    expect(m.status).toBe(400);
    expect(m.body.error?.status).toBe('INVALID_ARGUMENT');
    expect((await api('GET', '/v1/people/me/connections?personFields=names&pageSize=1001')).status).toBe(400);
  });

  it('pages, sync token on the last page only, deleted people only in incremental responses, params must match', async () => {
    const p1 = await api('GET', '/v1/people/me/connections?personFields=names,metadata&pageSize=2&requestSyncToken=true');
    expect(p1.body.connections).toHaveLength(2);
    expect(p1.body.nextSyncToken).toBeUndefined();
    const p2 = await api('GET', `/v1/people/me/connections?personFields=names,metadata&pageSize=2&requestSyncToken=true&pageToken=${String(p1.body.nextPageToken)}`);
    expect(p2.body.connections).toHaveLength(1);
    const sync = String(p2.body.nextSyncToken);
    expect(sync).not.toBe('undefined');
    const victim = (p1.body.connections as { resourceName: string }[])[0]?.resourceName ?? '';
    expect((await api('DELETE', `/v1/${victim}:deleteContact`)).body).toEqual({});
    const full = await api('GET', '/v1/people/me/connections?personFields=names,metadata&pageSize=2');
    expect((full.body.connections as { metadata?: { deleted?: boolean } }[]).some((p) => p.metadata?.deleted)).toBe(false);
    const inc = await api('GET', `/v1/people/me/connections?personFields=names,metadata&pageSize=2&requestSyncToken=true&syncToken=${encodeURIComponent(sync)}`);
    expect(inc.body.connections).toEqual([expect.objectContaining({ resourceName: victim, metadata: expect.objectContaining({ deleted: true }) as unknown })]);
    const mismatch = await api('GET', `/v1/people/me/connections?personFields=names&pageSize=2&requestSyncToken=true&syncToken=${encodeURIComponent(sync)}`);
    expect(mismatch.status).toBe(400);
    emu.state.expireSyncTokens();
    const expired = await api('GET', `/v1/people/me/connections?personFields=names,metadata&pageSize=2&requestSyncToken=true&syncToken=${encodeURIComponent(sync)}`);
    expect(expired.status).toBe(400);
    expect(expired.body.error?.details?.[0]?.reason).toBe('EXPIRED_SYNC_TOKEN');
    expect(expired.body.error?.message).toBe('Sync token is expired. Clear local cache and retry call without the sync token.');
  });

  it('updateContact: etag required and checked (400 FAILED_PRECONDITION), masked fields replaced, others kept', async () => {
    const c = await api('POST', '/v1/people:createContact?personFields=names,nicknames,metadata', { names: [{ givenName: 'Edsger' }], nicknames: [{ value: 'EWD' }] });
    const rn = String(c.body.resourceName);
    const noEtag = await api('PATCH', `/v1/${rn}:updateContact?updatePersonFields=names`, { names: [{ givenName: 'E' }] });
    expect(noEtag.status).toBe(400);
    const stale = await api('PATCH', `/v1/${rn}:updateContact?updatePersonFields=names`, { etag: 'stale', names: [{ givenName: 'E' }] });
    expect(stale.status).toBe(400);
    expect(stale.body.error?.status).toBe('FAILED_PRECONDITION');
    expect(stale.body.error?.message).toMatch(/person.etag is different/);
    const okUpd = await api('PATCH', `/v1/${rn}:updateContact?updatePersonFields=names&personFields=names,nicknames`, { etag: c.body.etag, names: [{ givenName: 'E.W.' }], nicknames: [] });
    expect(okUpd.status).toBe(200);
    expect((okUpd.body.names as { givenName: string }[])[0]?.givenName).toBe('E.W.');
    expect((okUpd.body.nicknames as { value: string }[])[0]?.value).toBe('EWD');
    expect(okUpd.body.etag).not.toBe(c.body.etag);
    const two = await api('POST', '/v1/people:createContact', { names: [{ givenName: 'A' }, { givenName: 'B' }] });
    expect(two.status).toBe(400);
    const noGroup = await api('PATCH', `/v1/${rn}:updateContact?updatePersonFields=memberships`, { etag: okUpd.body.etag, memberships: [] });
    expect(noGroup.status).toBe(400);
  });

  it('enforces the batch limits: 200 creates, 200 updates, 500 deletes', async () => {
    const many = (n: number) => Array.from({ length: n }, (_, i) => ({ contactPerson: { names: [{ givenName: `P${i}` }] } }));
    expect((await api('POST', '/v1/people:batchCreateContacts', { contacts: many(201), readMask: 'names' })).status).toBe(400);
    const created = await api('POST', '/v1/people:batchCreateContacts', { contacts: many(200), readMask: 'names' });
    expect(created.status).toBe(200);
    expect(created.body.createdPeople).toHaveLength(200);
    const names = (created.body.createdPeople as { person: { resourceName: string } }[]).map((p) => p.person.resourceName);
    expect((await api('POST', '/v1/people:batchDeleteContacts', { resourceNames: [...names, ...names, ...names].slice(0, 501) })).status).toBe(400);
    expect((await api('POST', '/v1/people:batchDeleteContacts', { resourceNames: names })).status).toBe(200);
    expect(emu.counts.byRoute['people.batchCreateContacts']).toBe(2);
  });

  it('per-user quota: 429 RESOURCE_EXHAUSTED with the documented body', async () => {
    let last = { status: 200, body: {} as Awaited<ReturnType<typeof api>>['body'] };
    for (let i = 0; i < 51; i++) last = await api('GET', '/v1/people/me/connections?personFields=names');
    expect(last.status).toBe(429);
    expect(last.body.error?.status).toBe('RESOURCE_EXHAUSTED');
  });

  it('updateContactPhoto is PATCH and takes JPEG/PNG only; the photo is served at its URL', async () => {
    const c = await api('POST', '/v1/people:createContact', { names: [{ givenName: 'Pic' }] });
    const rn = String(c.body.resourceName);
    const png = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');
    expect((await api('POST', `/v1/${rn}:updateContactPhoto`, { photoBytes: png.toString('base64') })).status).toBe(404);
    expect((await api('PATCH', `/v1/${rn}:updateContactPhoto`, { photoBytes: Buffer.from('GIF89a').toString('base64') })).status).toBe(400);
    const r = await api('PATCH', `/v1/${rn}:updateContactPhoto`, { photoBytes: png.toString('base64'), personFields: 'photos' });
    const url = (r.body.person as { photos: { url: string; default?: boolean }[] }).photos[0];
    expect(url?.default).toBeUndefined();
    expect(Buffer.from(await (await fetch(url?.url ?? '')).arrayBuffer())).toEqual(png);
  });
});

describe('Google emulator: OAuth', () => {
  it('authorization code with PKCE: a wrong verifier is invalid_grant; the right one gets a refresh token', async () => {
    const verifier = 'v'.repeat(50);
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const q = new URLSearchParams({ client_id: 'c', redirect_uri: 'http://127.0.0.1:9/cb', response_type: 'code', scope: 'email', state: 's', code_challenge: challenge, code_challenge_method: 'S256', access_type: 'offline' });
    const page = await (await fetch(`${emu.url}/o/oauth2/v2/auth?${q.toString()}`)).text();
    expect(page).toContain('<button type="submit" name="decision" value="allow">');
    const approve = async () => {
      const r = await fetch(`${emu.url}/o/oauth2/v2/auth`, { method: 'POST', body: new URLSearchParams({ ...Object.fromEntries(q), account: 'ada@example.org', decision: 'allow' }), redirect: 'manual' });
      const loc = new URL(r.headers.get('location') ?? '');
      expect(loc.searchParams.get('state')).toBe('s');
      return loc.searchParams.get('code') ?? '';
    };
    const bad = await post('/token', new URLSearchParams({ grant_type: 'authorization_code', code: await approve(), client_id: 'c', redirect_uri: 'http://127.0.0.1:9/cb', code_verifier: 'w'.repeat(50) }));
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toBe('invalid_grant');
    const good = await post('/token', new URLSearchParams({ grant_type: 'authorization_code', code: await approve(), client_id: 'c', redirect_uri: 'http://127.0.0.1:9/cb', code_verifier: verifier }));
    const body = (await good.json()) as { refresh_token?: string; expires_in: number; token_type: string };
    expect(body).toMatchObject({ expires_in: 3599, token_type: 'Bearer' });
    expect(body.refresh_token).toMatch(/^1\/\//);
    emu.state.revokeUser('ada@example.org');
    const refused = await post('/token', new URLSearchParams({ grant_type: 'refresh_token', refresh_token: body.refresh_token ?? '', client_id: 'c' }));
    expect(refused.status).toBe(400);
    expect(await refused.json()).toEqual({ error: 'invalid_grant', error_description: 'Token has been expired or revoked.' });
  });
});

describe('Google emulator: demo', () => {
  it('startDemoGoogle serves two sample accounts with realistic contacts, a third of them in both', async () => {
    const demo = await startDemoGoogle({ perUser: 30 });
    try {
      const [a, b] = [...demo.state.users.values()].map((u) => demo.state.contactsOf(u.email));
      expect(a).toHaveLength(30);
      expect(b).toHaveLength(30);
      const emails = (xs: typeof a) => new Set((xs ?? []).map((p) => p.emailAddresses?.[0]?.value));
      const shared = [...emails(a)].filter((e) => emails(b).has(e));
      expect(shared).toHaveLength(10);
      expect((a ?? []).every((p) => p.names?.[0]?.givenName && p.phoneNumbers?.length)).toBe(true);
    } finally {
      await demo.close();
    }
  });
});
