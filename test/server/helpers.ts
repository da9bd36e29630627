/**
 * The web app under test, through Fastify's inject (no socket, no browser): a store in a temp
 * folder, optionally the Google emulator for sign-ins, a clock the test can move, and a client
 * that keeps cookies and sends the CSRF token like a browser with the page's forms would.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino, type Logger } from 'pino';
import { googleEnv, startGoogle, sampleSeed, type GoogleEmulator } from '../../src/emulators/google/index.js';
import { createWebApp, type RunningApp } from '../../src/server/app.js';
import { configuredProviders } from '../../src/server/providers.js';

export interface TestServer {
  web: RunningApp;
  google?: GoogleEmulator;
  dir: string;
  clock: { offsetMs: number };
  client(): Client;
  /** A folder of .vcf files (a vdir spoke), with these vCards. */
  folder(name: string, cards: Record<string, string>): string;
  close(): Promise<void>;
}

export const GOOGLE_USERS = ['alex@demo.example', 'sam@demo.example'];

/** `log`: where the app logs (default: nowhere). */
export async function startTestServer(opts: { google?: boolean; openSignup?: boolean; log?: Logger } = {}): Promise<TestServer> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hubsync-server-'));
  const clock = { offsetMs: 0 };
  let google: GoogleEmulator | undefined;
  let env: NodeJS.ProcessEnv = {};
  if (opts.google) {
    google = await startGoogle({ port: 0, host: '127.0.0.1', seed: sampleSeed({ emails: GOOGLE_USERS, perUser: 5, shared: 2 }) });
    env = { ...googleEnv(google.url), HUBSYNC_GOOGLE_CLIENT_ID: 'test-client' };
  }
  const web = await createWebApp({
    dataDir: dir,
    env,
    providers: configuredProviders(env),
    demo: false,
    log: opts.log ?? pino({ level: 'silent' }),
    schedulerEveryMs: 0,
    publicUrl: 'http://localhost:8080',
    now: () => Date.now() + clock.offsetMs,
    openSignup: opts.openSignup ?? true,
    loginAttemptsPerMinute: 5,
  });
  await web.server.ready();
  return {
    web,
    ...(google ? { google } : {}),
    dir,
    clock,
    client: () => new Client(web),
    folder(name, cards) {
      const d = path.join(dir, 'folders', name);
      mkdirSync(d, { recursive: true });
      for (const [file, text] of Object.entries(cards)) writeFileSync(path.join(d, file), text);
      return d;
    },
    async close() {
      await web.close();
      await google?.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Res {
  status: number;
  body: string;
  location: string | undefined;
  headers: Record<string, unknown>;
}

export class Client {
  readonly cookies = new Map<string, string>();
  csrf = '';

  constructor(private readonly web: RunningApp) {}

  async request(method: 'GET' | 'POST', url: string, form?: Record<string, string>, opts: { csrf?: string | null; headers?: Record<string, string>; json?: unknown } = {}): Promise<Res> {
    const payload = opts.json !== undefined ? JSON.stringify(opts.json) : form ? new URLSearchParams({ ...form, ...(opts.csrf === null ? {} : { _csrf: opts.csrf ?? this.csrf }) }).toString() : undefined;
    const r = await this.web.server.inject({
      method,
      url,
      cookies: Object.fromEntries(this.cookies),
      headers: {
        ...(payload !== undefined ? { 'content-type': opts.json !== undefined ? 'application/json' : 'application/x-www-form-urlencoded' } : {}),
        ...opts.headers,
      },
      ...(payload !== undefined ? { payload } : {}),
    });
    for (const c of r.cookies) {
      if (c.maxAge === 0 || (c.expires && c.expires.getTime() < Date.now())) this.cookies.delete(c.name);
      else this.cookies.set(c.name, c.value);
    }
    const m = /name="_csrf" value="([^"]+)"/.exec(r.body);
    if (m?.[1]) this.csrf = m[1];
    return { status: r.statusCode, body: r.body, location: r.headers.location as string | undefined, headers: r.headers };
  }

  get(url: string): Promise<Res> {
    return this.request('GET', url);
  }

  post(url: string, form: Record<string, string> = {}, opts: { csrf?: string | null } = {}): Promise<Res> {
    return this.request('POST', url, form, opts);
  }

  /** Follows redirects within the app (GET), returning the last answer. */
  async follow(r: Res): Promise<Res> {
    let cur = r;
    for (let i = 0; i < 10 && cur.location && cur.location.startsWith('/'); i++) cur = await this.get(cur.location);
    return cur;
  }

  /** Creates an organisation and its administrator, and signs in. */
  async signUp(org: string, email: string, password = 'a long enough password'): Promise<void> {
    await this.get('/setup');
    const r = await this.post('/setup', { org, name: `${org} admin`, email, password });
    if (r.status !== 302) throw new Error(`sign-up failed: ${r.status} ${r.body.slice(0, 500)}`);
    await this.get('/hubs');
  }

  /** The wizard with a vCard folder: Contacts → Folder of vCards → path → spoke name → hub name. Returns the hub id. */
  async createVdirHub(hubName: string, spokeName: string, folder: string, hubId?: string): Promise<string> {
    await this.get(hubId ? `/wizard?hub=${hubId}` : '/wizard');
    await this.post('/wizard/object', { object: 'contacts' });
    await this.get('/wizard/source');
    await this.post('/wizard/source', { type: 'vdir' });
    await this.get('/wizard/connect');
    const c = await this.post('/wizard/config', { cfg_path: folder });
    if (c.location !== '/wizard/spoke') throw new Error(`config refused: ${c.status} ${c.body.slice(0, 2000)}`);
    await this.get('/wizard/spoke');
    const s = await this.post('/wizard/spoke', { name: spokeName });
    if (hubId) return hubId;
    if (s.location !== '/wizard/hub') throw new Error(`spoke name refused: ${s.status}`);
    await this.get('/wizard/hub');
    const h = await this.post('/wizard/hub', { name: hubName });
    const id = /^\/hubs\/([^/]+)$/.exec(h.location ?? '')?.[1];
    if (!id) throw new Error(`hub not created: ${h.status} ${h.body.slice(0, 2000)}`);
    return id;
  }
}

export function vcard(uid: string, fn: string, email: string, extra = ''): string {
  const [given, ...rest] = fn.split(' ');
  return `BEGIN:VCARD\r\nVERSION:3.0\r\nUID:${uid}\r\nFN:${fn}\r\nN:${rest.join(' ')};${given ?? ''};;;\r\nEMAIL;TYPE=INTERNET:${email}\r\n${extra}END:VCARD\r\n`;
}
