/**
 * The Global Address List spoke: the tenant's directory — users with mail and organisational
 * (mail) contacts — as a **read-only** source (api-spec.md §4.8). Nothing is ever written to it:
 * create, update and delete are refused with `permission`, and the capabilities say `readOnly`.
 *
 * - Pull: `GET /users/delta` and `GET /contacts/delta` with `$select`, following next links; the
 *   cursor holds both delta links (and the room list, see below). Directory delta tokens live 7 days;
 *   a 410 / `syncStateNotFound` → `cursor_invalid`.
 * - A removed directory object (`@removed`, reason `changed` = soft-deleted, or `deleted`) is an
 *   explicit deletion. A user who stops matching the conditions (disabled, moved to another
 *   department) is reported as deleted too: from this spoke's point of view it left the list.
 * - Conditions, applied here (directory-specific; the engine's per-spoke conditions still apply to
 *   what the hub *sends*, and a read-only spoke is sent nothing): departments, mail domains,
 *   enabled accounts only, no rooms, no shared mailboxes, with or without organisational contacts.
 *   Graph v1.0 has no mailbox-type property on users: rooms come from `GET /places/microsoft.graph.room`
 *   (read on full pulls, kept in the cursor), and shared mailboxes are recognised by their disabled
 *   account (Exchange creates shared mailboxes with the account disabled), so "no shared mailboxes"
 *   is "enabled accounts only".
 * - Items have no etag in the directory; the etag here is a hash of the mapped content, so a full
 *   pull can still tell unchanged entries by `knownEtags`.
 */
import { createHash } from 'node:crypto';
import type { Card, Phone } from '../../model/card.js';
import type { FieldPath } from '../../model/fields.js';
import type { Capabilities, Connector, ConnectorEnv, ConnectorFactory, ItemProblem, PullPage, PullRequest, RemoteItem, WriteResult } from '../kit/contract.js';
import { ConnectorError, isConnectorError } from '../kit/errors.js';
import { classifyGraph, GraphClient, PREFER_IMMUTABLE } from '../m365-kit/graph-client.js';

export interface M365GalConfig {
  account: string;
  /** Only users of these departments (case-insensitive); empty: all. */
  departments: string[];
  /** Only addresses in these mail domains; empty: all. */
  domains: string[];
  /** Only enabled accounts (default true; also leaves out shared mailboxes). */
  enabledOnly: boolean;
  /** Leave out room mailboxes (default true). */
  excludeRooms: boolean;
  /** Include organisational (mail) contacts (default true). */
  orgContacts: boolean;
  pageSize: number;
}

export const GAL_FIELDS: readonly FieldPath[] = ['name.full', 'name.given', 'name.surname', 'org.name', 'org.unit', 'title', 'emails', 'phones', 'addresses'];

export const M365_GAL_CAPABILITIES: Capabilities = {
  readOnly: true,
  incremental: true,
  idempotentCreate: 'none',
  markers: false,
  conditionalWrites: false,
  fields: GAL_FIELDS,
  visibilityLagMs: 0,
  maxConcurrency: 1,
};

const USER_SELECT = 'id,displayName,givenName,surname,mail,userPrincipalName,jobTitle,department,companyName,businessPhones,mobilePhone,officeLocation,accountEnabled';
const CONTACT_SELECT = 'id,displayName,givenName,surname,mail,companyName,department,jobTitle,phones';

interface Cursor {
  users: string;
  contacts: string | null;
  rooms: string[];
}

type Row = Record<string, unknown>;

interface DeltaPage {
  value?: Row[];
  '@odata.nextLink'?: string;
  '@odata.deltaLink'?: string;
}

class RowError extends Error {
  constructor(readonly field: string, message: string) {
    super(message);
  }
}

function s(r: Row, k: string): string | undefined {
  const v = r[k];
  if (v === null || v === undefined) return undefined;
  if (typeof v !== 'string') throw new RowError(k, `${k} is not a string`);
  return v.trim() === '' ? undefined : v.trim();
}

function list(r: Row, k: string): string[] {
  const v = r[k];
  if (v === null || v === undefined) return [];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new RowError(k, `${k} is not a list of strings`);
  return v as string[];
}

