/**
 * End to end through the CLI: a Radicale address book, a Xandikos address book and a vCard folder
 * in one hub, on real servers started for this file.
 */
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openApp } from '../../src/cli/app.js';
import { cardToFields } from '../../src/model/card-fields.js';
import type { Card } from '../../src/model/card.js';
import { hashFields } from '../../src/model/fields.js';
import { parseVCard } from '../../src/model/vcard.js';
import { cardsIn, emailsOfCard, hubsync, ok, peopleIn } from '../cli/cli-helpers.js';
import { DavUser, makeAddressBook, startRadicale, startXandikos, type DavServer } from '../support/dav-servers.js';
import { makeTempVdir, makeVcard, writeVcf } from '../support/vdir.js';

const ALICE = { username: 'alice', password: 'alice-secret-pw' };
let radicale: DavServer;
let xandikos: DavServer;
let n = 0;

let root: { dir: string; cleanup(): Promise<void> };
let data: string;
let folder: string;
let rad: DavUser;
let xan: DavUser;
let pwFile: string;

beforeAll(async () => {
  [radicale, xandikos] = await Promise.all([startRadicale({ alice: ALICE.password }), startXandikos()]);
});
afterAll(async () => {
  await Promise.all([radicale?.stop(), xandikos?.stop()]);
});

beforeEach(async () => {
  n += 1;
  root = await makeTempVdir('hubsync-carddav-e2e-');
  data = path.join(root.dir, 'data');
  folder = path.join(root.dir, 'folder');
  await mkdir(folder);
  pwFile = path.join(root.dir, 'pw');
  await writeFile(pwFile, `${ALICE.password}\n`, { mode: 0o600 });
  // Two address books on Radicale, so discovery from the bare server URL must choose.
  await makeAddressBook(`${radicale.home('alice')}other-${n}/`, ALICE, `Other ${n}`);
  rad = new DavUser(await makeAddressBook(`${radicale.home('alice')}family-${n}/`, ALICE, `Family ${n}`), ALICE);
  xan = new DavUser(await makeAddressBook(`${xandikos.home('user')}family-${n}/`, null), null);
});
afterEach(async () => {
  await root.cleanup();
});

/** Adds the three spokes: Radicale by discovery from its root URL, Xandikos by its collection URL. */
async function threeSpokes(): Promise<void> {
  await ok(data, 'hub', 'create', 'Family', '--object', 'contacts');
  const env = process.env;
  env.HUBSYNC_TEST_XANDIKOS_PW = 'not-checked-by-xandikos';
  const outs = [
    await ok(data, 'spoke', 'add', 'Family', 'radicale', '--type', 'carddav', '--url', radicale.url, '--username', 'alice', '--password-file', pwFile, '--address-book', `Family ${n}`, '--allow-create'),
    await ok(data, 'spoke', 'add', 'Family', 'xandikos', '--type', 'carddav', '--url', xan.book, '--username', 'carol', '--password-env', 'HUBSYNC_TEST_XANDIKOS_PW', '--allow-create', '--vcard-version', '4.0'),
    await ok(data, 'spoke', 'add', 'Family', 'folder', '--type', 'vdir', '--path', folder, '--allow-create'),
  ];
  for (const o of outs) expect(o).not.toContain(ALICE.password);
  // The password is sealed at rest: no file of the data folder holds it in clear.
  for (const f of await readdir(data, { recursive: true })) {
    const p = path.join(data, f);
    const buf = await readFile(p).catch(() => null);
    if (buf) expect(buf.includes(Buffer.from(ALICE.password)), `${f} holds the password in clear`).toBe(false);
  }
}

async function cardsOn(u: DavUser): Promise<Map<string, Card>> {
  const out = new Map<string, Card>();
  for (const name of await u.list()) {
    const got = await u.get(name);
    if (got) out.set(name, parseVCard(got.text).card);
  }
  return out;
}

