/**
 * Shared Microsoft Graph plumbing for the Microsoft 365 connectors:
 *
 * - `GraphClient`: the kit's HttpClient pointed at `{graphUrl}/v1.0`, with Graph's error bodies
 *   classified into the connector taxonomy and `Prefer: IdType="ImmutableId"` on **every** request —
 *   Outlook item ids change when an item moves between folders unless every request asks for
 *   immutable ids (learn.microsoft.com/graph/outlook-immutable-id; api-spec.md §4.1).
 * - `MailboxGate`: at most 4 requests in flight per mailbox in this process, shared by every
 *   connector of that mailbox. Outlook allows 4 concurrent requests per app per mailbox and answers a
 *   5th with 429 ApplicationThrottled "MailboxConcurrency" (api-spec.md §4.5). A `$batch` holds as
 *   many permits as Graph dispatches from it at once to Outlook: min(4, items) (§4.4).
 * - `BatchQueue`: coalesces the engine's per-item writes into `$batch` requests of ≤ 20.
 *
 * Design (docs/microsoft365.md, "Writes"): the engine calls create/update/delete per item with up
 * to `maxConcurrency` calls in flight. Each call enqueues one sub-request on the mailbox's queue and
 * waits for its own answer. The queue sends a batch when 20 are waiting or when the current tick's
 * calls have all been enqueued; a batch of n items takes min(4, n) permits of the mailbox gate, so
 * at most one full batch (or four single requests) is in flight per mailbox. Items answered 429 or
 * 5xx inside a batch go back on the queue after Retry-After (or a backoff); other statuses settle
 * the caller's promise. A `$batch` whose connection fails is not resent: items in it may have been
 * applied, so each caller gets `transient` and the engine's intents and markers recover (§B7).
 */
import type { SpokeAuth } from '../kit/contract.js';
import { ConnectorError, type ConnectorErrorKind } from '../kit/errors.js';
import { HttpClient, parseRetryAfter, type HttpResponse, type RequestOptions } from '../kit/http-client.js';

export const PREFER_IMMUTABLE = 'IdType="ImmutableId"';
export const DEFAULT_GRAPH_URL = 'https://graph.microsoft.com';

/** Graph error codes meaning "this delta token is no longer accepted: start over" (§4.3). */
const RESYNC_CODES = new Set(['syncstatenotfound', 'resyncrequired', 'syncstateinvalid']);

interface GraphErrorBody {
  error?: { code?: string; message?: string; innerError?: { code?: string } };
}

/** Classifies one Graph answer: HTTP status first, then the error code (api-spec.md §4.6). */
export function classifyGraph(status: number, body: unknown, retryAfter: string | null, text = ''): ConnectorError {
  const err = (body as GraphErrorBody | undefined)?.error;
  const code = err?.code ?? '';
  const inner = err?.innerError?.code ?? '';
  const message = err?.message ?? text.slice(0, 200);
  const retryAfterMs = parseRetryAfter(retryAfter);
  let kind: ConnectorErrorKind;
  if (status === 410 || RESYNC_CODES.has(code.toLowerCase()) || RESYNC_CODES.has(inner.toLowerCase())) kind = 'cursor_invalid';
  else if (status === 401) kind = 'auth_revoked';
  else if (status === 403) kind = 'permission';
  else if (status === 404) kind = 'not_found';
  else if (status === 412 || status === 409) kind = 'conflict';
  else if (status === 429) kind = 'rate_limited';
  else if (status >= 500) kind = 'transient';
  else if (status === 400 || status === 422) kind = 'invalid_data';
  else kind = 'unsupported';
  return new ConnectorError(kind, `Graph ${status}${code ? ` ${code}` : ''}: ${message}`, retryAfterMs === undefined ? {} : { retryAfterMs });
}

export interface GraphClientOptions {
  graphUrl?: string;
  auth?: SpokeAuth;
  fetch?: typeof globalThis.fetch;
  sleep?: (ms: number) => Promise<void>;
  maxWaitMs?: number;
}

export class GraphClient {
  readonly http: HttpClient;
  readonly graphUrl: string;

