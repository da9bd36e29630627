/**
 * The JSON API (documented at /api/docs/json, OpenAPI 3): the same session and organisation
 * checks as the pages; POSTs need the CSRF token from GET /api/session in `x-csrf-token`.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { hubContacts, hubRuns, hubStatus, runProblems } from '../app/queries.js';
import type { ServerDeps } from './context.js';
import { HttpError } from './server.js';
import { orgHub, orgHubs, type Session } from './tenancy.js';

const hubParams = { type: 'object', properties: { hubId: { type: 'string' } }, required: ['hubId'] } as const;
const error = { type: 'object', properties: { error: { type: 'string' } } } as const;
const tags = ['hubs'];

export function registerApiRoutes(app: FastifyInstance, deps: ServerDeps): void {
  const session = (req: FastifyRequest): Session => {
    const s = req.hs.session;
    if (!s) throw new HttpError(401, 'Sign in first.');
    return s;
  };

  app.get('/api/session', { schema: { tags: ['session'], summary: 'Who is signed in, and the CSRF token for POST requests', response: { 200: { type: 'object', properties: { email: { type: 'string' }, name: { type: 'string' }, role: { type: 'string' }, csrfToken: { type: 'string' }, demo: { type: 'boolean' } } }, 401: error } } }, async (req) => {
    const s = session(req);
    return { email: s.user.email, name: s.user.name, role: s.user.role, csrfToken: s.csrf, demo: deps.config.demo };
  });

  app.get('/api/hubs', { schema: { tags, summary: "The organisation's hubs", response: { 200: { type: 'array', items: { type: 'object', properties: { id: { type: 'string' }, name: { type: 'string' }, object: { type: 'string' }, createdAt: { type: 'number' } } } }, 401: error } } }, async (req) => {
    return (await orgHubs(deps.db, session(req).user.orgId)).map((h) => ({ id: h.id, name: h.name, object: h.object, createdAt: h.createdAt }));
  });

  app.get('/api/hubs/:hubId', { schema: { tags, summary: 'A hub: counts, last run and the state of each spoke', params: hubParams, response: { 404: error } } }, async (req: FastifyRequest<{ Params: { hubId: string } }>) => {
    const hub = await orgHub(deps.db, session(req).user.orgId, req.params.hubId);
    const st = await hubStatus(deps.db, hub, deps.factories);
    return {
      id: hub.id,
      name: hub.name,
      contacts: st.contacts,
      deletedContacts: st.deletedContacts,
      openConflicts: st.openConflicts,
      possibleDuplicates: st.possibleDuplicates,
      lastRun: st.lastRun,
      running: deps.runner.isRunning(hub.id),
      nextRunAt: await deps.runner.nextRunAt(hub.id),
      spokes: st.spokes.map((s) => ({ id: s.spoke.id, name: s.spoke.name, type: s.spoke.type, options: s.spoke.options, readOnly: s.readOnly, state: s.state, lastSyncAt: s.lastSyncAt, lastError: s.lastError, contacts: s.contacts, heldDeletes: s.heldDeletes })),
    };
  });

  app.post('/api/hubs/:hubId/sync', { schema: { tags, summary: 'Start a sync run of the hub now (returns when it has finished)', params: hubParams, response: { 404: error, 403: error } } }, async (req: FastifyRequest<{ Params: { hubId: string } }>) => {
    const hub = await orgHub(deps.db, session(req).user.orgId, req.params.hubId);
    const summary = await deps.runner.run(hub.id, { reason: 'manual' });
    return summary ?? { status: 'busy' };
  });

  app.get('/api/hubs/:hubId/runs', { schema: { tags, summary: 'Recent runs with their totals', params: hubParams, response: { 404: error } } }, async (req: FastifyRequest<{ Params: { hubId: string } }>) => {
    const hub = await orgHub(deps.db, session(req).user.orgId, req.params.hubId);
    return hubRuns(deps.db, hub.id, 100);
  });

  app.get(
    '/api/hubs/:hubId/runs/:runId/problems',
    { schema: { tags, summary: "A run's problems with single items (at most 100 per spoke, with the full count)", params: { type: 'object', properties: { hubId: { type: 'string' }, runId: { type: 'string' } }, required: ['hubId', 'runId'] }, response: { 404: error } } },
    async (req: FastifyRequest<{ Params: { hubId: string; runId: string } }>) => {
      const hub = await orgHub(deps.db, session(req).user.orgId, req.params.hubId);
      const r = await runProblems(deps.db, hub.id, req.params.runId);
      if (!r) throw new HttpError(404, 'Not found.');
      return r;
    },
  );

  app.get(
    '/api/hubs/:hubId/contacts',
    { schema: { tags, summary: "The hub's contacts (JSContact cards)", params: hubParams, querystring: { type: 'object', properties: { q: { type: 'string' }, deleted: { type: 'boolean' }, limit: { type: 'integer', minimum: 1, maximum: 1000 } } }, response: { 404: error } } },
    async (req: FastifyRequest<{ Params: { hubId: string }; Querystring: { q?: string; deleted?: boolean; limit?: number } }>) => {
      const hub = await orgHub(deps.db, session(req).user.orgId, req.params.hubId);
      return hubContacts(deps.db, hub.id, { ...(req.query.q ? { search: req.query.q } : {}), deleted: req.query.deleted ?? false, limit: req.query.limit ?? 200 });
    },
  );
}
