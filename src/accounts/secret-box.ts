/**
 * Encryption of secrets at rest (OAuth refresh tokens, passwords, client secrets): AES-256-GCM with
 * a random 96-bit nonce per value (NIST SP 800-38D), the authentication tag checked on every read.
 *
 * The key comes from `HUBSYNC_SECRET_KEY` (32 bytes, base64 or hex) when set — the way to share one
 * key between several servers on one PostgreSQL store — else from a key file in the data folder,
 * created on first use with mode 0600. Losing the key loses the secrets (accounts then need a
 * sign-in again), never the contacts.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const VERSION = 'v1';

export class SecretBox {
  private readonly key: Buffer;

  constructor(key: Buffer) {
    if (key.length !== 32) throw new Error('The secret key must be 32 bytes (AES-256).');
    this.key = key;
  }

  /** `v1.<nonce>.<ciphertext>.<tag>`, base64url; `aad` binds the value to its owner (an account id). */
  seal(plaintext: string, aad: string): string {
    const nonce = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, nonce);
    cipher.setAAD(Buffer.from(aad, 'utf8'));
    const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    const tag = cipher.getAuthTag();
    return [VERSION, nonce.toString('base64url'), ct.toString('base64url'), tag.toString('base64url')].join('.');
  }

  open(sealed: string, aad: string): string {
    const [v, nonce, ct, tag] = sealed.split('.');
    if (v !== VERSION || !nonce || ct === undefined || !tag) throw new Error('Not a sealed secret of this version.');
    const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(nonce, 'base64url'));
    decipher.setAAD(Buffer.from(aad, 'utf8'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    try {
      return Buffer.concat([decipher.update(Buffer.from(ct, 'base64url')), decipher.final()]).toString('utf8');
    } catch {
      throw new Error('A stored secret could not be decrypted: the secret key is not the one it was sealed with.');
    }
  }
}

export function parseSecretKey(text: string): Buffer {
  const t = text.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(t) ? Buffer.from(t, 'hex') : Buffer.from(t, 'base64');
  if (key.length !== 32) {
    throw new Error('HUBSYNC_SECRET_KEY must be 32 bytes, written as 64 hex digits or base64 (e.g. `openssl rand -base64 32`).');
  }
  return key;
}

/** The key from the environment value if given, else from (or into) `<dataDir>/secret.key`. */
export function loadSecretBox(opts: { envKey?: string | undefined; dataDir: string }): SecretBox {
  if (opts.envKey) return new SecretBox(parseSecretKey(opts.envKey));
  const file = path.join(opts.dataDir, 'secret.key');
  if (!existsSync(file)) {
    mkdirSync(opts.dataDir, { recursive: true });
    // wx: never overwrite a key another process just created.
    try {
      writeFileSync(file, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
  const mode = statSync(file).mode & 0o777;
  if (mode & 0o077) chmodSync(file, 0o600);
  return new SecretBox(parseSecretKey(readFileSync(file, 'utf8')));
}
