/**
 * The Graph v1.0 surface the Microsoft connectors use, answered from `GraphState` (api-spec.md §4):
 * contacts and contact folders (201/200/204, `@odata.etag` = `W/"changeKey"`, If-Match → 412
 * ErrorIrresolvableConflict), per-folder delta with next/delta links pointing back at this emulator,
 * `@removed`, 410 + Location on an evicted token, single-value extended properties (`$filter` with
 * `Any`, `$expand`), photos, users / organisational contacts with delta, rooms, and `$batch`.
 *
 * Transport-free: `handle()` takes a parsed request and returns a response, so `$batch` items run
 * through exactly the same code as top-level requests. The server (server.ts) adds auth, the
 * per-mailbox concurrency limit, faults and counts.
 */
import { randomBytes } from 'node:crypto';
import { CONTACT_PROPERTIES, GraphState, type ContactRecord, type FolderRecord, type Json, type Mailbox } from './state.js';

export interface Principal {
  kind: 'app' | 'user';
  clientId: string;
  /** The signed-in user (delegated tokens). */
  userId?: string;
}

export interface GraphRequest {
  method: string;
  /** Path after `/v1.0`, e.g. `/users/x/contacts`. */
  path: string;
  query: URLSearchParams;
  headers: Record<string, string>;
  body: unknown;
  principal: Principal;
}

export interface GraphResponse {
  status: number;
  headers?: Record<string, string>;
  /** JSON, or bytes for `$value` bodies. */
  body?: unknown;
}

/** `{ error: { code, message, innerError } }` (api-spec.md §4.6). */
export function graphError(status: number, code: string, message: string, headers: Record<string, string> = {}): GraphResponse {
  return {
    status,
    headers: { 'content-type': 'application/json', ...headers },
    body: { error: { code, message, innerError: { 'request-id': randomUUIDish(), date: new Date().toISOString().slice(0, 19) } } },
  };
}

function randomUUIDish(): string {
  return randomBytes(16).toString('hex').replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, '$1-$2-$3-$4-$5');
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}): GraphResponse => ({
  status,
  headers: { 'content-type': 'application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8', ...headers },
  body,
});

const CONTACT_DEFAULTS: Json = {
  birthday: null, fileAs: '', displayName: '', givenName: null, initials: null, middleName: null, nickName: null,
  surname: null, title: null, yomiGivenName: null, yomiSurname: null, yomiCompanyName: null, generation: null,
  imAddresses: [], jobTitle: null, companyName: null, department: null, officeLocation: null, profession: null,
  businessHomePage: null, assistantName: null, manager: null, homePhones: [], mobilePhone: null, businessPhones: [],
  spouseName: null, personalNotes: '', children: [], emailAddresses: [], homeAddress: {}, businessAddress: {}, otherAddress: {},
  categories: [],
};

const USER_DEFAULT_SELECT = ['businessPhones', 'displayName', 'givenName', 'jobTitle', 'mail', 'mobilePhone', 'officeLocation', 'preferredLanguage', 'surname', 'userPrincipalName', 'id'];

interface DeltaToken {
  scope: string;
  seq: number;
  gen: number;
  sel: string[] | null;
  /** Prefer: IdType="ImmutableId" at the start of the round (encoded like other parameters). */
  imm?: boolean;
}

interface SkipState {
  /** Remaining rows to return, already rendered. */
  rows: Json[];
  next: DeltaToken;
  deltaBase: string;
}

export class GraphApi {
  private readonly skips = new Map<string, SkipState>();
  /** The default page size of delta and list responses when the client sets none. */
  defaultPageSize = 10;
  /** The largest `odata.maxpagesize` / `$top` honoured. */
  maxPageSize = 1000;
  /**
   * Updated objects in delta rounds carry only the id and the properties that changed — the
   * least the service promises ("at least the changed properties", delta-query-overview).
   * Off by default (full representations, which Outlook sends in practice).
   */
  minimalDeltaUpdates = false;

  constructor(
    readonly state: GraphState,
    /** The emulator's public base URL (`http://127.0.0.1:port`), for next/delta links. */
    private readonly baseUrl: () => string,
  ) {}

