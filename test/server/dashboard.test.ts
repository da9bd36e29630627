/**
 * The dashboard's decisions, through the pages a person clicks: held mass deletions (keep them),
 * restore a deleted contact, undo a run, pick the other value of a conflict — and Sync options
 * with the preview before a spoke's first two-way sync.
 */
import { readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, vcard, type Client, type TestServer } from './helpers.js';

let ts: TestServer;
let owner: Client;
let hubId: string;
let folderA: string;
let folderB: string;
let spokeB: string;

const people = Array.from({ length: 12 }, (_, i) => ({ file: `p${i}.vcf`, uid: `p${i}`, fn: `Person${i} Example`, email: `p${i}@example.com` }));

beforeAll(async () => {
  ts = await startTestServer();
  owner = ts.client();
  await owner.signUp('Acme', 'owner@acme.example');
  folderA = ts.folder('a', Object.fromEntries(people.map((p) => [p.file, vcard(p.uid, p.fn, p.email)])));
  folderB = ts.folder('b', {});
  hubId = await owner.createVdirHub('Team', 'A', folderA);
  await owner.createVdirHub('Team', 'B', folderB, hubId);
  spokeB = (await ts.web.deps.db.selectFrom('spokes').select('id').where('hub_id', '=', hubId).where('name', '=', 'B').executeTakeFirstOrThrow()).id;
  expect((await ts.web.deps.runner.run(hubId, { reason: 'manual' }))?.status).toBe('ok');
});

afterAll(async () => {
  await ts?.close();
});

describe('Sync options', () => {
  it('previews the first two-way sync, then turns it on when confirmed', async () => {
    await owner.get(`/hubs/${hubId}/spokes/${spokeB}`);
    const preview = await owner.post(`/hubs/${hubId}/spokes/${spokeB}/options`, { allowCreate: '1', direction: 'two-way', allowUpdate: '1', allowDelete: '1', conditions: '', region: 'FR' });
    expect(preview.status).toBe(200);
    expect(preview.body).toContain('Preview of the first two-way sync');
    expect(preview.body).toContain('<b>12</b>to create');
    expect(readdirSync(folderB)).toEqual([]); // a preview writes nothing
    let spoke = await ts.web.deps.db.selectFrom('spokes').select('options').where('id', '=', spokeB).executeTakeFirstOrThrow();
    expect(JSON.parse(spoke.options).allowCreate).toBe(false);
    const ok = await owner.post(`/hubs/${hubId}/spokes/${spokeB}/options`, { confirm: '1', allowCreate: '1', direction: 'two-way', allowUpdate: '1', allowDelete: '1', conditions: '', region: 'FR' });
    expect(ok.status).toBe(302);
    spoke = await ts.web.deps.db.selectFrom('spokes').select('options').where('id', '=', spokeB).executeTakeFirstOrThrow();
    expect(JSON.parse(spoke.options)).toMatchObject({ allowCreate: true, defaultRegion: 'FR' });
    expect((await ts.web.deps.runner.run(hubId, { reason: 'manual' }))?.status).toBe('ok');
    expect(readdirSync(folderB)).toHaveLength(12);
  });
});

describe('held deletions', () => {
  it('an emptied folder deletes nothing; "Keep them all" puts the contacts back', async () => {
    for (const f of readdirSync(folderB)) unlinkSync(path.join(folderB, f));
    await ts.web.deps.runner.run(hubId, { reason: 'manual' });
    const page = await owner.get(`/hubs/${hubId}`);
    expect(page.body).toContain('Deletions waiting for you');
    expect(page.body).toContain('<b>12</b>deletions held');
    expect((await owner.post(`/hubs/${hubId}/held`, { action: 'reject', id: 'all' })).status).toBe(302);
    await ts.web.deps.runner.run(hubId, { reason: 'manual' });
    expect(readdirSync(folderB)).toHaveLength(12);
    expect(readdirSync(folderA)).toHaveLength(12);
  });
});

