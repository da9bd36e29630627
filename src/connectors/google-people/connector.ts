/**
 * The Google Contacts spoke: Google People API v1, `people/me/connections` (docs/google.md).
 *
 * - Pull: `connections.list` with `requestSyncToken=true`, 1,000 per page; the cursor is the
 *   `nextSyncToken` of the last page. An expired token (ErrorInfo reason `EXPIRED_SYNC_TOKEN`,
 *   whatever the HTTP status: api-spec §9.1) raises `cursor_invalid`; the engine then lists
 *   everything and re-links by resource name and marker. Deleted people (`metadata.deleted`) come
 *   only in incremental pages.
 * - Writes go through per-account queues that coalesce the engine's concurrent single-item calls
 *   into `batchCreateContacts` (≤ 200), `batchUpdateContacts` (≤ 200, one per update mask) and
 *   `batchDeleteContacts` (≤ 500), sent one at a time per account ("Mutate requests for the same
 *   user should be sent sequentially", people.createContact). Each caller gets its own result.
 * - Creates carry the hub's marker in `clientData` (`hubsyncId`); creates are not idempotent, so a
 *   create whose outcome is unknown (5xx, reset) is never retried here: the engine finds it by
 *   marker (`findByMarker`, a full listing) on its next run.
 * - Updates send the etag and an `updatePersonFields` mask of the changed fields only; a stale
 *   etag is `conflict` (the engine re-reads and merges). Google has no conditional delete, so a
 *   delete with `ifMatch` checks the etags with one `people:batchGet` first.
 */
import type { people_v1 } from '@googleapis/people';
import type { Card } from '../../model/card.js';
import type { FieldPath } from '../../model/fields.js';
import type { Capabilities, Connector, ConnectorEnv, ConnectorFactory, PullPage, PullRequest, RemoteItem, WriteResult } from '../kit/contract.js';
import { ConnectorError, isConnectorError } from '../kit/errors.js';
import { HttpClient, parseRetryAfter, type HttpResponse } from '../kit/http-client.js';
import {
  GOOGLE_FIELDS, MARKER_KEY, PERSON_FIELDS, cardToPerson, markerOf, personToCard, photoBytes, pick, updateMask, userGroupIds,
  type Person,
} from './mapping.js';

export interface GooglePeopleConfig {
  /** The Google account (its e-mail), as stored with `hubsync account`. */
  account: string;
  /** How long writes may take to show in sync results: "several minutes" (connections.list). */
  visibilityLagMs: number;
  /** connections.list page size, 1–1000. */
  pageSize: number;
}

export const DEFAULT_VISIBILITY_LAG_MS = 5 * 60_000;

export const googleCapabilities: Capabilities = {
  readOnly: false,
  incremental: true,
  idempotentCreate: 'none',
  markers: true,
  conditionalWrites: true,
  fields: GOOGLE_FIELDS,
  visibilityLagMs: DEFAULT_VISIBILITY_LAG_MS,
  // The engine sends up to 100 calls at once; they are coalesced into batch requests (see above).
  maxConcurrency: 200,
};

const MAX_CREATE = 200;
const MAX_UPDATE = 200;
const MAX_DELETE = 500;
const MAX_BATCH_GET = 200;

export function parseGoogleConfig(raw: Record<string, unknown>): GooglePeopleConfig {
  const known = new Set(['account', 'visibilityLagMs', 'pageSize']);
  const unknown = Object.keys(raw).filter((k) => !known.has(k));
  if (unknown.length > 0) throw new Error(`google-contacts: unknown setting ${unknown.map((k) => `"${k}"`).join(', ')} (known: "account", "visibilityLagMs", "pageSize")`);
  const account = raw.account;
  if (typeof account !== 'string' || !account.includes('@')) throw new Error('google-contacts: setting "account" is required: the e-mail of a Google account added with `hubsync account`');
  const num = (k: string, def: number, min: number, max: number): number => {
    const v = raw[k];
    if (v === undefined) return def;
    const n = typeof v === 'number' ? v : Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`google-contacts: setting "${k}" must be an integer from ${min} to ${max}`);
    return n;
  };
  return { account, visibilityLagMs: num('visibilityLagMs', DEFAULT_VISIBILITY_LAG_MS, 0, 24 * 3600_000), pageSize: num('pageSize', 1000, 1, 1000) };
}

