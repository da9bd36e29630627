/**
 * Settings of a CardDAV spoke and their validation. The password is not here: it lives sealed in
 * the account store (`account` names a `carddav` account) and reaches the connector as
 * `ConnectorEnv.auth`.
 */
import path from 'node:path';
import type { AuthScheme } from './auth.js';

export interface CarddavConfig {
  /** The URL the user gave: a server root (discovery) or an address book collection. */
  url: string;
  /**
   * The address book collection's canonical URL (after redirects), found by discovery when the spoke
   * was added. Null only for a hand-written config: then discovery runs when the spoke is opened.
   */
  addressBook: string | null;
  /** Which address book to pick when discovery finds several: display name or last path segment. */
  addressBookName: string | null;
  /** The `carddav` account holding username and password (`<username>@<host>`). */
  account: string | null;
  /** A PEM file of CA certificates to trust for this server (a private CA, a self-signed server). */
  caFile: string | null;
  /** Requests in flight against the server at once. Default 4. */
  concurrency: number;
  /** The authentication the server asked for when the spoke was added. Default basic. */
  authScheme: AuthScheme;
  /** The vCard version of cards the hub creates (existing cards keep theirs). Default 3.0, the most read. */
  version: '3.0' | '4.0';
  /**
   * Hrefs per addressbook-multiget REPORT. Default 250: each answer is parsed whole, so this bounds
   * the memory a pull takes (a first pull of 5,000 Radicale cards peaked at 307 MB with 1,000 per
   * REPORT, 280 MB with 250 and 269 MB with 200, against 247 MB for a folder of the same cards).
   */
  multigetBatch: number;
}

const KNOWN = ['url', 'addressBook', 'addressBookName', 'account', 'caFile', 'concurrency', 'authScheme', 'version', 'multigetBatch'];

function httpUrl(v: unknown, name: string): string {
  if (typeof v !== 'string' || v.trim() === '') throw new Error(`carddav: setting "${name}" is required (an http:// or https:// URL)`);
  let u: URL;
  try {
    u = new URL(v.trim());
  } catch {
    throw new Error(`carddav: setting "${name}" is not a URL: ${JSON.stringify(v)}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`carddav: setting "${name}" must be an http:// or https:// URL`);
  if (u.username !== '' || u.password !== '') {
    // A password in the URL would be stored in clear in the spoke's config.
    throw new Error(`carddav: setting "${name}" must not contain a username or password; use --username and --password-file`);
  }
  return u.href;
}

function optString(v: unknown, name: string): string | null {
  if (v === undefined || v === null || v === '') return null;
  if (typeof v !== 'string') throw new Error(`carddav: setting "${name}" must be text`);
  return v;
}

function posInt(v: unknown, name: string, def: number, max: number): number {
  if (v === undefined || v === null || v === '') return def;
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > max) throw new Error(`carddav: setting "${name}" must be a whole number from 1 to ${max}, got ${JSON.stringify(v)}`);
  return n;
}

export function parseCarddavConfig(raw: Record<string, unknown>): CarddavConfig {
  const unknown = Object.keys(raw).filter((k) => !KNOWN.includes(k));
  if (unknown.length > 0) {
    throw new Error(`carddav: unknown setting${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `"${k}"`).join(', ')} (known: ${KNOWN.map((k) => `"${k}"`).join(', ')})`);
  }
  const caFile = optString(raw.caFile, 'caFile');
  if (caFile !== null && !path.isAbsolute(caFile)) throw new Error(`carddav: setting "caFile" must be an absolute path, got "${caFile}"`);
  const scheme = raw.authScheme ?? 'basic';
  if (scheme !== 'basic' && scheme !== 'digest') throw new Error(`carddav: setting "authScheme" must be "basic" or "digest", got ${JSON.stringify(scheme)}`);
  const version = raw.version === undefined || raw.version === null || raw.version === '3.0' || raw.version === 3 ? '3.0' : raw.version === '4.0' || raw.version === 4 ? '4.0' : null;
  if (version === null) throw new Error(`carddav: setting "version" must be "3.0" or "4.0", got ${JSON.stringify(raw.version)}`);
  const addressBook = raw.addressBook === undefined || raw.addressBook === null || raw.addressBook === '' ? null : collectionUrl(httpUrl(raw.addressBook, 'addressBook'));
  return {
    url: httpUrl(raw.url, 'url'),
    addressBook,
    addressBookName: optString(raw.addressBookName, 'addressBookName'),
    account: optString(raw.account, 'account'),
    caFile,
    concurrency: posInt(raw.concurrency, 'concurrency', 4, 64),
    authScheme: scheme,
    version,
    multigetBatch: posInt(raw.multigetBatch, 'multigetBatch', 250, 10_000),
  };
}

/** A collection URL always ends in `/`, so that member hrefs resolve under it. */
export function collectionUrl(u: string): string {
  return u.endsWith('/') ? u : `${u}/`;
}