  handle(req: GraphRequest): GraphResponse {
    const skip = req.query.get('$skiptoken');
    if (req.method === 'GET' && skip !== null && this.isListSkip(skip)) return this.continueList(skip);
    const segs = req.path.split('/').filter((s) => s !== '').map(decodeURIComponent);
    if (segs[0] === 'me') {
      if (req.principal.kind !== 'user' || !req.principal.userId) {
        return graphError(400, 'BadRequest', '/me request is only valid with delegated authentication flow.');
      }
      segs.splice(0, 1, 'users', req.principal.userId);
    }
    const [root, ...rest] = segs;
    if (root === 'users') return this.users(req, rest);
    if (root === 'contacts') return this.orgContactsRoute(req, rest);
    if (root === 'places' && rest[0] === 'microsoft.graph.room' && req.method === 'GET') return this.rooms();
    if (root === 'organization' && req.method === 'GET') {
      return json(200, { value: [{ id: this.state.tenantId, displayName: this.state.domain, verifiedDomains: [{ name: this.state.domain, isDefault: true }] }] });
    }
    return graphError(400, 'BadRequest', `Resource not found for the segment '${root ?? ''}'.`);
  }

  // ---------------------------------------------------------------------------------------------
  // Directory

  private canReadDirectory(p: Principal): boolean {
    // App-only tokens need admin-consented application permissions (User.Read.All et al.).
    return p.kind === 'user' || (this.state.apps.get(p.clientId)?.consented ?? false);
  }

  private users(req: GraphRequest, rest: string[]): GraphResponse {
    if (rest.length === 0 || (rest.length === 1 && rest[0] === 'delta')) {
      if (req.method !== 'GET') return graphError(405, 'Request_BadRequest', 'Method not allowed.');
      if (!this.canReadDirectory(req.principal)) return graphError(403, 'Authorization_RequestDenied', 'Insufficient privileges to complete the operation.');
      if (rest[0] === 'delta') return this.directoryDelta(req, 'users');
      return this.listDirectory(req, 'users');
    }
    const [who, coll, ...more] = rest as [string, ...string[]];
    const user = this.state.findUser(who);
    if (!user) return graphError(404, 'Request_ResourceNotFound', `Resource '${who}' does not exist or one of its queried reference-property objects are not present.`);
    if (req.principal.kind === 'user' && req.principal.userId !== user.id && coll !== undefined) {
      return graphError(403, 'ErrorAccessDenied', 'Access is denied. Check credentials and try again.');
    }
    if (coll === undefined) {
      if (req.method !== 'GET') return graphError(405, 'Request_BadRequest', 'Method not allowed.');
      return json(200, { '@odata.context': `${this.baseUrl()}/v1.0/$metadata#users/$entity`, ...select(user, selectOf(req) ?? USER_DEFAULT_SELECT) });
    }
    if (req.principal.kind === 'app' && !this.state.apps.get(req.principal.clientId)?.consented) {
      return graphError(403, 'ErrorAccessDenied', 'Access is denied. Check credentials and try again.');
    }
    const mb = this.state.mailboxes.get(user.id);
    if (!mb) return graphError(404, 'MailboxNotEnabledForRESTAPI', 'The mailbox is either inactive, soft-deleted, or is hosted on-premise.');
    if (coll === 'contactFolders') return this.contactFolders(req, mb, more);
    if (coll === 'contacts') return this.contacts(req, mb, mb.folders.get(mb.defaultFolderId) as FolderRecord, more, false);
    return graphError(400, 'BadRequest', `Resource not found for the segment '${coll}'.`);
  }

  private rooms(): GraphResponse {
    const value: Json[] = [];
    for (const [id, type] of this.state.mailboxType) {
      const u = this.state.users.get(id);
      if (type === 'room' && u) value.push({ id, displayName: u.displayName, emailAddress: u.mail });
    }
    return json(200, { value });
  }

  private orgContactsRoute(req: GraphRequest, rest: string[]): GraphResponse {
    if (req.method !== 'GET') return graphError(403, 'Authorization_RequestDenied', 'Insufficient privileges to complete the operation.');
    if (!this.canReadDirectory(req.principal)) return graphError(403, 'Authorization_RequestDenied', 'Insufficient privileges to complete the operation.');
    if (rest[0] === 'delta') return this.directoryDelta(req, 'orgContacts');
    if (rest.length === 0) return this.listDirectory(req, 'orgContacts');
    const c = this.state.orgContacts.get(rest[0] as string);
    return c ? json(200, c) : graphError(404, 'Request_ResourceNotFound', `Resource '${rest[0]}' does not exist.`);
  }