  constructor(opts: GraphClientOptions) {
    this.graphUrl = (opts.graphUrl ?? DEFAULT_GRAPH_URL).replace(/\/+$/, '');
    if (!opts.auth?.accessToken) {
      // Built without credentials (e.g. `spoke add` checking its settings): any call says so clearly.
    }
    this.http = new HttpClient({
      baseUrl: `${this.graphUrl}/v1.0`,
      ...(opts.auth ? { auth: opts.auth } : {}),
      ...(opts.fetch ? { fetch: opts.fetch } : {}),
      ...(opts.sleep ? { sleep: opts.sleep } : {}),
      maxWaitMs: opts.maxWaitMs ?? 300_000,
      maxAttempts: 10,
      userAgent: 'hubsync',
      classify: (res: HttpResponse) => classifyGraph(res.status, res.body, res.headers.get('retry-after'), res.text),
    });
  }

  request<T>(method: string, path: string, opts: RequestOptions & { prefer?: string[] } = {}): Promise<HttpResponse<T>> {
    const prefer = [PREFER_IMMUTABLE, ...(opts.prefer ?? [])].join(', ');
    return this.http.request<T>(method, path, { ...opts, headers: { prefer, ...opts.headers } });
  }
}

// -------------------------------------------------------------------------------------------------
// Per-mailbox concurrency

/** A weighted semaphore. */
export class Semaphore {
  private used = 0;
  private readonly waiters: { n: number; resolve: () => void }[] = [];
  /** The most permits ever held at once (for tests and benchmarks). */
  peak = 0;

  constructor(readonly size: number) {}

  async acquire(n = 1): Promise<() => void> {
    const want = Math.min(n, this.size);
    if (this.used + want <= this.size && this.waiters.length === 0) this.used += want;
    else await new Promise<void>((resolve) => this.waiters.push({ n: want, resolve }));
    this.peak = Math.max(this.peak, this.used);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.used -= want;
      while (this.waiters.length > 0 && this.used + (this.waiters[0] as { n: number }).n <= this.size) {
        const w = this.waiters.shift() as { n: number; resolve: () => void };
        this.used += w.n;
        w.resolve();
      }
    };
  }
}

/** Outlook's per-app, per-mailbox concurrency limit (api-spec.md §4.5). */
export const MAILBOX_CONCURRENCY = 4;

const gates = new Map<string, Semaphore>();

/** The process-wide gate of one mailbox (keyed by Graph URL, account and mailbox). */
export function mailboxGate(key: string): Semaphore {
  let g = gates.get(key);
  if (!g) {
    g = new Semaphore(MAILBOX_CONCURRENCY);
    gates.set(key, g);
  }
  return g;
}

/** Runs one request under the mailbox gate. */
export async function gated<T>(gate: Semaphore, fn: () => Promise<T>): Promise<T> {
  const release = await gate.acquire(1);
  try {
    return await fn();
  } finally {
    release();
  }
}

// -------------------------------------------------------------------------------------------------
// $batch

