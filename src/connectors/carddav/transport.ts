/**
 * The CardDAV spoke's HTTP stack, bottom to top:
 *
 *   base fetch (injected `env.fetch`, global fetch, or node:https with a custom CA)
 *     → at most `concurrency` requests in flight to the server (a semaphore)
 *       → authentication (Basic / Digest, auth.ts)
 *         → the shared HttpClient (retries with backoff, Retry-After, the DAV error classifier)
 *           → `davFetch`, a fetch-shaped view of it that tsdav's XML helpers call.
 *
 * tsdav builds and parses the XML (PROPFIND, REPORT sync-collection / addressbook-multiget); every
 * request still goes through the shared client, so retries and classification live in one place.
 */
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { HttpClient, type HttpResponse } from '../kit/http-client.js';
import { AuthenticatingFetch, type AuthScheme, type Credentials } from './auth.js';
import { classifyDav } from './errors.js';

export interface TransportOptions {
  /** The address book (or server) URL: credentials are sent to its origin only. */
  url: string;
  credentials: Credentials | null;
  scheme: AuthScheme | 'auto';
  concurrency: number;
  caFile: string | null;
  fetch?: typeof globalThis.fetch;
  timeoutMs?: number;
}

export interface DavCallOptions {
  /** Statuses handled by the caller (404 on GET, 412 on a conditional write…). */
  accept?: readonly number[];
  noRetry?: boolean;
}

/** A counting semaphore: at most `limit` holders at once, FIFO. */
class Semaphore {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly limit: number) {}
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((r) => this.waiting.push(r));
    this.active += 1;
    try {
      return await fn();
    } finally {
      this.active -= 1;
      this.waiting.shift()?.();
    }
  }
}

export class DavTransport {
  readonly http: HttpClient;
  readonly auth: AuthenticatingFetch;

  constructor(opts: TransportOptions) {
    const base = opts.fetch ?? (opts.caFile !== null ? nodeFetch(fs.readFileSync(opts.caFile, 'utf8')) : globalThis.fetch);
    const sem = new Semaphore(opts.concurrency);
    // The body is read inside the semaphore, so a slow download holds its slot (the server is busy).
    const limited: typeof globalThis.fetch = (input, init) =>
      sem.run(async () => {
        const res = await base(input, init);
        const text = res.status === 204 || res.status === 304 ? '' : await res.text();
        return rebuild(res, text);
      });
    this.auth = new AuthenticatingFetch(limited, new URL(opts.url).origin, opts.credentials, opts.scheme);
    this.http = new HttpClient({
      baseUrl: opts.url,
      fetch: this.auth.fetch,
      authScheme: 'none',
      classify: classifyDav,
      timeoutMs: opts.timeoutMs ?? 180_000,
      userAgent: 'hubsync (CardDAV)',
    });
  }

  request(method: string, url: string, body: string | undefined, headers: Record<string, string>, o: DavCallOptions = {}): Promise<HttpResponse> {
    return this.http.request(method, url, {
      ...(body === undefined ? {} : { body }),
      headers: { accept: '*/*', ...headers },
      ...(o.accept ? { accept: o.accept } : {}),
      ...(o.noRetry ? { noRetry: true } : {}),
    });
  }

  /** A fetch for tsdav's helpers: same stack, with `o` deciding which statuses are answers. */
  davFetch(o: DavCallOptions = {}): typeof globalThis.fetch {
    return async (input, init = {}) => {
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      const headers: Record<string, string> = {};
      new Headers(init.headers).forEach((v, k) => {
        headers[k] = v;
      });
      const body = typeof init.body === 'string' ? init.body : undefined;
      const res = await this.request(init.method ?? 'GET', url, body, headers, o);
      return rebuild({ status: res.status, statusText: '', headers: res.headers, url }, res.text);
    };
  }
}

/** A Response carrying `text`, keeping status, headers and the final URL of `from`. */
function rebuild(from: Pick<Response, 'status' | 'statusText' | 'headers' | 'url'>, text: string): Response {
  const nullBody = from.status === 204 || from.status === 205 || from.status === 304;
  const r = new Response(nullBody ? null : text, { status: from.status, statusText: from.statusText, headers: from.headers });
  Object.defineProperty(r, 'url', { value: from.url });
  return r;
}

/**
 * A minimal fetch on node:http(s), for servers whose certificate is signed by a private CA: Node's
 * global fetch (undici) takes no per-call CA, and NODE_EXTRA_CA_CERTS is process-wide. Keep-alive
 * agents; string bodies; redirects followed (up to 5) unless `redirect: 'manual'`.
 */
export function nodeFetch(ca: string): typeof globalThis.fetch {
  const httpsAgent = new https.Agent({ keepAlive: true, ca });
  const httpAgent = new http.Agent({ keepAlive: true });
  const once = (url: URL, init: RequestInit): Promise<Response> =>
    new Promise((resolve, reject) => {
      const headers: Record<string, string> = {};
      new Headers(init.headers).forEach((v, k) => {
        headers[k] = v;
      });
      const body = typeof init.body === 'string' ? Buffer.from(init.body, 'utf8') : undefined;
      if (body !== undefined) headers['content-length'] = String(body.length);
      const mod = url.protocol === 'https:' ? https : http;
      const req = mod.request(
        url,
        { method: init.method ?? 'GET', headers, agent: url.protocol === 'https:' ? httpsAgent : httpAgent, ...(init.signal ? { signal: init.signal } : {}) },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const h = new Headers();
            for (const [k, v] of Object.entries(res.headers)) {
              if (Array.isArray(v)) for (const x of v) h.append(k, x);
              else if (v !== undefined) h.set(k, v);
            }
            resolve(rebuild({ status: res.statusCode ?? 0, statusText: res.statusMessage ?? '', headers: h, url: url.href }, Buffer.concat(chunks).toString('utf8')));
          });
        },
      );
      req.on('error', reject);
      if (body !== undefined) req.write(body);
      req.end();
    });
  return async (input, init = {}) => {
    let url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
    for (let hop = 0; ; hop++) {
      const res = await once(url, init);
      const loc = res.headers.get('location');
      if (init.redirect === 'manual' || res.status < 300 || res.status >= 400 || loc === null || hop >= 5) return res;
      url = new URL(loc, url);
    }
  };
}
