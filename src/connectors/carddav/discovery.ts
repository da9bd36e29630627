/**
 * Finding the address book behind a URL (RFC 6352 §7, RFC 6764 §6, RFC 5397):
 *
 * 1. The URL itself, PROPFIND Depth 0: an address book collection is used as it is (a "direct
 *    collection URL"); otherwise its current-user-principal / addressbook-home-set are noted.
 * 2. No principal there: `/.well-known/carddav` on the same host (RFC 6764 §5), following its
 *    redirect (Radicale 301 → `/`, Xandikos 302 → its route prefix), then current-user-principal.
 * 3. The principal's addressbook-home-set, then a Depth 1 PROPFIND of each home: the members whose
 *    resourcetype holds CARDDAV:addressbook (Radicale's home is the principal itself and lists
 *    calendars too, so the resourcetype filter matters).
 */
import { serviceDiscovery } from 'tsdav';
import { ConnectorError, isConnectorError } from '../kit/errors.js';
import { collectionUrl } from './config.js';
import { hrefsOf, propfind, textOf, type DavEntry } from './dav.js';
import type { DavTransport } from './transport.js';

export interface FoundAddressBook {
  /** Canonical collection URL (absolute, trailing slash), after redirects. */
  url: string;
  displayName: string | null;
}

const PROPS = ['d:resourcetype', 'd:displayname', 'd:current-user-principal', 'card:addressbook-home-set'];

function isAddressBook(e: DavEntry): boolean {
  const rt = e.props.resourcetype;
  return typeof rt === 'object' && rt !== null && 'addressbook' in (rt as Record<string, unknown>);
}

/**
 * PROPFIND Depth 0. The entry's href is the server's own name for the resource, so resolving it
 * gives the canonical URL even when the request was redirected.
 */
async function probe(t: DavTransport, url: string): Promise<{ url: string; entry: DavEntry | null }> {
  const entries = await propfind(t, url, '0', PROPS);
  return { url, entry: entries[0] ?? null };
}

export async function discoverAddressBooks(t: DavTransport, startUrl: string): Promise<FoundAddressBook[]> {
  const start = await probe(t, startUrl).catch((e: unknown) => {
    // A server root that answers PROPFIND with 404/405 still has .well-known to try.
    if (isConnectorError(e, 'not_found') || isConnectorError(e, 'unsupported') || isConnectorError(e, 'permission')) return { url: startUrl, entry: null };
    throw e;
  });
  if (start.entry && isAddressBook(start.entry)) {
    return [{ url: collectionUrl(new URL(start.entry.href, start.url).href), displayName: textOf(start.entry.props.displayname) }];
  }

  let principal = start.entry ? hrefsOf(start.entry.props.currentUserPrincipal)[0] : undefined;
  let base = start.url;
  if (principal === undefined) {
    const root = await serviceDiscovery({ account: { serverUrl: startUrl, accountType: 'carddav' }, fetch: t.auth.fetch });
    base = root;
    const r = await probe(t, root);
    principal = r.entry ? hrefsOf(r.entry.props.currentUserPrincipal)[0] : undefined;
    if (principal === undefined && r.entry && isAddressBook(r.entry)) {
      return [{ url: collectionUrl(new URL(r.entry.href, root).href), displayName: textOf(r.entry.props.displayname) }];
    }
  }
  if (principal === undefined) {
    throw new ConnectorError('not_found', `no CardDAV principal found at ${startUrl} (neither the URL, nor /.well-known/carddav, names a current-user-principal); give the address book's own URL`);
  }
  const principalUrl = new URL(principal, base).href;
  const p = (await propfind(t, principalUrl, '0', ['card:addressbook-home-set']))[0];
  const homes = p ? hrefsOf(p.props.addressbookHomeSet) : [];
  if (homes.length === 0) throw new ConnectorError('not_found', `the principal ${principalUrl} names no addressbook-home-set: is this a CardDAV server?`);

  const found: FoundAddressBook[] = [];
  for (const home of homes) {
    const homeUrl = collectionUrl(new URL(home, principalUrl).href);
    for (const e of await propfind(t, homeUrl, '1', ['d:resourcetype', 'd:displayname'])) {
      if (!isAddressBook(e)) continue;
      const url = collectionUrl(new URL(e.href, homeUrl).href);
      if (!found.some((f) => f.url === url)) found.push({ url, displayName: textOf(e.props.displayname) });
    }
  }
  return found;
}

/** The address book named `name` (display name or last path segment), or the only one. */
export function chooseAddressBook(found: readonly FoundAddressBook[], name: string | null, where: string): FoundAddressBook {
  const list = (): string => found.map((f) => `"${f.displayName ?? lastSegment(f.url)}" (${f.url})`).join(', ');
  if (name !== null) {
    const hit = found.filter((f) => f.displayName === name || lastSegment(f.url) === name || f.url === name);
    if (hit.length === 1) return hit[0] as FoundAddressBook;
    throw new ConnectorError('not_found', `${hit.length === 0 ? 'no' : 'more than one'} address book named "${name}" at ${where}; found: ${list() || 'none'}`);
  }
  if (found.length === 1) return found[0] as FoundAddressBook;
  if (found.length === 0) throw new ConnectorError('not_found', `no address book at ${where}; create one in the server's web interface, or give the address book's own URL`);
  throw new ConnectorError('unsupported', `${found.length} address books at ${where}: choose one with --address-book NAME; found: ${list()}`);
}

export function lastSegment(url: string): string {
  const parts = new URL(url).pathname.split('/').filter((s) => s !== '');
  return decodeURIComponent(parts.at(-1) ?? '');
}
