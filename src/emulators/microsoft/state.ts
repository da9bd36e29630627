/**
 * The Microsoft 365 emulator's in-memory tenant: directory users (some with a mailbox), organisational
 * contacts, per-mailbox contact folders and contacts, and one change log from which every delta round
 * is answered. Pure data and operations; the HTTP surface is in graph.ts and identity.ts.
 *
 * Faithfulness notes (api-spec.md §4):
 * - every write gives the contact a new `changeKey`; `@odata.etag` is `W/"<changeKey>"` (§4.2);
 * - items have two ids: an immutable id, and a "regular" id that encodes the folder, so a regular id
 *   stops resolving after a move — ids are stable across moves only with `Prefer: IdType="ImmutableId"`
 *   (§4.1, outlook-immutable-id);
 * - delta is per folder (§4.3): a move out of a folder shows in that folder's delta as `@removed`,
 *   exactly like a deletion, and the client has to find out which it was.
 */
import { randomBytes } from 'node:crypto';

export type Json = Record<string, unknown>;

export interface SeedUser {
  id?: string;
  userPrincipalName: string;
  displayName?: string;
  givenName?: string;
  surname?: string;
  mail?: string | null;
  jobTitle?: string;
  department?: string;
  companyName?: string;
  officeLocation?: string;
  businessPhones?: string[];
  mobilePhone?: string | null;
  accountEnabled?: boolean;
  /** `user` (a person's mailbox), `shared`, `room`, or `none` (no mailbox: directory only). */
  mailbox?: 'user' | 'shared' | 'room' | 'none';
  /** Contacts already in the mailbox's default folder. */
  contacts?: Json[];
}

export interface SeedOrgContact {
  id?: string;
  displayName?: string;
  givenName?: string;
  surname?: string;
  mail?: string;
  companyName?: string;
  department?: string;
  jobTitle?: string;
  phones?: { type: string; number: string }[];
}

export interface SeedApp {
  clientId: string;
  clientSecret?: string;
  /** PEM certificate whose key signs client assertions (certificate credentials). */
  certificatePem?: string;
  /** Application permissions already consented by an admin (else `/adminconsent` grants them). */
  consented?: boolean;
  redirectUris?: string[];
}

export interface Seed {
  tenant?: { id?: string; domain?: string; name?: string };
  apps?: SeedApp[];
  users?: SeedUser[];
  orgContacts?: SeedOrgContact[];
}

export interface ContactRecord {
  immutableId: string;
  folderId: string;
  changeKey: string;
  createdDateTime: string;
  lastModifiedDateTime: string;
  /** The contact's own properties (never id/changeKey/parentFolderId: those are computed). */
  props: Json;
  /** Single-value extended properties, by id (e.g. `String {guid} Name hubsyncMarker`). */
  ext: Map<string, string>;
  photo: { bytes: Buffer; contentType: string } | null;
}

export interface FolderRecord {
  id: string;
  displayName: string;
  parentFolderId: string;
  wellKnown: boolean;
}

export interface Mailbox {
  userId: string;
  folders: Map<string, FolderRecord>;
  defaultFolderId: string;
  contacts: Map<string, ContactRecord>;
}

export interface DirectoryUser extends Json {
  id: string;
  userPrincipalName: string;
}

export interface ChangeEntry {
  seq: number;
  scope: string;
  /** The object (contact immutable id, user id, org contact id). */
  id: string;
  removed: boolean;
  /** For an update: the properties it changed (null: a creation, or "everything"). */
  props?: string[] | null;
}

/** Contact properties Graph stores; anything else in a write is refused (400 like Graph). */
export const CONTACT_PROPERTIES: ReadonlySet<string> = new Set([
  'displayName', 'givenName', 'middleName', 'surname', 'nickName', 'initials', 'title', 'generation', 'fileAs',
  'yomiGivenName', 'yomiSurname', 'yomiCompanyName', 'emailAddresses', 'businessPhones', 'homePhones', 'mobilePhone',
  'imAddresses', 'homeAddress', 'businessAddress', 'otherAddress', 'companyName', 'department', 'jobTitle',
  'officeLocation', 'profession', 'manager', 'assistantName', 'businessHomePage', 'birthday', 'spouseName', 'children',
  'personalNotes', 'categories',
]);