/** A directory user or orgContact → Card (pure). */
export function directoryToCard(r: Row, kind: 'user' | 'contact', uid: string): Card {
  const card: Card = { '@type': 'Card', version: '1.0', uid };
  const given = s(r, 'givenName');
  const surname = s(r, 'surname');
  const display = s(r, 'displayName');
  const comps = [...(given ? [{ kind: 'given' as const, value: given }] : []), ...(surname ? [{ kind: 'surname' as const, value: surname }] : [])];
  if (comps.length > 0 || display) card.name = { ...(comps.length > 0 ? { components: comps } : {}), ...(display && display !== [given, surname].filter(Boolean).join(' ') ? { full: display } : {}) };
  const mail = s(r, 'mail');
  if (mail) card.emails = { e1: { address: mail } };
  const company = s(r, 'companyName');
  const dept = s(r, 'department');
  if (company || dept) card.organizations = { o1: { ...(company ? { name: company } : {}), ...(dept ? { units: [{ name: dept }] } : {}) } };
  const job = s(r, 'jobTitle');
  if (job) card.titles = { t1: { name: job, kind: 'title' } };
  const phones: Record<string, Phone> = {};
  let n = 0;
  if (kind === 'user') {
    for (const p of list(r, 'businessPhones')) phones[`p${++n}`] = { number: p, contexts: { work: true } };
    const m = s(r, 'mobilePhone');
    if (m) phones[`p${++n}`] = { number: m, features: { mobile: true } };
    const office = s(r, 'officeLocation');
    // The office has no slot of its own in a contact: it travels as the work address's text.
    if (office) card.addresses = { a1: { components: [{ kind: 'name', value: office }], contexts: { work: true } } };
  } else {
    const ph = r.phones;
    if (ph !== null && ph !== undefined) {
      if (!Array.isArray(ph)) throw new RowError('phones', 'phones is not a list');
      for (const p of ph as Row[]) {
        const num = typeof p?.number === 'string' ? p.number.trim() : '';
        if (num === '') continue;
        const type = p.type;
        phones[`p${++n}`] = type === 'mobile' ? { number: num, features: { mobile: true } } : type === 'businessFax' ? { number: num, features: { fax: true }, contexts: { work: true } } : { number: num, contexts: { work: true } };
      }
    }
  }
  if (n > 0) card.phones = phones;
  return card;
}

function hashOf(card: Card): string {
  const { uid: _uid, ...rest } = card;
  return `"${createHash('sha256').update(JSON.stringify(rest)).digest('base64url').slice(0, 22)}"`;
}

export class M365GalConnector implements Connector {
  readonly capabilities = M365_GAL_CAPABILITIES;
  private readonly client: GraphClient;

  constructor(
    private readonly config: M365GalConfig,
    env: ConnectorEnv & { graphUrl?: string | undefined },
  ) {
    this.client = new GraphClient({ ...(env.graphUrl ? { graphUrl: env.graphUrl } : {}), ...(env.auth ? { auth: env.auth } : {}), ...(env.fetch ? { fetch: env.fetch } : {}) });
  }

  async identity(): Promise<string> {
    return `m365-gal:${this.config.account}`;
  }

  create(_card: Card, _opts: { marker: string }): Promise<WriteResult> {
    return Promise.reject(new ConnectorError('permission', 'The Global Address List is a read-only source: Hubsync never writes to the directory.'));
  }

  update(_id: string, _card: Card, _opts: { ifMatch: string | null; changed: readonly FieldPath[] }): Promise<WriteResult> {
    return Promise.reject(new ConnectorError('permission', 'The Global Address List is a read-only source: Hubsync never writes to the directory.'));
  }

  delete(_id: string, _opts: { ifMatch: string | null }): Promise<void> {
    return Promise.reject(new ConnectorError('permission', 'The Global Address List is a read-only source: Hubsync never writes to the directory.'));
  }

  async findByMarker(_marker: string): Promise<RemoteItem[]> {
    return [];
  }

  /** Whether a directory row belongs in this list, by the spoke's conditions. */
  private accepts(r: Row, kind: 'user' | 'contact', rooms: ReadonlySet<string>): boolean {
    const mail = typeof r.mail === 'string' ? r.mail.trim().toLowerCase() : '';
    if (mail === '') return false; // The GAL lists people with mail.
    if (kind === 'user') {
      if (this.config.enabledOnly && r.accountEnabled === false) return false;
      if (this.config.excludeRooms && rooms.has(mail)) return false;
    }
    if (this.config.domains.length > 0 && !this.config.domains.includes(mail.split('@')[1] ?? '')) return false;
    if (this.config.departments.length > 0) {
      const d = typeof r.department === 'string' ? r.department.trim().toLowerCase() : '';
      if (!this.config.departments.includes(d)) return false;
    }
    return true;
  }