async function peopleOn(u: DavUser): Promise<string[]> {
  return [...(await cardsOn(u)).values()].map((c) => emailsOfCard(c).join(',')).sort();
}

async function nameWith(u: DavUser, email: string): Promise<string> {
  for (const [name, c] of await cardsOn(u)) if (emailsOfCard(c).includes(email)) return name;
  throw new Error(`${email} not in ${u.book}`);
}

const person = (i: number, uid: string) => makeVcard({ uid, given: `Given${i}`, surname: `Family${i}`, emails: [`person${i}@example.com`] });

/** Overlapping people: Radicale 0-5, Xandikos 3-8, folder 6-11. */
async function seed(): Promise<void> {
  for (let i = 0; i < 6; i++) await rad.put(`r${i}.vcf`, person(i, `r${i}`));
  for (let i = 3; i < 9; i++) await xan.put(`x${i}.vcf`, person(i, `x${i}`));
  for (let i = 6; i < 12; i++) await writeVcf(folder, `f${i}.vcf`, person(i, `f${i}`));
}

const everyone = Array.from({ length: 12 }, (_, i) => `person${i}@example.com`).sort();

// Cards other tools write, with what breaks naive sync: a photo, Apple groups, folded lines,
// non-ASCII text, vCard 3.0 and 4.0.
const PHOTO = 'iVBORw0KGgoAAAANSUhEUgAAABAAAAAQCAYAAAAf8/9hAAAAMElEQVR42mNkYPhfz0AEYBxVSF+FjIyM/6kUMjIy/idTyMjIyEilkJGRkZGRkZERAK6gE/1k1lq8AAAAAElFTkSuQmCC';
const FIXTURES: Record<string, string> = {
  'photo30.vcf': [
    'BEGIN:VCARD', 'VERSION:3.0', 'UID:fixture-photo', 'FN:Zoë Ærøskøbing', 'N:Ærøskøbing;Zoë;;;',
    'EMAIL;TYPE=INTERNET,HOME:zoe@example.org',
    `PHOTO;ENCODING=b;TYPE=PNG:${PHOTO.slice(0, 40)}`, ...chunks(PHOTO.slice(40), 74).map((c) => ` ${c}`),
    'X-CUSTOM-THING:kept as it is', 'END:VCARD', '',
  ].join('\r\n'),
  'grouped30.vcf': [
    'BEGIN:VCARD', 'VERSION:3.0', 'UID:fixture-grouped', 'FN:Jean-Éric Dupont', 'N:Dupont;Jean-Éric;;;',
    'item1.EMAIL;TYPE=INTERNET:jean-eric@example.fr', 'item1.X-ABLabel:_$!<Other>!$_',
    'item2.TEL:+33 1 23 45 67 89', 'item2.X-ABLabel:Standard',
    'NOTE:Une note assez longue pour être pliée sur plusieurs lignes\\, avec des accents é',
    ' à ç ù et un idéogramme 日本語 au milieu.', 'END:VCARD', '',
  ].join('\r\n'),
  'v40.vcf': [
    'BEGIN:VCARD', 'VERSION:4.0', 'UID:urn:uuid:8f6c7e4e-2b4e-4f0e-9d1e-0c8f4b6a1a11', 'FN:山田 太郎', 'N:山田;太郎;;;',
    'EMAIL;TYPE=work:taro@example.jp', 'TEL;VALUE=uri;TYPE=cell:tel:+81-90-1234-5678', 'ORG:株式会社例',
    'BDAY:19800102', 'X-SOCIALPROFILE;TYPE=twitter:https://twitter.com/example', 'END:VCARD', '',
  ].join('\r\n'),
};

function chunks(s: string, size: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < s.length; i += size) out.push(s.slice(i, i + size));
  return out;
}

function fieldsHash(c: Card): string {
  return hashFields(cardToFields(c, { defaultRegion: 'US' }));
}

