/**
 * The page frame and small building blocks shared by every page: header with the language switch,
 * the Demo mark, a skip link, flash messages; forms always carry the CSRF token.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { html, raw, type Html, type HtmlValue } from './html.js';
import type { ServerDeps } from './context.js';

export function csrfField(req: FastifyRequest): Html {
  return html`<input type="hidden" name="_csrf" value="${req.hs.csrf}">`;
}

/** A one-button form (POST), the accessible way to make an action that changes something. */
export function postButton(req: FastifyRequest, action: string, label: string, opts: { cls?: string; fields?: Record<string, string>; name?: string } = {}): Html {
  const fields = Object.entries(opts.fields ?? {}).map(([k, v]) => html`<input type="hidden" name="${k}" value="${v}">`);
  return html`<form method="post" action="${action}" class="inline">${csrfField(req)}${fields}<button type="submit" class="${opts.cls ?? ''}"${opts.name ? raw(` name="${opts.name}"`) : ''}>${label}</button></form>`;
}

export function when(req: FastifyRequest, ms: number | null | undefined): string {
  if (!ms) return req.hs.t('common.never');
  return new Date(ms).toLocaleString(req.hs.lang === 'fr' ? 'fr-FR' : 'en-GB', { dateStyle: 'medium', timeStyle: 'short' });
}

export function layout(req: FastifyRequest, deps: ServerDeps, title: string, body: HtmlValue, opts: { wide?: boolean } = {}): Html {
  const t = req.hs.t;
  const s = req.hs.session;
  const flash = req.hs.flash;
  const other = req.hs.lang === 'fr' ? 'en' : 'fr';
  const back = req.url.startsWith('/') && !req.url.startsWith('//') ? req.url : '/';
  return html`<!doctype html>
<html lang="${req.hs.lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · Hubsync</title>
<link rel="stylesheet" href="/static/app.css">
<script src="/static/app.js" defer></script>
</head>
<body>
<a class="skip" href="#main">${t('common.skip')}</a>
<header class="top">
  <a class="brand" href="/">Hubsync</a>
  ${deps.config.demo ? html`<span class="demo" title="${t('demo.title')}">${t('demo.badge')}</span>` : ''}
  <nav aria-label="${t('nav.label')}">
    ${s ? html`<a href="/hubs">${t('nav.hubs')}</a> <a href="/outbox">${t('nav.outbox')}</a>` : ''}
    <a href="/lang/${other}?back=${encodeURIComponent(back)}" lang="${other}" hreflang="${other}">${other === 'fr' ? 'Français' : 'English'}</a>
    ${s ? html`<span class="who">${s.user.email}</span> ${postButton(req, '/logout', t('nav.logout'), { cls: 'link' })}` : ''}
  </nav>
</header>
<main id="main" class="${opts.wide ? 'wide' : ''}">
${flash ? html`<div class="flash" role="status">${flash}</div>` : ''}
${body}
</main>
</body>
</html>`;
}

export async function sendPage(reply: FastifyReply, page: Html, status = 200): Promise<FastifyReply> {
  return reply.code(status).type('text/html; charset=utf-8').header('cache-control', 'no-store').send(page.value);
}

/** Wizard steps as the seed numbers them, shown as a progress list. */
export function wizardSteps(req: FastifyRequest, current: number, hubKnown: boolean): Html {
  const t = req.hs.t;
  const steps = [t('wizard.step.object'), t('wizard.step.source'), t('wizard.step.connect'), t('wizard.step.spoke'), ...(hubKnown ? [] : [t('wizard.step.hub')])];
  return html`<ol class="steps" aria-label="${t('wizard.steps')}">${steps.map((s, i) =>
    html`<li class="${i + 1 === current ? 'current' : i + 1 < current ? 'done' : ''}"${i + 1 === current ? raw(' aria-current="step"') : ''}>${s}</li>`,
  )}</ol>`;
}

export function errorBox(message: string | undefined): Html {
  return message ? html`<div class="error" role="alert" id="form-error">${message}</div>` : html``;
}
