/**
 * `hubsync account login microsoft` through the CLI against the emulator: the printed authorization
 * URL is opened (the emulator consents and redirects to the CLI's loopback address), the account is
 * stored under the mailbox's address, and its spoke syncs that mailbox with `--mailbox me`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Io } from '../../src/cli/io.js';
import { main } from '../../src/cli/main.js';
import { fileURLToPath } from 'node:url';
import { microsoftEnv, startMicrosoftDemo, startMicrosoftEmulator, DEMO_CLIENT_ID, type MicrosoftEmulator } from '../../src/emulators/microsoft/index.js';
import { splitPem } from '../../src/accounts/microsoft.js';
import { readFileSync } from 'node:fs';
import { hubsync, ok } from './cli-helpers.js';

let emu: MicrosoftEmulator;
let data: string;
const saved: Record<string, string | undefined> = {};

beforeAll(async () => {
  emu = await startMicrosoftDemo();
  data = await mkdtemp(path.join(os.tmpdir(), 'hubsync-m365-login-'));
  for (const [k, v] of Object.entries(microsoftEnv(emu.url))) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
});

afterAll(async () => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  await emu.close();
  await rm(data, { recursive: true, force: true });
});

describe('account login microsoft', () => {
  it('signs in with authorization code + PKCE on a loopback redirect, then syncs the own mailbox', async () => {
    const me = [...emu.state.users.values()].find((u) => emu.state.mailboxType.get(u.id) === 'user')!;
    let out = '';
    let err = '';
    const opened: Promise<Response>[] = [];
    const io: Io = {
      out: (t) => {
        out += `${t}\n`;
        const m = /(http:\/\/\S+\/oauth2\/v2\.0\/authorize\?\S+)/.exec(t);
        // The "browser": follows the consent redirect back to the CLI's loopback listener.
        if (m) opened.push(fetch(m[1] as string));
      },
      err: (t) => void (err += `${t}\n`),
      isTTY: false,
    };
    const code = await main(['--data-dir', data, 'account', 'login', 'microsoft', '--client-id', DEMO_CLIENT_ID, '--login-hint', me.userPrincipalName], io);
    expect(code, `${out}\n${err}`).toBe(0);
    expect(opened).toHaveLength(1);
    expect((await opened[0])?.status).toBe(200);
    expect(out).toContain(`Signed in as ${me.userPrincipalName}`);
    const list = await ok(data, 'account', 'list');
    expect(list).toMatch(new RegExp(`microsoft\\s+${me.userPrincipalName.replace(/\./g, '\\.')}\\s+user\\s+ok`));

    await ok(data, 'hub', 'create', 'Mine', '--object', 'contacts');
    await ok(data, 'spoke', 'add', 'Mine', 'outlook', '--type', 'm365-contacts', '--account', me.userPrincipalName, '--mailbox', 'me', '--allow-create');
    const mb = emu.state.mailbox(me.id)!;
    emu.state.createContact(mb.userId, mb.defaultFolderId, { givenName: 'Own', surname: 'Contact', emailAddresses: [{ address: 'own@example.org', name: 'Own' }] });
    const synced = await ok(data, 'sync', 'Mine');
    // The demo mailbox's own contacts and the one just made.
    expect(mb.contacts.size).toBeGreaterThan(1);
    expect(synced).toContain(`outlook: read ${mb.contacts.size} (${mb.contacts.size} new or changed); into hub +${mb.contacts.size}`);
    // One sign-in; the sync used the stored account, not another authorization.
    expect(emu.identity.grants.authorization_code).toBe(1);
  });

  it('refuses a personal sign-in as an organisation for `mailboxes`', async () => {
    const me = [...emu.state.users.values()].find((u) => emu.state.mailboxType.get(u.id) === 'user')!;
    const r = await main(['--data-dir', data, 'mailboxes', me.userPrincipalName], { out: () => undefined, err: () => undefined, isTTY: false });
    expect(r).toBe(2);
  });
});

describe('account add microsoft', () => {
  const certFile = fileURLToPath(new URL('../fixtures/microsoft/app-cert.pem', import.meta.url));
  const APP = 'aaaa0000-1111-4222-8333-444455556666';

  it('adds an organisation with a certificate; without admin consent it prints the consent URL and adds nothing', async () => {
    const org = await startMicrosoftEmulator({
      seed: { tenant: { id: 'bbbb0000-1111-4222-8333-444455556666' }, apps: [{ clientId: APP, certificatePem: splitPem(readFileSync(certFile, 'utf8')).certificatePem }], users: [{ userPrincipalName: 'x@contoso.example' }] },
    });
    const dir = await mkdtemp(path.join(os.tmpdir(), 'hubsync-m365-cert-'));
    const before = { login: process.env.HUBSYNC_MS_LOGIN_URL, graph: process.env.HUBSYNC_GRAPH_URL };
    Object.assign(process.env, microsoftEnv(org.url));
    try {
      const refused = await hubsync(dir, 'account', 'add', 'microsoft', '--tenant', org.state.tenantId, '--client-id', APP, '--certificate', certFile);
      expect(refused.code).not.toBe(0);
      expect(refused.err).toContain(`${org.url}/${org.state.tenantId}/adminconsent?client_id=${APP}`);
      expect(await ok(dir, 'account', 'list')).toMatch(/No accounts yet/);
      (org.state.apps.get(APP) as { consented: boolean }).consented = true;
      const added = await ok(dir, 'account', 'add', 'microsoft', '--tenant', org.state.tenantId, '--client-id', APP, '--certificate', certFile);
      expect(added).toMatch(new RegExp(`Added Microsoft 365 organisation "${org.state.tenantId}" \\(certificate\\)`));
      expect(await ok(dir, 'mailboxes', org.state.tenantId)).toContain('x@contoso.example');
      const wrong = await hubsync(dir, 'account', 'add', 'microsoft', '--tenant', org.state.tenantId, '--client-id', APP, '--client-secret', 'guess');
      expect(wrong.code).not.toBe(0);
      expect(wrong.err).toMatch(/invalid_client/);
    } finally {
      for (const [k, v] of [['HUBSYNC_MS_LOGIN_URL', before.login], ['HUBSYNC_GRAPH_URL', before.graph]] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      await org.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
