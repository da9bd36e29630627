/**
 * Real CardDAV servers for the interop suite and the benchmark: Radicale and Xandikos from Debian's
 * packages, each on a free 127.0.0.1 port with a fresh storage folder (test-servers.md §1).
 *
 * A missing binary fails loudly with the apt-get command; nothing is ever skipped.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface DavServer {
  kind: 'radicale' | 'xandikos';
  /** `http://127.0.0.1:PORT/` */
  url: string;
  port: number;
  /** Users that can log in (Radicale); Xandikos has no authentication and one principal. */
  users: Record<string, string>;
  /** The address book home of a user: Radicale `/USER/`, Xandikos `/user/contacts/`. */
  home(user: string): string;
  storage: string;
  /** The server's own log (stdout + stderr). */
  log(): string;
  stop(): Promise<void>;
}

const APT = 'apt-get install -y radicale xandikos vdirsyncer';

export function requireBinary(name: string): string {
  const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  const p = r.stdout.trim();
  if (r.status !== 0 || p === '') {
    throw new Error(`${name} is not installed: the CardDAV interop suite needs it. Install Debian's packages with: ${APT}`);
  }
  return p;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

async function waitReady(url: string, proc: ChildProcess, log: () => string, ms = 20_000): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (proc.exitCode !== null) throw new Error(`server at ${url} exited with ${proc.exitCode}:\n${log()}`);
    try {
      const r = await fetch(url, { method: 'OPTIONS' });
      await r.body?.cancel();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`server at ${url} did not come up in ${ms} ms:\n${log()}`);
}

function capture(proc: ChildProcess): () => string {
  const chunks: string[] = [];
  let size = 0;
  const add = (b: Buffer): void => {
    chunks.push(b.toString('utf8'));
    size += b.length;
    while (size > 4_000_000 && chunks.length > 1) size -= (chunks.shift() as string).length;
  };
  proc.stdout?.on('data', add);
  proc.stderr?.on('data', add);
  return () => chunks.join('');
}

async function stopProc(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    const t = setTimeout(() => {
      proc.kill('SIGKILL');
    }, 5000);
    proc.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    proc.kill('SIGTERM');
  });
}

/**
 * Radicale 3 with htpasswd (plain) users, owner_only rights, no web UI, `delay = 0` (no penalty per
 * failed login). `-C FILE` replaces Debian's /etc/radicale/config (test-servers.md §1.1).
 */
