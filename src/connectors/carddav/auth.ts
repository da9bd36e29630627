/**
 * HTTP authentication for CardDAV: Basic (RFC 7617) and Digest (RFC 7616), wrapped around a
 * `fetch`. Credentials are only ever sent to the origin of the address book; they are never logged.
 *
 * - `basic`: sent with every request (preemptively, as curl -u and vdirsyncer do: one round trip
 *   per request, not two).
 * - `digest`: the first request of a connector goes without credentials, the 401 challenge is kept
 *   and every later request answers it with a fresh `nc` (RFC 7616 §3.4); a `stale=true` challenge
 *   is answered again once.
 * - `auto` (used while adding a spoke): the first request goes without credentials and the
 *   server's 401 challenge decides — Digest when offered (so a password is never sent in clear to a
 *   server that can do better), else Basic. `scheme()` then tells the caller what to store.
 */
import { createHash, randomBytes } from 'node:crypto';

export type AuthScheme = 'basic' | 'digest';

export interface Credentials {
  username: string;
  password: string;
}

interface DigestChallenge {
  realm: string;
  nonce: string;
  opaque?: string;
  algorithm: string;
  qop?: string;
  stale: boolean;
}

/** Parses the `Digest` challenge of a WWW-Authenticate header (possibly holding several challenges). */
export function parseDigestChallenge(header: string | null): DigestChallenge | null {
  if (!header) return null;
  const at = header.search(/(?:^|[\s,])Digest\s/i);
  if (at < 0) return null;
  const rest = header.slice(header.toLowerCase().indexOf('digest', at) + 6);
  const params: Record<string, string> = {};
  const re = /\s*,?\s*([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))/gy;
  let m: RegExpExecArray | null;
  while ((m = re.exec(rest)) !== null) {
    const key = (m[1] as string).toLowerCase();
    // A new scheme name ("Basic realm=…") ends the Digest parameters.
    if (params[key] !== undefined) break;
    params[key] = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : (m[3] ?? '');
  }
  if (params.nonce === undefined || params.realm === undefined) return null;
  return {
    realm: params.realm,
    nonce: params.nonce,
    ...(params.opaque !== undefined ? { opaque: params.opaque } : {}),
    algorithm: params.algorithm ?? 'MD5',
    ...(params.qop !== undefined ? { qop: params.qop } : {}),
    stale: (params.stale ?? '').toLowerCase() === 'true',
  };
}

function offersBasic(header: string | null): boolean {
  return header !== null && /(?:^|[\s,])Basic(?:\s|$)/i.test(header);
}

export function basicHeader(c: Credentials): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`, 'utf8').toString('base64')}`;
}

/** The Authorization value answering `ch` for one request (RFC 7616 §3.4.1). */
export function digestHeader(c: Credentials, ch: DigestChallenge, method: string, uri: string, nc: number, cnonce: string): string {
  const alg = ch.algorithm.toUpperCase();
  const hashName = alg.startsWith('SHA-256') ? 'sha256' : alg.startsWith('SHA-512-256') ? 'sha512-256' : 'md5';
  const h = (s: string): string => createHash(hashName).update(s, 'utf8').digest('hex');
  let ha1 = h(`${c.username}:${ch.realm}:${c.password}`);
  if (alg.endsWith('-SESS')) ha1 = h(`${ha1}:${ch.nonce}:${cnonce}`);
  const ha2 = h(`${method}:${uri}`);
  const qop = ch.qop?.split(',').map((q) => q.trim()).includes('auth') ? 'auth' : undefined;
  const ncHex = nc.toString(16).padStart(8, '0');
  const response = qop ? h(`${ha1}:${ch.nonce}:${ncHex}:${cnonce}:${qop}:${ha2}`) : h(`${ha1}:${ch.nonce}:${ha2}`);
  const q = (v: string): string => `"${v.replace(/(["\\])/g, '\\$1')}"`;
  const parts = [
    `username=${q(c.username)}`,
    `realm=${q(ch.realm)}`,
    `nonce=${q(ch.nonce)}`,
    `uri=${q(uri)}`,
    `algorithm=${ch.algorithm}`,
    `response=${q(response)}`,
  ];
  if (ch.opaque !== undefined) parts.push(`opaque=${q(ch.opaque)}`);
  if (qop) parts.push(`qop=${qop}`, `nc=${ncHex}`, `cnonce=${q(cnonce)}`);
  return `Digest ${parts.join(', ')}`;
}

/** A `fetch` that authenticates against one origin. */
export class AuthenticatingFetch {
  private current: AuthScheme | 'auto';
  private challenge: DigestChallenge | null = null;
  private nc = 0;

  constructor(
    private readonly inner: typeof globalThis.fetch,
    private readonly origin: string,
    private readonly creds: Credentials | null,
    scheme: AuthScheme | 'auto',
  ) {
    this.current = scheme;
  }

  /** The scheme in use (after `auto` met its first challenge), or null when still undecided. */
  scheme(): AuthScheme | null {
    return this.current === 'auto' ? null : this.current;
  }

  readonly fetch = async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
    if (this.creds === null || url.origin !== this.origin) return this.inner(url.href, init);
    const send = (authz: string | null): Promise<Response> => {
      const headers = new Headers(init.headers);
      if (authz !== null) headers.set('authorization', authz);
      return this.inner(url.href, { ...init, headers });
    };
    const method = (init.method ?? 'GET').toUpperCase();
    const uri = `${url.pathname}${url.search}`;
    const answer = (): string | null => {
      if (this.current === 'basic') return basicHeader(this.creds as Credentials);
      if (this.current === 'digest' && this.challenge !== null) {
        this.nc += 1;
        return digestHeader(this.creds as Credentials, this.challenge, method, uri, this.nc, randomBytes(8).toString('hex'));
      }
      return null;
    };

    const first = await send(answer());
    if (first.status !== 401) return first;
    const www = first.headers.get('www-authenticate');
    const digest = parseDigestChallenge(www);
    if (this.current === 'auto' || this.current === 'digest') {
      if (digest !== null && (this.challenge === null || digest.stale || this.current === 'auto')) {
        this.current = 'digest';
        this.challenge = digest;
        this.nc = 0;
        await first.body?.cancel();
        return send(answer());
      }
      if (this.current === 'auto' && (offersBasic(www) || digest === null)) {
        this.current = 'basic';
        await first.body?.cancel();
        return send(answer());
      }
    } else if (this.current === 'basic' && digest !== null && !offersBasic(www)) {
      // Configured for Basic but the server now only speaks Digest: follow it.
      this.current = 'digest';
      this.challenge = digest;
      this.nc = 0;
      await first.body?.cancel();
      return send(answer());
    }
    return first;
  };
}
