/**
 * The web app's security promises: an organisation sees and touches nothing of another (every
 * route walked as a user of another organisation); a state-changing request without the right
 * CSRF token is refused; contact fields holding HTML are shown as text; sign-in is rate-limited
 * and the session cookie is HttpOnly and SameSite.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInvitation } from '../../src/server/tenancy.js';
import { startTestServer, vcard, type Client, type TestServer } from './helpers.js';

let ts: TestServer;
let a: Client;
let b: Client;
let hubA: string;
let spokeA: string;
let contactA: string;
let runA: string;
let conflictA: string;
let invitationA: string;

const SECRET_NAMES = ['Zanzibar Hub', 'Quetzal Folder', 'Wilhelmina Xylophone'];

beforeAll(async () => {
  ts = await startTestServer({ google: true });
  a = ts.client();
  await a.signUp('Org A', 'ann@a.example');
  const folder = ts.folder('a', {
    'w.vcf': vcard('w1', 'Wilhelmina Xylophone', 'wx@a.example'),
    'x.vcf': vcard('x1', '<script>alert("pwned")</script> Mallory', 'mallory@a.example', 'ORG:<img src=x onerror=alert(1)>\r\nNOTE:</textarea><b>bold</b>\r\n'),
  });
  hubA = await a.createVdirHub('Zanzibar Hub', 'Quetzal Folder', folder);
  const db = ts.web.deps.db;
  spokeA = (await db.selectFrom('spokes').select('id').where('hub_id', '=', hubA).executeTakeFirstOrThrow()).id;
  const summary = await ts.web.deps.runner.run(hubA, { reason: 'manual' });
  expect(summary?.status).toBe('ok');
  runA = summary?.runId ?? '';
  contactA = (await db.selectFrom('entities').select('id').where('hub_id', '=', hubA).orderBy('id').executeTakeFirstOrThrow()).id;
  // A conflict row, so the conflict route has a real id of organisation A to be tried with.
  conflictA = 'conflict-of-a';
  await db.insertInto('conflicts').values({ id: conflictA, hub_id: hubA, entity_id: contactA, path: 'title', kept: '"x"', lost: '"y"', kept_origin: 'Quetzal Folder', lost_origin: 'hub', run_id: runA, at: Date.now(), status: 'open' }).execute();
  const orgA = (await db.selectFrom('hubs').select('org_id').where('id', '=', hubA).executeTakeFirstOrThrow()).org_id ?? '';
  const userA = (await db.selectFrom('users').select('id').where('email', '=', 'ann@a.example').executeTakeFirstOrThrow()).id;
  invitationA = (await createInvitation(db, { id: 'inv-a', orgId: orgA, hubId: hubA, provider: 'google', spokeType: 'google-contacts', email: 'sam@demo.example', invitedBy: userA, now: Date.now() })).invitation.id;

  b = ts.client();
  await b.signUp('Org B', 'bob@b.example');
});

afterAll(async () => {
  await ts?.close();
});

describe('organisations are walled off', () => {
  it('every route, walked as a user of another organisation with ids of the first, finds nothing and changes nothing', async () => {
    const ids: Record<string, string> = { hubId: hubA, spokeId: spokeA, contactId: contactA, runId: runA, conflictId: conflictA, invId: invitationA };
    // Signing out is walked last: it ends B's session (and touches nothing of A).
    const routes = ts.web.server.routeList.filter((r) => !r.public && r.url !== '/logout');
    expect(routes.length).toBeGreaterThan(25);
    const tried: string[] = [];
    for (const r of routes) {
      const url = r.url.replace(/:(\w+)/g, (_, k: string) => {
        const v = ids[k];
        if (!v) throw new Error(`the walk has no id for :${k} in ${r.method} ${r.url}: add one`);
        return v;
      });
      const target = r.url === '/wizard' ? `/wizard?hub=${hubA}` : url;
      await b.get('/hubs'); // a fresh CSRF token of B's own session
      const res = r.method === 'GET' ? await b.get(target) : await b.post(target, { action: 'confirm', id: 'all', keep: 'lost', name: 'hijacked', allowCreate: '1', direction: 'two-way', interval: '1', confirm: '1' });
      tried.push(`${r.method} ${target} -> ${res.status}`);
      for (const secret of SECRET_NAMES) expect(res.body, `${r.method} ${target}`).not.toContain(secret);
      if (r.url.includes(':hubId') || r.url === '/wizard') expect(res.status, `${r.method} ${target}`).toBe(404);
    }
    // Nothing of A changed.
    const db = ts.web.deps.db;
    const spoke = await db.selectFrom('spokes').selectAll().where('id', '=', spokeA).executeTakeFirstOrThrow();
    expect(spoke.name).toBe('Quetzal Folder');
    expect(JSON.parse(spoke.options).allowCreate).toBe(false);
    expect((await db.selectFrom('invitations').select('status').where('id', '=', invitationA).executeTakeFirstOrThrow()).status).toBe('pending');
    expect((await db.selectFrom('conflicts').select('status').where('id', '=', conflictA).executeTakeFirstOrThrow()).status).toBe('open');
    expect((await db.selectFrom('runs').select('undone_by').where('id', '=', runA).executeTakeFirstOrThrow()).undone_by).toBeNull();
    expect(await db.selectFrom('hub_schedules').selectAll().where('hub_id', '=', hubA).executeTakeFirst()).toBeUndefined();
    // And B's own lists are empty.
    const list = await b.request('GET', '/api/hubs');
    expect(JSON.parse(list.body)).toEqual([]);
    expect(tried.length).toBe(routes.length);
  });

  it('the owner does see the hub', async () => {
    const r = await a.get(`/hubs/${hubA}`);
    expect(r.status).toBe(200);
    expect(r.body).toContain('Zanzibar Hub');
  });
});

describe('CSRF', () => {
  it('refuses a form post without a token, with a wrong one, or with another session\'s', async () => {
    await a.get(`/hubs/${hubA}`);
    const own = a.csrf;
    expect((await a.post(`/hubs/${hubA}/schedule`, { interval: '30' }, { csrf: null })).status).toBe(403);
    expect((await a.post(`/hubs/${hubA}/schedule`, { interval: '30' }, { csrf: 'x'.repeat(43) })).status).toBe(403);
    await b.get('/hubs');
    expect((await a.post(`/hubs/${hubA}/schedule`, { interval: '30' }, { csrf: b.csrf })).status).toBe(403);
    expect(await ts.web.deps.db.selectFrom('hub_schedules').selectAll().where('hub_id', '=', hubA).executeTakeFirst()).toBeUndefined();
    // With its own token the same request goes through.
    expect((await a.post(`/hubs/${hubA}/schedule`, { interval: '30' }, { csrf: own })).status).toBe(302);
    expect((await ts.web.deps.db.selectFrom('hub_schedules').selectAll().where('hub_id', '=', hubA).executeTakeFirstOrThrow()).interval_minutes).toBe(30);
  });

  it('refuses an API post without the x-csrf-token header', async () => {
    const r = await a.request('POST', `/api/hubs/${hubA}/sync`, undefined, { json: {} });
    expect(r.status).toBe(403);
    const s = JSON.parse((await a.get('/api/session')).body) as { csrfToken: string };
    const ok = await a.request('POST', `/api/hubs/${hubA}/sync`, undefined, { json: {}, headers: { 'x-csrf-token': s.csrfToken } });
    expect(ok.status).toBe(200);
  });

  it('refuses a sign-in post without the pre-session token (login CSRF)', async () => {
    const c = ts.client();
    const r = await c.post('/login', { email: 'ann@a.example', password: 'a long enough password' }, { csrf: null });
    expect(r.status).toBe(403);
  });
});

describe('contact fields with HTML are text', () => {
  it('escapes names, organisations and notes on every page that shows them', async () => {
    const list = await a.get(`/hubs/${hubA}/contacts?q=mallory`);
    expect(list.status).toBe(200);
    expect(list.body).toContain('&#60;script&#62;alert(&#34;pwned&#34;)&#60;/script&#62; Mallory');
    expect(list.body).not.toContain('<script>alert');
    const id = /href="\/hubs\/[^/]+\/contacts\/([^"]+)"/.exec(list.body)?.[1];
    expect(id).toBeTruthy();
    const page = await a.get(`/hubs/${hubA}/contacts/${id}`);
    expect(page.body).not.toContain('<script>alert');
    expect(page.body).not.toContain('<img src=x');
    expect(page.body).toContain('&#60;img src=x onerror=alert(1)&#62;');
    const api = await a.get(`/api/hubs/${hubA}/contacts?q=mallory`);
    expect(api.headers['content-type']).toMatch(/^application\/json/);
  });
});

describe('sign-in', () => {
  it('is rate-limited per address', async () => {
    const c = ts.client();
    await c.get('/login');
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) statuses.push((await c.post('/login', { email: 'ann@a.example', password: `wrong ${i}` })).status);
    // 5 attempts a minute in this server (earlier tests of this file used some): then 429, even
    // with the right password, and a message saying to wait.
    const first429 = statuses.indexOf(429);
    expect(first429).toBeGreaterThan(0);
    expect(statuses.slice(0, first429).every((x) => x === 401)).toBe(true);
    const right = await c.post('/login', { email: 'ann@a.example', password: 'a long enough password' });
    expect(right.status).toBe(429);
    expect(right.body).toContain('Wait a minute');
  });

  it('sets an HttpOnly, SameSite=Lax session cookie and stores only its hash', async () => {
    const c = ts.client();
    await c.get('/setup');
    const r = await ts.web.server.inject({ method: 'POST', url: '/setup', cookies: Object.fromEntries(c.cookies), payload: { _csrf: c.csrf, org: 'Org C', name: 'C', email: 'carl@c.example', password: 'a long enough password' } });
    const cookie = r.cookies.find((x) => x.name === 'hubsync_session');
    expect(cookie?.httpOnly).toBe(true);
    expect(cookie?.sameSite).toBe('Lax');
    const rows = await ts.web.deps.db.selectFrom('sessions').select('id_hash').execute();
    expect(rows.some((x) => x.id_hash === cookie?.value)).toBe(false);
  });

  it('signs out: the session no longer works', async () => {
    const c = ts.client();
    await c.signUp('Org D', 'dora@d.example');
    expect((await c.get('/hubs')).status).toBe(200);
    const cookie = c.cookies.get('hubsync_session');
    expect((await c.post('/logout')).status).toBe(302);
    const again = await ts.web.server.inject({ method: 'GET', url: '/hubs', cookies: { hubsync_session: cookie ?? '' } });
    expect(again.statusCode).toBe(302);
    expect(again.headers.location).toMatch(/^\/login/);
  });
});