interface GoogleErrorBody {
  error?: { code?: number; message?: string; status?: string; details?: { '@type'?: string; reason?: string }[]; errors?: { reason?: string }[] };
}

/** Google's error bodies into the closed taxonomy (api-spec §1.12, §7). */
export function classifyGoogle(res: HttpResponse): ConnectorError {
  const body = (res.body ?? {}) as GoogleErrorBody;
  const e = body.error ?? {};
  const reasons = [...(e.details ?? []).map((d) => d.reason), ...(e.errors ?? []).map((d) => d.reason)].filter((r): r is string => typeof r === 'string');
  const message = `Google People API: HTTP ${res.status}${e.status ? ` ${e.status}` : ''}${e.message ? `: ${e.message}` : res.text ? `: ${res.text.slice(0, 200)}` : ''}`;
  const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'));
  const extra = retryAfterMs === undefined ? {} : { retryAfterMs };
  // Keyed on the reason, never on the status: fixtures disagree on it (api-spec §1.3, §9.1).
  if (reasons.includes('EXPIRED_SYNC_TOKEN')) return new ConnectorError('cursor_invalid', message);
  if (res.status === 429 || e.status === 'RESOURCE_EXHAUSTED' || reasons.some((r) => /rate.?limit/i.test(r))) return new ConnectorError('rate_limited', message, extra);
  if (res.status === 401) return new ConnectorError('auth_revoked', message);
  if (res.status === 403) return new ConnectorError('permission', message);
  if (res.status === 404) return new ConnectorError('not_found', message);
  if (res.status === 409) return new ConnectorError('already_exists', message);
  // "a 400 error with reason failedPrecondition if person.metadata.sources.etag is different" (updateContact).
  if (res.status === 400 && e.status === 'FAILED_PRECONDITION') return new ConnectorError('conflict', message);
  if (res.status >= 500) return new ConnectorError('transient', message, extra);
  if (res.status === 400) return new ConnectorError('invalid_data', message);
  return new ConnectorError('unsupported', message);
}

/** One mutation in flight per account, across every connector of this process. */
const accountChains = new Map<string, Promise<unknown>>();
function sequential<T>(account: string, fn: () => Promise<T>): Promise<T> {
  const prev = accountChains.get(account) ?? Promise.resolve();
  const next = prev.then(fn, fn);
  const tail = next.catch(() => undefined);
  accountChains.set(account, tail);
  void tail.then(() => {
    if (accountChains.get(account) === tail) accountChains.delete(account);
  });
  return next;
}

interface Waiter<T, R> {
  item: T;
  resolve(r: R): void;
  reject(e: unknown): void;
}

/**
 * Collects the calls made in one tick and hands them to `send` in groups (by `key`) of at most `max`.
 * The engine starts all calls of a batch before awaiting any, so they land in one tick.
 */
class Coalescer<T, R> {
  private pending: Waiter<T, R>[] = [];
  private scheduled = false;
  constructor(
    private readonly max: number,
    private readonly key: (t: T) => string,
    private readonly send: (items: T[]) => Promise<(R | Error)[]>,
  ) {}

  add(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const groups = new Map<string, Waiter<T, R>[]>();
    for (const w of this.pending) {
      const k = this.key(w.item);
      const g = groups.get(k);
      if (g) g.push(w);
      else groups.set(k, [w]);
    }
    this.pending = [];
    for (const g of groups.values()) {
      for (let i = 0; i < g.length; i += this.max) {
        const chunk = g.slice(i, i + this.max);
        this.send(chunk.map((w) => w.item)).then(
          (results) => {
            chunk.forEach((w, j) => {
              const r = results[j];
              if (r instanceof Error) w.reject(r);
              else w.resolve(r as R);
            });
          },
          (e: unknown) => {
            for (const w of chunk) w.reject(e);
          },
        );
      }
    }
  }
}

