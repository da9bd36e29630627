/**
 * A Google People connector on a fresh emulator, reached as the app would reach it: a refresh
 * token, the OAuth token endpoint, the API root from `HUBSYNC_GOOGLE_API_URL`.
 */
import { refreshGoogleToken, type GoogleOAuthSettings } from '../../src/accounts/google.js';
import { googlePeopleConnectorFactory, type GooglePeopleConnector } from '../../src/connectors/google-people/connector.js';
import type { SpokeAuth } from '../../src/connectors/kit/contract.js';
import { googleEnv, startGoogle, type GoogleEmulator, type GoogleSeed } from '../../src/emulators/google/index.js';

export const CLIENT_ID = 'hubsync-test-client';

export function oauthSettings(url: string): GoogleOAuthSettings {
  const env = googleEnv(url);
  return { clientId: CLIENT_ID, clientSecret: undefined, authUrl: env.HUBSYNC_GOOGLE_AUTH_URL as string, tokenUrl: env.HUBSYNC_GOOGLE_TOKEN_URL as string, userinfoUrl: env.HUBSYNC_GOOGLE_USERINFO_URL as string };
}

/** Credentials for a user of the emulator, refreshed through the token endpoint. */
export function authFor(emu: GoogleEmulator, email: string): SpokeAuth {
  const refresh = emu.state.mintRefreshToken(email, CLIENT_ID);
  let token: Promise<string> | null = null;
  return {
    accessToken: () => (token ??= refreshGoogleToken(oauthSettings(emu.url), refresh).then((g) => g.accessToken)),
    invalidateAccessToken: () => {
      token = null;
    },
  };
}

export interface GoogleRig {
  emu: GoogleEmulator;
  connector: GooglePeopleConnector;
  email: string;
  /** Requests the connector sent, in order: method, path and body. */
  sent: { method: string; path: string; body: unknown }[];
  maxMutatesInFlight(): number;
  close(): Promise<void>;
}

export async function googleRig(seed: GoogleSeed = { users: [{ email: 'ada@example.org' }] }, opts: { visibilityLagMs?: number; pageSize?: number } = {}): Promise<GoogleRig> {
  const emu = await startGoogle({ seed });
  const email = seed.users[0]?.email as string;
  const sent: GoogleRig['sent'] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const fetchSpy: typeof fetch = async (input, init) => {
    const u = new URL(typeof input === 'string' ? input : input instanceof URL ? input.toString() : input.url);
    const method = init?.method ?? 'GET';
    const mutate = method !== 'GET' && u.pathname.startsWith('/v1/');
    sent.push({ method, path: `${u.pathname}${u.search}`, body: typeof init?.body === 'string' ? (JSON.parse(init.body) as unknown) : undefined });
    if (mutate) maxInFlight = Math.max(maxInFlight, ++inFlight);
    try {
      return await fetch(input, init);
    } finally {
      if (mutate) inFlight -= 1;
    }
  };
  const factory = googlePeopleConnectorFactory(googleEnv(emu.url));
  const connector = factory.create(
    factory.parseConfig({ account: email, visibilityLagMs: opts.visibilityLagMs ?? 0, ...(opts.pageSize ? { pageSize: opts.pageSize } : {}) }),
    { now: Date.now, defaultRegion: 'DE', auth: authFor(emu, email), fetch: fetchSpy },
  ) as GooglePeopleConnector;
  return { emu, connector, email, sent, maxMutatesInFlight: () => maxInFlight, close: () => emu.close() };
}
