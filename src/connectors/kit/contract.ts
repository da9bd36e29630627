/**
 * The one contract every spoke type implements. The engine talks to spokes only through it and
 * branches on `capabilities`, never on the spoke's type.
 *
 * Connectors are adapters with injected I/O: they get their settings and an environment (clock, and
 * later an HTTP client and credentials) from their factory. They never touch the hub store or
 * `process.env`. Mapping between the provider's format and the model is pure and lives beside them.
 */
import type { Card } from '../../model/card.js';
import type { FieldPath } from '../../model/fields.js';

export interface Capabilities {
  /** Nothing may ever be written to this spoke (a directory, a GAL). */
  readOnly: boolean;
  /** `pull` with a cursor returns only what changed since it (else every pull is a full listing). */
  incremental: boolean;
  /**
   * How a create can be made safe to repeat after a crash:
   * - `client-id`: the item's id is derived from the marker, and a second create of the same marker
   *   fails with `already_exists` instead of making a duplicate;
   * - `none`: a repeated create makes a duplicate; recovery relies on `findByMarker`.
   */
  idempotentCreate: 'client-id' | 'none';
  /** `findByMarker` finds items created with a marker (the crash-recovery lookup). */
  markers: boolean;
  /** `update` and `delete` honour `ifMatch` and fail with `conflict` when the item changed. */
  conditionalWrites: boolean;
  /** The field paths this spoke can store; the engine never sends or expects others. */
  fields: 'all' | readonly FieldPath[];
  /** How long a write may take to show up in `pull` results (Google People: minutes). */
  visibilityLagMs: number;
  /** How many calls may be in flight at once against this spoke (default 1: strictly sequential). */
  maxConcurrency?: number;
}

/** One item as read from a spoke, already lifted into the model. */
export interface RemoteItem {
  /** The spoke's id for the item (a file name, an href, a resource name). Stable across edits. */
  id: string;
  /** Changes whenever the stored item changes; null when the spoke has none. */
  etag: string | null;
  card: Card;
  /** The marker the hub stamped on the item when it created it, if any. */
  marker?: string | null;
  /** When the spoke says the item was last modified (ms since the epoch), if it says. */
  modifiedAt?: number | null;
  /**
   * The item exactly as the spoke stores it (a vCard's text), from a connector that rewrites items
   * in place to keep what the model does not know. The hub keeps it with the link and hands it back
   * as `previous` to an update whose `ifMatch` is this etag, so the update needs no read first.
   */
  raw?: string;
}

/** A per-item problem found while reading: reported by item and field, the rest of the pull goes on. */
export interface ItemProblem {
  id: string;
  field?: string;
  message: string;
  /** A fix the app can offer for it: `split-file`, a file holding many items (an export). */
  remedy?: ProblemRemedy;
}

export type ProblemRemedy = 'split-file';

export interface PullRequest {
  /** The cursor the last complete pull returned, or null for a full listing. */
  cursor: string | null;
  /**
   * What the hub holds for some listed ids, so a listing can skip reading items that did not
   * change: for each id the hub has an item for, the etag it last saw (null when the item had
   * none); ids it does not hold are absent. Connectors ask once per batch of listed ids, and report
   * items whose listed etag matches in `unchanged`, without reading them.
   *
   * Asynchronous and batched, so the hub looks the ids up in its store as the listing goes instead
   * of holding every link's etag in memory for the whole pull.
   */
  knownEtags(ids: readonly string[]): Promise<ReadonlyMap<string, string | null>>;
  /**
   * With a full listing (`cursor` null): how many of the spoke's items the hub held after its
   * last run (a hint, not a count to check a listing against). 0 (or absent) on a first sync,
   * where fetching every item with the listing saves round trips; with many known, a listing of
   * versions alone and reads of the changed items move far less data (the hub lists a spoke
   * followed by a cursor in full once a day, design B9).
   */
  linked?: number;
}

