import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AccessTokens, type TokenRefresher } from '../../src/accounts/access-tokens.js';
import { AccountStore } from '../../src/accounts/accounts.js';
import { loadSecretBox, SecretBox } from '../../src/accounts/secret-box.js';
import { ConnectorError, isConnectorError } from '../../src/connectors/kit/errors.js';
import { openStore, type Store } from '../../src/store/open.js';

describe('SecretBox', () => {
  it('round-trips, and refuses another key or another owner', () => {
    const box = new SecretBox(Buffer.alloc(32, 7));
    const sealed = box.seal('refresh-token-123', 'acct-1');
    expect(sealed).not.toContain('refresh-token-123');
    expect(box.open(sealed, 'acct-1')).toBe('refresh-token-123');
    expect(() => box.open(sealed, 'acct-2')).toThrow(/could not be decrypted/);
    expect(() => new SecretBox(Buffer.alloc(32, 8)).open(sealed, 'acct-1')).toThrow(/could not be decrypted/);
    expect(box.seal('x', 'a')).not.toBe(box.seal('x', 'a'));
  });

  it('creates a key file readable by its owner only, and reuses it', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'hubsync-key-'));
    try {
      const a = loadSecretBox({ dataDir: dir });
      const file = path.join(dir, 'secret.key');
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const b = loadSecretBox({ dataDir: dir });
      expect(b.open(a.seal('s', 'o'), 'o')).toBe('s');
      expect(readFileSync(file, 'utf8').trim()).toHaveLength(44);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('takes HUBSYNC_SECRET_KEY in hex or base64, and rejects a wrong length', () => {
    const hex = 'ab'.repeat(32);
    const b64 = Buffer.from(hex, 'hex').toString('base64');
    const x = loadSecretBox({ envKey: hex, dataDir: '/nonexistent' });
    expect(loadSecretBox({ envKey: b64, dataDir: '/nonexistent' }).open(x.seal('v', 'o'), 'o')).toBe('v');
    expect(() => loadSecretBox({ envKey: 'short', dataDir: '/nonexistent' })).toThrow(/32 bytes/);
  });
});

describe('accounts and access tokens', () => {
  let dir: string;
  let store: Store;
  let accounts: AccountStore;
  let now = 1_700_000_000_000;
  beforeEach(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'hubsync-acct-'));
    store = await openStore({ kind: 'sqlite', file: path.join(dir, 'h.db') });
    accounts = new AccountStore(store.db, new SecretBox(Buffer.alloc(32, 1)), () => now);
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('stores secrets sealed, never in clear text', async () => {
    const a = await accounts.upsert({ id: 'a1', provider: 'google', name: 'ann@x.example', kind: 'user', settings: {}, secret: { refreshToken: 'rt-secret-value' } });
    const raw = await store.db.selectFrom('accounts').selectAll().execute();
    expect(JSON.stringify(raw)).not.toContain('rt-secret-value');
    expect(await accounts.secret(a.id)).toEqual({ refreshToken: 'rt-secret-value' });
  });

  it('refreshes once for many concurrent callers, caches until near expiry, and keeps a rotated refresh token', async () => {
    const a = await accounts.upsert({ id: 'a1', provider: 'microsoft', name: 'tenant', kind: 'user', settings: {}, secret: { refreshToken: 'rt1' } });
    let calls = 0;
    const refresher: TokenRefresher = async (_acct, secret) => {
      calls += 1;
      await new Promise((r) => setTimeout(r, 10));
      return { accessToken: `at-${calls}-${secret.refreshToken}`, expiresAt: now + 3600_000, refreshToken: `rt${calls + 1}` };
    };
    const tokens = new AccessTokens(accounts, new Map([['microsoft', refresher]]), () => now);
    const got = await Promise.all(Array.from({ length: 10 }, () => tokens.token(a)));
    expect(new Set(got)).toEqual(new Set(['at-1-rt1']));
    expect(calls).toBe(1);
    expect(await tokens.token(a)).toBe('at-1-rt1');
    expect((await accounts.secret(a.id)).refreshToken).toBe('rt2');
    now += 3600_000 - 30_000; // within a minute of expiry
    expect(await tokens.token(a)).toBe('at-2-rt2');
  });

  it('marks the account "needs sign-in" when the grant was revoked', async () => {
    const a = await accounts.upsert({ id: 'a1', provider: 'google', name: 'ann@x.example', kind: 'user', settings: {}, secret: { refreshToken: 'rt' } });
    const tokens = new AccessTokens(accounts, new Map([['google', async () => { throw new ConnectorError('auth_revoked', 'invalid_grant: Token has been expired or revoked.'); }]]), () => now);
    const e = await tokens.token(a).catch((x: unknown) => x);
    expect(isConnectorError(e, 'auth_revoked')).toBe(true);
    expect((await accounts.get('google', 'ann@x.example')).state).toBe('needs-sign-in');
  });
});
