/**
 * The Microsoft 365 emulator (identity platform v2.0 + Graph v1.0 contacts, directory and `$batch`),
 * part of the product like the Google one: tests, the demo and the benchmarks run the Microsoft
 * spokes against it. See docs/microsoft365.md.
 *
 * ```ts
 * const emu = await startMicrosoftEmulator({ port: 0, seed });   // { url, state, faults, counts, close }
 * Object.assign(process.env, microsoftEnv(emu.url));              // HUBSYNC_MS_LOGIN_URL, HUBSYNC_GRAPH_URL
 * ```
 */
import { readFile } from 'node:fs/promises';
import { sampleContact, type SampleContact } from '../../demo/sample-contacts.js';
import { startMicrosoftEmulator, type MicrosoftEmulator } from './server.js';
import type { Seed, SeedUser } from './state.js';

export { startMicrosoftEmulator, type MicrosoftEmulator, type EmulatorOptions, Faults, Counts, endpointKey } from './server.js';
export { GraphState, type Seed, type SeedUser, type SeedOrgContact, type SeedApp } from './state.js';

/** The environment that points Hubsync's Microsoft code at an emulator. */
export function microsoftEnv(url: string): Record<string, string> {
  return { HUBSYNC_MS_LOGIN_URL: url, HUBSYNC_GRAPH_URL: url };
}

export async function loadMicrosoftSeed(file: string): Promise<Seed> {
  const seed = JSON.parse(await readFile(file, 'utf8')) as Seed;
  if (!seed || typeof seed !== 'object' || (seed.users !== undefined && !Array.isArray(seed.users))) throw new Error(`${file}: a Microsoft emulator seed is an object with "tenant", "apps", "users" and "orgContacts"`);
  return seed;
}

export const DEMO_TENANT_ID = '5f1c2d3e-4a5b-4c6d-8e7f-0a1b2c3d4e5f';
export const DEMO_CLIENT_ID = '0d3f5c1e-7b2a-4e8d-9c6f-1a2b3c4d5e6f';
export const DEMO_CLIENT_SECRET = 'hubsync-demo-secret';

const DEPARTMENTS = ['Sales', 'Engineering', 'Finance', 'Support', 'Marketing', 'Legal'];
const LETTERS: Record<string, string> = { Ø: 'O', ø: 'o', Æ: 'Ae', æ: 'ae', ß: 'ss', Þ: 'Th', þ: 'th', Đ: 'D', đ: 'd', Ł: 'L', ł: 'l' };

/**
 * A directory of `people` realistic colleagues (from src/demo/sample-contacts.ts) at `domain`, the
 * first `mailboxes` of them with a mailbox (the others directory-only), plus a room and a shared
 * mailbox (which a GAL leaves out).
 */
export function galUsers(opts: { people: number; mailboxes: number; domain?: string; seed?: number }): SeedUser[] {
  const domain = opts.domain ?? 'contoso.example';
  const users: SeedUser[] = [];
  for (let i = 0; i < opts.people; i++) {
    const p = sampleContact(opts.seed ?? 365, i);
    // Letters NFKD does not decompose are spelled out as an administrator would (Ørjan → orjan).
    const ascii = `${p.given}.${p.surname}.${i}`.replace(/[ØøÆæßÞþĐđŁł]/g, (c) => LETTERS[c] ?? '');
    const local = ascii.normalize('NFKD').replace(/\p{M}/gu, '').replace(/[^A-Za-z0-9.]+/g, '').toLowerCase();
    users.push({
      id: `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`,
      userPrincipalName: `${local}@${domain}`,
      displayName: `${p.given} ${p.surname}`,
      givenName: p.given,
      surname: p.surname,
      mail: `${local}@${domain}`,
      jobTitle: p.title ?? 'Associate',
      department: DEPARTMENTS[i % DEPARTMENTS.length] as string,
      companyName: 'Contoso',
      officeLocation: `${1 + (i % 5)}/${100 + i}`,
      businessPhones: [`+1 425 555 ${String(1000 + i).slice(-4)}`],
      mobilePhone: p.phones[0] ?? null,
      mailbox: i < opts.mailboxes ? 'user' : 'none',
    });
  }
  users.push({ userPrincipalName: `boardroom@${domain}`, displayName: 'Board room', mailbox: 'room', accountEnabled: false });
  users.push({ userPrincipalName: `helpdesk@${domain}`, displayName: 'Helpdesk', mailbox: 'shared', accountEnabled: false });
  return users;
}