interface CreateJob {
  card: Card;
  marker: string;
}
interface UpdateJob {
  id: string;
  card: Card;
  etag: string | null;
  mask: string[];
  photo: boolean;
}
interface DeleteJob {
  id: string;
  etag: string | null;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * The etag the engine keeps: Google's etag and the contact's `updateTime` (`<etag>|<ms>`). The time
 * tells a listing that shows an older version than one the hub already holds — our own write, not
 * yet visible to sync requests ("Writes may have a propagation delay of several minutes") — from a
 * newer one, so a late listing is not taken for the person undoing our write.
 */
export function composeEtag(p: Person): string | null {
  if (!p.etag) return null;
  const t = Date.parse(p.metadata?.sources?.find((s) => s.type === 'CONTACT')?.updateTime ?? '');
  return Number.isNaN(t) ? p.etag : `${p.etag}|${t}`;
}

function splitEtag(e: string): { etag: string; time: number | null } {
  const i = e.lastIndexOf('|');
  if (i < 0) return { etag: e, time: null };
  const t = Number(e.slice(i + 1));
  return Number.isFinite(t) ? { etag: e.slice(0, i), time: t } : { etag: e, time: null };
}

/** Google's own etag of an etag the engine holds. */
function rawEtag(e: string | null): string | null {
  return e === null ? null : splitEtag(e).etag;
}

export class GooglePeopleConnector implements Connector {
  readonly capabilities: Capabilities;
  private readonly http: HttpClient;
  private readonly fetchFn: typeof globalThis.fetch;
  private groups: { byId: Map<string, string>; byName: Map<string, string> } | null = null;
  private markerIndex: Map<string, RemoteItem[]> | null = null;
  /** Set when Google rejected the sync token: the next full listing verifies people the hub does not know. */
  private relisting = false;
  /** Fields of a person the model does not map but an update of its field must keep (system groups, other events). */
  private readonly kept = new Map<string, { memberships: people_v1.Schema$Membership[]; events: people_v1.Schema$Event[] }>();
  private readonly creates: Coalescer<CreateJob, WriteResult>;
  private readonly updates: Coalescer<UpdateJob, WriteResult>;
  private readonly deletes: Coalescer<DeleteJob, void>;

  constructor(
    private readonly config: GooglePeopleConfig,
    private readonly env: ConnectorEnv,
    apiUrl: string,
  ) {
    this.capabilities = { ...googleCapabilities, visibilityLagMs: config.visibilityLagMs };
    this.fetchFn = env.fetch ?? globalThis.fetch;
    this.http = new HttpClient({
      baseUrl: apiUrl,
      fetch: this.fetchFn,
      classify: classifyGoogle,
      userAgent: 'hubsync (google-contacts)',
      ...(env.auth ? { auth: env.auth } : {}),
    });
    this.creates = new Coalescer(MAX_CREATE, () => '', (jobs) => sequential(this.config.account, () => this.sendCreates(jobs)));
    this.updates = new Coalescer(MAX_UPDATE, (j) => j.mask.join(','), (jobs) => sequential(this.config.account, () => this.sendUpdates(jobs)));
    this.deletes = new Coalescer(MAX_DELETE, () => '', (jobs) => sequential(this.config.account, () => this.sendDeletes(jobs)));
  }

  async identity(): Promise<string> {
    // The account is named by its e-mail, checked against the token's userinfo when it was added;
    // no API call, so that a no-op sync costs one request.
    return `google-people:${this.config.account.toLowerCase()}/people/me/connections`;
  }

  // -------------------------------------------------------------------------------------------
  // Reading

