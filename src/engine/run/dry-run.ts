/**
 * A dry run does everything a run does — pull, merge, plan, gate — inside a transaction that is
 * rolled back, with a connector that reads for real but only pretends to write. What it would have
 * written is reported; nothing changes on any spoke or in the hub.
 */
import type { Connector } from '../../connectors/kit/contract.js';

export function pretendWrites(conn: Connector): Connector {
  let n = 0;
  return {
    capabilities: conn.capabilities,
    identity: () => conn.identity(),
    pull: (req) => conn.pull(req),
    get: (id) => conn.get(id),
    findByMarker: (m) => conn.findByMarker(m),
    create: async (_card, opts) => ({ id: `(dry-run ${opts.marker} ${++n})`, etag: null }),
    update: async (id) => ({ id, etag: null }),
    delete: async () => undefined,
    close: () => conn.close?.() ?? Promise.resolve(),
  };
}

export class DryRunRollback extends Error {
  constructor() {
    super('dry run: rolled back');
  }
}
