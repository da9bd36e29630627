/**
 * Invitations, end to end through the Google emulator's real OAuth pages: the owner invites an
 * address; the e-mail (outbox, no SMTP configured) carries a link; the invitee sees who invites
 * them to which hub, signs in AS THAT ADDRESS (another address is refused and the link stays
 * usable), and their contacts become a spoke of the hub that only feeds it. Links are single-use,
 * expire after 7 days, and can be revoked.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, vcard, type Client, type Res, type TestServer } from './helpers.js';

let ts: TestServer;
let owner: Client;
let hubId: string;

beforeAll(async () => {
  ts = await startTestServer({ google: true });
  owner = ts.client();
  await owner.signUp('Acme', 'owner@acme.example');
  hubId = await owner.createVdirHub('Team contacts', 'Office folder', ts.folder('office', { 'a.vcf': vcard('a', 'Ann Lee', 'ann@acme.example') }));
});

afterAll(async () => {
  await ts?.close();
});

/** The owner invites `email` through the wizard's Invite choice; returns the link from the outbox. */
async function invite(email: string): Promise<string> {
  await owner.get(`/wizard?hub=${hubId}`);
  await owner.post('/wizard/object', { object: 'contacts' });
  await owner.get('/wizard/source');
  await owner.post('/wizard/source', { type: 'google-contacts' });
  await owner.get('/wizard/connect');
  const r = await owner.post('/wizard/invite', { email });
  expect(r.location).toBe(`/hubs/${hubId}`);
  const outbox = await owner.get('/outbox');
  const link = /http:\/\/localhost:8080\/invite\/[A-Za-z0-9_-]+/.exec(outbox.body)?.[0];
  expect(link).toBeTruthy();
  return (link as string).replace('http://localhost:8080', '');
}

/** The invitee's browser at the provider: choose `account` on the emulator's consent page, Allow. */
async function consent(c: Client, start: Res, account: string): Promise<Res> {
  expect(start.status).toBe(302);
  const auth = new URL(start.location ?? '');
  expect(auth.origin).toBe(ts.google?.url);
  expect(auth.searchParams.get('code_challenge_method')).toBe('S256');
  const form = new URLSearchParams(auth.searchParams);
  form.set('account', account);
  form.set('decision', 'allow');
  const r = await fetch(`${auth.origin}${auth.pathname}`, { method: 'POST', body: form, redirect: 'manual' });
  const back = new URL(r.headers.get('location') ?? '');
  expect(back.origin).toBe('http://localhost:8080');
  return c.get(`${back.pathname}${back.search}`);
}

