/**
 * The web app: Fastify with server-rendered pages (the seed's wizard, the hub dashboard,
 * invitations) and a small JSON API described by OpenAPI at /api/docs/json.
 *
 * Security: sessions are random tokens in an HttpOnly, SameSite=Lax cookie (Secure behind HTTPS),
 * stored hashed; every state-changing request carries a CSRF token (synchronizer token in the
 * session; a double-submit cookie before sign-in), OWASP CSRF cheat sheet; login is rate-limited
 * per address; every hub, spoke, account and invitation is looked up within the signed-in user's
 * organisation (tenancy.ts), and one outside it is "not found".
 */
import { timingSafeEqual } from 'node:crypto';
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import cookie from '@fastify/cookie';
import formbody from '@fastify/formbody';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import { DecisionError } from '../engine/run/decisions.js';
import { NotFoundError } from '../store/hubs.js';
import { LeaseHeldError } from '../store/lease.js';
import { CSS, JS } from './assets.js';
import type { ServerDeps } from './context.js';
import { html } from './html.js';
import { pickLang, translator, type Lang } from './i18n.js';
import { SignIns } from './oauth-flow.js';
import { registerApiRoutes } from './routes-api.js';
import { registerAuthRoutes } from './routes-auth.js';
import { registerHubRoutes } from './routes-hub.js';
import { registerInviteRoutes } from './routes-invite.js';
import { registerWizardRoutes } from './routes-wizard.js';
import { loadSession, newToken, saveSessionData } from './tenancy.js';
import { layout, sendPage } from './views.js';

export const SESSION_COOKIE = 'hubsync_session';
export const PRE_CSRF_COOKIE = 'hubsync_csrf';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const safeEqual = (a: string, b: string): boolean => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

export interface RouteConfig {
  /** Reachable without a session. */
  public?: boolean;
}

