/**
 * The closed set of ways a connector call can fail. Each connector classifies its provider's
 * errors into one of these kinds once (its classifier); the engine has one policy per kind and never
 * looks at a provider's status codes or messages.
 */
export type ConnectorErrorKind =
  /** The credentials were revoked or expired beyond refresh: the spoke needs a sign-in again. */
  | 'auth_revoked'
  /** The account may not do this (scope, read-only folder, file permissions). */
  | 'permission'
  | 'not_found'
  /** A conditional write failed: the item changed since it was read (HTTP 412, People failedPrecondition). */
  | 'conflict'
  /** A create found the item already there (HTTP 412 on If-None-Match, EEXIST). */
  | 'already_exists'
  | 'rate_limited'
  /** Worth retrying later: a 5xx, a reset connection, a timeout. The write may or may not have happened. */
  | 'transient'
  /** The sync cursor is no longer accepted: pull again from scratch. */
  | 'cursor_invalid'
  /** The item or value is not acceptable to the spoke (or not readable from it). */
  | 'invalid_data'
  | 'unsupported';

export class ConnectorError extends Error {
  readonly kind: ConnectorErrorKind;
  readonly retryAfterMs: number | undefined;
  /** The remote item concerned, when there is one. */
  readonly itemId: string | undefined;
  /** The field concerned, when the error is about one field of an item. */
  readonly field: string | undefined;

  constructor(
    kind: ConnectorErrorKind,
    message: string,
    opts: { retryAfterMs?: number; itemId?: string; field?: string; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'ConnectorError';
    this.kind = kind;
    this.retryAfterMs = opts.retryAfterMs;
    this.itemId = opts.itemId;
    this.field = opts.field;
  }
}

export function isConnectorError(e: unknown, kind?: ConnectorErrorKind): e is ConnectorError {
  return e instanceof ConnectorError && (kind === undefined || e.kind === kind);
}
