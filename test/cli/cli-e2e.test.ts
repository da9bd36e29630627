/**
 * The CLI end to end on real folders: what a person does with `hubsync`, checked in the files.
 */
import { mkdir, readdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cardToFields } from '../../src/model/card-fields.js';
import { stableStringify, type Fields } from '../../src/model/fields.js';
import { parseVCard } from '../../src/model/vcard.js';
import { openStore } from '../../src/store/open.js';
import { makeTempVdir, makeVcard, writeVcf } from '../support/vdir.js';
import { cardsIn, emailsOfCard, hubsync, ok, peopleIn } from './cli-helpers.js';

let root: { dir: string; cleanup(): Promise<void> };
let data: string;
let a: string;
let b: string;
let c: string;

const person = (i: number, extra: Partial<Parameters<typeof makeVcard>[0]> = {}) =>
  makeVcard({ uid: `p${i}-${extra.uid ?? 'x'}`, given: `Given${i}`, surname: `Family${i}`, emails: [`person${i}@example.com`], phones: [`+33 6 12 34 ${String(i).padStart(2, '0')} 00`], ...extra });

async function threeFolders(): Promise<void> {
  // Overlapping people, as three devices never synced before would hold them: same people,
  // different UIDs and file names; A: 0-9, B: 5-14, C: 10-19.
  for (let i = 0; i < 10; i++) await writeVcf(a, `a${i}.vcf`, person(i, { uid: `a${i}` }));
  for (let i = 5; i < 15; i++) await writeVcf(b, `b${i}.vcf`, person(i, { uid: `b${i}` }));
  for (let i = 10; i < 20; i++) await writeVcf(c, `c${i}.vcf`, person(i, { uid: `c${i}` }));
  await ok(data, 'hub', 'create', 'Family', '--object', 'contacts');
  for (const [name, dir] of [['a', a], ['b', b], ['c', c]] as const) {
    await ok(data, 'spoke', 'add', 'Family', name, '--type', 'vdir', '--path', dir, '--allow-create', '--region', 'FR');
  }
}

beforeEach(async () => {
  root = await makeTempVdir('hubsync-cli-');
  data = path.join(root.dir, 'data');
  a = path.join(root.dir, 'a');
  b = path.join(root.dir, 'b');
  c = path.join(root.dir, 'c');
  for (const d of [a, b, c]) await mkdir(d);
});
afterEach(async () => {
  await root.cleanup();
});

