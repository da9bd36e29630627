/**
 * Adding a CardDAV spoke: find the address book behind the URL the user gave, with the credentials
 * the user gave, and learn which authentication the server wants — before anything is saved.
 */
import type { AuthScheme } from './auth.js';
import { chooseAddressBook, discoverAddressBooks } from './discovery.js';
import { DavTransport } from './transport.js';

export interface CarddavSetupInput {
  url: string;
  username: string;
  password: string;
  /** Display name or last path segment of the address book to use when there are several. */
  addressBookName: string | null;
  caFile: string | null;
  fetch?: typeof globalThis.fetch;
}

export interface CarddavSetup {
  addressBook: string;
  displayName: string | null;
  authScheme: AuthScheme;
}

export async function resolveCarddavSpoke(i: CarddavSetupInput): Promise<CarddavSetup> {
  // `auto`: the first request carries no credentials; the server's 401 challenge picks Digest when
  // it offers it, so the password is not sent in Basic form to a server that can do better.
  const t = new DavTransport({
    url: i.url,
    credentials: { username: i.username, password: i.password },
    scheme: 'auto',
    concurrency: 2,
    caFile: i.caFile,
    ...(i.fetch ? { fetch: i.fetch } : {}),
  });
  const found = await discoverAddressBooks(t, i.url);
  const book = chooseAddressBook(found, i.addressBookName, i.url);
  return { addressBook: book.url, displayName: book.displayName, authScheme: t.auth.scheme() ?? 'basic' };
}

/** The account name of a login: `<username>@<host>` (host with its port, if any). */
export function carddavAccountName(url: string, username: string): string {
  return `${username}@${new URL(url).host}`;
}