export interface BatchItem {
  method: string;
  /** Relative to `/v1.0`, e.g. `/users/x/contacts`. */
  url: string;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface BatchAnswer {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

interface Waiting {
  item: BatchItem;
  attempt: number;
  resolve: (a: BatchAnswer) => void;
  reject: (e: unknown) => void;
}

/** Graph's limit on requests in one `$batch` (json-batching). */
export const BATCH_LIMIT = 20;

export class BatchQueue {
  private queue: Waiting[] = [];
  private scheduled = false;
  /** `$batch` requests sent (for tests and benchmarks). */
  sent = 0;

  constructor(
    private readonly client: GraphClient,
    private readonly gate: Semaphore,
    private readonly opts: { sleep?: (ms: number) => Promise<void>; maxAttempts?: number; random?: () => number } = {},
  ) {}

  /** Sends one sub-request in a batch; resolves with its own answer (any status but 429/5xx). */
  submit(item: BatchItem): Promise<BatchAnswer> {
    return new Promise<BatchAnswer>((resolve, reject) => {
      this.queue.push({ item, attempt: 0, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.queue.length >= BATCH_LIMIT) {
      void this.flush();
      return;
    }
    if (this.scheduled) return;
    this.scheduled = true;
    // Wait for the calls the engine starts in the same tick, then send what is there.
    setImmediate(() => {
      this.scheduled = false;
      if (this.queue.length > 0) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    const items = this.queue.splice(0, BATCH_LIMIT);
    if (items.length === 0) return;
    const release = await this.gate.acquire(Math.min(MAILBOX_CONCURRENCY, items.length));
    try {
      await this.send(items);
    } finally {
      release();
      if (this.queue.length > 0) this.schedule();
    }
  }

  private async send(items: Waiting[]): Promise<void> {
    const sleep = this.opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
    const requests = items.map((w, i) => {
      const headers: Record<string, string> = { prefer: PREFER_IMMUTABLE, ...w.item.headers };
      if (w.item.body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json';
      return { id: String(i + 1), method: w.item.method, url: w.item.url, headers, ...(w.item.body === undefined ? {} : { body: w.item.body }) };
    });
    let res: HttpResponse<{ responses?: { id: string; status: number; headers?: Record<string, string>; body?: unknown }[] }>;
    for (let attempt = 1; ; attempt++) {
      try {
        this.sent += 1;
        // Not retried by the client: a dropped connection may have applied some items (see header).
        res = await this.client.request('POST', '/$batch', { json: { requests }, noRetry: true, accept: [429, 500, 502, 503, 504] });
      } catch (e) {
        for (const w of items) w.reject(e instanceof ConnectorError ? e : new ConnectorError('transient', `$batch failed: ${(e as Error).message}`, { cause: e }));
        return;
      }
      if (res.status === 200) break;
      // The whole batch was refused before any item ran: safe to send again.
      const wait = parseRetryAfter(res.headers.get('retry-after')) ?? Math.min(30_000, 500 * 2 ** attempt) * (this.opts.random ?? Math.random)();
      if (attempt >= (this.opts.maxAttempts ?? 8)) {
        const err = classifyGraph(res.status, res.body, res.headers.get('retry-after'), res.text);
        for (const w of items) w.reject(err);
        return;
      }
      await sleep(wait);
    }
    const byId = new Map((res.body.responses ?? []).map((r) => [r.id, r]));
    const retry: Waiting[] = [];
    let retryAfter = 0;
    items.forEach((w, i) => {
      const r = byId.get(String(i + 1));
      if (!r) {
        w.reject(new ConnectorError('transient', '$batch answered without this request'));
        return;
      }
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(r.headers ?? {})) headers[k.toLowerCase()] = String(v);
      // 429 and 503 mean "not processed": safe to send again. Another 5xx may come after a create
      // was applied, so a POST is not repeated here (the engine's intent and marker recover it).
      const again = r.status === 429 || r.status === 503 || (r.status >= 500 && w.item.method !== 'POST');
      if (again && w.attempt + 1 < (this.opts.maxAttempts ?? 8)) {
        // Throttled or failed inside the batch (each item is throttled individually, §4.4): again later.
        const ra = parseRetryAfter(headers['retry-after'] ?? null);
        retryAfter = Math.max(retryAfter, ra ?? Math.min(30_000, 250 * 2 ** w.attempt) * (this.opts.random ?? Math.random)());
        retry.push({ ...w, attempt: w.attempt + 1 });
        return;
      }
      w.resolve({ status: r.status, headers, body: r.body });
    });
    if (retry.length > 0) {
      await sleep(retryAfter);
      this.queue.unshift(...retry);
    }
  }
}

/** Throws the classified error for a non-2xx batch answer. */
export function answerOrThrow(a: BatchAnswer, itemId?: string): BatchAnswer {
  if (a.status >= 200 && a.status < 300) return a;
  const e = classifyGraph(a.status, a.body, a.headers['retry-after'] ?? null);
  throw itemId === undefined ? e : new ConnectorError(e.kind, e.message, { itemId, ...(e.retryAfterMs === undefined ? {} : { retryAfterMs: e.retryAfterMs }) });
}

/** OData string literal: single quotes doubled. */
export function odataString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}
