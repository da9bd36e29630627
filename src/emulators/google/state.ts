/**
 * The Google emulator's state: users, their contacts (People API `Person`s) and contact groups, the
 * change log behind sync tokens, OAuth grants, quotas and armed faults. All in memory; seeded from a
 * JSON document (`GoogleSeed`). The HTTP layer (`server.ts`) only parses requests and formats
 * answers; every rule of the API lives here, each with the documentation it follows
 * (docs/google.md, /work/shared/brief/api-spec.md §1, §3).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { people_v1 } from '@googleapis/people';

export type Person = people_v1.Schema$Person;
export type ContactGroup = people_v1.Schema$ContactGroup;

export interface SeedUser {
  email: string;
  /** The stable account id (OIDC `sub`); derived from the e-mail when absent. */
  sub?: string;
  name?: string;
  /** Contacts as `Person` bodies (writable fields); resource names are assigned. */
  contacts?: Person[];
  /** User contact groups by name (groups named by a contact's memberships are created too). */
  groups?: string[];
}

export interface GoogleSeed {
  users: SeedUser[];
  /** OAuth clients; when empty, any client id (and secret) is accepted. */
  clients?: { clientId: string; clientSecret?: string }[];
  options?: Partial<EmulatorOptions>;
}

export interface EmulatorOptions {
  /** Writes show up in sync requests (syncToken / requestSyncToken) only after this delay (People: "several minutes"). */
  propagationDelayMs: number;
  /** "Sync tokens expire 7 days after the full sync." (people.connections.list) */
  syncTokenTtlMs: number;
  /** The `status` of the EXPIRED_SYNC_TOKEN error: third-party fixtures disagree (api-spec §1.3). */
  expiredTokenStatus: 'FAILED_PRECONDITION' | 'INVALID_ARGUMENT';
  /** Per-user requests per minute before 429 RESOURCE_EXHAUSTED (Google's numbers are not public). */
  readsPerMinute: number;
  writesPerMinute: number;
  /** "The first page of a full sync request has an additional quota." */
  fullSyncFirstPagesPerMinute: number;
  /** Seconds sent in Retry-After with a 429 (People usually sends none: undefined). */
  retryAfterSeconds: number | undefined;
  accessTokenTtlSeconds: number;
}

export const DEFAULT_OPTIONS: EmulatorOptions = {
  propagationDelayMs: 0,
  syncTokenTtlMs: 7 * 24 * 3600 * 1000,
  expiredTokenStatus: 'FAILED_PRECONDITION',
  readsPerMinute: 100_000,
  writesPerMinute: 100_000,
  fullSyncFirstPagesPerMinute: 10_000,
  retryAfterSeconds: undefined,
  accessTokenTtlSeconds: 3599,
};

/** A google.rpc.Status error, answered as `{"error":{code,message,status,details}}`. */
export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly status: string,
    message: string,
    readonly details: unknown[] = [],
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
  body(): unknown {
    return { error: { code: this.code, message: this.message, status: this.status, ...(this.details.length > 0 ? { details: this.details } : {}) } };
  }
}

export const invalidArgument = (message = 'Request contains an invalid argument.'): ApiError => new ApiError(400, 'INVALID_ARGUMENT', message);

export interface Version {
  seq: number;
  /** The person's stored (writable) fields at this version; null = deleted. */
  person: Person | null;
  rev: number;
  updateTime: string;
}

export interface ContactRecord {
  id: string;
  /** Versions, oldest first; the last is the current state. Old ones are pruned once visible. */
  versions: Version[];
  /** Bumped on every write: the etag is derived from it. */
  rev: number;
  updateTime: string;
  photo: { bytes: Buffer; mime: string; rev: number } | null;
}

interface GroupRecord {
  id: string;
  name: string;
  type: 'USER_CONTACT_GROUP' | 'SYSTEM_CONTACT_GROUP';
  rev: number;
  updateTime: string;
  deleted: boolean;
}

export class UserState {
  readonly contacts = new Map<string, ContactRecord>();
  readonly groups = new Map<string, GroupRecord>();
  /** Times of the changes, by seq - 1 (monotone, so visibility is a prefix of the log). */
  readonly changeTimes: number[] = [];
  readonly changeIds: string[] = [];
  /** Quota windows: name -> [windowStart, count]. */
  readonly quota = new Map<string, [number, number]>();
  nextId = 1;

