/**
 * The hub store's tables, as Kysely sees them. The same schema runs on SQLite (embedded default)
 * and PostgreSQL (scale-out); see migrations.ts. JSON documents are stored as text so both
 * dialects read and write them the same way; timestamps are milliseconds since the epoch and
 * merge tags are HLC integers (engine/hlc.ts), both in 64-bit integer columns.
 */
import type { Generated } from 'kysely';

export interface HubTable {
  id: string;
  name: string;
  object: string;
  created_at: number;
  /** The last HLC tag handed out for this hub (keeps tags monotonic across restarts). */
  clock: number;
  /** JSON: HubSettings. */
  settings: string;
  /** The organisation that owns the hub (0003); null for a hub the CLI made and no one adopted yet. */
  org_id?: string | null;
}

export interface SpokeTable {
  id: string;
  hub_id: string;
  name: string;
  type: string;
  /** JSON: the connector's own settings (a folder path, an account name). Never a secret. */
  config: string;
  /** JSON: SpokeOptions. */
  options: string;
  created_at: number;
  /** The connector's sync cursor, saved only with the data it covers. */
  cursor: string | null;
  /** The connector's identity() when the spoke was first synced. */
  identity: string | null;
  /** Hub clock value up to which every hub change has been planned for this spoke. */
  pushed_clock: number;
  /** When the last complete listing of the spoke started (ms), or null when not known (0007). */
  listed_at: number | null;
  /** JSON: SpokeStatus (last run, counts, last error). */
  status: string;
}

export interface EntityTable {
  id: string;
  hub_id: string;
  /** JSON: HubState, the merged fields with their merge metadata. */
  state: string;
  /**
   * JSON: the current fields (`currentFields(state)`), which readers and pushes use without
   * parsing the merge metadata; null in rows written before migration 0009, whose fields come from
   * `state`. The contact as a JSContact Card is `fieldsToCard(fields, uid)` (engine/run/entities.ts).
   */
  fields: string | null;
  /** The contact's UID (backfilled by migration 0009 for rows written before 0008). */
  uid: string | null;
  /**
   * `hashFields` of the current fields, all of them (null before migration 0008): a push compares
   * it with a link's `base_hash` without parsing `state`.
   */
  fields_hash: string | null;
  /** 1 when deleted (a tombstone that keeps the last content in `state` and `fields`). */
  deleted: number;
  /** JSON: Tombstone details, when deleted. */
  tombstone: string | null;
  /** HLC tag of the last change. */
  version: number;
  created_at: number;
  updated_at: number;
}

export interface EntityKeyTable {
  hub_id: string;
  /** An identity key for first-sync matching: `e:<email>`, `p:<e164>`, `n:<name key>`. */
  key: string;
  entity_id: string;
}

export interface LinkTable {
  spoke_id: string;
  entity_id: string;
  remote_id: string;
  etag: string | null;
  /** JSON: Fields as the spoke last held them (the merge base), in the spoke's field space. */
  base: string;
  base_hash: string;
  /** The entity version the base was reconciled with. */
  base_version: number;
  /** active | held (a deletion held by a gate). */
  state: string;
  observed_at: number;
  /** The item as the spoke stores it at `etag`, when its connector gives it (RemoteItem.raw). */
  raw: string | null;
}

/**
 * Items the hub deleted from a spoke whose listings lag behind its writes (`visibilityLagMs`), for
 * a while: a listing that still shows one is not taken for a new item (design B5).
 */
export interface SpokeDeleteTable {
  spoke_id: string;
  remote_id: string;
  deleted_at: number;
}

export interface IntentTable {
  id: string;
  hub_id: string;
  spoke_id: string;
  entity_id: string;
  run_id: string;
  /** create | update | delete */
  op: string;
  /** planned | sent | uncertain | failed */
  state: string;
  remote_id: string | null;
  /** JSON: the fields sent. */
  payload: string;
  created_at: number;
}

export interface HeldDeleteTable {
  id: string;
  hub_id: string;
  spoke_id: string;
  entity_id: string;
  remote_id: string;
  /** inbound (the spoke lost it) | outbound (the hub would delete it there) */
  direction: string;
  /** spoke-empty | mass-delete */
  reason: string;
  run_id: string;
  created_at: number;
  /** held | confirmed | rejected | done (applied) | cancelled (the item came back, or the contact is deleted no more) */
  status: string;
  decided_at: number | null;
}

export interface ConflictTable {
  id: string;
  hub_id: string;
  entity_id: string;
  path: string;
  /** JSON: the value kept. */
  kept: string;
  /** JSON: the value that lost (never dropped silently). */
  lost: string;
  kept_origin: string;
  lost_origin: string;
  run_id: string;
  at: number;
  /** open | resolved */
  status: string;
}