  async *pull(req: PullRequest): AsyncIterable<PullPage> {
    let syncToken: string | null = null;
    if (req.cursor !== null) {
      try {
        const c = JSON.parse(req.cursor) as { v?: number; t?: unknown };
        if (c.v !== 1 || typeof c.t !== 'string') throw new Error('bad cursor');
        syncToken = c.t;
      } catch {
        this.relisting = true;
        throw new ConnectorError('cursor_invalid', 'Google: the stored sync cursor is not one this connector wrote; a full sync is needed');
      }
    }
    const incremental = syncToken !== null;
    let pageToken: string | undefined;
    for (;;) {
      // "When the page_token or sync_token is specified, all other request parameters must match the first call."
      let res: HttpResponse<people_v1.Schema$ListConnectionsResponse>;
      try {
        res = await this.http.request<people_v1.Schema$ListConnectionsResponse>('GET', '/v1/people/me/connections', {
          query: {
            personFields: PERSON_FIELDS,
            pageSize: this.config.pageSize,
            requestSyncToken: true,
            ...(syncToken ? { syncToken } : {}),
            ...(pageToken ? { pageToken } : {}),
          },
        });
      } catch (e) {
        if (isConnectorError(e, 'cursor_invalid')) this.relisting = true;
        throw e;
      }
      const body = res.body ?? {};
      const page: PullPage = { items: [], unchanged: [], deleted: [], problems: [], complete: !incremental };
      const people = Array.isArray(body.connections) ? body.connections : [];
      const unknown: Person[] = [];
      const knownEtags = await req.knownEtags(people.flatMap((p) => (typeof p?.resourceName === 'string' ? [p.resourceName] : [])));
      for (const p of people) {
        const id = typeof p?.resourceName === 'string' ? p.resourceName : null;
        if (!id) {
          page.problems.push({ id: '(no resource name)', message: 'Google listed a person without a resourceName; skipped' });
          continue;
        }
        if (p.metadata?.deleted === true) {
          // Only sync-token requests return deleted people (PersonMetadata.deleted).
          if (incremental) page.deleted.push(id);
          continue;
        }
        this.remember(p);
        const known = knownEtags.get(id);
        const listed = composeEtag(p);
        if (listed !== null && typeof known === 'string') {
          const k = splitEtag(known);
          const l = splitEtag(listed);
          // The same version, or an older one than the hub holds (a write of ours not yet visible).
          if (k.etag === l.etag || (k.time !== null && l.time !== null && l.time < k.time)) {
            page.unchanged.push(id);
            continue;
          }
        }
        if (known === undefined && this.relisting) {
          unknown.push(p);
          continue;
        }
        try {
          page.items.push(await this.lift(p));
        } catch (e) {
          if (isConnectorError(e) && e.kind !== 'invalid_data') throw e;
          page.problems.push({ id, message: `could not be read: ${(e as Error).message}` });
        }
      }
      if (unknown.length > 0) await this.verifyUnknown(unknown, page);
      pageToken = typeof body.nextPageToken === 'string' && body.nextPageToken !== '' ? body.nextPageToken : undefined;
      if (!pageToken) {
        this.relisting = false;
        page.cursor = typeof body.nextSyncToken === 'string' ? JSON.stringify({ v: 1, t: body.nextSyncToken }) : null;
        yield page;
        return;
      }
      yield page;
    }
  }

  /**
   * The full listing that follows a rejected sync token is itself a sync request, so it may still
   * show people deleted in the last minutes (by this hub, whose link is gone): people the hub does
   * not know are read directly (people:batchGet, consistent) before they count as new.
   */
  private async verifyUnknown(people: Person[], page: PullPage): Promise<void> {
    for (let i = 0; i < people.length; i += MAX_BATCH_GET) {
      const chunk = people.slice(i, i + MAX_BATCH_GET);
      const current = await this.batchGet(chunk.map((p) => p.resourceName as string));
      for (const p of chunk) {
        const now = current.get(p.resourceName as string);
        if (!now) continue; // gone: a deletion not yet visible to sync requests
        try {
          page.items.push(await this.lift(now));
        } catch (e) {
          if (isConnectorError(e) && e.kind !== 'invalid_data') throw e;
          page.problems.push({ id: p.resourceName as string, message: `could not be read: ${(e as Error).message}` });
        }
      }
    }
  }

  async get(id: string): Promise<RemoteItem | null> {
    const res = await this.http.request<Person>('GET', `/v1/${id}`, { query: { personFields: PERSON_FIELDS }, accept: [404] });
    if (res.status === 404 || !res.body) return null;
    this.remember(res.body);
    return this.lift(res.body);
  }

  /**
   * Every item carrying the marker: a full listing without a sync token, read once per connector
   * (the engine calls this only to recover uncertain creates, all before any write of the run).
   */
  async findByMarker(marker: string): Promise<RemoteItem[]> {
    if (!this.markerIndex) {
      const index = new Map<string, RemoteItem[]>();
      let pageToken: string | undefined;
      do {
        const res = await this.http.request<people_v1.Schema$ListConnectionsResponse>('GET', '/v1/people/me/connections', {
          query: { personFields: PERSON_FIELDS, pageSize: 1000, ...(pageToken ? { pageToken } : {}) },
        });
        for (const p of res.body?.connections ?? []) {
          const m = markerOf(p);
          if (!m) continue;
          try {
            const item = await this.lift(p);
            index.set(m, [...(index.get(m) ?? []), item]);
          } catch {
            // Unreadable: not something to adopt.
          }
        }
        pageToken = res.body?.nextPageToken ?? undefined;
      } while (pageToken);
      this.markerIndex = index;
    }
    return this.markerIndex.get(marker) ?? [];
  }

