import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import type { Account } from '../../src/accounts/accounts.js';
import { beginUserLogin, finishUserLogin, microsoftEndpoints, microsoftRefresher, splitPem } from '../../src/accounts/microsoft.js';
import { startMicrosoftEmulator, type MicrosoftEmulator } from '../../src/emulators/microsoft/server.js';

const TENANT = 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee';
const APP = '11111111-2222-4333-8444-555555555555';
const CERT_APP = '99999999-2222-4333-8444-555555555555';
const pem = splitPem(readFileSync(new URL('../fixtures/microsoft/app-cert.pem', import.meta.url), 'utf8'));

let emu: MicrosoftEmulator;
afterEach(async () => {
  await emu?.close();
});

async function start(consented = true, latencyMs = 0): Promise<MicrosoftEmulator> {
  emu = await startMicrosoftEmulator({
    latencyMs,
    seed: {
      tenant: { id: TENANT, domain: 'contoso.example' },
      apps: [
        { clientId: APP, clientSecret: 's3cret', consented },
        { clientId: CERT_APP, certificatePem: pem.certificatePem, consented },
      ],
      users: [
        { userPrincipalName: 'adele@contoso.example', givenName: 'Adele', surname: 'Vance' },
        { userPrincipalName: 'room1@contoso.example', displayName: 'Room 1', mailbox: 'room', accountEnabled: false },
      ],
    },
  });
  return emu;
}

function account(kind: 'organization' | 'user', clientId = APP): Account {
  return { id: 'a1', provider: 'microsoft', name: 'contoso', kind, settings: { tenant: TENANT, clientId }, state: 'ok', lastError: null, createdAt: 0, updatedAt: 0 };
}

const endpoints = (e: MicrosoftEmulator) => ({ HUBSYNC_MS_LOGIN_URL: e.url, HUBSYNC_GRAPH_URL: e.url });

