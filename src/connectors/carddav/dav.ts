/**
 * The WebDAV/CardDAV requests the spoke makes, built as XML text and parsed by tsdav's `davRequest`
 * (xml-js underneath). Pure helpers to read tsdav's parsed shapes live here too.
 *
 * tsdav quirks handled here:
 * - its text callback turns numeric-looking text into numbers (`nativeType`), so every value is
 *   read back through `textOf`, and a sync token that came back as a number is not trusted;
 * - a multistatus with no `<response>` (a sync-collection with nothing new) comes back as one entry
 *   without `href`; the sync token is read from the raw document instead.
 */
import { davRequest, type DAVResponse } from 'tsdav';
import type { DavCallOptions, DavTransport } from './transport.js';

const XML_HEADERS = { 'content-type': 'application/xml; charset=utf-8' };
const NS = 'xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav" xmlns:cs="http://calendarserver.org/ns/"';

export interface DavEntry {
  href: string;
  status: number;
  etag: string | null;
  /** address-data, when asked for and returned. */
  data: string | null;
  props: Record<string, unknown>;
}

/** The text of a parsed XML value (string, number from `nativeType`, `{_cdata}`, `{_text}`). */
export function textOf(v: unknown): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return v.length > 0 ? textOf(v[0]) : null;
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if (typeof o._cdata === 'string') return o._cdata;
    if (typeof o._text === 'string' || typeof o._text === 'number') return String(o._text);
    if ('href' in o) return textOf(o.href);
  }
  return null;
}

/** Every `href` inside a parsed property (`<d:href>` may repeat). */
export function hrefsOf(v: unknown): string[] {
  if (v === undefined || v === null) return [];
  if (Array.isArray(v)) return v.flatMap(hrefsOf);
  if (typeof v === 'object' && 'href' in (v as Record<string, unknown>)) {
    const h = (v as Record<string, unknown>).href;
    return (Array.isArray(h) ? h : [h]).map(textOf).filter((x): x is string => x !== null && x.trim() !== '').map((x) => x.trim());
  }
  const t = textOf(v);
  return t ? [t.trim()] : [];
}

function entries(res: DAVResponse[]): DavEntry[] {
  const out: DavEntry[] = [];
  for (const r of res) {
    const href = textOf(r.href);
    if (href === null || href.trim() === '') continue;
    const props = (r.props ?? {}) as Record<string, unknown>;
    out.push({ href: href.trim(), status: r.status ?? 200, etag: textOf(props.getetag), data: textOf(props.addressData), props });
  }
  return out;
}

async function report(t: DavTransport, url: string, method: string, depth: string, body: string, o: DavCallOptions = {}): Promise<DAVResponse[]> {
  return davRequest({
    url,
    init: { method: method as 'REPORT', headers: { ...XML_HEADERS, depth }, body },
    convertIncoming: false,
    fetch: t.davFetch(o),
  });
}

export async function propfind(t: DavTransport, url: string, depth: '0' | '1', props: string[], o: DavCallOptions = {}): Promise<DavEntry[]> {
  const body = `<?xml version="1.0" encoding="utf-8"?><d:propfind ${NS}><d:prop>${props.map((p) => `<${p}/>`).join('')}</d:prop></d:propfind>`;
  return entries(await report(t, url, 'PROPFIND', depth, body, o));
}

export interface SyncResult {
  entries: DavEntry[];
  /** The new token, or null when the server gave none (or tsdav mangled it). */
  token: string | null;
}

/**
 * RFC 6578 sync-collection, for the members' etags. `token` '' is the initial sync. (Address-data
 * could be asked for in the same REPORT, §3.2, but then the whole book is one response.)
 */
export async function syncCollection(t: DavTransport, url: string, token: string, o: DavCallOptions = {}): Promise<SyncResult> {
  const body = `<?xml version="1.0" encoding="utf-8"?><d:sync-collection ${NS}><d:sync-token>${escapeXml(token)}</d:sync-token><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>`;
  const res = await report(t, url, 'REPORT', '0', body, o);
  const raw = res[0]?.raw as { multistatus?: { syncToken?: unknown } } | undefined;
  const tok = raw?.multistatus?.syncToken;
  return { entries: entries(res), token: typeof tok === 'string' && tok !== '' ? tok : null };
}

/** RFC 6352 §8.7 addressbook-multiget of `hrefs` (path-absolute or full URLs). */
export async function multiget(t: DavTransport, url: string, hrefs: readonly string[]): Promise<DavEntry[]> {
  const body =
    `<?xml version="1.0" encoding="utf-8"?><card:addressbook-multiget ${NS}><d:prop><d:getetag/><card:address-data/></d:prop>` +
    hrefs.map((h) => `<d:href>${escapeXml(h)}</d:href>`).join('') +
    '</card:addressbook-multiget>';
  return entries(await report(t, url, 'REPORT', '1', body));
}

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
