/**
 * First visit (the administrator creates the organisation), sign-in, sign-out, the hub list and
 * the outbox.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ServerDeps } from './context.js';
import { html, type Html } from './html.js';
import { hashPassword, passwordProblem, verifyPassword } from './passwords.js';
import { PRE_CSRF_COOKIE, SESSION_COOKIE, type RouteConfig } from './server.js';
import { adoptOrphans, createOrgWithAdmin, createSession, deleteSession, findUserByEmail, orgHubs, userCount } from './tenancy.js';
import { csrfField, errorBox, layout, sendPage, when } from './views.js';

type Body = Record<string, string | undefined>;

const EMAIL = /^[^\s@<>"]+@[^\s@<>"]+\.[^\s@<>"]+$/;

/** Mail text with its http(s) links made clickable (each part escaped). */
function linkify(text: string): Html[] {
  return text.split(/(https?:\/\/[^\s<>"]+)/g).map((part, i) => (i % 2 === 1 ? html`<a href="${part}">${part}</a>` : html`${part}`));
}

function safeNext(next: string | undefined): string {
  return next && next.startsWith('/') && !next.startsWith('//') && !next.startsWith('/\\') ? next : '/';
}

export function registerAuthRoutes(app: FastifyInstance, deps: ServerDeps): void {
  const pub = { config: { public: true } satisfies RouteConfig };

  const startSession = async (reply: FastifyReply, userId: string) => {
    const { token } = await createSession(deps.db, userId, deps.now());
    reply.setCookie(SESSION_COOKIE, token, { path: '/', httpOnly: true, sameSite: 'lax', secure: deps.config.secureCookies, maxAge: 12 * 3600 });
    reply.clearCookie(PRE_CSRF_COOKIE, { path: '/' });
  };

  app.get('/', pub, async (req, reply) => {
    if ((await userCount(deps.db)) === 0) return reply.redirect('/setup');
    if (!req.hs.session) return reply.redirect('/login');
    const hubs = await orgHubs(deps.db, req.hs.session.user.orgId);
    return reply.redirect(hubs.length === 0 ? '/wizard' : hubs.length === 1 && hubs[0] ? `/hubs/${hubs[0].id}` : '/hubs');
  });

  const setupPage = (req: FastifyRequest, error?: string, v: Body = {}) => {
    const t = req.hs.t;
    return layout(req, deps, t('setup.title'), html`
<h1>${t('setup.title')}</h1>
<p>${t('setup.intro')}</p>
${errorBox(error)}
<form method="post" action="/setup" class="card">
  ${csrfField(req)}
  <label for="org">${t('setup.org')}</label>
  <input id="org" name="org" type="text" required autocomplete="organization" value="${v.org ?? ''}">
  <label for="name">${t('setup.name')}</label>
  <input id="name" name="name" type="text" required autocomplete="name" value="${v.name ?? ''}">
  <label for="email">${t('common.email')}</label>
  <input id="email" name="email" type="email" required autocomplete="email" value="${v.email ?? ''}">
  <label for="password">${t('common.password')}</label>
  <p class="hint" id="password-hint">${t('setup.passwordHint')}</p>
  <input id="password" name="password" type="password" required minlength="10" autocomplete="new-password" aria-describedby="password-hint">
  <div class="actions"><button type="submit">${t('setup.submit')}</button></div>
</form>`);
  };

  const setupOpen = async () => deps.config.openSignup || (await userCount(deps.db)) === 0;

  app.get('/setup', pub, async (req, reply) => {
    if (!(await setupOpen())) return reply.redirect('/login');
    return sendPage(reply, setupPage(req));
  });

  app.post('/setup', pub, async (req: FastifyRequest<{ Body: Body }>, reply) => {
    const t = req.hs.t;
    // Only the first visitor (unless sign-up is open): each sign-up makes a new organisation.
    if (!(await setupOpen())) return reply.redirect('/login');
    const first = (await userCount(deps.db)) === 0;
    const b = req.body ?? {};
    const org = (b.org ?? '').trim();
    const name = (b.name ?? '').trim();
    const email = (b.email ?? '').trim().toLowerCase();
    const password = b.password ?? '';
    if (!org || !name) return sendPage(reply, setupPage(req, t('setup.missing'), b), 400);
    if (!EMAIL.test(email)) return sendPage(reply, setupPage(req, t('common.badEmail'), b), 400);
    if (await findUserByEmail(deps.db, email)) return sendPage(reply, setupPage(req, t('setup.taken'), b), 400);
    const p = passwordProblem(password);
    if (p) return sendPage(reply, setupPage(req, t(p === 'too-short' ? 'setup.passwordShort' : 'setup.passwordLong'), b), 400);
    const user = await createOrgWithAdmin(deps.db, { orgId: deps.ids(), orgName: org, userId: deps.ids(), email, name, passwordHash: await hashPassword(password), now: deps.now() });
    const adopted = first ? await adoptOrphans(deps.db, user.orgId) : 0;
    if (adopted > 0) deps.log.info({ hubs: adopted }, 'the first organisation adopted the hubs made with the CLI');
    await startSession(reply, user.id);
    return reply.redirect('/');
  });

  const loginPage = (req: FastifyRequest, error?: string, email = '', next = '/') => {
    const t = req.hs.t;
    return layout(req, deps, t('login.title'), html`
<h1>${t('login.title')}</h1>
${errorBox(error)}
<form method="post" action="/login" class="card">
  ${csrfField(req)}
  <input type="hidden" name="next" value="${next}">
  <label for="email">${t('common.email')}</label>
  <input id="email" name="email" type="email" required autocomplete="username" value="${email}">
  <label for="password">${t('common.password')}</label>
  <input id="password" name="password" type="password" required autocomplete="current-password">
  <div class="actions"><button type="submit">${t('login.submit')}</button></div>
</form>
${deps.config.openSignup ? html`<p><a href="/setup">${t('login.signup')}</a></p>` : ''}`);
  };

  app.get('/login', pub, async (req: FastifyRequest<{ Querystring: { next?: string } }>, reply) => {
    if ((await userCount(deps.db)) === 0) return reply.redirect('/setup');
    if (req.hs.session) return reply.redirect(safeNext(req.query.next));
    return sendPage(reply, loginPage(req, undefined, '', safeNext(req.query.next)));
  });

  app.post(
    '/login',
    {
      config: {
        public: true,
        rateLimit: {
          max: deps.config.loginAttemptsPerMinute,
          timeWindow: 60_000,
          errorResponseBuilder: (req: FastifyRequest) => ({ statusCode: 429, message: req.hs.t('login.tooMany') }),
        },
      },
    },
    async (req: FastifyRequest<{ Body: Body }>, reply) => {
      const b = req.body ?? {};
      const user = await findUserByEmail(deps.db, b.email ?? '');
      const ok = user ? await verifyPassword(b.password ?? '', user.passwordHash) : false;
      if (!user || !ok) {
        deps.log.warn({ email: b.email }, 'sign-in refused');
        return sendPage(reply, loginPage(req, req.hs.t('login.wrong'), b.email ?? '', safeNext(b.next)), 401);
      }
      await startSession(reply, user.id);
      return reply.redirect(safeNext(b.next));
    },
  );

  app.post('/logout', async (req, reply) => {
    if (req.hs.session) await deleteSession(deps.db, req.hs.session.idHash);
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
    return reply.redirect('/login');
  });

  app.get('/hubs', async (req, reply) => {
    const t = req.hs.t;
    const s = req.hs.session;
    if (!s) return reply.redirect('/login');
    const hubs = await orgHubs(deps.db, s.user.orgId);
    return sendPage(reply, layout(req, deps, t('hubs.title'), html`
<h1>${t('hubs.title')}</h1>
${hubs.length === 0 ? html`<p>${t('hubs.none')}</p>` : html`<ul class="card">${hubs.map((h) => html`<li><a href="/hubs/${h.id}">${h.name}</a> <span class="muted small">${t('hubs.created', { when: when(req, h.createdAt) })}</span></li>`)}</ul>`}
<div class="actions"><a class="button" href="/wizard">${t('hubs.new')}</a></div>`));
  });

  app.get('/outbox', async (req, reply) => {
    const t = req.hs.t;
    const s = req.hs.session;
    if (!s) return reply.redirect('/login');
    const mails = await deps.db.selectFrom('outbox').selectAll().where('org_id', '=', s.user.orgId).orderBy('created_at', 'desc').limit(50).execute();
    return sendPage(reply, layout(req, deps, t('outbox.title'), html`
<h1>${t('outbox.title')}</h1>
<p>${deps.mailer.smtp ? t('outbox.smtp') : t('outbox.noSmtp')}</p>
${mails.length === 0 ? html`<p>${t('outbox.empty')}</p>` : mails.map((m) => html`
<section class="card mail">
  <h2>${m.subject}</h2>
  <p class="small muted">${t('outbox.to')} ${m.to_addr} · ${when(req, m.created_at)} · ${m.sent ? t('outbox.sent') : m.error ? t('outbox.failed', { error: m.error }) : t('outbox.kept')}</p>
  <pre class="mail">${linkify(m.body)}</pre>
</section>`)}`));
  });
}