export interface ReviewTable {
  id: string;
  hub_id: string;
  spoke_id: string;
  remote_id: string;
  /** The entity the spoke item became while it waits for a decision. */
  entity_id: string;
  /** JSON: candidate entity ids with scores. */
  candidates: string;
  reason: string;
  status: string;
  created_at: number;
}

export interface JournalTable {
  id: string;
  hub_id: string;
  run_id: string;
  /** The spoke the change came from, or null for the hub itself (a person's decision, an undo). */
  spoke_id: string | null;
  entity_id: string;
  /** create | update | delete | restore */
  action: string;
  /** JSON HubState before (null for create). */
  before: string | null;
  /** JSON HubState after. */
  after: string | null;
  at: number;
}

export interface RunTable {
  id: string;
  hub_id: string;
  /** sync | dry-run | undo | decision */
  kind: string;
  started_at: number;
  finished_at: number | null;
  /** running | ok | partial | failed */
  status: string;
  /** JSON: RunSummary. */
  summary: string;
  undone_by: string | null;
}

export interface LeaseTable {
  hub_id: string;
  holder: string;
  expires_at: number;
}

export interface AccountTable {
  id: string;
  /** google | microsoft | carddav | … */
  provider: string;
  /** What people call it: an e-mail address, a tenant's name. Unique per provider. */
  name: string;
  /** user (one person's delegated access) | organization (an app's access to a whole tenant) */
  kind: string;
  /** JSON: non-secret settings (tenant id, client id, granted scopes, e-mail). */
  settings: string;
  /** Sealed JSON (accounts/secret-box.ts): refresh token, password, client secret. */
  secret: string;
  /** Sealed current access token, shared by processes until it expires. */
  access_token: string | null;
  access_expires_at: number | null;
  /** ok | needs-sign-in */
  state: string;
  last_error: string | null;
  created_at: number;
  updated_at: number;
  /** The organisation that owns the account (0003); null for one the CLI added. */
  org_id?: string | null;
}

export interface OrganizationTable {
  id: string;
  name: string;
  created_at: number;
}

export interface UserTable {
  id: string;
  org_id: string;
  /** Lower-cased; unique across the installation (it is the sign-in name). */
  email: string;
  name: string;
  /** `scrypt$N$r$p$salt$hash` (node:crypto scrypt; see src/server/passwords.ts). */
  password_hash: string;
  /** admin | member */
  role: string;
  created_at: number;
}

export interface SessionTable {
  /** SHA-256 of the cookie's random token: a stolen database does not yield live sessions. */
  id_hash: string;
  user_id: string;
  /** The session's CSRF token (synchronizer token pattern). */
  csrf: string;
  /** JSON: the wizard's draft and other per-session state. */
  data: string;
  created_at: number;
  expires_at: number;
}

export interface InvitationTable {
  id: string;
  org_id: string;
  hub_id: string;
  /** The account provider the invitee signs in with (google, microsoft). */
  provider: string;
  /** The spoke type their contacts become. */
  spoke_type: string;
  /** Lower-cased; the only address that may accept. */
  email: string;
  /** SHA-256 of the link's token. */
  token_hash: string;
  /** The user who invited. */
  invited_by: string;
  /** pending | accepted | declined | revoked (expired is computed from expires_at) */
  status: string;
  created_at: number;
  expires_at: number;
  decided_at: number | null;
  /** The spoke made on acceptance. */
  spoke_id: string | null;
}

export interface HubScheduleTable {
  hub_id: string;
  interval_minutes: number;
  paused: number;
}

export interface OutboxTable {
  id: string;
  org_id: string;
  to_addr: string;
  subject: string;
  body: string;
  /** 1 when handed to SMTP; 0 when kept here only (no SMTP configured, or it failed: see error). */
  sent: number;
  error: string | null;
  created_at: number;
}

export interface MigrationRow {
  id: Generated<number>;
}

export interface Schema {
  hubs: HubTable;
  spokes: SpokeTable;
  entities: EntityTable;
  entity_keys: EntityKeyTable;
  links: LinkTable;
  intents: IntentTable;
  spoke_deletes: SpokeDeleteTable;
  held_deletes: HeldDeleteTable;
  conflicts: ConflictTable;
  reviews: ReviewTable;
  journal: JournalTable;
  runs: RunTable;
  leases: LeaseTable;
  accounts: AccountTable;
  organizations: OrganizationTable;
  users: UserTable;
  sessions: SessionTable;
  invitations: InvitationTable;
  hub_schedules: HubScheduleTable;
  outbox: OutboxTable;
}