  async *pull(req: PullRequest): AsyncIterable<PullPage> {
    let cur: Cursor | null = null;
    if (req.cursor !== null) {
      try {
        cur = JSON.parse(req.cursor) as Cursor;
      } catch {
        throw new ConnectorError('cursor_invalid', 'The directory cursor is unreadable.');
      }
    }
    const complete = cur === null;
    let rooms: string[] = cur?.rooms ?? [];
    if (cur === null && this.config.excludeRooms && !this.config.enabledOnly) {
      const r = await this.client.request<{ value?: { emailAddress?: string }[] }>('GET', '/places/microsoft.graph.room');
      rooms = (r.body.value ?? []).map((x) => (x.emailAddress ?? '').toLowerCase()).filter((x) => x !== '');
    }
    const roomSet = new Set(rooms);
    const next: Cursor = { users: '', contacts: null, rooms };
    const sources: ['user' | 'contact', string | null][] = [['user', cur ? cur.users : `/users/delta?$select=${USER_SELECT}`]];
    if (this.config.orgContacts) sources.push(['contact', cur ? cur.contacts ?? `/contacts/delta?$select=${CONTACT_SELECT}` : `/contacts/delta?$select=${CONTACT_SELECT}`]);
    const prefer = `odata.maxpagesize=${this.config.pageSize}`;
    // The first page of every source in one `$batch`: a no-change pull is one request.
    const firsts = await this.firstPages(sources.map(([, u]) => u as string), prefer, cur !== null);
    for (let si = 0; si < sources.length; si++) {
      const [kind, start] = sources[si] as ['user' | 'contact', string];
      let url = start;
      let first: DeltaPage | undefined = firsts[si];
      for (;;) {
        let page: DeltaPage;
        if (first) {
          page = first;
          first = undefined;
        } else {
          try {
            page = (await this.client.request<DeltaPage>('GET', url, { prefer: [prefer] })).body;
          } catch (e) {
            throw this.cursorError(e, cur !== null);
          }
        }
        const items: RemoteItem[] = [];
        const unchanged: string[] = [];
        const deleted: string[] = [];
        const problems: ItemProblem[] = [];
        const rows = complete ? (page.value ?? []) : await this.completeRows(page.value ?? [], kind);
        const known = await req.knownEtags(rows.flatMap((r) => (typeof r.id === 'string' ? [`${kind}:${r.id}`] : [])));
        for (const r of rows) {
          if (typeof r.id !== 'string') continue;
          const id = `${kind}:${r.id}`;
          if (r['@removed'] !== undefined || !this.accepts(r, kind, roomSet)) {
            // Gone from the directory, or no longer on this list: a deletion for this spoke.
            if (!complete) deleted.push(id);
            continue;
          }
          try {
            const card = directoryToCard(r, kind, `urn:m365-gal:${id}`);
            const etag = hashOf(card);
            if (known.get(id) === etag) unchanged.push(id);
            else items.push({ id, etag, card });
          } catch (e) {
            problems.push({ id, ...(e instanceof RowError ? { field: e.field } : {}), message: `unreadable directory entry: ${(e as Error).message}` });
          }
        }
        const more = page['@odata.nextLink'];
        const lastOfAll = !more && si === sources.length - 1;
        if (!more) {
          if (kind === 'user') next.users = page['@odata.deltaLink'] ?? '';
          else next.contacts = page['@odata.deltaLink'] ?? null;
        }
        yield { items, unchanged, deleted, problems, complete, ...(lastOfAll ? { cursor: JSON.stringify(next) } : {}) };
        if (!more) break;
        url = more;
      }
    }
  }

  /**
   * Directory delta returns an updated object with "at least the changed properties": a row
   * missing selected properties is read whole before it is judged (a missing `mail` must not make
   * a person look gone).
   */
  private async completeRows(rows: Row[], kind: 'user' | 'contact'): Promise<Row[]> {
    const select = kind === 'user' ? USER_SELECT : CONTACT_SELECT;
    const keys = select.split(',');
    const out: Row[] = [];
    for (const r of rows) {
      if (r['@removed'] !== undefined || typeof r.id !== 'string' || keys.every((k) => k in r)) {
        out.push(r);
        continue;
      }
      try {
        const full = await this.client.request<Row>('GET', `/${kind === 'user' ? 'users' : 'contacts'}/${encodeURIComponent(r.id)}`, { query: { $select: select } });
        out.push(full.body);
      } catch (e) {
        if (!isConnectorError(e, 'not_found')) throw e;
        out.push({ id: r.id, '@removed': { reason: 'deleted' } });
      }
    }
    return out;
  }

  private cursorError(e: unknown, incremental: boolean): unknown {
    if (incremental && (isConnectorError(e, 'cursor_invalid') || isConnectorError(e, 'not_found'))) {
      return new ConnectorError('cursor_invalid', `The directory delta link is no longer accepted: ${(e as Error).message}`, { cause: e });
    }
    return e;
  }

