/**
 * Organisations, users, sessions, invitations and schedules: the web app's tables (migration
 * 0003). Every hub, spoke, account and invitation belongs to one organisation; the lookups here
 * take the organisation and find nothing outside it, so a route cannot forget the check.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import { getHub, getSpoke, NotFoundError, type Hub, type Spoke } from '../store/hubs.js';
import type { Schema } from '../store/schema.js';

type Db = Kysely<Schema>;

export interface User {
  id: string;
  orgId: string;
  email: string;
  name: string;
  role: 'admin' | 'member';
}

export interface SessionData {
  wizard?: WizardDraft;
  flash?: string;
}

export interface WizardDraft {
  object?: 'contacts' | 'calendar';
  type?: string;
  /** The hub the spoke joins (Add spoke), or none yet (the first spoke of a new hub). */
  hubId?: string;
  config?: Record<string, unknown>;
  /** The signed-in account's e-mail, when the type has an account provider. */
  account?: string;
  /** Choices offered after sign-in (mailboxes, folders). */
  choices?: { label: string; config: Record<string, unknown> }[];
  spokeName?: string;
  /** Invite this address instead of signing in. */
  invite?: string;
}

export interface Session {
  idHash: string;
  user: User;
  csrf: string;
  data: SessionData;
  expiresAt: number;
}

export const SESSION_TTL_MS = 12 * 3600_000;
export const INVITATION_TTL_MS = 7 * 24 * 3600_000;

export const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');
export const newToken = (): string => randomBytes(32).toString('base64url');

function userFromRow(r: Schema['users']): User {
  return { id: r.id, orgId: r.org_id, email: r.email, name: r.name, role: r.role === 'admin' ? 'admin' : 'member' };
}

export async function userCount(db: Db): Promise<number> {
  const r = await db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirst();
  return Number(r?.n ?? 0);
}

/** A new organisation with its first user, its administrator. */
export async function createOrgWithAdmin(
  db: Db,
  p: { orgId: string; orgName: string; userId: string; email: string; name: string; passwordHash: string; now: number },
): Promise<User> {
  await db.transaction().execute(async (trx) => {
    await trx.insertInto('organizations').values({ id: p.orgId, name: p.orgName, created_at: p.now }).execute();
    await trx
      .insertInto('users')
      .values({ id: p.userId, org_id: p.orgId, email: p.email.toLowerCase(), name: p.name, password_hash: p.passwordHash, role: 'admin', created_at: p.now })
      .execute();
  });
  return { id: p.userId, orgId: p.orgId, email: p.email.toLowerCase(), name: p.name, role: 'admin' };
}

/** Hubs and accounts made by the CLI (no organisation) are adopted by the first organisation. */
export async function adoptOrphans(db: Db, orgId: string): Promise<number> {
  const h = await db.updateTable('hubs').set({ org_id: orgId }).where('org_id', 'is', null).executeTakeFirst();
  await db.updateTable('accounts').set({ org_id: orgId }).where('org_id', 'is', null).execute();
  return Number(h.numUpdatedRows);
}

export async function firstOrgId(db: Db): Promise<string | null> {
  const r = await db.selectFrom('organizations').select('id').orderBy('created_at').orderBy('id').limit(1).executeTakeFirst();
  return r?.id ?? null;
}

export async function findUserByEmail(db: Db, email: string): Promise<(User & { passwordHash: string }) | null> {
  const r = await db.selectFrom('users').selectAll().where('email', '=', email.trim().toLowerCase()).executeTakeFirst();
  return r ? { ...userFromRow(r), passwordHash: r.password_hash } : null;
}

export async function orgName(db: Db, orgId: string): Promise<string> {
  const r = await db.selectFrom('organizations').select('name').where('id', '=', orgId).executeTakeFirst();
  return r?.name ?? '';
}

export async function createSession(db: Db, userId: string, now: number): Promise<{ token: string; csrf: string }> {
  const token = newToken();
  const csrf = newToken();
  await db
    .insertInto('sessions')
    .values({ id_hash: sha256(token), user_id: userId, csrf, data: '{}', created_at: now, expires_at: now + SESSION_TTL_MS })
    .execute();
  return { token, csrf };
}

