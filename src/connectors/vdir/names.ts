/**
 * File names in a vdir: which names are items, how markers map to names, and the `X-HUBSYNC-ID`
 * stamp that carries a marker inside the file.
 */
import { randomBytes } from 'node:crypto';
import { ConnectorError } from '../kit/errors.js';

/**
 * The vdir storage format names items `<ident>.<fileext>`, and vdirsyncer's default `fileext` for
 * contacts is `.vcf`. Matched without regard to case so that a folder exported on Windows
 * (`John.VCF`) is read too.
 */
const VCF_EXT = /\.vcf$/i;

/** Hub entity ids are `[A-Za-z0-9_-]+`; the length cap keeps `<marker>.vcf` and its temp name under NAME_MAX (255 bytes). */
const MARKER_RE = /^[A-Za-z0-9_-]{1,200}$/;

/**
 * Whether a directory entry name is an item of this spoke. Everything else (other extensions,
 * hidden files, our own temp files, which are hidden) is ignored and never touched.
 *
 * Hidden files are skipped because the vdir format reserves them for metadata and temp files
 * (vdirsyncer writes `.displayname`, `.color`; editors and sync tools put temp files there).
 * Names with a backslash or NUL are skipped so that every listed id is also accepted by
 * `assertItemId` (on Windows a backslash is a separator; on POSIX such names are vanishingly rare).
 */
export function isItemName(name: string): boolean {
  return (
    VCF_EXT.test(name) &&
    name.length > 4 &&
    !name.startsWith('.') &&
    !name.includes('/') &&
    !name.includes('\\') &&
    !name.includes('\0') &&
    // On Windows `a:b.vcf` names the alternate data stream `b.vcf` of the file `a`.
    !(process.platform === 'win32' && name.includes(':'))
  );
}

/**
 * Rejects an id that is not a plain item file name in the folder, so that an id can never reach
 * outside it (`../x.vcf`, `/etc/passwd`) nor address a file the listing ignores.
 */
export function assertItemId(id: string): void {
  if (typeof id !== 'string' || !isItemName(id)) {
    throw new ConnectorError(
      'invalid_data',
      `vdir: ${JSON.stringify(id)} is not an item id of a vCard folder (a file name ending in .vcf, ` +
        'without a path separator, not starting with ".")',
      { itemId: String(id) },
    );
  }
}

export function isMarker(m: string): boolean {
  return MARKER_RE.test(m);
}

export function assertMarker(marker: string): void {
  if (typeof marker !== 'string' || !isMarker(marker)) {
    throw new ConnectorError(
      'invalid_data',
      `vdir: marker ${JSON.stringify(marker)} cannot name a file (expected 1 to 200 characters of [A-Za-z0-9_-])`,
    );
  }
}

/** The file a marker's item is created as (the `client-id` of `capabilities.idempotentCreate`). */
export function markerFileName(marker: string): string {
  return `${marker}.vcf`;
}

/** Random per process, so that temp files a crashed process left behind never clash with ours. */
const TEMP_PREFIX = randomBytes(6).toString('hex');
let tempCounter = 0;

/**
 * A temp file name for writing `name` atomically: hidden (so listings skip it), in the same folder
 * (so `rename`/`link` stay on one file system), and unique per write: a per-process random part and
 * a counter (random bytes per write cost ≈30 µs each, a tenth of a whole create). Temp files are
 * opened with O_EXCL, so even a clash could never overwrite anything.
 */
export function tempFileName(name: string): string {
  const stem = Buffer.byteLength(name, 'utf8') <= 200 ? name : 'hubsync';
  return `.${stem}.tmp-${TEMP_PREFIX}-${(tempCounter++).toString(36)}`;
}

/**
 * The vCard extension property (RFC 6350 §6.10 "x-name") that carries the hub's marker inside a
 * file the hub created. It is the authority for `RemoteItem.marker` because people rename files;
 * the file name `<marker>.vcf` is only the fast path for `findByMarker`.
 */
export const MARKER_PROPERTY = 'X-HUBSYNC-ID';

/** Adds `X-HUBSYNC-ID:<marker>` just before `END:VCARD`, in the line ending the text already uses. */
export function stampMarker(vcardText: string, marker: string): string {
  const end = vcardText.search(/END:VCARD\s*$/i);
  if (end < 0) throw new Error('vdir: toVCard produced text without END:VCARD');
  const eol = vcardText.includes('\r\n') ? '\r\n' : '\n';
  const before = vcardText.slice(0, end);
  const sep = before === '' || before.endsWith('\n') ? '' : eol;
  return `${before}${sep}${foldLine(`${MARKER_PROPERTY}:${marker}`, eol)}${eol}${vcardText.slice(end)}`;
}

/** RFC 6350 §3.2: lines longer than 75 octets are folded (break, then one space). ASCII only. */
function foldLine(line: string, eol: string): string {
  if (line.length <= 75) return line;
  const parts = [line.slice(0, 75)];
  for (let i = 75; i < line.length; i += 74) parts.push(` ${line.slice(i, i + 74)}`);
  return parts.join(eol);
}

const STAMP_LINE = /^(?:[A-Za-z0-9-]+\.)?X-HUBSYNC-ID(?:;[^:\r\n]*)?:[ \t]*([^\r\n]*?)[ \t]*$/im;

/**
 * The marker stamped in a file, or null. Lines are unfolded first (RFC 6350 §3.2: a line break
 * followed by one space or tab continues the line), since a user's tool may fold any line.
 */
export function readMarkerStamp(vcardText: string): string | null {
  if (!/X-HUBSYNC-ID/i.test(vcardText)) return null;
  const unfolded = vcardText.replace(/\r?\n[ \t]/g, '');
  const m = STAMP_LINE.exec(unfolded);
  const value = m?.[1];
  return value !== undefined && isMarker(value) ? value : null;
}