/** The demo tenant's mailboxes, which the README and the web app's wizard name. */
export const DEMO_MAILBOXES = ['adele@contoso.example', 'megan@contoso.example', 'lynne@contoso.example'];
/** The public client (PKCE, no secret) the web app's demo mode signs in with. */
export const DEMO_PUBLIC_CLIENT_ID = 'hubsync-demo-app';

/** A sample contact as Outlook stores it (Graph `contact` resource). */
function graphContact(c: SampleContact): Record<string, unknown> {
  return {
    givenName: c.given,
    surname: c.surname,
    displayName: `${c.given} ${c.surname}`,
    emailAddresses: c.emails.map((address) => ({ address, name: `${c.given} ${c.surname}` })),
    ...(c.phones[0] ? { mobilePhone: c.phones[0] } : {}),
    businessPhones: c.phones.slice(1),
    ...(c.org ? { companyName: c.org } : {}),
    ...(c.title ? { jobTitle: c.title } : {}),
    ...(c.city ? { homeAddress: { city: c.city } } : {}),
    categories: c.categories,
  };
}

/**
 * The demo tenant, the same for the web app's demo mode and `hubsync emulate microsoft`: three
 * mailboxes sharing some people with each other and with the demo Google accounts, a shared
 * mailbox, a colleague without a mailbox and an organisational contact (the GAL), and two
 * admin-consented apps — the web app's public client (`redirectUris`: the registered ones; a
 * loopback redirect needs none) and a confidential one for `hubsync account add microsoft`.
 */
export function demoMicrosoftSeed(opts: { redirectUris?: string[] } = {}): Seed {
  const [adele, megan, lynne] = DEMO_MAILBOXES as [string, string, string];
  // Seed 42 is the demo Google accounts' too.
  const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => graphContact(sampleContact(42, from + i)));
  return {
    tenant: { id: DEMO_TENANT_ID, name: 'Contoso (demo)', domain: 'contoso.example' },
    apps: [
      { clientId: DEMO_PUBLIC_CLIENT_ID, consented: true, redirectUris: opts.redirectUris ?? [] },
      { clientId: DEMO_CLIENT_ID, clientSecret: DEMO_CLIENT_SECRET, consented: true },
    ],
    users: [
      { userPrincipalName: adele, displayName: 'Adele Vance', givenName: 'Adele', surname: 'Vance', mail: adele, jobTitle: 'Retail Manager', department: 'Retail', mailbox: 'user', contacts: range(10, 40) },
      { userPrincipalName: megan, displayName: 'Megan Bowen', givenName: 'Megan', surname: 'Bowen', mail: megan, jobTitle: 'Marketing Manager', department: 'Marketing', mailbox: 'user', contacts: range(30, 60) },
      { userPrincipalName: lynne, displayName: 'Lynne Robbins', givenName: 'Lynne', surname: 'Robbins', mail: lynne, jobTitle: 'Planner', department: 'Retail', mailbox: 'user', contacts: range(55, 70) },
      // Exchange makes a shared mailbox's account disabled, which is how Graph v1.0 lets it be told apart.
      { userPrincipalName: 'reception@contoso.example', displayName: 'Reception', mail: 'reception@contoso.example', mailbox: 'shared', accountEnabled: false, contacts: [] },
      { userPrincipalName: 'diego@contoso.example', displayName: 'Diego Siciliani', givenName: 'Diego', surname: 'Siciliani', mail: 'diego@contoso.example', jobTitle: 'HR Manager', department: 'HR', businessPhones: ['+1 425 555 0109'], mailbox: 'none' },
    ],
    orgContacts: [
      { displayName: 'Contoso Legal (external)', mail: 'legal@fabrikam.example', companyName: 'Fabrikam', phones: [{ type: 'business', number: '+1 206 555 0142' }] },
    ],
  };
}

/** Starts the emulator on the demo tenant (the web app's demo mode). */
export async function startMicrosoftDemo(opts: { port?: number; host?: string; latencyMs?: number } = {}): Promise<MicrosoftEmulator> {
  return startMicrosoftEmulator({ ...opts, seed: demoMicrosoftSeed() });
}