describe('hubsync CLI with CardDAV spokes on Radicale and Xandikos', () => {
  it('a Radicale address book, a Xandikos address book and a vCard folder converge, and a second sync writes nothing', async () => {
    await seed();
    await threeSpokes();
    const first = JSON.parse(await ok(data, 'sync', 'Family', '--json')) as { status: string };
    expect(first.status).toBe('ok');
    expect(await peopleOn(rad)).toEqual(everyone);
    expect(await peopleOn(xan)).toEqual(everyone);
    expect(await peopleIn(folder)).toEqual(everyone);
    // Radicale rewrites what it stores (test-servers.md §2.2.1); that must not make the next run
    // write again.
    const summary = JSON.parse(await ok(data, 'sync', 'Family', '--json')) as { totals: Record<string, unknown> };
    const none = { created: 0, updated: 0, deleted: 0 };
    expect(summary.totals).toMatchObject({ hub: none, spokes: none, conflicts: 0, held: 0 });
  });

  it('edits of different fields on Radicale and on Xandikos merge everywhere', async () => {
    await seed();
    await threeSpokes();
    await ok(data, 'sync', 'Family');
    const r = await nameWith(rad, 'person4@example.com');
    const x = await nameWith(xan, 'person4@example.com');
    const rv = (await rad.get(r))!;
    await rad.put(r, rv.text.replace(/END:VCARD\s*$/, 'TEL;TYPE=HOME:+33 1 40 00 00 04\r\nEND:VCARD\r\n'), rv.etag ?? undefined);
    const xv = (await xan.get(x))!;
    await xan.put(x, xv.text.replace(/END:VCARD\s*$/, 'TITLE:Chief Fourth Officer\r\nEND:VCARD\r\n'), xv.etag ?? undefined);
    await ok(data, 'sync', 'Family');
    const check = (c: Card | undefined) => {
      expect(Object.values(c?.phones ?? {}).map((p) => p.number.replace(/\s/g, ''))).toContain('+33140000004');
      expect(Object.values(c?.titles ?? {}).map((t) => t.name)).toContain('Chief Fourth Officer');
    };
    check((await cardsOn(rad)).get(r));
    check((await cardsOn(xan)).get(x));
    const [, inFolder] = [...(await cardsIn(folder))].find(([, c]) => emailsOfCard(c).includes('person4@example.com'))!;
    check(inFolder);
    const again = JSON.parse(await ok(data, 'sync', 'Family', '--json')) as { totals: { spokes: Record<string, number> } };
    expect(again.totals.spokes).toEqual({ created: 0, updated: 0, deleted: 0 });
  });

  it('a deletion on Xandikos propagates to Radicale and the folder', async () => {
    await seed();
    await threeSpokes();
    await ok(data, 'sync', 'Family');
    await xan.delete(await nameWith(xan, 'person5@example.com'));
    await ok(data, 'sync', 'Family');
    const expected = everyone.filter((e) => e !== 'person5@example.com');
    expect(await peopleOn(rad)).toEqual(expected);
    expect(await peopleOn(xan)).toEqual(expected);
    expect(await peopleIn(folder)).toEqual(expected);
  });

  it('a mass deletion on Radicale is held: nothing is deleted elsewhere until confirmed', async () => {
    await seed();
    await threeSpokes();
    await ok(data, 'sync', 'Family');
    const names = await rad.list();
    // 11 of 12: more than the budget of max(10, 20%) deletions per run (src/engine/plan/gates.ts).
    for (const name of names.slice(0, 11)) await rad.delete(name);
    const r = await hubsync(data, 'sync', 'Family');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/11 deletions held/);
    expect(await peopleOn(xan)).toEqual(everyone);
    expect(await peopleIn(folder)).toEqual(everyone);
    await ok(data, 'held', 'Family', '--confirm-all');
    await ok(data, 'sync', 'Family');
    expect(await peopleOn(xan)).toHaveLength(1);
    expect(await peopleIn(folder)).toHaveLength(1);
    expect(await peopleOn(rad)).toHaveLength(1);
  });

  it('vCards with a photo, Apple groups, folded lines, non-ASCII text, 3.0 and 4.0 survive unchanged where nobody edited them', async () => {
    for (const [name, text] of Object.entries(FIXTURES)) await rad.put(name, text);
    const before = new Map<string, { text: string; etag: string | null }>();
    for (const name of Object.keys(FIXTURES)) before.set(name, (await rad.get(name))!);
    await threeSpokes();
    await ok(data, 'sync', 'Family');
    await ok(data, 'sync', 'Family');
    // The originals were not rewritten (same bytes, same etag).
    for (const name of Object.keys(FIXTURES)) expect(await rad.get(name)).toEqual(before.get(name));
    // The copies hold the same contact, field for field.
    const originals = [...before.values()].map((v) => fieldsHash(parseVCard(v.text).card)).sort();
    expect([...(await cardsOn(xan)).values()].map(fieldsHash).sort()).toEqual(originals);
    expect([...(await cardsIn(folder)).values()].map(fieldsHash).sort()).toEqual(originals);
    const photoCopy = [...(await cardsOn(xan)).values()].find((c) => emailsOfCard(c).includes('zoe@example.org'));
    expect(Object.values(photoCopy?.media ?? {})[0]?.uri).toContain(PHOTO.slice(-20));

    // Someone edits the note of the photo card in the folder: on Radicale only NOTE changes; the
    // photo, the X- property and every other line keep their text.
    const [fname] = [...(await cardsIn(folder))].find(([, c]) => emailsOfCard(c).includes('zoe@example.org'))!;
    const ftext = await readFile(path.join(folder, fname), 'utf8');
    await writeFile(path.join(folder, fname), ftext.replace(/END:VCARD\s*$/, 'NOTE:met at the café\r\nEND:VCARD\r\n'));
    await ok(data, 'sync', 'Family');
    const after = (await rad.get('photo30.vcf'))!.text;
    const unfold = (t: string) => t.replace(/\r?\n[ \t]/g, '').split(/\r?\n/).filter((l) => l !== '');
    const was = unfold(before.get('photo30.vcf')!.text);
    const now = unfold(after);
    expect(now.filter((l) => !/^(NOTE|REV)[;:]/i.test(l))).toEqual(was.filter((l) => !/^(NOTE|REV)[;:]/i.test(l)));
    expect(now).toContain('NOTE:met at the café');
  });

  it('a card moved to another href on the server (same content) makes no duplicate, no deletion and no loop', async () => {
    await seed();
    await threeSpokes();
    await ok(data, 'sync', 'Family');
    // Another client (or the server) moves person 3's card on Xandikos: same bytes, new href
    // (vdirsyncer test_moved_href; pimutils/vdirsyncer#1223).
    const from = await nameWith(xan, 'person3@example.com');
    const text = (await xan.get(from))!.text;
    await xan.put('moved-elsewhere.vcf', text);
    await xan.delete(from);
    const first = JSON.parse(await ok(data, 'sync', 'Family', '--json')) as { totals: { spokes: Record<string, number>; held: number } };
    expect(first.totals.held).toBe(0);
    expect(await peopleOn(rad)).toEqual(everyone);
    expect(await peopleOn(xan)).toEqual(everyone);
    expect(await peopleIn(folder)).toEqual(everyone);
    const again = JSON.parse(await ok(data, 'sync', 'Family', '--json')) as { totals: { spokes: Record<string, number>; hub: Record<string, number> } };
    expect(again.totals.spokes).toEqual({ created: 0, updated: 0, deleted: 0 });
    expect(again.totals.hub).toEqual({ created: 0, updated: 0, deleted: 0 });
  });

  it('a sync token the server no longer accepts leads to a full listing: no duplicates, no deletions', async () => {
    await seed();
    await threeSpokes();
    await ok(data, 'sync', 'Family');
    const app = await openApp({ dataDir: data });
    try {
      const spokes = await app.store.db.selectFrom('spokes').select(['id', 'name', 'cursor']).execute();
      for (const s of spokes) {
        if (s.name === 'folder' || s.cursor === null) continue;
        const c = JSON.parse(s.cursor) as { b: string; t: string };
        await app.store.db.updateTable('spokes').set({ cursor: JSON.stringify({ ...c, t: `${c.t}-expired` }) }).where('id', '=', s.id).execute();
      }
    } finally {
      await app.close();
    }
    const summary = JSON.parse(await ok(data, 'sync', 'Family', '--json')) as { totals: Record<string, unknown>; spokes: { name: string; pulled: { fullListing: boolean } }[] };
    expect(summary.totals).toMatchObject({ hub: { created: 0, updated: 0, deleted: 0 }, spokes: { created: 0, updated: 0, deleted: 0 }, held: 0 });
    for (const s of summary.spokes) expect(s.pulled.fullListing).toBe(true);
    expect(await peopleOn(rad)).toEqual(everyone);
    expect(await peopleOn(xan)).toEqual(everyone);
    expect((await rad.list()).length).toBe(12);
    expect((await xan.list()).length).toBe(12);
  });

  it('a wrong password: spoke add refuses and stores nothing; a changed password stops only that spoke, until spoke set stores the new one', async () => {
    await ok(data, 'hub', 'create', 'Family', '--object', 'contacts');
    await writeFile(pwFile, 'wrong-password\n');
    const bad = await hubsync(data, 'spoke', 'add', 'Family', 'radicale', '--type', 'carddav', '--url', rad.book, '--username', 'alice', '--password-file', pwFile);
    expect(bad.code).not.toBe(0);
    expect(bad.err + bad.out).toMatch(/username or password/);
    expect(bad.err + bad.out).not.toContain('wrong-password');
    expect(await ok(data, 'account', 'list')).not.toContain('alice@');

    await writeFile(pwFile, `${ALICE.password}\n`);
    await seed();
    await ok(data, 'spoke', 'add', 'Family', 'radicale', '--type', 'carddav', '--url', rad.book, '--username', 'alice', '--password-file', pwFile, '--allow-create');
    await ok(data, 'spoke', 'add', 'Family', 'folder', '--type', 'vdir', '--path', folder, '--allow-create');
    await ok(data, 'sync', 'Family');
    // The password is changed on the server side: the hub's copy is now wrong.
    await writeFile(path.join(radicale.storage, 'users'), `alice:${ALICE.password}-rotated\n`);
    await writeVcf(folder, 'late.vcf', person(50, 'late'));
    const r = await hubsync(data, 'sync', 'Family', '--json');
    const s = JSON.parse(r.out) as { spokes: { name: string; status: string; error?: string | null }[] };
    const byName = new Map(s.spokes.map((x) => [x.name, x]));
    expect(byName.get('radicale')?.status).toBe('needs-sign-in');
    expect(byName.get('radicale')?.error).toMatch(/username or password/);
    expect(byName.get('folder')?.status).toBe('ok');
    expect(r.out + r.err).not.toContain(ALICE.password);
    // The user stores the new password: the spoke syncs again, with its links kept.
    await writeFile(pwFile, `${ALICE.password}-rotated\n`);
    expect(await ok(data, 'spoke', 'set', 'Family', 'radicale', '--password-file', pwFile)).toMatch(/new password for alice@/);
    const fixed = JSON.parse(await ok(data, 'sync', 'Family', '--json')) as { spokes: { name: string; status: string }[]; totals: { spokes: Record<string, number> } };
    expect(fixed.spokes.map((x) => x.status)).toEqual(['ok', 'ok']);
    expect(fixed.totals.spokes).toEqual({ created: 1, updated: 0, deleted: 0 });
    await writeFile(path.join(radicale.storage, 'users'), `alice:${ALICE.password}\n`);
    expect((await peopleOn(rad)).filter((e) => e === 'person50@example.com')).toHaveLength(1);
  });
});