  private directoryRows(kind: 'users' | 'orgContacts'): Json[] {
    return kind === 'users' ? [...this.state.users.values()] : [...this.state.orgContacts.values()];
  }

  private listDirectory(req: GraphRequest, kind: 'users' | 'orgContacts'): GraphResponse {
    const sel = selectOf(req) ?? (kind === 'users' ? USER_DEFAULT_SELECT : null);
    const rows = this.directoryRows(kind).map((r) => (sel ? select(r, sel) : r));
    return this.page(req, rows, null);
  }

  private directoryDelta(req: GraphRequest, kind: 'users' | 'orgContacts'): GraphResponse {
    const skip = req.query.get('$skiptoken');
    if (skip !== null) return this.continueSkip(skip);
    const deltaToken = req.query.get('$deltatoken');
    const path = kind === 'users' ? '/users/delta' : '/contacts/delta';
    if (deltaToken !== null && deltaToken !== 'latest') {
      const tok = decodeToken(deltaToken);
      if (!tok || tok.scope !== kind || tok.gen !== this.state.deltaGeneration) return this.expired(path);
      const rows: Json[] = [];
      for (const e of this.state.changesSince(kind, tok.seq)) {
        const cur = kind === 'users' ? this.state.users.get(e.id) : this.state.orgContacts.get(e.id);
        // Deleted directory objects go to the recycle bin: reason `changed` (restorable) (§4.3).
        if (e.removed || !cur) rows.push({ id: e.id, '@removed': { reason: 'changed' } });
        else if (this.minimalDeltaUpdates && e.props) rows.push(select(cur, e.props.filter((p) => !tok.sel || tok.sel.includes(p))));
        else rows.push(tok.sel ? select(cur, tok.sel) : cur);
      }
      return this.startRound(req, rows, { scope: kind, seq: this.state.seq, gen: this.state.deltaGeneration, sel: tok.sel }, path);
    }
    const sel = selectOf(req);
    const next: DeltaToken = { scope: kind, seq: this.state.seq, gen: this.state.deltaGeneration, sel };
    // `$deltatoken=latest`: no rows, only a delta link from now on (users delta docs).
    const rows = deltaToken === 'latest' ? [] : this.directoryRows(kind).map((r) => (sel ? select(r, sel) : r));
    return this.startRound(req, rows, next, path);
  }

  // ---------------------------------------------------------------------------------------------
  // Folders

