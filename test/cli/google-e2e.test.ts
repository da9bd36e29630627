/**
 * Google Contacts end to end through the CLI: two Google accounts (on the Google emulator, reached
 * through HUBSYNC_GOOGLE_* settings exactly as Google would be) and a vCard folder in one hub.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cardToPerson } from '../../src/connectors/google-people/mapping.js';
import { googleEnv, sampleSeed, startGoogle, type GoogleEmulator } from '../../src/emulators/google/index.js';
import type { UserState } from '../../src/emulators/google/state.js';
import { openStore } from '../../src/store/open.js';
import { makeTempVdir, makeVcard, writeVcf } from '../support/vdir.js';
import { cardsIn, emailsOfCard, hubsync, ok, peopleIn } from './cli-helpers.js';

const ALICE = 'alice@example.com';
const BOB = 'bob@example.com';
const CLIENT = { HUBSYNC_GOOGLE_CLIENT_ID: 'hubsync-e2e-client', HUBSYNC_GOOGLE_CLIENT_SECRET: 'e2e-secret' };

let root: { dir: string; cleanup(): Promise<void> };
let data: string;
let folder: string;
let emu: GoogleEmulator;
let savedEnv: Record<string, string | undefined>;

function setEnv(vars: Record<string, string>): void {
  savedEnv = {};
  for (const [k, v] of Object.entries(vars)) {
    savedEnv[k] = process.env[k];
    process.env[k] = v;
  }
}

function restoreEnv(): void {
  for (const [k, v] of Object.entries(savedEnv)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
}

/** People of a Google account, each as the sorted list of its e-mails. */
function peopleInGoogle(email: string): string[] {
  return emu.state
    .contactsOf(email)
    .map((p) => (p.emailAddresses ?? []).map((e) => (e.value ?? '').toLowerCase()).sort().join(','))
    .sort();
}

function user(email: string): UserState {
  return emu.state.userByEmail(email) as UserState;
}

async function setup(opts: { clients?: boolean; pageSize?: number } = {}): Promise<void> {
  // Alice and Bob have 12 contacts each, 4 of them the same people; the folder has 3 more people
  // and one Alice has too.
  emu = await startGoogle({
    seed: { ...sampleSeed({ emails: [ALICE, BOB], perUser: 12, shared: 4 }), ...(opts.clients ? { clients: [{ clientId: CLIENT.HUBSYNC_GOOGLE_CLIENT_ID, clientSecret: CLIENT.HUBSYNC_GOOGLE_CLIENT_SECRET }] } : {}) },
  });
  setEnv({ ...googleEnv(emu.url), ...CLIENT });
  for (let i = 0; i < 3; i++) {
    await writeVcf(folder, `f${i}.vcf`, makeVcard({ uid: `f${i}`, given: `Folder${i}`, surname: 'Person', emails: [`folder${i}@example.net`] }));
  }
  const alicesFirst = emu.state.contactsOf(ALICE)[0];
  const email = alicesFirst?.emailAddresses?.[0]?.value ?? '';
  await writeVcf(folder, 'shared.vcf', makeVcard({ uid: 'shared', given: alicesFirst?.names?.[0]?.givenName ?? 'X', surname: alicesFirst?.names?.[0]?.familyName ?? 'Y', emails: [email] }));
  await ok(data, 'hub', 'create', 'Family', '--object', 'contacts');
  for (const [name, email] of [['alice', ALICE], ['bob', BOB]] as const) {
    await ok(data, 'account', 'add', 'google', '--email', email, '--refresh-token', emu.state.mintRefreshToken(email, CLIENT.HUBSYNC_GOOGLE_CLIENT_ID));
    await ok(data, 'spoke', 'add', 'Family', name, '--type', 'google-contacts', '--account', email, '--allow-create', '--region', 'FR', '--config', 'visibilityLagMs=0', ...(opts.pageSize ? ['--config', `pageSize=${opts.pageSize}`] : []));
  }
  await ok(data, 'spoke', 'add', 'Family', 'folder', '--type', 'vdir', '--path', folder, '--allow-create', '--region', 'FR');
}