  private remember(p: Person): void {
    if (!p.resourceName) return;
    const memberships = (p.memberships ?? []).filter((m) => {
      const id = (m.contactGroupMembership?.contactGroupResourceName ?? '').replace(/^contactGroups\//, '');
      return id !== 'myContacts' && !this.isUserGroupId(id);
    });
    const events = (p.events ?? []).filter((e) => e.type !== 'anniversary');
    this.kept.set(p.resourceName, { memberships, events });
  }

  private isUserGroupId(id: string): boolean {
    return !['myContacts', 'starred', 'friends', 'family', 'coworkers', 'chatBuddies', 'all', 'blocked'].includes(id);
  }

  private async lift(p: Person): Promise<RemoteItem> {
    const groupIds = userGroupIds(p);
    if (groupIds.length > 0) await this.loadGroups();
    let photo: string | null = null;
    const ph = Array.isArray(p.photos) ? p.photos.find((x) => x && x.default !== true && typeof x.url === 'string') : undefined;
    if (ph?.url) photo = await this.downloadPhoto(ph.url);
    let card: Card;
    try {
      card = personToCard(p, { uidPrefix: 'urn:x-google-people:', groupName: (id) => this.groups?.byId.get(id), photo });
    } catch (e) {
      throw new ConnectorError('invalid_data', (e as Error).message, { itemId: p.resourceName ?? undefined, cause: e });
    }
    const updateTime = p.metadata?.sources?.find((s) => s.type === 'CONTACT')?.updateTime;
    const t = updateTime ? Date.parse(updateTime) : NaN;
    return { id: p.resourceName as string, etag: composeEtag(p), card, marker: markerOf(p), modifiedAt: Number.isNaN(t) ? null : t };
  }

  private async downloadPhoto(url: string): Promise<string> {
    let r: Response;
    try {
      r = await this.fetchFn(url, { signal: AbortSignal.timeout(30_000) });
    } catch (e) {
      throw new ConnectorError('transient', `Google photo ${url}: ${(e as Error).message}`, { cause: e });
    }
    if (!r.ok) throw new ConnectorError(r.status >= 500 || r.status === 429 ? 'transient' : 'invalid_data', `Google photo ${url}: HTTP ${r.status}`);
    const mime = (r.headers.get('content-type') ?? 'image/jpeg').split(';')[0]?.trim() ?? 'image/jpeg';
    return `data:${mime};base64,${Buffer.from(await r.arrayBuffer()).toString('base64')}`;
  }

  private async loadGroups(): Promise<NonNullable<GooglePeopleConnector['groups']>> {
    if (this.groups) return this.groups;
    const byId = new Map<string, string>();
    const byName = new Map<string, string>();
    let pageToken: string | undefined;
    do {
      const res = await this.http.request<people_v1.Schema$ListContactGroupsResponse>('GET', '/v1/contactGroups', {
        query: { pageSize: 1000, groupFields: 'name,groupType', ...(pageToken ? { pageToken } : {}) },
      });
      for (const g of res.body?.contactGroups ?? []) {
        if (g.groupType !== 'USER_CONTACT_GROUP' || !g.resourceName || !g.name) continue;
        const id = g.resourceName.replace(/^contactGroups\//, '');
        byId.set(id, g.name);
        byName.set(g.name, id);
      }
      pageToken = res.body?.nextPageToken ?? undefined;
    } while (pageToken);
    this.groups = { byId, byName };
    return this.groups;
  }

  /** Group resource names for the card's keywords, creating missing groups (called inside the account's chain). */
  private async groupsFor(card: Card): Promise<string[]> {
    const names = Object.entries(card.keywords ?? {}).filter(([, v]) => v).map(([k]) => k);
    if (names.length === 0) return [];
    const groups = await this.loadGroups();
    const out: string[] = [];
    for (const name of names) {
      let id = groups.byName.get(name);
      if (!id) {
        try {
          const res = await this.http.request<people_v1.Schema$ContactGroup>('POST', '/v1/contactGroups', { json: { contactGroup: { name } } });
          id = (res.body?.resourceName ?? '').replace(/^contactGroups\//, '');
        } catch (e) {
          // 409: created meanwhile (another device): read the groups again.
          if (!isConnectorError(e, 'already_exists')) throw e;
          this.groups = null;
          id = (await this.loadGroups()).byName.get(name);
        }
        if (!id) continue;
        groups.byName.set(name, id);
        groups.byId.set(id, name);
      }
      out.push(`contactGroups/${id}`);
    }
    return out;
  }

  // -------------------------------------------------------------------------------------------
  // Writing

  create(card: Card, opts: { marker: string }): Promise<WriteResult> {
    this.markerIndex = null;
    return this.creates.add({ card, marker: opts.marker });
  }

  update(id: string, card: Card, opts: { ifMatch: string | null; changed: readonly FieldPath[] }): Promise<WriteResult> {
    const mask = updateMask(opts.changed);
    return this.updates.add({ id, card, etag: rawEtag(opts.ifMatch), mask, photo: opts.changed.includes('photo') });
  }

  delete(id: string, opts: { ifMatch: string | null }): Promise<void> {
    return this.deletes.add({ id, etag: rawEtag(opts.ifMatch) });
  }

  /**
   * A write that must not be repeated blindly (creates): 429 means Google did not take it, so it
   * is retried after Retry-After or a backoff; a 5xx or a broken connection leaves the outcome
   * unknown and goes to the caller (the shared client would retry both, hence `noRetry`).
   */
  private async writeOnce<T>(method: string, path: string, json: unknown): Promise<HttpResponse<T>> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.http.request<T>(method, path, { json, noRetry: true });
      } catch (e) {
        if (!isConnectorError(e, 'rate_limited') || attempt >= 6) throw e;
        await sleep(e.retryAfterMs ?? Math.min(30_000, 500 * 2 ** (attempt - 1)) * Math.random());
      }
    }
  }

