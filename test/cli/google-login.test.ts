/**
 * "Sign in with Google" end to end: `hubsync account login google` prints the consent URL and
 * waits on a loopback address; the test plays the person in the browser (fetches the emulator's
 * consent page and presses "Allow"); the CLI exchanges the code (PKCE), stores the account with its
 * refresh token sealed, and a Google spoke on it syncs.
 */
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import type { Io } from '../../src/cli/io.js';
import { googleEnv, startGoogle, type GoogleEmulator } from '../../src/emulators/google/index.js';
import { openStore } from '../../src/store/open.js';
import { makeTempVdir } from '../support/vdir.js';
import { ok, peopleIn } from './cli-helpers.js';

let root: { dir: string; cleanup(): Promise<void> };
let emu: GoogleEmulator;
const saved: Record<string, string | undefined> = {};

beforeEach(async () => {
  root = await makeTempVdir('hubsync-google-login-');
  emu = await startGoogle({
    seed: {
      clients: [{ clientId: 'desktop-client', clientSecret: 'desktop-secret' }],
      users: [
        { email: 'dora@example.com', contacts: [{ names: [{ givenName: 'Zed', familyName: 'Zulu' }], emailAddresses: [{ value: 'zed@example.org' }] }] },
        { email: 'other@example.com' },
      ],
    },
  });
  const env = { ...googleEnv(emu.url), HUBSYNC_GOOGLE_CLIENT_ID: 'desktop-client', HUBSYNC_GOOGLE_CLIENT_SECRET: 'desktop-secret' };
  for (const [k, v] of Object.entries(env)) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
});

afterEach(async () => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  await emu.close();
  await root.cleanup();
});

/** What a person does in the browser: open the URL, pick the account, press Allow, follow the redirect. */
async function consent(url: string, account: string): Promise<string> {
  const page = await (await fetch(url)).text();
  expect(page).toContain('wants to access your Google Account');
  const form = new URLSearchParams();
  for (const m of page.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) {
    form.set(m[1] as string, (m[2] as string).replace(/&#(\d+);/g, (_, n: string) => String.fromCharCode(Number(n))));
  }
  form.set('account', account);
  form.set('decision', 'allow');
  const action = new URL(/<form method="post" action="([^"]+)"/.exec(page)?.[1] ?? '', url);
  const res = await fetch(action, { method: 'POST', body: form, redirect: 'manual' });
  expect(res.status).toBe(302);
  const back = res.headers.get('location') ?? '';
  expect(back).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/callback\?/);
  return (await fetch(back)).text();
}

