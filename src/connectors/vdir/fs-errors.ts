/**
 * The vdir spoke's classifier: every file-system error becomes one `ConnectorError` kind, here and
 * nowhere else.
 */
import { ConnectorError } from '../kit/errors.js';

export function errnoCode(e: unknown): string | undefined {
  if (typeof e === 'object' && e !== null && 'code' in e) {
    const code = (e as { code: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}

export function isErrno(e: unknown, ...codes: string[]): boolean {
  const code = errnoCode(e);
  return code !== undefined && codes.includes(code);
}

export interface FsErrorContext {
  /** The spoke's folder. */
  folder: string;
  /** What was being done, for the message: "listing", "writing 3f2a.vcf". */
  action: string;
  /** The item concerned, if any. A missing item is reported by the caller, not here. */
  itemId?: string;
}

/**
 * Maps a file-system error to the taxonomy.
 *
 * - ENOENT / ENOTDIR reaching here concern the folder itself (callers turn a missing *item* into
 *   `null` or `not_found` before calling this): `not_found` naming the folder, so the engine reports
 *   "folder missing" (an unmounted drive, a moved folder) and never reads it as "everything deleted".
 * - EACCES / EPERM / EROFS: `permission` (file modes, a read-only mount).
 * - ENOSPC / EDQUOT: `transient`. A full disk is fixed by the operator, not by changing the item, so
 *   `invalid_data` (which skips the item for good) would be wrong; nothing was written (temp files
 *   are removed), so retrying later with backoff is safe, and the message says why.
 * - ENAMETOOLONG: `invalid_data` (this name can never be written here).
 * - Anything else (EIO, EMFILE, EBUSY, a stale NFS handle…): `transient`.
 */
export function toConnectorError(e: unknown, ctx: FsErrorContext): ConnectorError {
  if (e instanceof ConnectorError) return e;
  const code = errnoCode(e) ?? 'unknown error';
  const detail = e instanceof Error ? e.message : String(e);
  const opts = { cause: e, ...(ctx.itemId === undefined ? {} : { itemId: ctx.itemId }) };
  switch (code) {
    case 'ENOENT':
      return new ConnectorError('not_found', `vCard folder ${ctx.folder} does not exist (${ctx.action})`, opts);
    case 'ENOTDIR':
      return new ConnectorError('not_found', `vCard folder ${ctx.folder} is not a folder (${ctx.action})`, opts);
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return new ConnectorError('permission', `No permission for ${ctx.action} in ${ctx.folder} (${code})`, opts);
    case 'ENOSPC':
    case 'EDQUOT':
      return new ConnectorError('transient', `Disk full while ${ctx.action} in ${ctx.folder} (${code})`, opts);
    case 'ENAMETOOLONG':
      return new ConnectorError('invalid_data', `File name too long while ${ctx.action} in ${ctx.folder}`, opts);
    default:
      return new ConnectorError('transient', `File system error while ${ctx.action} in ${ctx.folder}: ${detail}`, opts);
  }
}
