/**
 * A run's lease on its hub: at most one process syncs a hub at a time, whether the processes share
 * one SQLite file or one PostgreSQL database. The lease expires, so a crashed process does not
 * block the hub forever; a live run renews it as it goes.
 */
import type { Kysely } from 'kysely';
import type { Schema } from './schema.js';

type DbLike = Pick<Kysely<Schema>, 'selectFrom' | 'insertInto' | 'updateTable' | 'deleteFrom'>;

export const LEASE_TTL_MS = 120_000;

export class LeaseHeldError extends Error {
  constructor(hubName: string, readonly holder: string, readonly expiresAt: number) {
    super(`Hub "${hubName}" is being synced by another process (${holder}) right now; try again when it has finished.`);
    this.name = 'LeaseHeldError';
  }
}

/**
 * Takes the lease if it is free, expired or already ours. The conditional upsert is one statement,
 * so two processes racing for it cannot both win (SQLite serialises writers; PostgreSQL's
 * ON CONFLICT … WHERE takes the row lock).
 */
export async function acquireLease(
  db: DbLike,
  p: { hubId: string; hubName: string; holder: string; now: number; ttlMs?: number },
): Promise<void> {
  const expires = p.now + (p.ttlMs ?? LEASE_TTL_MS);
  await db
    .insertInto('leases')
    .values({ hub_id: p.hubId, holder: p.holder, expires_at: expires })
    .onConflict((oc) =>
      oc
        .column('hub_id')
        .doUpdateSet({ holder: p.holder, expires_at: expires })
        .where((eb) => eb.or([eb('leases.expires_at', '<', p.now), eb('leases.holder', '=', p.holder)])),
    )
    .execute();
  const row = await db.selectFrom('leases').selectAll().where('hub_id', '=', p.hubId).executeTakeFirst();
  if (!row || row.holder !== p.holder) {
    throw new LeaseHeldError(p.hubName, row?.holder ?? 'unknown', row?.expires_at ?? 0);
  }
}

export async function renewLease(db: DbLike, p: { hubId: string; holder: string; now: number; ttlMs?: number }): Promise<boolean> {
  const r = await db
    .updateTable('leases')
    .set({ expires_at: p.now + (p.ttlMs ?? LEASE_TTL_MS) })
    .where('hub_id', '=', p.hubId)
    .where('holder', '=', p.holder)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

export async function releaseLease(db: DbLike, p: { hubId: string; holder: string }): Promise<void> {
  await db.deleteFrom('leases').where('hub_id', '=', p.hubId).where('holder', '=', p.holder).execute();
}