  private contactFolders(req: GraphRequest, mb: Mailbox, rest: string[]): GraphResponse {
    if (rest.length === 0) {
      if (req.method === 'GET') {
        const filter = req.query.get('$filter');
        let rows = [...mb.folders.values()].filter((f) => !f.wellKnown);
        const m = filter ? /^displayName eq '((?:[^']|'')*)'$/.exec(filter) : null;
        if (filter && !m) return graphError(400, 'ErrorInvalidUrlQueryFilter', 'The query filter contains one or more invalid nodes.');
        if (m) rows = rows.filter((f) => f.displayName === (m[1] as string).replace(/''/g, "'"));
        return json(200, { value: rows.map((f) => folderJson(f)) });
      }
      if (req.method === 'POST') {
        const body = req.body as Json | undefined;
        const name = typeof body?.displayName === 'string' ? body.displayName.trim() : '';
        if (name === '') return graphError(400, 'ErrorInvalidRequest', 'The displayName property is required.');
        for (const f of mb.folders.values()) {
          if (!f.wellKnown && f.displayName === name) return graphError(409, 'ErrorFolderExists', 'A folder with the specified name already exists.');
        }
        return json(201, folderJson(this.state.createFolder(mb.userId, name)));
      }
      return graphError(405, 'ErrorInvalidRequest', 'The OData request is not supported.');
    }
    const [fid, coll, ...more] = rest as [string, ...string[]];
    const folder = this.state.resolveFolder(mb, fid);
    if (!folder) return graphError(404, 'ErrorItemNotFound', 'The specified object was not found in the store.');
    if (coll === undefined) {
      if (req.method === 'GET') return json(200, folderJson(folder));
      return graphError(405, 'ErrorInvalidRequest', 'The OData request is not supported.');
    }
    if (coll === 'contacts') return this.contacts(req, mb, folder, more, true);
    return graphError(400, 'BadRequest', `Resource not found for the segment '${coll}'.`);
  }

  // ---------------------------------------------------------------------------------------------
  // Contacts

  private immutable(req: GraphRequest): boolean {
    return /IdType\s*=\s*"?ImmutableId"?/i.test(req.headers.prefer ?? '');
  }

  private idOf(req: GraphRequest, c: ContactRecord): string {
    return this.immutable(req) ? c.immutableId : GraphState.regularId(c.immutableId, c.folderId);
  }

  private render(req: GraphRequest, c: ContactRecord, sel: string[] | null = selectOf(req), expandExt: string | null = expandedExtId(req)): Json {
    const full: Json = {
      '@odata.etag': `W/"${c.changeKey}"`,
      id: this.idOf(req, c),
      createdDateTime: c.createdDateTime,
      lastModifiedDateTime: c.lastModifiedDateTime,
      changeKey: c.changeKey,
      parentFolderId: c.folderId,
      ...CONTACT_DEFAULTS,
      ...structuredClone(c.props),
    };
    const out = sel ? select(full, [...sel, '@odata.etag']) : full;
    if (expandExt !== null) {
      const v = c.ext.get(expandExt) ?? findExtCaseInsensitive(c.ext, expandExt);
      // Graph omits the collection when no property matches the expand filter.
      if (v !== undefined) out.singleValueExtendedProperties = [{ id: expandExt, value: v }];
    }
    return out;
  }

  private contacts(req: GraphRequest, mb: Mailbox, folder: FolderRecord, rest: string[], inFolderPath: boolean): GraphResponse {
    if (rest.length === 0) {
      if (req.method === 'GET') {
        let rows = [...mb.contacts.values()].filter((c) => c.folderId === folder.id);
        const filter = req.query.get('$filter');
        if (filter) {
          const f = parseExtFilter(filter);
          if (!f) return graphError(400, 'ErrorInvalidUrlQueryFilter', 'The query filter contains one or more invalid nodes.');
          rows = rows.filter((c) => (c.ext.get(f.id) ?? findExtCaseInsensitive(c.ext, f.id)) === f.value);
        }
        return this.page(req, rows.map((c) => this.render(req, c)), null);
      }
      if (req.method === 'POST') {
        const parsed = parseContactBody(req.body);
        if ('error' in parsed) return parsed.error;
        const c = this.state.createContact(mb.userId, folder.id, parsed.props, parsed.ext);
        return json(201, { '@odata.context': `${this.baseUrl()}/v1.0/$metadata#users('${mb.userId}')/contacts/$entity`, ...this.render(req, c, null, null) });
      }
      return graphError(405, 'ErrorInvalidRequest', 'The OData request is not supported.');
    }
    const [id, sub, sub2] = rest as [string, ...string[]];
    if (id === 'delta' && req.method === 'GET') {
      if (!inFolderPath) {
        // `/me/contacts/delta` is undocumented (api-spec.md §4.2): use the folder form.
        return graphError(400, 'BadRequest', 'Use /contactFolders/{id}/contacts/delta.');
      }
      return this.contactDelta(req, mb, folder);
    }
    const c = this.state.findContact(mb, id);
    // Under a folder path the item must be in that folder; under /contacts any folder resolves.
    if (!c || (inFolderPath && c.folderId !== folder.id)) return graphError(404, 'ErrorItemNotFound', 'The specified object was not found in the store.');
    if (sub === 'photo' && sub2 === '$value') return this.photo(req, mb, c);
    if (sub !== undefined) return graphError(400, 'BadRequest', `Resource not found for the segment '${sub}'.`);
    const ifMatch = req.headers['if-match'];
    if ((req.method === 'PATCH' || req.method === 'DELETE') && ifMatch !== undefined && ifMatch !== '*' && !etagMatches(ifMatch, c.changeKey)) {
      return graphError(
        412,
        'ErrorIrresolvableConflict',
        'The send or update operation could not be performed because the change key passed in the request does not match the current change key for the item.',
      );
    }
    if (req.method === 'GET') return json(200, this.render(req, c));
    if (req.method === 'PATCH') {
      const parsed = parseContactBody(req.body);
      if ('error' in parsed) return parsed.error;
      this.state.updateContact(mb.userId, c, parsed.props, parsed.ext);
      return json(200, this.render(req, c, null, null));
    }
    if (req.method === 'DELETE') {
      this.state.deleteContact(mb.userId, c);
      return { status: 204 };
    }
    return graphError(405, 'ErrorInvalidRequest', 'The OData request is not supported.');
  }

  private photo(req: GraphRequest, mb: Mailbox, c: ContactRecord): GraphResponse {
    if (req.method === 'GET') {
      if (!c.photo) return graphError(404, 'ErrorItemNotFound', 'The photo wasn\'t found.');
      return { status: 200, headers: { 'content-type': c.photo.contentType }, body: c.photo.bytes };
    }
    if (req.method === 'PUT') {
      const bytes = req.body instanceof Buffer ? req.body : typeof req.body === 'string' ? Buffer.from(req.body, 'base64') : null;
      const type = req.headers['content-type'] ?? '';
      if (!bytes || bytes.length === 0 || !/^image\//.test(type)) return graphError(400, 'ErrorInvalidRequest', 'The photo must be an image (Content-Type image/*).');
      if (bytes.length > 4 * 1024 * 1024) return graphError(413, 'ErrorRequestEntityTooLarge', 'The photo is larger than 4 MB.');
      this.state.setPhoto(mb.userId, c, { bytes, contentType: type.split(';')[0] as string });
      return { status: 200 };
    }
    if (req.method === 'DELETE') {
      this.state.setPhoto(mb.userId, c, null);
      return { status: 204 };
    }
    return graphError(405, 'ErrorInvalidRequest', 'The OData request is not supported.');
  }

  private contactDelta(req: GraphRequest, mb: Mailbox, folder: FolderRecord): GraphResponse {
    const skip = req.query.get('$skiptoken');
    if (skip !== null) return this.continueSkip(skip);
    const scope = `contacts:${mb.userId}:${folder.id}`;
    const path = `/users/${mb.userId}/contactFolders/${encodeURIComponent(folder.id)}/contacts/delta`;
    const dt = req.query.get('$deltatoken');
    if (req.query.has('$expand')) return graphError(400, 'ErrorInvalidUrlQuery', 'The query parameter \'$expand\' is not supported with delta.');
    if (dt !== null) {
      const tok = decodeToken(dt);
      if (!tok || tok.scope !== scope || tok.gen !== this.state.deltaGeneration) return this.expired(path);
      const rows: Json[] = [];
      const imm = tok.imm ?? this.immutable(req);
      for (const e of this.state.changesSince(scope, tok.seq)) {
        const c = mb.contacts.get(e.id);
        if (e.removed || !c || c.folderId !== folder.id) {
          rows.push({ '@odata.type': '#microsoft.graph.contact', id: imm ? e.id : GraphState.regularId(e.id, folder.id), '@removed': { reason: 'deleted' } });
        } else if (this.minimalDeltaUpdates && e.props) {
          rows.push({ '@odata.type': '#microsoft.graph.contact', ...this.render(req, c, e.props.filter((p) => !tok.sel || tok.sel.includes(p)), null) });
        } else {
          rows.push({ '@odata.type': '#microsoft.graph.contact', ...this.render(req, c, tok.sel, null) });
        }
      }
      return this.startRound(req, rows, { scope, seq: this.state.seq, gen: this.state.deltaGeneration, sel: tok.sel, imm }, path);
    }
    const sel = selectOf(req);
    const rows = [...mb.contacts.values()]
      .filter((c) => c.folderId === folder.id)
      .map((c) => ({ '@odata.type': '#microsoft.graph.contact', ...this.render(req, c, sel, null) }));
    return this.startRound(req, rows, { scope, seq: this.state.seq, gen: this.state.deltaGeneration, sel, imm: this.immutable(req) }, path);
  }

  private expired(path: string): GraphResponse {
    // 410 Gone with a Location header holding a fresh initial delta URL (delta-query-overview).
    return graphError(410, 'syncStateNotFound', 'The sync state generation is not found.', { location: `${this.baseUrl()}/v1.0${path}` });
  }

  private pageSize(req: GraphRequest): number {
    const m = /odata\.maxpagesize\s*=\s*(\d+)/i.exec(req.headers.prefer ?? '');
    const top = req.query.get('$top');
    const n = m ? Number(m[1]) : top ? Number(top) : this.defaultPageSize;
    return Math.max(1, Math.min(this.maxPageSize, n));
  }

  private startRound(req: GraphRequest, rows: Json[], next: DeltaToken, path: string): GraphResponse {
    const size = this.pageSize(req);
    const deltaBase = `${this.baseUrl()}/v1.0${path}`;
    return this.emit({ rows, next, deltaBase }, size);
  }

  private emit(st: SkipState, size: number): GraphResponse {
    const value = st.rows.slice(0, size);
    const restRows = st.rows.slice(size);
    if (restRows.length > 0) {
      const t = randomBytes(12).toString('base64url');
      this.skips.set(t, { ...st, rows: restRows });
      this.skipSizes.set(t, size);
      return json(200, { '@odata.context': `${this.baseUrl()}/v1.0/$metadata#Collection`, '@odata.nextLink': `${st.deltaBase}?$skiptoken=${t}`, value });
    }
    return json(200, { '@odata.context': `${this.baseUrl()}/v1.0/$metadata#Collection`, '@odata.deltaLink': `${st.deltaBase}?$deltatoken=${encodeToken(st.next)}`, value });
  }

  private readonly skipSizes = new Map<string, number>();

  private continueSkip(token: string): GraphResponse {
    const st = this.skips.get(token);
    const size = this.skipSizes.get(token) ?? this.defaultPageSize;
    if (!st) return graphError(400, 'InvalidSkipToken', 'The skip token is not valid.');
    this.skips.delete(token);
    this.skipSizes.delete(token);
    return this.emit(st, size);
  }

  /** Plain (non-delta) collection paging with `$skip`-style next links. */
  private page(req: GraphRequest, rows: Json[], _unused: null): GraphResponse {
    const size = this.pageSize(req);
    const deltaBase = `${this.baseUrl()}/v1.0${req.path}`;
    const value = rows.slice(0, size);
    const restRows = rows.slice(size);
    if (restRows.length === 0) return json(200, { value });
    const t = randomBytes(12).toString('base64url');
    // A list's next link is served by the same skip store; its last page carries no delta link.
    this.skips.set(t, { rows: restRows, next: { scope: 'list', seq: 0, gen: 0, sel: null }, deltaBase });
    this.skipSizes.set(t, size);
    return json(200, { value, '@odata.nextLink': `${deltaBase}?$skiptoken=${t}` });
  }

  /** Serves a list continuation (`?$skiptoken=` on a non-delta path). */
  continueList(token: string): GraphResponse {
    const st = this.skips.get(token);
    const size = this.skipSizes.get(token) ?? this.defaultPageSize;
    if (!st) return graphError(400, 'InvalidSkipToken', 'The skip token is not valid.');
    this.skips.delete(token);
    this.skipSizes.delete(token);
    const value = st.rows.slice(0, size);
    const restRows = st.rows.slice(size);
    if (restRows.length === 0) return json(200, { value });
    const t = randomBytes(12).toString('base64url');
    this.skips.set(t, { ...st, rows: restRows });
    this.skipSizes.set(t, size);
    return json(200, { value, '@odata.nextLink': `${st.deltaBase}?$skiptoken=${t}` });
  }

  isListSkip(token: string): boolean {
    return this.skips.get(token)?.next.scope === 'list';
  }
}