  constructor(
    readonly email: string,
    readonly sub: string,
    readonly name: string,
  ) {
    const t = new Date(0).toISOString();
    this.groups.set('myContacts', { id: 'myContacts', name: 'myContacts', type: 'SYSTEM_CONTACT_GROUP', rev: 1, updateTime: t, deleted: false });
    this.groups.set('starred', { id: 'starred', name: 'starred', type: 'SYSTEM_CONTACT_GROUP', rev: 1, updateTime: t, deleted: false });
  }

  get seq(): number {
    return this.changeTimes.length;
  }
}

interface AuthCode {
  code: string;
  clientId: string;
  redirectUri: string;
  challenge: string | null;
  method: string;
  scope: string;
  sub: string;
  offline: boolean;
  expiresAt: number;
}

/** Fields `updatePersonFields` may name (api-spec §1.1, from the discovery document). */
export const UPDATABLE_FIELDS = new Set([
  'addresses', 'biographies', 'birthdays', 'calendarUrls', 'clientData', 'emailAddresses', 'events', 'externalIds', 'genders',
  'imClients', 'interests', 'locales', 'locations', 'memberships', 'miscKeywords', 'names', 'nicknames', 'occupations',
  'organizations', 'phoneNumbers', 'relations', 'sipAddresses', 'urls', 'userDefined',
]);
/** Fields `personFields` / `readMask` may name. */
export const READABLE_FIELDS = new Set([...UPDATABLE_FIELDS, 'ageRanges', 'coverPhotos', 'metadata', 'photos', 'skills']);
/** "more than one field is specified on a field that is a singleton for contact sources" (createContact). */
const SINGLETONS = ['biographies', 'birthdays', 'genders', 'names'];

const clone = <T>(x: T): T => structuredClone(x);

export class GoogleState {
  readonly options: EmulatorOptions;
  readonly users = new Map<string, UserState>();
  private readonly byEmail = new Map<string, UserState>();
  readonly clients: { clientId: string; clientSecret?: string }[];
  private readonly codes = new Map<string, AuthCode>();
  private readonly refreshTokens = new Map<string, { sub: string; clientId: string; scope: string; revoked: boolean }>();
  private readonly accessTokens = new Map<string, { sub: string; scope: string; expiresAt: number }>();
  /** Sync tokens issued before this epoch are expired (the "expire every token now" switch). */
  private tokenEpoch = 0;
  private readonly tokenSecret = randomBytes(8).toString('hex');
  /** Base URL, for photo URLs; set by the server once it listens. */
  baseUrl = 'http://127.0.0.1';
  now: () => number = Date.now;

  constructor(seed: GoogleSeed = { users: [] }) {
    this.options = { ...DEFAULT_OPTIONS, ...seed.options };
    this.clients = seed.clients ?? [];
    for (const u of seed.users) this.addUser(u);
  }