describe('restore and undo', () => {
  it('restores a contact deleted in a spoke, and undoes a run', async () => {
    // A feeds the hub only; B is two-way: a deletion in A reaches B.
    unlinkSync(path.join(folderA, 'p0.vcf'));
    await ts.web.deps.runner.run(hubId, { reason: 'manual' });
    expect(readdirSync(folderB)).toHaveLength(11);
    const deleted = await owner.get(`/hubs/${hubId}/contacts?deleted=1`);
    expect(deleted.body).toContain('Person0 Example');
    const id = /\/contacts\/([^/"]+)\/restore/.exec(deleted.body)?.[1];
    expect(id).toBeTruthy();
    expect((await owner.post(`/hubs/${hubId}/contacts/${id}/restore`)).status).toBe(302);
    await ts.web.deps.runner.run(hubId, { reason: 'manual' });
    expect(readdirSync(folderB)).toHaveLength(12);

    // A run that brought a new contact in, undone from the dashboard.
    writeFileSync(path.join(folderA, 'new.vcf'), vcard('new', 'Newcomer Person', 'new@example.com'));
    const run = await ts.web.deps.runner.run(hubId, { reason: 'manual' });
    expect(run?.totals.hub.created).toBe(1);
    await owner.get(`/hubs/${hubId}`);
    expect((await owner.post(`/hubs/${hubId}/runs/${run?.runId}/undo`)).status).toBe(302);
    const flash = await owner.get(`/hubs/${hubId}`);
    expect(flash.body).toContain('Undone: 1 contacts are back as they were. The next sync carries it to every spoke. 1 of them, which that sync had brought in, will be deleted on every spoke, where they came from too;');
    await ts.web.deps.runner.run(hubId, { reason: 'manual' });
    expect(readdirSync(folderB).some((f) => f.includes('new'))).toBe(false);
  });
});

describe('conflicts', () => {
  it('shows both values and keeps the one picked', async () => {
    const file = path.join(folderA, 'p1.vcf');
    const fileB = readdirSync(folderB).map((f) => path.join(folderB, f)).find((f) => readFileText(f).includes('p1@example.com')) as string;
    writeFileSync(file, vcard('p1', 'Person1 Example', 'p1@example.com', 'TITLE:Chief from A\r\n'));
    writeFileSync(fileB, readFileText(fileB).replace('END:VCARD', 'TITLE:Chief from B\r\nEND:VCARD'));
    await ts.web.deps.runner.run(hubId, { reason: 'manual' });
    const page = await owner.get(`/hubs/${hubId}`);
    expect(page.body).toContain('Conflicts');
    const conflictId = /action="\/hubs\/[^/]+\/conflicts\/([^"]+)"/.exec(page.body)?.[1];
    expect(conflictId).toBeTruthy();
    const row = await ts.web.deps.db.selectFrom('conflicts').selectAll().where('id', '=', conflictId as string).executeTakeFirstOrThrow();
    expect(page.body).toContain(JSON.parse(row.kept) as string);
    expect(page.body).toContain(JSON.parse(row.lost) as string);
    // Each value says which spoke it came from, by the name the person gave it (not its id).
    expect(page.body).toContain('<span class="small muted">(A)</span>');
    expect(page.body).toContain('<span class="small muted">(B)</span>');
    expect(page.body).not.toContain(`(${spokeB})`);
    expect((await owner.post(`/hubs/${hubId}/conflicts/${conflictId}`, { keep: 'lost' })).status).toBe(302);
    await ts.web.deps.runner.run(hubId, { reason: 'manual' });
    const lost = JSON.parse(row.lost) as string;
    expect(readFileText(file)).toContain(lost);
    expect(readFileText(fileB)).toContain(lost);
  });
});

function readFileText(f: string): string {
  return readFileSync(f, 'utf8');
}

describe('problems with single contacts', () => {
  it('a run that reported problems links to them from the runs table, every one named with its file and field', async () => {
    writeFileSync(path.join(folderA, 'not-a-card.vcf'), 'hello\n');
    writeFileSync(path.join(folderA, 'bad-phone.vcf'), vcard('bp', 'Bad Phone', 'bp@example.com', 'TEL:<b>call me</b>\r\n'));
    const run = await ts.web.deps.runner.run(hubId, { reason: 'manual' });
    expect(run?.totals.problems).toBe(2);
    const hub = await owner.get(`/hubs/${hubId}`);
    const link = `/hubs/${hubId}/runs/${run?.runId}/problems`;
    expect(hub.body).toContain(`<a href="${link}">2</a>`);
    const page = await owner.get(link);
    expect(page.status).toBe(200);
    expect(page.body).toContain('<h2>A</h2>');
    expect(page.body).toContain('<li>not-a-card.vcf is not a readable vCard');
    // What a file says is shown as text, never as markup.
    expect(page.body).toContain('<li>bad-phone.vcf [TEL]: no digits in phone number &#34;&#60;b&#62;call me&#60;/b&#62;&#34; (kept as written)</li>');
    expect((await owner.get(`/hubs/${hubId}/runs/no-such-run/problems`)).status).toBe(404);
    // The same through the API.
    const api = JSON.parse((await owner.get(`/api/hubs/${hubId}/runs/${run?.runId}/problems`)).body) as { spokes: { name: string; count: number; problems: { item: string }[] }[] };
    expect(api.spokes.find((s) => s.name === 'A')).toMatchObject({ count: 2, problems: [{ item: expect.stringMatching(/\.vcf$/) }, { item: expect.stringMatching(/\.vcf$/) }] });
    expect(JSON.parse((await owner.get(`/api/hubs/${hubId}`)).body)).toMatchObject({ lastRun: { id: run?.runId, problems: 2 } });
  });
});