export async function loadSession(db: Db, token: string, now: number): Promise<Session | null> {
  const r = await db
    .selectFrom('sessions')
    .innerJoin('users', 'users.id', 'sessions.user_id')
    .selectAll('users')
    .select(['sessions.id_hash', 'sessions.csrf', 'sessions.data', 'sessions.expires_at'])
    .where('sessions.id_hash', '=', sha256(token))
    .executeTakeFirst();
  if (!r || r.expires_at <= now) return null;
  return {
    idHash: r.id_hash,
    user: userFromRow(r),
    csrf: r.csrf,
    data: JSON.parse(r.data) as SessionData,
    expiresAt: r.expires_at,
  };
}

export async function saveSessionData(db: Db, s: Session): Promise<void> {
  await db.updateTable('sessions').set({ data: JSON.stringify(s.data) }).where('id_hash', '=', s.idHash).execute();
}

export async function deleteSession(db: Db, idHash: string): Promise<void> {
  await db.deleteFrom('sessions').where('id_hash', '=', idHash).execute();
}

// --- Hubs, spokes and accounts within an organisation ---------------------------------------

export async function orgHubs(db: Db, orgId: string): Promise<Hub[]> {
  const rows = await db.selectFrom('hubs').selectAll().where('org_id', '=', orgId).orderBy('created_at').orderBy('name').execute();
  return rows.map((r) => ({ id: r.id, name: r.name, object: 'contacts', createdAt: r.created_at, clock: r.clock }));
}

/** The hub with this id, if it belongs to the organisation; else NotFoundError (never "forbidden": no existence leak). */
export async function orgHub(db: Db, orgId: string, hubId: string): Promise<Hub> {
  const r = await db.selectFrom('hubs').select(['id', 'org_id']).where('id', '=', hubId).executeTakeFirst();
  if (!r || r.org_id !== orgId) throw new NotFoundError('No such hub.');
  return getHub(db, r.id);
}

export async function orgSpoke(db: Db, orgId: string, hubId: string, spokeId: string): Promise<{ hub: Hub; spoke: Spoke }> {
  const hub = await orgHub(db, orgId, hubId);
  const row = await db.selectFrom('spokes').select('id').where('hub_id', '=', hub.id).where('id', '=', spokeId).executeTakeFirst();
  if (!row) throw new NotFoundError('No such spoke.');
  return { hub, spoke: await getSpoke(db, hub.id, row.id) };
}

export async function setHubOrg(db: Db, hubId: string, orgId: string): Promise<void> {
  await db.updateTable('hubs').set({ org_id: orgId }).where('id', '=', hubId).execute();
}

export async function setAccountOrg(db: Db, accountId: string, orgId: string): Promise<void> {
  await db.updateTable('accounts').set({ org_id: orgId }).where('id', '=', accountId).execute();
}

// --- Schedules ------------------------------------------------------------------------------

export const DEFAULT_INTERVAL_MINUTES = 15;

export async function hubSchedule(db: Db, hubId: string): Promise<{ intervalMinutes: number; paused: boolean }> {
  const r = await db.selectFrom('hub_schedules').selectAll().where('hub_id', '=', hubId).executeTakeFirst();
  return { intervalMinutes: r?.interval_minutes ?? DEFAULT_INTERVAL_MINUTES, paused: r?.paused === 1 };
}

export async function setHubSchedule(db: Db, hubId: string, intervalMinutes: number, paused: boolean): Promise<void> {
  const existing = await db.selectFrom('hub_schedules').select('hub_id').where('hub_id', '=', hubId).executeTakeFirst();
  if (existing) {
    await db.updateTable('hub_schedules').set({ interval_minutes: intervalMinutes, paused: paused ? 1 : 0 }).where('hub_id', '=', hubId).execute();
  } else {
    await db.insertInto('hub_schedules').values({ hub_id: hubId, interval_minutes: intervalMinutes, paused: paused ? 1 : 0 }).execute();
  }
}

