/**
 * An invitation in a real browser, in demo mode: the owner invites a Google address from the
 * wizard; the e-mail lands in the outbox (no SMTP); the invitee opens the link in their own
 * browser, first signs in as another Google account and is refused with a clear message, then as
 * the invited address; their contacts become a spoke, which the owner names and turns two-way.
 * The spent link then says it was already used.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startE2E, type E2E } from './support.js';

let e: E2E;

beforeAll(async () => {
  e = await startE2E('invitation');
});

afterAll(async () => {
  await e?.close();
});

describe('an invitation, in Chromium, through the Google emulator', () => {
  it('goes from e-mail to an accepted spoke, refusing the wrong address', async () => {
    const owner = await e.browser.newPage({ viewport: { width: 1100, height: 800 }, locale: 'en-GB' });
    owner.setDefaultTimeout(30_000);
    await owner.goto(e.url);
    await owner.getByLabel('Organisation name').fill('Acme');
    await owner.getByLabel('Your name').fill('Olivia Owner');
    await owner.getByLabel('E-mail address').fill('olivia@acme.example');
    await owner.getByLabel('Password', { exact: true }).fill('a long enough password');
    await owner.getByRole('button', { name: 'Create my account' }).click();

    // The wizard: Contacts → Google → Invite → hub name → Create.
    await owner.getByLabel('Contacts').check();
    await owner.getByRole('button', { name: 'Next' }).click();
    await owner.getByLabel('Google Contacts').check();
    await owner.getByRole('button', { name: 'Next' }).click();
    await owner.getByLabel('E-mail address of the mailbox whose contacts you want').fill('sam@demo.example');
    await e.shot(owner, 'owner-invite');
    await owner.getByRole('button', { name: 'Invite', exact: true }).click();
    await owner.getByLabel('Hub name').fill('Shared contacts');
    await owner.getByRole('button', { name: 'Create' }).click();
    await owner.getByText('Invitation sent to sam@demo.example').waitFor();
    await expect(owner.locator('#invitations + table').textContent()).resolves.toContain('pending');
    await e.shot(owner, 'owner-hub-pending');

    // The e-mail, in the outbox (no SMTP configured).
    await owner.getByRole('link', { name: 'Outbox' }).click();
    await owner.getByText('No mail server is configured').waitFor();
    await e.shot(owner, 'outbox');
    const link = await owner.locator('pre.mail a').first().getAttribute('href');
    expect(link).toMatch(/\/invite\/[A-Za-z0-9_-]{43}$/);

    // The invitee, in their own browser.
    const guestCtx = await e.browser.newContext({ viewport: { width: 1000, height: 760 }, locale: 'en-GB' });
    const guest = await guestCtx.newPage();
    guest.setDefaultTimeout(30_000);
    await guest.goto(link as string);
    await guest.getByText('Olivia Owner <olivia@acme.example> (Acme) invites you to sync your contacts with the hub "Shared contacts".').waitFor();
    await e.shot(guest, 'guest-invitation');
    // Signs in as another account: refused, with what to do.
    await guest.getByRole('button', { name: 'Sign in with Google as sam@demo.example' }).click();
    await guest.getByLabel(/alex@demo\.example/).check();
    await e.shot(guest, 'guest-consent-wrong-account');
    await guest.getByRole('button', { name: 'Allow' }).click();
    const refusal = guest.getByRole('alert');
    await expect(refusal.textContent()).resolves.toContain('You signed in as alex@demo.example, but this invitation is for sam@demo.example. Nothing was shared.');
    await e.shot(guest, 'guest-wrong-address');
    // Then as the invited address.
    await guest.getByRole('button', { name: 'Sign in with Google as sam@demo.example' }).click();
    await guest.getByLabel(/sam@demo\.example/).check();
    await guest.getByRole('button', { name: 'Allow' }).click();
    await guest.getByRole('heading', { name: 'Thank you' }).waitFor();
    await e.shot(guest, 'guest-accepted');

    // The owner sees the new spoke, names it and turns two-way sync on (after the preview).
    await owner.goto(`${e.url}/hubs`);
    await owner.getByRole('link', { name: 'Shared contacts' }).click();
    await owner.getByText('Joined by invitation').waitFor();
    await expect(owner.locator('#invitations + table').textContent()).resolves.toContain('accepted');
    await e.shot(owner, 'owner-hub-accepted');
    await owner.getByRole('heading', { name: 'sam@demo.example', level: 3 }).getByRole('link').click();
    await owner.getByLabel('Spoke name').fill("Sam's contacts");
    await owner.getByRole('button', { name: 'Rename' }).click();
    await owner.getByRole('heading', { name: "Sam's contacts", level: 1 }).waitFor();
    await owner.getByRole('button', { name: 'Sync now' }).click();
    await owner.locator('#progress', { hasText: 'Last sync' }).waitFor({ timeout: 60_000 });
    await owner.reload();
    await expect(owner.locator('.spoke .state.ok').count()).resolves.toBe(1);
    await e.shot(owner, 'owner-spoke-synced');

    // The link was single-use.
    await guest.goto(link as string);
    await guest.getByText('This invitation was already accepted. Each link works only once.').waitFor();
    await e.shot(guest, 'guest-link-spent');
    await guestCtx.close();
    await owner.close();
  });
});
