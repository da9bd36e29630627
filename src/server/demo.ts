/**
 * Demo mode: when no provider credentials are configured, the Google and Microsoft emulators run
 * in-process with sample accounts — two Google users, and a Microsoft 365 tenant with three
 * mailboxes, people without a mailbox (the GAL) and organisational contacts — filled with
 * realistic, overlapping contacts, so the whole wizard works offline. The server points the
 * provider modules at them through the usual HUBSYNC_*_URL settings.
 */
import { googleEnv, startDemoGoogle, type GoogleEmulator } from '../emulators/google/index.js';
import { DEMO_PUBLIC_CLIENT_ID, demoMicrosoftSeed, startMicrosoftEmulator, type MicrosoftEmulator } from '../emulators/microsoft/index.js';
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
export async function startDemoProviders(env: NodeJS.ProcessEnv, publicUrl: string): Promise<DemoProviders> {
  if (PROVIDER_CREDENTIAL_VARS.some((v) => env[v])) return { providers: configuredProviders(env) };
  const google = await startDemoGoogle({ port: 0 });
  // A loopback public address needs no registered redirect URI (any port: RFC 8252 §7.3), so the
  // port may be chosen after the emulator starts (tests listen on port 0).
  const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(new URL(publicUrl).hostname);
  const redirects = loopback ? [] : [`${publicUrl.replace(/\/$/, '')}/oauth/callback`];
  const microsoft = await startMicrosoftEmulator({ port: 0, host: '127.0.0.1', seed: demoMicrosoftSeed({ redirectUris: redirects }) });
  const demoEnv: NodeJS.ProcessEnv = {
    ...env,
    ...googleEnv(google.url),
    HUBSYNC_GOOGLE_CLIENT_ID: 'hubsync-demo-client',
    HUBSYNC_GRAPH_URL: microsoft.url,
    HUBSYNC_MS_LOGIN_URL: microsoft.url,
    HUBSYNC_MICROSOFT_CLIENT_ID: DEMO_PUBLIC_CLIENT_ID,
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
