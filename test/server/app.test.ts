/**
 * The server's operational surface and its scheduler: health, Prometheus metrics, the OpenAPI
 * document, languages, the first visitor, continuous sync (due hubs run, never two runs of a hub
 * at once, a failing spoke backs off while the others sync, a restart resumes the schedule).
 */
import { renameSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { catalogues, pickLang } from '../../src/server/i18n.js';
import { createWebApp } from '../../src/server/app.js';
import { pino } from 'pino';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { startTestServer, vcard, type Client, type TestServer } from './helpers.js';

let ts: TestServer;
let owner: Client;
let hubId: string;
let folderB: string;

beforeAll(async () => {
  ts = await startTestServer({ openSignup: false });
  owner = ts.client();
  expect((await owner.get('/')).location).toBe('/setup');
  await owner.signUp('Acme', 'owner@acme.example');
  const folderA = ts.folder('a', { 'a.vcf': vcard('a', 'Ann Lee', 'ann@acme.example') });
  folderB = ts.folder('b', { 'b.vcf': vcard('b', 'Bob Roe', 'bob@acme.example') });
  hubId = await owner.createVdirHub('Team', 'Folder A', folderA);
  await owner.createVdirHub('Team', 'Folder B', folderB, hubId);
});

afterAll(async () => {
  await ts?.close();
});

describe('first visit and accounts', () => {
  it('only the first visitor creates an organisation (sign-up closed by default)', async () => {
    const c = ts.client();
    expect((await c.get('/setup')).location).toBe('/login');
    expect((await c.get('/')).location).toBe('/login');
  });
});

describe('the wizard follows the connector factories', () => {
  it('offers every spoke type there is; a password account (CardDAV) asks for its settings and login, and an unreachable server is explained', async () => {
    await owner.get('/wizard');
    await owner.post('/wizard/object', { object: 'contacts' });
    const source = await owner.get('/wizard/source');
    for (const f of ts.web.deps.factories.values()) expect(source.body).toContain(`value="${f.type}"`);
    await owner.post('/wizard/source', { type: 'carddav' });
    const connect = await owner.get('/wizard/connect');
    expect(connect.body).toContain('name="cfg_url"');
    expect(connect.body).toContain('name="username"');
    expect(connect.body).not.toContain('Invite');
    const r = await owner.post('/wizard/config', { cfg_url: 'http://127.0.0.1:9/dav/', username: 'ann', password: 'secret-pass' });
    expect(r.status).toBe(400);
    expect(r.body).toContain('The address book cannot be reached');
    expect(r.body).not.toContain('secret-pass');
    expect(await ts.web.deps.db.selectFrom('accounts').selectAll().where('provider', '=', 'carddav').executeTakeFirst()).toBeUndefined();
  });

  it('explains a folder that does not exist, and what to type', async () => {
    await owner.get('/wizard');
    await owner.post('/wizard/object', { object: 'contacts' });
    await owner.post('/wizard/source', { type: 'vdir' });
    await owner.get('/wizard/connect');
    const r = await owner.post('/wizard/config', { cfg_path: 'relative/folder' });
    expect(r.status).toBe(400);
    expect(r.body).toContain('These settings cannot be used');
    expect(r.body).toContain('absolute path');
  });
});

describe('operations', () => {
  it('answers /health and serves the OpenAPI document', async () => {
    const h = await owner.get('/health');
    expect(JSON.parse(h.body)).toEqual({ status: 'ok', demo: false });
    const doc = JSON.parse((await ts.client().get('/api/docs/json')).body) as { openapi: string; paths: Record<string, unknown> };
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/api/hubs', '/api/hubs/{hubId}', '/api/hubs/{hubId}/sync', '/api/hubs/{hubId}/contacts', '/api/session']));
  });

  it('counts runs, changed items and errors in /metrics', async () => {
    const s = await ts.web.deps.runner.run(hubId, { reason: 'manual' });
    expect(s?.status).toBe('ok');
    const m = (await ts.client().get('/metrics')).body;
    expect(m).toMatch(/hubsync_sync_runs_total\{kind="sync",status="ok"\} [1-9]/);
    expect(m).toMatch(/hubsync_items_changed_total\{direction="inbound",op="created"\} 2/);
    expect(m).toContain('hubsync_provider_api_calls_total');
  });

  it('shows the hub dashboard with state, counts and activity, and the API agrees', async () => {
    const page = await owner.get(`/hubs/${hubId}`);
    expect(page.body).toContain('<b>2</b>contacts');
    expect(page.body).toContain('class="state ok"');
    expect(page.body).toContain('role="img"');
    const api = JSON.parse((await owner.get(`/api/hubs/${hubId}`)).body) as { contacts: number; spokes: { name: string; state: string }[] };
    expect(api.contacts).toBe(2);
    expect(api.spokes.map((x) => [x.name, x.state])).toEqual([['Folder A', 'ok'], ['Folder B', 'ok']]);
  });
});

describe('languages', () => {
  it('picks French from the browser, and the switch overrides it', async () => {
    expect(pickLang('fr-CA,fr;q=0.9,en;q=0.8')).toBe('fr');
    expect(pickLang('de-DE,en;q=0.5')).toBe('en');
    const fr = await owner.request('GET', `/hubs/${hubId}`, undefined, { headers: { 'accept-language': 'fr-FR,fr;q=0.9' } });
    expect(fr.body).toContain('<html lang="fr">');
    expect(fr.body).toContain('Synchroniser maintenant');
    await owner.get('/lang/en?back=/hubs');
    const en = await owner.request('GET', `/hubs/${hubId}`, undefined, { headers: { 'accept-language': 'fr-FR' } });
    expect(en.body).toContain('Sync now');
    expect((await owner.get('/lang/fr?back=//evil.example')).location).toBe('/');
    await owner.get('/lang/en?back=/');
  });

  it('has every message the code uses, in both languages', () => {
    const used = new Set<string>();
    for (const f of readdirSync('src/server')) {
      const text = readFileSync(path.join('src/server', f), 'utf8');
      for (const m of text.matchAll(/\bt\(\s*'([a-z][\w.-]*)'/g)) used.add(m[1] as string);
      for (const m of text.matchAll(/(?:labelKey|hintKey): '([\w.-]+)'/g)) used.add(m[1] as string);
    }
    expect(used.size).toBeGreaterThan(100);
    for (const k of used) {
      expect(catalogues.en[k], k).toBeTruthy();
      expect(catalogues.fr[k], k).toBeTruthy();
    }
  });
});

describe('continuous sync', () => {
  it('runs a due hub, not one that ran within its interval, and never two runs of a hub at once', async () => {
    const runs = async () => (await ts.web.deps.db.selectFrom('runs').select('id').where('hub_id', '=', hubId).where('kind', '=', 'sync').execute()).length;
    const before = await runs();
    await ts.web.deps.runner.tick();
    expect(await runs()).toBe(before); // ran a moment ago; due in 15 minutes
    ts.clock.offsetMs = 16 * 60_000;
    try {
      // Two scheduled runs asked at the same moment: one runs, the other finds the hub busy.
      const [x, y] = await Promise.all([ts.web.deps.runner.run(hubId, { reason: 'schedule' }), ts.web.deps.runner.run(hubId, { reason: 'schedule' })]);
      expect([x, y].filter((r) => r === null)).toHaveLength(1);
      expect((await runs()) - before).toBe(1);
      // Now the hub ran: the tick finds it not due.
      await ts.web.deps.runner.tick();
      expect((await runs()) - before).toBe(1);
    } finally {
      ts.clock.offsetMs = 0;
    }
  });

  it('a failing spoke backs off while the other spokes go on syncing', async () => {
    renameSync(folderB, `${folderB}-gone`);
    try {
      const first = await ts.web.deps.runner.run(hubId, { reason: 'manual' });
      expect(first?.spokes.find((s) => s.name === 'Folder B')?.status).toBe('error');
      expect(first?.spokes.find((s) => s.name === 'Folder A')?.status).toBe('ok');
      const spokeB = first?.spokes.find((s) => s.name === 'Folder B')?.spokeId ?? '';
      const backoff = ts.web.deps.runner.spokeBackoff(spokeB);
      expect(backoff?.failures).toBe(1);
      // A scheduled run while B backs off syncs A only.
      const second = await ts.web.deps.runner.run(hubId, { reason: 'schedule' });
      expect(second?.spokes.map((s) => s.name)).toEqual(['Folder A']);
      const page = await owner.get(`/hubs/${hubId}`);
      expect(page.body).toContain('class="state error"');
      expect(page.body).toContain('automatic retries resume at');
    } finally {
      renameSync(`${folderB}-gone`, folderB);
    }
    const healed = await ts.web.deps.runner.run(hubId, { reason: 'manual' });
    expect(healed?.status).toBe('ok');
  });

  it('a restarted server resumes the schedule from the store', async () => {
    await owner.get(`/hubs/${hubId}`);
    expect((await owner.post(`/hubs/${hubId}/schedule`, { interval: '45' })).status).toBe(302);
    const lastStart = (await ts.web.deps.db.selectFrom('runs').select('started_at').where('hub_id', '=', hubId).where('kind', '=', 'sync').orderBy('started_at', 'desc').executeTakeFirstOrThrow()).started_at;
    // A second server on the same data (a restart) computes the same next run.
    const again = await createWebApp({ dataDir: ts.dir, env: {}, demo: false, log: pino({ level: 'silent' }), schedulerEveryMs: 0 });
    try {
      expect(await again.deps.runner.nextRunAt(hubId)).toBe(lastStart + 45 * 60_000);
    } finally {
      await again.close();
    }
  });
});
