/**
 * The hub dashboard and each spoke's page: state per spoke with live progress, last and next
 * run, counts; held mass deletions to confirm or reject; conflicts (both values, pick one); possible
 * duplicates (dismiss);
 * invitations; activity over time; runs with undo; the searchable contact list with each
 * contact's history and restore; a spoke's Sync options with the preview (dry run) before its
 * first two-way sync; Sync now.
 */
import path from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { contactLabels, heldDeletes, hubContact, hubContacts, hubJournal, hubRuns, hubStatus, openConflicts, runProblems, type RunRow } from '../app/queries.js';
import { dismissReview, openReviews } from '../app/reviews.js';
import { confirmHeld, rejectHeld, resolveConflict, restoreContact, undoRun } from '../engine/run/decisions.js';
import { spokeOptionsSchema, writePolicy, type SpokeOptions } from '../engine/plan/options.js';
import { problemLine, type RunSummary } from '../engine/run/report.js';
import { syncHub, type EngineDeps } from '../engine/run/sync-hub.js';
import type { ConnectorEnv } from '../connectors/kit/contract.js';
import { parseVdirConfig } from '../connectors/vdir/config.js';
import { splitExport, type SplitOutcome } from '../connectors/vdir/split-export.js';
import { getSpoke, listSpokes, removeSpoke, setSpokeOptions, type Hub, type Spoke } from '../store/hubs.js';
import { cardSummary } from '../model/card-fields.js';
import type { ServerDeps } from './context.js';
import { html, type Html } from './html.js';
import type { Translator } from './i18n.js';
import { HttpError } from './server.js';
import { hubInvitations, hubSchedule, invitationSpokeIds, orgHub, orgSpoke, saveSessionData, setHubSchedule, type Session } from './tenancy.js';
import { csrfField, layout, postButton, sendPage, when } from './views.js';

type Body = Record<string, string | string[] | undefined>;
type HubParams = { Params: { hubId: string } };

const one = (v: string | string[] | undefined): string => (Array.isArray(v) ? (v[0] ?? '') : (v ?? ''));

export function describeSync(t: Translator, o: SpokeOptions, readOnly: boolean): string {
  if (readOnly) return t('sync.mode.readOnly');
  if (o.direction === 'to-hub') return t('sync.mode.toHub');
  if (!o.allowCreate) return t('sync.mode.feedOnly');
  const parts = [t('sync.mode.twoWay')];
  if (!o.allowUpdate) parts.push(t('sync.mode.noUpdates'));
  if (!o.allowDelete) parts.push(t('sync.mode.noDeletes'));
  if (o.conditions.length > 0) parts.push(t('sync.mode.conditions', { conditions: o.conditions.join(' ∧ ') }));
  return parts.join(', ');
}

const TWO_WAY_CONFIRMED = 'twoWayConfirmedAt';

/**
 * A dry run happens inside one store transaction (rolled back at the end). On SQLite that
 * transaction holds the only connection, so a connector asking the account store for a token
 * during the run would wait for itself forever. The credentials are therefore resolved before
 * the run: each spoke's env, with its access token fetched now and handed over as a constant
 * (a preview takes seconds; tokens last an hour).
 */
async function withCredentialsResolved(engine: EngineDeps, hubId: string): Promise<EngineDeps> {
  const prepare = engine.prepareEnv;
  if (!prepare) return engine;
  const envs = new Map<string, Partial<ConnectorEnv> | Error>();
  for (const s of await listSpokes(engine.db, hubId)) {
    try {
      const env = await prepare(s);
      const auth = env.auth;
      if (auth?.accessToken) {
        const token = await auth.accessToken();
        env.auth = { ...auth, accessToken: async () => token, invalidateAccessToken: () => undefined };
      }
      envs.set(s.id, env);
    } catch (e) {
      envs.set(s.id, e instanceof Error ? e : new Error(String(e)));
    }
  }
  return {
    ...engine,
    prepareEnv: async (s) => {
      const env = envs.get(s.id);
      if (env instanceof Error) throw env;
      return env ?? {};
    },
  };
}

function valueText(v: unknown): string {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'string') return v;
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    // JSContact addresses and names are lists of components (RFC 9553 §2.5.1).
    if (Array.isArray(o.components)) {
      return (o.components as { value?: unknown }[]).map((c) => (typeof c.value === 'string' ? c.value : '')).filter(Boolean).join(', ');
    }
    for (const k of ['value', 'address', 'number', 'uri', 'full', 'name']) if (typeof o[k] === 'string') return o[k] as string;
    return JSON.stringify(v);
  }
  return String(v);
}