describe('hubsync CLI on vCard folders', () => {
  it('makes three overlapping folders converge, each person once in each folder', async () => {
    await threeFolders();
    const out = await ok(data, 'sync', 'Family');
    expect(out).toMatch(/Synced hub "Family"/);
    const expected = Array.from({ length: 20 }, (_, i) => `person${i}@example.com`).sort();
    for (const dir of [a, b, c]) expect(await peopleIn(dir)).toEqual(expected);
    const status = JSON.parse(await ok(data, 'status', 'Family', '--json')) as { contacts: number; spokes: { contacts: number; state: string }[] };
    expect(status.contacts).toBe(20);
    expect(status.spokes.map((s) => [s.contacts, s.state])).toEqual([[20, 'ok'], [20, 'ok'], [20, 'ok']]);
  });

  it('lists and finds the hub\'s contacts by name, e-mail or company, in any case', async () => {
    await threeFolders();
    await writeVcf(a, 'acme.vcf', makeVcard({ uid: 'acme-1', given: 'Zoë', surname: 'Quint', emails: ['zq@acme.example'], extra: ['ORG:Acme Widgets'] }));
    await ok(data, 'sync', 'Family');
    const find = async (text: string) => (JSON.parse(await ok(data, 'contacts', 'Family', '--search', text, '--json')) as { label: string }[]).map((c) => c.label);
    expect(await find('zoë')).toEqual([expect.stringContaining('Zoë Quint')]);
    expect(await find('ACME WIDGETS')).toEqual([expect.stringContaining('Zoë Quint')]);
    expect(await find('person7@example')).toEqual([expect.stringContaining('Given7 Family7')]);
    expect(await find('nobody-has-this')).toEqual([]);
    expect(await find('Family1')).toHaveLength(11);
    expect(JSON.parse(await ok(data, 'contacts', 'Family', '--json'))).toHaveLength(21);
  });

  it('a second sync right after writes nothing', async () => {
    await threeFolders();
    await ok(data, 'sync', 'Family');
    const before = await snapshot([a, b, c]);
    const summary = JSON.parse(await ok(data, 'sync', 'Family', '--json')) as { totals: Record<string, unknown> };
    const none = { created: 0, updated: 0, deleted: 0 };
    expect(summary.totals).toMatchObject({ hub: none, spokes: none, conflicts: 0, held: 0 });
    expect(await snapshot([a, b, c])).toEqual(before);
  });

  it('keeps as merge base of every file it creates what that file reads back as', async () => {
    // Real-world files (Apple, Nextcloud, Android 2.1, Outlook 2.1, photos, labels, odd types) and
    // plain ones, synced into two empty folders of other regions and vCard versions: the hub skips
    // parsing the files it writes when the vCard holds the contact whole (vcardHolds), and the base
    // it keeps must then be exactly what a read of the file gives, or a later edit would be merged
    // against the wrong base.
    const fixtures = new URL('../fixtures/vcards/', import.meta.url);
    for (const name of await readdir(fixtures)) await writeFile(path.join(a, name), await readFile(new URL(name, fixtures)));
    for (let i = 0; i < 5; i++) await writeVcf(a, `p${i}.vcf`, person(i, { uid: `a${i}` }));
    await writeVcf(a, 'national.vcf', makeVcard({ uid: 'n1', given: 'Nora', surname: 'Natl', phones: ['06 12 34 56 78'] }));
    await ok(data, 'hub', 'create', 'Family', '--object', 'contacts');
    await ok(data, 'spoke', 'add', 'Family', 'a', '--type', 'vdir', '--path', a, '--region', 'FR');
    await ok(data, 'spoke', 'add', 'Family', 'b', '--type', 'vdir', '--path', b, '--allow-create', '--region', 'US');
    await ok(data, 'spoke', 'add', 'Family', 'c', '--type', 'vdir', '--path', c, '--allow-create', '--region', 'DE', '--vcard-version', '4.0');
    await ok(data, 'sync', 'Family');

    const store = await openStore({ kind: 'sqlite', file: path.join(data, 'hubsync.db') });
    try {
      for (const [name, dir, region] of [['b', b, 'US'], ['c', c, 'DE']] as const) {
        const links = await store.db
          .selectFrom('links')
          .innerJoin('spokes', 'spokes.id', 'links.spoke_id')
          .select(['links.remote_id', 'links.base'])
          .where('spokes.name', '=', name)
          .execute();
        expect(links.length).toBeGreaterThanOrEqual(12);
        for (const l of links) {
          const onDisk = cardToFields(parseVCard(await readFile(path.join(dir, l.remote_id), 'utf8')).card, { defaultRegion: region });
          expect(stableStringify(JSON.parse(l.base) as Fields), `${name}/${l.remote_id}`).toBe(stableStringify(onDisk));
        }
      }
    } finally {
      await store.close();
    }
  });

  it('merges different fields edited in two folders', async () => {
    await threeFolders();
    await ok(data, 'sync', 'Family');
    // Person 7 is in every folder now. In A, a new phone number; in B, a new e-mail and a title.
    const fileIn = async (dir: string, email: string) => {
      for (const [name, card] of await cardsIn(dir)) if (emailsOfCard(card).includes(email)) return path.join(dir, name);
      throw new Error(`${email} not in ${dir}`);
    };
    const fa = await fileIn(a, 'person7@example.com');
    const fb = await fileIn(b, 'person7@example.com');
    await writeFile(fa, (await readFile(fa, 'utf8')).replace('END:VCARD', 'TEL;TYPE=HOME:+33 1 40 00 00 07\r\nEND:VCARD'));
    await writeFile(fb, (await readFile(fb, 'utf8')).replace('END:VCARD', 'EMAIL;TYPE=WORK:seven@work.example\r\nTITLE:Chief Seventh Officer\r\nEND:VCARD'));
    await ok(data, 'sync', 'Family');
    for (const dir of [a, b, c]) {
      const f = await fileIn(dir, 'person7@example.com');
      const text = await readFile(f, 'utf8');
      expect(text).toMatch(/seven@work\.example/);
      expect(text).toMatch(/Chief Seventh Officer/);
      expect(text.replace(/[\s-]/g, '')).toMatch(/\+33140000007/);
    }
    const conflicts = JSON.parse(await ok(data, 'conflicts', 'Family', '--json')) as unknown[];
    expect(conflicts).toEqual([]);
  });

  it('lists a conflict over a long note on one line, cut short, with the full values in --json', async () => {
    await threeFolders();
    await ok(data, 'sync', 'Family');
    const note = (who: string) => `${who} wrote this.\\nSecond paragraph: ${'lorem ipsum dolor sit amet '.repeat(20).trimEnd()}`;
    for (const [dir, who] of [[a, 'Ann'], [b, 'Bob']] as const) {
      for (const [name, card] of await cardsIn(dir)) {
        if (!emailsOfCard(card).includes('person7@example.com')) continue;
        const f = path.join(dir, name);
        await writeFile(f, (await readFile(f, 'utf8')).replace('END:VCARD', `NOTE:${note(who)}\r\nEND:VCARD`));
      }
    }
    await ok(data, 'sync', 'Family');
    const lines = (await ok(data, 'conflicts', 'Family')).trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^ID +CONTACT +FIELD +KEPT +FROM +LOST +FROM$/);
    expect(lines[1]).toMatch(/ note +(Ann|Bob) wrote this\.⏎Second paragraph: lorem ipsum[^⏎]*… +[ab] +(Ann|Bob) wrote this\.⏎Second.*… +[ab]$/);
    expect(lines[1]?.length).toBeLessThan(250);
    expect(lines[2]).toBe('Long values are cut short here (…); every value in full: hubsync conflicts "Family" --json');
    const [conflict] = JSON.parse(await ok(data, 'conflicts', 'Family', '--json')) as { kept: string; lost: string }[];
    expect([conflict?.kept, conflict?.lost].sort()).toEqual([note('Ann'), note('Bob')].map((n) => n.replace('\\n', '\n')));
    // A spoke removed since: its value stays, said to come from a removed spoke (not by its id).
    await ok(data, 'spoke', 'remove', 'Family', 'b');
    const after = (await ok(data, 'conflicts', 'Family')).trimEnd().split('\n');
    expect(after[1]).toMatch(/ a +(Ann|Bob) .*\(removed spoke\)$|\(removed spoke\) +(Ann|Bob) .* a$/);
  });

  it('an export holding many contacts is read as its first, says how to split it, and split-vcards brings them all in', async () => {
    const card = (uid: string | null, fn: string, email: string) =>
      ['BEGIN:VCARD', 'VERSION:3.0', ...(uid ? [`UID:${uid}`] : []), `FN:${fn}`, `EMAIL:${email}`, 'X-ODD-THING:kept as written', 'END:VCARD', ''].join('\r\n');
    const cards = [card('urn:uuid:1f0c3c1e-aaaa-4bbb-8ccc-000000000001', 'Ann Export', 'ann@example.com'), card('bob/1', 'Bob Export', 'bob@example.com'), card(null, 'Cy Export', 'cy@example.com')];
    // Bob's card in Windows-1252 (an Outlook export): copied byte for byte, not damaged as UTF-8.
    cards[1] = (cards[1] as string).replace('FN:Bob Export', 'FN:Bob Ex\u00e9port');
    await writeFile(path.join(a, 'contacts.vcf'), Buffer.concat(cards.map((t) => Buffer.from(t, 'latin1'))));
    // A file already named as the first card would be: never overwritten.
    await writeFile(path.join(a, '1f0c3c1e-aaaa-4bbb-8ccc-000000000001.vcf'), card('other', 'Someone Else', 'else@example.com'));
    await ok(data, 'hub', 'create', 'Family', '--object', 'contacts');
    await ok(data, 'spoke', 'add', 'Family', 'a', '--type', 'vdir', '--path', a);
    const first = await ok(data, 'sync', 'Family');
    expect(first).toContain('contacts.vcf [VCARD]: holds 3 contacts; only the first was read (a vCard folder holds one contact per file: `hubsync split-vcards contacts.vcf` writes each to a file of its own)');

    const out = await ok(data, 'split-vcards', path.join(a, 'contacts.vcf'));
    expect(out).toContain('Wrote the 3 contacts of contacts.vcf to 3 files');
    expect(out).toContain('renamed it contacts.vcf.split');
    const names = (await readdir(a)).sort();
    expect(names).toHaveLength(5);
    expect(names).toContain('contacts.vcf.split');
    expect(names).toContain('1f0c3c1e-aaaa-4bbb-8ccc-000000000001-2.vcf');
    expect(names).toContain('bob-1.vcf');
    expect(await readFile(path.join(a, '1f0c3c1e-aaaa-4bbb-8ccc-000000000001.vcf'), 'utf8')).toContain('Someone Else');
    const texts = await Promise.all(names.filter((n) => n.endsWith('.vcf')).map((n) => readFile(path.join(a, n), 'latin1')));
    for (const c of cards) expect(texts).toContain(c);

    const second = await ok(data, 'sync', 'Family');
    expect(second).not.toContain('[VCARD]');
    expect(second).toContain('1 renamed or moved');
    const people = JSON.parse(await ok(data, 'contacts', 'Family', '--json')) as unknown[];
    expect(people).toHaveLength(4);
    expect(JSON.stringify(people)).toContain('Bob Exéport');
    expect(await ok(data, 'split-vcards', path.join(a, 'bob-1.vcf'))).toContain('holds one vCard: nothing to split');
    expect((await hubsync(data, 'split-vcards', path.join(a, 'missing.vcf'))).code).toBe(1);
  });

  it('a renamed file is the same contact: nothing is deleted or duplicated, and its edit goes through', async () => {
    await threeFolders();
    await ok(data, 'sync', 'Family');
    // In A: one of its own files and two the hub wrote there renamed, one of them also edited.
    const own = 'a3.vcf';
    const stamped = (await readdir(a)).filter((n) => n !== own && !/^a\d+\.vcf$/.test(n)).sort().slice(0, 2);
    await rename(path.join(a, own), path.join(a, 'renamed-own.vcf'));
    await rename(path.join(a, stamped[0] as string), path.join(a, 'renamed-1.vcf'));
    await rename(path.join(a, stamped[1] as string), path.join(a, 'renamed-2.vcf'));
    const edited = path.join(a, 'renamed-2.vcf');
    await writeFile(edited, (await readFile(edited, 'utf8')).replace('END:VCARD', 'TITLE:Renamed and edited\r\nEND:VCARD'));
    const out = await ok(data, 'sync', 'Family');
    expect(out).toMatch(/ {2}a: read 20 \(3 new or changed\); into hub \+0 ~1 -0, 3 renamed or moved; written \+0 ~0 -0/);
    expect(out).toMatch(/Total: hub \+0 ~1 -0, spokes \+0 ~2 -0\./);
    for (const dir of [a, b, c]) expect(await peopleIn(dir)).toHaveLength(20);
    const titled = async (dir: string) => [...(await cardsIn(dir)).values()].filter((card) => Object.values(card.titles ?? {}).some((t) => t.name === 'Renamed and edited')).length;
    expect([await titled(a), await titled(b), await titled(c)]).toEqual([1, 1, 1]);
    expect(JSON.parse(await ok(data, 'sync', 'Family', '--json'))).toMatchObject({ totals: { hub: { created: 0, updated: 0, deleted: 0 }, spokes: { created: 0, updated: 0, deleted: 0 } } });
  });

  it('every file of a folder renamed at once: still the same contacts, nothing removed', async () => {
    await threeFolders();
    await ok(data, 'sync', 'Family');
    for (const n of await readdir(b)) await rename(path.join(b, n), path.join(b, `moved-${n}`));
    const out = await ok(data, 'sync', 'Family');
    expect(out).toContain('20 renamed or moved');
    expect(out).toMatch(/Total: hub \+0 ~0 -0, spokes \+0 ~0 -0\./);
    for (const dir of [a, b, c]) expect(await peopleIn(dir)).toHaveLength(20);
    expect((await readdir(b)).every((n) => n.startsWith('moved-'))).toBe(true);
  });

  it('propagates a deletion, and the deleted contact can be restored', async () => {
    await threeFolders();
    await ok(data, 'sync', 'Family');
    await unlink(path.join(a, 'a3.vcf'));
    const out = await ok(data, 'sync', 'Family');
    expect(out).toMatch(/Total: hub \+0 ~0 -1, spokes \+0 ~0 -2/);
    for (const dir of [a, b, c]) expect(await peopleIn(dir)).not.toContain('person3@example.com');
    expect(await peopleIn(b)).toHaveLength(19);

    const deleted = JSON.parse(await ok(data, 'contacts', 'Family', '--deleted', '--json')) as { id: string; label: string }[];
    expect(deleted).toHaveLength(1);
    await ok(data, 'restore', 'Family', (deleted[0] as { id: string }).id);
    await ok(data, 'sync', 'Family');
    for (const dir of [a, b, c]) expect(await peopleIn(dir)).toContain('person3@example.com');
  });

  it('holds a 90% deletion in one folder, deletes nothing elsewhere, and applies it once confirmed', async () => {
    await threeFolders();
    await ok(data, 'sync', 'Family');
    const names = (await readdir(a)).filter((n) => n.endsWith('.vcf')).sort();
    for (const n of names.slice(0, 18)) await unlink(path.join(a, n));
    const r = await hubsync(data, 'sync', 'Family');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/18 deletions held/);
    expect(await peopleIn(b)).toHaveLength(20);
    expect(await peopleIn(c)).toHaveLength(20);
    // Held deletions stay held across syncs.
    await ok(data, 'sync', 'Family');
    expect(await peopleIn(b)).toHaveLength(20);
    const held = JSON.parse(await ok(data, 'held', 'Family', '--json')) as { spoke: string; direction: string }[];
    expect(held).toHaveLength(18);
    expect(new Set(held.map((h) => `${h.spoke}/${h.direction}`))).toEqual(new Set(['a/inbound']));

    await ok(data, 'held', 'Family', '--confirm-all');
    await ok(data, 'sync', 'Family');
    for (const dir of [a, b, c]) expect(await peopleIn(dir)).toHaveLength(2);
    expect(JSON.parse(await ok(data, 'held', 'Family', '--json'))).toEqual([]);
  });

  it('rejecting held deletions puts the contacts back where they were deleted', async () => {
    await threeFolders();
    await ok(data, 'sync', 'Family');
    for (const n of (await readdir(a)).filter((x) => x.endsWith('.vcf'))) await unlink(path.join(a, n));
    const r = await hubsync(data, 'sync', 'Family');
    expect(r.out).toMatch(/20 deletions held/);
    await ok(data, 'held', 'Family', '--reject-all');
    await ok(data, 'sync', 'Family');
    expect(await peopleIn(a)).toHaveLength(20);
    expect(await peopleIn(b)).toHaveLength(20);
  });

  it('undo restores what a confirmed mass deletion removed', async () => {
    await threeFolders();
    await ok(data, 'sync', 'Family');
    for (const n of (await readdir(a)).filter((x) => x.endsWith('.vcf')).slice(0, 15)) await unlink(path.join(a, n));
    await ok(data, 'sync', 'Family');
    const confirm = await ok(data, 'held', 'Family', '--confirm-all', '--json');
    const decision = JSON.parse(confirm) as { runId: string };
    await ok(data, 'sync', 'Family');
    expect(await peopleIn(b)).toHaveLength(5);
    await ok(data, 'undo', 'Family', '--run', decision.runId);
    await ok(data, 'sync', 'Family');
    for (const dir of [a, b, c]) expect(await peopleIn(dir)).toHaveLength(20);
    const runs = JSON.parse(await ok(data, 'history', 'Family', '--runs', '--json')) as { id: string; undoneBy: string | null }[];
    expect(runs.find((x) => x.id === decision.runId)?.undoneBy).toBeTruthy();
  });

  it('undoing the first sync deletes nothing of the folders until a person confirms it', async () => {
    await threeFolders();
    const first = JSON.parse(await ok(data, 'sync', 'Family', '--json')) as { runId: string };
    const undo = await ok(data, 'undo', 'Family', '--run', first.runId);
    expect(undo).toContain('20 contacts that run brought in are deleted, on every spoke, where they came from too.');
    // 20 deletions on a spoke of 20 are over its budget: held, on every spoke; the files stay.
    const r = await hubsync(data, 'sync', 'Family');
    expect(r.out.match(/20 deletions to this spoke held/g)).toHaveLength(3);
    for (const dir of [a, b, c]) expect(await peopleIn(dir)).toHaveLength(20);
    // Keeping them puts the contacts back in the hub, and nothing was lost anywhere.
    await ok(data, 'held', 'Family', '--reject-all');
    await ok(data, 'sync', 'Family');
    for (const dir of [a, b, c]) expect(await peopleIn(dir)).toHaveLength(20);
    expect((JSON.parse(await ok(data, 'status', 'Family', '--json')) as { contacts: number }).contacts).toBe(20);
  });

  it('undoing the undo voids the deletions it had held', async () => {
    await threeFolders();
    const first = JSON.parse(await ok(data, 'sync', 'Family', '--json')) as { runId: string };
    const undo = /as run ([0-9a-f-]+)/.exec(await ok(data, 'undo', 'Family', '--run', first.runId))?.[1] as string;
    await hubsync(data, 'sync', 'Family');
    expect(JSON.parse(await ok(data, 'held', 'Family', '--json'))).toHaveLength(60);
    await ok(data, 'undo', 'Family', '--run', undo);
    // The contacts are back: nothing is left to confirm, and confirming everything deletes nothing.
    expect(JSON.parse(await ok(data, 'held', 'Family', '--json'))).toEqual([]);
    expect((JSON.parse(await ok(data, 'status', 'Family', '--json')) as { spokes: { heldDeletes: number }[] }).spokes.map((s) => s.heldDeletes)).toEqual([0, 0, 0]);
    await ok(data, 'sync', 'Family');
    for (const dir of [a, b, c]) expect(await peopleIn(dir)).toHaveLength(20);
  });

  it('undoing a run that brought in a few contacts deletes them everywhere at the next sync', async () => {
    await threeFolders();
    await ok(data, 'sync', 'Family');
    await writeVcf(a, 'new1.vcf', person(31, { uid: 'n1' }));
    await writeVcf(a, 'new2.vcf', person(32, { uid: 'n2' }));
    const run = JSON.parse(await ok(data, 'sync', 'Family', '--json')) as { runId: string };
    for (const dir of [a, b, c]) expect(await peopleIn(dir)).toContain('person31@example.com');
    await ok(data, 'undo', 'Family', '--run', run.runId);
    await ok(data, 'sync', 'Family');
    for (const dir of [a, b, c]) {
      const people = await peopleIn(dir);
      expect(people).toHaveLength(20);
      expect(people).not.toContain('person31@example.com');
    }
  });

  it('a dry run reports what it would do and changes nothing', async () => {
    await threeFolders();
    const before = await snapshot([a, b, c]);
    const r = JSON.parse(await ok(data, 'sync', 'Family', '--dry-run', '--json')) as { kind: string; spokes: { name: string; outbound: { created: number }; planned: { op: string }[] }[] };
    expect(r.kind).toBe('dry-run');
    expect(r.spokes.map((s) => s.outbound.created)).toEqual([10, 10, 10]);
    expect(r.spokes[0]?.planned.filter((p) => p.op === 'create')).toHaveLength(10);
    expect(await snapshot([a, b, c])).toEqual(before);
    const status = JSON.parse(await ok(data, 'status', 'Family', '--json')) as { contacts: number };
    expect(status.contacts).toBe(0);
    const human = await ok(data, 'sync', 'Family', '--dry-run');
    expect(human).toMatch(/would create Given1[0-9] Family1[0-9]/);
  });

  it('a spoke without "allow create" only feeds the hub', async () => {
    await writeVcf(a, 'a1.vcf', person(1));
    await writeVcf(b, 'b2.vcf', person(2));
    await ok(data, 'hub', 'create', 'H');
    await ok(data, 'spoke', 'add', 'H', 'a', '--type', 'vdir', '--path', a);
    await ok(data, 'spoke', 'add', 'H', 'b', '--type', 'vdir', '--path', b, '--allow-create');
    await ok(data, 'sync', 'H');
    expect(await peopleIn(a)).toEqual(['person1@example.com']);
    expect(await peopleIn(b)).toEqual(['person1@example.com', 'person2@example.com']);
    await ok(data, 'spoke', 'set', 'H', 'a', '--allow-create');
    await ok(data, 'sync', 'H');
    expect(await peopleIn(a)).toEqual(['person1@example.com', 'person2@example.com']);
  });

  it('sends a spoke only the contacts that meet its conditions', async () => {
    await writeVcf(a, 'x.vcf', makeVcard({ uid: 'x', given: 'Xa', surname: 'Acme', emails: ['xa@acme.example'] }));
    await writeVcf(a, 'y.vcf', makeVcard({ uid: 'y', given: 'Yo', surname: 'Other', emails: ['yo@other.example'] }));
    await ok(data, 'hub', 'create', 'H');
    await ok(data, 'spoke', 'add', 'H', 'a', '--type', 'vdir', '--path', a);
    await ok(data, 'spoke', 'add', 'H', 'b', '--type', 'vdir', '--path', b, '--allow-create', '--condition', 'email-domain = acme.example');
    await ok(data, 'sync', 'H');
    expect(await peopleIn(b)).toEqual(['xa@acme.example']);
  });

  it('a condition added later deletes nothing: contacts that do not meet it stay, no longer updated', async () => {
    await writeVcf(a, 'x.vcf', makeVcard({ uid: 'x', given: 'Xa', surname: 'Acme', emails: ['xa@acme.example'] }));
    await writeVcf(a, 'y.vcf', makeVcard({ uid: 'y', given: 'Yo', surname: 'Other', emails: ['yo@other.example'] }));
    await ok(data, 'hub', 'create', 'H');
    await ok(data, 'spoke', 'add', 'H', 'a', '--type', 'vdir', '--path', a);
    await ok(data, 'spoke', 'add', 'H', 'b', '--type', 'vdir', '--path', b, '--allow-create');
    await ok(data, 'sync', 'H');
    expect(await peopleIn(b)).toEqual(['xa@acme.example', 'yo@other.example']);
    const set = await ok(data, 'spoke', 'set', 'H', 'b', '--condition', 'email-domain = acme.example');
    expect(set).toContain('Contacts already in "b" that do not meet the conditions stay there as they are, and are no longer updated by the hub.');
    await writeFile(path.join(a, 'y.vcf'), makeVcard({ uid: 'y', given: 'Yo', surname: 'Other', emails: ['yo@other.example'], extra: ['TITLE:Changed'] }));
    await writeFile(path.join(a, 'x.vcf'), makeVcard({ uid: 'x', given: 'Xa', surname: 'Acme', emails: ['xa@acme.example'], extra: ['TITLE:Changed'] }));
    const summary = JSON.parse(await ok(data, 'sync', 'H', '--json')) as { spokes: { name: string; outbound: { updated: number; deleted: number } }[] };
    expect(summary.spokes.find((s) => s.name === 'b')?.outbound).toMatchObject({ updated: 1, deleted: 0 });
    expect(await peopleIn(b)).toEqual(['xa@acme.example', 'yo@other.example']);
    const titles = [...(await cardsIn(b)).values()].map((c) => [emailsOfCard(c)[0], c.titles ? Object.values(c.titles)[0]?.name : undefined]).sort();
    expect(titles).toEqual([['xa@acme.example', 'Changed'], ['yo@other.example', undefined]]);
  });

  it('reports a broken file by name, leaves it untouched, and syncs the rest', async () => {
    await writeVcf(a, 'good.vcf', person(1));
    await writeVcf(a, 'broken.vcf', 'this is not a vcard\n');
    await ok(data, 'hub', 'create', 'H');
    await ok(data, 'spoke', 'add', 'H', 'a', '--type', 'vdir', '--path', a);
    await ok(data, 'spoke', 'add', 'H', 'b', '--type', 'vdir', '--path', b, '--allow-create');
    const out = await ok(data, 'sync', 'H');
    expect(out).toMatch(/broken\.vcf/);
    expect(await readFile(path.join(a, 'broken.vcf'), 'utf8')).toBe('this is not a vcard\n');
    expect(await peopleIn(b)).toEqual(['person1@example.com']);
  });

  it('lists the first ten problems of a spoke, and `hubsync problems` shows every one of them later', async () => {
    // 25 files with a phone number that is not valid in France: each is synced, kept as written, and reported.
    for (let i = 0; i < 25; i++) await writeVcf(a, `bad${i}.vcf`, person(i, { phones: [`+33 1 ${String(i).padStart(2, '0')}`] }));
    await ok(data, 'hub', 'create', 'H');
    await ok(data, 'spoke', 'add', 'H', 'a', '--type', 'vdir', '--path', a, '--region', 'FR');
    const out = await ok(data, 'sync', 'H');
    const runId = /\(run ([0-9a-f-]+)\)/.exec(out)?.[1];
    const shown = out.split('\n').filter((l) => l.includes('problem: '));
    expect(shown).toHaveLength(10);
    // The item is named once, before its field, not again at the start of the message.
    expect(shown[0]).toMatch(/^ {4}problem: bad\d+\.vcf \[TEL\]: "\+33 1 \d\d" is not a valid phone number \(kept as written\)$/);
    expect(out).toContain(`… and 15 more problems: hubsync problems "H" --run ${runId}`);
    expect(out).toMatch(/Total: .*25 problems\./);
    expect(await ok(data, 'status', 'H')).toContain('It reported 25 problems with single contacts: hubsync problems "H"');

    // The next run reads nothing (the files did not change), and the listing still shows the first one's.
    await ok(data, 'sync', 'H');
    const later = await ok(data, 'problems', 'H', '--run', runId as string);
    expect(later).toContain(`Run ${runId} (sync, `);
    const items = later.split('\n').filter((l) => /^ {2}bad\d+\.vcf \[TEL\]/.test(l)).map((l) => /bad\d+\.vcf/.exec(l)?.[0]);
    expect(new Set(items)).toEqual(new Set(Array.from({ length: 25 }, (_, i) => `bad${i}.vcf`)));
    expect(await ok(data, 'problems', 'H')).toMatch(/: 0 problems\.\n$/);
    const missing = await hubsync(data, 'problems', 'H', '--run', 'no-such-run');
    expect(missing.code).toBe(1);
    expect(missing.err).toBe('hubsync: Hub "H" has no run no-such-run (hubsync history "H" --runs).\n');
  });

  it('lists possible duplicates with the item they came from and what to do about them', async () => {
    await writeVcf(a, 'ann.vcf', person(1, { uid: 'a1' }));
    // Two items of one folder both resemble Ann: neither is linked to her, both are listed.
    await writeVcf(b, 'ann-home.vcf', person(1, { uid: 'b1' }));
    await writeVcf(b, 'ann-work.vcf', person(1, { uid: 'b2', extra: ['TITLE:Engineer'] }));
    await ok(data, 'hub', 'create', 'H');
    await ok(data, 'spoke', 'add', 'H', 'a', '--type', 'vdir', '--path', a, '--allow-create');
    await ok(data, 'spoke', 'add', 'H', 'b', '--type', 'vdir', '--path', b, '--allow-create');
    expect(await ok(data, 'sync', 'H')).toContain('2 possible duplicates to review (hubsync review)');
    const text = await ok(data, 'review', 'H');
    expect(text).toMatch(/^\S+: Given1 Family1 <person1@example\.com> \(ann-home\.vcf in b, contact \S+\) resembles:$/m);
    expect(text).toMatch(/^\S+: Given1 Family1 <person1@example\.com> \(ann-work\.vcf in b, contact \S+\) resembles:$/m);
    expect(text).toContain('Not the same: hubsync review "H" --dismiss ID');
    const reviews = JSON.parse(await ok(data, 'review', 'H', '--json')) as { id: string; item: string; contact: string }[];
    expect(reviews.map((r) => r.item).sort()).toEqual(['ann-home.vcf', 'ann-work.vcf']);

    // Doing what it says: the work copy is the same person; deleting it where it came from deletes that contact.
    await unlink(path.join(b, 'ann-work.vcf'));
    await ok(data, 'sync', 'H');
    const deleted = JSON.parse(await ok(data, 'contacts', 'H', '--deleted', '--json')) as { id: string }[];
    expect(deleted.map((c) => c.id)).toEqual([reviews.find((r) => r.item === 'ann-work.vcf')?.contact]);
    // The other one is not the same person after all.
    const home = reviews.find((r) => r.item === 'ann-home.vcf')?.id as string;
    expect(await ok(data, 'review', 'H', '--dismiss', home)).toBe(`Dismissed ${home}.\n`);
    // Nothing is left to review: the deleted contact's entry went with it.
    expect(JSON.parse(await ok(data, 'review', 'H', '--json'))).toEqual([]);
    expect(await ok(data, 'status', 'H')).toMatch(/, 0 possible duplicates\./);
  });

  it('fails one spoke with a clear line naming hub and spoke, and syncs the others', async () => {
    await writeVcf(a, 'a1.vcf', person(1));
    await ok(data, 'hub', 'create', 'H');
    await ok(data, 'spoke', 'add', 'H', 'a', '--type', 'vdir', '--path', a);
    await ok(data, 'spoke', 'add', 'H', 'b', '--type', 'vdir', '--path', b, '--allow-create');
    await ok(data, 'spoke', 'add', 'H', 'c', '--type', 'vdir', '--path', c, '--allow-create');
    await rm(c, { recursive: true });
    const r = await hubsync(data, 'sync', 'H');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/hub "H", spoke "c": .*/);
    expect(r.err.trim().split('\n')).toHaveLength(1);
    expect(await peopleIn(b)).toEqual(['person1@example.com']);
  });

  it('refuses to add a folder a spoke of the hub already syncs', async () => {
    await ok(data, 'hub', 'create', 'H');
    await ok(data, 'spoke', 'add', 'H', 'a', '--type', 'vdir', '--path', a);
    await ok(data, 'sync', 'H');
    const again = await hubsync(data, 'spoke', 'add', 'H', 'a2', '--type', 'vdir', '--path', `${a}/`);
    expect(again.code).toBe(1);
    expect(again.err).toMatch(/^hubsync: Spoke "a" of hub "H" already syncs this address book \(vdir:.*\)\.\n$/);
  });

  it('explains bad usage with one line and a non-zero exit', async () => {
    const r1 = await hubsync(data, 'sync', 'Nope');
    expect(r1.code).toBe(1);
    expect(r1.err).toMatch(/No hub named "Nope"/);
    await ok(data, 'hub', 'create', 'H');
    const r2 = await hubsync(data, 'spoke', 'add', 'H', 'x', '--type', 'vdir', '--path', path.join(root.dir, 'missing'));
    expect(r2.code).not.toBe(0);
    expect(r2.err).toMatch(/Spoke "x"/);
    const r3 = await hubsync(data, 'spoke', 'add', 'H', 'x', '--type', 'carrier-pigeon');
    expect(r3.code).toBe(2);
    expect(r3.err).toMatch(/Unknown spoke type "carrier-pigeon"/);
  });
});

async function snapshot(dirs: string[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const d of dirs) {
    for (const n of (await readdir(d)).sort()) {
      const p = path.join(d, n);
      const st = await stat(p);
      out[p] = `${st.mtimeMs}:${await readFile(p, 'utf8')}`;
    }
  }
  return out;
}
