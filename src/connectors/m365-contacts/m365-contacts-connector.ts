/**
 * The Microsoft 365 mailbox contacts spoke: one contacts folder of one mailbox, through Graph with
 * an organisation (application permissions, any mailbox of the tenant) or a user account (delegated,
 * the user's own mailbox).
 *
 * - Folder: the default contacts folder, or a named folder created on demand.
 * - Pull: the folder's delta query (api-spec.md §4.3). The cursor is the whole `@odata.deltaLink`,
 *   followed verbatim. A 410 or `syncStateNotFound` / `resyncRequired` → `cursor_invalid` (the
 *   engine then does a full pull). A full pull is the initial delta round, buffered so that an item
 *   the service lists twice in one round (replays are allowed, §4.3) is listed once, as last seen.
 * - `@removed`: per-folder delta reports a move out of the folder exactly like a deletion, so every
 *   removed id is verified with a GET by immutable id before it is reported as deleted: 404 → deleted;
 *   found in another folder → moved, reported as a problem and never as a deletion; found in this
 *   folder → a replay, listed as an item.
 * - Ids: `Prefer: IdType="ImmutableId"` on every request (graph-client.ts), so ids survive moves.
 * - Writes: POST / PATCH (only the changed properties, plus displayName) / DELETE, coalesced into
 *   `$batch` requests of ≤ 20 with ≤ 4 requests in flight per mailbox (graph-client.ts). PATCH and
 *   DELETE send `If-Match: W/"<changeKey>"`; Outlook answers a stale one with 412
 *   ErrorIrresolvableConflict → `conflict`.
 * - Marker: a single-value extended property (a named string property in Hubsync's GUID namespace),
 *   found with `$filter=singleValueExtendedProperties/Any(…)` for crash recovery (§B7). Creates are
 *   not idempotent on Graph contacts (no transactionId), hence `idempotentCreate: 'none'`.
 * - Photos: read with `GET …/photo/$value` for changed items only (batched), written with PUT.
 */
import type { Card } from '../../model/card.js';
import type { FieldPath } from '../../model/fields.js';
import type { Capabilities, Connector, ConnectorEnv, ConnectorFactory, ItemProblem, PullPage, PullRequest, RemoteItem, WriteResult } from '../kit/contract.js';
import { ConnectorError, isConnectorError } from '../kit/errors.js';
import { answerOrThrow, BatchQueue, GraphClient, mailboxGate, odataString, type BatchAnswer, type Semaphore, gated } from '../m365-kit/graph-client.js';
import { CONTACT_FIELDS, MappingError, cardToContact, contactToCard, patchBody, photoBytes, type GraphContact } from './mapping.js';

export interface M365ContactsConfig {
  account: string;
  /** The mailbox: userPrincipalName or object id (`me` for a user account's own mailbox). */
  mailbox: string;
  /** A contacts folder's display name; null for the mailbox's default contacts folder. */
  folder: string | null;
  /** Create the named folder when it does not exist (default true). */
  createFolder: boolean;
  /** Page size asked for with `Prefer: odata.maxpagesize`. */
  pageSize: number;
}

/** Hubsync's namespace for its named extended properties (a fixed GUID; MS-OXPROPS PS_PUBLIC_STRINGS style). */
export const MARKER_PROPERTY = 'String {6b1f2a57-3c0e-4f4b-9d35-2f61c7a0b8e4} Name HubsyncMarker';

export const M365_CONTACTS_CAPABILITIES: Capabilities = {
  readOnly: false,
  incremental: true,
  idempotentCreate: 'none',
  markers: true,
  conditionalWrites: true,
  fields: CONTACT_FIELDS,
  visibilityLagMs: 0,
  // Enough calls in flight to fill two $batch requests; the mailbox gate keeps the wire at ≤ 4.
  maxConcurrency: 40,
};

interface DeltaPage {
  value?: GraphContact[];
  '@odata.nextLink'?: string;
  '@odata.deltaLink'?: string;
}

/** Properties every full contact representation carries (arrays and displayName are never omitted). */
const FULL_ROW_KEYS = ['displayName', 'emailAddresses', 'businessPhones', 'homePhones', 'categories'];

function etagOf(c: GraphContact): string | null {
  const e = c['@odata.etag'];
  if (typeof e === 'string') return e;
  return typeof c.changeKey === 'string' ? `W/"${c.changeKey}"` : null;
}