export interface PullPage {
  /** Items that are new or changed (or whose etag the hub does not know). */
  items: RemoteItem[];
  /** Ids of items listed with the etag the hub knows: present and, by etag, unchanged. */
  unchanged: string[];
  /** Ids the spoke explicitly reports as deleted (incremental pulls only). */
  deleted: string[];
  problems: ItemProblem[];
  /**
   * True when the pull enumerates every item the spoke holds (so an item missing from it is a
   * deletion candidate); false for an incremental pull.
   */
  complete: boolean;
  /** On the last page only: the cursor to pass next time (null when the spoke has none). */
  cursor?: string | null;
}

export interface WriteResult {
  id: string;
  etag: string | null;
  /**
   * The item as the spoke stored it, when the spoke echoes it (preferred for the merge base).
   * Without it the merge base is what was sent: a connector leaves it out only when the stored item
   * reads back as exactly the card sent (the vdir spoke checks that with `vcardHolds`), or when it
   * cannot know.
   */
  echoed?: RemoteItem;
  /** The stored item as `RemoteItem.raw`, when the connector knows it (matching `etag`). */
  raw?: string;
}

export interface UpdateOptions {
  ifMatch: string | null;
  changed: readonly FieldPath[];
  previous?: string;
}

export interface Connector {
  readonly capabilities: Capabilities;
  /** A stable id of the account and collection behind the spoke; a change means "another address book". */
  identity(): Promise<string>;
  /**
   * Reads what the spoke holds (or what changed since `cursor`). A cursor the spoke no longer
   * accepts raises `ConnectorError('cursor_invalid')`; it is never silently turned into a full listing.
   */
  pull(req: PullRequest): AsyncIterable<PullPage>;
  /** One item, or null when it does not exist. */
  get(id: string): Promise<RemoteItem | null>;
  /** Items carrying this marker (see `capabilities.markers`). */
  findByMarker(marker: string): Promise<RemoteItem[]>;
  /** Creates an item; `marker` is stamped on it (and is its id where `idempotentCreate` is `client-id`). */
  create(card: Card, opts: { marker: string }): Promise<WriteResult>;
  /**
   * Replaces the item's content for the fields the spoke supports, keeping whatever the spoke holds
   * that the model does not know. `changed` lists the paths that differ from the last synced state.
   * `previous` is the `raw` the connector gave for the item at etag `ifMatch`, when the hub has it.
   */
  update(id: string, card: Card, opts: UpdateOptions): Promise<WriteResult>;
  /** Deletes the item; an item that is already gone counts as deleted. */
  delete(id: string, opts: { ifMatch: string | null }): Promise<void>;
  /** Releases resources (connections, handles). */
  close?(): Promise<void>;
}

/** What a factory needs besides the spoke's own settings. */
export interface ConnectorEnv {
  /** Milliseconds since the epoch. */
  now(): number;
  /** The region phone numbers without a country code belong to (ISO 3166-1 alpha-2). */
  defaultRegion: string;
  /** The credentials of the account behind the spoke, when it has one (see src/accounts/). */
  auth?: SpokeAuth;
  /** The HTTP transport; tests and benchmarks inject counting or faulty ones. Default: global fetch. */
  fetch?: typeof globalThis.fetch;
}

/**
 * Credentials handed to a connector. The connector never sees where they are stored, and never
 * logs them.
 */
export interface SpokeAuth {
  /** A valid OAuth access token, refreshed as needed (once at a time per account). */
  accessToken?(): Promise<string>;
  /** The provider refused this token (HTTP 401): drop it so the next call gets a fresh one. */
  invalidateAccessToken?(token: string): void;
  /** For Basic/Digest authentication (CardDAV). */
  username?: string;
  password?: string;
}

export interface ConnectorFactory<Config = unknown> {
  type: string;
  /** Shown to people: "Local vCard folder". */
  label: string;
  /** Validates and normalises user-given settings; throws an Error naming the bad setting. */
  parseConfig(raw: Record<string, unknown>): Config;
  /** What this type can do, known before any connection is made (the UI and CLI use it). */
  capabilities: Capabilities;
  /**
   * Spokes of this type act through an account of this provider (`google`, `microsoft`,
   * `carddav`), named by the `account` setting of their config. The app resolves it into
   * `ConnectorEnv.auth`; the connector never reads the account store.
   */
  accountProvider?: string;
  create(config: Config, env: ConnectorEnv): Connector;
}
