/**
 * Starting the web app: opens the store (openApp, as the CLI does), wires the runner, metrics,
 * mail and the account providers, and in demo mode (no provider credentials configured) also
 * the emulated providers with sample accounts and example vCard folders, so the whole wizard
 * works offline.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { openApp, type App } from '../cli/app.js';
import type { GlobalOptions } from '../cli/settings.js';
import type { ConnectorFactory } from '../connectors/kit/contract.js';
import { sampleContact, sampleVcard } from '../demo/sample-contacts.js';
import type { ServerConfig, ServerDeps } from './context.js';
import { createMailer } from './mailer.js';
import { Metrics } from './metrics.js';
import type { OAuthProvider } from './oauth-provider.js';
import { HubRunner } from './scheduler.js';
import { serverLogger } from './logging.js';
import { buildServer } from './server.js';
import { adoptOrphans, firstOrgId } from './tenancy.js';

export interface StartOptions extends GlobalOptions {
  env?: NodeJS.ProcessEnv;
  /** Extra or replacement connector types (tests). */
  factories?: Map<string, ConnectorFactory>;
  /** Account providers offered for sign-in; default: those configured (or emulated in demo mode). */
  providers?: Map<string, OAuthProvider>;
  /** Emulators or other in-process services to stop with the server. */
  closers?: (() => Promise<void>)[];
  log?: Logger;
  /** How often the scheduler looks for due hubs (ms); 0 turns the scheduler off (tests). */
  schedulerEveryMs?: number;
  publicUrl?: string;
  now?: () => number;
  loginAttemptsPerMinute?: number;
  /** Let anyone create an organisation at /setup (default: HUBSYNC_OPEN_SIGNUP=true). */
  openSignup?: boolean;
  /** Force demo mode on or off (default: on when no provider credentials are configured). */
  demo?: boolean;
}

export interface RunningApp {
  app: App;
  server: FastifyInstance;
  deps: ServerDeps;
  close(): Promise<void>;
}

/** Provider credentials the operator can configure; with none of them the server runs as a demo. */
export const PROVIDER_CREDENTIAL_VARS = ['HUBSYNC_GOOGLE_CLIENT_ID', 'HUBSYNC_MICROSOFT_CLIENT_ID'];

const DEMO_FOLDERS = [
  { name: 'phone', from: 0, to: 40 },
  { name: 'office', from: 25, to: 70 },
];

/** Example vCard folders for the "Folder of vCards" source in demo mode (made once). */
function demoFolders(dataDir: string): string[] {
  const root = path.join(dataDir, 'demo-folders');
  return DEMO_FOLDERS.map((f) => {
    const dir = path.join(root, f.name);
    if (!existsSync(dir)) {
      mkdirSync(dir, { recursive: true });
      for (let i = f.from; i < f.to; i++) {
        const c = sampleContact(11, i);
        writeFileSync(path.join(dir, `${f.name}-${i}.vcf`), sampleVcard({ ...c, uid: `${f.name}-${c.uid}` }));
      }
    }
    return dir;
  });
}

export async function createWebApp(opts: StartOptions = {}): Promise<RunningApp> {
  const env = opts.env ?? process.env;
  const log = opts.log ?? serverLogger(env);
  const app = await openApp(opts, { env, ...(opts.factories ? { factories: opts.factories } : {}) });
  const now = opts.now ?? Date.now;
  const metrics = new Metrics(!opts.log);
  const demo = opts.demo ?? PROVIDER_CREDENTIAL_VARS.every((v) => !env[v]);
  const port = env.PORT ?? '8080';
  const publicUrl = opts.publicUrl ?? env.HUBSYNC_PUBLIC_URL ?? `http://localhost:${port}`;
  const config: ServerConfig = {
    publicUrl,
    secureCookies: env.HUBSYNC_SECURE_COOKIES ? env.HUBSYNC_SECURE_COOKIES === 'true' : publicUrl.startsWith('https:'),
    demo,
    dataDir: app.dataDir,
    loginAttemptsPerMinute: opts.loginAttemptsPerMinute ?? 10,
    demoFolders: demo ? demoFolders(app.dataDir) : [],
    openSignup: opts.openSignup ?? env.HUBSYNC_OPEN_SIGNUP === 'true',
  };

  // Count provider API calls: connectors get a fetch that counts, per account provider.
  const basePrepare = app.engine.prepareEnv;
  const engine = {
    ...app.engine,
    now,
    prepareEnv: async (spoke: Parameters<NonNullable<typeof basePrepare>>[0]) => {
      const extra = basePrepare ? await basePrepare(spoke) : {};
      const provider = app.factories.get(spoke.type)?.accountProvider ?? spoke.type;
      return { ...extra, fetch: metrics.countingFetch(provider, extra.fetch) };
    },
  };
  const runner = new HubRunner(engine, metrics, log);
  const deps: ServerDeps = {
    db: app.store.db,
    engine,
    factories: app.factories,
    accounts: app.accounts,
    tokens: app.tokens,
    providers: opts.providers ?? new Map(),
    runner,
    metrics,
    mailer: createMailer({ db: app.store.db, log, smtpUrl: env.HUBSYNC_SMTP_URL, from: env.HUBSYNC_MAIL_FROM ?? 'Hubsync <hubsync@localhost>', ids: app.engine.ids, now }),
    log,
    config,
    ids: app.engine.ids,
    now,
  };
  // Hubs made with the CLI after the first organisation exists are adopted by it too.
  const first = await firstOrgId(app.store.db);
  if (first) await adoptOrphans(app.store.db, first);

  const server = await buildServer(deps);
  const every = opts.schedulerEveryMs ?? 30_000;
  if (every > 0) runner.start(every);
  return {
    app,
    server,
    deps,
    async close() {
      runner.stop();
      await runner.drain();
      await server.close();
      for (const c of opts.closers ?? []) await c();
      await app.close();
    },
  };
}