  /** First pages of the given links: one GET for one link, one `$batch` for several. */
  private async firstPages(urls: string[], prefer: string, incremental: boolean): Promise<DeltaPage[]> {
    if (urls.length === 1) {
      try {
        return [(await this.client.request<DeltaPage>('GET', urls[0] as string, { prefer: [prefer] })).body];
      } catch (e) {
        throw this.cursorError(e, incremental);
      }
    }
    const base = `${this.client.graphUrl}/v1.0`;
    const requests = urls.map((u, i) => ({ id: String(i + 1), method: 'GET', url: u.startsWith(base) ? u.slice(base.length) : u, headers: { prefer: `${PREFER_IMMUTABLE}, ${prefer}` } }));
    for (let attempt = 1; ; attempt++) {
      const r = await this.client.request<{ responses?: { id: string; status: number; headers?: Record<string, string>; body?: unknown }[] }>('POST', '/$batch', { json: { requests } });
      const answers = urls.map((_, i) => (r.body.responses ?? []).find((x) => x.id === String(i + 1)));
      const retry = answers.find((a) => !a || a.status === 429 || a.status >= 500);
      if (retry && attempt < 6) {
        const ra = Number(retry?.headers?.['Retry-After'] ?? retry?.headers?.['retry-after'] ?? NaN);
        await new Promise((res) => setTimeout(res, Number.isFinite(ra) ? ra * 1000 : 250 * 2 ** attempt));
        continue;
      }
      return answers.map((a) => {
        if (!a) throw new ConnectorError('transient', '$batch answered without a request');
        if (a.status !== 200) throw this.cursorError(classifyGraph(a.status, a.body, a.headers?.['retry-after'] ?? a.headers?.['Retry-After'] ?? null), incremental);
        return a.body as DeltaPage;
      });
    }
  }

  async get(id: string): Promise<RemoteItem | null> {
    const [kind, oid] = id.split(':') as [string, string | undefined];
    if ((kind !== 'user' && kind !== 'contact') || !oid) return null;
    try {
      const r = await this.client.request<Row>('GET', kind === 'user' ? `/users/${encodeURIComponent(oid)}` : `/contacts/${encodeURIComponent(oid)}`, { query: { $select: kind === 'user' ? USER_SELECT : CONTACT_SELECT } });
      const card = directoryToCard(r.body, kind, `urn:m365-gal:${id}`);
      return { id, etag: hashOf(card), card };
    } catch (e) {
      if (isConnectorError(e, 'not_found')) return null;
      if (e instanceof RowError) throw new ConnectorError('invalid_data', `unreadable directory entry: ${e.message}`, { itemId: id, field: e.field });
      throw e;
    }
  }
}

// -------------------------------------------------------------------------------------------------

const KNOWN = new Set(['account', 'departments', 'domains', 'enabledOnly', 'excludeRooms', 'orgContacts', 'pageSize']);

function csv(v: unknown): string[] {
  if (v === undefined || v === null || v === '') return [];
  const parts = Array.isArray(v) ? v.map(String) : String(v).split(',');
  return parts.map((x) => x.trim().toLowerCase()).filter((x) => x !== '');
}

function bool(v: unknown, dflt: boolean, name: string): boolean {
  if (v === undefined) return dflt;
  if (v === true || v === 'true') return true;
  if (v === false || v === 'false') return false;
  throw new Error(`"${name}" must be true or false`);
}

export function parseM365GalConfig(raw: Record<string, unknown>): M365GalConfig {
  for (const k of Object.keys(raw)) if (!KNOWN.has(k)) throw new Error(`unknown setting "${k}" (known: ${[...KNOWN].join(', ')})`);
  const account = typeof raw.account === 'string' ? raw.account.trim() : '';
  if (account === '') throw new Error('"account" is required: the Microsoft organisation account (hubsync account list)');
  const pageSize = raw.pageSize === undefined ? 500 : Number(raw.pageSize);
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 999) throw new Error('"pageSize" must be a whole number from 1 to 999');
  return {
    account,
    departments: csv(raw.departments),
    domains: csv(raw.domains).map((d) => d.replace(/^@/, '')),
    enabledOnly: bool(raw.enabledOnly, true, 'enabledOnly'),
    excludeRooms: bool(raw.excludeRooms, true, 'excludeRooms'),
    orgContacts: bool(raw.orgContacts, true, 'orgContacts'),
    pageSize,
  };
}

export function m365GalFactory(endpoints: { graphUrl?: string | undefined } = {}): ConnectorFactory<M365GalConfig> {
  return {
    type: 'm365-gal',
    label: 'Microsoft 365 Global Address List (read-only)',
    parseConfig: parseM365GalConfig,
    capabilities: M365_GAL_CAPABILITIES,
    accountProvider: 'microsoft',
    create: (config, env) => new M365GalConnector(config, { ...env, graphUrl: endpoints.graphUrl }),
  };
}
