/**
 * The CardDAV classifier: every HTTP/WebDAV status becomes one `ConnectorError` kind, here and
 * nowhere else.
 */
import { parseRetryAfter, type HttpResponse } from '../kit/http-client.js';
import { ConnectorError, type ConnectorErrorKind } from '../kit/errors.js';

/**
 * - 401: `auth_revoked` (wrong or changed password; the account needs new credentials).
 * - 403 with the `DAV:valid-sync-token` precondition (RFC 6578 §3.2): `cursor_invalid`. Other
 *   403s: `permission` (Radicale's owner_only rights, a read-only address book). A 403 with
 *   CARDDAV:no-uid-conflict (RFC 6352 §6.3.2.1: another resource already has this UID,
 *   nextcloud/server#30827) is `invalid_data`: this card cannot be stored under a new name here.
 * - 404 / 410: `not_found`.
 * - 409: RFC 4918 §9.7.1 — the collection the resource would live in does not exist: `not_found`
 *   (the address book is gone), never "the item changed".
 * - 412: `conflict` (If-Match failed); callers turn a 412 on `If-None-Match: *` into `already_exists`.
 * - 413 / 415 / 400 / 422: `invalid_data` (too large, or a vCard the server refuses).
 * - 423 Locked (RFC 4918 §11.3): `transient` — someone holds a lock, retry later.
 * - 429: `rate_limited`; 5xx: `transient`.
 * - 507 Insufficient Storage (RFC 4918 §11.5): `transient`, like a full disk in the vdir spoke:
 *   the quota is fixed by the operator, not by changing the item (so `invalid_data`, which skips the
 *   item for good, would be wrong), nothing was stored, and retrying later with backoff is safe.
 * - 405 / 501 and anything else: `unsupported`.
 */
export function classifyDav(res: HttpResponse): ConnectorError {
  const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'));
  const s = res.status;
  let kind: ConnectorErrorKind;
  if (s === 401) kind = 'auth_revoked';
  else if (s === 403) kind = /valid-sync-token/i.test(res.text) ? 'cursor_invalid' : /no-uid-conflict/i.test(res.text) ? 'invalid_data' : 'permission';
  else if (s === 404 || s === 410 || s === 409) kind = 'not_found';
  else if (s === 412) kind = 'conflict';
  else if (s === 400 || s === 413 || s === 415 || s === 422) kind = 'invalid_data';
  else if (s === 423 || s === 507 || s >= 500) kind = 'transient';
  else if (s === 429) kind = 'rate_limited';
  else kind = 'unsupported';
  const what =
    s === 401 ? 'the server refused the username or password'
    : s === 409 ? 'the address book does not exist'
    : s === 507 ? 'the server has no storage left (quota)'
    : res.text.replace(/\s+/g, ' ').slice(0, 300);
  return new ConnectorError(kind, `HTTP ${s}${what ? `: ${what}` : ''}`, retryAfterMs === undefined ? {} : { retryAfterMs });
}
