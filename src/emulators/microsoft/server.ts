/**
 * The Microsoft 365 emulator as an HTTP server: identity endpoints at `/{tenant}/…` (stand-in for
 * https://login.microsoftonline.com) and Graph at `/v1.0/…` (stand-in for https://graph.microsoft.com),
 * on one port. Around the transport-free handlers it adds what the real service enforces per request:
 *
 * - bearer tokens (401 InvalidAuthenticationToken when missing or expired);
 * - the Outlook per-app, per-mailbox concurrency limit: a 5th request in flight to one mailbox is
 *   answered 429 ApplicationThrottled "Application is over its MailboxConcurrency limit." with
 *   Retry-After (api-spec.md §4.5);
 * - `$batch` (≤ 20 requests, unique ids, `dependsOn`, 424 for failed dependencies), whose items Graph
 *   dispatches to Outlook up to 4 at a time — each counting against the mailbox limit (§4.4);
 * - fault injection per route (status, body, Retry-After, a rate, a crash mid-`$batch`), and
 *   request counts by endpoint, for tests and benchmarks.
 *
 * In-process API: `startMicrosoftEmulator({ port: 0, seed })` → `{ url, state, faults, counts, close }`.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { GraphApi, graphError, type GraphRequest, type GraphResponse, type Principal } from './graph.js';
import { IdentityApi } from './identity.js';
import { GraphState, type Seed } from './state.js';

export interface FaultRule {
  method?: string;
  /** Matched against the path after `/v1.0` (a regular expression, or a substring). */
  path?: RegExp | string;
  /** Only requests inside a `$batch` (`item`), only top-level ones (`request`), or both (default). */
  scope?: 'item' | 'request' | 'any';
  status: number;
  code?: string;
  message?: string;
  retryAfter?: number;
  /** Fires this many times (default: until removed). */
  times?: number;
  /** Fires for this fraction of matching requests (default 1). */
  rate?: number;
}

export class Faults {
  private rules: (FaultRule & { left: number })[] = [];
  /** The next `$batch` with more items than this applies this many, then the connection drops without a response. */
  crashBatchAfter: number | null = null;
  fired = 0;
  private rand: () => number;