  private async sendCreates(jobs: CreateJob[]): Promise<(WriteResult | Error)[]> {
    const bodies: Person[] = [];
    const results: (WriteResult | Error)[] = new Array<WriteResult | Error>(jobs.length);
    const index: number[] = [];
    for (const [i, j] of jobs.entries()) {
      try {
        const p = cardToPerson(j.card, await this.groupsFor(j.card));
        p.clientData = [{ key: MARKER_KEY, value: j.marker }];
        bodies.push(p);
        index.push(i);
      } catch (e) {
        results[i] = isConnectorError(e) ? e : new ConnectorError('invalid_data', (e as Error).message);
      }
    }
    if (bodies.length > 0) {
      let created: Person[] | null = null;
      try {
        const res = await this.writeOnce<people_v1.Schema$BatchCreateContactsResponse>('POST', '/v1/people:batchCreateContacts', {
          contacts: bodies.map((contactPerson) => ({ contactPerson })),
          readMask: PERSON_FIELDS,
        });
        created = (res.body?.createdPeople ?? []).map((r) => r.person ?? {});
        if (created.length !== bodies.length) throw new ConnectorError('transient', `Google answered ${created.length} people for ${bodies.length} creates`);
      } catch (e) {
        if (!isConnectorError(e, 'invalid_data') || bodies.length === 1) {
          for (const i of index) results[i] = e instanceof Error ? e : new Error(String(e));
        } else {
          // The batch was refused as a whole for some contact's data: create one by one, so that
          // each contact gets its own answer (and the good ones are created).
          for (const [k, body] of bodies.entries()) {
            const i = index[k] as number;
            try {
              const res = await this.writeOnce<Person>('POST', `/v1/people:createContact?personFields=${PERSON_FIELDS}`, body);
              results[i] = await this.writeResult(res.body ?? {});
            } catch (err) {
              results[i] = err instanceof Error ? err : new Error(String(err));
            }
          }
        }
      }
      if (created) {
        for (const [k, p] of created.entries()) {
          const i = index[k] as number;
          results[i] = await this.afterCreate(p, (jobs[i] as CreateJob).card);
        }
      }
    }
    return results;
  }