  addUser(u: SeedUser): UserState {
    const sub = u.sub ?? createHash('sha256').update(u.email.toLowerCase()).digest('hex').slice(0, 21).replace(/[a-f]/g, (c) => String(c.charCodeAt(0) % 10));
    const user = new UserState(u.email, sub, u.name ?? u.email.split('@')[0] ?? u.email);
    this.users.set(sub, user);
    this.byEmail.set(u.email.toLowerCase(), user);
    for (const g of u.groups ?? []) this.ensureGroup(user, g);
    for (const seedPerson of u.contacts ?? []) {
      const p = clone(seedPerson);
      // Seeds may name groups by name (`contactGroups/Family`): resolve them to the group ids.
      for (const m of p.memberships ?? []) {
        const rn = m.contactGroupMembership?.contactGroupResourceName;
        if (!rn || !m.contactGroupMembership) continue;
        const key = rn.replace(/^contactGroups\//, '');
        const g = user.groups.get(key) ?? this.ensureGroup(user, key);
        m.contactGroupMembership.contactGroupResourceName = `contactGroups/${g.id}`;
      }
      this.createContact(user, p, { seeding: true });
    }
    return user;
  }

  userByEmail(email: string): UserState | undefined {
    return this.byEmail.get(email.toLowerCase());
  }

  private ensureGroup(user: UserState, name: string): GroupRecord {
    for (const g of user.groups.values()) if (g.name === name && !g.deleted) return g;
    const id = createHash('sha256').update(`${user.sub}/${name}`).digest('hex').slice(0, 12);
    const g: GroupRecord = { id, name, type: 'USER_CONTACT_GROUP', rev: 1, updateTime: new Date(this.now()).toISOString(), deleted: false };
    user.groups.set(id, g);
    return g;
  }

  // -------------------------------------------------------------------------------------------
  // OAuth 2.0 (api-spec §3)

  checkClient(clientId: string, clientSecret: string | undefined, requireSecret: boolean): boolean {
    if (this.clients.length === 0) return clientId !== '';
    const c = this.clients.find((x) => x.clientId === clientId);
    if (!c) return false;
    if (requireSecret && c.clientSecret !== undefined && c.clientSecret !== clientSecret) return false;
    return true;
  }

  issueCode(a: Omit<AuthCode, 'code' | 'expiresAt'>): string {
    const code = `4/0A${randomBytes(24).toString('base64url')}`;
    // Codes are single use and short-lived (about 10 minutes).
    this.codes.set(code, { ...a, code, expiresAt: this.now() + 10 * 60_000 });
    return code;
  }

  redeemCode(code: string, clientId: string, redirectUri: string, verifier: string | undefined): AuthCode | string {
    const c = this.codes.get(code);
    this.codes.delete(code);
    if (!c || c.expiresAt < this.now()) return 'Malformed auth code.';
    if (c.clientId !== clientId) return 'Malformed auth code.';
    if (c.redirectUri !== redirectUri) return 'redirect_uri_mismatch';
    if (c.challenge !== null) {
      if (!verifier) return 'Missing code verifier.';
      const computed = c.method === 'S256' ? createHash('sha256').update(verifier).digest('base64url') : verifier;
      if (computed !== c.challenge) return 'Invalid code verifier.';
    }
    return c;
  }

  grantTokens(sub: string, clientId: string, scope: string, withRefresh: boolean): { access_token: string; expires_in: number; token_type: 'Bearer'; scope: string; refresh_token?: string } {
    const access = `ya29.emu-${randomBytes(18).toString('base64url')}`;
    this.accessTokens.set(access, { sub, scope, expiresAt: this.now() + this.options.accessTokenTtlSeconds * 1000 });
    const out: { access_token: string; expires_in: number; token_type: 'Bearer'; scope: string; refresh_token?: string } = {
      access_token: access,
      expires_in: this.options.accessTokenTtlSeconds,
      token_type: 'Bearer',
      scope,
    };
    if (withRefresh) {
      const rt = `1//0emu-${randomBytes(24).toString('base64url')}`;
      this.refreshTokens.set(rt, { sub, clientId, scope, revoked: false });
      out.refresh_token = rt;
    }
    return out;
  }

  /** A refresh token for a seeded user, as if they had consented earlier (for `account add`). */
  mintRefreshToken(email: string, clientId = 'hubsync-emulator-client', scope = 'https://www.googleapis.com/auth/contacts https://www.googleapis.com/auth/userinfo.email'): string {
    const u = this.userByEmail(email);
    if (!u) throw new Error(`no emulated user ${email}`);
    return this.grantTokens(u.sub, clientId, scope, true).refresh_token as string;
  }

  refresh(token: string, clientId: string): { sub: string; scope: string } | null {
    const r = this.refreshTokens.get(token);
    if (!r || r.revoked) return null;
    if (this.clients.length > 0 && r.clientId !== clientId) return null;
    return r;
  }

  /** Revokes every refresh (and access) token of a user: the next refresh gets `invalid_grant`. */
  revokeUser(email: string): void {
    const u = this.userByEmail(email);
    if (!u) return;
    for (const r of this.refreshTokens.values()) if (r.sub === u.sub) r.revoked = true;
    for (const [k, a] of this.accessTokens) if (a.sub === u.sub) this.accessTokens.delete(k);
  }

  revokeToken(token: string): boolean {
    const r = this.refreshTokens.get(token);
    if (r) {
      r.revoked = true;
      for (const [k, a] of this.accessTokens) if (a.sub === r.sub) this.accessTokens.delete(k);
      return true;
    }
    return this.accessTokens.delete(token);
  }

  userForAccessToken(token: string | undefined): UserState | null {
    if (!token) return null;
    const a = this.accessTokens.get(token);
    if (!a || a.expiresAt < this.now()) return null;
    return this.users.get(a.sub) ?? null;
  }

  // -------------------------------------------------------------------------------------------
  // Quotas: fixed one-minute windows per user and bucket.

  takeQuota(user: UserState, bucket: 'read' | 'write' | 'fullSyncFirstPage'): void {
    const limit = bucket === 'read' ? this.options.readsPerMinute : bucket === 'write' ? this.options.writesPerMinute : this.options.fullSyncFirstPagesPerMinute;
    const now = this.now();
    const w = user.quota.get(bucket);
    if (!w || now - w[0] >= 60_000) {
      user.quota.set(bucket, [now, 1]);
      return;
    }
    if (w[1] >= limit) {
      const headers: Record<string, string> = {};
      if (this.options.retryAfterSeconds !== undefined) headers['retry-after'] = String(this.options.retryAfterSeconds);
      throw new ApiError(
        429,
        'RESOURCE_EXHAUSTED',
        `Quota exceeded for quota metric 'people.googleapis.com/${bucket === 'write' ? 'write' : 'read'}_requests' and limit per minute per user.`,
        [
          { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'RATE_LIMIT_EXCEEDED', domain: 'googleapis.com', metadata: { service: 'people.googleapis.com' } },
        ],
        headers,
      );
    }
    w[1] += 1;
  }

  // -------------------------------------------------------------------------------------------
  // Contacts

  private logChange(user: UserState, id: string): number {
    user.changeTimes.push(this.now());
    user.changeIds.push(id);
    return user.seq;
  }

  /** The newest change seq visible to sync requests now (writes are visible after the delay). */
  visibleSeq(user: UserState): number {
    const limit = this.now() - this.options.propagationDelayMs;
    const times = user.changeTimes;
    let lo = 0;
    let hi = times.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((times[mid] as number) <= limit) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private write(user: UserState, rec: ContactRecord, person: Person | null): void {
    const seq = this.logChange(user, rec.id);
    rec.rev += 1;
    rec.updateTime = new Date(this.now()).toISOString();
    rec.versions.push({ seq, person, rev: rec.rev, updateTime: rec.updateTime });
    // Keep only what a sync request may still need: the newest visible version and the later ones.
    const visible = this.visibleSeq(user);
    while (rec.versions.length > 1 && (rec.versions[1] as Version).seq <= visible) rec.versions.shift();
  }

  current(user: UserState, id: string): ContactRecord | null {
    const rec = user.contacts.get(id);
    if (!rec || (rec.versions.at(-1) as Version).person === null) return null;
    return rec;
  }

  /** The stored fields of a person as of change `seq` (null when it did not exist or was deleted). */
  versionAt(rec: ContactRecord, seq: number): Version | undefined {
    let found: Version | undefined;
    for (const v of rec.versions) if (v.seq <= seq) found = v;
    return found;
  }

  latest(rec: ContactRecord): Version {
    return rec.versions.at(-1) as Version;
  }

  etagOf(rec: ContactRecord, rev = rec.rev): string {
    return `%Eg${Buffer.from(`${rec.id}:${rev}`).toString('base64url')}`;
  }

  sourceEtagOf(rec: ContactRecord, rev = rec.rev): string {
    return `#${Buffer.from(`${rev}:${rec.id}`).toString('base64url')}`;
  }

  /** Validates a Person body for create/update (the documented 400s) and keeps its writable fields. */
  private sanitize(user: UserState, body: Person, fields: Iterable<string>): Person {
    const out: Record<string, unknown> = {};
    const src = body as Record<string, unknown>;
    for (const f of fields) {
      const v = src[f];
      if (v === undefined || v === null) continue;
      if (!Array.isArray(v)) throw invalidArgument(`Invalid value at 'person.${f}', expected a list.`);
      if (SINGLETONS.includes(f) && v.length > 1) {
        throw invalidArgument(`Only one ${f.replace(/s$/, '')} field is allowed for contact sources.`);
      }
      out[f] = clone(v).map((x: unknown) => {
        if (x === null || typeof x !== 'object') throw invalidArgument(`Invalid value at 'person.${f}'.`);
        const el = { ...(x as Record<string, unknown>) };
        // Output-only parts are ignored in requests.
        delete el.formattedType;
        delete el.displayName;
        delete el.displayNameLastFirst;
        delete el.canonicalForm;
        if (el.metadata && typeof el.metadata === 'object') {
          const md = el.metadata as Record<string, unknown>;
          el.metadata = md.sourcePrimary === true ? { sourcePrimary: true } : undefined;
          if (el.metadata === undefined) delete el.metadata;
        }
        return el;
      });
    }
    const memberships = out.memberships as people_v1.Schema$Membership[] | undefined;
    if (memberships) {
      for (const m of memberships) {
        const rn = m.contactGroupMembership?.contactGroupResourceName ?? (m.contactGroupMembership?.contactGroupId ? `contactGroups/${m.contactGroupMembership.contactGroupId}` : undefined);
        if (!rn) throw invalidArgument('Membership must be a contact group membership.');
        const id = rn.replace(/^contactGroups\//, '');
        const g = user.groups.get(id);
        if (!g || g.deleted) throw invalidArgument(`Contact group not found: ${rn}`);
        m.contactGroupMembership = { contactGroupResourceName: `contactGroups/${id}` };
      }
      if (memberships.length === 0) delete out.memberships;
    }
    return out as Person;
  }

  createContact(user: UserState, body: Person, opts: { seeding?: boolean } = {}): ContactRecord {
    const person = this.sanitize(user, body, UPDATABLE_FIELDS);
    // A new contact belongs to "myContacts" (a contact must always have a contact group membership).
    if (!person.memberships || !person.memberships.some((m) => m.contactGroupMembership?.contactGroupResourceName === 'contactGroups/myContacts')) {
      person.memberships = [{ contactGroupMembership: { contactGroupResourceName: 'contactGroups/myContacts' } }, ...(person.memberships ?? [])];
    }
    const id = `c${(BigInt('0x' + createHash('sha256').update(`${user.sub}:${user.nextId++}:${opts.seeding ? 's' : 'w'}`).digest('hex').slice(0, 15))).toString()}`;
    const rec: ContactRecord = { id, versions: [], rev: 0, updateTime: '', photo: null };
    user.contacts.set(id, rec);
    this.write(user, rec, person);
    return rec;
  }

  /** people.updateContact (api-spec §1.6): etag check, then the masked fields are replaced. */
  updateContact(user: UserState, id: string, body: Person, mask: string[]): ContactRecord {
    const rec = this.current(user, id);
    if (!rec) throw new ApiError(404, 'NOT_FOUND', 'Requested entity was not found.');
    if (mask.length === 0) throw invalidArgument('updatePersonFields mask is required. Please specify one or more valid paths.');
    for (const f of mask) if (!UPDATABLE_FIELDS.has(f)) throw invalidArgument(`Invalid updatePersonFields mask path: "${f}".`);
    const etag = body.etag ?? body.metadata?.sources?.find((s) => s.type === 'CONTACT')?.etag ?? null;
    if (!etag) throw invalidArgument('Request must set person.etag or person.metadata.sources.etag for the source that is being updated.');
    if (etag !== this.etagOf(rec) && etag !== this.sourceEtagOf(rec)) {
      throw new ApiError(400, 'FAILED_PRECONDITION', 'Request person.etag is different than the current person.etag. Clear local cache and get the latest person.');
    }
    const patch = this.sanitize(user, body, mask);
    if (mask.includes('memberships') && !(patch.memberships ?? []).some((m) => m.contactGroupMembership)) {
      throw invalidArgument('Contact must have at least one contact group membership.');
    }
    const next: Record<string, unknown> = { ...clone((rec.versions.at(-1) as Version).person as Person) };
    for (const f of mask) {
      const v = (patch as Record<string, unknown>)[f];
      if (v === undefined) delete next[f];
      else next[f] = v;
    }
    this.write(user, rec, next as Person);
    return rec;
  }

  deleteContact(user: UserState, id: string): void {
    const rec = this.current(user, id);
    if (!rec) throw new ApiError(404, 'NOT_FOUND', 'Requested entity was not found.');
    rec.photo = null;
    this.write(user, rec, null);
  }

  setPhoto(user: UserState, id: string, bytes: Buffer | null): ContactRecord {
    const rec = this.current(user, id);
    if (!rec) throw new ApiError(404, 'NOT_FOUND', 'Requested entity was not found.');
    if (bytes) {
      const mime = bytes.subarray(0, 3).equals(Buffer.from([0xff, 0xd8, 0xff])) ? 'image/jpeg'
        : bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) ? 'image/png'
        : null;
      // "Only JPEG and PNG images are supported" (updateContactPhoto).
      if (!mime) throw invalidArgument('Invalid photo bytes: only JPEG and PNG are supported.');
      rec.photo = { bytes, mime, rev: rec.rev + 1 };
    } else {
      rec.photo = null;
    }
    this.write(user, rec, clone((rec.versions.at(-1) as Version).person));
    return rec;
  }

  findPhoto(key: string): { bytes: Buffer; mime: string } | null {
    const [sub, id] = key.split('.');
    const user = this.users.get(sub ?? '');
    const rec = user ? this.current(user, id ?? '') : null;
    return rec?.photo ?? null;
  }

  /** The Person as the API shows it: the masked fields, with metadata and output-only values. */
  render(user: UserState, rec: ContactRecord, v: Version, fields: ReadonlySet<string>): Person {
    const stored = v.person ?? {};
    const sourceId = rec.id.slice(1, 17);
    const out: Record<string, unknown> = { resourceName: `people/${rec.id}`, etag: this.etagOf(rec, v.rev) };
    const fieldMeta = (i: number, el: Record<string, unknown>) => ({
      primary: i === 0,
      ...((el.metadata as { sourcePrimary?: boolean } | undefined)?.sourcePrimary ? { sourcePrimary: true } : {}),
      source: { type: 'CONTACT', id: sourceId },
    });
    for (const f of fields) {
      if (f === 'metadata') {
        out.metadata = { sources: [{ type: 'CONTACT', id: sourceId, etag: this.sourceEtagOf(rec, v.rev), updateTime: v.updateTime }], objectType: 'PERSON' };
        continue;
      }
      if (f === 'photos') {
        const url = rec.photo
          ? `${this.baseUrl}/photos/${user.sub}.${rec.id}/${rec.photo.rev}`
          : `${this.baseUrl}/photos/default`;
        out.photos = [{ metadata: { primary: true, source: { type: 'CONTACT', id: sourceId } }, url, ...(rec.photo ? {} : { default: true }) }];
        continue;
      }
      const val = (stored as Record<string, unknown>)[f];
      if (val === undefined || val === null) continue;
      if (!Array.isArray(val)) {
        // Only a fault planted by a test stores a non-list: shown as stored, as a buggy API would.
        out[f] = val;
        continue;
      }
      if (val.length === 0) continue;
      out[f] = (val as Record<string, unknown>[]).map((x, i) => {
        if (x === null || typeof x !== 'object') return x;
        const el: Record<string, unknown> = { ...clone(x), metadata: fieldMeta(i, x) };
        if (f === 'names') {
          const parts = [el.honorificPrefix, el.givenName, el.middleName, el.familyName, el.honorificSuffix].filter((p) => typeof p === 'string' && p !== '');
          el.displayName = typeof el.unstructuredName === 'string' && el.unstructuredName !== '' ? el.unstructuredName : parts.join(' ');
          const last = [el.familyName, [el.givenName, el.middleName].filter(Boolean).join(' ')].filter((p) => typeof p === 'string' && p !== '');
          el.displayNameLastFirst = last.join(', ');
        }
        if (typeof el.type === 'string' && ['emailAddresses', 'phoneNumbers', 'addresses', 'urls', 'events'].includes(f)) {
          el.formattedType = el.type.charAt(0).toUpperCase() + el.type.slice(1);
        }
        if (f === 'memberships') {
          const rn = (el.contactGroupMembership as { contactGroupResourceName: string }).contactGroupResourceName;
          el.contactGroupMembership = { contactGroupId: rn.replace(/^contactGroups\//, ''), contactGroupResourceName: rn };
          delete el.metadata;
          el.metadata = { source: { type: 'CONTACT', id: sourceId } };
        }
        return el;
      });
    }
    return out as Person;
  }

  renderTombstone(rec: ContactRecord, v: Version): Person {
    return {
      resourceName: `people/${rec.id}`,
      etag: this.etagOf(rec, v.rev),
      metadata: { deleted: true, sources: [{ type: 'CONTACT', id: rec.id.slice(1, 17) }], objectType: 'PERSON' },
    };
  }

  // -------------------------------------------------------------------------------------------
  // Sync tokens: (user, param hash, change seq, full-sync time, epoch), opaque to clients.

  encodeSyncToken(user: UserState, paramsHash: string, seq: number, fullAt: number): string {
    const body = Buffer.from(JSON.stringify({ u: user.sub, p: paramsHash, s: seq, f: fullAt, e: this.tokenEpoch })).toString('base64url');
    const mac = createHash('sha256').update(`${this.tokenSecret}.${body}`).digest('base64url').slice(0, 16);
    return `${body}.${mac}`;
  }

  decodeSyncToken(user: UserState, token: string, paramsHash: string): { seq: number; fullAt: number } {
    const [body, mac] = token.split('.');
    const ok = body && mac && createHash('sha256').update(`${this.tokenSecret}.${body}`).digest('base64url').slice(0, 16) === mac;
    type SyncToken = { u: string; p: string; s: number; f: number; e: number };
    let t: SyncToken | null = null;
    if (ok) {
      try {
        t = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as SyncToken;
      } catch {
        t = null;
      }
    }
    // A garbage token: 400 INVALID_ARGUMENT, the message a third-party log shows (api-spec §1.3).
    if (!t || t.u !== user.sub) throw invalidArgument();
    // "all other request parameters must match the first call"
    if (t.p !== paramsHash) throw invalidArgument('Parameters must match the ones of the call that returned the sync token.');
    if (t.e !== this.tokenEpoch || this.now() - t.f > this.options.syncTokenTtlMs) throw this.expiredSyncToken();
    return { seq: t.s, fullAt: t.f };
  }

  expiredSyncToken(): ApiError {
    return new ApiError(400, this.options.expiredTokenStatus, 'Sync token is expired. Clear local cache and retry call without the sync token.', [
      { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'EXPIRED_SYNC_TOKEN', domain: 'people.googleapis.com' },
    ]);
  }

  /** Makes every sync token handed out so far expired (as seven days passing would). */
  expireSyncTokens(): void {
    this.tokenEpoch += 1;
  }

  // -------------------------------------------------------------------------------------------
  // Groups

  groupList(user: UserState): GroupRecord[] {
    return [...user.groups.values()].filter((g) => !g.deleted);
  }

  renderGroup(user: UserState, g: GroupRecord): ContactGroup {
    let members = 0;
    for (const rec of user.contacts.values()) {
      const p = (rec.versions.at(-1) as Version).person;
      if (p?.memberships?.some((m) => m.contactGroupMembership?.contactGroupResourceName === `contactGroups/${g.id}`)) members += 1;
    }
    return {
      resourceName: `contactGroups/${g.id}`,
      etag: `${Buffer.from(`${g.id}:${g.rev}`).toString('base64url')}`,
      metadata: { updateTime: g.updateTime },
      groupType: g.type,
      name: g.name,
      formattedName: g.type === 'SYSTEM_CONTACT_GROUP' ? g.name.replace(/^./, (c) => c.toUpperCase()) : g.name,
      memberCount: members,
    };
  }

  createGroup(user: UserState, name: string): GroupRecord {
    if (!name.trim()) throw invalidArgument('Contact group name must not be empty.');
    for (const g of user.groups.values()) {
      // "Duplicate names will return a HTTP 409 error."
      if (!g.deleted && g.name === name) throw new ApiError(409, 'ALREADY_EXISTS', 'Contact group name already exists.');
    }
    return this.ensureGroup(user, name);
  }

  /** Every current contact of a user (for tests and the demo). */
  contactsOf(email: string): Person[] {
    const u = this.userByEmail(email);
    if (!u) return [];
    const out: Person[] = [];
    for (const rec of u.contacts.values()) {
      const v = this.latest(rec);
      if (v.person) out.push(this.render(u, rec, v, READABLE_FIELDS));
    }
    return out;
  }
}
