/**
 * Invitations (the seed's step 3, "invite"): the owner enters an address, an e-mail carries a
 * single-use link that expires after 7 days and is bound to that address. The invitee sees who
 * invites them to which hub, signs in with the provider AS THAT ADDRESS (another address is
 * refused, and the link stays usable), grants access, and their contacts become a spoke of the
 * hub that feeds it only, until the owner names it and sets its options.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { defaultSpokeOptions } from '../engine/plan/options.js';
import { addSpoke, type Hub } from '../store/hubs.js';
import type { ServerDeps } from './context.js';
import { html } from './html.js';
import { translator } from './i18n.js';
import type { SignIns } from './oauth-flow.js';
import { HttpError, type RouteConfig } from './server.js';
import type { SpokeTypeView } from './spoke-types.js';
import {
  createInvitation,
  decideInvitation,
  invitationByToken,
  orgHub,
  orgInvitation,
  orgName,
  saveSessionData,
  setAccountOrg,
  userName,
  type Invitation,
} from './tenancy.js';
import { csrfField, layout, sendPage, when } from './views.js';

export async function sendInvitation(deps: ServerDeps, req: FastifyRequest, hub: Hub, type: SpokeTypeView, email: string): Promise<Invitation> {
  const s = req.hs.session;
  if (!s || !type.accountProvider || type.signIn !== 'oauth') throw new HttpError(400, 'Cannot invite for this source type.');
  const { invitation, token } = await createInvitation(deps.db, {
    id: deps.ids(),
    orgId: s.user.orgId,
    hubId: hub.id,
    provider: type.accountProvider,
    spokeType: type.type,
    email,
    invitedBy: s.user.id,
    now: deps.now(),
  });
  // The e-mail is written in the inviter's language; the page it links to follows the invitee's browser.
  const t = translator(req.hs.lang);
  const link = `${deps.config.publicUrl.replace(/\/$/, '')}/invite/${token}`;
  const provider = deps.providers.get(type.accountProvider)?.label ?? type.accountProvider;
  await deps.mailer.send({
    orgId: s.user.orgId,
    to: email,
    subject: t('invite.mail.subject', { who: s.user.name, hub: hub.name }),
    text: t('invite.mail.body', { who: `${s.user.name} <${s.user.email}>`, org: await orgName(deps.db, s.user.orgId), hub: hub.name, provider, email, link, days: '7' }),
  });
  deps.log.info({ hub: hub.name, to: email, invitation: invitation.id }, 'invitation sent');
  return invitation;
}

export function registerInviteRoutes(app: FastifyInstance, deps: ServerDeps, signIns: SignIns): void {
  const pub = { config: { public: true } satisfies RouteConfig };

  /** The invitation behind a link, or a page saying why it cannot be used. */
  const usable = async (req: FastifyRequest, token: string): Promise<Invitation> => {
    const t = req.hs.t;
    const inv = await invitationByToken(deps.db, token, deps.now());
    if (!inv) throw new HttpError(404, t('invite.unknown'));
    if (inv.status === 'expired') throw new HttpError(410, t('invite.expired'));
    if (inv.status === 'accepted') throw new HttpError(410, t('invite.used'));
    if (inv.status === 'revoked') throw new HttpError(410, t('invite.revoked'));
    if (inv.status === 'declined') throw new HttpError(410, t('invite.declinedAlready'));
    return inv;
  };

  app.get('/invite/:token', pub, async (req: FastifyRequest<{ Params: { token: string }; Querystring: { wrong?: string } }>, reply) => {
    const t = req.hs.t;
    const inv = await usable(req, req.params.token);
    const hub = await orgHub(deps.db, inv.orgId, inv.hubId);
    const provider = deps.providers.get(inv.provider);
    const label = provider?.label ?? inv.provider;
    const wrong = req.query.wrong;
    return sendPage(reply, layout(req, deps, t('invite.page.title'), html`
<h1>${t('invite.page.title')}</h1>
${wrong ? html`<div class="error" role="alert">${t('invite.wrongAddress', { used: wrong, email: inv.email, provider: label })}</div>` : ''}
<section class="card">
  <p>${t('invite.page.who', { who: await userName(deps.db, inv.invitedBy), org: await orgName(deps.db, inv.orgId), hub: hub.name })}</p>
  <p>${t('invite.page.what', { provider: label, email: inv.email })}</p>
  <p class="small muted">${t('invite.page.expires', { when: when(req, inv.expiresAt) })}</p>
  <div class="actions">
    <form method="post" action="/invite/${req.params.token}/signin" class="inline">${csrfField(req)}<button type="submit">${t('invite.page.signIn', { provider: label, email: inv.email })}</button></form>
    <form method="post" action="/invite/${req.params.token}/decline" class="inline">${csrfField(req)}<button type="submit" class="secondary">${t('invite.page.decline')}</button></form>
  </div>
</section>`));
  });

  app.post('/invite/:token/signin', pub, async (req: FastifyRequest<{ Params: { token: string } }>, reply) => {
    const inv = await usable(req, req.params.token);
    return signIns.start(reply, inv.provider, { kind: 'invite', inviteToken: req.params.token }, inv.email);
  });

  app.post('/invite/:token/decline', pub, async (req: FastifyRequest<{ Params: { token: string } }>, reply) => {
    const t = req.hs.t;
    const inv = await usable(req, req.params.token);
    await decideInvitation(deps.db, inv.id, 'declined', deps.now());
    return sendPage(reply, layout(req, deps, t('invite.declined.title'), html`<h1>${t('invite.declined.title')}</h1><p>${t('invite.declined.body')}</p>`));
  });

  signIns.on('invite', async (req, reply, { provider, grant, purpose }) => {
    const t = req.hs.t;
    if (purpose.kind !== 'invite') throw new HttpError(400, 'bad purpose');
    const token = purpose.inviteToken;
    const inv = await usable(req, token);
    const email = grant.email.trim().toLowerCase();
    if (provider.id !== inv.provider || email !== inv.email) {
      // Refused: someone else's mailbox must not join through this link. The link stays usable.
      deps.log.warn({ invitation: inv.id, expected: inv.email, got: email }, 'invitation refused: signed in as another address');
      return reply.redirect(`/invite/${token}?wrong=${encodeURIComponent(email)}`);
    }
    const existing = await deps.db.selectFrom('accounts').select(['id', 'org_id']).where('provider', '=', provider.id).where('name', '=', email).executeTakeFirst();
    if (existing?.org_id && existing.org_id !== inv.orgId) throw new HttpError(409, t('wizard.signin.otherOrg', { email }));
    const account = await deps.accounts.upsert({
      id: deps.ids(),
      provider: provider.id,
      name: email,
      kind: grant.kind ?? 'user',
      settings: { ...(grant.settings ?? {}), email, invitation: inv.id },
      secret: grant.secret,
    });
    await setAccountOrg(deps.db, account.id, inv.orgId);
    if (grant.accessToken) await deps.accounts.cacheAccessToken(account.id, grant.accessToken.token, grant.accessToken.expiresAt);
    const choices = provider.choices ? await provider.choices({ email, accountId: account.id }) : [];
    const config = { ...(choices[0]?.config ?? {}), account: email };
    const spokeId = deps.ids();
    // Claim the invitation first: of two racing acceptances only one gets past this line.
    if (!(await decideInvitation(deps.db, inv.id, 'accepted', deps.now(), spokeId))) throw new HttpError(410, t('invite.used'));
    let name = email;
    for (let i = 2; await deps.db.selectFrom('spokes').select('id').where('hub_id', '=', inv.hubId).where('name', '=', name).executeTakeFirst(); i++) name = `${email} (${i})`;
    // Until the owner sets its options, the new spoke only feeds the hub (nothing is written to it).
    await addSpoke(deps.db, { id: spokeId, hubId: inv.hubId, name, type: inv.spokeType, config, options: defaultSpokeOptions(), now: deps.now() });
    deps.log.info({ invitation: inv.id, spoke: spokeId }, 'invitation accepted');
    const hub = await orgHub(deps.db, inv.orgId, inv.hubId);
    return sendPage(reply, layout(req, deps, t('invite.accepted.title'), html`<h1>${t('invite.accepted.title')}</h1><p>${t('invite.accepted.body', { hub: hub.name, email })}</p>`));
  });

  // The owner's side.
  app.post('/hubs/:hubId/invitations/:invId/revoke', async (req: FastifyRequest<{ Params: { hubId: string; invId: string } }>, reply) => {
    const s = req.hs.session;
    if (!s) throw new HttpError(401, 'Sign in first.');
    const hub = await orgHub(deps.db, s.user.orgId, req.params.hubId);
    const inv = await orgInvitation(deps.db, s.user.orgId, req.params.invId, deps.now());
    if (inv.hubId !== hub.id) throw new HttpError(404, req.hs.t('error.notFound'));
    const ok = await decideInvitation(deps.db, inv.id, 'revoked', deps.now());
    s.data.flash = ok ? req.hs.t('invite.revokedFlash', { email: inv.email }) : req.hs.t('invite.notPending');
    await saveSessionData(deps.db, s);
    return reply.redirect(`/hubs/${hub.id}#invitations`);
  });
}