  /** A created person: its photo (a call of its own) and the echo. */
  private async afterCreate(p: Person, card: Card): Promise<WriteResult | Error> {
    let photo: { base64: string } | null = null;
    try {
      photo = photoBytes(card);
    } catch {
      photo = null; // Not uploadable (a link): the contact is created without it.
    }
    if (photo && p.resourceName) {
      try {
        const res = await this.http.request<{ person?: Person }>('PATCH', `/v1/${p.resourceName}:updateContactPhoto`, { json: { photoBytes: photo.base64, personFields: PERSON_FIELDS } });
        if (res.body?.person) p = res.body.person;
      } catch {
        // The contact exists: report it created; the photo goes out again with the next change.
      }
    }
    try {
      return await this.writeResult(p);
    } catch {
      // Created, but the echo could not be read (a photo download failed): no echo then.
      return { id: p.resourceName ?? '', etag: composeEtag(p) };
    }
  }

  private async writeResult(p: Person): Promise<WriteResult> {
    this.remember(p);
    const echoed = await this.lift(p);
    return { id: echoed.id, etag: echoed.etag, echoed };
  }

  private async sendUpdates(jobs: UpdateJob[]): Promise<(WriteResult | Error)[]> {
    const results: (WriteResult | Error)[] = new Array<WriteResult | Error>(jobs.length);
    const mask = jobs[0]?.mask ?? [];
    // Google needs an etag on every update; a write the engine sends unconditionally reads it first,
    // and fields the model does not map but the mask replaces (system groups, other events) are
    // re-read when this connector has not seen the person yet.
    const needRead = jobs.filter((j) => !j.etag || ((mask.includes('memberships') || mask.includes('events')) && !this.kept.has(j.id))).map((j) => j.id);
    const current = new Map<string, Person>();
    for (let i = 0; i < needRead.length; i += MAX_BATCH_GET) {
      for (const [id, p] of await this.batchGet(needRead.slice(i, i + MAX_BATCH_GET))) {
        current.set(id, p);
        this.remember(p);
      }
    }
    const bodies = new Map<string, { job: number; person: Person }>();
    for (const [i, j] of jobs.entries()) {
      try {
        const etag = j.etag ?? current.get(j.id)?.etag;
        if (!etag) {
          results[i] = new ConnectorError('not_found', `Google: ${j.id} does not exist`, { itemId: j.id });
          continue;
        }
        if (mask.length === 0) continue;
        const full = cardToPerson(j.card, mask.includes('memberships') ? await this.groupsFor(j.card) : []);
        const kept = this.kept.get(j.id);
        if (kept) {
          full.memberships = [...(full.memberships ?? []), ...kept.memberships];
          full.events = [...(full.events ?? []), ...kept.events];
        }
        bodies.set(j.id, { job: i, person: { ...pick(full, mask), etag, resourceName: j.id } });
      } catch (e) {
        results[i] = isConnectorError(e) ? e : new ConnectorError('invalid_data', (e as Error).message, { itemId: j.id });
      }
    }
    const updated = new Map<string, Person>();
    if (bodies.size > 0) {
      try {
        const res = await this.http.request<people_v1.Schema$BatchUpdateContactsResponse>('POST', '/v1/people:batchUpdateContacts', {
          json: {
            contacts: Object.fromEntries([...bodies].map(([id, b]) => [id, b.person])),
            updateMask: mask.join(','),
            readMask: PERSON_FIELDS,
          },
        });
        for (const [id, r] of Object.entries(res.body?.updateResult ?? {})) if (r.person) updated.set(id, r.person);
      } catch (e) {
        if (bodies.size === 1 || !(isConnectorError(e, 'conflict') || isConnectorError(e, 'invalid_data') || isConnectorError(e, 'not_found'))) {
          for (const b of bodies.values()) results[b.job] = e instanceof Error ? e : new Error(String(e));
        } else {
          // Refused as a whole because of some of them: one by one, each with its own answer.
          for (const [id, b] of bodies) {
            try {
              const res = await this.http.request<Person>('PATCH', `/v1/${id}:updateContact`, {
                query: { updatePersonFields: mask.join(','), personFields: PERSON_FIELDS },
                json: b.person,
              });
              if (res.body) updated.set(id, res.body);
            } catch (err) {
              results[b.job] = err instanceof Error ? err : new Error(String(err));
            }
          }
        }
      }
    }
    for (const [i, j] of jobs.entries()) {
      if (results[i] !== undefined) continue;
      let p = updated.get(j.id) ?? current.get(j.id) ?? null;
      if (j.photo) {
        try {
          const bytes = photoBytes(j.card);
          const res = bytes
            ? await this.http.request<{ person?: Person }>('PATCH', `/v1/${j.id}:updateContactPhoto`, { json: { photoBytes: bytes.base64, personFields: PERSON_FIELDS } })
            : await this.http.request<{ person?: Person }>('DELETE', `/v1/${j.id}:deleteContactPhoto`, { query: { personFields: PERSON_FIELDS } });
          if (res.body?.person) p = res.body.person;
        } catch (e) {
          results[i] = isConnectorError(e) ? e : new ConnectorError('invalid_data', (e as Error).message, { itemId: j.id, field: 'photo' });
          continue;
        }
      }
      if (!p) {
        const got = await this.batchGet([j.id]);
        p = got.get(j.id) ?? null;
      }
      if (!p) {
        results[i] = new ConnectorError('not_found', `Google: ${j.id} does not exist`, { itemId: j.id });
        continue;
      }
      try {
        results[i] = await this.writeResult(p);
      } catch (e) {
        results[i] = e instanceof Error ? e : new Error(String(e));
      }
    }
    return results;
  }