export async function buildServer(deps: ServerDeps): Promise<FastifyInstance> {
  // Fastify types its instance by the logger's type; the routes take the default instance type.
  const app = Fastify({
    loggerInstance: deps.log,
    // One line per request, when it is answered (below), instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    trustProxy: false,
    bodyLimit: 1_000_000,
  }) as unknown as FastifyInstance;
  app.addHook('onResponse', async (req, reply) => {
    req.log.info({ req, res: reply, responseTime: reply.elapsedTime }, 'request completed');
  });
  const routeList: FastifyInstance['routeList'] = [];
  app.decorate('routeList', routeList);
  app.addHook('onRoute', (r) => {
    for (const m of Array.isArray(r.method) ? r.method : [r.method]) {
      if (m !== 'HEAD') routeList.push({ method: m, url: r.url, public: (r.config as RouteConfig | undefined)?.public === true });
    }
  });
  await app.register(cookie);
  await app.register(formbody);
  await app.register(rateLimit, { global: false });
  await app.register(swagger, {
    openapi: {
      info: { title: 'Hubsync API', version: '0.1.0', description: 'Hubs, spokes, sync runs and contacts of the signed-in organisation. Authenticate with the session cookie; send the CSRF token (GET /api/session) in the x-csrf-token header on POST.' },
    },
    hideUntagged: true,
  });

  app.decorateRequest('hs', null as unknown as FastifyRequest['hs']);

  app.addHook('onRequest', async (req, reply) => {
    const cookieLang = req.cookies.lang;
    const lang: Lang = cookieLang === 'fr' || cookieLang === 'en' ? cookieLang : pickLang(req.headers['accept-language']);
    const token = req.cookies[SESSION_COOKIE];
    const session = token ? await loadSession(deps.db, token, deps.now()) : null;
    let csrf = session?.csrf;
    if (!csrf) {
      csrf = req.cookies[PRE_CSRF_COOKIE] ?? '';
      if (!/^[A-Za-z0-9_-]{43}$/.test(csrf)) {
        csrf = newToken();
        reply.setCookie(PRE_CSRF_COOKIE, csrf, { path: '/', httpOnly: true, sameSite: 'lax', secure: deps.config.secureCookies });
      }
    }
    req.hs = { session, lang, t: translator(lang), csrf };
    if (session?.data.flash && req.method === 'GET' && !req.url.startsWith('/static/') && !req.url.includes('/progress')) {
      req.hs.flash = session.data.flash;
      delete session.data.flash;
      await saveSessionData(deps.db, session);
    }
  });

  // Authentication first, then CSRF: both before the body is used.
  app.addHook('preHandler', async (req, reply) => {
    const cfg = (req.routeOptions.config ?? {}) as RouteConfig;
    if (!cfg.public && !req.hs.session) {
      if (req.url.startsWith('/api/')) return reply.code(401).send({ error: 'Sign in first.' });
      return reply.redirect(`/login?next=${encodeURIComponent(req.url)}`);
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      const body = req.body as Record<string, unknown> | undefined;
      const sent = (typeof req.headers['x-csrf-token'] === 'string' ? req.headers['x-csrf-token'] : undefined) ?? (typeof body?._csrf === 'string' ? body._csrf : '');
      if (!sent || !req.hs.csrf || !safeEqual(sent, req.hs.csrf)) {
        deps.log.warn({ url: req.url }, 'request refused: missing or wrong CSRF token');
        if (req.url.startsWith('/api/')) return reply.code(403).send({ error: 'Missing or wrong CSRF token.' });
        return sendPage(reply, layout(req, deps, req.hs.t('csrf.title'), html`<h1>${req.hs.t('csrf.title')}</h1><p>${req.hs.t('csrf.body')}</p><p><a href="/">${req.hs.t('common.home')}</a></p>`), 403);
      }
    }
  });

  app.setErrorHandler(async (err: unknown, req, reply) => {
    const t = req.hs?.t ?? translator('en');
    const isApi = req.url.startsWith('/api/');
    let status = 500;
    let message = t('error.unexpected');
    if (err instanceof NotFoundError) {
      status = 404;
      message = t('error.notFound');
    } else if (err instanceof HttpError) {
      status = err.status;
      message = err.message;
    } else if (err instanceof DecisionError || err instanceof LeaseHeldError) {
      status = 409;
      message = err.message;
    } else if (typeof err === 'object' && err !== null && 'statusCode' in err && typeof (err as { statusCode: unknown }).statusCode === 'number' && (err as { statusCode: number }).statusCode < 500) {
      status = (err as { statusCode: number }).statusCode;
      message = status === 429 ? t('error.tooMany') : err instanceof Error ? err.message : message;
    }
    if (status >= 500) deps.log.error({ err, url: req.url }, 'request failed');
    if (isApi) return reply.code(status).send({ error: message });
    if (!req.hs) return reply.code(status).type('text/plain').send(message);
    return sendPage(reply, layout(req, deps, t('error.title'), html`<h1>${status === 404 ? t('error.notFoundTitle') : t('error.title')}</h1><p>${message}</p><p><a href="/">${t('common.home')}</a></p>`), status);
  });

  app.setNotFoundHandler(async (req, reply) => {
    if (req.url.startsWith('/api/')) return reply.code(404).send({ error: 'Not found.' });
    const t = req.hs.t;
    return sendPage(reply, layout(req, deps, t('error.notFoundTitle'), html`<h1>${t('error.notFoundTitle')}</h1><p>${t('error.notFound')}</p><p><a href="/">${t('common.home')}</a></p>`), 404);
  });

  const pub = { config: { public: true } satisfies RouteConfig };
  app.get('/static/app.css', pub, async (_req, reply) => reply.type('text/css; charset=utf-8').header('cache-control', 'public, max-age=300').send(CSS));
  app.get('/static/app.js', pub, async (_req, reply) => reply.type('text/javascript; charset=utf-8').header('cache-control', 'public, max-age=300').send(JS));
  app.get('/health', pub, async () => ({ status: 'ok', demo: deps.config.demo }));
  app.get('/metrics', pub, async (_req, reply) => reply.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics()));
  app.get('/api/docs/json', pub, async () => app.swagger());
  app.get('/lang/:lang', pub, async (req: FastifyRequest<{ Params: { lang: string }; Querystring: { back?: string } }>, reply: FastifyReply) => {
    const lang = req.params.lang === 'fr' ? 'fr' : 'en';
    reply.setCookie('lang', lang, { path: '/', httpOnly: true, sameSite: 'lax', secure: deps.config.secureCookies, maxAge: 365 * 86400 });
    const back = req.query.back ?? '/';
    // Only a path on this site (no open redirect).
    return reply.redirect(back.startsWith('/') && !back.startsWith('//') && !back.startsWith('/\\') ? back : '/');
  });

  const signIns = new SignIns(deps);
  signIns.register(app);
  registerAuthRoutes(app, deps);
  registerWizardRoutes(app, deps, signIns);
  registerHubRoutes(app, deps);
  registerInviteRoutes(app, deps, signIns);
  registerApiRoutes(app, deps);
  return app;
}