export class M365ContactsConnector implements Connector {
  readonly capabilities = M365_CONTACTS_CAPABILITIES;
  private readonly client: GraphClient;
  private readonly gate: Semaphore;
  private readonly queue: BatchQueue;
  private folderId: Promise<string> | null = null;
  private readonly user: string;

  constructor(
    private readonly config: M365ContactsConfig,
    env: ConnectorEnv & { graphUrl?: string | undefined },
  ) {
    this.client = new GraphClient({ ...(env.graphUrl ? { graphUrl: env.graphUrl } : {}), ...(env.auth ? { auth: env.auth } : {}), ...(env.fetch ? { fetch: env.fetch } : {}) });
    this.gate = mailboxGate(`${this.client.graphUrl}|${config.account}|${config.mailbox.toLowerCase()}`);
    this.queue = new BatchQueue(this.client, this.gate);
    this.user = config.mailbox === 'me' ? '/me' : `/users/${encodeURIComponent(config.mailbox)}`;
  }

  async identity(): Promise<string> {
    return `m365-contacts:${this.config.account}/${this.config.mailbox.toLowerCase()}/${this.config.folder ?? '(default)'}`;
  }

  private read(path: string, opts: Parameters<GraphClient['request']>[2] = {}): Promise<{ status: number; body: unknown }> {
    return gated(this.gate, () => this.client.request('GET', path, opts));
  }

  /** The folder's id: the default folder, or the named one (created when missing and allowed). */
  private folder(): Promise<string> {
    this.folderId ??= this.resolveFolder().catch((e: unknown) => {
      this.folderId = null;
      throw e;
    });
    return this.folderId;
  }

  private async resolveFolder(): Promise<string> {
    if (this.config.folder === null) {
      const r = await this.read(`${this.user}/contactFolders/contacts`);
      return (r.body as { id: string }).id;
    }
    const r = await this.read(`${this.user}/contactFolders`, { query: { $filter: `displayName eq ${odataString(this.config.folder)}` } });
    const found = (r.body as { value?: { id: string }[] }).value?.[0];
    if (found) return found.id;
    if (!this.config.createFolder) throw new ConnectorError('not_found', `The mailbox ${this.config.mailbox} has no contacts folder "${this.config.folder}".`);
    try {
      const c = await gated(this.gate, () => this.client.request<{ id: string }>('POST', `${this.user}/contactFolders`, { json: { displayName: this.config.folder } }));
      return c.body.id;
    } catch (e) {
      // Another process created it meanwhile (409 ErrorFolderExists): look it up again.
      if (!isConnectorError(e, 'conflict')) throw e;
      const again = await this.read(`${this.user}/contactFolders`, { query: { $filter: `displayName eq ${odataString(this.config.folder)}` } });
      const id = (again.body as { value?: { id: string }[] }).value?.[0]?.id;
      if (!id) throw e;
      return id;
    }
  }

  private contactPath(id: string): string {
    return `${this.user}/contacts/${encodeURIComponent(id)}`;
  }