/** Sync activity per day over the last 14 days: changes into the hub and out to the spokes. */
function activityChart(t: Translator, runs: RunRow[], now: number, lang: string): Html {
  const days = 14;
  const dayMs = 86_400_000;
  const start = Math.floor(now / dayMs) * dayMs - (days - 1) * dayMs;
  const buckets = Array.from({ length: days }, (_, i) => ({ day: start + i * dayMs, inbound: 0, outbound: 0, runs: 0 }));
  for (const r of runs) {
    if (r.kind !== 'sync' || !r.totals) continue;
    const b = buckets[Math.floor((r.startedAt - start) / dayMs)];
    if (!b) continue;
    b.runs += 1;
    b.inbound += r.totals.hub.created + r.totals.hub.updated + r.totals.hub.deleted;
    b.outbound += r.totals.spokes.created + r.totals.spokes.updated + r.totals.spokes.deleted;
  }
  const max = Math.max(1, ...buckets.map((b) => Math.max(b.inbound, b.outbound)));
  const w = 700;
  const h = 160;
  const bw = w / days;
  const fmt = (ms: number) => new Date(ms).toLocaleDateString(lang === 'fr' ? 'fr-FR' : 'en-GB', { day: 'numeric', month: 'short' });
  const bars = buckets.map((b, i) => {
    const hi = Math.round((b.inbound / max) * (h - 30));
    const ho = Math.round((b.outbound / max) * (h - 30));
    const x = i * bw;
    return html`<g><title>${fmt(b.day)}: ${t('chart.in', { n: String(b.inbound) })}, ${t('chart.out', { n: String(b.outbound) })}, ${t('chart.runs', { n: String(b.runs) })}</title>
<rect class="in" x="${(x + 4).toFixed(1)}" y="${h - 18 - hi}" width="${(bw / 2 - 5).toFixed(1)}" height="${hi}"></rect>
<rect class="out" x="${(x + bw / 2).toFixed(1)}" y="${h - 18 - ho}" width="${(bw / 2 - 5).toFixed(1)}" height="${ho}"></rect>
<text x="${(x + bw / 2).toFixed(1)}" y="${h - 4}" text-anchor="middle">${fmt(b.day)}</text></g>`;
  });
  return html`<figure class="card"><svg class="chart" viewBox="0 0 ${w} ${h}" role="img" aria-labelledby="chart-title"><title id="chart-title">${t('chart.title')}</title>${bars}</svg>
<figcaption class="small muted"><span style="color:#1f5fbf">■</span> ${t('chart.legendIn')} · <span style="color:#7fb0ea">■</span> ${t('chart.legendOut')}</figcaption></figure>`;
}

