/**
 * The Google emulator's HTTP surface (plain node:http): OAuth 2.0 (authorize page with a consent
 * button, token endpoint with the authorization_code + PKCE and refresh_token grants, revoke,
 * userinfo) and the People API v1 methods Hubsync uses, answering as documented — paths with
 * `{+resourceName}` and `:customVerb`, google.rpc.Status error bodies, 200 on every success.
 *
 * Around every People call: authentication (401 UNAUTHENTICATED), armed faults (fail the next N
 * requests, a random error rate, latency), per-user quotas (429 RESOURCE_EXHAUSTED) and a request
 * count per endpoint, which the benchmarks report.
 *
 * Control endpoints under `/__emulator/` (counts, faults, token expiry, revocation) let tests and
 * benchmarks drive an emulator running in another process.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { seededRandom } from '../../demo/sample-contacts.js';
import {
  ApiError,
  GoogleState,
  READABLE_FIELDS,
  invalidArgument,
  type ContactRecord,
  type Person,
  type UserState,
} from './state.js';

/** Faults armed on the People API (and, for `failNext` with a route, on any route). */
export interface Faults {
  /** Fail the next `n` People requests (or only those of `route`) with `status` (default 503). */
  failNext(n: number, opts?: { status?: number; route?: string; retryAfterSeconds?: number }): void;
  /** Probability that a People request fails before it is processed (statuses drawn from `errorStatuses`). */
  errorRate: number;
  errorStatuses: number[];
  /** Added to every People request. */
  latencyMs: number;
  /** Called after a response was sent (tests kill a client process right after a batch create). */
  onResponse: ((route: string, status: number) => void) | null;
  /** How many failures were injected so far, by status. */
  injected: Record<number, number>;
  /** Clears everything above. */
  reset(): void;
}

export interface RequestCounts {
  byRoute: Record<string, number>;
  /** People API requests only (what the benchmark counts as API calls). */
  people(): number;
  reset(): void;
}

export interface GoogleEmulator {
  url: string;
  state: GoogleState;
  faults: Faults;
  counts: RequestCounts;
  close(): Promise<void>;
}

const DEFAULT_SCOPE = 'https://www.googleapis.com/auth/contacts https://www.googleapis.com/auth/userinfo.email';

function makeFaults(seed: number): Faults & { take(route: string): { status: number; retryAfterSeconds?: number } | null; random: () => number } {
  let queue: { n: number; status: number; route?: string; retryAfterSeconds?: number }[] = [];
  const f = {
    errorRate: 0,
    errorStatuses: [429, 500, 503],
    latencyMs: 0,
    onResponse: null as Faults['onResponse'],
    injected: {} as Record<number, number>,
    drawn: 0,
    random: seededRandom(seed),
    failNext(n: number, opts: { status?: number; route?: string; retryAfterSeconds?: number } = {}) {
      queue.push({ n, status: opts.status ?? 503, ...(opts.route ? { route: opts.route } : {}), ...(opts.retryAfterSeconds !== undefined ? { retryAfterSeconds: opts.retryAfterSeconds } : {}) });
    },
    reset() {
      queue = [];
      f.errorRate = 0;
      f.latencyMs = 0;
      f.onResponse = null;
      f.errorStatuses = [429, 500, 503];
    },
    take(route: string): { status: number; retryAfterSeconds?: number } | null {
      const people = !route.startsWith('oauth.') && route !== 'photo' && route !== 'control';
      const q = queue.find((x) => x.n > 0 && (x.route ? x.route === route : people));
      if (q) {
        q.n -= 1;
        queue = queue.filter((x) => x.n > 0);
        return { status: q.status, ...(q.retryAfterSeconds !== undefined ? { retryAfterSeconds: q.retryAfterSeconds } : {}) };
      }
      if (people && f.errorRate > 0 && f.random() < f.errorRate) {
        // The statuses take turns, so that a short run still sees every kind.
        f.drawn += 1;
        return { status: f.errorStatuses[(f.drawn - 1) % f.errorStatuses.length] ?? 503 };
      }
      return null;
    },
  };
  return f;
}