  async *pull(req: PullRequest): AsyncIterable<PullPage> {
    const prefer = [`odata.maxpagesize=${this.config.pageSize}`];
    if (req.cursor === null) {
      const folderId = await this.folder();
      // A full listing: the initial round, buffered to drop replays (see header).
      const rows = new Map<string, GraphContact>();
      let url = `${this.user}/contactFolders/${encodeURIComponent(folderId)}/contacts/delta`;
      let deltaLink: string | undefined;
      for (;;) {
        const page = (await this.read(url, { prefer })).body as DeltaPage;
        for (const row of page.value ?? []) {
          if (typeof row.id !== 'string') continue;
          if (row['@removed'] !== undefined) rows.delete(row.id);
          else rows.set(row.id, row);
        }
        if (page['@odata.nextLink']) url = page['@odata.nextLink'];
        else {
          deltaLink = page['@odata.deltaLink'];
          break;
        }
      }
      const all = [...rows.values()];
      const size = Math.max(1, this.config.pageSize);
      if (all.length === 0) {
        yield { items: [], unchanged: [], deleted: [], problems: [], complete: true, cursor: deltaLink ?? null };
        return;
      }
      for (let i = 0; i < all.length; i += size) {
        const last = i + size >= all.length;
        const page = await this.lift(all.slice(i, i + size), req);
        yield { ...page, deleted: [], complete: true, ...(last ? { cursor: deltaLink ?? null } : {}) };
      }
      return;
    }

    let url = req.cursor;
    for (;;) {
      let page: DeltaPage;
      try {
        page = (await this.read(url, { prefer })).body as DeltaPage;
      } catch (e) {
        if (isConnectorError(e, 'not_found') || isConnectorError(e, 'cursor_invalid')) {
          throw new ConnectorError('cursor_invalid', `The delta link of ${this.config.mailbox} is no longer accepted: ${(e as Error).message}`, { cause: e });
        }
        throw e;
      }
      const present: GraphContact[] = [];
      const removed: string[] = [];
      const seen = new Set<string>();
      for (const row of [...(page.value ?? [])].reverse()) {
        // The last representation of an id in a page wins (replays, §4.3).
        if (typeof row.id !== 'string' || seen.has(row.id)) continue;
        seen.add(row.id);
        if (row['@removed'] !== undefined) removed.push(row.id);
        else present.push(row);
      }
      present.reverse();
      const lifted = await this.lift(await this.completeRows(present), req);
      // The folder id is looked up only when needed: an incremental pull with nothing removed is
      // one request (the delta link), however many times the spoke syncs.
      const verified = removed.length === 0 ? { items: [], deleted: [], problems: [] } : await this.verifyRemoved(removed, await this.folder(), req);
      const next = page['@odata.nextLink'];
      yield {
        items: [...lifted.items, ...verified.items],
        unchanged: lifted.unchanged,
        deleted: verified.deleted,
        problems: [...lifted.problems, ...verified.problems],
        complete: false,
        ...(next ? {} : { cursor: page['@odata.deltaLink'] ?? null }),
      };
      if (!next) return;
      url = next;
    }
  }

  /**
   * An updated row of a delta round carries "at least the changed properties" (delta-query-overview):
   * a row without the full set is read whole (in `$batch`), so no property is taken as cleared.
   */
  private async completeRows(rows: GraphContact[]): Promise<GraphContact[]> {
    return Promise.all(
      rows.map(async (r) => {
        if (FULL_ROW_KEYS.every((k) => k in r)) return r;
        const a = await this.queue.submit({ method: 'GET', url: this.contactPath(r.id as string) });
        return a.status === 200 ? (a.body as GraphContact) : r;
      }),
    );
  }

  /** Rows → items: unchanged by etag skipped; photos fetched for the others; bad rows → problems. */
  private async lift(rows: GraphContact[], req: PullRequest): Promise<Pick<PullPage, 'items' | 'unchanged' | 'problems'>> {
    const unchanged: string[] = [];
    const todo: GraphContact[] = [];
    const known = await req.knownEtags(rows.map((r) => r.id as string));
    for (const r of rows) {
      const etag = etagOf(r);
      if (etag !== null && known.get(r.id as string) === etag) unchanged.push(r.id as string);
      else todo.push(r);
    }
    const photos = await this.photos(todo.map((r) => r.id as string));
    const items: RemoteItem[] = [];
    const problems: ItemProblem[] = [];
    for (const r of todo) {
      const id = r.id as string;
      const photo = photos.get(id);
      if (photo instanceof Error) {
        problems.push({ id, field: 'photo', message: photo.message });
        continue;
      }
      try {
        items.push(this.item(r, photo ?? null));
      } catch (e) {
        problems.push(problemOf(id, e));
      }
    }
    return { items, unchanged, problems };
  }

  private item(r: GraphContact, photo: string | null, marker?: string | null): RemoteItem {
    const id = r.id as string;
    const modified = typeof r.lastModifiedDateTime === 'string' ? Date.parse(r.lastModifiedDateTime) : NaN;
    return {
      id,
      etag: etagOf(r),
      card: contactToCard(r, `urn:m365:${id}`, photo),
      ...(marker !== undefined ? { marker } : {}),
      ...(Number.isNaN(modified) ? {} : { modifiedAt: modified }),
    };
  }

  /** Photos of these contacts as data: URIs (absent: no photo), fetched in `$batch` requests. */
  private async photos(ids: string[]): Promise<Map<string, string | Error>> {
    const out = new Map<string, string | Error>();
    await Promise.all(
      ids.map(async (id) => {
        const a = await this.queue.submit({ method: 'GET', url: `${this.contactPath(id)}/photo/$value` });
        if (a.status === 404) return;
        if (a.status !== 200 || typeof a.body !== 'string') {
          out.set(id, new Error(`the photo could not be read (HTTP ${a.status})`));
          return;
        }
        out.set(id, `data:${(a.headers['content-type'] ?? 'image/jpeg').split(';')[0]};base64,${a.body}`);
      }),
    );
    return out;
  }