describe('an invitation', () => {
  it('is sent by e-mail (kept in the outbox without SMTP) and shows who invites to which hub', async () => {
    const link = await invite('Sam@Demo.example');
    const mail = await ts.web.deps.db.selectFrom('outbox').selectAll().orderBy('created_at', 'desc').executeTakeFirstOrThrow();
    expect(mail.to_addr).toBe('sam@demo.example');
    expect(mail.sent).toBe(0);
    expect(mail.body).toContain('expires in 7 days');
    const guest = ts.client();
    const page = await guest.get(link);
    expect(page.status).toBe(200);
    expect(page.body).toContain('Acme admin &#60;owner@acme.example&#62; (Acme) invites you to sync your contacts with the hub &#34;Team contacts&#34;');
    expect(page.body).toContain('Sign in with Google as sam@demo.example');
    const hub = await owner.get(`/hubs/${hubId}`);
    expect(hub.body).toMatch(/sam@demo\.example<\/td><td><span class="state">pending/);
  });

  it('refuses another address with a clear message, then accepts the invited one once', async () => {
    const link = await invite('sam@demo.example');
    const guest = ts.client();
    await guest.get(link);
    const wrong = await consent(guest, await guest.post(`${link}/signin`), 'alex@demo.example');
    expect(wrong.location).toMatch(new RegExp(`^${link}\\?wrong=alex%40demo\\.example$`));
    const page = await guest.follow(wrong);
    expect(page.body).toContain('You signed in as alex@demo.example, but this invitation is for sam@demo.example. Nothing was shared.');
    expect(await ts.web.deps.db.selectFrom('accounts').selectAll().where('name', '=', 'alex@demo.example').executeTakeFirst()).toBeUndefined();

    const ok = await consent(guest, await guest.post(`${link}/signin`), 'sam@demo.example');
    expect(ok.status).toBe(200);
    expect(ok.body).toContain('The contacts of sam@demo.example now join the hub &#34;Team contacts&#34;');
    const spoke = await ts.web.deps.db.selectFrom('spokes').selectAll().where('hub_id', '=', hubId).where('type', '=', 'google-contacts').executeTakeFirstOrThrow();
    expect(spoke.name).toBe('sam@demo.example');
    expect(JSON.parse(spoke.config)).toEqual({ account: 'sam@demo.example' });
    // It feeds the hub only until the owner chooses its options.
    expect(JSON.parse(spoke.options).allowCreate).toBe(false);
    const account = await ts.web.deps.db.selectFrom('accounts').selectAll().where('name', '=', 'sam@demo.example').executeTakeFirstOrThrow();
    expect(account.org_id).toBe((await ts.web.deps.db.selectFrom('hubs').select('org_id').where('id', '=', hubId).executeTakeFirstOrThrow()).org_id);
    expect(account.secret).not.toContain('refresh');

    // Single use: the link is spent.
    const again = await ts.client().get(link);
    expect(again.status).toBe(410);
    expect(again.body).toContain('already accepted');

    // The owner sees it accepted, and the new spoke syncs.
    const hub = await owner.get(`/hubs/${hubId}`);
    expect(hub.body).toContain('Joined by invitation');
    const run = await ts.web.deps.runner.run(hubId, { reason: 'manual' });
    expect(run?.spokes.find((s) => s.name === 'sam@demo.example')?.status).toBe('ok');
    expect(run?.spokes.find((s) => s.name === 'sam@demo.example')?.pulled.items).toBe(5);
  });

  it('a spoke whose access was withdrawn shows "needs sign-in" and is healed by "Sign in again"', async () => {
    ts.google?.state.revokeUser('sam@demo.example');
    const run = await ts.web.deps.runner.run(hubId, { reason: 'manual' });
    expect(run?.spokes.find((s) => s.name === 'sam@demo.example')?.status).toBe('needs-sign-in');
    const page = await owner.get(`/hubs/${hubId}`);
    expect(page.body).toContain('class="state needs-sign-in"');
    const spokeId = /\/spokes\/([^/]+)\/signin/.exec(page.body)?.[1];
    expect(spokeId).toBeTruthy();
    const back = await consent(owner, await owner.post(`/hubs/${hubId}/spokes/${spokeId}/signin`), 'sam@demo.example');
    expect(back.location).toBe(`/hubs/${hubId}`);
    expect((await owner.get(`/hubs/${hubId}`)).body).toContain('Signed in again as sam@demo.example');
    const healed = await ts.web.deps.runner.run(hubId, { reason: 'manual' });
    expect(healed?.spokes.find((s) => s.name === 'sam@demo.example')?.status).toBe('ok');
  });

  it('expires after 7 days', async () => {
    const link = await invite('late@demo.example');
    ts.clock.offsetMs = 7 * 24 * 3600_000 + 1000;
    try {
      const r = await ts.client().get(link);
      expect(r.status).toBe(410);
      expect(r.body).toContain('This invitation has expired. Ask the person who invited you to send a new one.');
      // A week later the owner's session has expired too (12 hours): they sign in again.
      expect((await owner.get(`/hubs/${hubId}`)).location).toMatch(/^\/login/);
      await owner.get('/login');
      expect((await owner.post('/login', { email: 'owner@acme.example', password: 'a long enough password' })).status).toBe(302);
      const hub = await owner.get(`/hubs/${hubId}`);
      expect(hub.body).toMatch(/late@demo\.example<\/td><td><span class="state">expired/);
    } finally {
      ts.clock.offsetMs = 0;
    }
  });

  it('can be revoked by the owner, and can be declined', async () => {
    const link = await invite('alex@demo.example');
    const hub = await owner.get(`/hubs/${hubId}`);
    const invId = /\/invitations\/([^/]+)\/revoke/.exec(hub.body)?.[1];
    expect(invId).toBeTruthy();
    expect((await owner.post(`/hubs/${hubId}/invitations/${invId}/revoke`)).status).toBe(302);
    const r = await ts.client().get(link);
    expect(r.status).toBe(410);
    expect(r.body).toContain('withdrawn');

    const link2 = await invite('other@demo.example');
    const guest = ts.client();
    await guest.get(link2);
    expect((await guest.post(`${link2}/decline`)).body).toContain('Invitation declined');
    expect((await ts.client().get(link2)).status).toBe(410);
  });

  it('an unknown or tampered link says so', async () => {
    const r = await ts.client().get('/invite/not-a-real-token');
    expect(r.status).toBe(404);
    expect(r.body).toContain('not valid');
  });
});