  constructor(seed = 1) {
    let a = seed >>> 0;
    this.rand = () => {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  add(rule: FaultRule): void {
    this.rules.push({ ...rule, left: rule.times ?? Number.POSITIVE_INFINITY });
  }

  /** Throttling and server errors at `rate` on every Graph request (429 with Retry-After, 500, 503). */
  randomErrors(rate: number, retryAfter = 0): void {
    this.add({ status: 429, code: 'ApplicationThrottled', message: 'Application is over its MailboxRequests limit.', retryAfter, rate: rate / 3 });
    this.add({ status: 503, code: 'serviceNotAvailable', message: 'Service unavailable.', retryAfter, rate: rate / 3 });
    this.add({ status: 500, code: 'generalException', message: 'An internal server error occurred.', rate: rate / 3 });
  }

  clear(): void {
    this.rules = [];
    this.crashBatchAfter = null;
  }

  match(method: string, path: string, inBatch: boolean): GraphResponse | null {
    for (const r of this.rules) {
      if (r.left <= 0) continue;
      if (r.method && r.method !== method) continue;
      if (r.path && !(typeof r.path === 'string' ? path.includes(r.path) : r.path.test(path))) continue;
      const scope = r.scope ?? 'any';
      if ((scope === 'item' && !inBatch) || (scope === 'request' && inBatch)) continue;
      if (r.rate !== undefined && this.rand() >= r.rate) continue;
      r.left -= 1;
      this.fired += 1;
      const headers: Record<string, string> = r.retryAfter !== undefined ? { 'retry-after': String(r.retryAfter) } : {};
      return graphError(r.status, r.code ?? (r.status === 429 ? 'TooManyRequests' : r.status >= 500 ? 'generalException' : 'invalidRequest'), r.message ?? `Injected fault ${r.status}.`, headers);
    }
    return null;
  }
}

export class Counts {
  /** Requests by endpoint, ids replaced by `{id}`: `GET /users/{id}/contactFolders/{id}/contacts/delta`. */
  readonly byEndpoint = new Map<string, number>();
  /** `$batch` items by endpoint, the same way. */
  readonly batchItems = new Map<string, number>();
  /** Top-level HTTP requests to Graph (a `$batch` counts once). */
  graphRequests = 0;
  identityRequests = 0;
  /** The most requests ever in flight at once, per mailbox (app|user). */
  readonly maxInFlight = new Map<string, number>();
  /** Requests refused by the concurrency limit (429 MailboxConcurrency). */
  concurrencyRejections = 0;

  reset(): void {
    this.byEndpoint.clear();
    this.batchItems.clear();
    this.graphRequests = 0;
    this.identityRequests = 0;
    this.maxInFlight.clear();
    this.concurrencyRejections = 0;
  }

  get(endpoint: string): number {
    return this.byEndpoint.get(endpoint) ?? 0;
  }

  highestInFlight(): number {
    return Math.max(0, ...this.maxInFlight.values());
  }
}

const LITERAL = new Set(['users', 'me', 'contacts', 'contactFolders', 'childFolders', 'delta', 'photo', '$value', '$batch', 'places', 'microsoft.graph.room', 'organization']);

export function endpointKey(method: string, path: string): string {
  const p = path.split('?')[0] ?? '';
  return `${method} ${p.split('/').map((s) => (s === '' || LITERAL.has(s) ? s : '{id}')).join('/')}`;
}

export interface EmulatorOptions {
  port?: number;
  host?: string;
  seed?: Seed;
  /** Added latency per Graph request (and per `$batch` item), in ms: makes concurrency observable. */
  latencyMs?: number;
  /** Outlook's per-app per-mailbox concurrency limit (4). */
  mailboxConcurrency?: number;
  /** Retry-After (seconds) on a MailboxConcurrency 429. */
  throttleRetryAfter?: number;
  now?: () => number;
}

export interface MicrosoftEmulator {
  url: string;
  state: GraphState;
  graph: GraphApi;
  identity: IdentityApi;
  faults: Faults;
  counts: Counts;
  options: Required<Pick<EmulatorOptions, 'latencyMs' | 'mailboxConcurrency' | 'throttleRetryAfter'>>;
  close(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

class CrashError extends Error {}

export async function startMicrosoftEmulator(opts: EmulatorOptions = {}): Promise<MicrosoftEmulator> {
  let base = '';
  const now = opts.now ?? Date.now;
  const state = new GraphState(opts.seed ?? {}, now);
  const graph = new GraphApi(state, () => base);
  const identity = new IdentityApi(state, () => base, now);
  const faults = new Faults();
  const counts = new Counts();
  const options = { latencyMs: opts.latencyMs ?? 0, mailboxConcurrency: opts.mailboxConcurrency ?? 4, throttleRetryAfter: opts.throttleRetryAfter ?? 1 };
  const inFlight = new Map<string, number>();

  const mailboxKey = (principal: Principal, path: string): string | null => {
    const segs = path.split('/').filter((s) => s !== '');
    if (segs[0] === 'me') return principal.userId ? `${principal.clientId}|${principal.userId}` : null;
    if (segs[0] === 'users' && segs.length > 2) {
      const u = state.findUser(decodeURIComponent(segs[1] as string));
      return u ? `${principal.clientId}|${u.id}` : null;
    }
    return null;
  };

  /** One request through faults, the mailbox limiter, latency and the handler. */
  const run = async (req: GraphRequest, inBatch: boolean): Promise<GraphResponse> => {
    const fault = faults.match(req.method, req.path, inBatch);
    if (fault) return fault;
    const key = mailboxKey(req.principal, req.path);
    if (key) {
      const n = inFlight.get(key) ?? 0;
      if (n >= options.mailboxConcurrency) {
        counts.concurrencyRejections += 1;
        return graphError(429, 'ApplicationThrottled', 'Application is over its MailboxConcurrency limit.', { 'retry-after': String(options.throttleRetryAfter) });
      }
      inFlight.set(key, n + 1);
      counts.maxInFlight.set(key, Math.max(counts.maxInFlight.get(key) ?? 0, n + 1));
    }
    try {
      if (options.latencyMs > 0) await sleep(options.latencyMs);
      return graph.handle(req);
    } finally {
      if (key) inFlight.set(key, (inFlight.get(key) ?? 1) - 1);
    }
  };

  const batch = async (body: unknown, principal: Principal, onItemDone: () => void): Promise<GraphResponse> => {
    const requests = (body as { requests?: unknown } | null)?.requests;
    if (!Array.isArray(requests)) return graphError(400, 'BadRequest', 'Invalid batch payload format.');
    if (requests.length > 20) return graphError(400, 'BadRequest', 'The number of requests in the batch exceeds the limit of 20.');
    const ids = new Set<string>();
    for (const r of requests as Record<string, unknown>[]) {
      const id = String(r?.id ?? '').toLowerCase();
      if (id === '' || ids.has(id)) return graphError(400, 'BadRequest', 'Batch request ids must be unique and non-empty.');
      ids.add(id);
      if (typeof r.url !== 'string' || typeof r.method !== 'string') return graphError(400, 'BadRequest', 'Each batch request needs a method and a url.');
      if (r.body !== undefined && !(r.headers && typeof r.headers === 'object' && Object.keys(r.headers).some((h) => h.toLowerCase() === 'content-type'))) {
        return graphError(400, 'BadRequest', 'A batch request with a body must have a Content-Type header.');
      }
    }
    const results = new Map<string, { id: string; status: number; headers: Record<string, string>; body?: unknown }>();
    const items = requests as { id: string; method: string; url: string; headers?: Record<string, string>; body?: unknown; dependsOn?: string[] }[];
    let applied = 0;
    // The crash hits the first batch with more items than it lets through.
    const crashAt = faults.crashBatchAfter !== null && items.length > faults.crashBatchAfter ? faults.crashBatchAfter : null;
    if (crashAt !== null) faults.crashBatchAfter = null;
    const one = async (r: (typeof items)[number]): Promise<void> => {
      const failedDep = (r.dependsOn ?? []).some((d) => {
        const x = results.get(d);
        return !x || x.status >= 400;
      });
      if (failedDep) {
        results.set(r.id, { id: r.id, status: 424, headers: { 'content-type': 'application/json' }, body: graphError(424, 'FailedDependency', 'The request failed because it depended on another request that failed.').body });
        return;
      }
      if (crashAt !== null && applied >= crashAt) throw new CrashError('crash');
      const url = new URL(r.url.startsWith('/') ? r.url : `/${r.url}`, 'http://batch');
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(r.headers ?? {})) headers[k.toLowerCase()] = String(v);
      const ct = headers['content-type'] ?? '';
      const itemBody = r.body !== undefined && /^image\//.test(ct) && typeof r.body === 'string' ? Buffer.from(r.body, 'base64') : r.body;
      counts.batchItems.set(endpointKey(r.method, url.pathname), (counts.batchItems.get(endpointKey(r.method, url.pathname)) ?? 0) + 1);
      const res = await run({ method: r.method.toUpperCase(), path: decodeURI(url.pathname), query: url.searchParams, headers, body: itemBody, principal }, true);
      applied += 1;
      onItemDone();
      const out = res.body instanceof Buffer ? res.body.toString('base64') : res.body;
      results.set(r.id, { id: r.id, status: res.status, headers: res.headers ?? {}, ...(out === undefined ? {} : { body: out }) });
    };
    // Items without dependencies go out up to 4 at a time (Graph → Outlook); dependants wait for theirs.
    const pending = [...items];
    const running = new Set<Promise<void>>();
    while (pending.length > 0 || running.size > 0) {
      const readyIdx = pending.findIndex((r) => (r.dependsOn ?? []).every((d) => results.has(d)));
      if (readyIdx >= 0 && running.size < 4) {
        const [r] = pending.splice(readyIdx, 1);
        const p: Promise<void> = one(r as (typeof items)[number]).finally(() => running.delete(p));
        running.add(p);
        continue;
      }
      if (running.size === 0) break;
      await Promise.race(running);
    }
    return { status: 200, headers: { 'content-type': 'application/json' }, body: { responses: [...results.values()] } };
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const raw = Buffer.concat(chunks);
        const url = new URL(req.url ?? '/', base);
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
        const send = (r: { status: number; headers?: Record<string, string>; body?: unknown }): void => {
          const h = { ...(r.headers ?? {}) };
          let payload: Buffer | string = '';
          if (r.body instanceof Buffer) payload = r.body;
          else if (r.body !== undefined) {
            payload = JSON.stringify(r.body);
            h['content-type'] ??= 'application/json';
          }
          res.writeHead(r.status, h);
          res.end(payload);
        };
        try {
          if (!url.pathname.startsWith('/v1.0/')) {
            counts.identityRequests += 1;
            const form = new URLSearchParams(req.method === 'POST' ? raw.toString('utf8') : '');
            // HTTP Basic client authentication (RFC 6749 §2.3.1) is folded into the form.
            const basic = /^Basic (.+)$/i.exec(headers.authorization ?? '');
            if (basic) {
              const [id, secret] = Buffer.from(basic[1] as string, 'base64').toString('utf8').split(':').map(decodeURIComponent);
              if (id && !form.has('client_id')) form.set('client_id', id);
              if (secret !== undefined && !form.has('client_secret')) form.set('client_secret', secret);
            }
            return send(identity.handle(req.method ?? 'GET', url, form));
          }
          const path = decodeURI(url.pathname.slice('/v1.0'.length));
          counts.graphRequests += 1;
          counts.byEndpoint.set(endpointKey(req.method ?? 'GET', path), (counts.byEndpoint.get(endpointKey(req.method ?? 'GET', path)) ?? 0) + 1);
          const principal = identity.principalOf(headers.authorization);
          if (!principal) {
            return send(graphError(401, 'InvalidAuthenticationToken', headers.authorization ? 'Lifetime validation failed, the token is expired.' : 'Access token is empty.'));
          }
          let body: unknown = undefined;
          const ct = headers['content-type'] ?? '';
          if (raw.length > 0) {
            if (/^image\//.test(ct)) body = raw;
            else {
              try {
                body = JSON.parse(raw.toString('utf8'));
              } catch {
                return send(graphError(400, 'BadRequest', 'Unable to read JSON request payload.'));
              }
            }
          }
          if (path === '/$batch' && req.method === 'POST') {
            const fault = faults.match('POST', '/$batch', false);
            if (fault) return send(fault);
            try {
              return send(await batch(body, principal, () => undefined));
            } catch (e) {
              if (e instanceof CrashError) {
                // The process answering died mid-batch: some items were applied, no response comes.
                req.socket.destroy();
                return;
              }
              throw e;
            }
          }
          return send(await run({ method: req.method ?? 'GET', path, query: url.searchParams, headers, body, principal }, false));
        } catch (e) {
          send(graphError(500, 'generalException', (e as Error).message));
        }
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', resolve));
  const addr = server.address() as AddressInfo;
  base = `http://${opts.host ?? '127.0.0.1'}:${addr.port}`;
  return {
    url: base,
    state,
    graph,
    identity,
    faults,
    counts,
    options,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
