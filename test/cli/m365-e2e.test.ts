/**
 * Microsoft 365 end to end through the CLI: a GAL of 200 users, three mailboxes and one Google
 * account in one hub — on the Microsoft and Google emulators, reached through HUBSYNC_MS_LOGIN_URL,
 * HUBSYNC_GRAPH_URL and the HUBSYNC_GOOGLE_* settings exactly as the real services would be.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { googleEnv, sampleSeed, startGoogle, type GoogleEmulator } from '../../src/emulators/google/index.js';
import { galUsers, microsoftEnv, startMicrosoftEmulator, type MicrosoftEmulator } from '../../src/emulators/microsoft/index.js';
import type { ContactRecord } from '../../src/emulators/microsoft/state.js';
import { ok } from './cli-helpers.js';

const TENANT = '7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
const APP = { id: 'c0ffee00-1111-4222-8333-444455556666', secret: 'e2e-app-secret' };
const CAROL = 'carol@example.com';
const GCLIENT = { HUBSYNC_GOOGLE_CLIENT_ID: 'hubsync-m365-e2e', HUBSYNC_GOOGLE_CLIENT_SECRET: 'e2e-secret' };
const FOLDER = 'Company directory';
const GOOGLE_PEOPLE = 6;

let ms: MicrosoftEmulator;
let google: GoogleEmulator;
let data: string;
let mailboxes: string[];
/** Carol's own people, before the hub added anyone to her Google account. */
let carolsOwn: string[];
const saved: Record<string, string | undefined> = {};

function setEnv(vars: Record<string, string>): void {
  for (const [k, v] of Object.entries(vars)) {
    if (!(k in saved)) saved[k] = process.env[k];
    process.env[k] = v;
  }
}

function folderContacts(upn: string): ContactRecord[] {
  const mb = ms.state.mailbox(upn);
  if (!mb) throw new Error(`no mailbox ${upn}`);
  const folder = [...mb.folders.values()].find((f) => f.displayName === FOLDER);
  if (!folder) return [];
  return [...mb.contacts.values()].filter((c) => c.folderId === folder.id);
}

const mailOf = (c: ContactRecord): string => (((c.props.emailAddresses as { address: string }[] | undefined) ?? [])[0]?.address ?? '').toLowerCase();

/** People in a mailbox folder by first e-mail; throws on a duplicate. */
function peopleInMailbox(upn: string): string[] {
  const list = folderContacts(upn).map(mailOf).sort();
  expect(new Set(list).size, `duplicates in ${upn}`).toBe(list.length);
  return list;
}

function peopleInGoogle(): string[] {
  return google.state
    .contactsOf(CAROL)
    .map((p) => (p.emailAddresses?.[0]?.value ?? '').toLowerCase())
    .sort();
}

/** Everyone the hub should hold: the GAL's people with mail (rooms and shared mailboxes left out), and Carol's. */
function everyone(): string[] {
  const gal = [...ms.state.users.values()].filter((u) => u.accountEnabled !== false && typeof u.mail === 'string').map((u) => (u.mail as string).toLowerCase());
  return [...new Set([...gal, ...carolsOwn])].sort();
}

async function sync(): Promise<string> {
  return ok(data, 'sync', 'Company');
}

async function syncUntilStable(max = 4): Promise<void> {
  for (let i = 0; i < max; i++) {
    await sync();
    const want = everyone();
    if (mailboxes.every((m) => JSON.stringify(folderContacts(m).map(mailOf).sort()) === JSON.stringify(want))) return;
  }
}

function expectConverged(): void {
  const want = everyone();
  for (const m of mailboxes) expect(peopleInMailbox(m), m).toEqual(want);
  expect(peopleInGoogle()).toEqual(want);
}

function expectDirectoryNeverWritten(): void {
  const writes = [...ms.counts.byEndpoint, ...ms.counts.batchItems].filter(([k]) => !k.startsWith('GET ') && /^(\w+) \/(users(\/\{id\})?|contacts(\/\{id\})?|places.*)$/.test(k));
  expect(writes).toEqual([]);
}

