/**
 * The HTTP client every web-API connector uses: JSON in and out, bearer or Basic credentials,
 * timeouts, and the one place (with the scheduler) where retries live — exponential backoff with
 * full jitter for transient failures, and Retry-After honoured for 429 and 503 (RFC 9110 §10.2.3).
 *
 * A provider's error bodies are turned into the closed error taxonomy by the connector's own
 * `classify` function; this client never guesses from a provider's message text.
 *
 * Retry loop:  send ──2xx──▶ done
 *               │ 401 with a bearer token, first time ──▶ drop the token, send again
 *               │ classify → rate_limited / transient, attempts left, total wait in budget
 *               │       ──▶ wait (Retry-After, else backoff) ──▶ send
 *               └ otherwise ──▶ throw ConnectorError
 * Writes are retried too: connectors make them safe to repeat (markers, If-Match, client ids) —
 * the engine relies on that, not on this client.
 */
import type { SpokeAuth } from './contract.js';
import { ConnectorError, type ConnectorErrorKind } from './errors.js';

export interface HttpResponse<T = unknown> {
  status: number;
  headers: Headers;
  /** Parsed JSON when the response is JSON, else undefined. */
  body: T;
  text: string;
}

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  json?: unknown;
  body?: string;
  headers?: Record<string, string>;
  /** Statuses that are answers, not errors (e.g. 404 for a lookup, 412 handled by the caller). */
  accept?: readonly number[];
  /** Do not retry this request at all (the caller handles every outcome). */
  noRetry?: boolean;
}

export interface RequestInfo {
  method: string;
  /** The URL without its query string (query values may carry tokens). */
  url: string;
  status: number | 'network-error';
  ms: number;
  attempt: number;
}

export interface HttpClientOptions {
  baseUrl: string;
  fetch?: typeof globalThis.fetch;
  auth?: SpokeAuth;
  /** `bearer` (OAuth) or `basic` (username/password). Default bearer when auth has accessToken. */
  authScheme?: 'bearer' | 'basic' | 'none';
  /** Maps an error response to a ConnectorError (the provider's own error shapes). */
  classify?: (res: HttpResponse) => ConnectorError;
  timeoutMs?: number;
  maxAttempts?: number;
  /** The longest total time spent waiting between attempts of one request. */
  maxWaitMs?: number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  userAgent?: string;
  onRequest?: (info: RequestInfo) => void;
}

export function defaultClassify(res: HttpResponse): ConnectorError {
  const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'));
  const kind: ConnectorErrorKind =
    res.status === 401 ? 'auth_revoked'
    : res.status === 403 ? 'permission'
    : res.status === 404 || res.status === 410 ? 'not_found'
    : res.status === 409 || res.status === 412 ? 'conflict'
    : res.status === 429 ? 'rate_limited'
    : res.status >= 500 ? 'transient'
    : res.status === 400 || res.status === 422 ? 'invalid_data'
    : 'unsupported';
  return new ConnectorError(kind, `HTTP ${res.status}${res.text ? `: ${res.text.slice(0, 300)}` : ''}`, retryAfterMs === undefined ? {} : { retryAfterMs });
}

/** Retry-After as delay-seconds or an HTTP date (RFC 9110 §10.2.3), in milliseconds. */
export function parseRetryAfter(v: string | null, now: number = Date.now()): number | undefined {
  if (!v) return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}

export class HttpClient {
  private readonly o: Required<Omit<HttpClientOptions, 'auth' | 'onRequest' | 'userAgent'>> & Pick<HttpClientOptions, 'auth' | 'onRequest' | 'userAgent'>;

  constructor(opts: HttpClientOptions) {
    this.o = {
      fetch: globalThis.fetch,
      authScheme: opts.auth?.accessToken ? 'bearer' : opts.auth?.password !== undefined ? 'basic' : 'none',
      classify: defaultClassify,
      timeoutMs: 60_000,
      maxAttempts: 6,
      maxWaitMs: 120_000,
      sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
      random: Math.random,
      ...opts,
      baseUrl: opts.baseUrl.replace(/\/+$/, ''),
    };
  }

  url(path: string, query?: RequestOptions['query']): string {
    const u = new URL(/^https?:\/\//.test(path) ? path : `${this.o.baseUrl}${path.startsWith('/') ? '' : '/'}${path}`);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) u.searchParams.set(k, String(v));
    return u.toString();
  }

  async request<T = unknown>(method: string, path: string, opts: RequestOptions = {}): Promise<HttpResponse<T>> {
    const url = this.url(path, opts.query);
    let waited = 0;
    let refreshedToken = false;
    for (let attempt = 1; ; attempt++) {
      const headers: Record<string, string> = { accept: 'application/json', ...(this.o.userAgent ? { 'user-agent': this.o.userAgent } : {}), ...opts.headers };
      let token: string | undefined;
      if (this.o.authScheme === 'bearer' && this.o.auth?.accessToken) {
        token = await this.o.auth.accessToken();
        headers.authorization = `Bearer ${token}`;
      } else if (this.o.authScheme === 'basic' && this.o.auth) {
        headers.authorization = `Basic ${Buffer.from(`${this.o.auth.username ?? ''}:${this.o.auth.password ?? ''}`).toString('base64')}`;
      }
      let body = opts.body;
      if (opts.json !== undefined) {
        body = JSON.stringify(opts.json);
        headers['content-type'] ??= 'application/json';
      }
      const started = Date.now();
      let res: HttpResponse<T> | undefined;
      let failure: ConnectorError;
      try {
        const r = await this.o.fetch(url, { method, headers, ...(body === undefined ? {} : { body }), signal: AbortSignal.timeout(this.o.timeoutMs) });
        const text = await r.text();
        let parsed: unknown;
        if (text && (r.headers.get('content-type') ?? '').includes('json')) {
          try {
            parsed = JSON.parse(text);
          } catch {
            parsed = undefined;
          }
        }
        res = { status: r.status, headers: r.headers, body: parsed as T, text };
        this.o.onRequest?.({ method, url: url.split('?')[0] ?? url, status: r.status, ms: Date.now() - started, attempt });
        if ((r.status >= 200 && r.status < 300) || opts.accept?.includes(r.status)) return res;
        if (r.status === 401 && token && !refreshedToken && this.o.auth?.invalidateAccessToken) {
          // An access token can be revoked or expire early; one fresh token is worth a retry.
          this.o.auth.invalidateAccessToken(token);
          refreshedToken = true;
          continue;
        }
        failure = this.o.classify(res);
      } catch (e) {
        this.o.onRequest?.({ method, url: url.split('?')[0] ?? url, status: 'network-error', ms: Date.now() - started, attempt });
        if (e instanceof ConnectorError) throw e;
        failure = new ConnectorError('transient', `${method} ${url.split('?')[0]}: ${(e as Error).message}`, { cause: e });
      }
      const retriable = failure.kind === 'transient' || failure.kind === 'rate_limited';
      if (!retriable || opts.noRetry || attempt >= this.o.maxAttempts) throw failure;
      const backoff = Math.min(30_000, 500 * 2 ** (attempt - 1)) * this.o.random();
      const delay = failure.retryAfterMs ?? backoff;
      if (waited + delay > this.o.maxWaitMs) throw failure;
      waited += delay;
      await this.o.sleep(delay);
    }
  }
}
