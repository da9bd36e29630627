/**
 * Password hashing with node:crypto scrypt (RFC 7914). The stored form carries its parameters so
 * they can be raised later without invalidating existing hashes: `scrypt$N$r$p$salt$hash`
 * (base64url). N=2^15, r=8, p=1 follow OWASP's password storage cheat sheet minimum for scrypt.
 */
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

const N = 1 << 15;
const R = 8;
const P = 1;
const KEYLEN = 32;

function derive(password: string, salt: Buffer, n: number, r: number, p: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    // maxmem must cover 128 * N * r bytes (Node's default of 32 MiB is exactly that for N=2^15).
    scrypt(password.normalize('NFC'), salt, KEYLEN, { N: n, r, p, maxmem: 256 * n * r }, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, N, R, P);
  return ['scrypt', N, R, P, salt.toString('base64url'), key.toString('base64url')].join('$');
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [alg, n, r, p, salt, hash] = stored.split('$');
  if (alg !== 'scrypt' || !n || !r || !p || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64url');
  const key = await derive(password, Buffer.from(salt, 'base64url'), Number(n), Number(r), Number(p));
  return key.length === expected.length && timingSafeEqual(key, expected);
}

/** What the sign-up form accepts: long enough to matter, short enough to hash quickly. */
export function passwordProblem(password: string): 'too-short' | 'too-long' | null {
  if (password.length < 10) return 'too-short';
  if (password.length > 200) return 'too-long';
  return null;
}