// -------------------------------------------------------------------------------------------------
// Helpers

function folderJson(f: FolderRecord): Json {
  return { id: f.id, displayName: f.displayName, parentFolderId: f.parentFolderId };
}

function select(row: Json, fields: readonly string[]): Json {
  const out: Json = {};
  for (const k of ['id', ...fields]) if (k in row) out[k] = row[k];
  for (const k of fields) if (!(k in out) && !k.startsWith('@')) out[k] = null;
  return out;
}

function selectOf(req: GraphRequest): string[] | null {
  const s = req.query.get('$select');
  return s ? s.split(',').map((x) => x.trim()).filter((x) => x !== '') : null;
}

function etagMatches(ifMatch: string, changeKey: string): boolean {
  const bare = ifMatch.trim().replace(/^W\//, '').replace(/^"|"$/g, '');
  return bare === changeKey;
}

function encodeToken(t: DeltaToken): string {
  return Buffer.from(JSON.stringify(t)).toString('base64url');
}

function decodeToken(s: string): DeltaToken | null {
  try {
    const t = JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) as DeltaToken;
    return typeof t.scope === 'string' && typeof t.seq === 'number' ? t : null;
  } catch {
    return null;
  }
}

function findExtCaseInsensitive(ext: Map<string, string>, id: string): string | undefined {
  const lower = id.toLowerCase();
  for (const [k, v] of ext) if (k.toLowerCase() === lower) return v;
  return undefined;
}

