/**
 * The seed's ten steps, in a real browser, in demo mode: a new user signs up, chooses Contacts and
 * Google, signs in with Google, names the spoke and the hub, adds a second Google account and two
 * Microsoft 365 mailboxes, ticks "Allow Hub to create and sync items in this spoke" on each (with
 * the preview before the first two-way sync), presses Sync now — and then the emulators are
 * checked: every account holds every contact.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { DEMO_MAILBOXES } from '../../src/emulators/microsoft/index.js';
import { DEMO_GOOGLE_USERS } from '../../src/server/demo.js';
import { googleEmails, mailboxEmails, startE2E, type E2E } from './support.js';

let e: E2E;

beforeAll(async () => {
  e = await startE2E('wizard');
});

afterAll(async () => {
  await e?.close();
});

async function addSpoke(page: Page, opts: { source: string; hint?: string; consentAs?: string; spokeName: string; hubName?: string }, shots: boolean): Promise<void> {
  // Step 1: the object.
  await expect(page.getByRole('heading', { name: 'What do you want to sync?' }).isVisible()).resolves.toBe(true);
  await page.getByLabel('Contacts').check();
  if (shots) await e.shot(page, 'step1-object');
  await page.getByRole('button', { name: 'Next' }).click();
  // Step 2: the source type (only those that exist).
  await page.getByRole('heading', { name: 'Choose the source type' }).waitFor();
  await page.getByLabel(opts.source).check();
  if (shots) await e.shot(page, 'step2-source');
  await page.getByRole('button', { name: 'Next' }).click();
  // Steps 3-4: invite, or sign in with the provider.
  await page.getByRole('heading', { name: /^Connect:/ }).waitFor();
  if (opts.hint) await page.getByLabel('Which account? (optional)').fill(opts.hint);
  if (shots) await e.shot(page, 'step3-connect');
  await page.getByRole('button', { name: /^Sign in with/ }).click();
  if (opts.consentAs) {
    // The Google emulator's consent page: pick the account, Allow.
    await page.getByText('Hubsync wants to access your Google Account').waitFor();
    await page.getByLabel(new RegExp(opts.consentAs.replace('.', '\\.'))).check();
    if (shots) await e.shot(page, 'step4-google-consent');
    await page.getByRole('button', { name: 'Allow' }).click();
  }
  // Step 5: spoke name, Next.
  await page.getByRole('heading', { name: 'Name this spoke' }).waitFor();
  await page.getByLabel('Spoke name').fill(opts.spokeName);
  if (shots) await e.shot(page, 'step5-spoke-name');
  await page.getByRole('button', { name: 'Next' }).click();
  // Step 6: hub name, Create (only for the hub's first spoke).
  if (opts.hubName) {
    await page.getByRole('heading', { name: 'Name your hub' }).waitFor();
    await page.getByLabel('Hub name').fill(opts.hubName);
    if (shots) await e.shot(page, 'step6-hub-name');
    await page.getByRole('button', { name: 'Create' }).click();
  }
  await page.getByRole('heading', { name: 'Spokes' }).waitFor();
}

describe('the seed wizard, in Chromium, against the Google and Microsoft emulators', () => {
  it('walks the ten steps and the contacts converge in every account', async () => {
    const page = await e.browser.newPage({ viewport: { width: 1200, height: 900 }, locale: 'en-GB' });
    page.setDefaultTimeout(30_000);
    await page.goto(e.url);
    // The first visitor creates the administrator.
    await page.getByRole('heading', { name: 'Welcome to Hubsync' }).waitFor();
    await page.getByLabel('Organisation name').fill('Acme');
    await page.getByLabel('Your name').fill('Ann Admin');
    await page.getByLabel('E-mail address').fill('ann@acme.example');
    await page.getByLabel('Password', { exact: true }).fill('a long enough password');
    await e.shot(page, 'signup');
    await page.getByRole('button', { name: 'Create my account' }).click();

    const [alex, sam] = DEMO_GOOGLE_USERS as [string, string];
    const [adele, megan] = DEMO_MAILBOXES as [string, string];
    // Steps 1-6: Contacts, Google, sign in, spoke name, hub name, Create.
    await addSpoke(page, { source: 'Google Contacts', consentAs: alex, spokeName: "Alex's Google", hubName: 'Company contacts' }, true);
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('Company contacts');
    await e.shot(page, 'hub-created');
    // Step 7: a second Google account.
    await page.getByRole('link', { name: '+ Add spoke' }).click();
    await addSpoke(page, { source: 'Google Contacts', consentAs: sam, spokeName: "Sam's Google" }, false);
    // Step 8: two Microsoft 365 mailboxes.
    for (const [mb, name] of [[adele, 'Adele (Outlook)'], [megan, 'Megan (Outlook)']] as const) {
      await page.getByRole('link', { name: '+ Add spoke' }).click();
      await addSpoke(page, { source: 'Microsoft 365 mailbox contacts', hint: mb, spokeName: name }, false);
    }
    await e.shot(page, 'hub-four-spokes');
    const spokes = ["Alex's Google", "Sam's Google", 'Adele (Outlook)', 'Megan (Outlook)'];
    for (const s of spokes) await expect(page.getByRole('heading', { name: s, level: 3 }).count()).resolves.toBe(1);

    // Step 9: "Allow Hub to create and sync items in this spoke" on each, with the preview first.
    let first = true;
    for (const s of spokes) {
      await page.getByRole('heading', { name: s, level: 3 }).getByRole('link').click();
      await page.getByRole('heading', { name: 'Sync options' }).waitFor();
      await page.getByLabel('Allow Hub to create and sync items in this spoke', { exact: true }).check();
      if (first) await e.shot(page, 'step9-sync-options');
      await page.getByRole('button', { name: 'Save' }).first().click();
      await page.getByRole('heading', { name: 'Preview of the first two-way sync' }).waitFor();
      if (first) await e.shot(page, 'step9-preview');
      const toCreate = Number(await page.locator('.counts b').first().textContent());
      expect(toCreate).toBeGreaterThan(0);
      await page.getByRole('button', { name: 'Confirm and turn on two-way sync' }).click();
      await page.getByText('Two-way sync is on').waitFor();
      first = false;
      await page.getByRole('link', { name: '← Company contacts' }).click();
    }

    // Step 10: Sync now; the page follows the run live and shows every spoke OK.
    await page.getByRole('button', { name: 'Sync now' }).first().click();
    await page.getByText('Sync started').waitFor();
    await e.shot(page, 'step10-syncing');
    await page.locator('#progress', { hasText: 'Last sync' }).waitFor({ timeout: 120_000 });
    await page.reload();
    await expect(page.locator('.spoke .state.ok').count()).resolves.toBe(4);
    await e.shot(page, 'step10-synced');

    // The emulators: every account holds the same people (by e-mail), the union of all four.
    const sets = [googleEmails(e.demo, alex), googleEmails(e.demo, sam), mailboxEmails(e.demo, adele), mailboxEmails(e.demo, megan)];
    const union = new Set(sets.flatMap((s) => [...s]));
    expect(union.size).toBeGreaterThan(60);
    for (const s of sets) expect([...union].filter((x) => !s.has(x))).toEqual([]);

    // The dashboard's contact list finds them, with their history across spokes.
    await page.getByRole('link', { name: 'Contacts', exact: true }).click();
    await page.getByLabel('Search by name, e-mail or phone').fill([...union][0] ?? '');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.locator('table a').first().click();
    await page.getByRole('heading', { name: 'History' }).waitFor();
    await expect(page.locator('h2:has-text("In the spokes") + ul li').count()).resolves.toBe(4);
    await e.shot(page, 'contact-history');

    // The language switch: the dashboard in French (the seed's language), and back.
    await page.getByRole('link', { name: '← Contacts' }).click();
    await page.getByRole('link', { name: /Company contacts/ }).first().click();
    await page.getByRole('link', { name: 'Français' }).click();
    await page.getByRole('button', { name: 'Synchroniser maintenant' }).first().waitFor();
    await expect(page.locator('html').getAttribute('lang')).resolves.toBe('fr');
    await e.shot(page, 'dashboard-fr');
    await page.getByRole('link', { name: 'English' }).click();
    await page.getByRole('button', { name: 'Sync now' }).first().waitFor();
    await page.close();
  });
});