async function graph(e: MicrosoftEmulator, token: string, path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${e.url}/v1.0${path}`, { ...init, headers: { authorization: `Bearer ${token}`, ...(init.headers as Record<string, string> | undefined) } });
}

describe('Microsoft identity emulator and account refreshers', () => {
  it('client credentials with a secret give an app-only token Graph accepts', async () => {
    await start();
    const grant = await microsoftRefresher(endpoints(emu))(account('organization'), { clientSecret: 's3cret' });
    expect(grant.refreshToken).toBeUndefined();
    const r = await graph(emu, grant.accessToken, '/users?$select=id,mail');
    expect(r.status).toBe(200);
    expect(((await r.json()) as { value: unknown[] }).value).toHaveLength(2);
  });

  it('client credentials with a certificate (x5t, aud = token endpoint) work', async () => {
    await start();
    const grant = await microsoftRefresher(endpoints(emu))(account('organization', CERT_APP), pem);
    expect((await graph(emu, grant.accessToken, '/users')).status).toBe(200);
  });

  it('a wrong secret is auth_revoked; a scope without /.default is refused with an AADSTS body', async () => {
    await start();
    await expect(microsoftRefresher(endpoints(emu))(account('organization'), { clientSecret: 'nope' })).rejects.toMatchObject({ kind: 'auth_revoked' });
    const r = await fetch(`${emu.url}/${TENANT}/oauth2/v2.0/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: APP, client_secret: 's3cret', scope: 'https://graph.microsoft.com/Contacts.Read' }),
    });
    expect(r.status).toBe(400);
    const body = (await r.json()) as Record<string, unknown>;
    expect(body.error).toBe('invalid_scope');
    expect(body.error_codes).toEqual([1002012]);
    expect(String(body.error_description)).toMatch(/^AADSTS1002012: .*\r\nTrace ID: /);
    for (const k of ['timestamp', 'trace_id', 'correlation_id']) expect(body).toHaveProperty(k);
  });

  it('admin consent: app-only calls are refused until an admin consents, then work', async () => {
    await start(false);
    const grant = await microsoftRefresher(endpoints(emu))(account('organization'), { clientSecret: 's3cret' });
    expect((await graph(emu, grant.accessToken, '/users')).status).toBe(403);
    const consent = await fetch(`${emu.url}/${TENANT}/adminconsent?client_id=${APP}&redirect_uri=${encodeURIComponent('http://127.0.0.1:9/cb')}&state=xyz`, { redirect: 'manual' });
    expect(consent.status).toBe(302);
    const back = new URL(consent.headers.get('location') ?? '');
    expect(Object.fromEntries(back.searchParams)).toEqual({ tenant: TENANT, admin_consent: 'True', state: 'xyz' });
    expect((await graph(emu, grant.accessToken, '/users')).status).toBe(200);
  });

  it('sign in with Microsoft: authorization code + PKCE, /me, refresh with rotation, revoked → auth_revoked', async () => {
    await start();
    const ep = microsoftEndpoints(endpoints(emu));
    const s = { tenant: 'organizations', clientId: APP };
    const login = await beginUserLogin(ep, s, 'http://127.0.0.1:8765/callback', 'adele@contoso.example');
    expect(new URL(login.url).searchParams.get('code_challenge_method')).toBe('S256');
    const consent = await fetch(login.url, { redirect: 'manual' });
    const callback = new URL(consent.headers.get('location') ?? '');
    const done = await finishUserLogin(ep, s, login, callback);
    expect(done.mailbox).toBe('adele@contoso.example');
    expect(done.refreshToken).toBeTruthy();
    const user: Account = { ...account('user'), settings: { tenant: 'organizations', clientId: APP } };
    const refreshed = await microsoftRefresher(endpoints(emu))(user, { refreshToken: done.refreshToken as string });
    expect(refreshed.refreshToken).toBeTruthy();
    expect(refreshed.refreshToken).not.toBe(done.refreshToken);
    expect((await graph(emu, refreshed.accessToken, '/me/contactFolders/contacts')).status).toBe(200);
    // A delegated token reaches its own mailbox only.
    const other = emu.state.findUser('room1@contoso.example')?.id as string;
    expect((await graph(emu, refreshed.accessToken, `/users/${other}/contactFolders/contacts`)).status).toBe(403);
    emu.identity.revokeRefreshTokens();
    await expect(microsoftRefresher(endpoints(emu))(user, { refreshToken: refreshed.refreshToken as string })).rejects.toMatchObject({ kind: 'auth_revoked' });
  });
});