describe('an export of a whole address book in a vCard folder', () => {
  it('the problems page offers to split it; the next sync brings every contact in', async () => {
    const spokeA = (await ts.web.deps.db.selectFrom('spokes').select('id').where('hub_id', '=', hubId).where('name', '=', 'A').executeTakeFirstOrThrow()).id;
    const cards = [vcard('ex1', 'Export One', 'ex1@example.com'), vcard('ex2', 'Export Two', 'ex2@example.com'), vcard('ex3', 'Export Three', 'ex3@example.com')];
    writeFileSync(path.join(folderA, 'export.vcf'), cards.join(''));
    const run = await ts.web.deps.runner.run(hubId, { reason: 'manual' });
    const page = await owner.get(`/hubs/${hubId}/runs/${run?.runId}/problems`);
    expect(page.body).toContain('export.vcf [VCARD]: holds 3 contacts; only the first was read');
    expect(page.body).toContain(`action="/hubs/${hubId}/spokes/${spokeA}/split"`);
    expect(page.body).toContain('name="file" value="export.vcf"');
    // Only for that problem: not for the unreadable file nor the bad phone number.
    expect(page.body.match(/\/split"/g)).toHaveLength(1);

    // A name that leads out of the folder, or a spoke that is not a folder: refused, nothing touched.
    expect((await owner.post(`/hubs/${hubId}/spokes/${spokeA}/split`, { file: '../b/export.vcf' })).status).toBe(400);
    expect((await owner.post(`/hubs/${hubId}/spokes/${spokeA}/split`, { file: '' })).status).toBe(400);
    // Without the form's token: refused as every other form.
    expect((await owner.post(`/hubs/${hubId}/spokes/${spokeA}/split`, { file: 'export.vcf' }, { csrf: null })).status).toBe(403);
    expect(readdirSync(folderA)).toContain('export.vcf');

    expect((await owner.post(`/hubs/${hubId}/spokes/${spokeA}/split`, { file: 'export.vcf' })).status).toBe(302);
    const files = readdirSync(folderA);
    expect(files).not.toContain('export.vcf');
    expect(files).toContain('export.vcf.split');
    expect(files).toEqual(expect.arrayContaining(['ex1.vcf', 'ex2.vcf', 'ex3.vcf']));
    expect(readFileText(path.join(folderA, 'ex2.vcf'))).toBe(cards[1]);
    expect((await owner.get(`/hubs/${hubId}`)).body).toContain('The 3 contacts of export.vcf are now in files of their own, and export.vcf was renamed export.vcf.split.');

    // Asked again (a second click): nothing left to split, said so.
    expect((await owner.post(`/hubs/${hubId}/spokes/${spokeA}/split`, { file: 'export.vcf' })).status).toBe(302);
    expect((await owner.get(`/hubs/${hubId}`)).body).toContain('Could not split export.vcf: Cannot read');

    await ts.web.deps.runner.run(hubId, { reason: 'manual' });
    const inB = readdirSync(folderB).map((f) => readFileText(path.join(folderB, f)));
    for (const e of ['ex1@example.com', 'ex2@example.com', 'ex3@example.com']) expect(inB.filter((t) => t.includes(e))).toHaveLength(1);
  });
});

describe('possible duplicates', () => {
  it('are listed on the hub page with where they came from, and "Not the same person" takes one off the list', async () => {
    // Two cards of a new folder both resemble Person5: neither is merged into her, both are listed.
    const folderC = ts.folder('c', { 'five-home.vcf': vcard('c1', 'Person5 Example', 'p5@example.com'), 'five-work.vcf': vcard('c2', 'Person5 Example', 'p5@example.com', 'TITLE:Engineer\r\n') });
    await owner.createVdirHub('Team', 'C', folderC, hubId);
    expect((await ts.web.deps.runner.run(hubId, { reason: 'manual' }))?.status).toBe('ok');
    const page = await owner.get(`/hubs/${hubId}`);
    expect(page.body).toContain('<b>2</b>possible duplicates');
    const section = page.body.slice(page.body.indexOf('<h2 id="reviews">'), page.body.indexOf('<h2 id="invitations">'));
    expect(section).toContain('C <span class="small muted">(five-home.vcf)</span>');
    expect(section).toContain('C <span class="small muted">(five-work.vcf)</span>');
    expect(section.match(/>Person5 Example &#60;p5@example\.com&#62;<\/a>/g)).toHaveLength(4); // each row: the contact and the one it resembles
    const reviewId = /name="id" value="([^"]+)"/.exec(section)?.[1] as string;
    const dismissed = await owner.post(`/hubs/${hubId}/reviews`, { id: reviewId });
    expect(dismissed.status).toBe(302);
    const after = await owner.get(`/hubs/${hubId}`);
    expect(after.body).toContain('<b>1</b>possible duplicates');
    expect(after.body).not.toContain(`value="${reviewId}"`);
    expect((await owner.post(`/hubs/${hubId}/reviews`, { id: 'no-such-review' })).status).toBe(404);
  });
});

describe('the same address book twice', () => {
  it('the wizard will not add a folder a spoke of the hub already syncs', async () => {
    await owner.get(`/wizard?hub=${hubId}`);
    await owner.post('/wizard/object', { object: 'contacts' });
    await owner.get('/wizard/source');
    await owner.post('/wizard/source', { type: 'vdir' });
    await owner.get('/wizard/connect');
    const r = await owner.post('/wizard/config', { cfg_path: folderA });
    expect(r.status).toBe(409);
    expect(r.body).toContain('The spoke “A” of this hub already syncs this address book.');
  });
});
