/**
 * The seed's onboarding wizard, step for step: object → source type → invite or sign in (or, for
 * a type without an account provider, its settings) → mailbox/folder where there is a choice →
 * Spoke name, Next → Hub name, Create → the hub's page. "+ Add spoke" on a hub runs the same
 * steps without the last one. What each step offers comes from the connector factories
 * (spoke-types.ts); no step names a provider.
 */
import path from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { defaultSpokeOptions } from '../engine/plan/options.js';
import { addSpoke, createHub, spokeOnAddressBook } from '../store/hubs.js';
import type { ServerDeps } from './context.js';
import { html, type Html } from './html.js';
import type { SignIns } from './oauth-flow.js';
import { HttpError } from './server.js';
import { configFromForm, spokeTypeView, type SpokeTypeView } from './spoke-types.js';
import { orgHub, orgSpoke, saveSessionData, setAccountOrg, setHubOrg, type Session, type WizardDraft } from './tenancy.js';
import { csrfField, errorBox, layout, sendPage, wizardSteps } from './views.js';
import { sendInvitation } from './routes-invite.js';

type Body = Record<string, string | undefined>;
export const EMAIL = /^[^\s@<>"]+@[^\s@<>"]+\.[^\s@<>"]+$/;

export function regionFor(lang: string): string {
  return lang === 'fr' ? 'FR' : 'US';
}

export function registerWizardRoutes(app: FastifyInstance, deps: ServerDeps, signIns: SignIns): void {
  const session = (req: FastifyRequest): Session => {
    const s = req.hs.session;
    if (!s) throw new HttpError(401, 'Sign in first.');
    return s;
  };
  const draftOf = (req: FastifyRequest): WizardDraft => session(req).data.wizard ?? {};
  const saveDraft = async (req: FastifyRequest, d: WizardDraft | undefined) => {
    const s = session(req);
    if (d) s.data.wizard = d;
    else delete s.data.wizard;
    await saveSessionData(deps.db, s);
  };
  const oauth = new Set(deps.providers.keys());
  const types = (object?: string): SpokeTypeView[] =>
    [...deps.factories.values()].map((f) => spokeTypeView(f, oauth)).filter((v) => !object || v.object === object);
  const typeOf = (d: WizardDraft): SpokeTypeView => {
    const f = d.type ? deps.factories.get(d.type) : undefined;
    if (!f) throw new HttpError(400, 'Choose a source type first.');
    return spokeTypeView(f, oauth);
  };
  const hubName = async (req: FastifyRequest, d: WizardDraft) => (d.hubId ? (await orgHub(deps.db, session(req).user.orgId, d.hubId)).name : null);
  const frame = async (req: FastifyRequest, d: WizardDraft, step: number, title: string, body: Html) => {
    const t = req.hs.t;
    const hub = await hubName(req, d);
    return layout(req, deps, title, html`
${hub ? html`<p class="muted">${t('wizard.addingTo', { hub })}</p>` : ''}
${wizardSteps(req, step, !!hub)}
<h1>${title}</h1>
${body}`);
  };

  // Step 1: the object.
  app.get('/wizard', async (req: FastifyRequest<{ Querystring: { hub?: string } }>, reply) => {
    const t = req.hs.t;
    const d: WizardDraft = {};
    if (req.query.hub) d.hubId = (await orgHub(deps.db, session(req).user.orgId, req.query.hub)).id;
    await saveDraft(req, d);
    const objects = [...new Set(types().map((v) => v.object))];
    return sendPage(reply, await frame(req, d, 1, t('wizard.object.title'), html`
<form method="post" action="/wizard/object" class="card">
  ${csrfField(req)}
  <fieldset><legend>${t('wizard.object.legend')}</legend>
  ${objects.map((o, i) => html`<label class="choice"><input type="radio" name="object" value="${o}" ${i === 0 ? 'checked' : ''}><span><strong>${t(o === 'calendar' ? 'object.calendar' : 'object.contacts')}</strong><span>${t(o === 'calendar' ? 'object.calendar.hint' : 'object.contacts.hint')}</span></span></label>`)}
  </fieldset>
  <div class="actions"><button type="submit">${t('common.next')}</button></div>
</form>`));
  });

  app.post('/wizard/object', async (req: FastifyRequest<{ Body: Body }>, reply) => {
    const d = draftOf(req);
    d.object = req.body?.object === 'calendar' ? 'calendar' : 'contacts';
    await saveDraft(req, d);
    return reply.redirect('/wizard/source');
  });

  // Step 2: the source type (only the types this installation has).
  const sourcePage = async (req: FastifyRequest, d: WizardDraft, error?: string) => {
    const t = req.hs.t;
    const list = types(d.object ?? 'contacts');
    return frame(req, d, 2, t('wizard.source.title'), html`
${errorBox(error)}
<form method="post" action="/wizard/source" class="card">
  ${csrfField(req)}
  <fieldset><legend>${t('wizard.source.legend')}</legend>
  ${list.map((v, i) => html`<label class="choice"><input type="radio" name="type" value="${v.type}" ${i === 0 ? 'checked' : ''}><span><strong>${v.label}</strong><span>${v.signIn === 'oauth' && v.accountProvider ? t('wizard.source.signIn', { provider: deps.providers.get(v.accountProvider)?.label ?? v.accountProvider }) : v.signIn === 'password' ? t('wizard.source.login') : t('wizard.source.settings')}${v.readOnly ? ` · ${t('wizard.source.readOnly')}` : ''}</span></span></label>`)}
  </fieldset>
  <div class="actions"><a class="button secondary" href="/wizard${d.hubId ? `?hub=${d.hubId}` : ''}">${t('common.back')}</a><button type="submit">${t('common.next')}</button></div>
</form>`);
  };
  app.get('/wizard/source', async (req, reply) => sendPage(reply, await sourcePage(req, draftOf(req))));
  app.post('/wizard/source', async (req: FastifyRequest<{ Body: Body }>, reply) => {
    const d = draftOf(req);
    const type = req.body?.type ?? '';
    if (!types(d.object).some((v) => v.type === type)) return sendPage(reply, await sourcePage(req, d, req.hs.t('wizard.source.pick')), 400);
    d.type = type;
    delete d.config;
    delete d.account;
    delete d.invite;
    await saveDraft(req, d);
    return reply.redirect('/wizard/connect');
  });

  // Step 3: sign in or invite (types with an account provider), or the type's settings.
  const connectPage = async (req: FastifyRequest, d: WizardDraft, error?: string, values: Body = {}) => {
    const t = req.hs.t;
    const v = typeOf(d);
    if (v.signIn === 'oauth' && v.accountProvider) {
      const provider = deps.providers.get(v.accountProvider);
      const label = provider?.label ?? v.accountProvider;
      return frame(req, d, 3, t('wizard.connect.title', { type: v.label }), html`
${errorBox(error)}
${provider ? html`
<section class="card">
  <h2>${t('wizard.connect.own')}</h2>
  <p>${t('wizard.connect.ownHint', { provider: label })}</p>
  <form method="post" action="/wizard/signin">
    ${csrfField(req)}
    <label for="login-hint">${t('wizard.connect.hint')}</label>
    <p class="hint" id="login-hint-hint">${t('wizard.connect.hintHint')}</p>
    <input id="login-hint" name="login_hint" type="email" autocomplete="email" aria-describedby="login-hint-hint">
    <div class="actions"><button type="submit">${t('wizard.connect.signIn', { provider: label })}</button></div>
  </form>
</section>` : html`<div class="error" role="alert">${t('wizard.connect.noProvider', { provider: label })}</div>`}
<section class="card">
  <h2>${t('wizard.connect.invite')}</h2>
  <form method="post" action="/wizard/invite">
    ${csrfField(req)}
    <label for="invite-email">${t('wizard.connect.inviteEmail')}</label>
    <p class="hint" id="invite-hint">${t('wizard.connect.inviteHint', { provider: label })}</p>
    <input id="invite-email" name="email" type="email" required aria-describedby="invite-hint" value="${values.email ?? ''}">
    <div class="actions"><button type="submit" class="secondary">${t('wizard.connect.inviteButton')}</button></div>
  </form>
</section>
<p><a href="/wizard/source">${t('common.back')}</a></p>`);
    }
    const fields = v.configFields;
    return frame(req, d, 3, t('wizard.connect.title', { type: v.label }), html`
${errorBox(error)}
<form method="post" action="/wizard/config" class="card">
  ${csrfField(req)}
  ${fields === null
    ? html`<label for="settings">${t('wizard.config.generic')}</label><p class="hint">${t('wizard.config.genericHint')}</p><textarea id="settings" name="settings">${values.settings ?? ''}</textarea>`
    : fields.map((f) => f.kind === 'checkbox'
      ? html`<label class="check"><input type="checkbox" name="cfg_${f.key}" value="1" ${values[`cfg_${f.key}`] ? 'checked' : ''}> ${t(f.labelKey)}</label>`
      : html`<label for="cfg_${f.key}">${t(f.labelKey)}</label>${f.hintKey ? html`<p class="hint" id="hint_${f.key}">${t(f.hintKey)}</p>` : ''}<input id="cfg_${f.key}" name="cfg_${f.key}" type="text" ${f.required ? 'required' : ''} value="${values[`cfg_${f.key}`] ?? ''}"${f.hintKey ? html` aria-describedby="hint_${f.key}"` : ''}>`)}
  ${v.signIn === 'password' ? html`
  <label for="username">${t('wizard.config.username')}</label>
  <input id="username" name="username" type="text" required autocomplete="username" value="${values.username ?? ''}">
  <label for="password">${t('common.password')}</label>
  <p class="hint" id="password-hint">${t('wizard.config.passwordHint')}</p>
  <input id="password" name="password" type="password" required autocomplete="off" aria-describedby="password-hint">` : ''}
  ${v.type === 'vdir' && deps.config.demoFolders.length > 0 ? html`<p class="hint">${t('wizard.config.demoFolders')}</p><ul class="small">${deps.config.demoFolders.map((f) => html`<li><code>${f}</code></li>`)}</ul>` : ''}
  <div class="actions"><a class="button secondary" href="/wizard/source">${t('common.back')}</a><button type="submit">${t('common.next')}</button></div>
</form>`);
  };
  app.get('/wizard/connect', async (req, reply) => sendPage(reply, await connectPage(req, draftOf(req))));

  app.post('/wizard/config', async (req: FastifyRequest<{ Body: Body }>, reply) => {
    const t = req.hs.t;
    const d = draftOf(req);
    const v = typeOf(d);
    const factory = deps.factories.get(v.type);
    if (!factory || v.signIn === 'oauth') throw new HttpError(400, 'This source type signs in instead.');
    const raw = configFromForm(v, req.body ?? {});
    // An account with a user name and password (CardDAV): named user@host, sealed in the account
    // store like every credential, and handed to the connector by the app (never in its settings).
    let password: { provider: string; name: string; username: string; password: string } | undefined;
    if (v.signIn === 'password' && v.accountProvider) {
      const username = (req.body?.username ?? '').trim();
      const pw = req.body?.password ?? '';
      let host = '';
      try {
        host = new URL(String(raw.url ?? '')).host;
      } catch {
        host = 'server';
      }
      if (!username || !pw) return sendPage(reply, await connectPage(req, d, t('wizard.config.needLogin'), { ...(req.body ?? {}), password: '' }), 400);
      password = { provider: v.accountProvider, name: `${username}@${host}`, username, password: pw };
      raw.account = password.name;
    }
    let config: unknown;
    try {
      config = factory.parseConfig(raw);
    } catch (e) {
      return sendPage(reply, await connectPage(req, d, t('wizard.config.invalid', { error: (e as Error).message }), req.body ?? {}), 400);
    }
    let identity: string;
    try {
      const conn = factory.create(config, { now: deps.now, defaultRegion: regionFor(req.hs.lang), ...(password ? { auth: { username: password.username, password: password.password } } : {}) });
      identity = await conn.identity();
      await conn.close?.();
    } catch (e) {
      return sendPage(reply, await connectPage(req, d, t('wizard.config.unreachable', { error: (e as Error).message }), req.body ?? {}), 400);
    }
    // The same address book twice in one hub would be written every change twice (the engine stops
    // the second at its first sync; here the person is told before adding it).
    const twin = d.hubId ? await spokeOnAddressBook(deps.db, d.hubId, identity) : undefined;
    if (twin) return sendPage(reply, await connectPage(req, d, t('wizard.config.already', { spoke: twin.name }), req.body ?? {}), 409);
    if (password) {
      const existing = await deps.db.selectFrom('accounts').select(['org_id']).where('provider', '=', password.provider).where('name', '=', password.name).executeTakeFirst();
      if (existing?.org_id && existing.org_id !== session(req).user.orgId) return sendPage(reply, await connectPage(req, d, t('wizard.signin.otherOrg', { email: password.name }), req.body ?? {}), 409);
      const account = await deps.accounts.upsert({ id: deps.ids(), provider: password.provider, name: password.name, kind: 'user', settings: { username: password.username, url: raw.url }, secret: { password: password.password } });
      await setAccountOrg(deps.db, account.id, session(req).user.orgId);
    }
    d.config = raw;
    d.spokeName = typeof raw.path === 'string' ? path.basename(raw.path) : typeof raw.addressBookName === 'string' ? raw.addressBookName : v.label;
    await saveDraft(req, d);
    return reply.redirect('/wizard/spoke');
  });

  app.post('/wizard/signin', async (req: FastifyRequest<{ Body: Body }>, reply) => {
    const d = draftOf(req);
    const v = typeOf(d);
    if (v.signIn !== 'oauth' || !v.accountProvider) throw new HttpError(400, 'This source type has no sign-in.');
    const hint = (req.body?.login_hint ?? '').trim();
    return signIns.start(reply, v.accountProvider, { kind: 'wizard', sessionIdHash: session(req).idHash }, EMAIL.test(hint) ? hint : undefined);
  });

  signIns.on('wizard', async (req, reply, { provider, grant }) => {
    const t = req.hs.t;
    const s = session(req);
    const d = draftOf(req);
    const email = grant.email.trim().toLowerCase();
    // Accounts are unique per provider and address in this installation; one connected by another
    // organisation stays theirs.
    const existing = await deps.db.selectFrom('accounts').select(['id', 'org_id']).where('provider', '=', provider.id).where('name', '=', email).executeTakeFirst();
    if (existing?.org_id && existing.org_id !== s.user.orgId) throw new HttpError(409, t('wizard.signin.otherOrg', { email }));
    const account = await deps.accounts.upsert({
      id: deps.ids(),
      provider: provider.id,
      name: email,
      kind: grant.kind ?? 'user',
      settings: { ...(grant.settings ?? {}), email, ...(grant.displayName ? { displayName: grant.displayName } : {}) },
      secret: grant.secret,
    });
    await setAccountOrg(deps.db, account.id, s.user.orgId);
    if (grant.accessToken) await deps.accounts.cacheAccessToken(account.id, grant.accessToken.token, grant.accessToken.expiresAt);
    d.account = email;
    d.config = { account: email };
    d.spokeName = grant.displayName ? `${grant.displayName}` : email;
    const choices = provider.choices ? await provider.choices({ email, accountId: account.id }) : [];
    if (choices.length > 1) {
      d.choices = choices;
      await saveDraft(req, d);
      return reply.redirect('/wizard/choose');
    }
    if (choices.length === 1 && choices[0]) d.config = { ...choices[0].config, account: email };
    await saveDraft(req, d);
    return reply.redirect('/wizard/spoke');
  });

  // "Sign in again" on a spoke whose account needs it: the same account, fresh consent.
  app.post('/hubs/:hubId/spokes/:spokeId/signin', async (req: FastifyRequest<{ Params: { hubId: string; spokeId: string } }>, reply) => {
    const { hub, spoke } = await orgSpoke(deps.db, session(req).user.orgId, req.params.hubId, req.params.spokeId);
    const f = deps.factories.get(spoke.type);
    const account = spoke.config.account;
    if (!f?.accountProvider || !deps.providers.has(f.accountProvider) || typeof account !== 'string') throw new HttpError(400, req.hs.t('spoke.noSignIn'));
    return signIns.start(reply, f.accountProvider, { kind: 'reauth', sessionIdHash: session(req).idHash, hubId: hub.id, spokeId: spoke.id }, account);
  });

  signIns.on('reauth', async (req, reply, { provider, grant, purpose }) => {
    const t = req.hs.t;
    const s = session(req);
    if (purpose.kind !== 'reauth') throw new HttpError(400, 'bad purpose');
    const { hub, spoke } = await orgSpoke(deps.db, s.user.orgId, purpose.hubId, purpose.spokeId);
    const expected = String(spoke.config.account ?? '').toLowerCase();
    const email = grant.email.trim().toLowerCase();
    if (email !== expected) {
      s.data.flash = t('spoke.reauthWrong', { used: email, email: expected });
    } else {
      const account = await deps.accounts.upsert({ id: deps.ids(), provider: provider.id, name: email, kind: grant.kind ?? 'user', settings: { ...(grant.settings ?? {}), email }, secret: grant.secret });
      await setAccountOrg(deps.db, account.id, s.user.orgId);
      if (grant.accessToken) await deps.accounts.cacheAccessToken(account.id, grant.accessToken.token, grant.accessToken.expiresAt);
      s.data.flash = t('spoke.reauthDone', { email });
    }
    await saveSessionData(deps.db, s);
    return reply.redirect(`/hubs/${hub.id}`);
  });

  app.get('/wizard/choose', async (req, reply) => {
    const t = req.hs.t;
    const d = draftOf(req);
    const choices = d.choices ?? [];
    return sendPage(reply, await frame(req, d, 3, t('wizard.choose.title'), html`
<form method="post" action="/wizard/choose" class="card">
  ${csrfField(req)}
  <fieldset><legend>${t('wizard.choose.legend', { account: d.account ?? '' })}</legend>
  ${choices.map((c, i) => html`<label class="choice"><input type="radio" name="choice" value="${String(i)}" ${i === 0 ? 'checked' : ''}><span><strong>${c.label}</strong></span></label>`)}
  </fieldset>
  <div class="actions"><button type="submit">${t('common.next')}</button></div>
</form>`));
  });
  app.post('/wizard/choose', async (req: FastifyRequest<{ Body: Body }>, reply) => {
    const d = draftOf(req);
    const c = d.choices?.[Number(req.body?.choice ?? -1)];
    if (!c) return reply.redirect('/wizard/choose');
    d.config = { ...c.config, account: d.account };
    d.spokeName = c.label;
    delete d.choices;
    await saveDraft(req, d);
    return reply.redirect('/wizard/spoke');
  });

  app.post('/wizard/invite', async (req: FastifyRequest<{ Body: Body }>, reply) => {
    const t = req.hs.t;
    const d = draftOf(req);
    const v = typeOf(d);
    const email = (req.body?.email ?? '').trim().toLowerCase();
    if (v.signIn !== 'oauth' || !v.accountProvider) throw new HttpError(400, 'This source type has no sign-in.');
    if (!EMAIL.test(email)) return sendPage(reply, await connectPage(req, d, t('common.badEmail'), req.body ?? {}), 400);
    d.invite = email;
    if (d.hubId) {
      const hub = await orgHub(deps.db, session(req).user.orgId, d.hubId);
      await sendInvitation(deps, req, hub, v, email);
      await saveDraft(req, undefined);
      session(req).data.flash = t('invite.sentFlash', { email });
      await saveSessionData(deps.db, session(req));
      return reply.redirect(`/hubs/${hub.id}`);
    }
    await saveDraft(req, d);
    return reply.redirect('/wizard/hub');
  });

  // Step 5: the spoke's name.
  const spokePage = async (req: FastifyRequest, d: WizardDraft, error?: string, value?: string) => {
    const t = req.hs.t;
    return frame(req, d, 4, t('wizard.spoke.title'), html`
${errorBox(error)}
<form method="post" action="/wizard/spoke" class="card">
  ${csrfField(req)}
  <label for="spoke-name">${t('wizard.spoke.label')}</label>
  <p class="hint" id="spoke-hint">${t('wizard.spoke.hint')}</p>
  <input id="spoke-name" name="name" type="text" required maxlength="100" aria-describedby="spoke-hint" value="${value ?? d.spokeName ?? ''}">
  <div class="actions"><button type="submit">${t('common.next')}</button></div>
</form>`);
  };
  app.get('/wizard/spoke', async (req, reply) => {
    const d = draftOf(req);
    if (!d.config) return reply.redirect('/wizard/connect');
    return sendPage(reply, await spokePage(req, d));
  });
  app.post('/wizard/spoke', async (req: FastifyRequest<{ Body: Body }>, reply) => {
    const t = req.hs.t;
    const d = draftOf(req);
    const name = (req.body?.name ?? '').trim();
    if (!d.config || !d.type) return reply.redirect('/wizard/connect');
    if (!name) return sendPage(reply, await spokePage(req, d, t('wizard.spoke.missing')), 400);
    if (d.hubId) {
      const hub = await orgHub(deps.db, session(req).user.orgId, d.hubId);
      try {
        await addSpoke(deps.db, { id: deps.ids(), hubId: hub.id, name, type: d.type, config: d.config, options: { ...defaultSpokeOptions(), defaultRegion: regionFor(req.hs.lang) }, now: deps.now() });
      } catch {
        return sendPage(reply, await spokePage(req, d, t('wizard.spoke.taken', { name }), name), 400);
      }
      await saveDraft(req, undefined);
      session(req).data.flash = t('wizard.spoke.added', { name });
      await saveSessionData(deps.db, session(req));
      return reply.redirect(`/hubs/${hub.id}`);
    }
    d.spokeName = name;
    await saveDraft(req, d);
    return reply.redirect('/wizard/hub');
  });

  // Step 6: the hub's name, Create.
  const hubPage = async (req: FastifyRequest, d: WizardDraft, error?: string, value?: string) => {
    const t = req.hs.t;
    return frame(req, d, 5, t('wizard.hub.title'), html`
${errorBox(error)}
<form method="post" action="/wizard/hub" class="card">
  ${csrfField(req)}
  <label for="hub-name">${t('wizard.hub.label')}</label>
  <p class="hint" id="hub-hint">${t('wizard.hub.hint')}</p>
  <input id="hub-name" name="name" type="text" required maxlength="100" aria-describedby="hub-hint" value="${value ?? ''}">
  <div class="actions"><button type="submit">${t('wizard.hub.create')}</button></div>
</form>`);
  };
  app.get('/wizard/hub', async (req, reply) => {
    const d = draftOf(req);
    if (!d.spokeName && !d.invite) return reply.redirect('/wizard');
    return sendPage(reply, await hubPage(req, d));
  });
  app.post('/wizard/hub', async (req: FastifyRequest<{ Body: Body }>, reply: FastifyReply) => {
    const t = req.hs.t;
    const s = session(req);
    const d = draftOf(req);
    const name = (req.body?.name ?? '').trim();
    if (!d.type || (!d.spokeName && !d.invite)) return reply.redirect('/wizard');
    if (!name) return sendPage(reply, await hubPage(req, d, t('wizard.hub.missing')), 400);
    let hubId: string;
    try {
      hubId = (await createHub(deps.db, { id: deps.ids(), name, object: 'contacts', now: deps.now() })).id;
    } catch {
      return sendPage(reply, await hubPage(req, d, t('wizard.hub.taken', { name }), name), 400);
    }
    await setHubOrg(deps.db, hubId, s.user.orgId);
    const hub = await orgHub(deps.db, s.user.orgId, hubId);
    if (d.invite) {
      await sendInvitation(deps, req, hub, typeOf(d), d.invite);
      s.data.flash = t('invite.sentFlash', { email: d.invite });
    } else if (d.spokeName && d.config) {
      await addSpoke(deps.db, { id: deps.ids(), hubId, name: d.spokeName, type: d.type, config: d.config, options: { ...defaultSpokeOptions(), defaultRegion: regionFor(req.hs.lang) }, now: deps.now() });
      s.data.flash = t('wizard.hub.created', { name });
    }
    delete s.data.wizard;
    await saveSessionData(deps.db, s);
    return reply.redirect(`/hubs/${hubId}`);
  });
}
