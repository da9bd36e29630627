/**
 * Settings of a vdir spoke and their validation.
 *
 * A vdir is "a directory with one file per item" (vdirsyncer's storage format,
 * https://vdirsyncer.pimutils.org/en/stable/vdir.html), the layout khard and vdirsyncer read.
 */
import path from 'node:path';

/** The vCard versions new files may be written in (existing files keep their own version). */
export type VdirVCardVersion = '3.0' | '4.0';

/** Settings of a local vCard folder spoke, as returned by `parseConfig`. */
export interface VdirConfig {
  /**
   * Absolute path of the folder holding one `.vcf` file per contact. Relative paths are resolved
   * against the working directory by the CLI before they reach `parseConfig`, which rejects them:
   * a connector must not depend on the process's cwd (a server's cwd is not the user's).
   */
  path: string;
  /**
   * The vCard version of files the hub creates. Defaults to `'3.0'` (RFC 2426), the version the most
   * tools read; `'4.0'` is RFC 6350. Updates keep the version a file already has.
   */
  version: VdirVCardVersion;
  /**
   * Create the folder when it does not exist. Only the folder itself is created, never its parents:
   * a missing parent usually means an unmounted drive or a typo, and creating a fresh empty tree
   * there would hide that. Defaults to `false`.
   */
  createMissing: boolean;
}

const KNOWN_KEYS = new Set(['path', 'version', 'createMissing']);

/**
 * Validates user-given settings. Throws an Error naming the bad setting.
 *
 * Unknown keys are rejected so that a typo (`createmissing`) is reported instead of silently
 * falling back to a default.
 */
export function parseVdirConfig(raw: Record<string, unknown>): VdirConfig {
  const unknown = Object.keys(raw).filter((k) => !KNOWN_KEYS.has(k));
  if (unknown.length > 0) {
    throw new Error(
      `vdir: unknown setting${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `"${k}"`).join(', ')} ` +
        '(known: "path", "version", "createMissing")',
    );
  }

  const rawPath = raw.path;
  if (typeof rawPath !== 'string' || rawPath.trim() === '') {
    throw new Error('vdir: setting "path" is required and must be a non-empty string (the folder of .vcf files)');
  }
  if (rawPath.includes('\0')) {
    throw new Error('vdir: setting "path" must not contain a NUL character');
  }
  if (!path.isAbsolute(rawPath)) {
    throw new Error(
      `vdir: setting "path" must be an absolute path, got "${rawPath}" ` +
        '(relative paths are resolved against the working directory by the CLI, not by the connector)',
    );
  }

  return {
    // resolve() drops trailing separators and `..` segments, so equal folders give equal settings.
    path: path.resolve(rawPath),
    version: parseVersion(raw.version),
    createMissing: parseCreateMissing(raw.createMissing),
  };
}

function parseVersion(v: unknown): VdirVCardVersion {
  if (v === undefined || v === null) return '3.0';
  // A YAML or JSON config may well say `version: 4.0`, which arrives as the number 4.
  if (v === '3.0' || v === 3) return '3.0';
  if (v === '4.0' || v === 4) return '4.0';
  throw new Error(`vdir: setting "version" must be "3.0" or "4.0", got ${JSON.stringify(v)}`);
}

function parseCreateMissing(v: unknown): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v === 'boolean') return v;
  // `--config createMissing=true` on the command line arrives as text.
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw new Error(`vdir: setting "createMissing" must be true or false, got ${JSON.stringify(v)}`);
}
