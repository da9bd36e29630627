/**
 * The Google emulator (OAuth 2.0 + People API v1), part of the product: tests, the demo and the
 * benchmarks run Hubsync's Google spokes against it. See docs/google.md.
 *
 * ```ts
 * const emu = await startGoogle({ port: 0, seed });   // { url, state, faults, counts, close }
 * process.env.HUBSYNC_GOOGLE_API_URL = emu.url;        // and the other googleEnv(emu.url) values
 * ```
 */
import { readFile } from 'node:fs/promises';
import type { people_v1 } from '@googleapis/people';
import { sampleContact, type SampleContact } from '../../demo/sample-contacts.js';
import { startGoogleEmulator, type GoogleEmulator } from './server.js';
import { GoogleState, type GoogleSeed } from './state.js';

export { GoogleState, type GoogleSeed, type SeedUser, type EmulatorOptions } from './state.js';
export { startGoogleEmulator, type GoogleEmulator, type Faults, type RequestCounts } from './server.js';

export async function startGoogle(opts: { port?: number; host?: string; seed?: GoogleSeed; faultSeed?: number } = {}): Promise<GoogleEmulator> {
  return startGoogleEmulator({
    state: new GoogleState(opts.seed ?? { users: [] }),
    ...(opts.port !== undefined ? { port: opts.port } : {}),
    ...(opts.host !== undefined ? { host: opts.host } : {}),
    ...(opts.faultSeed !== undefined ? { faultSeed: opts.faultSeed } : {}),
  });
}

export async function loadSeedFile(file: string): Promise<GoogleSeed> {
  const seed = JSON.parse(await readFile(file, 'utf8')) as GoogleSeed;
  if (!seed || !Array.isArray(seed.users)) throw new Error(`${file}: a Google emulator seed needs a "users" list`);
  return seed;
}

/** The environment that points Hubsync's Google code at an emulator (see docs/google.md). */
export function googleEnv(url: string): Record<string, string> {
  return {
    HUBSYNC_GOOGLE_API_URL: url,
    HUBSYNC_GOOGLE_AUTH_URL: `${url}/o/oauth2/v2/auth`,
    HUBSYNC_GOOGLE_TOKEN_URL: `${url}/token`,
    HUBSYNC_GOOGLE_USERINFO_URL: `${url}/v1/userinfo`,
  };
}

/** A sample contact as a Person the way Google's own UI would store it. */
export function samplePerson(c: SampleContact): people_v1.Schema$Person {
  const p: people_v1.Schema$Person = {
    names: [{ givenName: c.given, familyName: c.surname }],
    emailAddresses: c.emails.map((value, k) => ({ value, type: k === 0 && c.org ? 'work' : 'home' })),
    phoneNumbers: c.phones.map((value, k) => ({ value, type: k === 0 ? 'mobile' : 'work' })),
  };
  if (c.org || c.title) p.organizations = [{ ...(c.org ? { name: c.org } : {}), ...(c.title ? { title: c.title } : {}) }];
  if (c.city) p.addresses = [{ city: c.city, type: 'home' }];
  if (c.note) p.biographies = [{ value: c.note, contentType: 'TEXT_PLAIN' }];
  if (c.categories.length > 0) p.memberships = c.categories.map((g) => ({ contactGroupMembership: { contactGroupResourceName: `contactGroups/${g}` } }));
  return p;
}

/**
 * A seed for the demo and the benchmarks: `users` accounts; person i of the population goes to
 * account `i % users`, and the first `shared` people to every account.
 */
export function sampleSeed(opts: { emails: string[]; perUser: number; shared: number; seed?: number }): GoogleSeed {
  const seed = opts.seed ?? 42;
  const users = opts.emails.map((email) => ({ email, name: email.split('@')[0] ?? email, contacts: [] as people_v1.Schema$Person[], groups: [] as string[] }));
  let next = opts.shared;
  for (let i = 0; i < opts.shared; i++) for (const u of users) u.contacts.push(samplePerson(sampleContact(seed, i)));
  for (const u of users) {
    while (u.contacts.length < opts.perUser) u.contacts.push(samplePerson(sampleContact(seed, next++)));
  }
  // Groups are named by the contacts' memberships; the seed creates them by those names.
  for (const u of users) {
    for (const p of u.contacts) {
      for (const m of p.memberships ?? []) {
        const name = m.contactGroupMembership?.contactGroupResourceName?.replace(/^contactGroups\//, '') ?? '';
        if (!u.groups.includes(name)) u.groups.push(name);
      }
    }
  }
  return { users };
}

/**
 * The emulator the web app's demo mode starts in-process: two sample Google accounts with
 * realistic contacts (a third of them in both).
 */
export async function startDemoGoogle(opts: { port?: number; perUser?: number } = {}): Promise<GoogleEmulator> {
  const perUser = opts.perUser ?? 60;
  return startGoogle({
    port: opts.port ?? 0,
    seed: sampleSeed({ emails: ['alex@demo.example', 'sam@demo.example'], perUser, shared: Math.floor(perUser / 3) }),
  });
}
