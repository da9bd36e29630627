/**
 * Schema migrations, the same for SQLite and PostgreSQL. Each migration is append-only: a released
 * migration is never edited, a change is a new one.
 */
import { Migrator, sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';

// Kysely's migrations work on any database shape; the schema type does not apply before they run.
type AnyDb = Kysely<unknown>;

const initial: Migration = {
  async up(db: AnyDb) {
    await db.schema
      .createTable('hubs')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull().unique())
      .addColumn('object', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('clock', 'bigint', (c) => c.notNull().defaultTo(0))
      .addColumn('settings', 'text', (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('spokes')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('hub_id', 'text', (c) => c.notNull().references('hubs.id').onDelete('cascade'))
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('type', 'text', (c) => c.notNull())
      .addColumn('config', 'text', (c) => c.notNull())
      .addColumn('options', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('cursor', 'text')
      .addColumn('identity', 'text')
      .addColumn('pushed_clock', 'bigint', (c) => c.notNull().defaultTo(0))
      .addColumn('status', 'text', (c) => c.notNull())
      .addUniqueConstraint('spokes_hub_name', ['hub_id', 'name'])
      .execute();

    await db.schema
      .createTable('entities')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('hub_id', 'text', (c) => c.notNull().references('hubs.id').onDelete('cascade'))
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('card', 'text', (c) => c.notNull())
      .addColumn('deleted', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('tombstone', 'text')
      .addColumn('version', 'bigint', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('entities_hub_version').on('entities').columns(['hub_id', 'version']).execute();

    await db.schema
      .createTable('entity_keys')
      .addColumn('hub_id', 'text', (c) => c.notNull())
      .addColumn('key', 'text', (c) => c.notNull())
      .addColumn('entity_id', 'text', (c) => c.notNull().references('entities.id').onDelete('cascade'))
      .execute();
    await db.schema.createIndex('entity_keys_hub_key').on('entity_keys').columns(['hub_id', 'key']).execute();
    await db.schema.createIndex('entity_keys_entity').on('entity_keys').column('entity_id').execute();

    await db.schema
      .createTable('links')
      .addColumn('spoke_id', 'text', (c) => c.notNull().references('spokes.id').onDelete('cascade'))
      .addColumn('entity_id', 'text', (c) => c.notNull().references('entities.id').onDelete('cascade'))
      .addColumn('remote_id', 'text', (c) => c.notNull())
      .addColumn('etag', 'text')
      .addColumn('base', 'text', (c) => c.notNull())
      .addColumn('base_hash', 'text', (c) => c.notNull())
      .addColumn('base_version', 'bigint', (c) => c.notNull())
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('observed_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('links_pk', ['spoke_id', 'entity_id'])
      .addUniqueConstraint('links_spoke_remote', ['spoke_id', 'remote_id'])
      .execute();
    await db.schema.createIndex('links_entity').on('links').column('entity_id').execute();

    await db.schema
      .createTable('intents')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('hub_id', 'text', (c) => c.notNull())
      .addColumn('spoke_id', 'text', (c) => c.notNull().references('spokes.id').onDelete('cascade'))
      .addColumn('entity_id', 'text', (c) => c.notNull())
      .addColumn('run_id', 'text', (c) => c.notNull())
      .addColumn('op', 'text', (c) => c.notNull())
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('remote_id', 'text')
      .addColumn('payload', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('intents_spoke').on('intents').columns(['spoke_id', 'entity_id']).execute();

    await db.schema
      .createTable('held_deletes')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('hub_id', 'text', (c) => c.notNull())
      .addColumn('spoke_id', 'text', (c) => c.notNull().references('spokes.id').onDelete('cascade'))
      .addColumn('entity_id', 'text', (c) => c.notNull())
      .addColumn('remote_id', 'text', (c) => c.notNull())
      .addColumn('direction', 'text', (c) => c.notNull())
      .addColumn('reason', 'text', (c) => c.notNull())
      .addColumn('run_id', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('decided_at', 'bigint')
      .execute();
    await db.schema.createIndex('held_deletes_hub').on('held_deletes').columns(['hub_id', 'status']).execute();
    await db.schema.createIndex('held_deletes_spoke').on('held_deletes').columns(['spoke_id', 'entity_id']).execute();

    await db.schema
      .createTable('conflicts')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('hub_id', 'text', (c) => c.notNull())
      .addColumn('entity_id', 'text', (c) => c.notNull())
      .addColumn('path', 'text', (c) => c.notNull())
      .addColumn('kept', 'text', (c) => c.notNull())
      .addColumn('lost', 'text', (c) => c.notNull())
      .addColumn('kept_origin', 'text', (c) => c.notNull())
      .addColumn('lost_origin', 'text', (c) => c.notNull())
      .addColumn('run_id', 'text', (c) => c.notNull())
      .addColumn('at', 'bigint', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('conflicts_hub').on('conflicts').columns(['hub_id', 'status']).execute();
    await db.schema.createIndex('conflicts_entity').on('conflicts').column('entity_id').execute();

    await db.schema
      .createTable('reviews')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('hub_id', 'text', (c) => c.notNull())
      .addColumn('spoke_id', 'text', (c) => c.notNull())
      .addColumn('remote_id', 'text', (c) => c.notNull())
      .addColumn('entity_id', 'text', (c) => c.notNull())
      .addColumn('candidates', 'text', (c) => c.notNull())
      .addColumn('reason', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('reviews_hub').on('reviews').columns(['hub_id', 'status']).execute();

    await db.schema
      .createTable('journal')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('hub_id', 'text', (c) => c.notNull())
      .addColumn('run_id', 'text', (c) => c.notNull())
      .addColumn('spoke_id', 'text')
      .addColumn('entity_id', 'text', (c) => c.notNull())
      .addColumn('action', 'text', (c) => c.notNull())
      .addColumn('before', 'text')
      .addColumn('after', 'text')
      .addColumn('at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('journal_run').on('journal').columns(['run_id', 'id']).execute();
    await db.schema.createIndex('journal_entity').on('journal').columns(['entity_id', 'id']).execute();

    await db.schema
      .createTable('runs')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('hub_id', 'text', (c) => c.notNull())
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('started_at', 'bigint', (c) => c.notNull())
      .addColumn('finished_at', 'bigint')
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('summary', 'text', (c) => c.notNull())
      .addColumn('undone_by', 'text')
      .execute();
    await db.schema.createIndex('runs_hub').on('runs').columns(['hub_id', 'started_at']).execute();

    await db.schema
      .createTable('leases')
      .addColumn('hub_id', 'text', (c) => c.primaryKey())
      .addColumn('holder', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .execute();
  },
  async down(db: AnyDb) {
    for (const t of ['leases', 'runs', 'journal', 'reviews', 'conflicts', 'held_deletes', 'intents', 'links',
      'entity_keys', 'entities', 'spokes', 'hubs']) {
      await db.schema.dropTable(t).ifExists().execute();
    }
  },
};

const accounts: Migration = {
  async up(db: AnyDb) {
    await db.schema
      .createTable('accounts')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('provider', 'text', (c) => c.notNull())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('settings', 'text', (c) => c.notNull())
      .addColumn('secret', 'text', (c) => c.notNull())
      .addColumn('access_token', 'text')
      .addColumn('access_expires_at', 'bigint')
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('last_error', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .addUniqueConstraint('accounts_provider_name', ['provider', 'name'])
      .execute();
  },
  async down(db: AnyDb) {
    await db.schema.dropTable('accounts').ifExists().execute();
  },
};

/**
 * 0003: the web app's tenancy. Organisations own hubs and accounts (`org_id`, nullable: hubs and
 * accounts made by the CLI have none until an organisation adopts them — the server gives them to
 * the first organisation, see docs/web.md); users sign in with a scrypt password hash; sessions
 * carry their CSRF token and the wizard's draft; invitations are single-use, expiring and bound to
 * an address (only a SHA-256 of the link's token is stored); hub_schedules holds the per-hub sync
 * interval; outbox keeps the mail sent (or, without SMTP, not sent) for the outbox page.
 */
const organizations: Migration = {
  async up(db: AnyDb) {
    await db.schema
      .createTable('organizations')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('users')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('org_id', 'text', (c) => c.notNull().references('organizations.id').onDelete('cascade'))
      .addColumn('email', 'text', (c) => c.notNull().unique())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('password_hash', 'text', (c) => c.notNull())
      .addColumn('role', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('sessions')
      .addColumn('id_hash', 'text', (c) => c.primaryKey())
      .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn('csrf', 'text', (c) => c.notNull())
      .addColumn('data', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('invitations')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('org_id', 'text', (c) => c.notNull().references('organizations.id').onDelete('cascade'))
      .addColumn('hub_id', 'text', (c) => c.notNull())
      .addColumn('provider', 'text', (c) => c.notNull())
      .addColumn('spoke_type', 'text', (c) => c.notNull())
      .addColumn('email', 'text', (c) => c.notNull())
      .addColumn('token_hash', 'text', (c) => c.notNull().unique())
      .addColumn('invited_by', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .addColumn('decided_at', 'bigint')
      .addColumn('spoke_id', 'text')
      .execute();
    await db.schema.createIndex('invitations_hub').on('invitations').columns(['hub_id', 'status']).execute();
    await db.schema
      .createTable('hub_schedules')
      .addColumn('hub_id', 'text', (c) => c.primaryKey())
      .addColumn('interval_minutes', 'integer', (c) => c.notNull())
      .addColumn('paused', 'integer', (c) => c.notNull().defaultTo(0))
      .execute();
    await db.schema
      .createTable('outbox')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('org_id', 'text', (c) => c.notNull())
      .addColumn('to_addr', 'text', (c) => c.notNull())
      .addColumn('subject', 'text', (c) => c.notNull())
      .addColumn('body', 'text', (c) => c.notNull())
      .addColumn('sent', 'integer', (c) => c.notNull())
      .addColumn('error', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.alterTable('hubs').addColumn('org_id', 'text').execute();
    await db.schema.alterTable('accounts').addColumn('org_id', 'text').execute();
  },
  async down(db: AnyDb) {
    for (const t of ['outbox', 'hub_schedules', 'invitations', 'sessions', 'users', 'organizations']) {
      await db.schema.dropTable(t).ifExists().execute();
    }
  },
};

/**
 * 0004: a covering index for the inbound pass, which read every (remote id, etag) of a spoke at
 * the start of a pull (it now looks them up a listing batch at a time, along the same index). Without it that read walks the links table, whose rows carry the merge
 * bases (measured on a no-op re-sync of 100,000 contacts over three spokes: the link reads took
 * 1.3 s without the index, 0.8 s with it).
 */
const linkEtags: Migration = {
  async up(db: AnyDb) {
    await db.schema.createIndex('links_spoke_remote_etag').on('links').columns(['spoke_id', 'remote_id', 'etag']).execute();
  },
  async down(db: AnyDb) {
    await db.schema.dropIndex('links_spoke_remote_etag').ifExists().execute();
  },
};

/**
 * 0005: the item's text as the spoke stores it, kept with the link for connectors that rewrite
 * items in place (CardDAV): an update then needs no read of the item first.
 */
const linkRaw: Migration = {
  async up(db: AnyDb) {
    await db.schema.alterTable('links').addColumn('raw', 'text').execute();
  },
  async down(db: AnyDb) {
    await db.schema.alterTable('links').dropColumn('raw').execute();
  },
};

/**
 * 0006: what the hub deleted from a spoke whose listings lag behind its writes (Google People), so
 * that a listing still showing the item is not taken for a contact someone added (design B5).
 */
const spokeDeletes: Migration = {
  async up(db: AnyDb) {
    await db.schema
      .createTable('spoke_deletes')
      .addColumn('spoke_id', 'text', (c) => c.notNull().references('spokes.id').onDelete('cascade'))
      .addColumn('remote_id', 'text', (c) => c.notNull())
      .addColumn('deleted_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('spoke_deletes_pk', ['spoke_id', 'remote_id'])
      .execute();
  },
  async down(db: AnyDb) {
    await db.schema.dropTable('spoke_deletes').ifExists().execute();
  },
};

/**
 * 0007: when a spoke was last listed completely, so that a spoke followed by a cursor is listed in
 * full now and then (design B9): a change its cursor never reports (a listing that was short, a
 * change feed that dropped an event) is found within a day. Null: not known (a store made before
 * this), which the engine counts from the first run after the upgrade.
 */
const spokeListedAt: Migration = {
  async up(db: AnyDb) {
    await db.schema.alterTable('spokes').addColumn('listed_at', 'bigint').execute();
  },
  async down(db: AnyDb) {
    await db.schema.alterTable('spokes').dropColumn('listed_at').execute();
  },
};

/**
 * 0008: a contact's UID and the hash of its fields, beside the JSON they come from: a push
 * compares the hash with each link's merge base and reads (and parses) the contact only when they
 * differ, and a create needs the UID without parsing the stored card. Null in rows written before
 * this: those contacts take the slow path until their next change.
 */
const entityHeads: Migration = {
  async up(db: AnyDb) {
    await db.schema.alterTable('entities').addColumn('uid', 'text').execute();
    await db.schema.alterTable('entities').addColumn('fields_hash', 'text').execute();
  },
  async down(db: AnyDb) {
    await db.schema.alterTable('entities').dropColumn('fields_hash').execute();
    await db.schema.alterTable('entities').dropColumn('uid').execute();
  },
};

/**
 * 0009: a contact's current fields as JSON in place of its Card. The Card is `fieldsToCard` of
 * the fields, so storing both held the same content twice: making the Card and its JSON for every
 * contact written, and a push reading the whole merge state back to get the fields, were a few per
 * cent of a first sync's main thread. Rows written before keep `fields` null (read from `state`);
 * their UID, until now read from the card when the uid column was null, is copied first.
 * In one transaction: Kysely runs SQLite migrations outside one, and a half-done 0009 (the card
 * gone, a UID not yet copied) would lose UIDs.
 */
const entityFields: Migration = {
  async up(db: AnyDb) {
    const body = async (tx: AnyDb) => {
      const t = tx as Kysely<{ entities: { id: string; uid: string | null; card: string } }>;
      for (;;) {
        const rows = await t.selectFrom('entities').select(['id', 'card']).where('uid', 'is', null).limit(1000).execute();
        if (rows.length === 0) break;
        for (const r of rows) {
          let uid = '';
          try {
            const parsed = JSON.parse(r.card) as { uid?: unknown };
            if (typeof parsed.uid === 'string') uid = parsed.uid;
          } catch {
            // A card that does not parse has no UID to keep: the contact gets one made from its
            // id, as a new contact without a UID does.
          }
          await t.updateTable('entities').set({ uid: uid === '' ? `urn:uuid:${r.id}` : uid }).where('id', '=', r.id).execute();
        }
      }
      await tx.schema.alterTable('entities').addColumn('fields', 'text').execute();
      await tx.schema.alterTable('entities').dropColumn('card').execute();
    };
    await (db.isTransaction ? body(db) : db.transaction().execute(body));
  },
  async down(db: AnyDb) {
    // The cards are not made again: a store taken back shows empty ones until its contacts change.
    await db.schema.alterTable('entities').addColumn('card', 'text', (c) => c.notNull().defaultTo('{}')).execute();
    await db.schema.alterTable('entities').dropColumn('fields').execute();
  },
};

export const migrations: Record<string, Migration> = {
  '0001-initial': initial,
  '0002-accounts': accounts,
  '0003-organizations': organizations,
  '0004-link-etags': linkEtags,
  '0005-link-raw': linkRaw,
  '0006-spoke-deletes': spokeDeletes,
  '0007-spoke-listed-at': spokeListedAt,
  '0008-entity-heads': entityHeads,
  '0009-entity-fields': entityFields,
};

class InCodeMigrations implements MigrationProvider {
  async getMigrations(): Promise<Record<string, Migration>> {
    return migrations;
  }
}

export async function migrateToLatest(db: AnyDb): Promise<void> {
  if (await allApplied(db)) return;
  const migrator = new Migrator({ db, provider: new InCodeMigrations() });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error || failed) {
    const what = failed ? `migration ${failed.migrationName}` : 'migrations';
    throw new Error(`The hub store could not be upgraded (${what} failed): ${String(error ?? 'unknown error')}`);
  }
}

/**
 * True when the store already records every migration as applied: then the migrator, which takes
 * its lock and reads and sorts its tables (≈10 ms, on every `hubsync` command), has nothing to do.
 * Any doubt (no table yet, an unknown or missing name) leaves the decision to the migrator.
 */
async function allApplied(db: AnyDb): Promise<boolean> {
  try {
    const rows = await sql<{ name: string }>`select name from kysely_migration`.execute(db);
    const applied = new Set(rows.rows.map((r) => r.name));
    const known = Object.keys(migrations);
    return applied.size === known.length && known.every((name) => applied.has(name));
  } catch {
    return false;
  }
}

/** Used by tests to start from nothing on a shared PostgreSQL database. */
export async function dropAll(db: AnyDb): Promise<void> {
  await spokeDeletes.down?.(db);
  await organizations.down?.(db);
  await accounts.down?.(db);
  await initial.down?.(db);
  await sql`drop table if exists kysely_migration`.execute(db);
  await sql`drop table if exists kysely_migration_lock`.execute(db);
}