beforeAll(async () => {
  data = await mkdtemp(path.join(os.tmpdir(), 'hubsync-m365-e2e-'));
  ms = await startMicrosoftEmulator({
    seed: { tenant: { id: TENANT, domain: 'contoso.example' }, apps: [{ clientId: APP.id, clientSecret: APP.secret, consented: true }], users: galUsers({ people: 200, mailboxes: 3 }) },
  });
  mailboxes = [...ms.state.mailboxes.keys()].map((id) => ms.state.users.get(id)?.userPrincipalName as string).filter((u) => ms.state.mailboxType.get(ms.state.findUser(u)?.id as string) === 'user');
  google = await startGoogle({ seed: { ...sampleSeed({ emails: [CAROL], perUser: GOOGLE_PEOPLE, shared: 0 }), clients: [{ clientId: GCLIENT.HUBSYNC_GOOGLE_CLIENT_ID, clientSecret: GCLIENT.HUBSYNC_GOOGLE_CLIENT_SECRET }] } });
  carolsOwn = peopleInGoogle();
  setEnv({ ...microsoftEnv(ms.url), ...googleEnv(google.url), ...GCLIENT });
  await ok(data, 'hub', 'create', 'Company', '--object', 'contacts');
}, 120_000);

afterAll(async () => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  await ms?.close();
  await google?.close();
  if (data) await rm(data, { recursive: true, force: true });
});