function guid(): string {
  const h = randomBytes(16).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

function newChangeKey(): string {
  return randomBytes(15).toString('base64');
}

export class GraphState {
  readonly tenantId: string;
  readonly domain: string;
  readonly apps = new Map<string, SeedApp & { consented: boolean }>();
  readonly users = new Map<string, DirectoryUser>();
  /** Mailbox type per user id (`none`: no mailbox). */
  readonly mailboxType = new Map<string, 'user' | 'shared' | 'room' | 'none'>();
  readonly mailboxes = new Map<string, Mailbox>();
  readonly orgContacts = new Map<string, Json & { id: string }>();
  readonly log: ChangeEntry[] = [];
  seq = 0;
  /** Delta tokens minted before this generation are evicted (410 on use). */
  deltaGeneration = 1;
  private readonly now: () => number;

  constructor(seed: Seed = {}, now: () => number = Date.now) {
    this.now = now;
    this.tenantId = seed.tenant?.id ?? guid();
    this.domain = seed.tenant?.domain ?? 'contoso.example';
    for (const a of seed.apps ?? []) this.apps.set(a.clientId, { ...a, consented: a.consented ?? false });
    for (const u of seed.users ?? []) this.addUser(u);
    for (const c of seed.orgContacts ?? []) this.addOrgContact(c);
  }

  private iso(): string {
    return new Date(this.now()).toISOString().replace(/\.\d{3}Z$/, 'Z');
  }

  private record(scope: string, id: string, removed: boolean, props: string[] | null = null): void {
    this.seq += 1;
    this.log.push({ seq: this.seq, scope, id, removed, props });
  }

  // ---------------------------------------------------------------------------------------------
  // Directory

  addUser(u: SeedUser): DirectoryUser {
    const id = u.id ?? guid();
    const { contacts, mailbox, ...rest } = u;
    const user: DirectoryUser = {
      displayName: [u.givenName, u.surname].filter(Boolean).join(' ') || u.userPrincipalName,
      givenName: null,
      surname: null,
      mail: u.mail === undefined ? u.userPrincipalName : u.mail,
      jobTitle: null,
      department: null,
      companyName: null,
      officeLocation: null,
      businessPhones: [],
      mobilePhone: null,
      accountEnabled: true,
      ...rest,
      id,
    };
    this.users.set(id, user);
    const type = mailbox ?? 'user';
    this.mailboxType.set(id, type);
    if (type !== 'none') {
      const defaultFolderId = `AQMk${randomBytes(18).toString('base64url')}AAA=`;
      const mb: Mailbox = { userId: id, folders: new Map(), defaultFolderId, contacts: new Map() };
      mb.folders.set(defaultFolderId, { id: defaultFolderId, displayName: 'Contacts', parentFolderId: `AQMkRoot${id.slice(0, 8)}`, wellKnown: true });
      this.mailboxes.set(id, mb);
      for (const c of contacts ?? []) this.createContact(id, defaultFolderId, c);
    }
    this.record('users', id, false);
    return user;
  }

  updateUser(id: string, patch: Json): void {
    const u = this.users.get(id);
    if (!u) throw new Error(`no user ${id}`);
    Object.assign(u, patch);
    this.record('users', id, false, Object.keys(patch));
  }

  deleteUser(id: string): void {
    this.users.delete(id);
    this.record('users', id, true);
  }

  addOrgContact(c: SeedOrgContact): Json & { id: string } {
    const id = c.id ?? guid();
    const rec = { displayName: [c.givenName, c.surname].filter(Boolean).join(' ') || c.mail || '', phones: [], addresses: [], ...c, id };
    this.orgContacts.set(id, rec);
    this.record('orgContacts', id, false);
    return rec;
  }

  /** A user by object id or userPrincipalName (case-insensitive, as Graph resolves UPNs). */
  findUser(idOrUpn: string): DirectoryUser | undefined {
    const byId = this.users.get(idOrUpn);
    if (byId) return byId;
    const lower = idOrUpn.toLowerCase();
    for (const u of this.users.values()) if (u.userPrincipalName.toLowerCase() === lower) return u;
    return undefined;
  }

  mailbox(idOrUpn: string): Mailbox | undefined {
    const u = this.findUser(idOrUpn);
    return u ? this.mailboxes.get(u.id) : undefined;
  }

  // ---------------------------------------------------------------------------------------------
  // Folders

  createFolder(userId: string, displayName: string, parentFolderId?: string): FolderRecord {
    const mb = this.mustMailbox(userId);
    const f: FolderRecord = { id: `AQMk${randomBytes(18).toString('base64url')}AAA=`, displayName, parentFolderId: parentFolderId ?? mb.defaultFolderId, wellKnown: false };
    mb.folders.set(f.id, f);
    return f;
  }

  resolveFolder(mb: Mailbox, folderId: string): FolderRecord | undefined {
    // `contacts` is the well-known name of the default contacts folder.
    if (folderId.toLowerCase() === 'contacts') return mb.folders.get(mb.defaultFolderId);
    return mb.folders.get(folderId);
  }

  private mustMailbox(userId: string): Mailbox {
    const mb = this.mailbox(userId);
    if (!mb) throw new Error(`no mailbox ${userId}`);
    return mb;
  }

  // ---------------------------------------------------------------------------------------------
  // Contacts

  /** The regular (folder-bound) id of a contact: changes when the contact moves. */
  static regularId(immutableId: string, folderId: string): string {
    return `AAMk${Buffer.from(`${immutableId}|${folderId}`).toString('base64url')}=`;
  }

  /** Resolves an id (immutable or regular) to a contact; a regular id from before a move resolves to nothing. */
  findContact(mb: Mailbox, id: string): ContactRecord | undefined {
    const direct = mb.contacts.get(id);
    if (direct) return direct;
    const m = /^AAMk([A-Za-z0-9_-]+)=$/.exec(id);
    if (!m) return undefined;
    const decoded = Buffer.from(m[1] as string, 'base64url').toString('utf8');
    const [imm, folder] = decoded.split('|');
    const c = imm ? mb.contacts.get(imm) : undefined;
    return c && c.folderId === folder ? c : undefined;
  }

  createContact(userId: string, folderId: string, props: Json, ext: Record<string, string> = {}): ContactRecord {
    const mb = this.mustMailbox(userId);
    const now = this.iso();
    const c: ContactRecord = {
      immutableId: `AAkAL${randomBytes(24).toString('base64url')}=`,
      folderId,
      changeKey: newChangeKey(),
      createdDateTime: now,
      lastModifiedDateTime: now,
      props: {},
      ext: new Map(Object.entries(ext)),
      photo: null,
    };
    this.applyProps(c, props);
    mb.contacts.set(c.immutableId, c);
    this.record(`contacts:${mb.userId}:${folderId}`, c.immutableId, false);
    return c;
  }

  /** PATCH semantics: listed properties replace (arrays wholesale); `null` clears. */
  updateContact(userId: string, c: ContactRecord, props: Json, ext: Record<string, string> = {}): void {
    const mb = this.mustMailbox(userId);
    this.applyProps(c, props);
    for (const [k, v] of Object.entries(ext)) c.ext.set(k, v);
    this.touch(mb, c, Object.keys(props));
  }

  setPhoto(userId: string, c: ContactRecord, photo: { bytes: Buffer; contentType: string } | null): void {
    c.photo = photo;
    this.touch(this.mustMailbox(userId), c);
  }

  private touch(mb: Mailbox, c: ContactRecord, props: string[] | null = null): void {
    c.changeKey = newChangeKey();
    c.lastModifiedDateTime = this.iso();
    this.record(`contacts:${mb.userId}:${c.folderId}`, c.immutableId, false, props);
  }

  deleteContact(userId: string, c: ContactRecord): void {
    const mb = this.mustMailbox(userId);
    mb.contacts.delete(c.immutableId);
    this.record(`contacts:${mb.userId}:${c.folderId}`, c.immutableId, true);
  }

  /** A user moves a contact to another folder (Outlook UI): it leaves one folder's delta and enters another's. */
  moveContact(userId: string, c: ContactRecord, folderId: string): void {
    const mb = this.mustMailbox(userId);
    const from = c.folderId;
    c.folderId = folderId;
    c.changeKey = newChangeKey();
    c.lastModifiedDateTime = this.iso();
    this.record(`contacts:${mb.userId}:${from}`, c.immutableId, true);
    this.record(`contacts:${mb.userId}:${folderId}`, c.immutableId, false);
  }

  private applyProps(c: ContactRecord, props: Json): void {
    for (const [k, v] of Object.entries(props)) {
      if (v === null) delete c.props[k];
      else c.props[k] = structuredClone(v);
    }
    // Outlook computes displayName when none is given (api-spec.md §4.2: "automatically generated").
    if (!('displayName' in props) || props.displayName === null || props.displayName === '') {
      const gen = [c.props.givenName, c.props.middleName, c.props.surname].filter((x) => typeof x === 'string' && x !== '').join(' ');
      if (gen !== '' || !c.props.displayName) c.props.displayName = gen !== '' ? gen : (c.props.companyName ?? '');
    }
  }

  /** Evicts every delta token handed out so far (their next use answers 410 Gone). */
  expireDeltaTokens(): void {
    this.deltaGeneration += 1;
  }

  /**
   * Changes after `seq` in a scope, one entry per object (the last one wins); `props` is the union
   * of the properties changed by updates, or null when one of the changes was a creation.
   */
  changesSince(scope: string, seq: number): ChangeEntry[] {
    const latest = new Map<string, ChangeEntry>();
    for (const e of this.log) {
      if (e.seq <= seq || e.scope !== scope) continue;
      const prev = latest.get(e.id);
      const props = prev && !prev.removed && prev.props && e.props ? [...new Set([...prev.props, ...e.props])] : prev ? null : (e.props ?? null);
      latest.set(e.id, { ...e, props: e.removed ? null : props });
    }
    return [...latest.values()].sort((a, b) => a.seq - b.seq);
  }
}
