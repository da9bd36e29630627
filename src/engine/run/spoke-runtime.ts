/**
 * One spoke during a run: its row, its connector, what the hub may do to it, and its report.
 */
import type { Capabilities, Connector, RemoteItem } from '../../connectors/kit/contract.js';
import type { FieldPath } from '../../model/fields.js';
import type { Spoke } from '../../store/hubs.js';
import type { WritePolicy } from '../plan/options.js';
import type { Observed } from './inbound.js';
import type { SpokeReport } from './report.js';

export interface SpokeRuntime {
  spoke: Spoke;
  conn: Connector;
  caps: Capabilities;
  policy: WritePolicy;
  paths: 'all' | readonly FieldPath[];
  region: string;
  report: SpokeReport;
  /** Duplicates of our own creates found while pulling (see inbound.ts); cleaned up by the push. */
  ghosts: { item: RemoteItem; entityId: string; hash: string }[];
  /**
   * New items that look like a linked item of this spoke under another id (a renamed file, a card
   * moved to a new href): settled once the listing is complete (inbound.ts, `settleMoves`).
   */
  moves: { ob: Observed; entityIds: string[]; how: 'marker' | 'match' }[];
}

/** A link as the inbound pass needs it, loaded a page at a time. */
export interface LinkIndexEntry {
  entityId: string;
  etag: string | null;
  baseHash: string;
  state: 'active' | 'held';
}