  /** `@removed` ids: deleted only when a GET by immutable id says 404 (a move is not a delete). */
  private async verifyRemoved(ids: string[], folderId: string, req: PullRequest): Promise<Pick<PullPage, 'items' | 'deleted' | 'problems'>> {
    const deleted: string[] = [];
    const problems: ItemProblem[] = [];
    const back: GraphContact[] = [];
    await Promise.all(
      ids.map(async (id) => {
        const a = await this.queue.submit({ method: 'GET', url: this.contactPath(id) });
        if (a.status === 404) {
          deleted.push(id);
          return;
        }
        if (a.status !== 200) {
          problems.push({ id, message: `removed from the folder, but its state could not be checked (HTTP ${a.status}); not treated as deleted` });
          return;
        }
        const row = a.body as GraphContact;
        if (row.parentFolderId === folderId) back.push(row);
        else {
          problems.push({ id, message: 'moved to another contacts folder of the mailbox: not treated as a deletion (it is no longer synced from this folder)' });
        }
      }),
    );
    const lifted = await this.lift(back, req);
    return { items: lifted.items, deleted, problems: [...problems, ...lifted.problems] };
  }

  async get(id: string): Promise<RemoteItem | null> {
    let r: { body: unknown };
    try {
      r = await this.read(this.contactPath(id), { query: { $expand: `singleValueExtendedProperties($filter=id eq ${odataString(MARKER_PROPERTY)})` } });
    } catch (e) {
      if (isConnectorError(e, 'not_found')) return null;
      throw e;
    }
    const row = r.body as GraphContact;
    const photo = (await this.photos([id])).get(id);
    if (photo instanceof Error) throw new ConnectorError('transient', photo.message, { itemId: id, field: 'photo' });
    try {
      return this.item(row, photo ?? null, markerOf(row));
    } catch (e) {
      throw toInvalid(id, e);
    }
  }

  async findByMarker(marker: string): Promise<RemoteItem[]> {
    const folderId = await this.folder();
    const r = await this.read(`${this.user}/contactFolders/${encodeURIComponent(folderId)}/contacts`, {
      query: {
        $filter: `singleValueExtendedProperties/Any(ep: ep/id eq ${odataString(MARKER_PROPERTY)} and ep/value eq ${odataString(marker)})`,
        $expand: `singleValueExtendedProperties($filter=id eq ${odataString(MARKER_PROPERTY)})`,
      },
    });
    const rows = (r.body as { value?: GraphContact[] }).value ?? [];
    const out: RemoteItem[] = [];
    for (const row of rows) {
      const photo = (await this.photos([row.id as string])).get(row.id as string);
      out.push(this.item(row, typeof photo === 'string' ? photo : null, markerOf(row)));
    }
    return out;
  }

  async create(card: Card, opts: { marker: string }): Promise<WriteResult> {
    const folderId = await this.folder();
    const body = { ...withoutNulls(cardToContact(card)), singleValueExtendedProperties: [{ id: MARKER_PROPERTY, value: opts.marker }] };
    const a = answerOrThrow(await this.queue.submit({ method: 'POST', url: `${this.user}/contactFolders/${encodeURIComponent(folderId)}/contacts`, body }));
    const row = a.body as GraphContact;
    return this.afterWrite(row, card, true, opts.marker);
  }

  async update(id: string, card: Card, opts: { ifMatch: string | null; changed: readonly FieldPath[] }): Promise<WriteResult> {
    const body = patchBody(card, opts.changed);
    const a = answerOrThrow(
      await this.queue.submit({ method: 'PATCH', url: this.contactPath(id), body, ...(opts.ifMatch ? { headers: { 'if-match': opts.ifMatch } } : {}) }),
      id,
    );
    return this.afterWrite(a.body as GraphContact, card, opts.changed.includes('photo'), undefined);
  }