export function registerHubRoutes(app: FastifyInstance, deps: ServerDeps): void {
  const session = (req: FastifyRequest): Session => {
    const s = req.hs.session;
    if (!s) throw new HttpError(401, 'Sign in first.');
    return s;
  };
  const flash = async (req: FastifyRequest, msg: string) => {
    const s = session(req);
    s.data.flash = msg;
    await saveSessionData(deps.db, s);
  };
  const hubOf = (req: FastifyRequest<HubParams>) => orgHub(deps.db, session(req).user.orgId, req.params.hubId);
  const decisionDeps = () => ({ db: deps.db, factories: deps.factories, now: deps.now, ids: deps.ids, holder: deps.engine.holder });
  /** A decision under the hub's run guard; a flash instead when a sync is running. */
  const decide = async <T>(req: FastifyRequest, hub: Hub, fn: () => Promise<T>): Promise<T | null> => {
    const r = await deps.runner.exclusive(hub.id, 'manual', async () => fn(), 30_000);
    if (r === null) await flash(req, req.hs.t('hub.busy'));
    return r;
  };

  const progressText = (t: Translator, hubId: string): string | null => {
    const p = deps.runner.progress(hubId);
    if (!p) return null;
    if (!p.spoke) return t('progress.starting');
    return t(`progress.${p.phase ?? 'pull'}` as 'progress.pull', { spoke: p.spoke, done: String(p.done ?? 0), total: p.total !== undefined ? ` / ${p.total}` : '' });
  };

  app.get('/hubs/:hubId', async (req: FastifyRequest<HubParams>, reply) => {
    const t = req.hs.t;
    const hub = await hubOf(req);
    const st = await hubStatus(deps.db, hub, deps.factories);
    const sched = await hubSchedule(deps.db, hub.id);
    const next = await deps.runner.nextRunAt(hub.id);
    const running = deps.runner.progress(hub.id);
    const held = await heldDeletes(deps.db, hub.id);
    const conflicts = await openConflicts(deps.db, hub.id);
    const originText = (from: string | null) => (from === null ? t('conflicts.removedSpoke') : from === 'hub' ? t('conflicts.fromHub') : from);
    const reviews = await openReviews(deps.db, hub.id);
    const reviewLabels = await contactLabels(deps.db, reviews.flatMap((r) => [r.contact, ...r.candidates.map((c) => c.entityId)]));
    const spokeNames = new Map(st.spokes.map((row) => [row.spoke.id, row.spoke.name]));
    const invitations = await hubInvitations(deps.db, session(req).user.orgId, hub.id, deps.now());
    const invited = await invitationSpokeIds(deps.db, hub.id);
    const runs = await hubRuns(deps.db, hub.id, 500, deps.now() - 15 * 86_400_000);
    const stateOf = (row: (typeof st.spokes)[number]): { key: string; label: string } => {
      if (running && (running.spoke === row.spoke.name || !running.spoke)) return { key: 'syncing', label: t('state.syncing') };
      if (row.state === 'error') return { key: 'error', label: t('state.error') };
      if (row.state === 'needs-sign-in') return { key: 'needs-sign-in', label: t('state.needsSignIn') };
      if (row.readOnly && row.state === 'ok') return { key: 'ok', label: t('state.readOnly') };
      if (row.state === 'ok') return { key: 'ok', label: t('state.ok') };
      return { key: 'never', label: t('state.never') };
    };
    const body = html`
<h1>${hub.name}</h1>
<div class="counts card" aria-label="${t('hub.counts')}">
  <div><b>${String(st.contacts)}</b>${t('hub.contacts')}</div>
  <div><b>${String(st.spokes.length)}</b>${t('hub.spokes')}</div>
  <div><b>${String(st.openConflicts)}</b>${t('hub.conflicts')}</div>
  <div><b>${String(held.length)}</b>${t('hub.held')}</div>
  <div><b>${String(st.deletedContacts)}</b>${t('hub.deleted')}</div>
  <div><b>${String(reviews.length)}</b>${t('hub.reviews')}</div>
</div>
<p id="progress" role="status" aria-live="polite" data-progress-url="/hubs/${hub.id}/progress" data-running="${running ? '1' : '0'}">${progressText(t, hub.id) ?? (st.lastRun ? t('hub.lastRun', { when: when(req, st.lastRun.startedAt), status: t(`run.status.${st.lastRun.status}` as 'run.status.ok') }) : t('hub.neverRun'))}</p>
<div class="actions">
  ${postButton(req, `/hubs/${hub.id}/sync`, t('hub.syncNow'))}
  <a class="button secondary" href="/wizard?hub=${hub.id}">${t('hub.addSpoke')}</a>
  <a class="button secondary" href="/hubs/${hub.id}/contacts">${t('hub.contactsLink')}</a>
</div>
<p class="small muted">${sched.paused ? t('hub.paused') : next !== null && next <= deps.now() ? t('hub.nextRunSoon', { minutes: String(sched.intervalMinutes) }) : t('hub.nextRun', { when: when(req, next), minutes: String(sched.intervalMinutes) })}</p>

<h2>${t('hub.spokesTitle')}</h2>
${st.spokes.length === 0 ? html`<p>${t('hub.noSpokes')}</p>` : ''}
<div class="spokes">
${st.spokes.map((row) => {
  const s = stateOf(row);
  const backoff = deps.runner.spokeBackoff(row.spoke.id);
  return html`<section class="card spoke" aria-labelledby="spoke-${row.spoke.id}">
  <h3 id="spoke-${row.spoke.id}"><a href="/hubs/${hub.id}/spokes/${row.spoke.id}">${row.spoke.name}</a></h3>
  <p class="small muted">${deps.factories.get(row.spoke.type)?.label ?? row.spoke.type}${typeof row.spoke.config.account === 'string' ? ` · ${row.spoke.config.account}` : ''}</p>
  ${invited.has(row.spoke.id) && row.spoke.name.includes('@') && !row.spoke.options.allowCreate ? html`<p class="flash small">${t('hub.invitedSpoke')}</p>` : ''}
  <p><span class="state ${s.key}">${s.label}</span> <span class="small">${describeSync(t, row.spoke.options, row.readOnly)}</span></p>
  ${row.lastError && row.state !== 'ok' ? html`<p class="error small">${row.lastError}</p>` : ''}
  ${row.state === 'needs-sign-in' ? html`<p class="small">${t('state.needsSignInHint')}</p>${postButton(req, `/hubs/${hub.id}/spokes/${row.spoke.id}/signin`, t('spoke.signInAgain'))}` : ''}
  ${backoff ? html`<p class="small muted">${t('hub.backoff', { when: when(req, backoff.until) })}</p>` : ''}
  <p class="small">${t('hub.spokeCounts', { contacts: String(row.contacts) })}${row.heldDeletes ? ` · ${t('hub.spokeHeld', { n: String(row.heldDeletes) })}` : ''}<br>${t('hub.lastSync', { when: when(req, row.lastSyncAt) })}</p>
  <div class="actions"><a class="button secondary" href="/hubs/${hub.id}/spokes/${row.spoke.id}">${t('spoke.options')}</a>${postButton(req, `/hubs/${hub.id}/spokes/${row.spoke.id}/sync`, t('spoke.syncNow'), { cls: 'secondary' })}</div>
</section>`;
})}
</div>

${held.length > 0 ? html`<h2 id="held">${t('held.title')}</h2>
<p>${t('held.intro', { n: String(held.length) })}</p>
<div class="actions">${postButton(req, `/hubs/${hub.id}/held`, t('held.confirmAll'), { cls: 'danger', fields: { action: 'confirm', id: 'all' } })}${postButton(req, `/hubs/${hub.id}/held`, t('held.rejectAll'), { fields: { action: 'reject', id: 'all' } })}</div>
<table><thead><tr><th>${t('held.contact')}</th><th>${t('held.spoke')}</th><th>${t('held.why')}</th><th></th></tr></thead><tbody>
${held.slice(0, 200).map((h) => html`<tr><td>${h.label}</td><td>${h.spoke}</td><td>${t(h.direction === 'inbound' ? 'held.inbound' : 'held.outbound')} (${h.reason})</td>
<td>${postButton(req, `/hubs/${hub.id}/held`, t('held.confirm'), { cls: 'danger', fields: { action: 'confirm', id: h.id } })} ${postButton(req, `/hubs/${hub.id}/held`, t('held.reject'), { cls: 'secondary', fields: { action: 'reject', id: h.id } })}</td></tr>`)}
</tbody></table>` : ''}

${conflicts.length > 0 ? html`<h2 id="conflicts">${t('conflicts.title')}</h2>
<p>${t('conflicts.intro')}</p>
<table><thead><tr><th>${t('conflicts.contact')}</th><th>${t('conflicts.field')}</th><th>${t('conflicts.kept')}</th><th>${t('conflicts.other')}</th></tr></thead><tbody>
${conflicts.map((c) => html`<tr><td><a href="/hubs/${hub.id}/contacts/${c.contact}">${c.label}</a></td><td>${c.path}</td>
<td>${valueText(c.kept)} <span class="small muted">(${originText(c.keptFrom)})</span><br>${postButton(req, `/hubs/${hub.id}/conflicts/${c.id}`, t('conflicts.keepThis'), { cls: 'secondary', fields: { keep: 'kept' } })}</td>
<td>${valueText(c.lost)} <span class="small muted">(${originText(c.lostFrom)})</span><br>${postButton(req, `/hubs/${hub.id}/conflicts/${c.id}`, t('conflicts.useThis'), { cls: 'secondary', fields: { keep: 'lost' } })}</td></tr>`)}
</tbody></table>` : ''}

${reviews.length > 0 ? html`<h2 id="reviews">${t('reviews.title')}</h2>
<p>${t('reviews.intro')}</p>
<table><thead><tr><th>${t('reviews.contact')}</th><th>${t('reviews.from')}</th><th>${t('reviews.resembles')}</th><th></th></tr></thead><tbody>
${reviews.slice(0, 200).map((r) => html`<tr><td><a href="/hubs/${hub.id}/contacts/${r.contact}">${reviewLabels.get(r.contact) || t('contacts.noName')}</a></td>
<td>${spokeNames.get(r.spokeId) ?? ''} <span class="small muted">(${r.item})</span></td>
<td>${r.candidates.map((c, i) => html`${i > 0 ? html`<br>` : ''}<a href="/hubs/${hub.id}/contacts/${c.entityId}">${reviewLabels.get(c.entityId) || t('contacts.noName')}</a>`)}</td>
<td>${postButton(req, `/hubs/${hub.id}/reviews`, t('reviews.dismiss'), { cls: 'secondary', fields: { id: r.id } })}</td></tr>`)}
</tbody></table>` : ''}

<h2 id="invitations">${t('invitations.title')}</h2>
${invitations.length === 0 ? html`<p class="muted">${t('invitations.none')}</p>` : html`<table><thead><tr><th>${t('common.email')}</th><th>${t('invitations.status')}</th><th>${t('invitations.sent')}</th><th>${t('invitations.expires')}</th><th></th></tr></thead><tbody>
${invitations.map((i) => html`<tr><td>${i.email}</td><td><span class="state">${t(`invitation.${i.status}` as 'invitation.pending')}</span></td><td>${when(req, i.createdAt)}</td><td>${when(req, i.expiresAt)}</td>
<td>${i.status === 'pending' ? postButton(req, `/hubs/${hub.id}/invitations/${i.id}/revoke`, t('invitations.revoke'), { cls: 'secondary' }) : ''}</td></tr>`)}
</tbody></table>`}

<h2>${t('chart.heading')}</h2>
${activityChart(t, runs, deps.now(), req.hs.lang)}

<h2>${t('runs.title')}</h2>
${runs.length === 0 ? html`<p class="muted">${t('runs.none')}</p>` : html`<table><thead><tr><th>${t('runs.when')}</th><th>${t('runs.kind')}</th><th>${t('runs.status')}</th><th>${t('runs.hub')}</th><th>${t('runs.spokes')}</th><th>${t('runs.problems')}</th><th></th></tr></thead><tbody>
${runs.slice(0, 15).map((r) => html`<tr><td>${when(req, r.startedAt)}</td><td>${t(`run.kind.${r.kind}` as 'run.kind.sync')}</td><td>${t(`run.status.${r.status}` as 'run.status.ok')}</td>
<td>${r.totals ? `+${r.totals.hub.created} ~${r.totals.hub.updated} −${r.totals.hub.deleted}` : ''}</td><td>${r.totals ? `+${r.totals.spokes.created} ~${r.totals.spokes.updated} −${r.totals.spokes.deleted}` : ''}</td>
<td>${r.totals?.problems ? html`<a href="/hubs/${hub.id}/runs/${r.id}/problems">${String(r.totals.problems)}</a>` : ''}</td>
<td>${r.undoneBy ? html`<span class="small muted">${t('runs.undone')}</span>` : r.kind === 'sync' || r.kind === 'decision' || r.kind === 'undo' ? postButton(req, `/hubs/${hub.id}/runs/${r.id}/undo`, t('runs.undo'), { cls: 'secondary' }) : ''}</td></tr>`)}
</tbody></table>`}

<h2>${t('schedule.title')}</h2>
<form method="post" action="/hubs/${hub.id}/schedule" class="card">
  ${csrfField(req)}
  <label for="interval">${t('schedule.interval')}</label>
  <input id="interval" name="interval" type="number" min="1" max="1440" value="${String(sched.intervalMinutes)}" style="max-width:120px">
  <label class="check"><input type="checkbox" name="paused" value="1" ${sched.paused ? 'checked' : ''}> ${t('schedule.paused')}</label>
  <div class="actions"><button type="submit" class="secondary">${t('common.save')}</button></div>
</form>`;
    return sendPage(reply, layout(req, deps, hub.name, body, { wide: true }));
  });

  app.get('/hubs/:hubId/progress', async (req: FastifyRequest<HubParams>) => {
    const hub = await hubOf(req);
    const text = progressText(req.hs.t, hub.id);
    return { running: text !== null, text: text ?? '' };
  });

  const startRun = (hub: Hub, spokeNames?: string[]) => {
    void deps.runner.run(hub.id, { reason: 'manual', ...(spokeNames ? { spokeNames } : {}) }).catch((e: unknown) => {
      deps.log.error({ hub: hub.name, err: e instanceof Error ? e.message : String(e) }, 'Sync now failed');
    });
  };

  app.post('/hubs/:hubId/sync', async (req: FastifyRequest<HubParams>, reply) => {
    const hub = await hubOf(req);
    startRun(hub);
    await flash(req, req.hs.t('hub.syncStarted'));
    return reply.redirect(`/hubs/${hub.id}`);
  });

  app.post('/hubs/:hubId/schedule', async (req: FastifyRequest<HubParams & { Body: Body }>, reply) => {
    const hub = await hubOf(req);
    const n = Number.parseInt(one(req.body?.interval), 10);
    if (!Number.isFinite(n) || n < 1 || n > 1440) {
      await flash(req, req.hs.t('schedule.invalid'));
      return reply.redirect(`/hubs/${hub.id}`);
    }
    await setHubSchedule(deps.db, hub.id, n, one(req.body?.paused) === '1');
    await flash(req, req.hs.t('common.saved'));
    return reply.redirect(`/hubs/${hub.id}`);
  });

  app.post('/hubs/:hubId/held', async (req: FastifyRequest<HubParams & { Body: Body }>, reply) => {
    const t = req.hs.t;
    const hub = await hubOf(req);
    const id = one(req.body?.id);
    const ids = id === 'all' ? 'all' : [id];
    const action = one(req.body?.action);
    const r = await decide(req, hub, () => (action === 'confirm' ? confirmHeld(decisionDeps(), hub.id, ids) : rejectHeld(decisionDeps(), hub.id, ids)));
    if (r) await flash(req, action === 'confirm' ? t('held.confirmed') : t('held.rejected'));
    return reply.redirect(`/hubs/${hub.id}#held`);
  });

  app.post('/hubs/:hubId/reviews', async (req: FastifyRequest<HubParams & { Body: Body }>, reply) => {
    const hub = await hubOf(req);
    if (!(await dismissReview(deps.db, hub.id, one(req.body?.id)))) throw new HttpError(404, req.hs.t('error.notFound'));
    await flash(req, req.hs.t('reviews.dismissed'));
    return reply.redirect(`/hubs/${hub.id}#reviews`);
  });

  app.post('/hubs/:hubId/conflicts/:conflictId', async (req: FastifyRequest<{ Params: { hubId: string; conflictId: string }; Body: Body }>, reply) => {
    const hub = await hubOf(req);
    const keep = one(req.body?.keep) === 'lost' ? 'lost' : 'kept';
    const r = await decide(req, hub, () => resolveConflict(decisionDeps(), hub.id, req.params.conflictId, keep));
    if (r) await flash(req, req.hs.t('conflicts.resolved'));
    return reply.redirect(`/hubs/${hub.id}#conflicts`);
  });

  app.post('/hubs/:hubId/runs/:runId/undo', async (req: FastifyRequest<{ Params: { hubId: string; runId: string } }>, reply) => {
    const hub = await hubOf(req);
    const r = await decide(req, hub, () => undoRun(decisionDeps(), hub.id, req.params.runId));
    if (r) await flash(req, [req.hs.t('runs.undoneFlash', { n: String(r.contacts) }), ...(r.deleted > 0 ? [req.hs.t('runs.undoneDeletes', { d: String(r.deleted) })] : [])].join(' '));
    return reply.redirect(`/hubs/${hub.id}`);
  });

  // What a run reported about single items (bad data kept as written, unreadable items, refused writes).
  app.get('/hubs/:hubId/runs/:runId/problems', async (req: FastifyRequest<{ Params: { hubId: string; runId: string } }>, reply) => {
    const t = req.hs.t;
    const hub = await hubOf(req);
    const r = await runProblems(deps.db, hub.id, req.params.runId);
    if (!r) throw new HttpError(404, t('error.notFound'));
    const total = r.spokes.reduce((n, sp) => n + sp.count, 0);
    const byName = new Map((await listSpokes(deps.db, hub.id)).map((s) => [s.name, s]));
    // An export of a whole address book in a vCard folder: offered to be split here, as
    // `hubsync split-vcards` does, for whoever cannot run a command on the server.
    const fix = (spokeName: string, p: RunSummary['spokes'][number]['problems'][number]): Html | string => {
      const spoke = byName.get(spokeName);
      if (spoke?.type !== 'vdir' || p.remedy !== 'split-file') return '';
      return html` ${postButton(req, `/hubs/${hub.id}/spokes/${spoke.id}/split`, t('problems.split'), { cls: 'secondary', fields: { file: p.item } })}`;
    };
    return sendPage(reply, layout(req, deps, t('problems.title'), html`
<p><a href="/hubs/${hub.id}">← ${hub.name}</a></p>
<h1>${t('problems.title')}</h1>
<p>${t('problems.intro', { when: when(req, r.run.startedAt), n: String(total) })}</p>
${r.spokes.filter((sp) => sp.count > 0).map((sp) => html`<h2>${sp.name}</h2>
<ul class="problems">${sp.problems.map((p) => html`<li>${problemLine(p)}${fix(sp.name, p)}</li>`)}</ul>
${sp.count > sp.problems.length ? html`<p class="small muted">${t('problems.more', { n: String(sp.count - sp.problems.length) })}</p>` : ''}`)}
<p class="small muted">${t('problems.once')}</p>`, { wide: true }));
  });

  // Contacts: search, one contact's history across spokes, restore.
  app.get('/hubs/:hubId/contacts', async (req: FastifyRequest<HubParams & { Querystring: { q?: string; deleted?: string } }>, reply) => {
    const t = req.hs.t;
    const hub = await hubOf(req);
    const q = (req.query.q ?? '').trim();
    const deleted = req.query.deleted === '1';
    const list = await hubContacts(deps.db, hub.id, { ...(q ? { search: q } : {}), deleted, limit: 200 });
    return sendPage(reply, layout(req, deps, t('contacts.title'), html`
<p><a href="/hubs/${hub.id}">← ${hub.name}</a></p>
<h1>${deleted ? t('contacts.deletedTitle') : t('contacts.title')}</h1>
<form method="get" action="/hubs/${hub.id}/contacts" role="search" class="card">
  <label for="q">${t('contacts.search')}</label>
  <input id="q" name="q" type="search" value="${q}">
  <label class="check"><input type="checkbox" name="deleted" value="1" ${deleted ? 'checked' : ''}> ${t('contacts.showDeleted')}</label>
  <div class="actions"><button type="submit">${t('contacts.searchButton')}</button></div>
</form>
${list.length === 0 ? html`<p>${t('contacts.none')}</p>` : html`<table><thead><tr><th>${t('contacts.name')}</th><th></th></tr></thead><tbody>
${list.map((c) => html`<tr><td><a href="/hubs/${hub.id}/contacts/${c.id}">${c.label || t('contacts.noName')}</a></td><td>${deleted ? postButton(req, `/hubs/${hub.id}/contacts/${c.id}/restore`, t('contacts.restore'), { cls: 'secondary' }) : ''}</td></tr>`)}
</tbody></table>`}`, { wide: true }));
  });

  app.get('/hubs/:hubId/contacts/:contactId', async (req: FastifyRequest<{ Params: { hubId: string; contactId: string } }>, reply) => {
    const t = req.hs.t;
    const hub = await hubOf(req);
    const c = await hubContact(deps.db, hub.id, req.params.contactId);
    if (!c) throw new HttpError(404, t('error.notFound'));
    const history = await hubJournal(deps.db, hub.id, { contact: c.id, limit: 100 });
    const card = c.card as unknown as Record<string, unknown>;
    const lines: [string, string][] = [];
    const walk = (label: string, v: unknown) => {
      if (v && typeof v === 'object' && !Array.isArray(v)) for (const x of Object.values(v as Record<string, unknown>)) lines.push([label, valueText(x)]);
    };
    walk(t('contacts.emails'), card.emails);
    walk(t('contacts.phones'), card.phones);
    walk(t('contacts.orgs'), card.organizations);
    walk(t('contacts.addresses'), card.addresses);
    return sendPage(reply, layout(req, deps, cardSummary(c.card) || t('contacts.noName'), html`
<p><a href="/hubs/${hub.id}/contacts">← ${t('contacts.title')}</a></p>
<h1>${cardSummary(c.card) || t('contacts.noName')}</h1>
${c.deleted ? html`<div class="error">${t('contacts.isDeleted')} ${postButton(req, `/hubs/${hub.id}/contacts/${c.id}/restore`, t('contacts.restore'))}</div>` : ''}
<dl class="kv card">${lines.map(([k, v]) => html`<dt>${k}</dt><dd>${v}</dd>`)}</dl>
<h2>${t('contacts.inSpokes')}</h2>
<ul>${c.links.map((l) => html`<li title="${l.remote_id}">${l.spoke}${l.state !== 'active' ? html` <span class="small muted">(${t('contacts.linkHeld')})</span>` : ''}</li>`)}</ul>
<h2>${t('contacts.history')}</h2>
<table><thead><tr><th>${t('runs.when')}</th><th>${t('contacts.action')}</th><th>${t('contacts.from')}</th></tr></thead><tbody>
${history.map((h) => html`<tr><td>${when(req, h.at)}</td><td>${t(`journal.${h.action}` as 'journal.create')}</td><td>${h.from === 'hub' ? t('contacts.fromHub') : h.from}</td></tr>`)}
</tbody></table>`));
  });

  app.post('/hubs/:hubId/contacts/:contactId/restore', async (req: FastifyRequest<{ Params: { hubId: string; contactId: string } }>, reply) => {
    const hub = await hubOf(req);
    const r = await decide(req, hub, () => restoreContact(decisionDeps(), hub.id, req.params.contactId));
    if (r) await flash(req, req.hs.t('contacts.restored'));
    return reply.redirect(`/hubs/${hub.id}/contacts/${req.params.contactId}`);
  });

  // A spoke's page: Sync options, rename, Sync now, remove.
  type SpokeParams = { Params: { hubId: string; spokeId: string } };
  const spokeOf = (req: FastifyRequest<SpokeParams>) => orgSpoke(deps.db, session(req).user.orgId, req.params.hubId, req.params.spokeId);

  const optionsForm = (req: FastifyRequest, hub: Hub, spoke: Spoke, o: SpokeOptions, readOnly: boolean, error?: string) => {
    const t = req.hs.t;
    return html`
<form method="post" action="/hubs/${hub.id}/spokes/${spoke.id}/options" class="card" id="sync-options">
  ${csrfField(req)}
  <h2>${t('spoke.options')}</h2>
  ${error ? html`<div class="error" role="alert">${error}</div>` : ''}
  ${readOnly ? html`<p class="muted">${t('spoke.readOnly')}</p>` : ''}
  <label class="check"><input type="checkbox" id="allow-create" name="allowCreate" value="1" ${o.allowCreate ? 'checked' : ''} ${readOnly ? 'disabled' : ''} aria-describedby="allow-create-hint"> Allow Hub to create and sync items in this spoke</label>
  <p class="hint" id="allow-create-hint">${t('spoke.allowCreateHint')}</p>
  <fieldset><legend>${t('spoke.direction')}</legend>
    <label class="check"><input type="radio" name="direction" value="two-way" ${o.direction === 'two-way' ? 'checked' : ''}> ${t('spoke.direction.twoWay')}</label>
    <label class="check"><input type="radio" name="direction" value="to-hub" ${o.direction === 'to-hub' ? 'checked' : ''}> ${t('spoke.direction.toHub')}</label>
  </fieldset>
  <label class="check"><input type="checkbox" name="allowUpdate" value="1" ${o.allowUpdate ? 'checked' : ''}> ${t('spoke.allowUpdate')}</label>
  <label class="check"><input type="checkbox" name="allowDelete" value="1" ${o.allowDelete ? 'checked' : ''}> ${t('spoke.allowDelete')}</label>
  <label for="conditions">${t('spoke.conditions')}</label>
  <p class="hint" id="conditions-hint">${t('spoke.conditionsHint')}</p>
  <textarea id="conditions" name="conditions" aria-describedby="conditions-hint">${o.conditions.join('\n')}</textarea>
  <label for="region">${t('spoke.region')}</label>
  <input id="region" name="region" type="text" maxlength="2" value="${o.defaultRegion}" style="max-width:80px">
  <div class="actions"><button type="submit">${t('common.save')}</button></div>
</form>`;
  };

  const spokePage = async (req: FastifyRequest, hub: Hub, spoke: Spoke, opts: { options?: SpokeOptions; error?: string } = {}) => {
    const t = req.hs.t;
    const readOnly = deps.factories.get(spoke.type)?.capabilities.readOnly ?? false;
    return layout(req, deps, spoke.name, html`
<p><a href="/hubs/${hub.id}">← ${hub.name}</a></p>
<h1>${spoke.name}</h1>
<p class="muted">${deps.factories.get(spoke.type)?.label ?? spoke.type} · ${describeSync(t, spoke.options, readOnly)}</p>
<div class="actions">${postButton(req, `/hubs/${hub.id}/spokes/${spoke.id}/sync`, t('spoke.syncNow'))}</div>
${optionsForm(req, hub, spoke, opts.options ?? spoke.options, readOnly, opts.error)}
<form method="post" action="/hubs/${hub.id}/spokes/${spoke.id}/rename" class="card">
  ${csrfField(req)}
  <label for="spoke-name">${t('wizard.spoke.label')}</label>
  <input id="spoke-name" name="name" type="text" required maxlength="100" value="${spoke.name}">
  <div class="actions"><button type="submit" class="secondary">${t('spoke.rename')}</button></div>
</form>
<section class="card"><h2>${t('spoke.remove')}</h2><p>${t('spoke.removeHint')}</p>${postButton(req, `/hubs/${hub.id}/spokes/${spoke.id}/remove`, t('spoke.removeButton'), { cls: 'danger' })}</section>`);
  };

  app.get('/hubs/:hubId/spokes/:spokeId', async (req: FastifyRequest<SpokeParams>, reply) => {
    const { hub, spoke } = await spokeOf(req);
    return sendPage(reply, await spokePage(req, hub, spoke));
  });

  const optionsFrom = (b: Body, base: SpokeOptions): SpokeOptions =>
    spokeOptionsSchema.parse({
      ...base,
      allowCreate: one(b.allowCreate) === '1',
      direction: one(b.direction) === 'to-hub' ? 'to-hub' : 'two-way',
      allowUpdate: one(b.allowUpdate) === '1',
      allowDelete: one(b.allowDelete) === '1',
      conditions: one(b.conditions).split(/\r?\n/).map((c) => c.trim()).filter(Boolean),
      defaultRegion: one(b.region).trim().toUpperCase() || base.defaultRegion,
    });

  app.post('/hubs/:hubId/spokes/:spokeId/options', async (req: FastifyRequest<SpokeParams & { Body: Body }>, reply) => {
    const t = req.hs.t;
    const { hub, spoke } = await spokeOf(req);
    const b = req.body ?? {};
    let next: SpokeOptions;
    try {
      next = optionsFrom(b, spoke.options);
      writePolicy(next, deps.factories.get(spoke.type)?.capabilities ?? { readOnly: false, incremental: false, idempotentCreate: 'none', markers: false, conditionalWrites: false, fields: 'all', visibilityLagMs: 0 });
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      return sendPage(reply, await spokePage(req, hub, spoke, { error: t('spoke.invalid', { error: msg }) }), 400);
    }
    const caps = deps.factories.get(spoke.type)?.capabilities;
    const widens = caps ? writePolicy(next, caps).create && !writePolicy(spoke.options, caps).create : false;
    const confirmedBefore = typeof (spoke.status as Record<string, unknown>)[TWO_WAY_CONFIRMED] === 'number';
    if (widens && !confirmedBefore && one(b.confirm) !== '1') {
      // The preview: what the first two-way sync would do, computed as a dry run with the new
      // options in place (then put back), while no other run of the hub can start.
      const before = spoke.options;
      let summary: RunSummary | null = null;
      let error: string | undefined;
      const ran = await deps.runner.exclusive(hub.id, 'preview', async (engine) => {
        await setSpokeOptions(deps.db, spoke, next);
        try {
          summary = await syncHub(await withCredentialsResolved(engine, hub.id), { hub: hub.id, dryRun: true });
        } catch (e) {
          error = e instanceof Error ? e.message : String(e);
        } finally {
          await setSpokeOptions(deps.db, await getSpoke(deps.db, hub.id, spoke.id), before);
        }
        return true;
      }, 60_000);
      if (ran === null) return sendPage(reply, await spokePage(req, hub, spoke, { options: next, error: t('hub.busy') }), 409);
      return sendPage(reply, previewPage(req, hub, spoke, next, summary, error));
    }
    await setSpokeOptions(deps.db, spoke, next);
    if (widens) {
      const st = { ...(spoke.status as Record<string, unknown>), [TWO_WAY_CONFIRMED]: deps.now() };
      await deps.db.updateTable('spokes').set({ status: JSON.stringify(st) }).where('id', '=', spoke.id).execute();
    }
    await flash(req, widens ? t('spoke.savedTwoWay') : t('common.saved'));
    return reply.redirect(`/hubs/${hub.id}/spokes/${spoke.id}`);
  });

  const previewPage = (req: FastifyRequest, hub: Hub, spoke: Spoke, next: SpokeOptions, summary: RunSummary | null, error?: string) => {
    const t = req.hs.t;
    const mine = summary?.spokes.find((s) => s.spokeId === spoke.id);
    const hidden = {
      confirm: '1',
      ...(next.allowCreate ? { allowCreate: '1' } : {}),
      direction: next.direction,
      ...(next.allowUpdate ? { allowUpdate: '1' } : {}),
      ...(next.allowDelete ? { allowDelete: '1' } : {}),
      conditions: next.conditions.join('\n'),
      region: next.defaultRegion,
    };
    const opLabel = (op: string) => t(`preview.op.${op}` as 'preview.op.create');
    return layout(req, deps, t('preview.title'), html`
<p><a href="/hubs/${hub.id}/spokes/${spoke.id}">← ${spoke.name}</a></p>
<h1>${t('preview.title')}</h1>
<p>${t('preview.intro', { spoke: spoke.name })}</p>
${error ? html`<div class="error" role="alert">${t('preview.failed', { error })}</div>` : ''}
${mine ? html`
<div class="counts card" aria-label="${t('preview.counts')}">
  <div><b>${String(mine.outbound.created)}</b>${t('preview.created')}</div>
  <div><b>${String(mine.outbound.updated)}</b>${t('preview.updated')}</div>
  <div><b>${String(mine.outbound.deleted)}</b>${t('preview.deleted')}</div>
</div>
${mine.status !== 'ok' ? html`<div class="error">${mine.error ?? ''}</div>` : ''}
${mine.planned.length > 0 ? html`<table><thead><tr><th>${t('preview.change')}</th><th>${t('contacts.name')}</th><th>${t('preview.fields')}</th></tr></thead><tbody>
${mine.planned.slice(0, 200).map((p) => html`<tr><td>${opLabel(p.op)}</td><td>${p.label}</td><td class="small">${(p.fields ?? []).join(', ')}</td></tr>`)}
</tbody></table>${mine.planned.length > 200 ? html`<p class="small muted">${t('preview.more', { n: String(mine.planned.length - 200) })}</p>` : ''}` : html`<p>${t('preview.nothing')}</p>`}` : ''}
<div class="actions">
  ${postButton(req, `/hubs/${hub.id}/spokes/${spoke.id}/options`, t('preview.confirm'), { fields: hidden })}
  <a class="button secondary" href="/hubs/${hub.id}/spokes/${spoke.id}">${t('common.cancel')}</a>
</div>`, { wide: true });
  };

  // A file of a vCard folder that holds many contacts (an export), written as a file per contact
  // beside it and renamed FILE.split (split-export.ts); under the hub's run guard, as a sync reads
  // that folder.
  app.post('/hubs/:hubId/spokes/:spokeId/split', async (req: FastifyRequest<SpokeParams & { Body: Body }>, reply) => {
    const t = req.hs.t;
    const { hub, spoke } = await spokeOf(req);
    if (spoke.type !== 'vdir') throw new HttpError(400, t('problems.splitNotFolder'));
    const file = one(req.body?.file);
    // A name in the spoke's folder, never a path that leads out of it.
    if (file === '' || file === '.' || file === '..' || file !== path.basename(file) || /[\\/\0]/.test(file)) throw new HttpError(400, t('problems.splitBadFile'));
    const folder = parseVdirConfig(spoke.config).path;
    const r = await decide(req, hub, async (): Promise<SplitOutcome | { kind: 'failed'; error: string }> => {
      try {
        return await splitExport(path.join(folder, file));
      } catch (e) {
        return { kind: 'failed', error: (e as Error).message };
      }
    });
    if (r) {
      await flash(
        req,
        r.kind === 'split'
          ? t('problems.splitDone', { n: String(r.cards), file, aside: path.basename(r.aside) })
          : r.kind === 'failed'
            ? t('problems.splitFailed', { file, error: r.error })
            : t('problems.splitNothing', { file }),
      );
    }
    return reply.redirect(`/hubs/${hub.id}`);
  });

  app.post('/hubs/:hubId/spokes/:spokeId/sync', async (req: FastifyRequest<SpokeParams>, reply) => {
    const { hub, spoke } = await spokeOf(req);
    startRun(hub, [spoke.name]);
    await flash(req, req.hs.t('spoke.syncStarted', { spoke: spoke.name }));
    return reply.redirect(`/hubs/${hub.id}`);
  });

  app.post('/hubs/:hubId/spokes/:spokeId/rename', async (req: FastifyRequest<SpokeParams & { Body: Body }>, reply) => {
    const t = req.hs.t;
    const { hub, spoke } = await spokeOf(req);
    const name = one(req.body?.name).trim();
    if (!name) return sendPage(reply, await spokePage(req, hub, spoke, { error: t('wizard.spoke.missing') }), 400);
    const taken = await deps.db.selectFrom('spokes').select('id').where('hub_id', '=', hub.id).where('name', '=', name).where('id', '!=', spoke.id).executeTakeFirst();
    if (taken) return sendPage(reply, await spokePage(req, hub, spoke, { error: t('wizard.spoke.taken', { name }) }), 400);
    await deps.db.updateTable('spokes').set({ name }).where('id', '=', spoke.id).execute();
    await flash(req, t('common.saved'));
    return reply.redirect(`/hubs/${hub.id}/spokes/${spoke.id}`);
  });

  app.post('/hubs/:hubId/spokes/:spokeId/remove', async (req: FastifyRequest<SpokeParams>, reply: FastifyReply) => {
    const { hub, spoke } = await spokeOf(req);
    const r = await decide(req, hub, async () => {
      await removeSpoke(deps.db, spoke);
      return true;
    });
    if (r) await flash(req, req.hs.t('spoke.removed', { spoke: spoke.name }));
    return reply.redirect(`/hubs/${hub.id}`);
  });
}