function faultError(status: number, retryAfterSeconds?: number): ApiError {
  const headers: Record<string, string> = retryAfterSeconds !== undefined ? { 'retry-after': String(retryAfterSeconds) } : {};
  if (status === 429) {
    // The body observed from the People API (api-spec §1.12).
    return new ApiError(429, 'RESOURCE_EXHAUSTED', 'Resource has been exhausted (e.g. check quota).', [
      { '@type': 'type.googleapis.com/google.rpc.QuotaFailure', violations: [{ subject: 'QUOTA_EXCEEDED', description: 'FBS quota limit exceeded' }] },
    ], headers);
  }
  if (status === 503) return new ApiError(503, 'UNAVAILABLE', 'The service is currently unavailable.', [], headers);
  if (status === 401) return new ApiError(401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials.');
  return new ApiError(status, status >= 500 ? 'INTERNAL' : 'FAILED_PRECONDITION', status >= 500 ? 'Internal error encountered.' : 'Injected failure.', [], headers);
}

interface Ctx {
  req: http.IncomingMessage;
  url: URL;
  body: string;
  state: GoogleState;
}

type Reply = { status: number; json?: unknown; html?: string; headers?: Record<string, string>; bytes?: Buffer; mime?: string };

function personFieldsOf(q: URLSearchParams, name: 'personFields' | 'readMask', required: boolean): Set<string> {
  const raw = q.get(name);
  if (raw === null || raw.trim() === '') {
    if (required) throw invalidArgument(`${name} mask is required. Please specify one or more valid paths. Valid paths are documented at https://developers.google.com/people/api/rest/v1/people/get.`);
    return new Set();
  }
  const out = new Set<string>();
  for (const f of raw.split(',').map((x) => x.trim()).filter(Boolean)) {
    if (!READABLE_FIELDS.has(f)) throw invalidArgument(`Invalid ${name} mask path: "${f}". Valid paths are documented at https://developers.google.com/people/api/rest/v1/people/get.`);
    out.add(f);
  }
  return out;
}

function parseJson<T>(body: string): T {
  if (body.trim() === '') return {} as T;
  try {
    return JSON.parse(body) as T;
  } catch {
    throw invalidArgument('Invalid JSON payload received.');
  }
}

const html = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** Starts the emulator. `port: 0` picks a free port (tests); the URL is `http://127.0.0.1:<port>`. */
export async function startGoogleEmulator(opts: { state?: GoogleState; port?: number; host?: string; faultSeed?: number } = {}): Promise<GoogleEmulator> {
  const state = opts.state ?? new GoogleState();
  const faults = makeFaults(opts.faultSeed ?? 1);
  const byRoute: Record<string, number> = {};
  const counts: RequestCounts = {
    byRoute,
    people: () => Object.entries(byRoute).reduce((n, [k, v]) => (k.startsWith('oauth.') || k === 'photo' || k === 'control' ? n : n + v), 0),
    reset: () => {
      for (const k of Object.keys(byRoute)) delete byRoute[k];
    },
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const url = new URL(req.url ?? '/', 'http://emulator');
        const ctx: Ctx = { req, url, body: Buffer.concat(chunks).toString('utf8'), state };
        const route = routeName(req.method ?? 'GET', url.pathname);
        let reply: Reply;
        if (route !== 'control') byRoute[route] = (byRoute[route] ?? 0) + 1;
        try {
          if (faults.latencyMs > 0 && route !== 'control') await new Promise((r) => setTimeout(r, faults.latencyMs));
          const fault = route === 'control' ? null : faults.take(route);
          if (fault) {
            faults.injected[fault.status] = (faults.injected[fault.status] ?? 0) + 1;
            throw faultError(fault.status, fault.retryAfterSeconds);
          }
          reply = await handle(ctx, route, faults, counts);
        } catch (e) {
          if (e instanceof ApiError) reply = { status: e.code, json: e.body(), headers: e.headers };
          else if (e instanceof OAuthError) reply = { status: e.status, json: { error: e.error, error_description: e.description } };
          else reply = { status: 500, json: new ApiError(500, 'INTERNAL', `Internal error encountered: ${(e as Error).message}`).body() };
        }
        const headers: Record<string, string> = { ...reply.headers };
        let payload: Buffer | string = '';
        if (reply.bytes) {
          headers['content-type'] = reply.mime ?? 'application/octet-stream';
          payload = reply.bytes;
        } else if (reply.html !== undefined) {
          headers['content-type'] = 'text/html; charset=utf-8';
          payload = reply.html;
        } else if (reply.json !== undefined) {
          headers['content-type'] = 'application/json; charset=UTF-8';
          payload = JSON.stringify(reply.json);
        }
        res.writeHead(reply.status, headers);
        res.end(payload, () => {
          faults.onResponse?.(route, reply.status);
        });
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', resolve));
  const addr = server.address() as AddressInfo;
  const url = `http://${opts.host && opts.host !== '0.0.0.0' ? opts.host : '127.0.0.1'}:${addr.port}`;
  state.baseUrl = url;
  return {
    url,
    state,
    faults,
    counts,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

class OAuthError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly description: string,
  ) {
    super(description);
  }
}

/** A short name per endpoint, as the API reference names the methods. */
export function routeName(method: string, p: string): string {
  if (p.startsWith('/__emulator/')) return 'control';
  if (p.startsWith('/o/oauth2/v2/auth')) return 'oauth.authorize';
  if (p === '/token') return 'oauth.token';
  if (p === '/revoke') return 'oauth.revoke';
  if (p === '/v1/userinfo' || p === '/oauth2/v3/userinfo') return 'oauth.userinfo';
  if (p.startsWith('/photos/')) return 'photo';
  if (p === '/v1/people/me/connections') return 'connections.list';
  if (p === '/v1/people:batchGet') return 'people.getBatchGet';
  if (p === '/v1/people:createContact') return 'people.createContact';
  if (p === '/v1/people:batchCreateContacts') return 'people.batchCreateContacts';
  if (p === '/v1/people:batchUpdateContacts') return 'people.batchUpdateContacts';
  if (p === '/v1/people:batchDeleteContacts') return 'people.batchDeleteContacts';
  if (p.startsWith('/v1/contactGroups')) return method === 'POST' ? 'contactGroups.create' : 'contactGroups.list';
  const m = /^\/v1\/people\/[^/:]+(?::(\w+))?$/.exec(p);
  if (m) return m[1] ? `people.${m[1]}` : 'people.get';
  return 'unknown';
}

async function handle(ctx: Ctx, route: string, faults: Faults, counts: RequestCounts): Promise<Reply> {
  const { state, url, req } = ctx;
  const method = req.method ?? 'GET';
  if (route === 'control') return control(ctx, faults, counts);
  if (route === 'oauth.authorize') return authorize(ctx);
  if (route === 'oauth.token') return token(ctx);
  if (route === 'oauth.revoke') {
    const t = new URLSearchParams(ctx.body).get('token') ?? url.searchParams.get('token') ?? '';
    if (!state.revokeToken(t)) throw new OAuthError(400, 'invalid_token', 'Token expired or revoked');
    return { status: 200, json: {} };
  }
  if (route === 'photo') {
    const key = url.pathname.split('/')[2] ?? '';
    if (key === 'default') return { status: 200, bytes: DEFAULT_PNG, mime: 'image/png' };
    const p = state.findPhoto(key);
    if (!p) return { status: 404, json: { error: 'not found' } };
    return { status: 200, bytes: p.bytes, mime: p.mime };
  }

  // Everything else needs a bearer token.
  const auth = req.headers.authorization ?? '';
  const user = state.userForAccessToken(/^Bearer (.+)$/i.exec(auth)?.[1]);
  if (!user) {
    throw new ApiError(401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.', [
      { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'ACCESS_TOKEN_TYPE_UNSUPPORTED', domain: 'googleapis.com' },
    ]);
  }
  if (route === 'oauth.userinfo') {
    return { status: 200, json: { sub: user.sub, name: user.name, email: user.email, email_verified: true, picture: `${state.baseUrl}/photos/default` } };
  }

  const q = url.searchParams;
  const isWrite = method !== 'GET';
  switch (route) {
    case 'connections.list': {
      if (!/^\/v1\/people\/me\/connections$/.test(url.pathname)) throw invalidArgument();
      return { status: 200, json: listConnections(state, user, q) };
    }
    case 'people.get': {
      state.takeQuota(user, 'read');
      const id = decodeURIComponent(url.pathname.slice('/v1/people/'.length));
      const fields = personFieldsOf(q, 'personFields', true);
      if (id === 'me') {
        return { status: 200, json: { resourceName: `people/${user.sub}`, etag: `%EgP${user.sub}`, metadata: { sources: [{ type: 'PROFILE', id: user.sub }], objectType: 'PERSON' }, names: [{ displayName: user.name }], emailAddresses: [{ value: user.email, metadata: { primary: true } }] } };
      }
      const rec = state.current(user, id);
      if (!rec) throw new ApiError(404, 'NOT_FOUND', 'Requested entity was not found.');
      return { status: 200, json: state.render(user, rec, state.latest(rec), fields) };
    }
    case 'people.getBatchGet': {
      state.takeQuota(user, 'read');
      const names = q.getAll('resourceNames');
      const fields = personFieldsOf(q, 'personFields', true);
      if (names.length === 0) throw invalidArgument('At least one resource name is required.');
      if (names.length > 200) throw invalidArgument('Too many resource names: at most 200 are allowed.');
      return {
        status: 200,
        json: {
          responses: names.map((rn) => {
            const rec = state.current(user, rn.replace(/^people\//, ''));
            if (!rec) return { requestedResourceName: rn, httpStatusCode: 404, status: { code: 5, message: 'Requested entity was not found.' } };
            return { requestedResourceName: rn, httpStatusCode: 200, person: state.render(user, rec, state.latest(rec), fields), status: {} };
          }),
        },
      };
    }
    case 'people.createContact': {
      state.takeQuota(user, 'write');
      const fields = personFieldsOf(q, 'personFields', false);
      const rec = state.createContact(user, parseJson<Person>(ctx.body));
      return { status: 200, json: state.render(user, rec, state.latest(rec), fields) };
    }
    case 'people.batchCreateContacts': {
      state.takeQuota(user, 'write');
      const b = parseJson<{ contacts?: { contactPerson?: Person }[]; readMask?: string }>(ctx.body);
      const contacts = b.contacts ?? [];
      if (contacts.length === 0) throw invalidArgument('contacts must not be empty.');
      if (contacts.length > 200) throw invalidArgument('Too many contacts in the request: at most 200 are allowed.');
      const fields = personFieldsOf(new URLSearchParams(b.readMask ? { readMask: b.readMask } : {}), 'readMask', false);
      // All or nothing: the batch is validated as a whole before anything is created.
      const probe = new GoogleState({ users: [] });
      const shadow = probe.addUser({ email: user.email, sub: user.sub, groups: [...state.groupList(user)].filter((g) => g.type === 'USER_CONTACT_GROUP').map((g) => g.name) });
      copyGroups(user, shadow);
      for (const c of contacts) probe.createContact(shadow, c.contactPerson ?? {});
      const created = contacts.map((c) => state.createContact(user, c.contactPerson ?? {}));
      return {
        status: 200,
        json: { createdPeople: created.map((rec) => ({ requestedResourceName: `people/${rec.id}`, httpStatusCode: 200, person: state.render(user, rec, state.latest(rec), fields), status: {} })) },
      };
    }
    case 'people.batchUpdateContacts': {
      state.takeQuota(user, 'write');
      const b = parseJson<{ contacts?: Record<string, Person>; updateMask?: string; readMask?: string }>(ctx.body);
      const entries = Object.entries(b.contacts ?? {});
      if (entries.length === 0) throw invalidArgument('contacts must not be empty.');
      if (entries.length > 200) throw invalidArgument('Too many contacts in the request: at most 200 are allowed.');
      const mask = (b.updateMask ?? '').split(',').map((x) => x.trim()).filter(Boolean);
      const fields = personFieldsOf(new URLSearchParams(b.readMask ? { readMask: b.readMask } : {}), 'readMask', false);
      // All or nothing: every etag and body is checked first.
      for (const [rn, p] of entries) {
        const rec = state.current(user, rn.replace(/^people\//, ''));
        if (!rec) throw new ApiError(404, 'NOT_FOUND', `Requested entity was not found: ${rn}`);
        const etag = p.etag ?? p.metadata?.sources?.find((s) => s.type === 'CONTACT')?.etag;
        if (etag !== state.etagOf(rec) && etag !== state.sourceEtagOf(rec)) {
          throw new ApiError(400, 'FAILED_PRECONDITION', 'Request person.etag is different than the current person.etag. Clear local cache and get the latest person.');
        }
      }
      const out: Record<string, unknown> = {};
      for (const [rn, p] of entries) {
        const rec = state.updateContact(user, rn.replace(/^people\//, ''), p, mask);
        out[rn] = { requestedResourceName: rn, httpStatusCode: 200, person: state.render(user, rec, state.latest(rec), fields), status: {} };
      }
      return { status: 200, json: { updateResult: out } };
    }
    case 'people.batchDeleteContacts': {
      state.takeQuota(user, 'write');
      const b = parseJson<{ resourceNames?: string[] }>(ctx.body);
      const names = b.resourceNames ?? [];
      if (names.length === 0) throw invalidArgument('resourceNames must not be empty.');
      if (names.length > 500) throw invalidArgument('Too many resource names: at most 500 are allowed.');
      for (const rn of names) if (!state.current(user, rn.replace(/^people\//, ''))) throw new ApiError(404, 'NOT_FOUND', `Requested entity was not found: ${rn}`);
      for (const rn of names) state.deleteContact(user, rn.replace(/^people\//, ''));
      return { status: 200, json: {} };
    }
    case 'people.updateContact': {
      if (method !== 'PATCH') throw new ApiError(404, 'NOT_FOUND', 'Method not found.');
      state.takeQuota(user, 'write');
      const id = url.pathname.slice('/v1/people/'.length).replace(/:updateContact$/, '');
      const mask = (q.get('updatePersonFields') ?? '').split(',').map((x) => x.trim()).filter(Boolean);
      const fields = personFieldsOf(q, 'personFields', false);
      const body = parseJson<Person>(ctx.body);
      if (body.resourceName && body.resourceName !== `people/${id}`) throw invalidArgument('resourceName in the path and the body differ.');
      const rec = state.updateContact(user, id, body, mask);
      return { status: 200, json: state.render(user, rec, state.latest(rec), fields) };
    }
    case 'people.deleteContact': {
      if (method !== 'DELETE') throw new ApiError(404, 'NOT_FOUND', 'Method not found.');
      state.takeQuota(user, 'write');
      state.deleteContact(user, url.pathname.slice('/v1/people/'.length).replace(/:deleteContact$/, ''));
      return { status: 200, json: {} };
    }
    case 'people.updateContactPhoto': {
      // updateContactPhoto is PATCH (api-spec §1.10, surprise 4).
      if (method !== 'PATCH') throw new ApiError(404, 'NOT_FOUND', 'Method not found.');
      state.takeQuota(user, 'write');
      const id = url.pathname.slice('/v1/people/'.length).replace(/:updateContactPhoto$/, '');
      const b = parseJson<{ photoBytes?: string; personFields?: string }>(ctx.body);
      if (!b.photoBytes) throw invalidArgument('photoBytes is required.');
      const rec = state.setPhoto(user, id, Buffer.from(b.photoBytes, 'base64'));
      const fields = personFieldsOf(new URLSearchParams(b.personFields ? { personFields: b.personFields } : {}), 'personFields', false);
      return { status: 200, json: fields.size > 0 ? { person: state.render(user, rec, state.latest(rec), fields) } : {} };
    }
    case 'people.deleteContactPhoto': {
      if (method !== 'DELETE') throw new ApiError(404, 'NOT_FOUND', 'Method not found.');
      state.takeQuota(user, 'write');
      const id = url.pathname.slice('/v1/people/'.length).replace(/:deleteContactPhoto$/, '');
      const rec = state.setPhoto(user, id, null);
      const fields = personFieldsOf(q, 'personFields', false);
      return { status: 200, json: fields.size > 0 ? { person: state.render(user, rec, state.latest(rec), fields) } : {} };
    }
    case 'contactGroups.list': {
      state.takeQuota(user, 'read');
      const size = Number(q.get('pageSize') ?? 30);
      if (!Number.isInteger(size) || size < 1 || size > 1000) throw invalidArgument('pageSize must be between 1 and 1000.');
      const all = state.groupList(user).sort((a, b) => (a.id < b.id ? -1 : 1));
      const offset = Number(q.get('pageToken') ?? 0) || 0;
      const page = all.slice(offset, offset + size);
      return {
        status: 200,
        json: {
          contactGroups: page.map((g) => state.renderGroup(user, g)),
          totalItems: all.length,
          ...(offset + size < all.length ? { nextPageToken: String(offset + size) } : { nextSyncToken: `g${user.seq}` }),
        },
      };
    }
    case 'contactGroups.create': {
      state.takeQuota(user, 'write');
      const b = parseJson<{ contactGroup?: { name?: string } }>(ctx.body);
      const g = state.createGroup(user, b.contactGroup?.name ?? '');
      return { status: 200, json: state.renderGroup(user, g) };
    }
    default:
      void isWrite;
      throw new ApiError(404, 'NOT_FOUND', `Method not found: ${method} ${url.pathname}`);
  }
}

function copyGroups(from: UserState, to: UserState): void {
  for (const [id, g] of from.groups) to.groups.set(id, { ...g });
}

/**
 * people.connections.list (api-spec §1.3): full listings page through a snapshot; with
 * `requestSyncToken` the last page carries `nextSyncToken`; with `syncToken` only what changed
 * since, deleted people as `metadata.deleted`. Sync requests see writes only after the propagation
 * delay; "all other request parameters must match the first call".
 */
function listConnections(state: GoogleState, user: UserState, q: URLSearchParams) {
  const fields = personFieldsOf(q, 'personFields', true);
  const pageSize = Number(q.get('pageSize') ?? 100);
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 1000) throw invalidArgument('pageSize must be between 1 and 1000.');
  const requestSyncToken = q.get('requestSyncToken') === 'true';
  const syncToken = q.get('syncToken');
  const pageToken = q.get('pageToken');
  const sortOrder = q.get('sortOrder') ?? 'LAST_MODIFIED_ASCENDING';
  const params = JSON.stringify([[...fields].sort(), pageSize, requestSyncToken, sortOrder, q.getAll('sources').sort()]);
  const paramsHash = createHash('sha256').update(params).digest('base64url').slice(0, 12);
  const syncMode = requestSyncToken || syncToken !== null;

  let frontier: number;
  let from: number | null = null;
  let fullAt = state.now();
  let offset = 0;
  if (pageToken) {
    type PageToken = { f: number; o: number; p: string; from: number | null; full: number; u: string };
    let t: PageToken | null = null;
    try {
      t = JSON.parse(Buffer.from(pageToken, 'base64url').toString('utf8')) as PageToken;
    } catch {
      t = null;
    }
    if (!t || t.u !== user.sub) throw invalidArgument();
    if (t.p !== paramsHash) throw invalidArgument('Parameters must match the ones of the call that returned the page token.');
    frontier = t.f;
    offset = t.o;
    from = t.from;
    fullAt = t.full;
    state.takeQuota(user, 'read');
  } else if (syncToken) {
    const d = state.decodeSyncToken(user, syncToken, paramsHash);
    from = d.seq;
    fullAt = d.fullAt;
    frontier = state.visibleSeq(user);
    state.takeQuota(user, 'read');
  } else {
    frontier = syncMode ? state.visibleSeq(user) : user.seq;
    // "The first page of a full sync request has an additional quota."
    if (requestSyncToken) state.takeQuota(user, 'fullSyncFirstPage');
    state.takeQuota(user, 'read');
  }

  let recs: { rec: ContactRecord; v: ReturnType<GoogleState['versionAt']> }[];
  if (from === null) {
    recs = [];
    for (const rec of user.contacts.values()) {
      const v = state.versionAt(rec, frontier) ?? (rec.versions[0]?.seq !== undefined && rec.versions[0].seq <= frontier ? rec.versions[0] : undefined);
      if (v?.person) recs.push({ rec, v });
    }
  } else {
    const ids = new Set(user.changeIds.slice(from, frontier));
    recs = [];
    for (const id of ids) {
      const rec = user.contacts.get(id);
      if (!rec) continue;
      const v = state.versionAt(rec, frontier) ?? rec.versions[0];
      if (v) recs.push({ rec, v });
    }
  }
  if (sortOrder === 'FIRST_NAME_ASCENDING' || sortOrder === 'LAST_NAME_ASCENDING') {
    const key = (p: Person | null | undefined) => (sortOrder === 'FIRST_NAME_ASCENDING' ? p?.names?.[0]?.givenName : p?.names?.[0]?.familyName) ?? '';
    recs.sort((a, b) => key(a.v?.person).localeCompare(key(b.v?.person)));
  } else {
    recs.sort((a, b) => ((a.v?.seq ?? 0) - (b.v?.seq ?? 0)) * (sortOrder === 'LAST_MODIFIED_DESCENDING' ? -1 : 1));
  }
  const page = recs.slice(offset, offset + pageSize);
  const connections = page.map(({ rec, v }) => (v?.person ? state.render(user, rec, v, fields) : state.renderTombstone(rec, v ?? state.latest(rec))));
  const more = offset + pageSize < recs.length;
  const out: Record<string, unknown> = {};
  if (connections.length > 0) out.connections = connections;
  if (more) out.nextPageToken = Buffer.from(JSON.stringify({ f: frontier, o: offset + pageSize, p: paramsHash, from, full: fullAt, u: user.sub })).toString('base64url');
  else if (syncMode) out.nextSyncToken = state.encodeSyncToken(user, paramsHash, frontier, fullAt);
  out.totalItems = recs.length;
  out.totalPeople = recs.length;
  return out;
}

function authorize(ctx: Ctx): Reply {
  const { state, url, req } = ctx;
  const p = req.method === 'POST' ? new URLSearchParams(ctx.body) : url.searchParams;
  const clientId = p.get('client_id') ?? '';
  const redirectUri = p.get('redirect_uri') ?? '';
  if (!state.checkClient(clientId, undefined, false)) {
    return { status: 401, html: '<h1>Error 401: invalid_client</h1><p>The OAuth client was not found.</p>' };
  }
  if (!/^https?:\/\//.test(redirectUri)) return { status: 400, html: '<h1>Error 400: redirect_uri_mismatch</h1>' };
  if (p.get('response_type') !== 'code') return { status: 400, html: '<h1>Error 400: unsupported_response_type</h1>' };
  const back = (q: Record<string, string>) => {
    const u = new URL(redirectUri);
    for (const [k, v] of Object.entries(q)) u.searchParams.set(k, v);
    const state_ = p.get('state');
    if (state_ !== null) u.searchParams.set('state', state_);
    return { status: 302, headers: { location: u.toString() } };
  };
  if (req.method === 'POST') {
    if (p.get('decision') !== 'allow') return back({ error: 'access_denied' });
    const user = state.userByEmail(p.get('account') ?? '');
    if (!user) return { status: 400, html: '<h1>No such account</h1>' };
    const scope = p.get('scope') ?? DEFAULT_SCOPE;
    const code = state.issueCode({
      clientId,
      redirectUri,
      challenge: p.get('code_challenge'),
      method: p.get('code_challenge_method') ?? 'plain',
      scope,
      sub: user.sub,
      offline: p.get('access_type') === 'offline',
    });
    return back({ code, scope });
  }
  const hint = (p.get('login_hint') ?? '').toLowerCase();
  const users = [...state.users.values()];
  const hidden = ['client_id', 'redirect_uri', 'response_type', 'scope', 'state', 'code_challenge', 'code_challenge_method', 'access_type', 'prompt']
    .filter((k) => p.get(k) !== null)
    .map((k) => `<input type="hidden" name="${k}" value="${html(p.get(k) ?? '')}">`)
    .join('\n');
  const options = users
    .map((u, i) => `<label><input type="radio" name="account" value="${html(u.email)}"${(hint ? u.email.toLowerCase() === hint : i === 0) ? ' checked' : ''}> ${html(u.name)} &lt;${html(u.email)}&gt;</label><br>`)
    .join('\n');
  return {
    status: 200,
    html: `<!doctype html><html><head><title>Sign in - Google Accounts (emulator)</title></head><body>
<h1>Hubsync wants to access your Google Account</h1>
<p>Scopes: ${html((p.get('scope') ?? '').split(' ').join(', '))}</p>
<form method="post" action="/o/oauth2/v2/auth">
${hidden}
${options}
<button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny">Cancel</button>
</form></body></html>`,
  };
}

function token(ctx: Ctx): Reply {
  const { state, req } = ctx;
  const p = new URLSearchParams(ctx.body);
  let clientId = p.get('client_id') ?? '';
  let clientSecret = p.get('client_secret') ?? undefined;
  const basic = /^Basic (.+)$/i.exec(req.headers.authorization ?? '')?.[1];
  if (basic) {
    const [id, secret] = Buffer.from(basic, 'base64').toString('utf8').split(':').map((x) => decodeURIComponent(x));
    clientId = id ?? '';
    clientSecret = secret;
  }
  if (!state.checkClient(clientId, clientSecret, true)) throw new OAuthError(401, 'invalid_client', 'The OAuth client was not found.');
  const grant = p.get('grant_type');
  if (grant === 'authorization_code') {
    const r = state.redeemCode(p.get('code') ?? '', clientId, p.get('redirect_uri') ?? '', p.get('code_verifier') ?? undefined);
    if (typeof r === 'string') throw new OAuthError(400, r === 'redirect_uri_mismatch' ? 'redirect_uri_mismatch' : 'invalid_grant', r);
    return { status: 200, json: state.grantTokens(r.sub, clientId, r.scope, r.offline), headers: { 'cache-control': 'no-store' } };
  }
  if (grant === 'refresh_token') {
    const r = state.refresh(p.get('refresh_token') ?? '', clientId);
    // The body observed for a revoked or expired refresh token (api-spec §3.3).
    if (!r) throw new OAuthError(400, 'invalid_grant', 'Token has been expired or revoked.');
    return { status: 200, json: state.grantTokens(r.sub, clientId, r.scope, false), headers: { 'cache-control': 'no-store' } };
  }
  throw new OAuthError(400, 'unsupported_grant_type', `Invalid grant_type: ${grant ?? ''}`);
}

async function control(ctx: Ctx, faults: Faults, counts: RequestCounts): Promise<Reply> {
  const { state, url } = ctx;
  const p = url.pathname.slice('/__emulator/'.length);
  const b = ctx.body ? parseJson<Record<string, unknown>>(ctx.body) : {};
  if (p === 'counts') {
    if (ctx.req.method === 'DELETE') counts.reset();
    return { status: 200, json: { byRoute: counts.byRoute, people: counts.people() } };
  }
  if (p === 'faults') {
    if (typeof b.errorRate === 'number') faults.errorRate = b.errorRate;
    if (typeof b.latencyMs === 'number') faults.latencyMs = b.latencyMs;
    if (typeof b.failNext === 'number') faults.failNext(b.failNext, { ...(typeof b.status === 'number' ? { status: b.status } : {}), ...(typeof b.route === 'string' ? { route: b.route } : {}) });
    if (b.reset === true) faults.reset();
    return { status: 200, json: { errorRate: faults.errorRate, latencyMs: faults.latencyMs } };
  }
  if (p === 'expire-sync-tokens') {
    state.expireSyncTokens();
    return { status: 200, json: {} };
  }
  if (p === 'revoke') {
    state.revokeUser(String(b.email ?? ''));
    return { status: 200, json: {} };
  }
  if (p === 'refresh-token') {
    return { status: 200, json: { refresh_token: state.mintRefreshToken(String(b.email ?? ''), typeof b.clientId === 'string' ? b.clientId : undefined) } };
  }
  if (p === 'contacts') {
    return { status: 200, json: { connections: state.contactsOf(url.searchParams.get('email') ?? '') } };
  }
  if (p === 'options') {
    Object.assign(state.options, b);
    return { status: 200, json: state.options };
  }
  return { status: 404, json: { error: 'unknown control endpoint' } };
}

/** A 1×1 grey PNG: the placeholder Google serves for contacts without a photo (`default: true`). */
const DEFAULT_PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNoAAAAggCBd81ytgAAAABJRU5ErkJggg==', 'base64');