// --- Invitations ----------------------------------------------------------------------------

export type InvitationStatus = 'pending' | 'accepted' | 'declined' | 'revoked' | 'expired';

export interface Invitation {
  id: string;
  orgId: string;
  hubId: string;
  provider: string;
  spokeType: string;
  email: string;
  invitedBy: string;
  status: InvitationStatus;
  createdAt: number;
  expiresAt: number;
  spokeId: string | null;
}

function invitationFromRow(r: Schema['invitations'], now: number): Invitation {
  const stored = r.status as InvitationStatus;
  return {
    id: r.id,
    orgId: r.org_id,
    hubId: r.hub_id,
    provider: r.provider,
    spokeType: r.spoke_type,
    email: r.email,
    invitedBy: r.invited_by,
    status: stored === 'pending' && r.expires_at <= now ? 'expired' : stored,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    spokeId: r.spoke_id,
  };
}

export async function createInvitation(
  db: Db,
  p: { id: string; orgId: string; hubId: string; provider: string; spokeType: string; email: string; invitedBy: string; now: number },
): Promise<{ invitation: Invitation; token: string }> {
  const token = newToken();
  await db
    .insertInto('invitations')
    .values({
      id: p.id,
      org_id: p.orgId,
      hub_id: p.hubId,
      provider: p.provider,
      spoke_type: p.spokeType,
      email: p.email.trim().toLowerCase(),
      token_hash: sha256(token),
      invited_by: p.invitedBy,
      status: 'pending',
      created_at: p.now,
      expires_at: p.now + INVITATION_TTL_MS,
      decided_at: null,
      spoke_id: null,
    })
    .execute();
  const r = await db.selectFrom('invitations').selectAll().where('id', '=', p.id).executeTakeFirstOrThrow();
  return { invitation: invitationFromRow(r, p.now), token };
}

export async function hubInvitations(db: Db, orgId: string, hubId: string, now: number): Promise<Invitation[]> {
  const rows = await db.selectFrom('invitations').selectAll().where('org_id', '=', orgId).where('hub_id', '=', hubId).orderBy('created_at', 'desc').execute();
  return rows.map((r) => invitationFromRow(r, now));
}

export async function invitationByToken(db: Db, token: string, now: number): Promise<Invitation | null> {
  const r = await db.selectFrom('invitations').selectAll().where('token_hash', '=', sha256(token)).executeTakeFirst();
  return r ? invitationFromRow(r, now) : null;
}

export async function orgInvitation(db: Db, orgId: string, id: string, now: number): Promise<Invitation> {
  const r = await db.selectFrom('invitations').selectAll().where('id', '=', id).where('org_id', '=', orgId).executeTakeFirst();
  if (!r) throw new NotFoundError('No such invitation.');
  return invitationFromRow(r, now);
}

/**
 * Moves a pending, unexpired invitation to its final state. The `where status = pending` makes it
 * single-use even when two tabs race: only one update matches.
 */
export async function decideInvitation(db: Db, id: string, status: 'accepted' | 'declined' | 'revoked', now: number, spokeId?: string): Promise<boolean> {
  const r = await db
    .updateTable('invitations')
    .set({ status, decided_at: now, ...(spokeId ? { spoke_id: spokeId } : {}) })
    .where('id', '=', id)
    .where('status', '=', 'pending')
    .where('expires_at', '>', now)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

export async function invitationSpokeIds(db: Db, hubId: string): Promise<Set<string>> {
  const rows = await db.selectFrom('invitations').select('spoke_id').where('hub_id', '=', hubId).where('status', '=', 'accepted').execute();
  return new Set(rows.map((r) => r.spoke_id).filter((x): x is string => !!x));
}

export async function userName(db: Db, userId: string): Promise<string> {
  const r = await db.selectFrom('users').select(['name', 'email']).where('id', '=', userId).executeTakeFirst();
  return r ? `${r.name} <${r.email}>` : '';
}