describe('Graph emulator surface', () => {
  it('answers a 5th concurrent request to one mailbox with 429 ApplicationThrottled and Retry-After', async () => {
    await start(true, 150);
    const token = emu.identity.issueAppToken(APP);
    const rs = await Promise.all(Array.from({ length: 5 }, () => graph(emu, token, '/users/adele@contoso.example/contactFolders/contacts')));
    const statuses = rs.map((r) => r.status).sort();
    expect(statuses).toEqual([200, 200, 200, 200, 429]);
    const throttled = rs.find((r) => r.status === 429) as Response;
    expect(throttled.headers.get('retry-after')).toBe('1');
    expect(((await throttled.json()) as { error: { code: string; message: string } }).error).toMatchObject({ code: 'ApplicationThrottled', message: 'Application is over its MailboxConcurrency limit.' });
    expect(emu.counts.concurrencyRejections).toBe(1);
    expect(emu.counts.get('GET /users/{id}/contactFolders/contacts')).toBe(5);
  });

  it('$batch: at most 20, unique ids, 424 for a failed dependency, 412 on a stale If-Match', async () => {
    await start();
    const token = emu.identity.issueAppToken(APP);
    const post = (requests: unknown[]) => graph(emu, token, '/$batch', { method: 'POST', body: JSON.stringify({ requests }), headers: { 'content-type': 'application/json' } });
    const get = { method: 'GET', url: '/users/adele@contoso.example/contactFolders/contacts' };
    expect((await post(Array.from({ length: 21 }, (_, i) => ({ id: String(i), ...get })))).status).toBe(400);
    expect((await post([{ id: 'a', ...get }, { id: 'A', ...get }])).status).toBe(400);
    const mb = emu.state.mailbox('adele@contoso.example')!;
    const c = emu.state.createContact(mb.userId, mb.defaultFolderId, { givenName: 'Old' });
    const r = await post([
      { id: '1', method: 'PATCH', url: `/users/adele@contoso.example/contacts/${c.immutableId}`, headers: { 'content-type': 'application/json', 'if-match': 'W/"stale"', prefer: 'IdType="ImmutableId"' }, body: { givenName: 'New' } },
      { id: '2', method: 'GET', url: `/users/adele@contoso.example/contacts/${c.immutableId}`, dependsOn: ['1'] },
    ]);
    expect(r.status).toBe(200);
    const out = ((await r.json()) as { responses: { id: string; status: number; body: { error?: { code: string } } }[] }).responses;
    expect(out.find((x) => x.id === '1')).toMatchObject({ status: 412, body: { error: { code: 'ErrorIrresolvableConflict' } } });
    expect(out.find((x) => x.id === '2')?.status).toBe(424);
    expect(c.props.givenName).toBe('Old');
  });

  it('delta: next and delta links point at the emulator; an evicted token gives 410 with Location', async () => {
    await start();
    const token = emu.identity.issueAppToken(APP);
    const mb = emu.state.mailbox('adele@contoso.example')!;
    for (let i = 0; i < 3; i++) emu.state.createContact(mb.userId, mb.defaultFolderId, { givenName: `P${i}` });
    const first = (await (await graph(emu, token, `/users/${mb.userId}/contactFolders/contacts/contacts/delta`, { headers: { prefer: 'odata.maxpagesize=2' } })).json()) as Record<string, string>;
    expect(first['@odata.nextLink']?.startsWith(`${emu.url}/v1.0/`)).toBe(true);
    const second = (await (await fetch(first['@odata.nextLink'] as string, { headers: { authorization: `Bearer ${token}` } })).json()) as Record<string, string>;
    const link = second['@odata.deltaLink'] as string;
    expect(link.startsWith(`${emu.url}/v1.0/`)).toBe(true);
    emu.state.expireDeltaTokens();
    const gone = await fetch(link, { headers: { authorization: `Bearer ${token}` } });
    expect(gone.status).toBe(410);
    expect(gone.headers.get('location')).toMatch(/\/contacts\/delta$/);
    expect(((await gone.json()) as { error: { code: string } }).error.code).toBe('syncStateNotFound');
  });

  it('regular ids change when a contact moves; immutable ids do not', async () => {
    await start();
    const token = emu.identity.issueAppToken(APP);
    const mb = emu.state.mailbox('adele@contoso.example')!;
    const c = emu.state.createContact(mb.userId, mb.defaultFolderId, { givenName: 'Mover' });
    const regular = ((await (await graph(emu, token, `/users/${mb.userId}/contactFolders/contacts/contacts`)).json()) as { value: { id: string }[] }).value[0]?.id as string;
    expect(regular).not.toBe(c.immutableId);
    emu.state.moveContact(mb.userId, c, emu.state.createFolder(mb.userId, 'Elsewhere').id);
    expect((await graph(emu, token, `/users/${mb.userId}/contacts/${regular}`)).status).toBe(404);
    const imm = await graph(emu, token, `/users/${mb.userId}/contacts/${c.immutableId}`, { headers: { prefer: 'IdType="ImmutableId"' } });
    expect(imm.status).toBe(200);
    expect(((await imm.json()) as { id: string }).id).toBe(c.immutableId);
  });

  it('requests without a valid token get 401 InvalidAuthenticationToken', async () => {
    await start();
    const r = await fetch(`${emu.url}/v1.0/users`);
    expect(r.status).toBe(401);
    expect(((await r.json()) as { error: { code: string } }).error.code).toBe('InvalidAuthenticationToken');
  });
});
