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
import { sampleContact } from '../../demo/sample-contacts.js';
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

/** The demo tenant: an admin-consented app, three mailboxes and a GAL of 40 colleagues. */
export function demoMicrosoftSeed(): Seed {
  return {
    tenant: { id: DEMO_TENANT_ID, domain: 'contoso.example', name: 'Contoso (demo)' },
    apps: [{ clientId: DEMO_CLIENT_ID, clientSecret: DEMO_CLIENT_SECRET, consented: true }],
    users: galUsers({ people: 40, mailboxes: 3 }),
    orgContacts: [{ givenName: 'Pat', surname: 'Partner', mail: 'pat@fabrikam.example', companyName: 'Fabrikam', phones: [{ type: 'business', number: '+1 206 555 0142' }] }],
  };
}

/** Starts the emulator on the demo tenant (the web app's demo mode). */
export async function startMicrosoftDemo(opts: { port?: number; host?: string; latencyMs?: number } = {}): Promise<MicrosoftEmulator> {
  return startMicrosoftEmulator({ ...opts, seed: demoMicrosoftSeed() });
}