  private async batchGet(ids: string[]): Promise<Map<string, Person>> {
    const out = new Map<string, Person>();
    if (ids.length === 0) return out;
    const u = new URL(this.http.url('/v1/people:batchGet', { personFields: PERSON_FIELDS }));
    for (const id of ids) u.searchParams.append('resourceNames', id);
    const res = await this.http.request<people_v1.Schema$GetPeopleResponse>('GET', u.toString());
    for (const r of res.body?.responses ?? []) {
      if (r.person?.resourceName && !(r.status?.code && r.status.code !== 0)) out.set(r.person.resourceName, r.person);
    }
    return out;
  }

  private async sendDeletes(jobs: DeleteJob[]): Promise<(void | Error)[]> {
    const results: (void | Error)[] = new Array<void | Error>(jobs.length);
    // Google has no conditional delete: the etags are checked with one read just before.
    const conditional = jobs.filter((j) => j.etag !== null).map((j) => j.id);
    const current = new Map<string, Person>();
    for (let i = 0; i < conditional.length; i += MAX_BATCH_GET) {
      for (const [id, p] of await this.batchGet(conditional.slice(i, i + MAX_BATCH_GET))) current.set(id, p);
    }
    const toDelete: string[] = [];
    for (const [i, j] of jobs.entries()) {
      if (j.etag !== null) {
        const p = current.get(j.id);
        if (!p) continue; // already gone: deleted
        if (p.etag !== j.etag) {
          results[i] = new ConnectorError('conflict', `Google: ${j.id} changed since it was read`, { itemId: j.id });
          continue;
        }
      }
      toDelete.push(j.id);
    }
    if (toDelete.length === 0) return results;
    try {
      await this.http.request('POST', '/v1/people:batchDeleteContacts', { json: { resourceNames: toDelete } });
    } catch (e) {
      if (!isConnectorError(e, 'not_found') && !isConnectorError(e, 'invalid_data')) {
        for (const [i, j] of jobs.entries()) if (results[i] === undefined && toDelete.includes(j.id)) results[i] = e instanceof Error ? e : new Error(String(e));
        return results;
      }
      // Some were gone already (the batch is refused as a whole): one by one; 404 counts as deleted.
      for (const [i, j] of jobs.entries()) {
        if (results[i] !== undefined || !toDelete.includes(j.id)) continue;
        try {
          await this.http.request('DELETE', `/v1/${j.id}:deleteContact`, { accept: [404] });
        } catch (err) {
          results[i] = err instanceof Error ? err : new Error(String(err));
        }
      }
    }
    return results;
  }
}

/** Makes the factory; `endpoints` are the `HUBSYNC_*_URL` settings (the API root may point at an emulator). */
export function googlePeopleConnectorFactory(endpoints: Record<string, string | undefined> = {}): ConnectorFactory<GooglePeopleConfig> {
  return {
    type: 'google-contacts',
    label: 'Google Contacts',
    accountProvider: 'google',
    capabilities: googleCapabilities,
    parseConfig: parseGoogleConfig,
    create: (config, env) => new GooglePeopleConnector(config, env, endpoints.HUBSYNC_GOOGLE_API_URL ?? 'https://people.googleapis.com'),
  };
}
