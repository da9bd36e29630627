/**
 * Demo mode: when no provider credentials are configured, the Google and Microsoft emulators run
 * in-process with sample accounts — two Google users, and a Microsoft 365 tenant with three
 * mailboxes, people without a mailbox (the GAL) and organisational contacts — filled with
 * realistic, overlapping contacts, so the whole wizard works offline. The server points the
 * provider modules at them through the usual HUBSYNC_*_URL settings.
 */
import { sampleContact, type SampleContact } from '../demo/sample-contacts.js';
import { googleEnv, startDemoGoogle, type GoogleEmulator } from '../emulators/google/index.js';
import { startMicrosoftEmulator, type MicrosoftEmulator } from '../emulators/microsoft/server.js';
import type { Seed } from '../emulators/microsoft/state.js';
import { PROVIDER_CREDENTIAL_VARS } from './app.js';
import type { OAuthProvider } from './oauth-provider.js';
import { configuredProviders } from './providers.js';

export interface DemoProviders {
  providers?: Map<string, OAuthProvider>;
  env?: NodeJS.ProcessEnv;
  closers?: (() => Promise<void>)[];
  demo?: boolean;
  google?: GoogleEmulator;
  microsoft?: MicrosoftEmulator;
}

export const DEMO_GOOGLE_USERS = ['alex@demo.example', 'sam@demo.example'];
export const DEMO_MS_CLIENT_ID = 'hubsync-demo-app';
export const DEMO_MS_MAILBOXES = ['adele@contoso.example', 'megan@contoso.example', 'lynne@contoso.example'];

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

export function demoMicrosoftSeed(redirectUris: string[]): Seed {
  const [adele, megan, lynne] = DEMO_MS_MAILBOXES as [string, string, string];
  // Mailboxes share some people with each other and with the Google accounts (seed 42 is theirs).
  const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => graphContact(sampleContact(42, from + i)));
  return {
    tenant: { name: 'Contoso (demo)', domain: 'contoso.example' },
    apps: [{ clientId: DEMO_MS_CLIENT_ID, consented: true, redirectUris }],
    users: [
      { userPrincipalName: adele, displayName: 'Adele Vance', givenName: 'Adele', surname: 'Vance', mail: adele, jobTitle: 'Retail Manager', department: 'Retail', mailbox: 'user', contacts: range(10, 40) },
      { userPrincipalName: megan, displayName: 'Megan Bowen', givenName: 'Megan', surname: 'Bowen', mail: megan, jobTitle: 'Marketing Manager', department: 'Marketing', mailbox: 'user', contacts: range(30, 60) },
      { userPrincipalName: lynne, displayName: 'Lynne Robbins', givenName: 'Lynne', surname: 'Robbins', mail: lynne, jobTitle: 'Planner', department: 'Retail', mailbox: 'user', contacts: range(55, 70) },
      { userPrincipalName: 'reception@contoso.example', displayName: 'Reception', mail: 'reception@contoso.example', mailbox: 'shared', contacts: [] },
      { userPrincipalName: 'diego@contoso.example', displayName: 'Diego Siciliani', givenName: 'Diego', surname: 'Siciliani', mail: 'diego@contoso.example', jobTitle: 'HR Manager', department: 'HR', businessPhones: ['+1 425 555 0109'], mailbox: 'none' },
    ],
    orgContacts: [
      { displayName: 'Contoso Legal (external)', mail: 'legal@fabrikam.example', companyName: 'Fabrikam', phones: [{ type: 'business', number: '+1 206 555 0142' }] },
    ],
  };
}

export async function startDemoProviders(env: NodeJS.ProcessEnv, publicUrl: string): Promise<DemoProviders> {
  if (PROVIDER_CREDENTIAL_VARS.some((v) => env[v])) return { providers: configuredProviders(env) };
  const google = await startDemoGoogle({ port: 0 });
  // A loopback public address needs no registered redirect URI (any port: RFC 8252 §7.3), so the
  // port may be chosen after the emulator starts (tests listen on port 0).
  const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(new URL(publicUrl).hostname);
  const redirects = loopback ? [] : [`${publicUrl.replace(/\/$/, '')}/oauth/callback`];
  const microsoft = await startMicrosoftEmulator({ port: 0, host: '127.0.0.1', seed: demoMicrosoftSeed(redirects) });
  const demoEnv: NodeJS.ProcessEnv = {
    ...env,
    ...googleEnv(google.url),
    HUBSYNC_GOOGLE_CLIENT_ID: 'hubsync-demo-client',
    HUBSYNC_GRAPH_URL: microsoft.url,
    HUBSYNC_MS_LOGIN_URL: microsoft.url,
    HUBSYNC_MICROSOFT_CLIENT_ID: DEMO_MS_CLIENT_ID,
    HUBSYNC_MICROSOFT_TENANT: 'organizations',
  };
  return {
    demo: true,
    env: demoEnv,
    providers: configuredProviders(demoEnv),
    closers: [() => google.close(), () => microsoft.close()],
    google,
    microsoft,
  };
}