export async function startRadicale(users: Record<string, string> = { alice: 'alicepw', bob: 'bobpw' }): Promise<DavServer> {
  const bin = requireBinary('radicale');
  const storage = await mkdtemp(path.join(os.tmpdir(), 'hubsync-radicale-'));
  const port = await freePort();
  const htpasswd = path.join(storage, 'users');
  await writeFile(htpasswd, Object.entries(users).map(([u, p]) => `${u}:${p}\n`).join(''));
  const conf = path.join(storage, 'config');
  // Comments on their own lines: Radicale's configparser keeps inline `#` as part of the value.
  await writeFile(
    conf,
    [
      '[server]',
      `hosts = 127.0.0.1:${port}`,
      '[auth]',
      'type = htpasswd',
      `htpasswd_filename = ${htpasswd}`,
      'htpasswd_encryption = plain',
      'delay = 0',
      '[rights]',
      'type = owner_only',
      '[storage]',
      `filesystem_folder = ${path.join(storage, 'collections')}`,
      '[web]',
      'type = none',
      '[logging]',
      'level = warning',
      '',
    ].join('\n'),
  );
  const proc = spawn(bin, ['-C', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  const log = capture(proc);
  const url = `http://127.0.0.1:${port}/`;
  await waitReady(url, proc, log);
  return {
    kind: 'radicale',
    url,
    port,
    users,
    home: (user) => `${url}${user}/`,
    storage,
    log,
    stop: async () => {
      await stopProc(proc);
      await rm(storage, { recursive: true, force: true });
    },
  };
}

/** Xandikos with `--autocreate` (principal /user/ and the home set /user/contacts/). No auth. */
export async function startXandikos(): Promise<DavServer> {
  const bin = requireBinary('xandikos');
  const storage = await mkdtemp(path.join(os.tmpdir(), 'hubsync-xandikos-'));
  await mkdir(path.join(storage, 'data'));
  const port = await freePort();
  const proc = spawn(bin, ['-d', path.join(storage, 'data'), '-l', '127.0.0.1', '-p', String(port), '--autocreate'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const log = capture(proc);
  const url = `http://127.0.0.1:${port}/`;
  await waitReady(url, proc, log);
  return {
    kind: 'xandikos',
    url,
    port,
    users: {},
    home: () => `${url}user/contacts/`,
    storage,
    log,
    stop: async () => {
      await stopProc(proc);
      await rm(storage, { recursive: true, force: true });
    },
  };
}

// -------------------------------------------------------------------------------------------------
// A "user" acting on the server directly (another client), with plain fetch.

export interface Login {
  username: string;
  password: string;
}

function authHeaders(login: Login | null): Record<string, string> {
  return login ? { authorization: `Basic ${Buffer.from(`${login.username}:${login.password}`).toString('base64')}` } : {};
}

/** Creates an address book with an extended MKCOL (RFC 5689); returns its URL. */
export async function makeAddressBook(url: string, login: Login | null, displayName = path.basename(new URL(url).pathname)): Promise<string> {
  const u = url.endsWith('/') ? url : `${url}/`;
  const r = await fetch(u, {
    method: 'MKCOL',
    headers: { ...authHeaders(login), 'content-type': 'application/xml; charset=utf-8' },
    body:
      '<?xml version="1.0" encoding="utf-8"?><d:mkcol xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav"><d:set><d:prop>' +
      `<d:resourcetype><d:collection/><card:addressbook/></d:resourcetype><d:displayname>${displayName}</d:displayname>` +
      '</d:prop></d:set></d:mkcol>',
  });
  await r.body?.cancel();
  if (r.status !== 201) throw new Error(`MKCOL ${u} gave ${r.status}`);
  return u;
}

export class DavUser {
  constructor(
    readonly book: string,
    readonly login: Login | null,
  ) {}

  private h(extra: Record<string, string> = {}): Record<string, string> {
    return { ...authHeaders(this.login), ...extra };
  }

  url(name: string): string {
    return `${this.book}${encodeURIComponent(name)}`;
  }

  async put(name: string, text: string, ifMatch?: string): Promise<string | null> {
    const r = await fetch(this.url(name), { method: 'PUT', headers: this.h({ 'content-type': 'text/vcard; charset=utf-8', ...(ifMatch ? { 'if-match': ifMatch } : {}) }), body: text });
    await r.body?.cancel();
    if (r.status >= 300) throw new Error(`PUT ${name}: ${r.status}`);
    return r.headers.get('etag');
  }

  async get(name: string): Promise<{ text: string; etag: string | null } | null> {
    const r = await fetch(this.url(name), { headers: this.h() });
    if (r.status === 404) {
      await r.body?.cancel();
      return null;
    }
    if (r.status !== 200) throw new Error(`GET ${name}: ${r.status}`);
    return { text: await r.text(), etag: r.headers.get('etag') };
  }

  async delete(name: string): Promise<void> {
    const r = await fetch(this.url(name), { method: 'DELETE', headers: this.h() });
    await r.body?.cancel();
    if (r.status >= 300 && r.status !== 404) throw new Error(`DELETE ${name}: ${r.status}`);
  }

  /** The member names of the address book (PROPFIND Depth 1). */
  async list(): Promise<string[]> {
    const r = await fetch(this.book, {
      method: 'PROPFIND',
      headers: this.h({ depth: '1', 'content-type': 'application/xml; charset=utf-8' }),
      body: '<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:getetag/></d:prop></d:propfind>',
    });
    const xml = await r.text();
    if (r.status !== 207) throw new Error(`PROPFIND ${this.book}: ${r.status}`);
    const base = new URL(this.book).pathname;
    const out: string[] = [];
    for (const m of xml.matchAll(/<(?:[A-Za-z0-9]+:)?href>([^<]*)<\/(?:[A-Za-z0-9]+:)?href>/g)) {
      const p = new URL(m[1] as string, this.book).pathname;
      if (p === base || !p.startsWith(base)) continue;
      out.push(decodeURIComponent(p.slice(base.length)));
    }
    return out.sort();
  }
}
