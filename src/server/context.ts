/**
 * What every route of the web app gets: the store, the engine, accounts, providers, the runner,
 * mail, metrics and settings. Built once by buildServer().
 */
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { AccessTokens } from '../accounts/access-tokens.js';
import type { AccountStore } from '../accounts/accounts.js';
import type { ConnectorFactory } from '../connectors/kit/contract.js';
import type { EngineDeps } from '../engine/run/sync-hub.js';
import type { Schema } from '../store/schema.js';
import type { Lang, Translator } from './i18n.js';
import type { Mailer } from './mailer.js';
import type { Metrics } from './metrics.js';
import type { OAuthProvider } from './oauth-provider.js';
import type { HubRunner } from './scheduler.js';
import type { Session } from './tenancy.js';

export interface ServerConfig {
  /** The address people reach the server at (links in e-mails, OAuth redirect URIs). */
  publicUrl: string;
  /** Mark cookies Secure (behind HTTPS). Default: when publicUrl is https. */
  secureCookies: boolean;
  /** No provider credentials configured: emulated providers with sample accounts. */
  demo: boolean;
  dataDir: string;
  /** Login attempts per IP per minute. */
  loginAttemptsPerMinute: number;
  /** Folders offered as examples for a vCard-folder spoke (demo mode). */
  demoFolders: string[];
  /**
   * Anyone may create a new organisation at /setup (HUBSYNC_OPEN_SIGNUP=true), e.g. a hosted
   * service; by default only the first visitor does, and the server serves that one organisation.
   */
  openSignup: boolean;
}

export interface ServerDeps {
  db: Kysely<Schema>;
  engine: EngineDeps;
  factories: ReadonlyMap<string, ConnectorFactory>;
  accounts: AccountStore;
  tokens: AccessTokens;
  providers: ReadonlyMap<string, OAuthProvider>;
  runner: HubRunner;
  metrics: Metrics;
  mailer: Mailer;
  log: Logger;
  config: ServerConfig;
  ids: () => string;
  now: () => number;
}

export interface RequestCtx {
  session: Session | null;
  lang: Lang;
  t: Translator;
  /** The token forms must send back (the session's, or the pre-session double-submit cookie's). */
  csrf: string;
  /** A message left by the previous request ("Saved."), shown once. */
  flash?: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    hs: RequestCtx;
  }
  interface FastifyInstance {
    /** Every route registered (method and URL pattern): the cross-organisation test walks them. */
    routeList: { method: string; url: string; public: boolean }[];
  }
  interface FastifyContextConfig {
    /** Reachable without a session (see server.ts). */
    public?: boolean;
  }
}