  /** Writes the photo when needed; echoes the stored contact (re-read after a photo write). */
  private async afterWrite(row: GraphContact, card: Card, photoChanged: boolean, marker: string | undefined): Promise<WriteResult> {
    const id = row.id as string;
    const uri = Object.values(card.media ?? {}).find((m) => m.kind === 'photo')?.uri;
    const photo = uri ? photoBytes(uri) : null;
    if (!photoChanged || (!photo && marker !== undefined)) {
      return { id, etag: etagOf(row), echoed: this.item(row, null, marker) };
    }
    let answer: BatchAnswer;
    if (photo) {
      answer = await this.queue.submit({ method: 'PUT', url: `${this.contactPath(id)}/photo/$value`, body: photo.bytes.toString('base64'), headers: { 'content-type': photo.contentType } });
    } else {
      answer = await this.queue.submit({ method: 'DELETE', url: `${this.contactPath(id)}/photo/$value` });
      if (answer.status === 404) answer = { ...answer, status: 204 };
    }
    answerOrThrow(answer, id);
    const fresh = await this.get(id);
    if (!fresh) throw new ConnectorError('not_found', 'The contact disappeared right after it was written.', { itemId: id });
    return { id, etag: fresh.etag, echoed: fresh };
  }

  async delete(id: string, opts: { ifMatch: string | null }): Promise<void> {
    const a = await this.queue.submit({ method: 'DELETE', url: this.contactPath(id), ...(opts.ifMatch ? { headers: { 'if-match': opts.ifMatch } } : {}) });
    if (a.status === 404) return;
    answerOrThrow(a, id);
  }
}

function markerOf(row: GraphContact): string | null {
  const props = row.singleValueExtendedProperties;
  if (!Array.isArray(props)) return null;
  const p = (props as { id?: string; value?: string }[]).find((x) => x.id?.toLowerCase() === MARKER_PROPERTY.toLowerCase());
  return p?.value ?? null;
}

function withoutNulls(c: GraphContact): GraphContact {
  const out: GraphContact = {};
  for (const [k, v] of Object.entries(c)) if (v !== null && !(Array.isArray(v) && v.length === 0)) out[k] = v;
  return out;
}

function problemOf(id: string, e: unknown): ItemProblem {
  if (e instanceof MappingError) return { id, field: e.field, message: `unreadable contact: ${e.message}` };
  return { id, message: `unreadable contact: ${(e as Error).message}` };
}

function toInvalid(id: string, e: unknown): ConnectorError {
  if (e instanceof MappingError) return new ConnectorError('invalid_data', `unreadable contact: ${e.message}`, { itemId: id, field: e.field });
  return new ConnectorError('invalid_data', `unreadable contact: ${(e as Error).message}`, { itemId: id });
}

// -------------------------------------------------------------------------------------------------

const KNOWN_KEYS = new Set(['account', 'mailbox', 'folder', 'createFolder', 'pageSize']);

export function parseM365ContactsConfig(raw: Record<string, unknown>): M365ContactsConfig {
  for (const k of Object.keys(raw)) if (!KNOWN_KEYS.has(k)) throw new Error(`unknown setting "${k}" (known: ${[...KNOWN_KEYS].join(', ')})`);
  const account = typeof raw.account === 'string' ? raw.account.trim() : '';
  if (account === '') throw new Error('"account" is required: the Microsoft account (hubsync account list) the spoke acts through');
  const mailbox = typeof raw.mailbox === 'string' ? raw.mailbox.trim() : '';
  if (mailbox === '') throw new Error('"mailbox" is required: the mailbox\'s address (userPrincipalName), or "me"');
  const folder = raw.folder === undefined || raw.folder === null || raw.folder === '' ? null : String(raw.folder).trim();
  const createFolder = raw.createFolder === undefined ? true : raw.createFolder === true || raw.createFolder === 'true';
  const pageSize = raw.pageSize === undefined ? 200 : Number(raw.pageSize);
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 1000) throw new Error('"pageSize" must be a whole number from 1 to 1000');
  return { account, mailbox, folder, createFolder, pageSize };
}

export function m365ContactsFactory(endpoints: { graphUrl?: string | undefined } = {}): ConnectorFactory<M365ContactsConfig> {
  return {
    type: 'm365-contacts',
    label: 'Microsoft 365 mailbox contacts',
    parseConfig: parseM365ContactsConfig,
    capabilities: M365_CONTACTS_CAPABILITIES,
    accountProvider: 'microsoft',
    create: (config, env) => new M365ContactsConnector(config, { ...env, graphUrl: endpoints.graphUrl }),
  };
}