/** `singleValueExtendedProperties($filter=id eq '…')` from `$expand`. */
function expandedExtId(req: GraphRequest): string | null {
  const e = req.query.get('$expand');
  if (!e) return null;
  const m = /singleValueExtendedProperties\(\$filter=id eq '((?:[^']|'')*)'\)/i.exec(e);
  return m ? (m[1] as string).replace(/''/g, "'") : null;
}

/** `singleValueExtendedProperties/Any(ep: ep/id eq '…' and ep/value eq '…')`. */
function parseExtFilter(filter: string): { id: string; value: string } | null {
  const m = /^singleValueExtendedProperties\/any\((\w+):\s*\1\/id eq '((?:[^']|'')*)' and \1\/value eq '((?:[^']|'')*)'\)$/i.exec(filter.trim());
  return m ? { id: (m[2] as string).replace(/''/g, "'"), value: (m[3] as string).replace(/''/g, "'") } : null;
}

function parseContactBody(body: unknown): { props: Json; ext: Record<string, string> } | { error: GraphResponse } {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    return { error: graphError(400, 'RequestBodyRead', 'The request body must be a JSON object.') };
  }
  const props: Json = {};
  const ext: Record<string, string> = {};
  for (const [k, v] of Object.entries(body as Json)) {
    if (k.startsWith('@odata.')) continue;
    if (k === 'singleValueExtendedProperties') {
      if (!Array.isArray(v)) return { error: graphError(400, 'RequestBodyRead', 'singleValueExtendedProperties must be a collection.') };
      for (const p of v as Json[]) {
        if (typeof p?.id !== 'string' || typeof p.value !== 'string') return { error: graphError(400, 'ErrorInvalidExtendedProperty', 'An extended property needs an id and a string value.') };
        ext[p.id] = p.value;
      }
      continue;
    }
    if (['id', 'changeKey', 'parentFolderId', 'createdDateTime', 'lastModifiedDateTime'].includes(k)) continue;
    if (!CONTACT_PROPERTIES.has(k)) {
      return { error: graphError(400, 'RequestBodyRead', `The property '${k}' does not exist on type 'microsoft.graph.contact'. Make sure to only use property names that are defined by the type or mark the type as open type.`) };
    }
    const problem = validate(k, v);
    if (problem) return { error: graphError(400, 'RequestBodyRead', problem) };
    props[k] = v;
  }
  return { props, ext };
}