const EVERYONE = 12 + 8 + 3; // Alice's 12, Bob's 8 others, the folder's 3 new people

async function expectConverged(): Promise<string[]> {
  const inFolder = await peopleIn(folder);
  expect(inFolder).toHaveLength(EVERYONE);
  expect(peopleInGoogle(ALICE)).toEqual(inFolder);
  expect(peopleInGoogle(BOB)).toEqual(inFolder);
  return inFolder;
}

beforeEach(async () => {
  root = await makeTempVdir('hubsync-google-e2e-');
  data = path.join(root.dir, 'data');
  folder = path.join(root.dir, 'folder');
  await mkdir(folder);
  savedEnv = {};
});

afterEach(async () => {
  restoreEnv();
  await emu?.close();
  await root.cleanup();
});

describe('hubsync with two Google accounts and a vCard folder', () => {
  it('a dry run with Google spokes on the embedded store finishes, lists what it would do and changes nothing', async () => {
    await setup();
    const before = [peopleInGoogle(ALICE), peopleInGoogle(BOB), await peopleIn(folder)];
    // The dry run holds the store's only SQLite connection: credentials must not need it meanwhile.
    const r = JSON.parse(await ok(data, 'sync', 'Family', '--dry-run', '--json')) as { kind: string; spokes: { name: string; status: string; planned: unknown[] }[] };
    expect(r.kind).toBe('dry-run');
    expect(r.spokes.map((s) => [s.name, s.status])).toEqual([['alice', 'ok'], ['bob', 'ok'], ['folder', 'ok']]);
    expect(r.spokes.find((s) => s.name === 'folder')?.planned.length).toBeGreaterThan(0);
    expect([peopleInGoogle(ALICE), peopleInGoogle(BOB), await peopleIn(folder)]).toEqual(before);
  });

  it('converges; edits on each side merge; a deletion propagates; a re-sync is one call per Google spoke', async () => {
    await setup();
    await ok(data, 'sync', 'Family');
    await expectConverged();

    // A no-op re-sync: one People API call per Google spoke, nothing written.
    emu.counts.reset();
    const again = JSON.parse(await ok(data, 'sync', 'Family', '--json')) as { totals: Record<string, unknown> };
    expect(again.totals).toMatchObject({ hub: { created: 0, updated: 0, deleted: 0 }, spokes: { created: 0, updated: 0, deleted: 0 } });
    expect(emu.counts.byRoute).toEqual({ 'connections.list': 2 });

    // Alice adds a phone to a shared person in Google; the folder gives the same person a title.
    const target = emu.state.contactsOf(ALICE).find((p) => (p.emailAddresses ?? []).length === 1 && !p.organizations) ?? emu.state.contactsOf(ALICE)[0];
    const email = target?.emailAddresses?.[0]?.value?.toLowerCase() ?? '';
    const id = (target?.resourceName ?? '').slice('people/'.length);
    const rec = emu.state.current(user(ALICE), id);
    if (!rec) throw new Error('no target');
    emu.state.updateContact(user(ALICE), id, { etag: emu.state.etagOf(rec), phoneNumbers: [...(target?.phoneNumbers ?? []).map((p) => ({ value: p.value, type: p.type })), { value: '+33 1 40 00 00 99', type: 'home' }] }, ['phoneNumbers']);
    for (const [name, card] of await cardsIn(folder)) {
      if (!emailsOfCard(card).includes(email)) continue;
      const file = path.join(folder, name);
      const { readFile, writeFile } = await import('node:fs/promises');
      await writeFile(file, (await readFile(file, 'utf8')).replace('END:VCARD', 'TITLE:Harbour master\r\nEND:VCARD'));
    }
    await ok(data, 'sync', 'Family');
    for (const who of [ALICE, BOB]) {
      const p = emu.state.contactsOf(who).find((x) => (x.emailAddresses ?? []).some((e) => e.value?.toLowerCase() === email));
      expect(p?.organizations?.[0]?.title, who).toBe('Harbour master');
      expect((p?.phoneNumbers ?? []).map((x) => x.value), who).toContain('+33 1 40 00 00 99');
    }
    const inFolder = [...(await cardsIn(folder)).values()].find((c) => emailsOfCard(c).includes(email));
    expect(Object.values(inFolder?.phones ?? {}).map((p) => p.number)).toContain('+33 1 40 00 00 99');

    // Bob deletes someone in Google: gone from Alice's account and the folder.
    const victim = emu.state.contactsOf(BOB).at(-1);
    const victimEmail = victim?.emailAddresses?.[0]?.value?.toLowerCase() ?? '';
    emu.state.deleteContact(user(BOB), (victim?.resourceName ?? '').slice('people/'.length));
    await ok(data, 'sync', 'Family');
    expect(peopleInGoogle(ALICE).some((p) => p.includes(victimEmail))).toBe(false);
    expect((await peopleIn(folder)).some((p) => p.includes(victimEmail))).toBe(false);
    expect(await peopleIn(folder)).toHaveLength(EVERYONE - 1);
    expect(peopleInGoogle(ALICE)).toEqual(await peopleIn(folder));
  });

  it('an expired sync token mid-life causes no duplicate and no deletion', async () => {
    await setup();
    await ok(data, 'sync', 'Family');
    const before = await expectConverged();
    // An edit made while the token expires (seven days pass): it must still arrive.
    const p = emu.state.contactsOf(BOB)[0];
    const id = (p?.resourceName ?? '').slice('people/'.length);
    const rec = emu.state.current(user(BOB), id);
    if (!rec) throw new Error('no person');
    emu.state.updateContact(user(BOB), id, { etag: emu.state.etagOf(rec), nicknames: [{ value: 'Bobby' }] }, ['nicknames']);
    emu.state.expireSyncTokens();
    const summary = JSON.parse(await ok(data, 'sync', 'Family', '--json')) as { totals: { hub: Record<string, number>; spokes: Record<string, number> } };
    expect(summary.totals.hub).toMatchObject({ created: 0, deleted: 0 });
    expect(summary.totals.spokes).toMatchObject({ created: 0, deleted: 0 });
    expect(await expectConverged()).toEqual(before);
    const email = p?.emailAddresses?.[0]?.value?.toLowerCase() ?? '';
    expect(emu.state.contactsOf(ALICE).find((x) => x.emailAddresses?.some((e) => e.value?.toLowerCase() === email))?.nicknames?.[0]?.value).toBe('Bobby');
  });

  it('writes not yet visible in sync results (propagation delay) are not taken for edits, deletions or new people', async () => {
    await setup();
    // The emulator's clock is frozen and moved by hand; writes show in sync requests after 60 s.
    let t = Date.now() + 61_000;
    emu.state.now = () => t;
    emu.state.options.propagationDelayMs = 60_000;
    await ok(data, 'sync', 'Family');
    const before = await expectConverged();
    // The folder edits a person the hub created in both accounts (at t); the hub updates them at t + 10 s.
    t += 10_000;
    const name = [...(await cardsIn(folder)).entries()].find(([, c]) => emailsOfCard(c).includes('folder0@example.net'))?.[0] ?? '';
    const { readFile, writeFile } = await import('node:fs/promises');
    await writeFile(path.join(folder, name), (await readFile(path.join(folder, name), 'utf8')).replace('END:VCARD', 'TITLE:Lighthouse keeper\r\nEND:VCARD'));
    await ok(data, 'sync', 'Family');
    // Now the creates are visible to sync requests, the update not yet: the listings show the older version.
    t += 55_000;
    const quiet = JSON.parse(await ok(data, 'sync', 'Family', '--json')) as { totals: { hub: Record<string, number>; spokes: Record<string, number> } };
    expect(quiet.totals.hub).toMatchObject({ created: 0, updated: 0, deleted: 0 });
    expect(quiet.totals.spokes).toMatchObject({ created: 0, updated: 0, deleted: 0 });
    t += 10_000;
    await ok(data, 'sync', 'Family');
    expect(await expectConverged()).toEqual(before);
    for (const who of [ALICE, BOB]) {
      const p = emu.state.contactsOf(who).find((x) => x.emailAddresses?.some((e) => e.value === 'folder0@example.net'));
      expect(p?.organizations?.[0]?.title, who).toBe('Lighthouse keeper');
    }
    const back = [...(await cardsIn(folder)).values()].find((c) => emailsOfCard(c).includes('folder0@example.net'));
    expect(Object.values(back?.titles ?? {})[0]?.name).toBe('Lighthouse keeper');
  });

  it('a crash right after a batch create (the process killed) leaves no duplicate after the next sync', async () => {
    await setup();
    const child = runCliInChild(data, ['sync', 'Family']);
    let killed = false;
    emu.faults.onResponse = (route) => {
      if (route === 'people.batchCreateContacts' && !killed) {
        killed = true;
        child.process.kill('SIGKILL');
      }
    };
    const code = await child.exit;
    expect(killed).toBe(true);
    expect(code).not.toBe(0);
    emu.faults.onResponse = null;
    // The batch create happened: one of the accounts (pushes to both run at once) holds new
    // contacts, but the run that made them died before recording them.
    expect(emu.state.contactsOf(ALICE).length + emu.state.contactsOf(BOB).length).toBeGreaterThan(12 + 12);
    // The killed run still holds the hub's lease; it expires after 2 minutes. Stand for them passing.
    const store = await openStore({ kind: 'sqlite', file: path.join(data, 'hubsync.db') });
    try {
      await store.db.updateTable('leases').set({ expires_at: 0 }).execute();
    } finally {
      await store.close();
    }
    await ok(data, 'sync', 'Family');
    await ok(data, 'sync', 'Family');
    await expectConverged();
    expect(emu.state.contactsOf(ALICE)).toHaveLength(EVERYONE);
    expect(emu.state.contactsOf(BOB)).toHaveLength(EVERYONE);
  });

  it('quota 429s and 5xx at a 10% rate still converge, with no duplicates', async () => {
    // Small pages, so that a run makes enough requests for a 10% rate to bite often.
    await setup({ pageSize: 3 });
    emu.faults.errorRate = 0.1;
    let runs = 0;
    for (; runs < 12; runs++) {
      const r = await hubsync(data, 'sync', 'Family', '--json');
      const s = JSON.parse(r.out) as { status: string; totals: { hub: Record<string, number>; spokes: Record<string, number> } };
      const quiet = Object.values(s.totals.hub).every((n) => n === 0) && Object.values(s.totals.spokes).every((n) => n === 0);
      if (s.status === 'ok' && quiet && runs >= 6) break;
    }
    // Converged while the faults were still on; one more clean run changes nothing.
    emu.faults.errorRate = 0;
    const last = JSON.parse(await ok(data, 'sync', 'Family', '--json')) as { totals: { hub: Record<string, number>; spokes: Record<string, number> } };
    expect(last.totals.hub).toMatchObject({ created: 0, updated: 0, deleted: 0 });
    expect(last.totals.spokes).toMatchObject({ created: 0, updated: 0, deleted: 0 });
    await expectConverged();
    expect(emu.state.contactsOf(ALICE)).toHaveLength(EVERYONE);
    expect(emu.state.contactsOf(BOB)).toHaveLength(EVERYONE);
    // Both kinds of failure did happen, on reads and on writes.
    expect(emu.faults.injected[429]).toBeGreaterThan(0);
    expect((emu.faults.injected[500] ?? 0) + (emu.faults.injected[503] ?? 0)).toBeGreaterThan(0);
    expect(runs).toBeGreaterThan(0);
  });

  it('a revoked refresh token puts only that spoke into "needs sign-in" (shown by status); the others go on', async () => {
    await setup({ clients: true });
    await ok(data, 'sync', 'Family');
    emu.state.revokeUser(BOB);
    // Drop the cached access token as if it had expired.
    const store = await openStore({ kind: 'sqlite', file: path.join(data, 'hubsync.db') });
    try {
      await store.db.updateTable('accounts').set({ access_token: null, access_expires_at: null }).execute();
    } finally {
      await store.close();
    }
    await writeVcf(folder, 'new.vcf', makeVcard({ uid: 'new', given: 'Newcomer', surname: 'Late', emails: ['newcomer@example.net'] }));
    const r = await hubsync(data, 'sync', 'Family');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/bob.*needs sign-in/i);
    expect(peopleInGoogle(ALICE).some((p) => p.includes('newcomer@example.net'))).toBe(true);
    const status = JSON.parse(await ok(data, 'status', 'Family', '--json')) as { spokes: { name: string; state: string }[] };
    expect(Object.fromEntries(status.spokes.map((s) => [s.name, s.state]))).toEqual({ alice: 'ok', bob: 'needs-sign-in', folder: 'ok' });
    const accounts = JSON.parse(await ok(data, 'account', 'list', '--json')) as { name: string; state: string }[];
    expect(accounts.find((a) => a.name === BOB)?.state).toBe('needs-sign-in');
  });

  it('the interval of a Google spoke\'s full listings is set per spoke, stored, and checked', async () => {
    await setup();
    expect(await ok(data, 'spoke', 'set', 'Family', 'alice', '--full-listing-hours', '6')).toMatch(/listed in full every 6 h/);
    const status = JSON.parse(await ok(data, 'status', 'Family', '--json')) as { spokes: { name: string; sync: string }[] };
    expect(status.spokes.map((s) => [s.name, /listed in full every 6 h/.test(s.sync)])).toEqual([
      ['alice', true],
      ['bob', false],
      ['folder', false],
    ]);
    const store = await openStore({ kind: 'sqlite', file: path.join(data, 'hubsync.db') });
    try {
      const rows = await store.db.selectFrom('spokes').select(['name', 'options']).execute();
      const hours = Object.fromEntries(rows.map((r) => [r.name, (JSON.parse(r.options) as { fullListingHours: number }).fullListingHours]));
      expect(hours).toEqual({ alice: 6, bob: 24, folder: 24 });
    } finally {
      await store.close();
    }
    for (const bad of ['0', '1.5', 'daily', '721']) {
      const r = await hubsync(data, 'spoke', 'set', 'Family', 'alice', '--full-listing-hours', bad);
      expect(r.code).toBe(2);
      expect(r.err).toContain(`Invalid --full-listing-hours "${bad}"`);
    }
  });

  it('a rich vCard goes to Google and back with every field Google can store, and then stays quiet', async () => {
    await setup();
    const jpeg = Buffer.from('ffd8ffe000104a46494600010100000100010000ffd9', 'hex').toString('base64');
    const lines = [
      'BEGIN:VCARD',
      'VERSION:3.0',
      'UID:rich',
      'FN:Dr. Marie Curie',
      'N:Curie;Marie;Salomea;Dr.;PhD',
      'NICKNAME:Manya',
      'EMAIL;TYPE=INTERNET,WORK,PREF:marie@radium.example',
      'EMAIL;TYPE=HOME:manya@home.example',
      'TEL;TYPE=CELL:+33 6 11 22 33 44',
      'TEL;TYPE=WORK,FAX:+33 1 44 27 00 00',
      'TEL;TYPE=HOME,VOICE:+33 1 43 00 00 00',
      'ADR;TYPE=WORK:;;1 rue Pierre et Marie Curie;Paris;;75005;France',
      'URL;TYPE=WORK:https://radium.example/curie',
      'ORG:Institut du Radium;Laboratoire Curie',
      'TITLE:Directrice',
      'BDAY:1867-11-07',
      'NOTE:Two Nobel prizes.\\nPhysics and chemistry.',
      'CATEGORIES:Science,Nobel',
      `PHOTO;ENCODING=b;TYPE=JPEG:${jpeg}`,
      'X-HOBBY:cycling',
      'END:VCARD',
    ];
    await writeVcf(folder, 'rich.vcf', lines.map((l) => `${l}\r\n`).join(''));
    await ok(data, 'sync', 'Family');
    const marie = emu.state.contactsOf(ALICE).find((p) => p.emailAddresses?.some((e) => e.value === 'marie@radium.example'));
    expect(marie?.names?.[0]).toMatchObject({ givenName: 'Marie', familyName: 'Curie', middleName: 'Salomea', honorificPrefix: 'Dr.', honorificSuffix: 'PhD', unstructuredName: 'Dr. Marie Curie' });
    expect(marie?.organizations?.[0]).toMatchObject({ name: 'Institut du Radium', department: 'Laboratoire Curie', title: 'Directrice' });
    expect(marie?.birthdays?.[0]?.date).toEqual({ year: 1867, month: 11, day: 7 });
    expect((marie?.phoneNumbers ?? []).map((p) => p.type).sort()).toEqual(['home voice', 'mobile', 'workFax']);
    expect(marie?.photos?.[0]?.default).toBeUndefined();
    const groups = new Map([...user(ALICE).groups.values()].map((g) => [`contactGroups/${g.id}`, g.name]));
    expect((marie?.memberships ?? []).map((m) => groups.get(m.contactGroupMembership?.contactGroupResourceName ?? '')).sort()).toEqual(['Nobel', 'Science', 'myContacts']);
    // Bob got it too, and nothing differs any more: two quiet runs.
    expect(peopleInGoogle(BOB)).toContain('manya@home.example,marie@radium.example');
    for (let i = 0; i < 2; i++) {
      const s = JSON.parse(await ok(data, 'sync', 'Family', '--json')) as { totals: { hub: Record<string, number>; spokes: Record<string, number> } };
      expect(s.totals.hub).toMatchObject({ created: 0, updated: 0, deleted: 0 });
      expect(s.totals.spokes).toMatchObject({ created: 0, updated: 0, deleted: 0 });
    }
    const back = [...(await cardsIn(folder)).entries()].find(([n]) => n === 'rich.vcf')?.[1];
    expect(Object.values(back?.media ?? {})[0]?.uri).toContain(jpeg.slice(0, 12));
  });

  it('bad data from Google is reported per item; the rest of the sync goes on', async () => {
    await setup();
    const alice = user(ALICE);
    emu.state.createContact(alice, { emailAddresses: [{ value: 'nameless@example.org' }] });
    emu.state.createContact(alice, { names: [{ givenName: 'Verbose' }], emailAddresses: [{ value: 'verbose@example.org' }], biographies: [{ value: 'x'.repeat(10_000) }] });
    emu.state.createContact(alice, { names: [{ givenName: 'Typo' }], emailAddresses: [{ value: 'typo at example.org' }] });
    const broken = emu.state.createContact(alice, cardToPerson({ '@type': 'Card', version: '1.0', uid: 'b', name: { components: [{ kind: 'given', value: 'Broken' }] } }, []));
    (emu.state.latest(broken).person as Record<string, unknown>).emailAddresses = 'oops';
    const r = await hubsync(data, 'sync', 'Family');
    expect(r.out).toContain(`people/${broken.id}`);
    expect(r.out).toMatch(/emailAddresses/);
    const folderPeople = await peopleIn(folder);
    expect(folderPeople).toEqual(expect.arrayContaining(['nameless@example.org', 'verbose@example.org', 'typo at example.org']));
    const verbose = [...(await cardsIn(folder)).values()].find((c) => emailsOfCard(c).includes('verbose@example.org'));
    expect(Object.values(verbose?.notes ?? {})[0]?.note).toHaveLength(10_000);
    expect(peopleInGoogle(BOB)).toEqual(expect.arrayContaining(['nameless@example.org', 'verbose@example.org', 'typo at example.org']));
  });
});

/** `hubsync` in a child process (from the TypeScript sources), so that a test can kill it. */
function runCliInChild(dataDir: string, args: string[]): { process: ChildProcess; exit: Promise<number | null> } {
  const code = "const { main } = await import('./src/cli/main.ts'); process.exitCode = await main(JSON.parse(process.env.HUBSYNC_TEST_ARGS));";
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    cwd: path.resolve(import.meta.dirname, '../..'),
    env: { ...process.env, HUBSYNC_TEST_ARGS: JSON.stringify(['--data-dir', dataDir, ...args]) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exit = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  return { process: child, exit };
}