describe('Microsoft 365 end to end (GAL of 200 + 3 mailboxes + Google, through the CLI)', () => {
  it('account add microsoft checks the credentials; mailboxes lists the tenant; the GAL spoke is added read-only', async () => {
    expect(mailboxes).toHaveLength(3);
    const added = await ok(data, 'account', 'add', 'microsoft', '--tenant', TENANT, '--client-id', APP.id, '--client-secret', APP.secret, '--name', 'contoso');
    expect(added).toMatch(/Added Microsoft 365 organisation "contoso"/);
    const list = await ok(data, 'mailboxes', 'contoso');
    for (const m of mailboxes) expect(list).toContain(m);
    expect(list).toMatch(/boardroom@contoso\.example.*room/);
    const gal = await ok(data, 'spoke', 'add', 'Company', 'gal', '--type', 'm365-gal', '--account', 'contoso');
    expect(gal).toMatch(/read-only source \(never written to\)/);
    for (const [i, m] of mailboxes.entries()) {
      await ok(data, 'spoke', 'add', 'Company', `mailbox${i}`, '--type', 'm365-contacts', '--account', 'contoso', '--mailbox', m, '--folder', FOLDER, '--allow-create');
    }
    await ok(data, 'account', 'add', 'google', '--email', CAROL, '--refresh-token', google.state.mintRefreshToken(CAROL, GCLIENT.HUBSYNC_GOOGLE_CLIENT_ID));
    await ok(data, 'spoke', 'add', 'Company', 'google', '--type', 'google-contacts', '--account', CAROL, '--allow-create', '--config', 'visibilityLagMs=0');
  });

  it('the directory lands in every mailbox (and in Google); the GAL is never written to', async () => {
    await syncUntilStable();
    expect(everyone()).toHaveLength(200 + GOOGLE_PEOPLE);
    expectConverged();
    expectDirectoryNeverWritten();
    // Converged: one more sync writes nothing anywhere.
    expect(await sync()).toMatch(/Total: hub \+0 ~0 -0, spokes \+0 ~0 -0/);
  });

  it('an edit in a mailbox reaches Google and the other mailboxes', async () => {
    const carolsFirst = peopleInGoogle()[0] as string;
    const [m0, m1, m2] = mailboxes as [string, string, string];
    const mb0 = ms.state.mailbox(m0)!;
    const c = folderContacts(m0).find((x) => mailOf(x) === carolsFirst)!;
    ms.state.updateContact(mb0.userId, c, { jobTitle: 'Chief Edits Officer' });
    await sync();
    for (const m of [m1, m2]) expect(folderContacts(m).find((x) => mailOf(x) === carolsFirst)?.props.jobTitle).toBe('Chief Edits Officer');
    const inGoogle = google.state.contactsOf(CAROL).find((p) => (p.emailAddresses?.[0]?.value ?? '').toLowerCase() === carolsFirst);
    expect(inGoogle?.organizations?.[0]?.title).toBe('Chief Edits Officer');
    expectDirectoryNeverWritten();
  });

  it('a contact moved to another folder of a mailbox is not deleted anywhere', async () => {
    const [, m1] = mailboxes as [string, string];
    const mb1 = ms.state.mailbox(m1)!;
    const c = folderContacts(m1)[5]!;
    const who = mailOf(c);
    ms.state.moveContact(mb1.userId, c, ms.state.createFolder(mb1.userId, 'Archive').id);
    await sync();
    await sync();
    for (const m of mailboxes.filter((x) => x !== m1)) expect(peopleInMailbox(m)).toContain(who);
    expect(peopleInGoogle()).toContain(who);
    expect(mb1.contacts.has(c.immutableId)).toBe(true);
  });

  it('an expired delta link causes a full pull and no duplicate', async () => {
    ms.state.expireDeltaTokens();
    const before = everyone();
    await sync();
    await sync();
    for (const m of mailboxes.slice(0, 1).concat(mailboxes.slice(2))) expect(peopleInMailbox(m)).toEqual(before);
    expect(peopleInGoogle()).toEqual(before);
  });

  it('a crash mid-$batch leaves no duplicate', async () => {
    for (let i = 0; i < 30; i++) ms.state.addUser({ userPrincipalName: `new.hire.${i}@contoso.example`, givenName: 'New', surname: `Hire${i}`, mailbox: 'none' });
    const before = mailboxes.map((m) => folderContacts(m).length);
    ms.faults.crashBatchAfter = 7;
    await ok(data, 'sync', 'Company').catch((e: Error) => e.message);
    expect(ms.faults.crashBatchAfter).toBeNull(); // the crash happened
    // Some creates of the crashed batch were applied without the client learning of it.
    const partial = mailboxes.map((m, i) => folderContacts(m).length - (before[i] as number));
    expect(partial.some((d) => d > 0 && d < 30), `created per mailbox after the crash: ${partial.join(', ')}`).toBe(true);
    await syncUntilStable();
    const [, m1] = mailboxes as [string, string];
    for (const m of mailboxes.filter((x) => x !== m1)) expect(peopleInMailbox(m)).toEqual(everyone());
    expect(peopleInGoogle()).toEqual(everyone());
  });

  it('429s and 5xx at a 10% rate still converge, and the per-mailbox concurrency limit is never exceeded', async () => {
    ms.faults.randomErrors(0.1, 0);
    for (let i = 0; i < 20; i++) ms.state.addUser({ userPrincipalName: `flaky.${i}@contoso.example`, givenName: 'Flaky', surname: `Net${i}`, mailbox: 'none' });
    const someone = [...ms.state.users.values()][10]!;
    ms.state.updateUser(someone.id, { jobTitle: 'Promoted' });
    await syncUntilStable(6);
    ms.faults.clear();
    await syncUntilStable();
    const [, m1] = mailboxes as [string, string];
    for (const m of mailboxes.filter((x) => x !== m1)) expect(peopleInMailbox(m)).toEqual(everyone());
    expect(peopleInGoogle()).toEqual(everyone());
    expect(folderContacts(mailboxes[0] as string).find((c) => mailOf(c) === String(someone.mail).toLowerCase())?.props.jobTitle).toBe('Promoted');
    expect(ms.faults.fired).toBeGreaterThan(0);
    expect(ms.counts.concurrencyRejections).toBe(0);
    expect(ms.counts.highestInFlight()).toBeLessThanOrEqual(4);
    expectDirectoryNeverWritten();
  });
});