const STRING_ARRAYS = new Set(['businessPhones', 'homePhones', 'imAddresses', 'children', 'categories']);
const ADDRESSES = new Set(['homeAddress', 'businessAddress', 'otherAddress']);

function validate(k: string, v: unknown): string | null {
  if (v === null) return null;
  if (STRING_ARRAYS.has(k)) {
    return Array.isArray(v) && v.every((x) => typeof x === 'string') ? null : `Cannot convert the literal to the expected type 'Collection(Edm.String)' for '${k}'.`;
  }
  if (k === 'emailAddresses') {
    const ok = Array.isArray(v) && v.every((x) => x !== null && typeof x === 'object' && typeof (x as Json).address === 'string');
    return ok ? null : "Cannot convert the literal to the expected type 'Collection(microsoft.graph.emailAddress)'.";
  }
  if (ADDRESSES.has(k)) {
    const ok = typeof v === 'object' && !Array.isArray(v) && Object.entries(v as Json).every(([kk, vv]) => ['street', 'city', 'state', 'countryOrRegion', 'postalCode'].includes(kk) && (vv === null || typeof vv === 'string'));
    return ok ? null : `Invalid value for '${k}' (microsoft.graph.physicalAddress).`;
  }
  if (k === 'birthday') {
    return typeof v === 'string' && validDateTimeOffset(v) ? null : `Cannot convert the literal '${String(v)}' to the expected type 'Edm.DateTimeOffset'.`;
  }
  return typeof v === 'string' ? null : `Cannot convert the literal to the expected type 'Edm.String' for '${k}'.`;
}

/** An ISO 8601 date or date-time whose calendar date exists (no 31 February). */
function validDateTimeOffset(v: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?$/.exec(v);
  if (!m) return false;
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  return d.getUTCFullYear() === Number(m[1]) && d.getUTCMonth() === Number(m[2]) - 1 && d.getUTCDate() === Number(m[3]);
}