describe('hubsync account login google', () => {
  it('signs in through the consent page and a loopback redirect (code + PKCE), stores the account sealed, and syncs', async () => {
    const data = path.join(root.dir, 'data');
    let out = '';
    const io: Io = { out: (t) => void (out += `${t}\n`), err: (t) => void (out += `${t}\n`), isTTY: false };
    const running = main(['--data-dir', data, 'account', 'login', 'google', '--no-browser', '--login-hint', 'dora@example.com'], io);
    let url = '';
    for (let i = 0; i < 200 && !url; i++) {
      url = /(http:\/\/127\.0\.0\.1:\d+\/o\/oauth2\/v2\/auth\?\S+)/.exec(out)?.[1] ?? '';
      if (!url) await new Promise((r) => setTimeout(r, 25));
    }
    const u = new URL(url);
    expect(u.searchParams.get('code_challenge_method')).toBe('S256');
    expect(u.searchParams.get('access_type')).toBe('offline');
    expect(u.searchParams.get('scope')?.split(' ')).toEqual(expect.arrayContaining(['https://www.googleapis.com/auth/contacts', 'https://www.googleapis.com/auth/userinfo.email']));
    expect(await consent(url, 'dora@example.com')).toMatch(/Signed in/);
    expect(await running).toBe(0);
    expect(out).toContain('Signed in: Google account "dora@example.com"');

    const accounts = JSON.parse(await ok(data, 'account', 'list', '--json')) as { provider: string; name: string; state: string }[];
    expect(accounts).toEqual([expect.objectContaining({ provider: 'google', name: 'dora@example.com', state: 'ok' })]);
    // The refresh token is sealed at rest (AES-256-GCM), never stored as text.
    const store = await openStore({ kind: 'sqlite', file: path.join(data, 'hubsync.db') });
    try {
      const row = await store.db.selectFrom('accounts').select('secret').executeTakeFirstOrThrow();
      expect(row.secret).toMatch(/^v1\./);
      expect(row.secret).not.toContain('1//0emu');
    } finally {
      await store.close();
    }

    const folder = path.join(root.dir, 'folder');
    await mkdir(folder);
    await ok(data, 'hub', 'create', 'Home', '--object', 'contacts');
    await ok(data, 'spoke', 'add', 'Home', 'dora', '--type', 'google-contacts', '--account', 'dora@example.com', '--allow-create');
    await ok(data, 'spoke', 'add', 'Home', 'folder', '--type', 'vdir', '--path', folder, '--allow-create');
    await ok(data, 'sync', 'Home');
    expect(await peopleIn(folder)).toEqual(['zed@example.org']);
  });

  it('a spoke naming an account that was never added is refused', async () => {
    const data = path.join(root.dir, 'data');
    await ok(data, 'hub', 'create', 'Home', '--object', 'contacts');
    const { hubsync } = await import('./cli-helpers.js');
    const r = await hubsync(data, 'spoke', 'add', 'Home', 'x', '--type', 'google-contacts', '--account', 'nobody@example.com');
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/No google account "nobody@example.com"/);
  });

  it('account add google refuses a refresh token of another account', async () => {
    const data = path.join(root.dir, 'data');
    const token = emu.state.mintRefreshToken('other@example.com', 'desktop-client');
    const { hubsync } = await import('./cli-helpers.js');
    const r = await hubsync(data, 'account', 'add', 'google', '--email', 'dora@example.com', '--refresh-token', token);
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/belongs to other@example.com/);
  });

  it('`hubsync emulate google --port 0 --seed FILE` serves the seeded accounts until stopped', async () => {
    const seedFile = path.join(root.dir, 'seed.json');
    await writeFile(seedFile, JSON.stringify({ users: [{ email: 'seeded@example.com', contacts: [{ names: [{ givenName: 'Seeded' }] }] }] }));
    const code = "const { main } = await import('./src/cli/main.ts'); process.exitCode = await main(JSON.parse(process.env.HUBSYNC_TEST_ARGS));";
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
      cwd: path.resolve(import.meta.dirname, '../..'),
      env: { ...process.env, HUBSYNC_TEST_ARGS: JSON.stringify(['emulate', 'google', '--port', '0', '--seed', seedFile]) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    // The URL line and the settings lines are separate writes: wait for the last one.
    const ready = () => /listening on (http:\/\/\S+)/.test(out) && out.includes('HUBSYNC_GOOGLE_API_URL=');
    for (let i = 0; i < 400 && !ready(); i++) await new Promise((r) => setTimeout(r, 25));
    const url = /listening on (http:\/\/\S+)/.exec(out)?.[1] ?? '';
    expect(out).toContain('HUBSYNC_GOOGLE_API_URL=');
    const rt = (await (await fetch(`${url}/__emulator/refresh-token`, { method: 'POST', body: JSON.stringify({ email: 'seeded@example.com', clientId: 'x' }) })).json()) as { refresh_token: string };
    const tok = (await (await fetch(`${url}/token`, { method: 'POST', body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: rt.refresh_token, client_id: 'x' }) })).json()) as { access_token: string };
    const list = (await (await fetch(`${url}/v1/people/me/connections?personFields=names`, { headers: { authorization: `Bearer ${tok.access_token}` } })).json()) as { connections: { names: { givenName: string }[] }[] };
    expect(list.connections.map((c) => c.names[0]?.givenName)).toEqual(['Seeded']);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
